/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of registry/store_retain.c (D31): old stream rows rolled into
 * per-link, per-day sums and deleted in batches of at most the limit, young
 * rows kept, link_totals unchanged, per-day figures the same before and
 * after; old events deleted likewise; a limit of 0 refused.
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
#define STOREFIX_NAME "test_store_retain"
#include "storefix.h"

/* n streams of link l ending on day `day` (ms offsets within it), i bytes
 * a->b and 2*i b->a for the i-th. */
static void add_streams(struct store *st, const struct store_link *l, int64_t day, size_t n)
{
    struct store_stream *x = calloc(n, sizeof(*x));
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++) {
        memcpy(x[i].link_id, l->id, STORE_LINK_ID_LEN);
        x[i].stream_id = i + 1;
        x[i].opener = STORE_SIDE_A;
        x[i].ended_ms = day * STORE_DAY_MS + (int64_t)(i % 1000) * 1000;
        x[i].started_ms = x[i].ended_ms - 10;
        x[i].bytes_a_to_b = i;
        x[i].bytes_b_to_a = 2 * i;
        x[i].cause = STORE_CAUSE_FIN;
    }
    ck_assert_int_eq(store_streams_record(st, x, n), 0);
    free(x);
}

#define MAXDAYS 16
struct days {
    size_t n;
    struct store_day d[MAXDAYS];
};

static int collect(void *arg, const struct store_day *d)
{
    struct days *ds = arg;
    ck_assert_uint_lt(ds->n, MAXDAYS);
    ds->d[ds->n++] = *d;
    return 0;
}

static struct days days_of(struct store *st, const struct store_link *l)
{
    struct days ds = {0};
    ck_assert_int_eq(store_link_days(st, l->id, 0, collect, &ds), 0);
    return ds;
}

static void same_totals(const struct store_totals *x, const struct store_totals *y)
{
    ck_assert_uint_eq(x->streams, y->streams);
    ck_assert_uint_eq(x->bytes_a_to_b, y->bytes_a_to_b);
    ck_assert_uint_eq(x->bytes_b_to_a, y->bytes_b_to_a);
    ck_assert_int_eq(x->last_cause, y->last_cause);
    ck_assert_int_eq(x->last_closed_ms, y->last_closed_ms);
}

