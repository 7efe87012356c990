/* SPDX-License-Identifier: MIT */
/* Unit tests for what the status page keeps in memory (docs/design.md D22a):
 * relay/history's ring of HISTORY_LEN samples, one per HISTORY_EVERY_MS (the
 * first at once), oldest replaced, oldest first in JSON; and acct's ring of
 * the newest ACCT_RECENT events, oldest first, filled whether or not the
 * registry queue takes them. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acct.h"
#include "history.h"
#include "lrcheck.h"

static struct history_sample sample(int64_t i)
{
    struct history_sample x = {.t_ms = 1000000 + i,
                               .bytes = {(uint64_t)i * 10, (uint64_t)i * 20},
                               .streams_open = (uint64_t)i,
                               .streams_total = (uint64_t)i * 2,
                               .agents = 2};
    return x;
}

START_TEST(test_history_every)
{
    struct history *h = calloc(1, sizeof(*h));
    struct history_sample x = sample(1);

    ck_assert(history_tick(h, 5000, &x)); /* the first at once */
    ck_assert(!history_tick(h, 5000 + HISTORY_EVERY_MS - 1, &x));
    ck_assert(history_tick(h, 5000 + HISTORY_EVERY_MS, &x));
    ck_assert_uint_eq(h->n, 2);
    free(h);
}
END_TEST

/* At HISTORY_LEN + 40 samples: HISTORY_LEN kept, the 40 oldest gone. */
START_TEST(test_history_ring_at_limit)
{
    struct history *h = calloc(1, sizeof(*h));
    uint64_t now = 0;
    json_t *v, *t, *b;

    for (int64_t i = 0; i < HISTORY_LEN + 40; i++) {
        struct history_sample x = sample(i);
        ck_assert(history_tick(h, now, &x));
        now += HISTORY_EVERY_MS;
    }
    ck_assert_uint_eq(h->n, HISTORY_LEN);
    v = history_json(h);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "every_s")), HISTORY_EVERY_MS / 1000);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "max")), HISTORY_LEN);
    t = json_object_get(v, "t_ms");
    b = json_object_get(v, "bytes_b_to_a");
    ck_assert_uint_eq(json_array_size(t), HISTORY_LEN);
    ck_assert_uint_eq(json_array_size(b), HISTORY_LEN);
    ck_assert_int_eq(json_integer_value(json_array_get(t, 0)), 1000000 + 40);
    ck_assert_int_eq(json_integer_value(json_array_get(t, HISTORY_LEN - 1)),
                     1000000 + HISTORY_LEN + 39);
    ck_assert_int_eq(json_integer_value(json_array_get(b, 0)), 40 * 20);
    json_decref(v);
    free(h);
}
END_TEST

START_TEST(test_history_empty)
{
    struct history *h = calloc(1, sizeof(*h));
    json_t *v = history_json(h);

    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(json_array_size(json_object_get(v, "agents")), 0);
    json_decref(v);
    free(h);
}
END_TEST

struct seen {
    int n;
    char first[STORE_DETAIL_MAX + 1], last[STORE_DETAIL_MAX + 1];
};

static void on_event(void *arg, const struct store_event *e)
{
    struct seen *s = arg;

    if (s->n == 0)
        snprintf(s->first, sizeof(s->first), "%s", e->detail);
    snprintf(s->last, sizeof(s->last), "%s", e->detail);
    s->n++;
}

/* ACCT_RECENT + 6 events: the newest ACCT_RECENT, oldest first. */
START_TEST(test_acct_recent_at_limit)
{
    char dir[] = "/tmp/test_history.XXXXXX", db[64], path[96], detail[32];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    struct store *st = NULL;
    struct acct *a = NULL;
    struct seen s = {0};
    char err[256];
    uv_loop_t loop;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/linkrelay.db", dir);
    ck_assert_int_eq(store_open(db, STORE_OPEN_CREATE, &st, err, sizeof(err)), 0);
    store_close(st);
    uv_loop_init(&loop);
    ck_assert_int_eq(acct_new(&loop, db, &a), 0);
    acct_recent_foreach(a, on_event, &s);
    ck_assert_int_eq(s.n, 0);
    for (int i = 0; i < ACCT_RECENT + 6; i++) {
        snprintf(detail, sizeof(detail), "e%d", i);
        acct_event(a, "connect", NULL, "127.0.0.1:1", detail, 1);
    }
    acct_recent_foreach(a, on_event, &s);
    ck_assert_int_eq(s.n, ACCT_RECENT);
    ck_assert_str_eq(s.first, "e6");
    snprintf(detail, sizeof(detail), "e%d", ACCT_RECENT + 5);
    ck_assert_str_eq(s.last, detail);
    ck_assert_uint_eq(acct_backlog(a), ACCT_RECENT + 6); /* the registry gets them all */
    acct_stop(a);
    uv_run(&loop, UV_RUN_DEFAULT);
    acct_free(a);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
        unlink(path);
    }
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_history_every);
    tcase_add_test(tc, test_history_ring_at_limit);
    tcase_add_test(tc, test_history_empty);
    tcase_add_test(tc, test_acct_recent_at_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(history_suite());
}
