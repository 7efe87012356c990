/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/index: snapshots applied as changes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "index.h"
#include "lrcheck.h"

struct seen {
    int n;
    enum index_change what[16];
    int side[16];
    struct index_link *link[16];
};

static void on_change(void *arg, struct index_link *l, enum index_change what, int side)
{
    struct seen *s = arg;

    ck_assert_int_lt(s->n, 16);
    s->what[s->n] = what;
    s->side[s->n] = side;
    s->link[s->n] = l;
    s->n++;
}

static const struct index_ops ops = {on_change};

static void rec(struct store_link *r, uint8_t id, const char *name)
{
    memset(r, 0, sizeof(*r));
    memset(r->id, id, sizeof(r->id));
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->enabled = 1;
    memset(r->key[0], 0xa0 + id, 32);
    memset(r->key[1], 0xb0 + id, 32);
}

START_TEST(test_add_update_remove)
{
    struct index *ix;
    struct store_link r[2];
    struct seen s = {0};
    struct index_link *l1;

    ck_assert_int_eq(index_new(&ix), 0);
    rec(&r[0], 1, "one");
    rec(&r[1], 2, "two");
    ck_assert_int_eq(index_apply(ix, r, 2, &ops, &s), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(s.what[0], INDEX_ADDED);
    ck_assert_uint_eq(index_count(ix), 2);
    l1 = index_find(ix, r[0].id);
    ck_assert_ptr_nonnull(l1);
    ck_assert_str_eq(l1->name, "one");

    /* Same snapshot: nothing changes, the pointer stays. */
    s.n = 0;
    ck_assert_int_eq(index_apply(ix, r, 2, &ops, &s), 0);
    ck_assert_int_eq(s.n, 0);
    ck_assert_ptr_eq(index_find(ix, r[0].id), l1);

    /* Revoke, then enable. */
    r[0].enabled = 0;
    ck_assert_int_eq(index_apply(ix, r, 2, &ops, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.what[0], INDEX_REVOKED);
    ck_assert(!l1->enabled);
    r[0].enabled = 1;
    s.n = 0;
    ck_assert_int_eq(index_apply(ix, r, 2, &ops, &s), 0);
    ck_assert_int_eq(s.what[0], INDEX_ENABLED);

    /* Removal: reported, then gone. */
    s.n = 0;
    ck_assert_int_eq(index_apply(ix, &r[1], 1, &ops, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.what[0], INDEX_REMOVED);
    ck_assert_ptr_eq(s.link[0], l1);
    ck_assert_ptr_null(index_find(ix, r[0].id));
    ck_assert_uint_eq(index_count(ix), 1);
    index_free(ix);
}
END_TEST

START_TEST(test_keys_next_and_rotation)
{
    struct index *ix;
    struct store_link r;
    struct seen s = {0};
    struct index_link *l;
    uint8_t k_old[32], k_new[32], k_other[32];

    ck_assert_int_eq(index_new(&ix), 0);
    rec(&r, 3, "three");
    memcpy(k_old, r.key[0], 32);
    memset(k_new, 0x77, 32);
    memset(k_other, 0x78, 32);
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    l = index_find(ix, r.id);
    ck_assert(index_key_ok(l, 0, k_old));
    ck_assert(!index_key_ok(l, 1, k_old)); /* wrong side */
    ck_assert(!index_key_ok(l, 0, k_new));
    ck_assert(!index_key_ok(l, 2, k_old));

    /* Adding a next key drops nothing; both work. */
    s.n = 0;
    memcpy(r.next_key[0], k_new, 32);
    r.has_next[0] = 1;
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    ck_assert_int_eq(s.n, 0);
    ck_assert(index_key_ok(l, 0, k_old));
    ck_assert(index_key_ok(l, 0, k_new));

    /* Promote next to current: the old key is dropped for side a only, and
     * the change says it was a promotion (the end of an overlap, D21). */
    memcpy(r.key[0], k_new, 32);
    r.has_next[0] = 0;
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.what[0], INDEX_KEY_PROMOTED);
    ck_assert_int_eq(s.side[0], 0);
    ck_assert(!index_key_ok(l, 0, k_old));
    ck_assert(index_key_ok(l, 0, k_new));

    /* Replacing a next key that was never current also counts as dropped. */
    s.n = 0;
    memcpy(r.next_key[1], k_other, 32);
    r.has_next[1] = 1;
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    ck_assert_int_eq(s.n, 0);
    r.has_next[1] = 0;
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.what[0], INDEX_KEY_DROPPED);
    ck_assert_int_eq(s.side[0], 1);

    /* A next key replaced at once by another key (rotate without overlap)
     * is a drop, not a promotion. */
    s.n = 0;
    memcpy(r.next_key[0], k_other, 32);
    r.has_next[0] = 1;
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    memset(r.key[0], 0x79, 32);
    r.has_next[0] = 0;
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.what[0], INDEX_KEY_DROPPED);
    ck_assert_int_eq(s.side[0], 0);
    index_free(ix);
}
END_TEST

