// SPDX-License-Identifier: MIT
/* Unit tests for relay/bbucket (docs/design.md D28): the burst and its
 * floor, exact refill with no drift, the bound burst + rate * t whatever the
 * read sizes, the wait until a given amount, rate changes, no overflow at
 * the largest rate after a long idle time. */
#include <check.h>
#include <stdint.h>

#include "bbucket.h"
#include "lrcheck.h"

START_TEST(test_burst)
{
    ck_assert_uint_eq(bbucket_burst(1000), BBUCKET_BURST_MIN);
    ck_assert_uint_eq(bbucket_burst(10 * BBUCKET_BURST_MIN - 1), BBUCKET_BURST_MIN);
    ck_assert_uint_eq(bbucket_burst(10 * BBUCKET_BURST_MIN), BBUCKET_BURST_MIN);
    ck_assert_uint_eq(bbucket_burst(12500000), 1250000);
    ck_assert_uint_eq(bbucket_burst(1ULL << 40), (1ULL << 40) / 10);
}
END_TEST

/* A zeroed bucket is full: exactly burst bytes, then none. */
START_TEST(test_full_then_empty)
{
    struct bbucket b = {0};

    ck_assert_uint_eq(bbucket_avail(&b, 12500000, 5000), 1250000);
    bbucket_take(&b, 1250000);
    ck_assert_uint_eq(bbucket_avail(&b, 12500000, 5000), 0);
    /* 1 ms later: exactly 12500 bytes. */
    ck_assert_uint_eq(bbucket_avail(&b, 12500000, 5001), 12500);
    /* Never more than the burst, however long it idles. */
    ck_assert_uint_eq(bbucket_avail(&b, 12500000, 1000000), 1250000);
}
END_TEST

/* 1000 bytes/s is one byte per ms: no drift over 10 s of 1-byte steps, and a
 * rate that does not divide 1000 ms (3 bytes/s) refills exactly. */
START_TEST(test_no_drift)
{
    struct bbucket b = {0};
    uint64_t taken = 0, now = 1000;

    taken += bbucket_avail(&b, 1000, now);
    bbucket_take(&b, taken);
    for (int i = 0; i < 10000; i++) {
        uint64_t n = bbucket_avail(&b, 1000, ++now);
        bbucket_take(&b, n);
        taken += n;
    }
    ck_assert_uint_eq(taken, BBUCKET_BURST_MIN + 10000);
    struct bbucket c = {0};
    ck_assert_uint_eq(bbucket_avail(&c, 3, 1), BBUCKET_BURST_MIN);
    bbucket_take(&c, BBUCKET_BURST_MIN);
    ck_assert_uint_eq(bbucket_avail(&c, 3, 333), 0);
    ck_assert_uint_eq(bbucket_avail(&c, 3, 334), 0);
    ck_assert_uint_eq(bbucket_avail(&c, 3, 335), 1); /* 334 ms * 3/s = 1.002 */
}
END_TEST

/* Whatever the read sizes and times, taking only what is available keeps
 * the bytes taken from t0 to t at most burst + rate * (t - t0). */
START_TEST(test_bound)
{
    const uint64_t rate = 1048576, burst = bbucket_burst(rate);
    struct bbucket b = {0};
    uint64_t taken = 0, seed = 1;

    for (uint64_t now = 100; now < 100 + 20000; now += 1 + seed % 7) {
        uint64_t want, n;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        want = (seed >> 33) % (512 * 1024);
        n = bbucket_avail(&b, rate, now);
        if (n > want)
            n = want;
        bbucket_take(&b, n);
        taken += n;
        ck_assert_uint_le(taken * 1000, burst * 1000 + rate * (now - 100));
    }
}
END_TEST

START_TEST(test_wait)
{
    struct bbucket b = {0};

    ck_assert_uint_eq(bbucket_wait_ms(&b, 1000, 10, 0), 0);
    bbucket_take(&b, BBUCKET_BURST_MIN);
    ck_assert_uint_eq(bbucket_wait_ms(&b, 1000, 10, 0), 10);
    ck_assert_uint_eq(bbucket_wait_ms(&b, 1000, 10, 4), 6);
    /* More than the burst: waits for the burst. */
    ck_assert_uint_eq(bbucket_wait_ms(&b, 1000, 1ULL << 30, 4), BBUCKET_BURST_MIN - 4);
    ck_assert_uint_eq(bbucket_avail(&b, 1000, 14), 14);
}
END_TEST

/* A lowered rate caps what is owed at the new burst; a raised one keeps it. */
START_TEST(test_rate_change)
{
    struct bbucket b = {0};

    ck_assert_uint_eq(bbucket_avail(&b, 100000000, 10), 10000000);
    bbucket_take(&b, 10000000);
    ck_assert_uint_eq(bbucket_avail(&b, 1000, 10), 0);
    /* Owed: one burst at 1000/s (an empty bucket), not 10 MB (10000 s):
     * the next byte 1 ms away. */
    ck_assert_uint_eq(bbucket_wait_ms(&b, 1000, 1, 10), 1);
    ck_assert_uint_eq(bbucket_avail(&b, 2000, 10), 0);
    ck_assert_uint_eq(bbucket_avail(&b, 2000, 11), 2);
}
END_TEST

/* The largest rate after a very long idle time: no overflow. */
START_TEST(test_extremes)
{
    struct bbucket b = {0};

    ck_assert_uint_eq(bbucket_avail(&b, 1ULL << 40, UINT64_MAX / 2), (1ULL << 40) / 10);
    bbucket_take(&b, (1ULL << 40) / 10);
    ck_assert_uint_eq(bbucket_avail(&b, 1ULL << 40, UINT64_MAX / 2), 0);
    ck_assert_uint_eq(bbucket_avail(&b, 1ULL << 40, UINT64_MAX), (1ULL << 40) / 10);
    /* A clock going backwards adds nothing. */
    bbucket_take(&b, 1000);
    ck_assert_uint_eq(bbucket_avail(&b, 1ULL << 40, 5), (1ULL << 40) / 10 - 1000);
}
END_TEST

static Suite *bbucket_suite(void)
{
    Suite *s = suite_create("bbucket");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_burst);
    tcase_add_test(tc, test_full_then_empty);
    tcase_add_test(tc, test_no_drift);
    tcase_add_test(tc, test_bound);
    tcase_add_test(tc, test_wait);
    tcase_add_test(tc, test_rate_change);
    tcase_add_test(tc, test_extremes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(bbucket_suite());
}
