/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/stats: failure counts per cause, the per-window
 * aggregation by cause and source address (port stripped, a full table
 * counted as "other"), windows that end on the tick, and held-byte peaks. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lrcheck.h"
#include "stats.h"

START_TEST(test_fail_names)
{
    ck_assert_str_eq(stats_fail_name(STATS_FAIL_PREAMBLE), "preamble");
    ck_assert_str_eq(stats_fail_name(STATS_FAIL_EOF), "closed_early");
    ck_assert_str_eq(stats_fail_name(STATS_FAIL_LIMIT), "limit");
    ck_assert_str_eq(stats_fail_name(STATS_FAIL_COUNT), "unknown");
}
END_TEST

/* One slot per (cause, address without port); every failure counted. */
START_TEST(test_count_aggregates)
{
    struct stats st;

    stats_init(&st, 1000);
    stats_count_fail(&st, STATS_FAIL_TICKET, "10.0.0.1:4000");
    stats_count_fail(&st, STATS_FAIL_TICKET, "10.0.0.1:4001");
    stats_count_fail(&st, STATS_FAIL_AUTH, "10.0.0.1:4002");
    stats_count_fail(&st, STATS_FAIL_TICKET, "[::1]:5000");
    ck_assert_uint_eq(st.auth_failures, 4);
    ck_assert_uint_eq(st.fail[STATS_FAIL_TICKET], 3);
    ck_assert_uint_eq(st.fail[STATS_FAIL_AUTH], 1);
    ck_assert_uint_eq(st.n_fails, 3);
    ck_assert_str_eq(st.fails[0].addr, "10.0.0.1");
    ck_assert_uint_eq(st.fails[0].count, 2);
    ck_assert_str_eq(st.fails[2].addr, "::1");
}
END_TEST

/* A full table counts the rest as other sources; the window ends on the
 * tick once STATS_FAIL_WINDOW_MS have passed, not before. */
START_TEST(test_window)
{
    struct stats st;
    char peer[32];

    stats_init(&st, 1000);
    for (int i = 0; i < STATS_FAIL_SLOTS + 3; i++) {
        snprintf(peer, sizeof(peer), "10.0.%d.%d:1", i / 256, i % 256);
        stats_count_fail(&st, STATS_FAIL_PREAMBLE, peer);
    }
    ck_assert_uint_eq(st.n_fails, STATS_FAIL_SLOTS);
    ck_assert_uint_eq(st.fails_other, 3);
    stats_tick(&st, 1000 + STATS_FAIL_WINDOW_MS - 1);
    ck_assert_uint_eq(st.n_fails, STATS_FAIL_SLOTS);
    stats_tick(&st, 1000 + STATS_FAIL_WINDOW_MS);
    ck_assert_uint_eq(st.n_fails, 0);
    ck_assert_uint_eq(st.fails_other, 0);
    ck_assert_uint_eq(st.fail_window_ms, 1000 + STATS_FAIL_WINDOW_MS);
    /* The counts since start stay. */
    ck_assert_uint_eq(st.fail[STATS_FAIL_PREAMBLE], STATS_FAIL_SLOTS + 3);
    stats_count_fail(&st, STATS_FAIL_PREAMBLE, "10.0.0.0:2");
    stats_flush(&st, 1000 + STATS_FAIL_WINDOW_MS + 1);
    ck_assert_uint_eq(st.n_fails, 0);
}
END_TEST

START_TEST(test_hold_peak)
{
    struct stats st;

    stats_init(&st, 0);
    stats_hold(&st.queued, &st.queued_peak, 100);
    stats_hold(&st.queued, &st.queued_peak, 50);
    st.queued -= 120;
    stats_hold(&st.queued, &st.queued_peak, 10);
    ck_assert_uint_eq(st.queued, 40);
    ck_assert_uint_eq(st.queued_peak, 150);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_fail_names);
    tcase_add_test(tc, test_count_aggregates);
    tcase_add_test(tc, test_window);
    tcase_add_test(tc, test_hold_peak);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(stats_suite());
}