START_TEST(test_many_links_same_bucket)
{
    struct index *ix;
    struct store_link *r = calloc(100, sizeof(*r));

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(index_new(&ix), 0);
    for (int i = 0; i < 100; i++) {
        rec(&r[i], 1, "x");
        r[i].id[15] = (uint8_t)i; /* same first bytes: same chain */
    }
    ck_assert_int_eq(index_apply(ix, r, 100, NULL, NULL), 0);
    ck_assert_uint_eq(index_count(ix), 100);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(index_find(ix, r[i].id)->id[15], i);
    ck_assert_int_eq(index_apply(ix, r + 50, 50, NULL, NULL), 0);
    ck_assert_uint_eq(index_count(ix), 50);
    ck_assert_ptr_null(index_find(ix, r[0].id));
    index_free(ix);
    free(r);
}
END_TEST

/* A refused key is counted per side with its cause; one event per window
 * (the first, and the first at or after INDEX_AUTHFAIL_WINDOW_MS). */
START_TEST(test_auth_fail)
{
    struct index *ix;
    struct store_link r;
    struct seen s = {0};
    struct index_link *l;
    uint8_t other[32];

    ck_assert_int_eq(index_new(&ix), 0);
    rec(&r, 1, "one");
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    l = index_find(ix, r.id);
    ck_assert_ptr_null(l->authfail[1].cause);
    memset(other, 0x55, sizeof(other));
    ck_assert(index_auth_fail(l, 1, other, "192.0.2.1:4000", 1000));
    ck_assert_str_eq(l->authfail[1].cause, "bad_key");
    ck_assert_str_eq(l->authfail[1].addr, "192.0.2.1:4000");
    /* The refused key's first 8 bytes in hex, the last one's. */
    ck_assert_str_eq(l->authfail[1].key_fp, "5555555555555555");
    other[0] = 0xa0;
    other[7] = 0x0f;
    other[8] = 0xff;
    ck_assert(!index_auth_fail(l, 1, other, "192.0.2.1:4000", 1001));
    ck_assert_str_eq(l->authfail[1].key_fp, "a05555555555550f");
    ck_assert(
        !index_auth_fail(l, 1, r.key[0], "192.0.2.2:4001", 1000 + INDEX_AUTHFAIL_WINDOW_MS - 1));
    ck_assert_str_eq(l->authfail[1].cause, "wrong_side");
    ck_assert_uint_eq(l->authfail[1].count, 3);
    ck_assert_uint_eq(l->authfail[1].at_ms, 1000 + INDEX_AUTHFAIL_WINDOW_MS - 1);
    ck_assert(index_auth_fail(l, 1, other, "192.0.2.1:4000", 1000 + INDEX_AUTHFAIL_WINDOW_MS));
    ck_assert_uint_eq(l->authfail[0].count, 0);
    ck_assert(!index_auth_fail(l, 2, other, "x", 1));
    /* Survives a registry sync (updated in place). */
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, &s), 0);
    ck_assert_uint_eq(index_find(ix, r.id)->authfail[1].count, 4);
    index_free(ix);
}
END_TEST

