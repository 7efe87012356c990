/* SPDX-License-Identifier: MIT */
/* Unit tests for common/addr.c: host:port parsing and formatting. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "lrcheck.h"

static void roundtrip(const char *text, unsigned flags, const char *host, unsigned port, int fam)
{
    struct addr_spec a;
    char out[ADDR_TEXT_SIZE];

    ck_assert_msg(addr_parse(text, flags, &a) == 0, "%s rejected", text);
    ck_assert_str_eq(a.host, host);
    ck_assert_uint_eq(a.port, port);
    ck_assert_int_eq(a.family_hint, fam);
    ck_assert_int_eq(addr_format(&a, out, sizeof(out)), 0);
    ck_assert_str_eq(out, text);
}

START_TEST(test_valid)
{
    roundtrip("203.0.113.7:7700", 0, "203.0.113.7", 7700, AF_INET);
    roundtrip("0.0.0.0:1", 0, "0.0.0.0", 1, AF_INET);
    roundtrip("255.255.255.255:65535", 0, "255.255.255.255", 65535, AF_INET);
    roundtrip("[::]:7700", 0, "::", 7700, AF_INET6);
    roundtrip("[2001:db8::1]:443", 0, "2001:db8::1", 443, AF_INET6);
    roundtrip("[::ffff:198.18.0.1]:80", 0, "::ffff:198.18.0.1", 80, AF_INET6);
    roundtrip("relay.example.com:7700", 0, "relay.example.com", 7700, AF_UNSPEC);
    roundtrip("localhost:22", 0, "localhost", 22, AF_UNSPEC);
    roundtrip("a:1", 0, "a", 1, AF_UNSPEC);
    roundtrip("x-1.B2.c:9", 0, "x-1.B2.c", 9, AF_UNSPEC);
    roundtrip("3com.net:9", 0, "3com.net", 9, AF_UNSPEC);
}
END_TEST

static void reject(const char *text, unsigned flags, int err)
{
    struct addr_spec a;
    int rc;

    memset(&a, 0x5a, sizeof(a));
    rc = addr_parse(text, flags, &a);
    ck_assert_msg(rc == err, "%s: got %d (%s), want %d", text, rc, addr_strerror(rc), err);
    /* Failure leaves the output alone. */
    ck_assert_uint_eq((unsigned char)a.host[0], 0x5a);
}

START_TEST(test_invalid)
{
    reject("", 0, ADDR_ERR_EMPTY);
    reject("host", 0, ADDR_ERR_NO_PORT);
    reject("1.2.3.4", 0, ADDR_ERR_NO_PORT);
    reject("[::1]", 0, ADDR_ERR_NO_PORT);
    reject("host:", 0, ADDR_ERR_BAD_PORT);
    reject("host:65536", 0, ADDR_ERR_BAD_PORT);
    reject("host:100000", 0, ADDR_ERR_BAD_PORT);
    reject("host:-1", 0, ADDR_ERR_BAD_PORT);
    reject("host:+80", 0, ADDR_ERR_BAD_PORT);
    reject("host:080", 0, ADDR_ERR_BAD_PORT);
    reject("host:80 ", 0, ADDR_ERR_BAD_PORT);
    reject("host:8a", 0, ADDR_ERR_BAD_PORT);
    reject("host:0", 0, ADDR_ERR_PORT_ZERO);
    reject(":80", 0, ADDR_ERR_BAD_HOST);
    reject("-host:80", 0, ADDR_ERR_BAD_HOST);
    reject("host-:80", 0, ADDR_ERR_BAD_HOST);
    reject("a..b:80", 0, ADDR_ERR_BAD_HOST);
    reject("a.b.:80", 0, ADDR_ERR_BAD_HOST);
    reject(".a:80", 0, ADDR_ERR_BAD_HOST);
    reject("under_score:80", 0, ADDR_ERR_BAD_HOST);
    reject("sp ace:80", 0, ADDR_ERR_BAD_HOST);
    reject("1.2.3:80", 0, ADDR_ERR_BAD_HOST);
    reject("1.2.3.4.5:80", 0, ADDR_ERR_BAD_HOST);
    reject("256.1.1.1:80", 0, ADDR_ERR_BAD_HOST);
    reject("01.2.3.4:80", 0, ADDR_ERR_BAD_HOST);
    reject("::1:80", 0, ADDR_ERR_V6_BRACKETS);
    reject("2001:db8::1:80", 0, ADDR_ERR_V6_BRACKETS);
    reject("[::1:80", 0, ADDR_ERR_BAD_V6);
    reject("[]:80", 0, ADDR_ERR_BAD_V6);
    reject("[::g]:80", 0, ADDR_ERR_BAD_V6);
    reject("[1.2.3.4]:80", 0, ADDR_ERR_BAD_V6);
    reject("[fe80::1%eth0]:80", 0, ADDR_ERR_BAD_V6);
    reject("[::1]80", 0, ADDR_ERR_BAD_V6);
    reject("[::1]:0", 0, ADDR_ERR_PORT_ZERO);
    reject("[::1]:", 0, ADDR_ERR_BAD_PORT);
    reject("example.com:80", ADDR_NUMERIC_ONLY, ADDR_ERR_NOT_NUMERIC);
}
END_TEST

