/* SPDX-License-Identifier: MIT */
/*
 * Tests for registry/store_pool.c: pool member rows and the links version
 * (schemas 008 and 010, docs/design.md D34).
 */
#define STOREFIX_NAME "lr_test_store_pool"

#include <errno.h>

#include "lrcheck.h"
#include "storefix.h"

struct seen {
    struct store_member m[4];
    size_t n;
};

static int collect(void *arg, const struct store_member *m)
{
    struct seen *s = arg;

    if (s->n < 4)
        s->m[s->n] = *m;
    s->n++;
    return 0;
}

static struct store_member member(const char *id, const char *addrs, int64_t beat)
{
    struct store_member m;

    memset(&m, 0, sizeof(m));
    snprintf(m.id, sizeof(m.id), "%s", id);
    snprintf(m.addrs, sizeof(m.addrs), "%s", addrs);
    m.sessions = 3;
    m.streams = 5;
    m.beat_ms = beat;
    m.started_ms = 1000;
    m.addrs_ok = 1;
    return m;
}

START_TEST(beat_load_forget)
{
    struct store *st = storefix_open();
    struct store_member m = member("r2", "127.0.0.2:7700 relay2.example:7700", 5000);
    struct seen s = {0};

    ck_assert_int_eq(store_member_beat(st, &m), 0);
    m = member("r1", "127.0.0.1:7700", 6000);
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    m.beat_ms = 7000; /* a second beat replaces the row */
    m.sessions = 9;
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_str_eq(s.m[0].id, "r1"); /* in id order */
    ck_assert_int_eq(s.m[0].beat_ms, 7000);
    ck_assert_uint_eq(s.m[0].sessions, 9);
    ck_assert_uint_eq(s.m[0].streams, 5);
    ck_assert_int_eq(s.m[0].started_ms, 1000);
    ck_assert_int_eq(s.m[0].addrs_ok, 1);
    ck_assert_str_eq(s.m[1].addrs, "127.0.0.2:7700 relay2.example:7700");
    ck_assert_int_eq(store_member_forget(st, "r2"), 0);
    ck_assert_int_eq(store_member_forget(st, "r2"), -ENOENT);
    s.n = 0;
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 1);
    store_close(st);
}
END_TEST

/* A member leaving (D39) removes its own row: the one its process wrote
 * (started_ms), not a newer process's with the same id. */
START_TEST(leave_own_row)
{
    struct store *st = storefix_open();
    struct store_member m = member("r1", "127.0.0.1:7700", 5000);
    struct seen s = {0};

    ck_assert_int_eq(store_member_beat(st, &m), 0);
    m = member("r2", "127.0.0.2:7700", 5000);
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    ck_assert_int_eq(store_member_leave(st, "r1", 999), 0); /* another process's start */
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(store_member_leave(st, "r1", 1000), 0);
    s.n = 0;
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.m[0].id, "r2");
    ck_assert_int_eq(store_member_leave(st, "r1", 1000), 0); /* gone already: not an error */
    store_close(st);
}
END_TEST

START_TEST(beat_limits)
{
    struct store *st = storefix_open();
    struct store_member m = member("", "127.0.0.1:7700", 1);

    ck_assert_int_eq(store_member_beat(st, &m), -EINVAL);
    memset(m.id, 'a', STORE_MEMBER_ID_MAX); /* 64: the limit */
    m.id[STORE_MEMBER_ID_MAX] = '\0';
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    m.addrs[0] = '\0';
    ck_assert_int_eq(store_member_beat(st, &m), -EINVAL);
    memset(m.addrs, 'b', STORE_MEMBER_ADDRS_MAX); /* 4096: the limit */
    m.addrs[STORE_MEMBER_ADDRS_MAX] = '\0';
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    store_close(st);
}
END_TEST

/* Which addresses fail (schema 010) round-trips, is replaced by the next
 * beat (also by an empty list), and is bounded at 4608 bytes. */
