/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of registry/store_allow.c: source allowlists (D27) stored,
 * replaced per side, cleared, loaded for every link, removed with their
 * link, refused past the limit, and rows edited by hand that do not parse
 * (or one too many) making their side refuse instead of widening it.
 */
#include "store.h"

#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lrcheck.h"
#define STOREFIX_NAME "test_store_allow"
#include "storefix.h"

static void put(struct store_allow *a, int side, const char *text)
{
    ck_assert_int_eq(cidr_parse(text, &a->cidr[side][a->n[side]]), 0);
    a->n[side]++;
}

static void text_of(const struct store_allow *a, char *out, size_t cap)
{
    store_allow_text(a, out, cap);
}

/* Runs sql with ?1 bound to the link id on a connection of its own. */
static void raw_exec(const char *sql, const uint8_t id[STORE_LINK_ID_LEN])
{
    ck_assert_int_eq(storefix_raw(sql, id, NULL, 0), DB_DONE);
}

/* Two full IPv6 lists do not fit a log line's detail: the text is cut
 * with "..." at the end of the buffer, and a list that fits is not. */
START_TEST(text_cut_at_cap)
{
    struct store_allow a = {0};
    char t[STORE_DETAIL_MAX + 1], small[16];

    for (int side = 0; side < 2; side++)
        for (int i = 0; i < STORE_ALLOW_MAX; i++) {
            char c[64];
            snprintf(c, sizeof(c), "2001:db8:ffff:ffff:ffff:ffff:ffff:%x/128", 0xff00 + i);
            put(&a, side, c);
        }
    text_of(&a, t, sizeof(t));
    ck_assert_uint_eq(strlen(t), sizeof(t) - 1);
    ck_assert_str_eq(t + sizeof(t) - 4, "...");
    ck_assert_msg(strncmp(t, "a: 2001:db8:ffff:ffff:ffff:ffff:ffff:ff00/128", 45) == 0, "%s", t);

    struct store_allow one = {0};
    put(&one, 0, "198.18.0.0/15");
    text_of(&one, small, sizeof(small));
    ck_assert_str_eq(small, "a: 198.18.0....");
    text_of(&one, t, sizeof(t));
    ck_assert_str_eq(t, "a: 198.18.0.0/15; b: any");
}
END_TEST

START_TEST(set_get_replace)
{
    struct store *st = storefix_open();
    struct store_link l;
    struct store_allow a, got;
    char t[512];

    storefix_add_link(st, &l, "one");
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    ck_assert(!store_allow_limited(&got, 0) && !store_allow_limited(&got, 1));
    memset(&a, 0, sizeof(a));
    put(&a, 0, "198.18.0.0/15");
    put(&a, 0, "fd00::/8");
    put(&a, 1, "100.64.0.1");
    ck_assert_int_eq(store_allow_set(st, l.id, 3, &a, "by test"), 0);
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    text_of(&got, t, sizeof(t));
    ck_assert_str_eq(t, "a: 198.18.0.0/15 fd00::/8; b: 100.64.0.1/32");
    /* Only side b named: side a keeps its list. */
    memset(&a, 0, sizeof(a));
    put(&a, 1, "100.64.0.0/10");
    ck_assert_int_eq(store_allow_set(st, l.id, 2, &a, NULL), 0);
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    text_of(&got, t, sizeof(t));
    ck_assert_str_eq(t, "a: 198.18.0.0/15 fd00::/8; b: 100.64.0.0/10");
    /* An empty list for side a clears it. */
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(store_allow_set(st, l.id, 1, &a, NULL), 0);
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    text_of(&got, t, sizeof(t));
    ck_assert_str_eq(t, "a: any; b: 100.64.0.0/10");
    store_close(st);
}
END_TEST

START_TEST(refusals)
{
    struct store *st = storefix_open();
    struct store_link l;
    struct store_allow a, got;
    uint8_t other[STORE_LINK_ID_LEN];
    char t[512];

    storefix_add_link(st, &l, "one");
    memset(&a, 0, sizeof(a));
    put(&a, 0, "198.18.0.0/15");
    ck_assert_int_eq(store_allow_set(st, l.id, 1, &a, NULL), 0);
    /* The limit: STORE_ALLOW_MAX fits, one more is refused, nothing changes. */
    memset(&a, 0, sizeof(a));
    a.n[1] = STORE_ALLOW_MAX + 1;
    ck_assert_int_eq(store_allow_set(st, l.id, 2, &a, NULL), -EINVAL);
    a.n[1] = 0;
    ck_assert_int_eq(store_allow_set(st, l.id, 0, &a, NULL), -EINVAL);
    ck_assert_int_eq(store_allow_set(st, l.id, 4, &a, NULL), -EINVAL);
    randombytes_buf(other, sizeof(other));
    ck_assert_int_eq(store_allow_set(st, other, 1, &a, NULL), -ENOENT);
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    text_of(&got, t, sizeof(t));
    ck_assert_str_eq(t, "a: 198.18.0.0/15; b: any");
    for (int i = 0; i < STORE_ALLOW_MAX; i++) {
        char p[32];
        snprintf(p, sizeof(p), "100.64.0.%d", i);
        put(&a, 1, p);
    }
    ck_assert_int_eq(store_allow_set(st, l.id, 2, &a, NULL), 0);
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    ck_assert_uint_eq(got.n[1], STORE_ALLOW_MAX);
    ck_assert(!got.invalid[1]);
    store_close(st);
}
END_TEST

