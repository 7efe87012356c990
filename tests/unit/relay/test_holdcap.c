/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/holdcap (docs/design.md D40): the budget at the cap
 * and at the floor, the sum and its peak, waking, and the bound
 * cap + directions x floor under any order of reads and drains. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "holdcap.h"
#include "lrcheck.h"

enum { CAP = 1000, FLOOR = 100 };

struct dir {
    struct holdcap_dir d;
    int woken;
};

static void wake(struct holdcap_dir *d)
{
    ((struct dir *)d)->woken++;
}

static void dir_init(struct dir *x)
{
    *x = (struct dir){.d = {.wake = wake}};
}

/* Under the cap a direction gets what it asks, up to the cap exactly; at the
 * cap, only its room under the floor; at the cap and the floor, 0. */
START_TEST(test_budget_at_limits)
{
    struct holdcap hc;
    struct dir a, b;

    holdcap_init(&hc, CAP, FLOOR);
    dir_init(&a);
    dir_init(&b);
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 400), 400);
    ck_assert_uint_eq(hc.holds, 0);
    holdcap_set(&hc, &a.d, 400);
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 4000), CAP - 400); /* to the cap exactly */
    ck_assert_uint_eq(hc.holds, 1);
    holdcap_set(&hc, &a.d, CAP);
    ck_assert_uint_eq(hc.held, CAP);
    /* At the cap: a (over its floor) gets 0, b (holding nothing) its floor. */
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 1), 0);
    ck_assert(a.d.capped);
    ck_assert_uint_eq(holdcap_budget(&hc, &b.d, 4000), FLOOR);
    ck_assert(!b.d.capped);
    holdcap_set(&hc, &b.d, FLOOR - 1);
    ck_assert_uint_eq(holdcap_budget(&hc, &b.d, 4000), 1); /* one byte left under the floor */
    holdcap_set(&hc, &b.d, FLOOR);
    ck_assert_uint_eq(holdcap_budget(&hc, &b.d, 1), 0);
    ck_assert_uint_eq(hc.held, CAP + FLOOR);
    ck_assert_uint_eq(hc.peak, CAP + FLOOR);
    ck_assert_uint_eq(hc.holds, 5);
    /* Back to nothing: the sum is 0, the peak stays. */
    holdcap_set(&hc, &a.d, 0);
    holdcap_set(&hc, &b.d, 0);
    ck_assert_uint_eq(hc.held, 0);
    ck_assert_uint_eq(hc.peak, CAP + FLOOR);
}
END_TEST

/* A direction held by the cap waits; it is woken once the sum falls under
 * the cap, or once its own count falls under the floor while the others keep
 * the sum at the cap (its reader took its bytes: it must not starve). A
 * budget cut to 0 by another limit (capped false) does not wait here. */
START_TEST(test_wait_and_wake)
{
    struct holdcap hc;
    struct dir a, b, c;

    holdcap_init(&hc, CAP, FLOOR);
    dir_init(&a);
    dir_init(&b);
    dir_init(&c);
    ck_assert(!holdcap_wait(&hc, &a.d)); /* never capped */
    holdcap_set(&hc, &a.d, 600);
    holdcap_set(&hc, &b.d, 400);
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 10), 0);
    ck_assert(holdcap_wait(&hc, &a.d));
    ck_assert_uint_eq(holdcap_budget(&hc, &b.d, 10), 0);
    ck_assert(holdcap_wait(&hc, &b.d));
    ck_assert(hc.head == &a.d && hc.tail == &b.d);
    /* More held, nothing woken. */
    holdcap_set(&hc, &c.d, 50);
    ck_assert_int_eq(a.woken + b.woken, 0);
    /* b's reader takes 350: the sum (700) falls under the cap, both wake. */
    holdcap_set(&hc, &b.d, 50);
    ck_assert_int_eq(a.woken, 1);
    ck_assert_int_eq(b.woken, 1);
    ck_assert_ptr_null(hc.head);
    /* Over the cap again (1050), a waits; c's reader takes 10: the sum
     * (1040) stays over the cap, a over its floor, so a keeps waiting. */
    holdcap_set(&hc, &b.d, 400);
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 10), 0);
    ck_assert(holdcap_wait(&hc, &a.d));
    holdcap_set(&hc, &c.d, 40);
    ck_assert_int_eq(a.woken, 1);
    ck_assert_uint_eq(hc.held, 1040);
    /* The others hold more than the cap; a's own reader takes a's bytes
     * down under the floor: a wakes although the sum (1139) is over the cap,
     * and may read up to its floor. */
    holdcap_set(&hc, &b.d, 1000);
    holdcap_set(&hc, &a.d, 99);
    ck_assert_uint_eq(hc.held, 1139);
    ck_assert_int_eq(a.woken, 2);
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 10), 1);
    /* Cancel: a waiter removed is not woken. */
    holdcap_set(&hc, &a.d, FLOOR);
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 10), 0);
    ck_assert(holdcap_wait(&hc, &a.d));
    holdcap_cancel(&hc, &a.d);
    holdcap_cancel(&hc, &a.d); /* twice is fine */
    holdcap_set(&hc, &b.d, 0);
    ck_assert_int_eq(a.woken, 2);
    ck_assert_ptr_null(hc.head);
    ck_assert_ptr_null(hc.tail);
}
END_TEST