/* D42: index_apply_some touches only the links it names; a named link with
 * no record is removed (reported), a new record is added without a report;
 * index_evict frees only links idle for the linger. */
START_TEST(test_apply_some_and_evict)
{
    struct index *ix;
    struct store_link r[3];
    struct store_allow allow[3];
    uint8_t ids[2][STORE_LINK_ID_LEN];
    struct seen s = {0};
    struct index_link *l;
    int dummy;

    memset(allow, 0, sizeof(allow));
    ck_assert_int_eq(index_new(&ix), 0);
    rec(&r[0], 1, "one");
    rec(&r[1], 2, "two");
    rec(&r[2], 3, "three");
    /* Looked up: added quietly. */
    ck_assert_int_eq(index_apply_some(ix, NULL, 0, r, allow, 3, &ops, &s), 0);
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(index_count(ix), 3);
    /* A reload of "one" and "two": "one" revoked, "two" gone; "three" is not
     * named and stays as it was. */
    memcpy(ids[0], r[0].id, STORE_LINK_ID_LEN);
    memcpy(ids[1], r[1].id, STORE_LINK_ID_LEN);
    r[0].enabled = 0;
    ck_assert_int_eq(
        index_apply_some(ix, (const uint8_t(*)[STORE_LINK_ID_LEN])ids, 2, r, allow, 1, &ops, &s),
        0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(s.what[0], INDEX_REVOKED);
    ck_assert_int_eq(s.what[1], INDEX_REMOVED);
    ck_assert_uint_eq(index_count(ix), 2);
    ck_assert_ptr_null(index_find(ix, r[1].id));
    ck_assert_ptr_nonnull(index_find(ix, r[2].id));
    /* Allowlists of a looked-up record come in with it. */
    ck_assert(index_find(ix, r[2].id)->allow == NULL);
    ck_assert_int_eq(cidr_parse("198.18.0.0/15", &allow[0].cidr[0][0]), 0);
    allow[0].n[0] = 1;
    ck_assert_int_eq(index_apply_some(ix, NULL, 0, &r[2], allow, 1, &ops, &s), 0);
    ck_assert_ptr_nonnull(index_find(ix, r[2].id)->allow);
    ck_assert_int_eq(s.n, 3);
    ck_assert_int_eq(s.what[2], INDEX_ALLOW_CHANGED);
    /* Eviction: "one" has a session (any pointer), "three" is idle. */
    l = index_find(ix, r[0].id);
    l->session[0] = (struct conn *)&dummy;
    ck_assert_uint_eq(index_evict(ix, 1000, 1000, 500), 0); /* first seen idle at 1000 */
    ck_assert_uint_eq(index_evict(ix, 1499, 1499, 500), 0); /* not yet 500 ms */
    ck_assert_uint_eq(index_evict(ix, 1500, 1500, 500), 1);
    ck_assert_ptr_null(index_find(ix, r[2].id));
    ck_assert_ptr_eq(index_find(ix, r[0].id), l);
    /* A recent refusal keeps an idle link for INDEX_KEEP_FAIL_MS. */
    l->session[0] = NULL;
    l->authfail[1].count = 1;
    l->authfail[1].at_ms = 10000;
    ck_assert_uint_eq(index_evict(ix, 2000, 10000 + INDEX_KEEP_FAIL_MS - 1, 0), 0);
    ck_assert_uint_eq(index_evict(ix, 2000, 10000 + INDEX_KEEP_FAIL_MS, 0), 1);
    ck_assert_uint_eq(index_count(ix), 0);
    index_free(ix);
}
END_TEST

static Suite *index_suite(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_add_update_remove);
    tcase_add_test(tc, test_keys_next_and_rotation);
    tcase_add_test(tc, test_many_links_same_bucket);
    tcase_add_test(tc, test_auth_fail);
    tcase_add_test(tc, test_apply_some_and_evict);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(index_suite());
}
