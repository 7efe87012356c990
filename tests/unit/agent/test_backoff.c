/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/backoff.c.
 */
#include <check.h>
#include <errno.h>

#include "backoff.h"
#include "lrcheck.h"

START_TEST(test_init_limits)
{
    struct backoff b = {7, 7, 7};

    ck_assert_int_eq(backoff_init(&b, 0, 10), -EINVAL);
    ck_assert_int_eq(backoff_init(&b, 11, 10), -EINVAL);
    ck_assert_uint_eq(b.min_ms, 7); /* untouched on error */
    ck_assert_int_eq(backoff_init(&b, 10, 10), 0);
    ck_assert_uint_eq(backoff_next(&b, 0), 5);
    ck_assert_uint_eq(backoff_next(&b, 5), 10);
    ck_assert_uint_eq(backoff_next(&b, 6), 5); /* rnd % 6 == 0 */
}
END_TEST

START_TEST(test_doubling_and_cap)
{
    struct backoff b;
    const uint32_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};

    ck_assert_int_eq(backoff_init(&b, 500, 30000), 0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        /* rnd = UINT32_MAX hits various residues; use the top of the range
         * with rnd = d - half (the largest jitter). */
        uint32_t d = b.step_ms;
        ck_assert_uint_eq(d, want[i]);
        ck_assert_uint_eq(backoff_next(&b, d - d / 2), d);
    }
}
END_TEST

START_TEST(test_jitter_range)
{
    struct backoff b;
    uint32_t lo = UINT32_MAX, hi = 0;

    ck_assert_int_eq(backoff_init(&b, 1000, 1000), 0);
    for (uint32_t r = 0; r < 5000; r++) {
        uint32_t d = backoff_next(&b, r * 2654435761u);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_uint_eq(lo, 500);
    ck_assert_uint_eq(hi, 1000);
}
END_TEST

START_TEST(test_reset_and_long)
{
    struct backoff b;

    ck_assert_int_eq(backoff_init(&b, 500, 30000), 0);
    ck_assert_uint_eq(backoff_long(&b, 0), 15000); /* at the cap at once */
    ck_assert_uint_eq(b.step_ms, 30000);
    backoff_reset(&b);
    ck_assert_uint_eq(backoff_next(&b, 0), 250);
    /* No overflow near UINT32_MAX. */
    ck_assert_int_eq(backoff_init(&b, UINT32_MAX - 1, UINT32_MAX), 0);
    ck_assert_uint_ge(backoff_next(&b, UINT32_MAX), (UINT32_MAX - 1) / 2);
    ck_assert_uint_eq(b.step_ms, UINT32_MAX);
    ck_assert_uint_ge(backoff_next(&b, UINT32_MAX), UINT32_MAX / 2);
}
END_TEST

/* linkagent's per-stream retry (agent/stream.h, STREAM_RETRY_MIN_MS 4 and
 * STREAM_RETRY_MAX_MS 256): 2..4 ms first, doubling to 128..256 ms from the
 * seventh try on, the range its own hand-written loop used to give. */
START_TEST(test_stream_retry_range)
{
    const uint32_t lo[] = {2, 4, 8, 16, 32, 64, 128, 128};
    struct backoff b;

    ck_assert_int_eq(backoff_init(&b, 4, 256), 0);
    for (size_t i = 0; i < sizeof(lo) / sizeof(lo[0]); i++) {
        struct backoff c = b;
        ck_assert_uint_eq(backoff_next(&c, lo[i] * 2 - lo[i]), lo[i] * 2); /* the top */
        ck_assert_uint_eq(backoff_next(&b, 0), lo[i]);                     /* the bottom */
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_init_limits);
    tcase_add_test(tc, test_doubling_and_cap);
    tcase_add_test(tc, test_jitter_range);
    tcase_add_test(tc, test_reset_and_long);
    tcase_add_test(tc, test_stream_retry_range);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
