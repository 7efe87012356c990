/* SPDX-License-Identifier: MIT */
/*
 * addr — "host:port" text <-> struct addr_spec, without DNS (pure string work).
 *
 * Accepted forms:
 *   203.0.113.7:7700        IPv4 literal (dotted quad, no leading zeros)
 *   [2001:db8::1]:7700      IPv6 literal, always in brackets (no zone ids)
 *   relay.example.com:7700  hostname: RFC 1123 labels of [A-Za-z0-9-], 1..63
 *                           characters each, not starting or ending with '-',
 *                           at most 253 characters, no trailing dot; a name
 *                           made only of digits and dots must be a valid IPv4
 * The port is decimal without sign or leading zeros, 1..65535. Port 0 is only
 * accepted with ADDR_PORT0_OK ("let the kernel choose"), which the relay's and
 * the agent's listen addresses allow and connect/relay/advertise addresses
 * do not. ADDR_NUMERIC_ONLY rejects hostnames (for addresses that are bound
 * without a resolver).
 */
#ifndef LR_ADDR_H
#define LR_ADDR_H

#include <stddef.h>
#include <stdint.h>

#define ADDR_HOST_MAX 253 /* longest host part (a hostname) */
/* Longest text addr_format() can produce: "[" host "]:" 65535, plus NUL. */
#define ADDR_TEXT_SIZE (ADDR_HOST_MAX + 9)

/* Flags for addr_parse(). */
#define ADDR_PORT0_OK     0x1
#define ADDR_NUMERIC_ONLY 0x2

/* family_hint: what the host part is (AF_* values from <sys/socket.h>). */
struct addr_spec {
    char host[256]; /* NUL-terminated, without brackets */
    uint16_t port;
    int family_hint; /* AF_INET, AF_INET6, or AF_UNSPEC for a hostname */
};

enum addr_err {
    ADDR_OK = 0,
    ADDR_ERR_EMPTY = -1,       /* empty text */
    ADDR_ERR_NO_PORT = -2,     /* no ":port" */
    ADDR_ERR_BAD_PORT = -3,    /* port not a number in 1..65535 */
    ADDR_ERR_PORT_ZERO = -4,   /* port 0 where it is not allowed */
    ADDR_ERR_BAD_HOST = -5,    /* invalid hostname or IPv4 */
    ADDR_ERR_BAD_V6 = -6,      /* invalid IPv6 literal or missing ']' */
    ADDR_ERR_V6_BRACKETS = -7, /* IPv6 literal without brackets */
    ADDR_ERR_TOO_LONG = -8,    /* host part longer than 253 */
    ADDR_ERR_NOT_NUMERIC = -9, /* a hostname where ADDR_NUMERIC_ONLY */
};

/* Static text for an enum addr_err value (never NULL). */
const char *addr_strerror(int err);

/* Parses NUL-terminated text. Returns 0 or an enum addr_err; out is written
 * only on success. No whitespace is skipped. */
int addr_parse(const char *text, unsigned flags, struct addr_spec *out)
    __attribute__((warn_unused_result));

/* A listen setting that may be turned off (metrics_listen): "off" clears
 * *has and *out; otherwise a numeric HOST:PORT (port 0 allowed) sets them.
 * Returns 0 or an enum addr_err, and changes nothing on an error. */
int addr_parse_listen_or_off(const char *text, int *has, struct addr_spec *out)
    __attribute__((warn_unused_result));

/* Formats as "host:port" or "[v6]:port". Returns 0, or -ENOSPC if cap is too
 * small (out is then the empty string when cap > 0). */
int addr_format(const struct addr_spec *a, char *out, size_t cap);

/* True when the host is an IPv4 or IPv6 literal of the unspecified address
 * (0.0.0.0, [::], also spelled [0::0]): "every interface" when bound, nowhere
 * to connect to. False for hostnames and every other literal. */
int addr_is_unspecified(const struct addr_spec *a);

#endif
