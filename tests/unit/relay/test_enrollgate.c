/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/enrollgate and the index's keeping of an enrollment
 * across a stale snapshot (D30). */
#include <check.h>
#include <string.h>

#include <sodium.h>

#include "enroll.h"
#include "enrollgate.h"
#include "index.h"
#include "lrcheck.h"

static int changes;

static void on_change(void *arg, struct index_link *l, enum index_change what, int side)
{
    (void)arg;
    (void)l;
    (void)what;
    (void)side;
    changes++;
}

static const struct index_ops ops = {on_change};

/* A link whose side a has a code with verifier v (0x11...), anchor 0xa1...
 * (also the side's key), expiring at 5000 with uses. */
static void rec(struct store_link *r, uint32_t uses)
{
    uint8_t v[32];

    memset(r, 0, sizeof(*r));
    memset(r->id, 7, sizeof(r->id));
    memcpy(r->name, "cam", 4);
    r->enabled = 1;
    memset(r->key[0], 0xa1, 32);
    memset(r->key[1], 0xb1, 32);
    memset(v, 0x11, sizeof(v));
    enroll_hash(v, r->enroll[0].hash);
    memset(r->enroll[0].anchor, 0xa1, 32);
    r->enroll[0].has = 1;
    r->enroll[0].expires_ms = 5000;
    r->enroll[0].uses = uses;
    r->enroll[0].uses_left = uses;
}

START_TEST(test_check_verdicts)
{
    struct index *ix;
    struct store_link r;
    struct index_link *l;
    uint8_t v[32], h[32], newkey[32];

    rec(&r, 2);
    ck_assert_int_eq(index_new(&ix), 0);
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, NULL), 0);
    l = index_find(ix, r.id);
    memset(v, 0x11, sizeof(v));
    ck_assert_int_eq(enrollgate_check(l, 0, v, 4999, h), ENROLLGATE_OK);
    ck_assert_mem_eq(h, r.enroll[0].hash, 32);
    ck_assert_int_eq(enrollgate_check(l, 0, v, 5000, h), ENROLLGATE_EXPIRED);
    ck_assert_int_eq(enrollgate_check(l, 1, v, 10, h), ENROLLGATE_UNKNOWN);
    ck_assert_int_eq(enrollgate_check(NULL, 0, v, 10, h), ENROLLGATE_UNKNOWN);
    v[31] ^= 1;
    ck_assert_int_eq(enrollgate_check(l, 0, v, 10, h), ENROLLGATE_UNKNOWN);
    v[31] ^= 1;
    /* The anchor is no session key; a spend makes the new key the only one. */
    ck_assert(enrollgate_is_anchor(l, 0, r.key[0]));
    ck_assert(!enrollgate_is_anchor(l, 1, r.key[1]));
    memset(newkey, 0xc1, sizeof(newkey));
    enrollgate_spend(l, 0, newkey, 100);
    ck_assert(index_key_ok(l, 0, newkey));
    ck_assert(!index_key_ok(l, 0, r.key[0]));
    ck_assert_uint_eq(l->enroll[0].uses_left, 1);
    ck_assert_int_eq(enrollgate_check(l, 0, v, 10, h), ENROLLGATE_OK);
    enrollgate_spend(l, 0, newkey, 200);
    ck_assert_int_eq(enrollgate_check(l, 0, v, 10, h), ENROLLGATE_SPENT);
    /* Spent and expired: spent. */
    ck_assert_int_eq(enrollgate_check(l, 0, v, 9000, h), ENROLLGATE_SPENT);
    ck_assert_str_eq(enrollgate_name(ENROLLGATE_EXPIRED), "expired");
    index_free(ix);
}
END_TEST

/* A snapshot read before the worker stored the enrollment must not undo it;
 * the stored one, and a new code, are taken as they are. */
START_TEST(test_stale_snapshot_keeps_enrollment)
{
    struct index *ix;
    struct store_link r, stored;
    struct index_link *l;
    uint8_t newkey[32];

    rec(&r, 1);
    ck_assert_int_eq(index_new(&ix), 0);
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, NULL), 0);
    l = index_find(ix, r.id);
    memset(newkey, 0xc1, sizeof(newkey));
    enrollgate_spend(l, 0, newkey, 100);
    changes = 0;
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, NULL), 0); /* stale */
    ck_assert_int_eq(changes, 0);
    ck_assert(index_key_ok(l, 0, newkey));
    ck_assert_uint_eq(l->enroll[0].uses_left, 0);
    stored = r;
    memcpy(stored.key[0], newkey, 32);
    stored.enroll[0].uses_left = 0;
    ck_assert_int_eq(index_apply(ix, &stored, 1, &ops, NULL), 0);
    ck_assert_int_eq(changes, 0);
    ck_assert(index_key_ok(l, 0, newkey));
    /* A new code for the side (another hash, uses back): taken. */
    rec(&r, 1);
    r.enroll[0].hash[0] ^= 1;
    ck_assert_int_eq(index_apply(ix, &r, 1, &ops, NULL), 0);
    ck_assert_uint_eq(l->enroll[0].uses_left, 1);
    ck_assert(!index_key_ok(l, 0, newkey));
    index_free(ix);
}
END_TEST

static Suite *enrollgate_suite(void)
{
    Suite *s = suite_create("enrollgate");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_check_verdicts);
    tcase_add_test(tc, test_stale_snapshot_keeps_enrollment);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(enrollgate_suite());
}