START_TEST(streams_rolled_in_batches)
{
    struct store *st = storefix_open();
    struct store_link a, b;
    struct store_totals ta0, tb0, ta1, tb1;
    struct days da0, db0, da1, db1;
    size_t pruned, total = 0, batches = 0;
    int64_t today = 20000; /* days since the epoch */

    storefix_add_link(st, &a, "a");
    storefix_add_link(st, &b, "b");
    add_streams(st, &a, today - 10, 2500); /* old: 3 batches of 1000 */
    add_streams(st, &a, today - 9, 7);
    add_streams(st, &b, today - 10, 3);
    add_streams(st, &a, today, 5); /* young */
    add_streams(st, &b, today, 4);
    ck_assert_int_eq(store_link_totals(st, a.id, &ta0), 0);
    ck_assert_int_eq(store_link_totals(st, b.id, &tb0), 0);
    da0 = days_of(st, &a);
    db0 = days_of(st, &b);
    ck_assert_uint_eq(da0.n, 3);
    ck_assert_uint_eq(da0.d[0].streams, 2500);

    do {
        ck_assert_int_eq(store_streams_prune(st, (today - 1) * STORE_DAY_MS, 1000, &pruned), 0);
        ck_assert_uint_le(pruned, 1000);
        total += pruned;
        batches++;
    } while (pruned == 1000);
    ck_assert_uint_eq(total, 2500 + 7 + 3);
    ck_assert_uint_eq(batches, 3);

    /* Totals untouched, per-day figures the same, young rows still rows. */
    ck_assert_int_eq(store_link_totals(st, a.id, &ta1), 0);
    ck_assert_int_eq(store_link_totals(st, b.id, &tb1), 0);
    same_totals(&ta0, &ta1);
    same_totals(&tb0, &tb1);
    da1 = days_of(st, &a);
    db1 = days_of(st, &b);
    ck_assert_uint_eq(da1.n, da0.n);
    ck_assert_uint_eq(db1.n, db0.n);
    ck_assert_mem_eq(da0.d, da1.d, da0.n * sizeof(da0.d[0]));
    ck_assert_mem_eq(db0.d, db1.d, db0.n * sizeof(db0.d[0]));
    ck_assert_int_eq(da1.d[0].day, today - 10);
    ck_assert_uint_eq(da1.d[0].bytes_a_to_b, 2500ULL * 2499 / 2);
    ck_assert_uint_eq(da1.d[0].bytes_b_to_a, 2500ULL * 2499);
    ck_assert_int_eq(da1.d[2].day, today);
    ck_assert_uint_eq(da1.d[2].streams, 5);

    /* Nothing old left; the young rows go only when they are old. */
    ck_assert_int_eq(store_streams_prune(st, (today - 1) * STORE_DAY_MS, 1000, &pruned), 0);
    ck_assert_uint_eq(pruned, 0);
    ck_assert_int_eq(store_streams_prune(st, (today + 1) * STORE_DAY_MS, 1000, &pruned), 0);
    ck_assert_uint_eq(pruned, 9);
    da1 = days_of(st, &a);
    ck_assert_mem_eq(da0.d, da1.d, da0.n * sizeof(da0.d[0]));

    /* A day rolled in two parts sums them (upsert). */
    add_streams(st, &b, today - 10, 3);
    ck_assert_int_eq(store_streams_prune(st, (today - 1) * STORE_DAY_MS, 2, &pruned), 0);
    ck_assert_uint_eq(pruned, 2);
    ck_assert_int_eq(store_streams_prune(st, (today - 1) * STORE_DAY_MS, 2, &pruned), 0);
    ck_assert_uint_eq(pruned, 1);
    db1 = days_of(st, &b);
    ck_assert_int_eq(db1.d[0].day, today - 10);
    ck_assert_uint_eq(db1.d[0].streams, 6);
    ck_assert_uint_eq(db1.d[0].bytes_a_to_b, 2 * (0 + 1 + 2));

    ck_assert_int_eq(store_streams_prune(st, 0, 0, &pruned), -EINVAL);
    store_close(st);
}
END_TEST

static int count_cb(void *arg, const struct store_event *ev)
{
    (void)ev;
    (*(size_t *)arg)++;
    return 0;
}

START_TEST(events_pruned_in_batches)
{
    struct store *st = storefix_open();
    struct store_event *ev = calloc(2600, sizeof(*ev));
    size_t n = 0, pruned, total = 0, batches = 0;
    int64_t now = 20000 * STORE_DAY_MS;

    ck_assert_ptr_nonnull(ev);
    for (size_t i = 0; i < 2600; i++) {
        ev[i].ts_ms = i < 2100 ? now - 10 * STORE_DAY_MS + (int64_t)i : now;
        snprintf(ev[i].kind, sizeof(ev[i].kind), "test");
        ev[i].count = 1;
    }
    ck_assert_int_eq(store_events_add(st, ev, 2600), 0);
    do {
        ck_assert_int_eq(store_events_prune(st, now - STORE_DAY_MS, 1000, &pruned), 0);
        total += pruned;
        batches++;
    } while (pruned == 1000);
    ck_assert_uint_eq(total, 2100);
    ck_assert_uint_eq(batches, 3);
    ck_assert_int_eq(store_events_list(st, NULL, 0, count_cb, &n), 0);
    ck_assert_uint_eq(n, 500); /* the young ones, kept */
    ck_assert_int_eq(store_events_prune(st, 0, 0, &pruned), -EINVAL);
    free(ev);
    store_close(st);
}
END_TEST

static Suite *store_retain_suite(void)
{
    Suite *s = suite_create("store_retain");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    tcase_add_test(tc, streams_rolled_in_batches);
    tcase_add_test(tc, events_pruned_in_batches);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(store_retain_suite);
}
