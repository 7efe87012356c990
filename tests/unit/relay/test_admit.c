/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/admit: per-address admission (the bucket itself:
 * tests/unit/test_tbucket.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#include "admit.h"
#include "lrcheck.h"

static const struct admit_cfg base_cfg = {
    .rate = 10,
    .burst = 20,
    .max_pending = 8,
    .max_pending_per_ip = 4,
    .max_conns_per_ip = 6,
    .max_conns = 10,
    .max_ips = 100,
};

static void key4(const char *ip, uint8_t out[16])
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    ck_assert_int_eq(admit_addr_key((struct sockaddr *)&sa, out), 0);
}

START_TEST(test_rate_per_ip_at_limit)
{
    struct admit l;
    struct admit_cfg cfg = base_cfg;
    struct admit_ip *ip;
    uint8_t a[16], b[16];

    cfg.max_conns = cfg.max_conns_per_ip = cfg.max_pending = cfg.max_pending_per_ip = 1000;
    ck_assert_int_eq(admit_init(&l, &cfg), 0);
    key4("10.0.0.1", a);
    key4("10.0.0.2", b);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(admit_admit(&l, a, 0, &ip), 0);
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, a, 0, &ip)), ADMIT_RATE);
    ck_assert_uint_eq(l.hit[ADMIT_RATE], 1);
    /* Another address has its own bucket. */
    ck_assert_int_eq(admit_admit(&l, b, 0, &ip), 0);
    /* 100 ms later one more token (10/s). */
    ck_assert_int_eq(admit_admit(&l, a, 100, &ip), 0);
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, a, 100, &ip)), ADMIT_RATE);
    admit_done(&l);
}
END_TEST

START_TEST(test_pending_and_conns)
{
    struct admit l;
    struct admit_cfg cfg = base_cfg;
    struct admit_ip *ip[16];
    uint8_t a[16], b[16], c[16];
    int i;

    cfg.max_conns = 12;
    ck_assert_int_eq(admit_init(&l, &cfg), 0);
    key4("10.0.0.1", a);
    key4("10.0.0.2", b);
    key4("10.0.0.3", c);
    /* max_pending_per_ip = 4: the fifth pending from one address is refused. */
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(admit_admit(&l, a, 0, &ip[i]), 0);
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, a, 0, &ip[4])), ADMIT_PENDING_IP);
    /* Established ones no longer count as pending but still as conns. */
    admit_established(&l, ip[0]);
    admit_established(&l, ip[1]);
    ck_assert_int_eq(admit_admit(&l, a, 0, &ip[4]), 0);
    ck_assert_int_eq(admit_admit(&l, a, 0, &ip[5]), 0);
    /* max_conns_per_ip = 6. */
    admit_established(&l, ip[2]);
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, a, 0, &ip[6])), ADMIT_CONNS_IP);
    /* Global pending = 8: a has 3 pending (3,4,5), b brings 4 more, c 1 more. */
    for (i = 6; i < 10; i++)
        ck_assert_int_eq(admit_admit(&l, b, 0, &ip[i]), 0);
    ck_assert_int_eq(admit_admit(&l, c, 0, &ip[10]), 0);
    ck_assert_uint_eq(l.pending, 8);
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, c, 0, &ip[11])), ADMIT_PENDING);
    /* Global conns = 12: make room in pending, then hit the total. */
    admit_established(&l, ip[10]);
    ck_assert_int_eq(admit_admit(&l, c, 0, &ip[11]), 0);
    ck_assert_uint_eq(l.conns, 12);
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, c, 0, &ip[12])), ADMIT_CONNS);
    admit_release(&l, ip[11], true);
    ck_assert_int_eq(admit_admit(&l, c, 0, &ip[12]), 0);
    admit_done(&l);
}
END_TEST

/* A vouched connection (valid ticket, authenticated session) leaves every
 * per-address count and gets its rate token back; the relay-wide counts keep
 * it (docs/design.md D16). */
