/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of registry/store.c: migrations, refusal of a newer schema, link
 * CRUD, rotation, accounting, the event log, and that no private key reaches
 * the database file.
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
#define STOREFIX_NAME "test_store"
#include "storefix.h"
#include "schema_sql.h"

/* Runs one SQL statement on a connection of its own and returns the first
 * column of the first row as text (into out). */
static void raw_query(const char *sql, char *out, size_t cap)
{
    int r = storefix_raw(sql, NULL, out, cap);
    ck_assert(r == DB_ROW || r == DB_DONE);
}

/* The number of the tables (or, with column, of that table's columns)
 * named in list, on either backend. */
static int count_named(const char *table, const char *list)
{
    char sql[512], buf[32];
    if (dbfix_pg) {
        if (table != NULL) {
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                     "current_schema() AND table_name = '%s' AND column_name IN (%s)",
                     table, list);
        } else {
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                     "current_schema() AND table_name IN (%s)",
                     list);
        }
    } else if (table != NULL) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM pragma_table_info('%s') WHERE name IN (%s)", table, list);
    } else {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE name IN (%s)", list);
    }
    raw_query(sql, buf, sizeof(buf));
    return (int)strtol(buf, NULL, 10);
}

/* Sets the database's schema version on a connection of its own. */
static void raw_set_version(int v)
{
    struct db *db;
    char err[512];
    ck_assert_msg(db_open(dbfix_target, 0, &db, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(db_set_schema_version(db, v), 0);
    db_close(db);
}

static int raw_version(void)
{
    struct db *db;
    int64_t v = -1;
    char err[512];
    ck_assert_msg(db_open(dbfix_target, 0, &db, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(db_schema_version(db, &v), 0);
    db_close(db);
    return (int)v;
}

/* Appends src to the accumulator dst (256+ bytes). */
static void append(char *dst, const char *src)
{
    size_t n = strlen(dst);
    snprintf(dst + n, 512 - n, "%s", src);
}

static void make_link(struct store_link *l, const char *name)
{
    memset(l, 0, sizeof(*l));
    randombytes_buf(l->id, sizeof(l->id));
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->enabled = 1;
    randombytes_buf(l->key[0], STORE_KEY_LEN);
    randombytes_buf(l->key[1], STORE_KEY_LEN);
}

START_TEST(migrate_from_empty)
{
    struct store *st = storefix_open();
    int v = -1;
    char buf[64];
    ck_assert_int_eq(store_schema_version(st, &v), 0);
    ck_assert_int_ge(store_schema_latest(), 1);
    ck_assert_int_eq(v, store_schema_latest());
    store_close(st);
    ck_assert_int_eq(raw_version(), store_schema_latest());
    if (!dbfix_pg) {
        raw_query("PRAGMA journal_mode", buf, sizeof(buf));
        ck_assert_str_eq(buf, "wal");
    }
    ck_assert_int_eq(count_named(NULL, "'links','streams','link_totals','events'"), 4);
    /* Migrations 001..010 without a gap, migration N being entry N - 1, each
     * applied: allowlists (003), rates (004), quotas (005), enrollments (006),
     * retention's per-day sums (007), pool members (008), the members'
     * failing addresses (010). */
    ck_assert_int_eq(store_schema_latest(), 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(schema_migrations[i].version, i + 1);
    ck_assert_int_eq(count_named(NULL,
                                 "'link_allow','link_quota','enrollments','stream_days','members',"
                                 "'registry_version'"),
                     6);
    ck_assert_int_eq(count_named("links", "'rate_a_to_b','rate_b_to_a'"), 2);
    ck_assert_int_eq(count_named("members", "'addrs_ok','addrs_failing'"), 2);
    /* Re-opening an up-to-date database migrates nothing and succeeds. */
    st = storefix_open();
    ck_assert_int_eq(store_schema_version(st, &v), 0);
    ck_assert_int_eq(v, store_schema_latest());
    store_close(st);
}
END_TEST

START_TEST(open_missing_without_create)
{
    struct store *st = (struct store *)0x1;
    char err[256] = "";
    if (dbfix_pg) {
        /* A database that does not exist: refused, with its name. */
        char url[1100];
        dbfix_url(dbfix_target, "lrt_no_such_db", url, sizeof(url));
        ck_assert_int_eq(store_open(url, STORE_OPEN_CREATE, &st, err, sizeof(err)), -EIO);
        ck_assert_ptr_eq(st, (struct store *)0x1);
        ck_assert_ptr_nonnull(strstr(err, "lrt_no_such_db"));
        return;
    }
    ck_assert_int_eq(store_open(dbfix_target, 0, &st, err, sizeof(err)), -ENOENT);
    ck_assert_ptr_eq(st, (struct store *)0x1);
    ck_assert_ptr_nonnull(strstr(err, dbfix_target));
    ck_assert_int_eq(access(dbfix_target, F_OK), -1);
}
END_TEST

START_TEST(newer_schema_refused)
{
    char want[160], err[256] = "";
    struct store *st = storefix_open();
    store_close(st);
    int newer = store_schema_latest() + 1;
    raw_set_version(newer);
    st = NULL;
    ck_assert_int_eq(store_open(dbfix_target, STORE_OPEN_CREATE, &st, err, sizeof(err)), -ENOTSUP);
    ck_assert_ptr_null(st);
    snprintf(want, sizeof(want),
             "database schema version %d is newer than this linkrelay knows (%d)", newer,
             store_schema_latest());
    ck_assert_str_eq(err, want);
    /* Refused without being touched: the version is unchanged. */
    ck_assert_int_eq(raw_version(), newer);
    /* Read-only open refuses too. */
    ck_assert_int_eq(store_open(dbfix_target, STORE_OPEN_READONLY, &st, err, sizeof(err)),
                     -ENOTSUP);
}
END_TEST

START_TEST(link_crud)
{
    struct store *st = storefix_open();
    struct store_link a, b, got;
    char hex[33];
    make_link(&a, "zeta");
    make_link(&b, "alpha");
    b.has_next[1] = 1;
    randombytes_buf(b.next_key[1], STORE_KEY_LEN);
    ck_assert_int_eq(store_link_add(st, &a, "added by test"), 0);
    ck_assert_int_eq(store_link_add(st, &b, "added by test"), 0);

    ck_assert_int_eq(store_link_find(st, "alpha", &got), 0);
    ck_assert_mem_eq(got.id, b.id, 16);
    ck_assert_int_eq(got.enabled, 1);
    ck_assert_mem_eq(got.key[0], b.key[0], 32);
    ck_assert_mem_eq(got.key[1], b.key[1], 32);
    ck_assert_int_eq(got.has_next[0], 0);
    ck_assert_int_eq(got.has_next[1], 1);
    ck_assert_mem_eq(got.next_key[1], b.next_key[1], 32);
    ck_assert_uint_eq(got.key_gen[0], 1);
    ck_assert_int_gt(got.created_ms, 1600000000000LL);

    for (int i = 0; i < 16; i++) {
        snprintf(hex + 2 * i, 3, "%02x", a.id[i]);
    }
    ck_assert_int_eq(store_link_find(st, hex, &got), 0);
    ck_assert_str_eq(got.name, "zeta");
    hex[31] = hex[31] == '0' ? '1' : '0';
    ck_assert_int_eq(store_link_find(st, hex, &got), -ENOENT);
    ck_assert_ptr_nonnull(strstr(store_errmsg(st), "no such link"));
    ck_assert_int_eq(store_link_find(st, "nope", &got), -ENOENT);
    ck_assert_str_eq(store_errmsg(st), "no such link: nope");

    ck_assert_int_eq(store_link_set_enabled(st, a.id, 0, "revoked by test"), 0);
    ck_assert_int_eq(store_link_get(st, a.id, &got), 0);
    ck_assert_int_eq(got.enabled, 0);
    ck_assert_int_ge(got.updated_ms, got.created_ms);
    ck_assert_int_eq(store_link_set_enabled(st, a.id, 1, "enabled by test"), 0);
    ck_assert_int_eq(store_link_get(st, a.id, &got), 0);
    ck_assert_int_eq(got.enabled, 1);

    ck_assert_int_eq(store_link_remove(st, b.id, "removed by test"), 0);
    ck_assert_int_eq(store_link_get(st, b.id, &got), -ENOENT);
    ck_assert_int_eq(store_link_remove(st, b.id, "again"), -ENOENT);
    ck_assert_int_eq(store_link_set_enabled(st, b.id, 0, "x"), -ENOENT);
    store_close(st);
}
END_TEST

static int collect_names(void *arg, const struct store_link *l)
{
    char *acc = arg;
    append(acc, l->name);
    append(acc, ",");
    return 0;
}

static int stop_after_one(void *arg, const struct store_link *l)
{
    (void)l;
    (*(int *)arg)++;
    return 7;
}

START_TEST(link_list_order)
{
    struct store *st = storefix_open();
    struct store_link l;
    char acc[512] = "";
    int calls = 0;
    const char *names[] = {"m", "b.x", "Z-1", "a_2"};
    for (int i = 0; i < 4; i++) {
        make_link(&l, names[i]);
        ck_assert_int_eq(store_link_add(st, &l, NULL), 0);
    }
    ck_assert_int_eq(store_links_load(st, collect_names, acc), 0);
    ck_assert_str_eq(acc, "Z-1,a_2,b.x,m,");
    ck_assert_int_eq(store_links_load(st, stop_after_one, &calls), 7);
    ck_assert_int_eq(calls, 1);
    store_close(st);
}
END_TEST

START_TEST(duplicate_and_bad_names)
{
    struct store *st = storefix_open();
    struct store_link l, l2;
    char name64[65], acc[512] = "";
    make_link(&l, "dup");
    ck_assert_int_eq(store_link_add(st, &l, NULL), 0);
    make_link(&l2, "dup");
    ck_assert_int_eq(store_link_add(st, &l2, NULL), -EEXIST);
    ck_assert_str_eq(store_errmsg(st), "a link named 'dup' already exists");
    /* Same id, other name. */
    memcpy(l2.id, l.id, 16);
    snprintf(l2.name, sizeof(l2.name), "%s", "other");
    ck_assert_int_eq(store_link_add(st, &l2, NULL), -EEXIST);
    ck_assert_ptr_nonnull(strstr(store_errmsg(st), "id already exists"));

    memset(name64, 'n', 64);
    name64[64] = '\0';
    ck_assert_int_eq(store_name_valid(name64), 0);
    make_link(&l2, name64);
    ck_assert_int_eq(store_link_add(st, &l2, NULL), 0);
    ck_assert_int_eq(store_name_valid(""), -EINVAL);
    ck_assert_int_eq(store_name_valid("a b"), -EINVAL);
    ck_assert_int_eq(store_name_valid("a/b"), -EINVAL);
    ck_assert_int_eq(store_name_valid("\xc3\xa4"), -EINVAL);
    ck_assert_int_eq(store_name_valid("A.z_0-9"), 0);
    make_link(&l2, "");
    ck_assert_int_eq(store_link_add(st, &l2, NULL), -EINVAL);
    ck_assert_ptr_nonnull(strstr(store_errmsg(st), "invalid link name"));
    /* Nothing half-written: two links only. */
    ck_assert_int_eq(store_links_load(st, collect_names, acc), 0);
    ck_assert_int_eq((int)strlen(acc), 4 + 65);
    store_close(st);
}
END_TEST

START_TEST(rotation)
{
    struct store *st = storefix_open();
    struct store_link l, got;
    uint8_t k1[32], k2[32], fpkey[32];
    char fp[STORE_KEY_FP_SIZE];
    make_link(&l, "rot");
    ck_assert_int_eq(store_link_add(st, &l, NULL), 0);
    randombytes_buf(k1, 32);
    randombytes_buf(k2, 32);
    ck_assert_int_eq(store_link_set_next(st, l.id, STORE_SIDE_B, k1, 0, "next"), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.has_next[1], 1);
    ck_assert_mem_eq(got.next_key[1], k1, 32);
    ck_assert_int_eq(got.has_next[0], 0);

    ck_assert_int_eq(store_link_rotate(st, l.id, STORE_SIDE_B, k2, "rotated by test"), 0);
    /* The fingerprint: the first 8 bytes in hex. */
    memset(fpkey, 0, sizeof(fpkey));
    fpkey[0] = 0xa0;
    fpkey[7] = 0x0f;
    fpkey[8] = 0xff;
    store_key_fp(fpkey, fp);
    ck_assert_str_eq(fp, "a00000000000000f");
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_mem_eq(got.key[1], k2, 32);
    ck_assert_int_eq(got.has_next[1], 0); /* rotation ends the overlap */
    ck_assert_uint_eq(got.key_gen[1], 2);
    ck_assert_uint_eq(got.key_gen[0], 1);
    ck_assert_mem_eq(got.key[0], l.key[0], 32); /* other side untouched */

    ck_assert_int_eq(store_link_rotate(st, l.id, STORE_SIDE_A, k1, NULL), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_mem_eq(got.key[0], k1, 32);
    ck_assert_uint_eq(got.key_gen[0], 2);
    ck_assert_int_eq(store_link_rotate(st, l.id, 2, k1, NULL), -EINVAL);
    ck_assert_int_eq(store_link_set_next(st, l.id, STORE_SIDE_B, k1, 0, NULL), 0);
    ck_assert_int_eq(store_link_set_next(st, l.id, STORE_SIDE_B, NULL, 0, NULL), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.has_next[1], 0);
    l.id[0] ^= 1;
    ck_assert_int_eq(store_link_rotate(st, l.id, STORE_SIDE_A, k1, NULL), -ENOENT);
    store_close(st);
}
END_TEST

static struct store_stream mk_stream(const uint8_t *id, uint64_t sid, int opener, int64_t end,
                                     uint64_t ab, uint64_t ba, int cause)
{
    struct store_stream s;
    memset(&s, 0, sizeof(s));
    memcpy(s.link_id, id, 16);
    s.stream_id = sid;
    s.opener = opener;
    s.started_ms = end - 1000;
    s.ended_ms = end;
    s.wait_ms = 12;
    s.bytes_a_to_b = ab;
    s.bytes_b_to_a = ba;
    s.cause = cause;
    return s;
}

START_TEST(accounting)
{
    struct store *st = storefix_open();
    struct store_link l1, l2;
    struct store_totals t;
    uint8_t ghost[16];
    char buf[32];
    make_link(&l1, "one");
    make_link(&l2, "two");
    randombytes_buf(ghost, 16);
    ck_assert_int_eq(store_link_add(st, &l1, NULL), 0);
    ck_assert_int_eq(store_link_add(st, &l2, NULL), 0);
    ck_assert_int_eq(store_link_totals(st, l1.id, &t), 0);
    ck_assert_uint_eq(t.streams, 0);
    ck_assert_int_eq(t.last_cause, STORE_CAUSE_NONE);

    struct store_stream batch[] = {
        mk_stream(l1.id, 1, 0, 5000, 100, 200, STORE_CAUSE_FIN),
        mk_stream(l1.id, 2, 1, 7000, 1, 2, STORE_CAUSE_RESET),
        /* Recorded later but ended earlier: last_cause stays "reset". */
        mk_stream(l1.id, 3, 1, 6000, 10, 20, STORE_CAUSE_TIMEOUT),
        mk_stream(l2.id, 4, 0, 8000, 1ULL << 40, 0, STORE_CAUSE_LIMIT),
        mk_stream(ghost, 5, 0, 9000, 5, 5, STORE_CAUSE_FIN), /* link gone: skipped */
    };
    ck_assert_int_eq(store_streams_record(st, batch, 5), 0);
    ck_assert_int_eq(store_link_totals(st, l1.id, &t), 0);
    ck_assert_uint_eq(t.streams, 3);
    ck_assert_uint_eq(t.bytes_a_to_b, 111);
    ck_assert_uint_eq(t.bytes_b_to_a, 222);
    ck_assert_int_eq(t.last_cause, STORE_CAUSE_RESET);
    ck_assert_int_eq(t.last_closed_ms, 7000);
    ck_assert_int_eq(store_link_totals(st, l2.id, &t), 0);
    ck_assert_uint_eq(t.bytes_a_to_b, 1ULL << 40);
    ck_assert_int_eq(t.last_cause, STORE_CAUSE_LIMIT);
    raw_query("SELECT count(*) FROM streams", buf, sizeof(buf));
    ck_assert_str_eq(buf, "4");

    /* A bad row rejects the whole batch, nothing written. */
    struct store_stream bad[] = {
        mk_stream(l1.id, 6, 0, 9000, 1, 1, STORE_CAUSE_FIN),
        mk_stream(l1.id, 7, 0, 9000, 1, 1, STORE_CAUSE_COUNT),
    };
    ck_assert_int_eq(store_streams_record(st, bad, 2), -EINVAL);
    bad[1] = mk_stream(l1.id, 7, 2, 9000, 1, 1, STORE_CAUSE_FIN);
    ck_assert_int_eq(store_streams_record(st, bad, 2), -EINVAL);
    ck_assert_int_eq(store_link_totals(st, l1.id, &t), 0);
    ck_assert_uint_eq(t.streams, 3);

    /* Totals survive a reopen; rm drops the link's accounting. */
    store_close(st);
    st = storefix_open();
    ck_assert_int_eq(store_link_totals(st, l1.id, &t), 0);
    ck_assert_uint_eq(t.streams, 3);
    ck_assert_int_eq(store_link_remove(st, l1.id, NULL), 0);
    ck_assert_int_eq(store_link_totals(st, l1.id, &t), 0);
    ck_assert_uint_eq(t.streams, 0);
    raw_query("SELECT count(*) FROM streams", buf, sizeof(buf));
    ck_assert_str_eq(buf, "1");
    store_close(st);
}
END_TEST

START_TEST(cause_names)
{
    enum store_cause c;
    const char *names[] = {"fin", "reset", "timeout", "revoked", "limit", "error", "quota"};
    for (int i = 0; i < STORE_CAUSE_COUNT; i++) {
        ck_assert_str_eq(store_cause_name(i), names[i]);
        ck_assert_int_eq(store_cause_parse(names[i], &c), 0);
        ck_assert_int_eq((int)c, i);
    }
    ck_assert_str_eq(store_cause_name(STORE_CAUSE_NONE), "none");
    ck_assert_ptr_null(store_cause_name(STORE_CAUSE_COUNT));
    ck_assert_int_eq(store_cause_parse("bogus", &c), -EINVAL);
}
END_TEST

struct ev_acc {
    int n;
    char kinds[512];
    int64_t last_id;
    int ordered;
    struct store_event last;
};

static int collect_events(void *arg, const struct store_event *e)
{
    struct ev_acc *acc = arg;
    if (e->id <= acc->last_id) {
        acc->ordered = 0;
    }
    acc->last_id = e->id;
    acc->n++;
    append(acc->kinds, e->kind);
    append(acc->kinds, ",");
    acc->last = *e;
    return 0;
}

/* The end of an overlap (D21): promotion when the agent switched, only for
 * the next key the caller saw; expiry at the deadline, not a ms before. */
START_TEST(rotation_overlap)
{
    struct store *st = storefix_open();
    struct store_link l, got;
    struct ev_acc acc;
    uint8_t k1[32], k2[32], other[32];
    char fp[STORE_KEY_FP_SIZE], want[STORE_DETAIL_MAX + 1];
    size_t n = 99;
    make_link(&l, "ovl");
    ck_assert_int_eq(store_link_add(st, &l, NULL), 0);
    randombytes_buf(k1, 32);
    randombytes_buf(k2, 32);
    randombytes_buf(other, 32);
    ck_assert_int_eq(store_link_set_next(st, l.id, STORE_SIDE_A, k1, 5000, "overlap"), 0);
    ck_assert_int_eq(store_link_set_next(st, l.id, STORE_SIDE_B, k2, 7000, "overlap"), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.next_until_ms[0], 5000);
    ck_assert_int_eq(got.next_until_ms[1], 7000);
    /* Not the next key: nothing changes. */
    ck_assert_int_eq(store_link_promote(st, l.id, STORE_SIDE_A, other, NULL), -ENOENT);
    ck_assert_int_eq(store_link_promote(st, l.id, 2, k1, NULL), -EINVAL);
    /* One ms before the deadline nothing is due; at it, side a is. */
    ck_assert_int_eq(store_links_expire(st, 4999, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(store_links_expire(st, 5000, &n), 0);
    ck_assert_uint_eq(n, 1);
    /* Each "rotated" event names the side and the key it retired. */
    store_key_fp(l.key[0], fp);
    snprintf(want, sizeof(want), "side a: overlap ended, the old key retired; old key %s", fp);
    memset(&acc, 0, sizeof(acc));
    ck_assert_int_eq(store_events_list(st, l.id, 0, collect_events, &acc), 0);
    ck_assert_str_eq(acc.last.kind, "rotated");
    ck_assert_str_eq(acc.last.detail, want);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_mem_eq(got.key[0], k1, 32);
    ck_assert_int_eq(got.has_next[0], 0);
    ck_assert_int_eq(got.next_until_ms[0], 0);
    ck_assert_uint_eq(got.key_gen[0], 2);
    ck_assert_int_eq(got.has_next[1], 1);
    /* Side b's agent switched before its deadline. */
    ck_assert_int_eq(store_link_promote(st, l.id, STORE_SIDE_B, k2, "switched"), 0);
    store_key_fp(l.key[1], fp);
    snprintf(want, sizeof(want), "side b: switched; old key %s", fp);
    memset(&acc, 0, sizeof(acc));
    ck_assert_int_eq(store_events_list(st, l.id, 0, collect_events, &acc), 0);
    ck_assert_str_eq(acc.last.detail, want);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_mem_eq(got.key[1], k2, 32);
    ck_assert_int_eq(got.has_next[1], 0);
    ck_assert_int_eq(got.next_until_ms[1], 0);
    ck_assert_int_eq(store_link_promote(st, l.id, STORE_SIDE_B, k2, NULL), -ENOENT);
    ck_assert_int_eq(store_links_expire(st, 1000000, &n), 0);
    ck_assert_uint_eq(n, 0);
    /* A next key without a deadline never expires; clearing it clears the
     * deadline too. */
    ck_assert_int_eq(store_link_set_next(st, l.id, STORE_SIDE_A, k2, 0, NULL), 0);
    ck_assert_int_eq(store_links_expire(st, INT64_MAX, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(store_link_set_next(st, l.id, STORE_SIDE_A, NULL, 9000, NULL), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.has_next[0], 0);
    ck_assert_int_eq(got.next_until_ms[0], 0);
    memset(&acc, 0, sizeof(acc));
    acc.ordered = 1;
    ck_assert_int_eq(store_events_list(st, l.id, 0, collect_events, &acc), 0);
    ck_assert_ptr_nonnull(strstr(acc.kinds, "next_key,next_key,rotated,rotated,"));
    store_close(st);
}
END_TEST

/* A side's endorsement (D21): stored only for the side's current or next
 * key, read back with the link, kept across a promotion of that key. */
START_TEST(endorsement)
{
    struct store *st = storefix_open();
    struct store_link l, got;
    uint8_t e[STORE_ENDORSE_LEN], k1[32];
    make_link(&l, "end");
    ck_assert_int_eq(store_link_add(st, &l, NULL), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.has_endorse[0], 0);
    ck_assert_int_eq(got.has_endorse[1], 0);
    randombytes_buf(e, sizeof(e));
    randombytes_buf(k1, sizeof(k1));
    /* Neither key of side a: refused. */
    ck_assert_int_eq(store_link_endorse(st, l.id, STORE_SIDE_A, e), -ENOENT);
    ck_assert_int_eq(store_link_endorse(st, l.id, 2, e), -EINVAL);
    /* For the next key. */
    ck_assert_int_eq(store_link_set_next(st, l.id, STORE_SIDE_A, k1, 0, NULL), 0);
    memcpy(e, k1, 32);
    ck_assert_int_eq(store_link_endorse(st, l.id, STORE_SIDE_A, e), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.has_endorse[0], 1);
    ck_assert_mem_eq(got.endorse[0], e, sizeof(e));
    ck_assert_int_eq(got.has_endorse[1], 0);
    /* The promotion keeps it; a later one for the (now current) key too. */
    ck_assert_int_eq(store_link_promote(st, l.id, STORE_SIDE_A, k1, NULL), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_mem_eq(got.endorse[0], e, sizeof(e));
    e[95] ^= 1;
    ck_assert_int_eq(store_link_endorse(st, l.id, STORE_SIDE_A, e), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_mem_eq(got.endorse[0], e, sizeof(e));
    /* Side b's current key. */
    memcpy(e, l.key[1], 32);
    ck_assert_int_eq(store_link_endorse(st, l.id, STORE_SIDE_B, e), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.has_endorse[1], 1);
    ck_assert_mem_eq(got.endorse[1], e, sizeof(e));
    store_close(st);
}
END_TEST

/* Enrollment codes (D30): uses and expiry at their limits, the key set in
 * the same transaction, the row gone with its link. */
START_TEST(enrollment)
{
    struct store *st = storefix_open();
    struct store_link l, got;
    uint8_t h[32], other[32], k[32];
    char out[64];
    make_link(&l, "enr");
    ck_assert_int_eq(store_link_add(st, &l, NULL), 0);
    randombytes_buf(h, sizeof(h));
    memcpy(other, h, sizeof(other));
    other[0] ^= 1;
    randombytes_buf(k, sizeof(k));
    ck_assert_int_eq(store_enroll_set(st, l.id, STORE_SIDE_A, h, l.key[0], 5000, 0), -EINVAL);
    ck_assert_int_eq(store_enroll_set(st, l.id, STORE_SIDE_A, h, l.key[0], 5000, 101), -EINVAL);
    ck_assert_int_eq(store_enroll_set(st, l.id, STORE_SIDE_A, h, l.key[0], 5000, 2), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_int_eq(got.enroll[0].has, 1);
    ck_assert_int_eq(got.enroll[1].has, 0);
    ck_assert_uint_eq(got.enroll[0].uses_left, 2);
    ck_assert_mem_eq(got.enroll[0].anchor, l.key[0], 32);
    ck_assert_int_eq(store_enroll_spend(st, l.id, STORE_SIDE_A, other, k, 10), -ENOENT);
    ck_assert_int_eq(store_enroll_spend(st, l.id, STORE_SIDE_B, h, k, 10), -ENOENT);
    ck_assert_int_eq(store_enroll_spend(st, l.id, STORE_SIDE_A, h, k, 5000), -ENOENT);
    ck_assert_int_eq(store_enroll_spend(st, l.id, STORE_SIDE_A, h, k, 4999), 0);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_mem_eq(got.key[0], k, 32);
    ck_assert_uint_eq(got.enroll[0].uses_left, 1);
    ck_assert_int_eq(got.enroll[0].last_ms, 4999);
    k[0] ^= 1;
    ck_assert_int_eq(store_enroll_spend(st, l.id, STORE_SIDE_A, h, k, 20), 0);
    ck_assert_int_eq(store_enroll_spend(st, l.id, STORE_SIDE_A, h, k, 30), -ENOENT);
    ck_assert_int_eq(store_link_get(st, l.id, &got), 0);
    ck_assert_uint_eq(got.enroll[0].uses_left, 0);
    ck_assert_mem_eq(got.key[0], k, 32);
    raw_query("SELECT count(*) FROM events WHERE kind = 'enrolled'", out, sizeof(out));
    ck_assert_str_eq(out, "2");
    ck_assert_int_eq(store_link_remove(st, l.id, NULL), 0);
    raw_query("SELECT count(*) FROM enrollments", out, sizeof(out));
    ck_assert_str_eq(out, "0");
    store_close(st);
}
END_TEST

START_TEST(events)
{
    struct store *st = storefix_open();
    struct store_link l1, l2;
    struct ev_acc acc;
    make_link(&l1, "ev1");
    make_link(&l2, "ev2");
    ck_assert_int_eq(store_link_add(st, &l1, "added"), 0);
    ck_assert_int_eq(store_link_add(st, &l2, "added"), 0);
    struct store_event ev[2];
    memset(ev, 0, sizeof(ev));
    snprintf(ev[0].kind, sizeof(ev[0].kind), "%s", "auth_fail");
    snprintf(ev[0].addr, sizeof(ev[0].addr), "%s", "192.0.2.7:4000");
    snprintf(ev[0].detail, sizeof(ev[0].detail), "%s", "unknown link or key");
    ev[0].count = 37;
    ev[0].ts_ms = 1234;
    snprintf(ev[1].kind, sizeof(ev[1].kind), "%s", "connect");
    ev[1].has_link = 1;
    memcpy(ev[1].link_id, l1.id, 16);
    snprintf(ev[1].detail, sizeof(ev[1].detail), "%s", "side a");
    ck_assert_int_eq(store_events_add(st, ev, 2), 0);
    ck_assert_int_eq(store_link_set_enabled(st, l1.id, 0, "revoked by admin"), 0);

    memset(&acc, 0, sizeof(acc));
    acc.ordered = 1;
    ck_assert_int_eq(store_events_list(st, NULL, 0, collect_events, &acc), 0);
    ck_assert_int_eq(acc.n, 5);
    ck_assert_int_eq(acc.ordered, 1);
    ck_assert_str_eq(acc.kinds, "link_added,link_added,auth_fail,connect,revoked,");
    ck_assert_str_eq(acc.last.detail, "revoked by admin");
    ck_assert_str_eq(acc.last.link_name, "ev1");

    memset(&acc, 0, sizeof(acc));
    acc.ordered = 1;
    ck_assert_int_eq(store_events_list(st, NULL, 2, collect_events, &acc), 0);
    ck_assert_str_eq(acc.kinds, "connect,revoked,"); /* newest 2, oldest first */
    ck_assert_int_eq(acc.ordered, 1);

    memset(&acc, 0, sizeof(acc));
    ck_assert_int_eq(store_events_list(st, NULL, 3, collect_events, &acc), 0);
    ck_assert_str_eq(acc.kinds, "auth_fail,connect,revoked,");

    memset(&acc, 0, sizeof(acc));
    ck_assert_int_eq(store_events_list(st, l1.id, 0, collect_events, &acc), 0);
    ck_assert_str_eq(acc.kinds, "link_added,connect,revoked,");

    /* The aggregated row keeps its count, address and time. */
    memset(&acc, 0, sizeof(acc));
    ck_assert_int_eq(store_events_list(st, NULL, 0, collect_events, &acc), 0);

    /* After rm the link's events stay, with the id and no name. */
    ck_assert_int_eq(store_link_remove(st, l1.id, "removed by admin"), 0);
    memset(&acc, 0, sizeof(acc));
    ck_assert_int_eq(store_events_list(st, l1.id, 0, collect_events, &acc), 0);
    ck_assert_str_eq(acc.kinds, "link_added,connect,revoked,removed,");
    ck_assert_str_eq(acc.last.link_name, "");
    ck_assert_int_eq(acc.last.has_link, 1);
    ck_assert_mem_eq(acc.last.link_id, l1.id, 16);

    memset(&acc, 0, sizeof(acc));
    ck_assert_int_eq(store_events_list(st, l2.id, 1, collect_events, &acc), 0);
    ck_assert_int_eq(acc.n, 1);
    ck_assert_str_eq(acc.last.kind, "link_added");
    store_close(st);
}
END_TEST

static int find_auth_fail(void *arg, const struct store_event *e)
{
    if (strcmp(e->kind, "auth_fail") == 0) {
        *(struct store_event *)arg = *e;
    }
    return 0;
}

START_TEST(event_fields)
{
    struct store *st = storefix_open();
    struct store_event ev, got;
    memset(&ev, 0, sizeof(ev));
    memset(&got, 0, sizeof(got));
    snprintf(ev.kind, sizeof(ev.kind), "%s", "auth_fail");
    snprintf(ev.addr, sizeof(ev.addr), "%s", "192.0.2.7:4000");
    snprintf(ev.detail, sizeof(ev.detail), "%s", "bad key");
    ev.count = 37;
    ev.ts_ms = 1234;
    ck_assert_int_eq(store_events_add(st, &ev, 1), 0);
    ck_assert_int_eq(store_events_list(st, NULL, 0, find_auth_fail, &got), 0);
    ck_assert_int_eq(got.ts_ms, 1234);
    ck_assert_uint_eq(got.count, 37);
    ck_assert_str_eq(got.addr, "192.0.2.7:4000");
    ck_assert_str_eq(got.detail, "bad key");
    ck_assert_int_eq(got.has_link, 0);
    store_close(st);
}
END_TEST

START_TEST(data_version_sees_other_writer)
{
    struct store *r = storefix_open();
    struct store *w = storefix_open();
    struct store_link l;
    int64_t v1, v2, v3;
    ck_assert_int_eq(store_data_version(r, &v1), 0);
    ck_assert_int_eq(store_data_version(r, &v2), 0);
    ck_assert_int_eq(v1, v2);
    make_link(&l, "dv");
    ck_assert_int_eq(store_link_add(w, &l, NULL), 0);
    ck_assert_int_eq(store_data_version(r, &v3), 0);
    ck_assert_int_ne(v3, v2);
    store_close(w);
    store_close(r);
}
END_TEST

/* Searches the bytes of path for needle. */
static int file_contains(const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }
    static unsigned char buf[4 << 20];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(buf + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

START_TEST(no_private_key_in_file)
{
    struct store *st = storefix_open();
    struct store_link l;
    uint8_t sk[2][32];
    char wal[1100];
    make_link(&l, "secret");
    for (int side = 0; side < 2; side++) {
        crypto_box_keypair(l.key[side], sk[side]);
    }
    ck_assert_int_eq(store_link_add(st, &l, NULL), 0);
    store_close(st);
    snprintf(wal, sizeof(wal), "%s-wal", dbfix_target);
    /* The public keys are there (the check can find bytes) ... */
    ck_assert(file_contains(dbfix_target, l.key[0], 32) || file_contains(wal, l.key[0], 32));
    /* ... the private ones are not. */
    for (int side = 0; side < 2; side++) {
        ck_assert(!file_contains(dbfix_target, sk[side], 32));
        ck_assert(!file_contains(wal, sk[side], 32));
    }
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    tcase_add_test(tc, migrate_from_empty);
    tcase_add_test(tc, open_missing_without_create);
    tcase_add_test(tc, newer_schema_refused);
    tcase_add_test(tc, link_crud);
    tcase_add_test(tc, link_list_order);
    tcase_add_test(tc, duplicate_and_bad_names);
    tcase_add_test(tc, rotation);
    tcase_add_test(tc, rotation_overlap);
    tcase_add_test(tc, endorsement);
    tcase_add_test(tc, accounting);
    tcase_add_test(tc, cause_names);
    tcase_add_test(tc, events);
    tcase_add_test(tc, enrollment);
    tcase_add_test(tc, event_fields);
    tcase_add_test(tc, data_version_sees_other_writer);
    /* The bytes of the database's files: SQLite's one file and its WAL. */
    if (!dbfix_pg) {
        tcase_add_test(tc, no_private_key_in_file);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(store_suite);
}
