/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/freelist: reuse, zeroed blocks, the bound, resizing. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "freelist.h"
#include "lrcheck.h"

struct blk {
    unsigned char b[200];
};

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;

    for (size_t i = 0; i < n; i++)
        if (c[i] != 0)
            return 0;
    return 1;
}

/* A block put back comes out again for the next get, zeroed. */
START_TEST(test_reuse_zeroed)
{
    struct freelist fl;
    struct blk *a, *b;

    freelist_init(&fl, sizeof(struct blk), 4);
    a = freelist_get(&fl);
    ck_assert_ptr_nonnull(a);
    ck_assert(all_zero(a, sizeof(*a)));
    ck_assert_uint_eq(fl.hits, 0);
    memset(a, 0xA5, sizeof(*a));
    freelist_put(&fl, a);
    ck_assert_uint_eq(fl.n, 1);
    b = freelist_get(&fl);
    ck_assert_ptr_eq(b, a);
    ck_assert_uint_eq(fl.hits, 1);
    ck_assert_uint_eq(fl.n, 0);
    ck_assert(all_zero(b, sizeof(*b)));
    free(b);
    freelist_done(&fl);
}
END_TEST

/* At most max blocks are kept; the ones past it are freed (ASan: no leak),
 * and those kept are handed out last in, first out. */
START_TEST(test_bound_at_max)
{
    enum { MAX = 3 };
    struct freelist fl;
    void *p[MAX + 2];

    freelist_init(&fl, sizeof(struct blk), MAX);
    for (int i = 0; i < MAX + 2; i++)
        p[i] = freelist_get(&fl);
    for (int i = 0; i < MAX + 2; i++) {
        freelist_put(&fl, p[i]);
        ck_assert_uint_eq(fl.n, i < MAX ? (size_t)i + 1 : (size_t)MAX);
    }
    for (int i = MAX - 1; i >= 0; i--)
        ck_assert_ptr_eq(freelist_get(&fl), p[i]);
    ck_assert_uint_eq(fl.n, 0);
    ck_assert_uint_eq(fl.hits, MAX);
    for (int i = 0; i < MAX; i++)
        free(p[i]);
    /* Empty: a fresh (zeroed) block. */
    p[0] = freelist_get(&fl);
    ck_assert_ptr_nonnull(p[0]);
    ck_assert(all_zero(p[0], sizeof(struct blk)));
    ck_assert_uint_eq(fl.hits, MAX);
    freelist_put(&fl, p[0]);
    freelist_put(&fl, NULL);
    ck_assert_uint_eq(fl.n, 1);
    freelist_done(&fl);
    ck_assert_uint_eq(fl.n, 0);
    ck_assert_ptr_null(fl.head);
}
END_TEST

/* max 0 keeps nothing; a new size drops what was kept (the old size). */
START_TEST(test_zero_max_and_resize)
{
    struct freelist fl;
    void *p;

    freelist_init(&fl, sizeof(struct blk), 0);
    freelist_put(&fl, freelist_get(&fl));
    ck_assert_uint_eq(fl.n, 0);

    freelist_init(&fl, sizeof(struct blk), 2);
    freelist_put(&fl, freelist_get(&fl));
    ck_assert_uint_eq(fl.n, 1);
    freelist_resize(&fl, sizeof(struct blk));
    ck_assert_uint_eq(fl.n, 1);
    freelist_resize(&fl, 2 * sizeof(struct blk));
    ck_assert_uint_eq(fl.n, 0);
    ck_assert_uint_eq(fl.size, 2 * sizeof(struct blk));
    p = freelist_get(&fl);
    ck_assert(all_zero(p, 2 * sizeof(struct blk)));
    memset(p, 1, 2 * sizeof(struct blk)); /* the full new size is usable */
    freelist_put(&fl, p);
    /* A size under a pointer's is a pointer's: the link fits. */
    freelist_resize(&fl, 1);
    ck_assert_uint_eq(fl.size, sizeof(void *));
    freelist_done(&fl);
}
END_TEST

static Suite *freelist_suite(void)
{
    Suite *s = suite_create("freelist");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_reuse_zeroed);
    tcase_add_test(tc, test_bound_at_max);
    tcase_add_test(tc, test_zero_max_and_resize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(freelist_suite());
}