START_TEST(test_vouch)
{
    struct admit l;
    struct admit_cfg cfg = base_cfg;
    struct admit_ip *ip[64], *x;
    uint8_t a[16];
    int i;

    cfg.max_conns = 70;
    cfg.max_pending = 60;
    ck_assert_int_eq(admit_init(&l, &cfg), 0);
    key4("10.0.0.1", a);
    /* 50 connections from one address, each vouched while pending (a leg
     * with its ticket): far past burst 20, max_pending_per_ip 4 and
     * max_conns_per_ip 6, and none refused. */
    for (i = 0; i < 50; i++) {
        ck_assert_int_eq(admit_admit(&l, a, 0, &ip[i]), 0);
        admit_vouch(&l, ip[i], true);
    }
    ck_assert_uint_eq(ip[0]->conns, 0);
    ck_assert_uint_eq(ip[0]->pending, 0);
    ck_assert_uint_eq(l.conns, 50);
    ck_assert_uint_eq(l.pending, 50);
    ck_assert_uint_eq(l.hit[ADMIT_RATE] + l.hit[ADMIT_CONNS_IP] + l.hit[ADMIT_PENDING_IP], 0);
    /* The relay-wide limits still count them: 10 more fit, then max_pending
     * (60) refuses; once paired (established), max_conns (70) does. */
    for (i = 50; i < 60; i++) {
        ck_assert_int_eq(admit_admit(&l, a, 0, &ip[i]), 0);
        admit_vouch(&l, ip[i], true);
    }
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, a, 0, &x)), ADMIT_PENDING);
    for (i = 0; i < 60; i++)
        admit_established(&l, NULL);
    ck_assert_uint_eq(l.pending, 0);
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(admit_admit(&l, a, 0, &x), 0);
        admit_vouch(&l, x, true);
        admit_established(&l, NULL);
    }
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, a, 0, &x)), ADMIT_CONNS);
    for (i = 0; i < 70; i++)
        admit_release(&l, NULL, false);
    ck_assert_uint_eq(l.conns, 0);
    /* Anonymous connections from the same address: every vouched token came
     * back; only the attempt max_pending refused kept its token (the rate is
     * charged before that check, max_conns comes before the rate). So 19
     * pass the rate (burst 20), released each time, and the 20th is refused. */
    for (i = 0; i < 19; i++) {
        ck_assert_int_eq(admit_admit(&l, a, 0, &x), 0);
        admit_release(&l, x, true);
    }
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, a, 0, &x)), ADMIT_RATE);
    /* Vouching after admit_established (a control session: authenticated,
     * then found its link) leaves only conns. */
    ck_assert_int_eq(admit_admit(&l, a, 100, &x), 0);
    admit_established(&l, x);
    ck_assert_uint_eq(x->conns, 1);
    ck_assert_uint_eq(x->pending, 0);
    admit_vouch(&l, x, false);
    ck_assert_uint_eq(x->conns, 0);
    ck_assert_uint_eq(l.conns, 1);
    admit_release(&l, NULL, false);
    ck_assert_uint_eq(l.conns, 0);
    admit_done(&l);
}
END_TEST

/* A connection refused by a per-address limit whose first bytes are a live
 * ticket: the refusal is taken back (hit, and the token where the rate took
 * one) and it is admitted on the relay-wide limits alone; other refusals
 * stay, and max_pending still binds. */
START_TEST(test_admit_ticketed)
{
    struct admit l;
    struct admit_cfg cfg = base_cfg;
    struct admit_ip *ip[8], *x;
    uint8_t a[16];
    int rc, i;

    cfg.burst = 5;
    cfg.max_conns = 10;
    cfg.max_pending = 6;
    ck_assert_int_eq(admit_init(&l, &cfg), 0);
    key4("10.0.0.1", a);
    /* max_pending_per_ip 4: the 5th is refused, then admitted by ticket; the
     * token it paid comes back (burst 5: exactly one token left). */
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(admit_admit(&l, a, 0, &ip[i]), 0);
    rc = admit_admit(&l, a, 0, &x);
    ck_assert_int_eq(admit_kind_of(rc), ADMIT_PENDING_IP);
    ck_assert_uint_eq(l.hit[ADMIT_PENDING_IP], 1);
    ck_assert_int_eq(admit_admit_ticketed(&l, a, rc), 0);
    ck_assert_uint_eq(l.hit[ADMIT_PENDING_IP], 0);
    ck_assert_uint_eq(l.pending, 5);
    ck_assert_uint_eq(l.conns, 5);
    ck_assert_uint_eq(ip[0]->pending, 4);
    ck_assert_uint_eq(ip[0]->conns, 4);
    /* The rate: one token left; establish two so pending_ip has room. */
    admit_established(&l, ip[0]);
    admit_established(&l, ip[1]);
    ck_assert_int_eq(admit_admit(&l, a, 0, &ip[4]), 0);
    rc = admit_admit(&l, a, 0, &x);
    ck_assert_int_eq(admit_kind_of(rc), ADMIT_RATE);
    ck_assert_int_eq(admit_admit_ticketed(&l, a, rc), 0);
    ck_assert_uint_eq(l.hit[ADMIT_RATE], 0);
    ck_assert_uint_eq(l.pending, 5);
    /* max_pending 6 still binds: one more fits, the next is refused. */
    rc = admit_admit(&l, a, 0, &x);
    ck_assert_int_eq(admit_kind_of(rc), ADMIT_RATE);
    ck_assert_int_eq(admit_admit_ticketed(&l, a, rc), 0);
    rc = admit_admit(&l, a, 0, &x);
    ck_assert_int_eq(admit_kind_of(rc), ADMIT_RATE);
    ck_assert_int_eq(admit_kind_of(admit_admit_ticketed(&l, a, rc)), ADMIT_PENDING);
    ck_assert_uint_eq(l.hit[ADMIT_PENDING], 1);
    ck_assert_uint_eq(l.hit[ADMIT_RATE], 0);
    /* Refusals that are not per address stay as they are. */
    rc = -(ADMIT_CONNS + 1000);
    ck_assert_int_eq(admit_admit_ticketed(&l, a, rc), rc);
    rc = -(ADMIT_IP_TABLE + 1000);
    ck_assert_int_eq(admit_admit_ticketed(&l, a, rc), rc);
    ck_assert_int_eq(admit_admit_ticketed(&l, a, -ENOMEM), -ENOMEM);
    ck_assert_uint_eq(l.conns, 8);
    /* Released like vouched ones: no address reference. */
    admit_release(&l, NULL, true);
    ck_assert_uint_eq(l.conns, 7);
    ck_assert_uint_eq(ip[0]->conns, 5);
    admit_done(&l);
}
END_TEST

