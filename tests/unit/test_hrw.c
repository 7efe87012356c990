/* SPDX-License-Identifier: MIT */
/*
 * Tests for common/hrw.c: rendezvous hashing of link ids over pool members
 * (docs/design.md D34). The properties the pool relies on: a member's death
 * moves only the links it was home of, a join takes only links for the new
 * member (about 1/n of them), and the pick is the same on every relay.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hrw.h"
#include "lrcheck.h"

#define NLINKS 6000

static uint8_t ids[NLINKS][16];

static void make_ids(void)
{
    for (size_t i = 0; i < NLINKS; i++) {
        memset(ids[i], 0, 16);
        for (int b = 0; b < 8; b++)
            ids[i][b] = (uint8_t)(i >> (8 * b));
        ids[i][15] = 0x5a;
    }
}

static void pick_all(const char *const *m, size_t n, int *out)
{
    for (size_t i = 0; i < NLINKS; i++)
        out[i] = hrw_pick(m, n, ids[i], 16);
}

START_TEST(test_death_moves_only_its_links)
{
    const char *m[4] = {"r1", "r2", "r3", "r4"};
    static int before[NLINKS], after[NLINKS];
    size_t moved = 0, of_dead = 0;

    make_ids();
    pick_all(m, 4, before);
    m[2] = NULL; /* r3 dies */
    pick_all(m, 4, after);
    for (size_t i = 0; i < NLINKS; i++) {
        ck_assert_int_ne(after[i], 2);
        ck_assert_int_ge(after[i], 0);
        if (before[i] == 2)
            of_dead++;
        if (before[i] != after[i]) {
            moved++;
            ck_assert_int_eq(before[i], 2); /* only the dead member's links move */
        }
    }
    ck_assert_uint_eq(moved, of_dead);
    /* Its share: 1/4 of 6000 = 1500; binomial sd ~34, the bound is ~7 sd. */
    ck_assert_uint_gt(of_dead, 1250);
    ck_assert_uint_lt(of_dead, 1750);
}
END_TEST

START_TEST(test_join_takes_only_its_share)
{
    const char *m[4] = {"r1", "r2", "r3", "r4"};
    static int before[NLINKS], after[NLINKS];
    size_t moved = 0;

    make_ids();
    pick_all(m, 3, before); /* r4 not there yet */
    pick_all(m, 4, after);
    for (size_t i = 0; i < NLINKS; i++) {
        if (before[i] != after[i]) {
            moved++;
            ck_assert_int_eq(after[i], 3); /* a link moves only to the new member */
        }
    }
    ck_assert_uint_gt(moved, 1250);
    ck_assert_uint_lt(moved, 1750);
}
END_TEST

START_TEST(test_order_does_not_matter)
{
    const char *a[3] = {"alpha", "beta", "gamma"};
    const char *b[3] = {"gamma", "alpha", "beta"};

    make_ids();
    for (size_t i = 0; i < 500; i++) {
        int x = hrw_pick(a, 3, ids[i], 16), y = hrw_pick(b, 3, ids[i], 16);
        ck_assert_str_eq(a[x], b[y]);
    }
}
END_TEST

START_TEST(test_edges)
{
    const char *none[2] = {NULL, NULL};
    const char *one[1] = {"solo"};
    uint8_t id[16] = {1};

    ck_assert_int_eq(hrw_pick(none, 2, id, 16), -1);
    ck_assert_int_eq(hrw_pick(none, 0, id, 16), -1);
    ck_assert_int_eq(hrw_pick(one, 1, id, 16), 0);
    /* The weight depends on both inputs, and the length prefix keeps
     * ("ab", id) apart from ("a", "b" ‖ id). */
    ck_assert_uint_ne(hrw_weight("a", id, 16), hrw_weight("b", id, 16));
    id[0] = 2;
    ck_assert_uint_ne(hrw_weight("a", id, 16), hrw_weight("a", (const uint8_t *)"\x01", 1));
    /* A fixed vector: the pick must be the same on every relay and in
     * every version of a pool (recomputed by hand with BLAKE2b). */
    ck_assert_uint_eq(hrw_weight("r1", (const uint8_t *)"0123456789abcdef", 16),
                      UINT64_C(0xdd7f1efb7a853673));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hrw");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_death_moves_only_its_links);
    tcase_add_test(tc, test_join_takes_only_its_share);
    tcase_add_test(tc, test_order_does_not_matter);
    tcase_add_test(tc, test_edges);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
