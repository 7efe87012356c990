/* SPDX-License-Identifier: MIT */
/*
 * cidr — an address prefix ("198.18.0.0/15", "fd00::/8") as text and as
 * bits, and whether a source address falls in it (docs/design.md D27). Pure
 * string and bit work, no I/O.
 *
 * Addresses are matched in their 16-byte form, an IPv4 address written as
 * its IPv4-mapped IPv6 address ::ffff:a.b.c.d (what a dual-stack socket
 * reports for an IPv4 client, and what the relay keys its limits on). An IPv4
 * prefix is kept the same way (::ffff:a.b.c.d/96+len), so it matches an IPv4
 * source whether the socket reported it as AF_INET or as mapped. A prefix
 * written in mapped form with a length of at least 96 ("::ffff:198.18.0.0/111")
 * is the IPv4 prefix it names. An IPv6 prefix never matches an IPv4 source
 * ("::/0" is every IPv6 source, "0.0.0.0/0" every IPv4 one).
 *
 * Accepted text: an IPv4 dotted quad (inet_pton: no leading zeros) or an
 * IPv6 literal without brackets or zone, optionally followed by "/LEN",
 * LEN decimal without sign or leading zeros, 0..32 (IPv4) or 0..128 (IPv6);
 * without it the prefix is the one address. Bits past the length must be
 * zero ("198.18.0.1/15" is refused: it is more likely a typo than a wish).
 * At most CIDR_TEXT_MAX bytes; no whitespace.
 */
#ifndef LR_CIDR_H
#define LR_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIDR_TEXT_MAX  64 /* longest text cidr_parse reads */
#define CIDR_TEXT_SIZE 50 /* cidr_format's longest output, "::ffff:..../128", plus NUL */

struct cidr {
    uint8_t addr[16]; /* bits past `bits` are zero */
    uint8_t bits;     /* prefix length over the 16-byte form: 96..128 when v4 */
    bool v4;
};

enum cidr_err {
    CIDR_OK = 0,
    CIDR_ERR_EMPTY = -1,     /* empty text */
    CIDR_ERR_TOO_LONG = -2,  /* longer than CIDR_TEXT_MAX */
    CIDR_ERR_ADDR = -3,      /* not an IPv4 or IPv6 address */
    CIDR_ERR_PREFIX = -4,    /* the length after '/' is not a number in range */
    CIDR_ERR_HOST_BITS = -5, /* bits set past the prefix length */
};

/* Static text for an enum cidr_err value (never NULL). */
const char *cidr_strerror(int err);

/* Parses NUL-terminated text. 0 or an enum cidr_err; out is written only on
 * success. */
int cidr_parse(const char *text, struct cidr *out) __attribute__((warn_unused_result));

/* The canonical text ("198.18.0.0/15", "fd00::/8"; the length always
 * written). 0, or -ENOSPC when cap is too small (out is then ""). */
int cidr_format(const struct cidr *c, char *out, size_t cap);

/* True when c and d are the same prefix. */
bool cidr_equal(const struct cidr *c, const struct cidr *d);

/* True when addr (16 bytes, IPv4 as ::ffff:a.b.c.d) is inside c. */
bool cidr_match(const struct cidr *c, const uint8_t addr[16]);

/* addr (4 bytes if len is 4, else 16) in the 16-byte form above. -EINVAL
 * for another len. */
int cidr_addr16(const uint8_t *addr, size_t len, uint8_t out[16]);

#endif
