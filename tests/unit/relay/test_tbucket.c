/* SPDX-License-Identifier: MIT */
/* Unit tests for common/tbucket: every limit at the limit (burst exactly,
 * refill exactly 1/rate s later), no drift, no overflow, reload changes. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "lrcheck.h"
#include "tbucket.h"

/* A zeroed bucket is full: exactly burst takes pass, the next fails. */
START_TEST(test_burst_exactly)
{
    struct tbucket b = {0};

    for (int i = 0; i < 5; i++)
        ck_assert(tbucket_take(&b, 4, 5, 1000));
    ck_assert(!tbucket_take(&b, 4, 5, 1000));
    ck_assert(!tbucket_full(&b, 4, 5, 1000));
}
END_TEST

/* 4/s: one ms short of 1/rate s no token, at 1/rate s exactly one. */
/* A refund gives back exactly one token and never makes a bucket hold more
 * than burst: a full bucket stays full, an emptied one takes one more. */
START_TEST(test_give)
{
    struct tbucket b = {0};

    tbucket_give(&b);
    ck_assert_uint_eq(b.debt, 0);
    for (int i = 0; i < 5; i++)
        ck_assert(tbucket_take(&b, 4, 5, 1000));
    ck_assert(!tbucket_take(&b, 4, 5, 1000));
    tbucket_give(&b);
    ck_assert(tbucket_take(&b, 4, 5, 1000));
    ck_assert(!tbucket_take(&b, 4, 5, 1000));
    /* Part of a token refilled (100 ms at 4/s = 0.4), then one given back:
     * 1.4 tokens, one take passes, the second does not. */
    tbucket_give(&b);
    ck_assert(tbucket_take(&b, 4, 5, 1100));
    ck_assert(!tbucket_take(&b, 4, 5, 1100));
    /* Giving back more than was taken: full, exactly burst again. */
    for (int i = 0; i < 10; i++)
        tbucket_give(&b);
    ck_assert(tbucket_full(&b, 4, 5, 1100));
    for (int i = 0; i < 5; i++)
        ck_assert(tbucket_take(&b, 4, 5, 1100));
    ck_assert(!tbucket_take(&b, 4, 5, 1100));
}
END_TEST

START_TEST(test_refill_after_one_over_rate)
{
    struct tbucket b = {0};

    for (int i = 0; i < 5; i++)
        ck_assert(tbucket_take(&b, 4, 5, 1000));
    ck_assert(!tbucket_take(&b, 4, 5, 1249));
    ck_assert(tbucket_take(&b, 4, 5, 1250));
    ck_assert(!tbucket_take(&b, 4, 5, 1250));
    /* A refused take spends nothing: the next token is 250 ms after the last. */
    ck_assert(!tbucket_take(&b, 4, 5, 1499));
    ck_assert(tbucket_take(&b, 4, 5, 1500));
    /* Refilled to the burst, not beyond, after a long idle time. */
    ck_assert(tbucket_full(&b, 4, 5, 2750));
    ck_assert(!tbucket_full(&b, 4, 5, 2749));
    for (int i = 0; i < 5; i++)
        ck_assert(tbucket_take(&b, 4, 5, 100000));
    ck_assert(!tbucket_take(&b, 4, 5, 100000));
}
END_TEST

/* A rate that does not divide a second: 3/s is a token per 333 1/3 ms, and
 * after 1000 rounds of one second each there are still exactly 3 each time. */
START_TEST(test_no_drift)
{
    struct tbucket b = {0};
    uint64_t t = 5000;

    for (int i = 0; i < 3; i++)
        ck_assert(tbucket_take(&b, 3, 3, t));
    ck_assert(!tbucket_take(&b, 3, 3, t + 333));
    ck_assert(tbucket_take(&b, 3, 3, t + 334));
    /* Two more by t + 1000 (the third was taken at t + 334). */
    t += 1000;
    ck_assert(tbucket_take(&b, 3, 3, t));
    ck_assert(tbucket_take(&b, 3, 3, t));
    ck_assert(!tbucket_take(&b, 3, 3, t));
    for (int round = 0; round < 1000; round++) {
        t += 1000;
        for (int i = 0; i < 3; i++)
            ck_assert(tbucket_take(&b, 3, 3, t));
        ck_assert(!tbucket_take(&b, 3, 3, t));
    }
}
END_TEST

