/* SPDX-License-Identifier: MIT */
/* Unit tests for common/promtext.c: the Prometheus text exposition writer. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lrcheck.h"
#include "promtext.h"

/* The text written so far (taken; the caller frees it). */
static char *take(struct promtext *pt)
{
    char *text = NULL;
    size_t len = 0;

    ck_assert_int_eq(promtext_take(pt, &text, &len), 0);
    ck_assert_uint_eq(len, strlen(text));
    return text;
}

START_TEST(test_family_and_samples)
{
    struct promtext pt;
    struct promtext_label l[2] = {{"link", "one"}, {"direction", "a_to_b"}};
    char *t;

    promtext_init(&pt, 1 << 20);
    promtext_family(&pt, "x_bytes_total", "counter", "Bytes.");
    promtext_u64(&pt, "x_bytes_total", l, 2, 18446744073709551615ULL);
    promtext_u64(&pt, "x_bytes_total", NULL, 0, 0);
    t = take(&pt);
    ck_assert_str_eq(t, "# HELP x_bytes_total Bytes.\n# TYPE x_bytes_total counter\n"
                        "x_bytes_total{link=\"one\",direction=\"a_to_b\"} 18446744073709551615\n"
                        "x_bytes_total 0\n");
    free(t);
    promtext_done(&pt);
}
END_TEST

START_TEST(test_floats)
{
    struct promtext pt;
    char *t;

    promtext_init(&pt, 4096);
    promtext_f64(&pt, "a", NULL, 0, 0.147);
    promtext_f64(&pt, "b", NULL, 0, 0.1 + 0.2);
    promtext_f64(&pt, "c", NULL, 0, NAN);
    promtext_f64(&pt, "d", NULL, 0, -INFINITY);
    promtext_f64(&pt, "e", NULL, 0, 1796593579.25);
    t = take(&pt);
    ck_assert_str_eq(t, "a 0.147\nb 0.30000000000000004\nc NaN\nd -Inf\ne 1796593579.25\n");
    free(t);
}
END_TEST

START_TEST(test_escaping)
{
    struct promtext pt;
    struct promtext_label l = {"name", "q\"b\\n\nz\xff\xc3\xa9"};
    char *t;

    promtext_init(&pt, 4096);
    promtext_family(&pt, "m", "gauge", "help \"quoted\" back\\slash\nnewline");
    promtext_u64(&pt, "m", &l, 1, 7);
    t = take(&pt);
    /* Quotes escaped in label values only; a byte that is not UTF-8 becomes
     * U+FFFD, a valid sequence (é) stays. */
    ck_assert_str_eq(t, "# HELP m help \"quoted\" back\\\\slash\\nnewline\n# TYPE m gauge\n"
                        "m{name=\"q\\\"b\\\\n\\nz\xef\xbf\xbd\xc3\xa9\"} 7\n");
    free(t);
}
END_TEST

START_TEST(test_bad_utf8)
{
    /* Overlong, surrogate, above U+10FFFF, truncated: each byte replaced. */
    static const char *const bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct promtext pt;
        struct promtext_label l = {"v", bad[i]};
        char *t;

        promtext_init(&pt, 4096);
        promtext_u64(&pt, "m", &l, 1, 1);
        t = take(&pt);
        ck_assert_msg(strstr(t, "\xef\xbf\xbd") != NULL && strncmp(t, "m{v=\"", 5) == 0, "%zu", i);
        for (const char *p = t + 5; *p != '"'; p += 3)
            ck_assert_msg(memcmp(p, "\xef\xbf\xbd", 3) == 0, "case %zu: %s", i, t);
        free(t);
    }
}
END_TEST

START_TEST(test_at_max)
{
    struct promtext pt;
    char *t = NULL;
    size_t len = 0;

    /* "m 1\n" is 4 bytes: with the NUL, max 5 holds it exactly, 4 does not. */
    promtext_init(&pt, 5);
    promtext_u64(&pt, "m", NULL, 0, 1);
    ck_assert_int_eq(promtext_take(&pt, &t, &len), 0);
    ck_assert_str_eq(t, "m 1\n");
    free(t);
    promtext_init(&pt, 4);
    promtext_u64(&pt, "m", NULL, 0, 1);
    t = NULL;
    ck_assert_int_eq(promtext_take(&pt, &t, &len), -E2BIG);
    ck_assert_ptr_null(t);
    /* Growing past the first 4 KiB up to a larger max works. */
    promtext_init(&pt, 1 << 16);
    for (int i = 0; i < 5000; i++)
        promtext_u64(&pt, "m", NULL, 0, 1);
    ck_assert_int_eq(promtext_take(&pt, &t, &len), 0);
    ck_assert_uint_eq(len, 5000 * 4);
    free(t);
}
END_TEST

START_TEST(test_empty)
{
    struct promtext pt;
    char *t;

    promtext_init(&pt, 16);
    t = take(&pt);
    ck_assert_str_eq(t, "");
    free(t);
    promtext_done(&pt);
}
END_TEST

static Suite *promtext_suite(void)
{
    Suite *s = suite_create("promtext");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_family_and_samples);
    tcase_add_test(tc, test_floats);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_bad_utf8);
    tcase_add_test(tc, test_at_max);
    tcase_add_test(tc, test_empty);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(promtext_suite());
}
