/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the store functions the other suites leave out, on both
 * backends (dbfix.h): bandwidth limits (store_rate.c, D28) and loading every
 * quota (store_quotas_load, D29), with their limits and refusals; and that
 * an enrollment code given again replaces the old one whole (D30: the
 * upsert that stands for SQLite's INSERT OR REPLACE, D33).
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
#define STOREFIX_NAME "test_store_rate"
#include "storefix.h"

struct last_event {
    char kind[STORE_KIND_MAX + 1];
    char detail[STORE_DETAIL_MAX + 1];
    int n;
};

static int keep_last(void *arg, const struct store_event *ev)
{
    struct last_event *le = arg;
    snprintf(le->kind, sizeof(le->kind), "%s", ev->kind);
    snprintf(le->detail, sizeof(le->detail), "%s", ev->detail);
    le->n++;
    return 0;
}

START_TEST(rates)
{
    struct store *st = storefix_open();
    struct store_link l, got;
    struct last_event le = {.n = 0};
    uint8_t nosuch[STORE_LINK_ID_LEN] = {1};
    storefix_add_link(st, &l, "r");
    /* The limits themselves are accepted, 64-bit values intact. */
    const uint64_t edge[2] = {STORE_RATE_MIN, STORE_RATE_MAX};
    ck_assert_int_eq(store_link_set_rate(st, l.id, edge, "edge"), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_uint_eq(got.rate[0], STORE_RATE_MIN);
    ck_assert_uint_eq(got.rate[1], STORE_RATE_MAX);
    ck_assert_int_eq(store_events_list(st, l.id, 1, keep_last, &le), 0);
    ck_assert_str_eq(le.kind, "rate");
    ck_assert_str_eq(le.detail, "edge");
    /* One past either limit: refused, nothing changed. */
    const uint64_t low[2] = {STORE_RATE_MIN - 1, 0}, high[2] = {0, STORE_RATE_MAX + 1};
    ck_assert_int_eq(store_link_set_rate(st, l.id, low, "x"), -EINVAL);
    ck_assert_int_eq(store_link_set_rate(st, l.id, high, "x"), -EINVAL);
    ck_assert_ptr_nonnull(strstr(store_errmsg(st), "out of range"));
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_uint_eq(got.rate[1], STORE_RATE_MAX);
    /* 0 is none; an unknown link is -ENOENT with no event. */
    const uint64_t none[2] = {0, 0};
    ck_assert_int_eq(store_link_set_rate(st, l.id, none, NULL), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_uint_eq(got.rate[0] + got.rate[1], 0);
    le.n = 0;
    ck_assert_int_eq(store_link_set_rate(st, nosuch, edge, "x"), -ENOENT);
    ck_assert_int_eq(store_events_list(st, NULL, 0, keep_last, &le), 0);
    ck_assert_int_eq(le.n, 3); /* link_added, rate, rate: nothing for nosuch */
    store_close(st);
}
END_TEST

struct quotas {
    uint8_t id[4][STORE_LINK_ID_LEN];
    struct store_quota q[4];
    int n;
    int stop_after;
};

static int collect(void *arg, const uint8_t id[STORE_LINK_ID_LEN], const struct store_quota *q)
{
    struct quotas *c = arg;
    ck_assert_int_lt(c->n, 4);
    memcpy(c->id[c->n], id, STORE_LINK_ID_LEN);
    c->q[c->n++] = *q;
    return c->n == c->stop_after ? 42 : 0;
}

START_TEST(quotas_load)
{
    struct store *st = storefix_open();
    struct store_link a, b, c;
    struct quotas got;
    storefix_add_link(st, &a, "qa");
    storefix_add_link(st, &b, "qb");
    storefix_add_link(st, &c, "qc");
    ck_assert_int_eq(store_quota_set(st, a.id, STORE_QUOTA_MAX, STORE_QUOTA_MONTH, NULL), 0);
    ck_assert_int_eq(store_quota_set(st, b.id, 1, STORE_QUOTA_DAY, NULL), 0);
    struct store_quota_use u = {.used = 77, .start_ms = 86400000};
    memcpy(u.link_id, b.id, STORE_LINK_ID_LEN);
    ck_assert_int_eq(store_quota_save(st, &u, 1), 0);
    memset(&got, 0, sizeof(got));
    ck_assert_int_eq(store_quotas_load(st, collect, &got), 0);
    ck_assert_int_eq(got.n, 2); /* c has none */
    for (int i = 0; i < 2; i++) {
        if (memcmp(got.id[i], a.id, STORE_LINK_ID_LEN) == 0) {
            ck_assert_uint_eq(got.q[i].limit, STORE_QUOTA_MAX);
            ck_assert_int_eq(got.q[i].period, STORE_QUOTA_MONTH);
            ck_assert_uint_eq(got.q[i].used, 0);
        } else {
            ck_assert_mem_eq(got.id[i], b.id, STORE_LINK_ID_LEN);
            ck_assert_uint_eq(got.q[i].limit, 1);
            ck_assert_int_eq(got.q[i].period, STORE_QUOTA_DAY);
            ck_assert_uint_eq(got.q[i].used, 77);
            ck_assert_int_eq(got.q[i].start_ms, 86400000);
        }
    }
    /* A non-zero return stops the walk and is returned. */
    memset(&got, 0, sizeof(got));
    got.stop_after = 1;
    ck_assert_int_eq(store_quotas_load(st, collect, &got), 42);
    ck_assert_int_eq(got.n, 1);
    store_close(st);
}
END_TEST

START_TEST(enroll_replaced_whole)
{
    struct store *st = storefix_open();
    struct store_link l, got;
    uint8_t h1[STORE_ENROLL_HASH_LEN], h2[STORE_ENROLL_HASH_LEN], anchor[STORE_KEY_LEN];
    uint8_t key[STORE_KEY_LEN];
    int64_t now = 1700000000000;
    storefix_add_link(st, &l, "e");
    randombytes_buf(h1, sizeof(h1));
    randombytes_buf(h2, sizeof(h2));
    randombytes_buf(anchor, sizeof(anchor));
    randombytes_buf(key, sizeof(key));
    ck_assert_int_eq(store_enroll_set(st, l.id, STORE_SIDE_B, h1, anchor, INT64_MAX, 3), 0);
    ck_assert_int_eq(store_enroll_spend(st, l.id, STORE_SIDE_B, h1, key, now), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.enroll[1].last_ms, now);
    ck_assert_uint_eq(got.enroll[1].uses_left, 2);
    ck_assert_int_eq(store_enroll_set(st, l.id, STORE_SIDE_B, h2, anchor, INT64_MAX, 5), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert(got.enroll[1].has);
    ck_assert_mem_eq(got.enroll[1].hash, h2, sizeof(h2));
    ck_assert_uint_eq(got.enroll[1].uses, 5);
    ck_assert_uint_eq(got.enroll[1].uses_left, 5);
    ck_assert_int_eq(got.enroll[1].last_ms, 0); /* the new code is unused */
    ck_assert(!got.enroll[0].has);
    ck_assert_int_eq(store_enroll_spend(st, l.id, STORE_SIDE_B, h1, key, now), -ENOENT);
    store_close(st);
}
END_TEST

static Suite *store_rate_suite(void)
{
    Suite *s = suite_create("store_rate");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    tcase_add_test(tc, rates);
    tcase_add_test(tc, quotas_load);
    tcase_add_test(tc, enroll_replaced_whole);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(store_rate_suite);
}