struct loaded {
    int n;
    uint8_t id[4][STORE_LINK_ID_LEN];
    struct store_allow a[4];
};

static int collect(void *arg, const uint8_t id[STORE_LINK_ID_LEN], const struct store_allow *a)
{
    struct loaded *x = arg;
    ck_assert_int_lt(x->n, 4);
    memcpy(x->id[x->n], id, STORE_LINK_ID_LEN);
    x->a[x->n++] = *a;
    return 0;
}

START_TEST(load_and_cascade)
{
    struct store *st = storefix_open();
    struct store_link l1, l2, l3;
    struct store_allow a;
    struct loaded x = {0};

    storefix_add_link(st, &l1, "one");
    storefix_add_link(st, &l2, "two");
    storefix_add_link(st, &l3, "three");
    memset(&a, 0, sizeof(a));
    put(&a, 0, "198.18.0.1");
    ck_assert_int_eq(store_allow_set(st, l1.id, 1, &a, NULL), 0);
    put(&a, 1, "::1");
    ck_assert_int_eq(store_allow_set(st, l3.id, 3, &a, NULL), 0);
    ck_assert_int_eq(store_allow_load(st, collect, &x), 0);
    ck_assert_int_eq(x.n, 2); /* l2 has no list */
    ck_assert_int_lt(memcmp(x.id[0], x.id[1], STORE_LINK_ID_LEN), 0);
    for (int i = 0; i < 2; i++) {
        bool is1 = memcmp(x.id[i], l1.id, STORE_LINK_ID_LEN) == 0;
        ck_assert_uint_eq(x.a[i].n[0], 1);
        ck_assert_uint_eq(x.a[i].n[1], is1 ? 0 : 1);
    }
    ck_assert_int_eq(store_link_remove(st, l1.id, "test"), 0);
    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(store_allow_load(st, collect, &x), 0);
    ck_assert_int_eq(x.n, 1);
    ck_assert_mem_eq(x.id[0], l3.id, STORE_LINK_ID_LEN);
    store_close(st);
}
END_TEST

START_TEST(bad_rows_fail_closed)
{
    struct store *st = storefix_open();
    struct store_link l;
    struct store_allow got;
    uint8_t a16[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1};
    char t[512];

    storefix_add_link(st, &l, "one");
    raw_exec("INSERT INTO link_allow VALUES (?1, 0, 'not-a-prefix')", l.id);
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    ck_assert(got.invalid[0] && got.n[0] == 0 && store_allow_limited(&got, 0));
    ck_assert(!store_allow_limited(&got, 1));
    text_of(&got, t, sizeof(t));
    ck_assert_str_eq(t, "a: invalid rows; b: any");
    /* A valid row beside it still allows its prefix, nothing more. */
    raw_exec("INSERT INTO link_allow VALUES (?1, 0, '198.18.0.0/15')", l.id);
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    ck_assert(got.invalid[0] && got.n[0] == 1 && cidr_match(&got.cidr[0][0], a16));
    /* More than STORE_ALLOW_MAX rows: the side is marked invalid too. */
    for (int i = 0; i < STORE_ALLOW_MAX + 1; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "INSERT INTO link_allow VALUES (?1, 1, '100.64.0.%d/32')", i);
        raw_exec(sql, l.id);
    }
    ck_assert_int_eq(store_allow_get(st, l.id, &got), 0);
    ck_assert(got.invalid[1] && got.n[1] == STORE_ALLOW_MAX);
    store_close(st);
}
END_TEST

static Suite *store_allow_suite(void)
{
    Suite *s = suite_create("store_allow");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    tcase_add_test(tc, set_get_replace);
    tcase_add_test(tc, text_cut_at_cap);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, load_and_cascade);
    tcase_add_test(tc, bad_rows_fail_closed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(store_allow_suite);
}
