/* SPDX-License-Identifier: MIT */
/* poolage_age (docs/design.md D44): the time the registry was unreadable
 * does not age a member's heartbeat. */
#include <check.h>

#include "lrcheck.h"
#include "poolage.h"

START_TEST(test_no_gap)
{
    struct poolage_gap g = {0, 0};

    ck_assert_int_eq(poolage_age(1000, 1000, &g), 0);
    ck_assert_int_eq(poolage_age(1000, 3500, &g), 2500);
}
END_TEST

/* A beat at 1000, the registry unreadable from 1200: while it is, the
 * beat's age stays 200; once it is read again at 5000, the age grows from
 * 200 again. */
START_TEST(test_gap)
{
    struct poolage_gap g = {1200, 0};

    ck_assert_int_eq(poolage_age(1000, 1200, &g), 200);
    ck_assert_int_eq(poolage_age(1000, 4000, &g), 200);
    g.to = 5000;
    ck_assert_int_eq(poolage_age(1000, 5000, &g), 200);
    ck_assert_int_eq(poolage_age(1000, 5800, &g), 1000);
    /* A beat after the gap ages normally; one inside it, from the gap's end. */
    ck_assert_int_eq(poolage_age(5100, 5800, &g), 700);
    ck_assert_int_eq(poolage_age(3000, 5800, &g), 800);
    /* A member dead long before the gap stays dead: only the gap is taken
     * off its age. */
    ck_assert_int_eq(poolage_age(100, 5800, &g), 5700 - 3800);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("poolage");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_no_gap);
    tcase_add_test(tc, test_gap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
