/* SPDX-License-Identifier: MIT */
/*
 * Tests for common/fmt.c: times and durations for people.
 */
#include <check.h>

#include "fmt.h"
#include "lrcheck.h"

START_TEST(test_time)
{
    char b[32];

    fmt_time(1796594563431, b, sizeof(b));
    ck_assert_str_eq(b, "2026-12-06 22:02:43Z");
    fmt_time(0, b, sizeof(b));
    ck_assert_str_eq(b, "-");
    fmt_time(-5, b, sizeof(b));
    ck_assert_str_eq(b, "-");
    fmt_time(1796594563431, b, 10); /* does not fit */
    ck_assert_str_eq(b, "-");
}
END_TEST

START_TEST(test_duration)
{
    char b[32];

    fmt_duration(0, b, sizeof(b));
    ck_assert_str_eq(b, "0s");
    fmt_duration(-3, b, sizeof(b));
    ck_assert_str_eq(b, "0s");
    fmt_duration(59, b, sizeof(b));
    ck_assert_str_eq(b, "59s");
    fmt_duration(60, b, sizeof(b));
    ck_assert_str_eq(b, "1m00s");
    fmt_duration(3600 + 2 * 60 + 3, b, sizeof(b));
    ck_assert_str_eq(b, "1h02m03s");
    fmt_duration(86400 + 2 * 3600 + 3 * 60 + 4, b, sizeof(b));
    ck_assert_str_eq(b, "1d02h03m04s");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fmt");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_time);
    tcase_add_test(tc, test_duration);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