/* The kinds a live ticket may take back, in one place for the relay's peek
 * and admit_admit_ticketed: the three per-address limits, nothing else. */
START_TEST(test_kind_per_address)
{
    for (int k = -1; k < ADMIT_COUNT; k++)
        ck_assert(admit_kind_per_address(k) ==
                  (k == ADMIT_RATE || k == ADMIT_PENDING_IP || k == ADMIT_CONNS_IP));
    ck_assert(!admit_kind_per_address(admit_kind_of(-ENOMEM)));
}
END_TEST

START_TEST(test_sweep_keeps_rate)
{
    struct admit l;
    struct admit_cfg cfg = base_cfg;
    struct admit_ip *ip;
    uint8_t a[16];

    cfg.max_ips = 2;
    ck_assert_int_eq(admit_init(&l, &cfg), 0);
    key4("10.0.0.1", a);
    ck_assert_int_eq(admit_admit(&l, a, 0, &ip), 0);
    admit_release(&l, ip, true);
    /* Not yet refilled: the entry stays so the rate is not reset. */
    admit_sweep(&l, 10);
    ck_assert_uint_eq(l.nips, 1);
    admit_sweep(&l, 1000);
    ck_assert_uint_eq(l.nips, 0);
    admit_done(&l);
}
END_TEST

START_TEST(test_ip_table_limit)
{
    struct admit l;
    struct admit_cfg cfg = base_cfg;
    struct admit_ip *ip;
    uint8_t a[16], b[16], c[16];

    cfg.max_ips = 2;
    ck_assert_int_eq(admit_init(&l, &cfg), 0);
    key4("10.0.0.1", a);
    key4("10.0.0.2", b);
    key4("10.0.0.3", c);
    ck_assert_int_eq(admit_admit(&l, a, 0, &ip), 0);
    ck_assert_int_eq(admit_admit(&l, b, 0, &ip), 0);
    ck_assert_int_eq(admit_kind_of(admit_admit(&l, c, 0, &ip)), ADMIT_IP_TABLE);
    admit_done(&l);
}
END_TEST

START_TEST(test_addr_key_v6_and_names)
{
    struct sockaddr_in6 s6;
    struct sockaddr sa;
    uint8_t k[16];

    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr), 1);
    ck_assert_int_eq(admit_addr_key((struct sockaddr *)&s6, k), 0);
    ck_assert_int_eq(k[0], 0x20);
    ck_assert_int_eq(k[15], 1);
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    ck_assert_int_eq(admit_addr_key(&sa, k), -EAFNOSUPPORT);
    ck_assert_str_eq(admit_name(ADMIT_RATE), "conn_rate_per_ip");
    ck_assert_str_eq(admit_name(ADMIT_OPEN_RATE), "open_rate_per_link");
    ck_assert_str_eq(admit_name(ADMIT_COUNT), "unknown");
    ck_assert_int_eq(admit_kind_of(-EINVAL), -1);
}
END_TEST

static Suite *admit_suite(void)
{
    Suite *s = suite_create("admit");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_rate_per_ip_at_limit);
    tcase_add_test(tc, test_pending_and_conns);
    tcase_add_test(tc, test_vouch);
    tcase_add_test(tc, test_admit_ticketed);
    tcase_add_test(tc, test_kind_per_address);
    tcase_add_test(tc, test_sweep_keeps_rate);
    tcase_add_test(tc, test_ip_table_limit);
    tcase_add_test(tc, test_addr_key_v6_and_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(admit_suite());
}