START_TEST(addrs_failing)
{
    struct store *st = storefix_open();
    struct store_member m = member("r1", "127.0.0.3:9 [::1]:7700 r1.example:7700", 5000);
    struct seen s = {0};

    ck_assert_int_eq(store_member_beat(st, &m), 0);
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_str_eq(s.m[0].addrs_failing, ""); /* none given: none failing */
    snprintf(m.addrs_failing, sizeof(m.addrs_failing),
             "127.0.0.3:9=refused [::1]:7700=other_member");
    m.addrs_ok = 1; /* one address of three fails: still eligible */
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    s.n = 0;
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.m[0].addrs_failing, "127.0.0.3:9=refused [::1]:7700=other_member");
    ck_assert_int_eq(s.m[0].addrs_ok, 1);
    ck_assert_str_eq(s.m[0].addrs, "127.0.0.3:9 [::1]:7700 r1.example:7700");
    m.addrs_failing[0] = '\0'; /* the next check passed */
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    s.n = 0;
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_str_eq(s.m[0].addrs_failing, "");
    memset(m.addrs_failing, 'c', STORE_MEMBER_FAILING_MAX); /* 4608: the limit */
    m.addrs_failing[STORE_MEMBER_FAILING_MAX] = '\0';
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    s.n = 0;
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_uint_eq(strlen(s.m[0].addrs_failing), STORE_MEMBER_FAILING_MAX);
    ck_assert_str_eq(s.m[0].addrs_failing, m.addrs_failing);
    store_close(st);
}
END_TEST

/* The schema's side (010): a row written without the column (a relay
 * from before it, or a hand-made row) reads as no address failing; the
 * column's CHECK holds 4608 bytes and refuses 4609. */
START_TEST(addrs_failing_schema)
{
    struct store *st = storefix_open();
    static char sql[STORE_MEMBER_FAILING_MAX + 128];
    struct seen s = {0};
    int off;

    ck_assert_int_eq(storefix_raw("INSERT INTO members (id, addrs, beat_ms, started_ms, addrs_ok) "
                                  "VALUES ('old', '127.0.0.9:7700', 1, 1, 1)",
                                  NULL, NULL, 0),
                     DB_DONE);
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.m[0].addrs_failing, "");
    for (int n = STORE_MEMBER_FAILING_MAX; n <= STORE_MEMBER_FAILING_MAX + 1; n++) {
        off = snprintf(sql, sizeof(sql), "UPDATE members SET addrs_failing = '");
        memset(sql + off, 'c', (size_t)n);
        snprintf(sql + off + n, sizeof(sql) - (size_t)(off + n), "' WHERE id = 'old'");
        if (n == STORE_MEMBER_FAILING_MAX)
            ck_assert_int_eq(storefix_raw(sql, NULL, NULL, 0), DB_DONE);
        else
            ck_assert_int_eq(storefix_raw(sql, NULL, NULL, 0), -EINVAL);
    }
    s.n = 0;
    ck_assert_int_eq(store_members_load(st, collect, &s), 0);
    ck_assert_uint_eq(strlen(s.m[0].addrs_failing), STORE_MEMBER_FAILING_MAX);
    store_close(st);
}
END_TEST

/* Link changes move the links version; heartbeats and accounting do not. */
START_TEST(links_version)
{
    struct store *st = storefix_open();
    struct store_member m = member("r1", "127.0.0.1:7700", 1);
    struct store_event ev = {0};
    struct store_link l;
    int64_t v0, v1, v2, v3;

    ck_assert_int_eq(store_links_version(st, &v0), 0);
    ck_assert_int_eq(store_member_beat(st, &m), 0);
    ev.ts_ms = 5;
    snprintf(ev.kind, sizeof(ev.kind), "connect");
    ck_assert_int_eq(store_events_add(st, &ev, 1), 0);
    ck_assert_int_eq(store_links_version(st, &v1), 0);
    ck_assert_int_eq(v1, v0);
    storefix_add_link(st, &l, "one");
    ck_assert_int_eq(store_links_version(st, &v2), 0);
    ck_assert_int_gt(v2, v1);
    ck_assert_int_eq(store_link_set_enabled(st, l.id, 0, "test"), 0);
    ck_assert_int_eq(store_links_version(st, &v3), 0);
    ck_assert_int_gt(v3, v2);
    ck_assert_int_eq(store_quota_set(st, l.id, 1000, STORE_QUOTA_DAY, "test"), 0);
    ck_assert_int_eq(store_links_version(st, &v2), 0);
    ck_assert_int_gt(v2, v3);
    store_close(st);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("store_pool");
    TCase *tc = tcase_create("pool");

    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    tcase_add_test(tc, beat_load_forget);
    tcase_add_test(tc, leave_own_row);
    tcase_add_test(tc, beat_limits);
    tcase_add_test(tc, addrs_failing);
    tcase_add_test(tc, addrs_failing_schema);
    tcase_add_test(tc, links_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(pool_suite);
}