/* A raised cap (SIGHUP) wakes the waiters it lets read. */
START_TEST(test_limits_wake)
{
    struct holdcap hc;
    struct dir a;

    holdcap_init(&hc, CAP, FLOOR);
    dir_init(&a);
    holdcap_set(&hc, &a.d, CAP);
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 10), 0);
    ck_assert(holdcap_wait(&hc, &a.d));
    holdcap_limits(&hc, CAP, FLOOR); /* unchanged: still waiting */
    ck_assert_int_eq(a.woken, 0);
    holdcap_limits(&hc, 2 * CAP, FLOOR);
    ck_assert_int_eq(a.woken, 1);
    ck_assert_uint_eq(holdcap_budget(&hc, &a.d, 4 * CAP), CAP);
}
END_TEST

/* The bound (D40): whatever the order, with every direction reading what its
 * budget allows and its reader taking some or none of it, the sum never
 * exceeds cap + directions x floor, and each step the sum is the sum of the
 * directions' counts. A fixed-seed generator, so a failure repeats. */
START_TEST(test_bound_random)
{
    enum { DIRS = 16, STEPS = 200000 };
    struct holdcap hc;
    struct dir d[DIRS];
    uint64_t x = 0x9E3779B97F4A7C15ull, max = 0;

    holdcap_init(&hc, CAP, FLOOR);
    for (int i = 0; i < DIRS; i++)
        dir_init(&d[i]);
    for (int step = 0; step < STEPS; step++) {
        uint64_t sum = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct dir *p = &d[x % DIRS];
        size_t want = (size_t)(x >> 8) % 700 + 1;
        if ((x >> 40) % 3 != 0) { /* a read of what the budget allows */
            size_t n = holdcap_budget(&hc, &p->d, want);
            ck_assert_uint_le(n, want);
            holdcap_set(&hc, &p->d, p->d.held + n);
        } else { /* its reader takes some */
            holdcap_set(&hc, &p->d, p->d.held - p->d.held * ((x >> 50) % 4) / 3);
        }
        for (int i = 0; i < DIRS; i++)
            sum += d[i].d.held;
        ck_assert_uint_eq(hc.held, sum);
        ck_assert_uint_le(hc.held, CAP + (uint64_t)DIRS * FLOOR);
        if (hc.held > max)
            max = hc.held;
    }
    ck_assert_uint_eq(hc.peak, max);
    ck_assert_uint_gt(max, CAP); /* the floors were used: the bound was tested at its edge */
}
END_TEST

static Suite *holdcap_suite(void)
{
    Suite *s = suite_create("holdcap");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_budget_at_limits);
    tcase_add_test(tc, test_wait_and_wake);
    tcase_add_test(tc, test_limits_wake);
    tcase_add_test(tc, test_bound_random);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(holdcap_suite());
}
