/* SPDX-License-Identifier: MIT */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

const char *addr_strerror(int err)
{
    switch (err) {
    case ADDR_OK:
        return "ok";
    case ADDR_ERR_EMPTY:
        return "empty address";
    case ADDR_ERR_NO_PORT:
        return "missing ':port'";
    case ADDR_ERR_BAD_PORT:
        return "bad port (expected 1..65535)";
    case ADDR_ERR_PORT_ZERO:
        return "port 0 is not allowed here";
    case ADDR_ERR_BAD_HOST:
        return "bad host name or IPv4 address";
    case ADDR_ERR_BAD_V6:
        return "bad IPv6 address in brackets";
    case ADDR_ERR_V6_BRACKETS:
        return "IPv6 address must be in brackets: [v6]:port";
    case ADDR_ERR_TOO_LONG:
        return "host name too long (max 253 characters)";
    case ADDR_ERR_NOT_NUMERIC:
        return "a numeric IP address is required here";
    default:
        return "unknown address error";
    }
}

/* Decimal port without sign or leading zeros. Returns 0..65535 or -1. */
static long parse_port(const char *s)
{
    long v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > 65535 ? -1 : v;
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 1123 host name: dot-separated labels of 1..63 [A-Za-z0-9-], not
 * starting or ending with '-'. */
static int valid_hostname(const char *h, size_t n)
{
    size_t label = 0;

    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? h[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || h[i - 1] == '-')
                return 0;
            label = 0;
        } else if (is_alnum(c) || c == '-') {
            if (label == 0 && c == '-')
                return 0;
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

static int parse_host(const char *h, size_t n, unsigned flags, struct addr_spec *a)
{
    unsigned char buf[sizeof(struct in6_addr)];
    int only_digits_dots = 1;

    if (n == 0)
        return ADDR_ERR_BAD_HOST;
    if (n > ADDR_HOST_MAX)
        return ADDR_ERR_TOO_LONG;
    memcpy(a->host, h, n);
    a->host[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (h[i] == ':')
            return ADDR_ERR_V6_BRACKETS;
        if (h[i] != '.' && (h[i] < '0' || h[i] > '9'))
            only_digits_dots = 0;
    }
    if (only_digits_dots) {
        /* glibc's inet_pton takes exactly a dotted quad without leading
         * zeros: no "1.2.3", no octal. */
        if (inet_pton(AF_INET, a->host, buf) != 1)
            return ADDR_ERR_BAD_HOST;
        a->family_hint = AF_INET;
        return 0;
    }
    if (!valid_hostname(h, n))
        return ADDR_ERR_BAD_HOST;
    if (flags & ADDR_NUMERIC_ONLY)
        return ADDR_ERR_NOT_NUMERIC;
    a->family_hint = AF_UNSPEC;
    return 0;
}

int addr_parse(const char *text, unsigned flags, struct addr_spec *out)
{
    struct addr_spec a;
    const char *colon, *port;
    long p;
    int rc;

    memset(&a, 0, sizeof(a));
    if (text[0] == '\0')
        return ADDR_ERR_EMPTY;
    if (text[0] == '[') {
        unsigned char buf[sizeof(struct in6_addr)];
        const char *close = strchr(text, ']');
        size_t n;
        if (close == NULL)
            return ADDR_ERR_BAD_V6;
        n = (size_t)(close - text - 1);
        if (n == 0 || n >= INET6_ADDRSTRLEN)
            return ADDR_ERR_BAD_V6;
        memcpy(a.host, text + 1, n);
        a.host[n] = '\0';
        if (inet_pton(AF_INET6, a.host, buf) != 1)
            return ADDR_ERR_BAD_V6;
        a.family_hint = AF_INET6;
        if (close[1] != ':')
            return close[1] == '\0' ? ADDR_ERR_NO_PORT : ADDR_ERR_BAD_V6;
        port = close + 2;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL) {
            /* A bare IPv6 literal has colons; this has none: no port. */
            return ADDR_ERR_NO_PORT;
        }
        rc = parse_host(text, (size_t)(colon - text), flags, &a);
        if (rc != 0)
            return rc;
        port = colon + 1;
    }
    p = parse_port(port);
    if (p < 0)
        return ADDR_ERR_BAD_PORT;
    if (p == 0 && !(flags & ADDR_PORT0_OK))
        return ADDR_ERR_PORT_ZERO;
    a.port = (uint16_t)p;
    *out = a;
    return 0;
}

int addr_format(const struct addr_spec *a, char *out, size_t cap)
{
    int n;

    if (a->family_hint == AF_INET6)
        n = snprintf(out, cap, "[%s]:%u", a->host, (unsigned)a->port);
    else
        n = snprintf(out, cap, "%s:%u", a->host, (unsigned)a->port);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -ENOSPC;
    }
    return 0;
}

int addr_is_unspecified(const struct addr_spec *a)
{
    unsigned char buf[sizeof(struct in6_addr)];
    size_t n;

    if (a->family_hint == AF_INET6)
        n = sizeof(struct in6_addr);
    else if (a->family_hint == AF_INET)
        n = sizeof(struct in_addr);
    else
        return 0;
    if (inet_pton(a->family_hint, a->host, buf) != 1)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != 0)
            return 0;
    }
    return 1;
}

int addr_parse_listen_or_off(const char *text, int *has, struct addr_spec *out)
{
    struct addr_spec a;
    int rc;

    if (strcmp(text, "off") == 0) {
        *has = 0;
        memset(out, 0, sizeof(*out));
        return 0;
    }
    rc = addr_parse(text, ADDR_PORT0_OK | ADDR_NUMERIC_ONLY, &a);
    if (rc != 0)
        return rc;
    *has = 1;
    *out = a;
    return 0;
}