START_TEST(test_flags)
{
    struct addr_spec a;

    ck_assert_int_eq(addr_parse("0.0.0.0:0", ADDR_PORT0_OK, &a), 0);
    ck_assert_uint_eq(a.port, 0);
    ck_assert_int_eq(addr_parse("[::]:0", ADDR_PORT0_OK | ADDR_NUMERIC_ONLY, &a), 0);
    ck_assert_int_eq(addr_parse("127.0.0.1:9", ADDR_NUMERIC_ONLY, &a), 0);
    ck_assert_int_eq(addr_parse("host:0", ADDR_PORT0_OK, &a), 0);
    ck_assert_int_eq(addr_parse("host:00", ADDR_PORT0_OK, &a), ADDR_ERR_BAD_PORT);
}
END_TEST

/* Host names at the limits: a label of 63 ok, 64 not; 253 characters ok,
 * 254 not. */
START_TEST(test_host_limits)
{
    char text[600];
    struct addr_spec a;
    size_t n;

    memset(text, 'a', 63);
    snprintf(text + 63, sizeof(text) - 63, ".b:1");
    ck_assert_int_eq(addr_parse(text, 0, &a), 0);
    memset(text, 'a', 64);
    snprintf(text + 64, sizeof(text) - 64, ".b:1");
    ck_assert_int_eq(addr_parse(text, 0, &a), ADDR_ERR_BAD_HOST);
    /* 63+1+63+1+63+1+61 = 253 */
    n = 0;
    for (int l = 0; l < 4; l++) {
        size_t len = l < 3 ? 63 : 61;
        memset(text + n, 'c', len);
        n += len;
        text[n++] = l < 3 ? '.' : ':';
    }
    snprintf(text + n, sizeof(text) - n, "65535");
    ck_assert_uint_eq(strlen(text), 253 + 6);
    ck_assert_int_eq(addr_parse(text, 0, &a), 0);
    ck_assert_uint_eq(strlen(a.host), 253);
    {
        char out[ADDR_TEXT_SIZE];
        ck_assert_int_eq(addr_format(&a, out, sizeof(out)), 0);
        ck_assert_str_eq(out, text);
        /* Exactly enough room, then one short. */
        ck_assert_int_eq(addr_format(&a, out, strlen(text) + 1), 0);
        ck_assert_int_eq(addr_format(&a, out, strlen(text)), -ENOSPC);
        ck_assert_str_eq(out, "");
    }
    /* One more character: 254. */
    memmove(text + 1, text, strlen(text) + 1);
    text[0] = 'c';
    ck_assert_int_eq(addr_parse(text, 0, &a), ADDR_ERR_TOO_LONG);
}
END_TEST

START_TEST(test_strerror)
{
    for (int e = ADDR_ERR_NOT_NUMERIC; e <= 0; e++) {
        ck_assert(strlen(addr_strerror(e)) > 0);
        for (int f = ADDR_ERR_NOT_NUMERIC; f < e; f++)
            ck_assert_str_ne(addr_strerror(e), addr_strerror(f));
    }
    ck_assert_str_eq(addr_strerror(-99), "unknown address error");
}
END_TEST

static int unspecified(const char *text)
{
    struct addr_spec a;

    ck_assert_msg(addr_parse(text, ADDR_PORT0_OK, &a) == 0, "%s rejected", text);
    return addr_is_unspecified(&a);
}

START_TEST(test_listen_or_off)
{
    struct addr_spec a;
    int has = 7;

    ck_assert_int_eq(addr_parse_listen_or_off("127.0.0.1:0", &has, &a), 0);
    ck_assert_int_eq(has, 1);
    ck_assert_str_eq(a.host, "127.0.0.1");
    ck_assert_uint_eq(a.port, 0);
    /* errors change nothing */
    ck_assert_int_eq(addr_parse_listen_or_off("localhost:9100", &has, &a), ADDR_ERR_NOT_NUMERIC);
    ck_assert_int_eq(addr_parse_listen_or_off("[::1]", &has, &a), ADDR_ERR_NO_PORT);
    ck_assert_int_eq(addr_parse_listen_or_off("OFF", &has, &a), ADDR_ERR_NO_PORT);
    ck_assert_int_eq(has, 1);
    ck_assert_str_eq(a.host, "127.0.0.1");
    ck_assert_int_eq(addr_parse_listen_or_off("[::1]:9100", &has, &a), 0);
    ck_assert_str_eq(a.host, "::1");
    ck_assert_uint_eq(a.port, 9100);
    ck_assert_int_eq(addr_parse_listen_or_off("off", &has, &a), 0);
    ck_assert_int_eq(has, 0);
    ck_assert_str_eq(a.host, "");
    ck_assert_uint_eq(a.port, 0);
}
END_TEST

START_TEST(test_unspecified)
{
    ck_assert(unspecified("0.0.0.0:7700"));
    ck_assert(unspecified("0.0.0.0:0"));
    ck_assert(unspecified("[::]:7700"));
    ck_assert(unspecified("[0::0]:1"));
    ck_assert(unspecified("[0:0:0:0:0:0:0:0]:1"));
    ck_assert(!unspecified("127.0.0.1:7700"));
    ck_assert(!unspecified("0.0.0.1:7700"));
    ck_assert(!unspecified("[::1]:7700"));
    ck_assert(!unspecified("[::ffff:0.0.0.0]:7700"));
    ck_assert(!unspecified("relay.example.com:7700"));
    ck_assert(!unspecified("localhost:0"));
}
END_TEST

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_invalid);
    tcase_add_test(tc, test_flags);
    tcase_add_test(tc, test_host_limits);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_unspecified);
    tcase_add_test(tc, test_listen_or_off);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(addr_suite());
}
