/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of registry/store_quota.c and migration 005 (docs/design.md
 * D29): a database at schema version 2 with rows in every table migrates,
 * keeping every row; the rebuilt streams table takes cause quota, still
 * refuses other causes and still cascades; quotas are set, kept, cleared and
 * saved (never lowered in a period, never back to an older period); the
 * period boundaries in UTC.
 */
#include "store.h"

#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lrcheck.h"
#define STOREFIX_NAME "test_store_quota"
#include "storefix.h"
#include "schema_sql.h"

/* Runs sql on a raw connection (foreign keys on); the first column of the
 * first row into out (may be NULL). Returns the step's result code. */
static int raw(const char *sql, char *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open(dbfix_target, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    int rc = sqlite3_step(s);
    if (out != NULL) {
        out[0] = '\0';
        if (rc == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL) {
            snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
        }
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

static void raw_exec(const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(dbfix_target, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s", msg ? msg : "?");
    sqlite3_close(db);
}

static const char link1[] = "X'00112233445566778899aabbccddeeff'";

/* A database as a relay of schema version 2 left it: both migrations, a
 * link, three stream rows (seq 5, 9, 12), totals and events. */
static void make_v2(void)
{
    char sql[1024];
    for (int i = 0; i < schema_migrations_count && schema_migrations[i].version <= 2; i++) {
        raw_exec(schema_migrations[i].sql);
    }
    raw_exec("PRAGMA user_version = 2");
    snprintf(sql, sizeof(sql),
             "INSERT INTO links (id, name, created_ms, updated_ms, a_key, b_key) VALUES "
             "(%s, 'old', 1, 2, zeroblob(32), randomblob(32));"
             "INSERT INTO streams VALUES (5, %s, 1, 0, 10, 20, 3, 100, 200, 'fin');"
             "INSERT INTO streams VALUES (9, %s, 2, 1, 30, 40, 0, 7, 0, 'reset');"
             "INSERT INTO streams VALUES (12, %s, 3, 0, 50, 60, 1, 0, 9, 'error');"
             "INSERT INTO link_totals VALUES (%s, 3, 107, 209, 'error', 60);"
             "INSERT INTO events (ts_ms, kind, link_id, detail) VALUES (1, 'link_added', %s, 'x');",
             link1, link1, link1, link1, link1, link1);
    raw_exec(sql);
}

START_TEST(migrate_from_v2_keeps_rows)
{
    char buf[256];
    make_v2();
    struct store *st = storefix_open();
    int v = 0;
    ck_assert_int_eq(store_schema_version(st, &v), 0);
    ck_assert_int_eq(v, store_schema_latest());
    ck_assert_int_eq(v, 10); /* 3 to 10 applied, in that order */
    store_close(st);
    raw("SELECT group_concat(seq || ':' || stream_id || ':' || opener || ':' || started_ms || ':' "
        "|| ended_ms || ':' || wait_ms || ':' || bytes_a_to_b || ':' || bytes_b_to_a || ':' || "
        "cause, ' ') FROM (SELECT * FROM streams ORDER BY seq)",
        buf, sizeof(buf));
    ck_assert_str_eq(buf, "5:1:0:10:20:3:100:200:fin 9:2:1:30:40:0:7:0:reset "
                          "12:3:0:50:60:1:0:9:error");
    raw("SELECT streams || ':' || bytes_a_to_b || ':' || last_cause FROM link_totals", buf,
        sizeof(buf));
    ck_assert_str_eq(buf, "3:107:error");
    raw("SELECT count(*) FROM events", buf, sizeof(buf));
    ck_assert_str_eq(buf, "1");
    raw("SELECT count(*) FROM sqlite_master WHERE name IN ('streams_by_link', 'link_quota')", buf,
        sizeof(buf));
    ck_assert_str_eq(buf, "2");
    raw("SELECT count(*) FROM sqlite_master WHERE name IN ('link_allow', 'enrollments')", buf,
        sizeof(buf));
    ck_assert_str_eq(buf, "2");
    raw("SELECT rate_a_to_b || ':' || rate_b_to_a FROM links", buf, sizeof(buf));
    ck_assert_str_eq(buf, "0:0");
    raw("SELECT count(*) FROM sqlite_master WHERE name = 'streams_new'", buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
    raw("PRAGMA integrity_check", buf, sizeof(buf));
    ck_assert_str_eq(buf, "ok");
    ck_assert_int_eq(raw("PRAGMA foreign_key_check", NULL, 0), SQLITE_DONE);
    /* A new row after the migration continues the seq. */
    st = storefix_open();
    struct store_stream x;
    memset(&x, 0, sizeof(x));
    memcpy(x.link_id, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16);
    x.stream_id = 4;
    x.ended_ms = 100;
    x.cause = STORE_CAUSE_QUOTA;
    ck_assert_int_eq(store_streams_record(st, &x, 1), 0);
    store_close(st);
    raw("SELECT max(seq) || ':' || (SELECT cause FROM streams WHERE stream_id = 4) FROM streams",
        buf, sizeof(buf));
    ck_assert_str_eq(buf, "13:quota");
    raw("SELECT last_cause FROM link_totals", buf, sizeof(buf));
    ck_assert_str_eq(buf, "quota");
}
END_TEST

START_TEST(rebuilt_table_keeps_its_rules)
{
    char buf[64], sql[256];
    make_v2();
    store_close(storefix_open());
    snprintf(sql, sizeof(sql), "INSERT INTO streams VALUES (20, %s, 1, 0, 1, 2, 0, 0, 0, 'bogus')",
             link1);
    ck_assert_int_eq(raw(sql, NULL, 0), SQLITE_CONSTRAINT);
    ck_assert_int_eq(raw("INSERT INTO streams VALUES (21, X'ffffffffffffffffffffffffffffffff', 1, "
                         "0, 1, 2, 0, 0, 0, 'fin')",
                         NULL, 0),
                     SQLITE_CONSTRAINT);
    snprintf(sql, sizeof(sql), "DELETE FROM links WHERE id = %s", link1);
    ck_assert_int_eq(raw(sql, NULL, 0), SQLITE_DONE);
    raw("SELECT count(*) FROM streams", buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
}
END_TEST

/* The streams table's rules on a database created at the latest version,
 * on either backend: a bad cause and an unknown link are refused, removing
 * the link removes its rows. */
START_TEST(streams_rules)
{
    char buf[64];
    struct store *st = storefix_open();
    struct store_link l;
    uint8_t other[STORE_LINK_ID_LEN];
    storefix_add_link(st, &l, "r");
    store_close(st);
    memset(other, 0xff, sizeof(other));
    const char *ins =
        "INSERT INTO streams (link_id, stream_id, opener, started_ms, ended_ms, "
        "wait_ms, bytes_a_to_b, bytes_b_to_a, cause) VALUES (?1, 1, 0, 1, 2, 0, 0, 0, ";
    char sql[512];
    snprintf(sql, sizeof(sql), "%s'bogus')", ins);
    ck_assert_int_eq(storefix_raw(sql, l.id, NULL, 0), -EINVAL);
    snprintf(sql, sizeof(sql), "%s'quota')", ins);
    ck_assert_int_eq(storefix_raw(sql, other, NULL, 0), -EINVAL);
    ck_assert_int_eq(storefix_raw(sql, l.id, NULL, 0), DB_DONE);
    ck_assert_int_eq(storefix_raw(sql, l.id, NULL, 0), DB_DONE);
    storefix_raw("SELECT count(*) FROM streams", NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "2");
    ck_assert_int_eq(storefix_raw("DELETE FROM links WHERE id = ?1", l.id, NULL, 0), DB_DONE);
    storefix_raw("SELECT count(*) FROM streams", NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
}
END_TEST

START_TEST(set_get_save_clear)
{
    struct store *st = storefix_open();
    struct store_link l, g;
    struct store_quota_use u;
    storefix_add_link(st, &l, "q");
    g = l;
    ck_assert_int_eq(store_quota_get(st, &g), 0);
    ck_assert_int_eq(g.has_quota, 0);
    ck_assert_int_eq(store_quota_set(st, l.id, 1000, STORE_QUOTA_DAY, "d"), 0);
    ck_assert_int_eq(store_quota_get(st, &g), 0);
    ck_assert_int_eq(g.has_quota, 1);
    ck_assert_uint_eq(g.quota.limit, 1000);
    ck_assert_uint_eq(g.quota.used, 0);
    /* The relay's counter: saved, never lowered within a period. */
    memcpy(u.link_id, l.id, sizeof(u.link_id));
    u.used = 700;
    u.start_ms = 86400000;
    ck_assert_int_eq(store_quota_save(st, &u, 1), 0);
    u.used = 500;
    ck_assert_int_eq(store_quota_save(st, &u, 1), 0);
    ck_assert_int_eq(store_quota_get(st, &g), 0);
    ck_assert_uint_eq(g.quota.used, 700);
    /* An older period is ignored; a newer one replaces the count. */
    u.used = 9;
    u.start_ms = 0;
    ck_assert_int_eq(store_quota_save(st, &u, 1), 0);
    ck_assert_int_eq(store_quota_get(st, &g), 0);
    ck_assert_uint_eq(g.quota.used, 700);
    u.used = 3;
    u.start_ms = 2 * 86400000LL;
    ck_assert_int_eq(store_quota_save(st, &u, 1), 0);
    ck_assert_int_eq(store_quota_get(st, &g), 0);
    ck_assert_uint_eq(g.quota.used, 3);
    ck_assert_int_eq(g.quota.start_ms, 2 * 86400000LL);
    /* Changing the limit or the period keeps the counter. */
    ck_assert_int_eq(store_quota_set(st, l.id, 5, STORE_QUOTA_MONTH, "m"), 0);
    ck_assert_int_eq(store_quota_get(st, &g), 0);
    ck_assert_uint_eq(g.quota.used, 3);
    ck_assert_int_eq(g.quota.period, STORE_QUOTA_MONTH);
    /* Bad input changes nothing. */
    ck_assert_int_eq(store_quota_set(st, l.id, STORE_QUOTA_MAX + 1, STORE_QUOTA_DAY, "x"), -EINVAL);
    ck_assert_int_eq(store_quota_set(st, l.id, 1, 7, "x"), -EINVAL);
    uint8_t nosuch[STORE_LINK_ID_LEN] = {0};
    ck_assert_int_eq(store_quota_set(st, nosuch, 1, STORE_QUOTA_DAY, "x"), -ENOENT);
    ck_assert_int_eq(store_quota_get(st, &g), 0);
    ck_assert_uint_eq(g.quota.limit, 5);
    /* Cleared: no row, the counter gone. */
    ck_assert_int_eq(store_quota_clear(st, l.id, "c"), 0);
    ck_assert_int_eq(store_quota_get(st, &g), 0);
    ck_assert_int_eq(g.has_quota, 0);
    ck_assert_int_eq(store_quota_clear(st, nosuch, "c"), -ENOENT);
    store_close(st);
}
END_TEST

START_TEST(period_boundaries)
{
    /* 2026-12-07 13:45:10.123 UTC */
    const int64_t t = 1796651110123LL;
    const int64_t day = 1796601600000LL;     /* 2026-12-07 00:00 */
    const int64_t dec = 1796083200000LL;     /* 2026-12-01 00:00 */
    const int64_t jan = 1798761600000LL;     /* 2027-01-01 00:00 */
    const int64_t feb29 = 1709164800000LL;   /* 2024-02-29 00:00 */
    const int64_t mar2024 = 1709251200000LL; /* 2024-03-01 00:00 */
    ck_assert_int_eq(store_quota_period_start(STORE_QUOTA_DAY, t), day);
    ck_assert_int_eq(store_quota_period_start(STORE_QUOTA_DAY, day), day);
    ck_assert_int_eq(store_quota_period_start(STORE_QUOTA_DAY, day - 1), day - 86400000LL);
    ck_assert_int_eq(store_quota_period_next(STORE_QUOTA_DAY, day), day + 86400000LL);
    ck_assert_int_eq(store_quota_period_start(STORE_QUOTA_MONTH, t), dec);
    ck_assert_int_eq(store_quota_period_start(STORE_QUOTA_MONTH, dec - 1), dec - 30 * 86400000LL);
    ck_assert_int_eq(store_quota_period_next(STORE_QUOTA_MONTH, dec), jan);
    ck_assert_int_eq(store_quota_period_start(STORE_QUOTA_MONTH, feb29 + 5000),
                     feb29 - 28 * 86400000LL);
    ck_assert_int_eq(store_quota_period_next(STORE_QUOTA_MONTH, feb29 - 28 * 86400000LL), mar2024);
}
END_TEST

static Suite *quota_suite(void)
{
    Suite *s = suite_create("store_quota");
    TCase *tc = tcase_create("quota");
    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    /* Upgrading an SQLite database a relay of version 2 left: PostgreSQL
     * registries start at version 7. */
    if (!dbfix_pg) {
        tcase_add_test(tc, migrate_from_v2_keeps_rows);
        tcase_add_test(tc, rebuilt_table_keeps_its_rules);
    }
    tcase_add_test(tc, streams_rules);
    tcase_add_test(tc, set_get_save_clear);
    tcase_add_test(tc, period_boundaries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(quota_suite);
}
