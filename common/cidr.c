/* SPDX-License-Identifier: MIT */
#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

const char *cidr_strerror(int err)
{
    switch (err) {
    case CIDR_OK:
        return "ok";
    case CIDR_ERR_EMPTY:
        return "empty address prefix";
    case CIDR_ERR_TOO_LONG:
        return "address prefix too long";
    case CIDR_ERR_ADDR:
        return "not an IPv4 or IPv6 address";
    case CIDR_ERR_PREFIX:
        return "bad prefix length (expected /0../32 for IPv4, /0../128 for IPv6)";
    case CIDR_ERR_HOST_BITS:
        return "bits set past the prefix length";
    default:
        return "unknown address prefix error";
    }
}

/* Decimal without sign or leading zeros, at most max. -1 otherwise. */
static int parse_len(const char *s, int max)
{
    int v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > max ? -1 : v;
}

/* True when no bit of addr past the first bits is set. */
static bool host_bits_clear(const uint8_t addr[16], unsigned bits)
{
    for (unsigned i = bits; i < 128; i++) {
        if (addr[i / 8] & (0x80u >> (i % 8)))
            return false;
    }
    return true;
}

int cidr_parse(const char *text, struct cidr *out)
{
    char host[CIDR_TEXT_MAX + 1];
    const char *slash;
    struct cidr c;
    size_t n = strlen(text);
    int len = -1;

    if (n == 0)
        return CIDR_ERR_EMPTY;
    if (n > CIDR_TEXT_MAX)
        return CIDR_ERR_TOO_LONG;
    slash = strchr(text, '/');
    n = slash != NULL ? (size_t)(slash - text) : n;
    memcpy(host, text, n);
    host[n] = '\0';
    memset(&c, 0, sizeof(c));
    if (inet_pton(AF_INET, host, c.addr + 12) == 1) {
        memcpy(c.addr, mapped_prefix, sizeof(mapped_prefix));
        c.v4 = true;
    } else if (strchr(host, ':') == NULL || inet_pton(AF_INET6, host, c.addr) != 1) {
        return CIDR_ERR_ADDR;
    }
    if (slash != NULL) {
        len = parse_len(slash + 1, c.v4 ? 32 : 128);
        if (len < 0)
            return CIDR_ERR_PREFIX;
    }
    c.bits = (uint8_t)(len < 0 ? 128 : c.v4 ? 96 + len : len);
    if (!host_bits_clear(c.addr, c.bits))
        return CIDR_ERR_HOST_BITS;
    /* ::ffff:a.b.c.d/96.. names IPv4 sources: it is that IPv4 prefix. */
    if (!c.v4 && c.bits >= 96 && memcmp(c.addr, mapped_prefix, sizeof(mapped_prefix)) == 0)
        c.v4 = true;
    *out = c;
    return CIDR_OK;
}

int cidr_format(const struct cidr *c, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    int n;

    if (c->v4) {
        if (inet_ntop(AF_INET, c->addr + 12, host, sizeof(host)) == NULL)
            goto nospc;
        n = snprintf(out, cap, "%s/%u", host, (unsigned)c->bits - 96);
    } else {
        if (inet_ntop(AF_INET6, c->addr, host, sizeof(host)) == NULL)
            goto nospc;
        n = snprintf(out, cap, "%s/%u", host, (unsigned)c->bits);
    }
    if (n > 0 && (size_t)n < cap)
        return 0;
nospc:
    if (cap > 0)
        out[0] = '\0';
    return -ENOSPC;
}

bool cidr_equal(const struct cidr *c, const struct cidr *d)
{
    return c->bits == d->bits && c->v4 == d->v4 && memcmp(c->addr, d->addr, 16) == 0;
}

bool cidr_match(const struct cidr *c, const uint8_t addr[16])
{
    bool mapped = memcmp(addr, mapped_prefix, sizeof(mapped_prefix)) == 0;
    unsigned full = c->bits / 8, rest = c->bits % 8;

    if (mapped != c->v4)
        return false;
    if (memcmp(addr, c->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((addr[full] ^ c->addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

int cidr_addr16(const uint8_t *addr, size_t len, uint8_t out[16])
{
    if (len == 4) {
        memcpy(out, mapped_prefix, sizeof(mapped_prefix));
        memcpy(out + 12, addr, 4);
        return 0;
    }
    if (len == 16) {
        memcpy(out, addr, 16);
        return 0;
    }
    return -EINVAL;
}
