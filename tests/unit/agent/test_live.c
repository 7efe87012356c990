/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/live.c.
 */
#include <check.h>

#include "live.h"
#include "lrcheck.h"

static void ka(uint32_t keepalive_ms, uint32_t dead_ms, uint32_t idle, uint32_t intvl, uint32_t cnt)
{
    struct live_keepalive k = {99, 99, 99};

    live_keepalive(keepalive_ms, dead_ms, &k);
    ck_assert_uint_eq(k.idle_s, idle);
    ck_assert_uint_eq(k.intvl_s, intvl);
    ck_assert_uint_eq(k.cnt, cnt);
}

START_TEST(test_keepalive_defaults_and_fast)
{
    ka(25000, 90000, 25, 16, 4); /* protocol defaults: last probe at 89 s */
    ka(8000, 90000, 8, 20, 4);   /* an agent's own shorter keepalive */
    ka(1000, 3000, 1, 1, 2);     /* the tests' fast relay: gives up at 3 s */
    ka(1000, 5000, 1, 1, 4);     /* exactly LIVE_KA_PROBES seconds left */
    ka(1000, 6000, 1, 1, 4);     /* one over: intvl rounds down */
    ka(1000, 9000, 1, 2, 4);
}
END_TEST

START_TEST(test_keepalive_edges)
{
    ka(0, 0, 1, 1, 1);          /* zero inputs count as 1 s */
    ka(999, 1999, 1, 1, 1);     /* sub-second parts are dropped */
    ka(30000, 30000, 30, 1, 1); /* dead_after not above keepalive: one probe */
    ka(30000, 31000, 30, 1, 1); /* one second left */
    ka(30000, 20000, 30, 1, 1);
    /* Linux caps TCP_KEEPIDLE and TCP_KEEPINTVL at 32767 s. */
    ka(32767000, 32768000, 32767, 1, 1);
    ka(32768000, 0, 32767, 1, 1);
    ka(UINT32_MAX, UINT32_MAX, 32767, 32767, 4);
}
END_TEST

START_TEST(test_keepalive_within_dead_after)
{
    for (uint32_t k = 1; k <= 120; k++) {
        for (uint32_t d = k + 1; d <= 400; d += 7) {
            struct live_keepalive v;
            live_keepalive(k * 1000, d * 1000, &v);
            ck_assert_uint_eq(v.idle_s, k);
            ck_assert_uint_ge(v.intvl_s, 1);
            ck_assert_uint_ge(v.cnt, 1);
            ck_assert_uint_le(v.cnt, LIVE_KA_PROBES);
            ck_assert_uint_le(v.idle_s + v.intvl_s * v.cnt, d);
            /* and not much earlier: within one interval per probe */
            ck_assert_uint_gt(v.idle_s + (v.intvl_s + 1) * v.cnt, d);
        }
    }
}
END_TEST

START_TEST(test_period)
{
    ck_assert_uint_eq(live_period_ms(0), LIVE_PERIOD_MIN_MS);
    ck_assert_uint_eq(live_period_ms(4 * LIVE_PERIOD_MIN_MS - 1), LIVE_PERIOD_MIN_MS);
    ck_assert_uint_eq(live_period_ms(4 * LIVE_PERIOD_MIN_MS), LIVE_PERIOD_MIN_MS);
    ck_assert_uint_eq(live_period_ms(4 * LIVE_PERIOD_MIN_MS + 4), LIVE_PERIOD_MIN_MS + 1);
    ck_assert_uint_eq(live_period_ms(3000), 750);
    ck_assert_uint_eq(live_period_ms(4 * LIVE_PERIOD_MAX_MS - 4), LIVE_PERIOD_MAX_MS - 1);
    ck_assert_uint_eq(live_period_ms(4 * LIVE_PERIOD_MAX_MS), LIVE_PERIOD_MAX_MS);
    ck_assert_uint_eq(live_period_ms(90000), LIVE_PERIOD_MAX_MS);
    ck_assert_uint_eq(live_period_ms(UINT32_MAX), LIVE_PERIOD_MAX_MS);
}
END_TEST

START_TEST(test_ack_dead_path)
{
    struct live_ack a = {false, 0};

    /* Data goes out at t=10000 and nothing is acknowledged any more. */
    ck_assert(!live_ack_dead(&a, 10000, 5, 0, 3000));
    ck_assert(!live_ack_dead(&a, 11000, 5, 1000, 3000));
    ck_assert(!live_ack_dead(&a, 12999, 5, 2999, 3000)); /* one short */
    ck_assert(live_ack_dead(&a, 13000, 5, 3000, 3000));  /* exact */
    ck_assert(live_ack_dead(&a, 13001, 5, 3001, 3000));  /* one over */
}
END_TEST

START_TEST(test_ack_flowing_and_zero_window)
{
    struct live_ack a = {false, 0};

    /* A busy healthy leg always has data in flight, but ACKs keep coming;
     * a zero window is the same: the window probes are answered. */
    for (uint64_t t = 0; t < 600000; t += 250)
        ck_assert(!live_ack_dead(&a, t, 40, (uint32_t)(t % 300), 3000));
    ck_assert(live_ack_dead(&a, 600000, 40, 3000, 3000));
}
END_TEST

START_TEST(test_ack_after_idle)
{
    struct live_ack a = {false, 0};

    /* Idle for an hour: no ACK for long, but nothing outstanding. */
    ck_assert(!live_ack_dead(&a, 1000, 0, 3600000, 3000));
    ck_assert(!a.outstanding);
    /* It sends: the ACK age is still huge, the outstanding spell is new. */
    ck_assert(!live_ack_dead(&a, 2000, 1, 3601000, 3000));
    ck_assert(!live_ack_dead(&a, 4999, 1, 3603999, 3000));
    ck_assert(live_ack_dead(&a, 5000, 1, 3604000, 3000));
    /* Acknowledged in between: the spell starts over. */
    ck_assert(!live_ack_dead(&a, 5001, 0, 0, 3000));
    ck_assert(!live_ack_dead(&a, 6000, 2, 5000, 3000));
    ck_assert(!live_ack_dead(&a, 8999, 2, 8000, 3000));
    ck_assert(live_ack_dead(&a, 9000, 2, 8000, 3000));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("live");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_keepalive_defaults_and_fast);
    tcase_add_test(tc, test_keepalive_edges);
    tcase_add_test(tc, test_keepalive_within_dead_after);
    tcase_add_test(tc, test_period);
    tcase_add_test(tc, test_ack_dead_path);
    tcase_add_test(tc, test_ack_flowing_and_zero_window);
    tcase_add_test(tc, test_ack_after_idle);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
