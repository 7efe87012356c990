/* SPDX-License-Identifier: MIT */
/* Unit tests for common/cidr.c: prefix parsing, canonical text, matching
 * (IPv4, IPv6, IPv4-mapped sources). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "lrcheck.h"

static void canon(const char *text, const char *want)
{
    struct cidr c;
    char out[CIDR_TEXT_SIZE];

    ck_assert_msg(cidr_parse(text, &c) == 0, "%s rejected", text);
    ck_assert_int_eq(cidr_format(&c, out, sizeof(out)), 0);
    ck_assert_str_eq(out, want);
}

static void bad(const char *text, int err)
{
    struct cidr c = {.bits = 77};

    ck_assert_msg(cidr_parse(text, &c) == err, "%s: %d, want %d", text, cidr_parse(text, &c), err);
    ck_assert_int_eq(c.bits, 77); /* untouched */
}

/* Source address text (v4 or v6) in the 16-byte form. */
static void src(const char *text, uint8_t out[16])
{
    uint8_t raw[16];

    if (inet_pton(AF_INET, text, raw) == 1) {
        ck_assert_int_eq(cidr_addr16(raw, 4, out), 0);
        return;
    }
    ck_assert_int_eq(inet_pton(AF_INET6, text, raw), 1);
    ck_assert_int_eq(cidr_addr16(raw, 16, out), 0);
}

static bool in(const char *prefix, const char *addr)
{
    struct cidr c;
    uint8_t a[16];

    ck_assert_msg(cidr_parse(prefix, &c) == 0, "%s rejected", prefix);
    src(addr, a);
    return cidr_match(&c, a);
}