START_TEST(test_clock_backwards)
{
    struct tbucket b = {0};

    ck_assert(tbucket_take(&b, 2, 1, 100000));
    ck_assert(!tbucket_take(&b, 2, 1, 50000));
    /* The earlier time did not move the reference point back either. */
    ck_assert(!tbucket_take(&b, 2, 1, 100499));
    ck_assert(tbucket_take(&b, 2, 1, 100500));
}
END_TEST

/* The largest rate and burst the type allows, and an idle time that would
 * overflow dt * rate, refill to the burst and no further. */
START_TEST(test_extremes)
{
    struct tbucket b = {0};
    uint32_t n;

    ck_assert(tbucket_take(&b, UINT32_MAX, UINT32_MAX, 0));
    ck_assert_uint_eq(b.debt, TBUCKET_UNIT);
    ck_assert(tbucket_full(&b, UINT32_MAX, UINT32_MAX, 1));
    ck_assert(tbucket_full(&b, UINT32_MAX, UINT32_MAX, UINT64_MAX));
    memset(&b, 0, sizeof(b));
    ck_assert(tbucket_take(&b, 1, 2, 0));
    ck_assert(tbucket_take(&b, 1, 2, 0));
    ck_assert(!tbucket_take(&b, 1, 2, 0));
    ck_assert(tbucket_take(&b, 1, 2, UINT64_MAX));
    ck_assert(tbucket_take(&b, 1, 2, UINT64_MAX));
    ck_assert(!tbucket_take(&b, 1, 2, UINT64_MAX));
    /* The relay's configured maxima (1000000/s, burst 10000000) at the limit. */
    memset(&b, 0, sizeof(b));
    n = 0;
    while (n < 20000000 && tbucket_take(&b, 1000000, 10000000, 7))
        n++;
    ck_assert_uint_eq(n, 10000000);
    ck_assert(tbucket_take(&b, 1000000, 10000000, 8));
    /* Refilling 10000000 tokens at 1000000/s takes 10 s. */
    ck_assert(tbucket_full(&b, 1000000, 10000000, 8 + 10000));
    ck_assert(!tbucket_full(&b, 1000000, 10000000, 8 + 9999));
}
END_TEST

START_TEST(test_zero_rate_or_burst)
{
    struct tbucket b = {0};

    ck_assert(tbucket_take(&b, 0, 1, 0));
    ck_assert(!tbucket_take(&b, 0, 1, UINT64_MAX));
    memset(&b, 0, sizeof(b));
    ck_assert(!tbucket_take(&b, 1000, 0, 0));
    ck_assert(tbucket_full(&b, 1000, 0, 0));
}
END_TEST

/* A reload passes new values: a full bucket stays full (a raised burst is
 * available at once), an empty one is not in debt past a lowered burst. */
START_TEST(test_burst_changes)
{
    struct tbucket b = {0};

    for (int i = 0; i < 10; i++)
        ck_assert(tbucket_take(&b, 1, 10, 0));
    ck_assert(!tbucket_take(&b, 1, 10, 0));
    /* Lowered to 2 while 999 ms were refilling: the bucket is empty (not 8
     * tokens short), and the next token comes 1/rate s after that. */
    ck_assert(!tbucket_take(&b, 1, 2, 999));
    ck_assert(!tbucket_take(&b, 1, 2, 1998));
    ck_assert(tbucket_take(&b, 1, 2, 1999));
    ck_assert(!tbucket_take(&b, 1, 2, 1999));
    ck_assert(!tbucket_full(&b, 1, 2, 3998));
    ck_assert(tbucket_full(&b, 1, 2, 3999));
    /* Full at 2, raised to 6: six tokens. */
    for (int i = 0; i < 6; i++)
        ck_assert(tbucket_take(&b, 1, 6, 3999));
    ck_assert(!tbucket_take(&b, 1, 6, 3999));
}
END_TEST

static Suite *tbucket_suite(void)
{
    Suite *s = suite_create("tbucket");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_burst_exactly);
    tcase_add_test(tc, test_give);
    tcase_add_test(tc, test_refill_after_one_over_rate);
    tcase_add_test(tc, test_no_drift);
    tcase_add_test(tc, test_clock_backwards);
    tcase_add_test(tc, test_extremes);
    tcase_add_test(tc, test_zero_rate_or_burst);
    tcase_add_test(tc, test_burst_changes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(tbucket_suite());
}