START_TEST(test_canonical)
{
    canon("198.18.0.0/15", "198.18.0.0/15");
    canon("100.64.0.1", "100.64.0.1/32");
    canon("0.0.0.0/0", "0.0.0.0/0");
    canon("fd00::/8", "fd00::/8");
    canon("FD00:0:0::/8", "fd00::/8");
    canon("::1", "::1/128");
    canon("::/0", "::/0");
    canon("2001:db8::/32", "2001:db8::/32");
    /* A mapped prefix of at least /96 is the IPv4 prefix. */
    canon("::ffff:198.18.0.0/111", "198.18.0.0/15");
    canon("::ffff:100.64.0.1", "100.64.0.1/32");
    canon("::ffff:0:0/96", "0.0.0.0/0");
    /* Shorter, it stays IPv6. */
    canon("::fffe:0:0/95", "::fffe:0:0/95");
    canon("255.255.255.255/32", "255.255.255.255/32");
    canon("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
}
END_TEST

START_TEST(test_bad)
{
    bad("", CIDR_ERR_EMPTY);
    bad("/8", CIDR_ERR_ADDR);
    bad("198.18.0.0/", CIDR_ERR_PREFIX);
    bad("198.18.0.0/33", CIDR_ERR_PREFIX);
    bad("198.18.0.0/015", CIDR_ERR_PREFIX);
    bad("198.18.0.0/+15", CIDR_ERR_PREFIX);
    bad("198.18.0.0/-1", CIDR_ERR_PREFIX);
    bad("198.18.0.0/1000", CIDR_ERR_PREFIX);
    bad("198.18.0.0/15/1", CIDR_ERR_PREFIX);
    bad("fd00::/129", CIDR_ERR_PREFIX);
    bad("198.18.0.1/15", CIDR_ERR_HOST_BITS);
    bad("fd00::1/8", CIDR_ERR_HOST_BITS);
    bad("::ffff:198.18.0.1/111", CIDR_ERR_HOST_BITS);
    bad("198.018.0.0/15", CIDR_ERR_ADDR);
    bad("198.18.0/15", CIDR_ERR_ADDR);
    bad("198.18.0.0.0", CIDR_ERR_ADDR);
    bad("256.0.0.0/8", CIDR_ERR_ADDR);
    bad("[fd00::]/8", CIDR_ERR_ADDR);
    bad("fe80::1%eth0", CIDR_ERR_ADDR);
    bad("fd00:::/8", CIDR_ERR_ADDR);
    bad(" 198.18.0.0/15", CIDR_ERR_ADDR);
    bad("198.18.0.0/15 ", CIDR_ERR_PREFIX);
    bad("example.com", CIDR_ERR_ADDR);
    bad("none", CIDR_ERR_ADDR);
    bad("a:198.18.0.0/15", CIDR_ERR_ADDR);
    /* CIDR_TEXT_MAX bytes are read, one more is too long. */
    bad("0000:0000:0000:0000:0000:0000:0000:0001/128/////////////////////", CIDR_ERR_PREFIX);
    bad("0000:0000:0000:0000:0000:0000:0000:0001/128//////////////////////", CIDR_ERR_TOO_LONG);
}
END_TEST

START_TEST(test_match_v4)
{
    ck_assert(in("198.18.0.0/15", "198.18.0.1"));
    ck_assert(in("198.18.0.0/15", "198.19.255.255"));
    ck_assert(!in("198.18.0.0/15", "198.20.0.0"));
    ck_assert(!in("198.18.0.0/15", "198.17.255.255"));
    ck_assert(in("100.64.0.2/32", "100.64.0.2"));
    ck_assert(!in("100.64.0.2/32", "100.64.0.3"));
    ck_assert(in("100.64.0.0/10", "100.127.1.1"));
    ck_assert(!in("100.64.0.0/10", "100.128.0.0"));
    ck_assert(in("0.0.0.0/0", "1.2.3.4"));
    /* A dual-stack socket's view of an IPv4 client is the same source. */
    ck_assert(in("198.18.0.0/15", "::ffff:198.18.0.1"));
    ck_assert(in("::ffff:198.18.0.0/111", "198.18.0.1"));
    ck_assert(!in("198.18.0.0/15", "::ffff:198.20.0.1"));
}
END_TEST

START_TEST(test_match_v6)
{
    ck_assert(in("fd00::/8", "fd00::1"));
    ck_assert(in("fd00::/8", "fdff:ffff::1"));
    ck_assert(!in("fd00::/8", "fc00::1"));
    ck_assert(in("::1", "::1"));
    ck_assert(!in("::1", "::2"));
    ck_assert(in("fd00:0:0:1::/64", "fd00:0:0:1::5"));
    ck_assert(in("fd00::/63", "fd00:0:0:1::5"));
    ck_assert(!in("fd00::/64", "fd00:0:0:1::5"));
    ck_assert(in("::/0", "2001:db8::1"));
}
END_TEST

START_TEST(test_families_apart)
{
    /* IPv6 prefixes never match IPv4 sources, nor IPv4 prefixes IPv6 ones. */
    ck_assert(!in("::/0", "198.18.0.1"));
    ck_assert(!in("::/0", "::ffff:198.18.0.1"));
    ck_assert(!in("::fffe:0:0/95", "198.18.0.1"));
    ck_assert(!in("0.0.0.0/0", "::1"));
    ck_assert(!in("0.0.0.0/0", "fd00::1"));
    /* ::c612:1 (IPv4-compatible, not mapped) is an IPv6 source. */
    ck_assert(!in("198.18.0.0/15", "::c612:1"));
}
END_TEST

START_TEST(test_equal_format)
{
    struct cidr c, d;
    char small[8];
    uint8_t a[16];

    ck_assert_int_eq(cidr_parse("198.18.0.0/15", &c), 0);
    ck_assert_int_eq(cidr_parse("::ffff:198.18.0.0/111", &d), 0);
    ck_assert(cidr_equal(&c, &d));
    ck_assert_int_eq(cidr_parse("198.18.0.0/16", &d), 0);
    ck_assert(!cidr_equal(&c, &d));
    ck_assert_int_eq(cidr_format(&c, small, sizeof(small)), -ENOSPC);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(cidr_addr16(a, 5, a), -EINVAL);
}
END_TEST

static Suite *cidr_suite(void)
{
    Suite *s = suite_create("cidr");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_canonical);
    tcase_add_test(tc, test_bad);
    tcase_add_test(tc, test_match_v4);
    tcase_add_test(tc, test_match_v6);
    tcase_add_test(tc, test_families_apart);
    tcase_add_test(tc, test_equal_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(cidr_suite());
}
