/* SPDX-License-Identifier: MIT */
/*
 * store — the link registry on the database layer (db.h, D33): the handle
 * (connection, statement cache, errors, transactions), opening and
 * migrations, links and their keys.
 * The accounting and the event log are in store_acct.c (store_int.h). See
 * store.h and docs/internals/registry.md.
 */
#include "store.h"
#include "db.h"
#include "keys.h"
#include "schema_sql.h"
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LINK_COLS                                                                                  \
    "id, name, enabled, created_ms, updated_ms, a_key, a_next_key, a_key_gen, b_key, "             \
    "b_next_key, b_key_gen"
#define LINK_ENROLL_COLS(t)                                                                        \
    t ".hash, " t ".anchor, " t ".created_ms, " t ".expires_ms, " t ".uses, " t ".uses_left, " t   \
      ".last_ms"
/* A link row: LINK_COLS, overlaps and endorsements (002), rates (004),
 * enrollments (006). */
#define LINK_SELECT                                                                                \
    "id, name, enabled, links.created_ms, updated_ms, a_key, a_next_key, a_key_gen, b_key, "       \
    "b_next_key, b_key_gen, a_next_until_ms, b_next_until_ms, a_endorse, "                         \
    "b_endorse, rate_a_to_b, rate_b_to_a, " LINK_ENROLL_COLS("ea") ", " LINK_ENROLL_COLS("eb")
#define LINK_FROM                                                                                  \
    " FROM links LEFT JOIN enrollments ea ON ea.link_id = links.id AND ea.side = 0"                \
    " LEFT JOIN enrollments eb ON eb.link_id = links.id AND eb.side = 1"

/* STORE_LOOKUP_BATCH parameters (store_links_lookup_many). */
#define IDS_BATCH                                                                                  \
    "?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,"  \
    "?26,?27,?28,?29,?30,?31,?32"

static const char *const stmt_sql[S_COUNT] = {
    [S_LINKS_ALL] = "SELECT " LINK_SELECT LINK_FROM " ORDER BY name",
    [S_LINK_BY_ID] = "SELECT " LINK_SELECT LINK_FROM " WHERE id = ?1",
    [S_LINK_BY_NAME] = "SELECT " LINK_SELECT LINK_FROM " WHERE name = ?1",
    [S_LINK_INSERT] = "INSERT INTO links (" LINK_COLS ", rate_a_to_b, rate_b_to_a) VALUES (?1, ?2, "
                      "?3, ?4, ?4, ?5, ?6, 1, ?7, ?8, 1, ?9, ?10)",
    [S_LINK_SET_ENABLED] = "UPDATE links SET enabled = ?2, updated_ms = ?3 WHERE id = ?1",
    [S_LINK_DELETE] = "DELETE FROM links WHERE id = ?1",
    [S_LINK_ROTATE_A] = "UPDATE links SET a_key = ?2, a_next_key = NULL, a_next_until_ms = 0, "
                        "a_key_gen = a_key_gen + 1, updated_ms = ?3 WHERE id = ?1",
    [S_LINK_ROTATE_B] = "UPDATE links SET b_key = ?2, b_next_key = NULL, b_next_until_ms = 0, "
                        "b_key_gen = b_key_gen + 1, updated_ms = ?3 WHERE id = ?1",
    [S_LINK_NEXT_A] = "UPDATE links SET a_next_key = ?2, updated_ms = ?3, a_next_until_ms = ?4 "
                      "WHERE id = ?1",
    [S_LINK_NEXT_B] = "UPDATE links SET b_next_key = ?2, updated_ms = ?3, b_next_until_ms = ?4 "
                      "WHERE id = ?1",
    [S_LINK_PROMOTE_A] = "UPDATE links SET a_key = a_next_key, a_next_key = NULL, "
                         "a_next_until_ms = 0, a_key_gen = a_key_gen + 1, updated_ms = ?3 "
                         "WHERE id = ?1 AND a_next_key = ?2",
    [S_LINK_PROMOTE_B] = "UPDATE links SET b_key = b_next_key, b_next_key = NULL, "
                         "b_next_until_ms = 0, b_key_gen = b_key_gen + 1, updated_ms = ?3 "
                         "WHERE id = ?1 AND b_next_key = ?2",
    [S_LINK_DUE] = "SELECT id, a_next_key, b_next_key, a_next_until_ms, b_next_until_ms FROM links "
                   "WHERE (a_next_key IS NOT NULL AND a_next_until_ms BETWEEN 1 AND ?1) "
                   "OR (b_next_key IS NOT NULL AND b_next_until_ms BETWEEN 1 AND ?1) LIMIT 1",
    [S_LINK_ENDORSE_A] = "UPDATE links SET a_endorse = ?2 "
                         "WHERE id = ?1 AND (a_key = ?3 OR a_next_key = ?3)",
    [S_LINK_ENDORSE_B] = "UPDATE links SET b_endorse = ?2 "
                         "WHERE id = ?1 AND (b_key = ?3 OR b_next_key = ?3)",
    [S_LINK_EXISTS] = "SELECT 1 FROM links WHERE id = ?1",
    [S_LINK_SET_RATE] = "UPDATE links SET rate_a_to_b = ?2, rate_b_to_a = ?4, updated_ms = ?3 "
                        "WHERE id = ?1",
    [S_TOTALS_GET] = "SELECT streams, bytes_a_to_b, bytes_b_to_a, last_cause, last_closed_ms "
                     "FROM link_totals WHERE link_id = ?1",
    [S_STREAM_INSERT] = "INSERT INTO streams (link_id, stream_id, opener, started_ms, ended_ms, "
                        "wait_ms, bytes_a_to_b, bytes_b_to_a, cause) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_TOTALS_ADD] =
        "INSERT INTO link_totals (link_id, streams, bytes_a_to_b, bytes_b_to_a, last_cause, "
        "last_closed_ms) VALUES (?1, 1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (link_id) DO UPDATE SET streams = link_totals.streams + 1, "
        "bytes_a_to_b = link_totals.bytes_a_to_b + excluded.bytes_a_to_b, "
        "bytes_b_to_a = link_totals.bytes_b_to_a + excluded.bytes_b_to_a, "
        "last_cause = CASE WHEN excluded.last_closed_ms >= link_totals.last_closed_ms "
        "THEN excluded.last_cause ELSE link_totals.last_cause END, "
        "last_closed_ms = CASE WHEN excluded.last_closed_ms >= link_totals.last_closed_ms "
        "THEN excluded.last_closed_ms ELSE link_totals.last_closed_ms END",
    [S_EVENT_INSERT] = "INSERT INTO events (ts_ms, kind, link_id, addr, detail, count) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_EVENTS_LIST] = "SELECT * FROM (SELECT e.id, e.ts_ms, e.kind, e.link_id, "
                      "coalesce(l.name, ''), e.addr, e.detail, e.count FROM events e "
                      "LEFT JOIN links l ON l.id = e.link_id "
                      "WHERE ?1 IS NULL OR e.link_id = ?1 ORDER BY e.id DESC LIMIT ?2) AS ev "
                      "ORDER BY id ASC",
    [S_ALLOW_ALL] = "SELECT link_id, side, cidr FROM link_allow ORDER BY link_id, side, cidr",
    [S_ALLOW_LINK] = "SELECT link_id, side, cidr FROM link_allow WHERE link_id = ?1 "
                     "ORDER BY side, cidr",
    [S_ALLOW_CLEAR] = "DELETE FROM link_allow WHERE link_id = ?1 AND side = ?2",
    [S_ALLOW_INSERT] = "INSERT INTO link_allow (link_id, side, cidr) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT DO NOTHING",
    [S_QUOTA_LINK] = "SELECT limit_bytes, period, used_bytes, period_start_ms FROM link_quota "
                     "WHERE link_id = ?1",
    [S_LINKS_BY_IDS] = "SELECT " LINK_SELECT LINK_FROM " WHERE id IN (" IDS_BATCH ")",
    [S_QUOTAS_BY_IDS] = "SELECT link_id, limit_bytes, period, used_bytes, period_start_ms "
                        "FROM link_quota WHERE link_id IN (" IDS_BATCH ")",
    [S_ALLOWS_BY_IDS] = "SELECT link_id, side, cidr FROM link_allow WHERE link_id IN (" IDS_BATCH
                        ") ORDER BY link_id, side, cidr",
};

/* The tables whose changes store_data_version reports on PostgreSQL (every
 * table a relay loads links from; D33). */
static const char *const tracked_tables[] = {"links", "enrollments", "link_allow", "link_quota",
                                             NULL};

struct store {
    struct db *db;
    struct db_stmt *stmt[S_COUNT];
    char err[256];
};

int store_schema_latest(void)
{
    return schema_migrations_count;
}

int store_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > STORE_NAME_MAX) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok) {
            return -EINVAL;
        }
    }
    return 0;
}

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_set_err(struct store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
}

/* Records the layer's reason for the failure r (a negative errno). */
int store_db_fail(struct store *st, int r, const char *what)
{
    store_set_err(st, "database: %s: %s", what, db_errmsg(st->db));
    return r < 0 ? r : -EIO;
}

/* Returns the prepared statement id, reset and with bindings cleared. */
int store_stmt_get(struct store *st, enum stmt_id id, struct db_stmt **out)
{
    if (st->stmt[id] == NULL) {
        int r = db_prepare(st->db, stmt_sql[id], &st->stmt[id]);
        if (r < 0) {
            return store_db_fail(st, r, "prepare");
        }
    }
    db_reset(st->stmt[id]);
    db_clear_bindings(st->stmt[id]);
    *out = st->stmt[id];
    return 0;
}

const char *store_stmt_text(enum stmt_id id)
{
    return stmt_sql[id];
}

struct db *store_db(struct store *st)
{
    return st->db;
}

int store_prepare(struct store *st, const char *sql, struct db_stmt **out)
{
    int r = db_prepare(st->db, sql, out);
    if (r < 0) {
        return store_db_fail(st, r, "prepare");
    }
    return 0;
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
int store_stmt_done(struct store *st, struct db_stmt *s, const char *what)
{
    int r;
    while ((r = db_step(s)) == DB_ROW) {
    }
    db_reset(s);
    if (r != DB_DONE) {
        return store_db_fail(st, r, what);
    }
    return 0;
}

int store_tx_begin(struct store *st)
{
    int r = db_begin(st->db);
    return r < 0 ? store_db_fail(st, r, "begin") : 0;
}

/* Rolls back, keeping the message of the failure that led to it. */
static void rollback_quiet(struct store *st)
{
    if (db_in_tx(st->db)) {
        char saved[sizeof(st->err)];
        memcpy(saved, st->err, sizeof(saved));
        (void)db_rollback(st->db);
        memcpy(st->err, saved, sizeof(saved));
    }
}

/* Commits; on failure rolls back so the handle is usable again. */
int store_tx_commit(struct store *st)
{
    int r = db_commit(st->db);
    if (r < 0) {
        r = store_db_fail(st, r, "commit");
        rollback_quiet(st);
    }
    return r;
}

/* Rolls back after a failure, keeping the failure's message. */
int store_tx_fail(struct store *st, int r)
{
    rollback_quiet(st);
    return r;
}

/* ---- opening and migrations ---- */

static int exec_sql(struct store *st, const char *sql, const char *what)
{
    int r = db_exec(st->db, sql);
    return r < 0 ? store_db_fail(st, r, what) : 0;
}

static int check_not_newer(struct store *st, int64_t v)
{
    if (v > schema_migrations_count) {
        store_set_err(st,
                      "database schema version %" PRId64 " is newer than this linkrelay knows (%d)",
                      v, schema_migrations_count);
        return -ENOTSUP;
    }
    return 0;
}

/* Runs one migration of schema/ (translated for PostgreSQL, D33). */
static int migrate_one(struct store *st, const struct schema_migration *m)
{
    if (db_kind(st->db) == DB_SQLITE) {
        return exec_sql(st, m->sql, m->name);
    }
    char *pg = db_schema_pg(m->sql);
    if (pg == NULL) {
        store_set_err(st, "out of memory");
        return -ENOMEM;
    }
    int r = exec_sql(st, pg, m->name);
    free(pg);
    return r;
}

/* Applies every migration above the database's version, all in one
 * transaction (a crash leaves the old version intact); on PostgreSQL also
 * (re)makes the change tracking of the tables a relay loads. */
static int migrate(struct store *st)
{
    int64_t v;
    int r = store_tx_begin(st);
    if (r < 0) {
        return r;
    }
    r = db_schema_version(st->db, &v);
    if (r < 0) {
        r = store_db_fail(st, r, "schema version");
    }
    if (r == 0) {
        r = check_not_newer(st, v);
    }
    for (int i = (int)v; r == 0 && i < schema_migrations_count; i++) {
        r = migrate_one(st, &schema_migrations[i]);
        if (r == 0) {
            r = db_set_schema_version(st->db, schema_migrations[i].version);
            r = r < 0 ? store_db_fail(st, r, "set schema version") : 0;
        }
    }
    if (r == 0 && v < schema_migrations_count) {
        r = db_track_changes(st->db, tracked_tables);
        r = r < 0 ? store_db_fail(st, r, "track changes") : 0;
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}

static int configure(struct store *st, unsigned flags)
{
    int64_t v;
    bool sqlite = db_kind(st->db) == DB_SQLITE;
    /* Refuse a newer database before touching anything in it. */
    int r = db_schema_version(st->db, &v);
    if (r < 0) {
        return store_db_fail(st, r, "schema version");
    }
    r = check_not_newer(st, v);
    if (r < 0) {
        return r;
    }
    if (flags & STORE_OPEN_READONLY) {
        if (v < schema_migrations_count) {
            store_set_err(st,
                          "database schema version %" PRId64 " is older than %d; open it "
                          "read-write once to migrate",
                          v, schema_migrations_count);
            return -ENOTSUP;
        }
        return sqlite ? exec_sql(st, "PRAGMA foreign_keys = ON", "foreign_keys")
                      : exec_sql(st, "SET default_transaction_read_only = on", "read only");
    }
    if (sqlite) {
        r = exec_sql(st, "PRAGMA journal_mode = WAL", "journal_mode");
        if (r == 0) {
            r = exec_sql(st, "PRAGMA synchronous = FULL", "synchronous");
        }
        if (r == 0) {
            r = exec_sql(st, "PRAGMA foreign_keys = ON", "foreign_keys");
        }
    }
    if (r == 0) {
        r = migrate(st);
    }
    return r;
}

static void copy_err(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf != NULL && errlen > 0) {
        snprintf(errbuf, errlen, "%s", msg);
    }
}

int store_open(const char *path, unsigned flags, struct store **out, char *errbuf, size_t errlen)
{
    struct stat sb;
    char shown[512];
    bool pg = db_target_is_pg(path);
    if (!pg && !(flags & STORE_OPEN_CREATE) && stat(path, &sb) != 0) {
        int e = errno;
        char msg[512];
        snprintf(msg, sizeof(msg), "database %s: %s", path, strerror(e));
        copy_err(errbuf, errlen, msg);
        return -e;
    }
    struct store *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        copy_err(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    unsigned dflags = (flags & STORE_OPEN_CREATE ? DB_OPEN_CREATE : 0) |
                      (flags & STORE_OPEN_READONLY ? DB_OPEN_READONLY : 0);
    int r = db_open(path, dflags, &st->db, st->err, sizeof(st->err));
    if (r == 0) {
        r = configure(st, flags);
        if (r < 0 && r != -ENOTSUP) {
            char tmp[sizeof(st->err)];
            memcpy(tmp, st->err, sizeof(tmp));
            db_target_shown(path, shown, sizeof(shown));
            store_set_err(st, "%s: %s", shown, tmp);
        }
    }
    if (r < 0) {
        copy_err(errbuf, errlen, st->err);
        store_close(st);
        return r;
    }
    *out = st;
    return 0;
}

void store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < S_COUNT; i++) {
        db_finalize(st->stmt[i]);
    }
    db_close(st->db);
    free(st);
}

struct db *store_handle(struct store *st)
{
    return st->db;
}

const char *store_errmsg(const struct store *st)
{
    return st->err;
}

int store_schema_version(struct store *st, int *out)
{
    int64_t v;
    int r = db_schema_version(st->db, &v);
    if (r < 0) {
        return store_db_fail(st, r, "schema version");
    }
    *out = (int)v;
    return 0;
}

int store_data_version(struct store *st, int64_t *out)
{
    int r = db_data_version(st->db, out);
    return r < 0 ? store_db_fail(st, r, "data_version") : 0;
}

/* ---- links ---- */

void store_col_blob(struct db_stmt *s, int col, uint8_t *dst, size_t len, int *present)
{
    bool got = db_col_blob(s, col, dst, len);
    if (present) {
        *present = got;
    }
}

void store_col_text(struct db_stmt *s, int col, char *dst, size_t cap)
{
    const char *t = db_col_text(s, col);
    snprintf(dst, cap, "%s", t ? t : "");
}

/* The 7 enrollment columns from col on (NULLs: none, D30). */
static void enroll_row(struct db_stmt *s, int col, struct store_enroll *e)
{
    store_col_blob(s, col, e->hash, sizeof(e->hash), &e->has);
    store_col_blob(s, col + 1, e->anchor, sizeof(e->anchor), NULL);
    e->created_ms = db_col_int64(s, col + 2);
    e->expires_ms = db_col_int64(s, col + 3);
    e->uses = (uint32_t)db_col_int64(s, col + 4);
    e->uses_left = (uint32_t)db_col_int64(s, col + 5);
    e->last_ms = db_col_int64(s, col + 6);
}

void store_row_to_link(struct db_stmt *s, struct store_link *l)
{
    memset(l, 0, sizeof(*l));
    store_col_blob(s, 0, l->id, sizeof(l->id), NULL);
    store_col_text(s, 1, l->name, sizeof(l->name));
    l->enabled = (int)db_col_int64(s, 2) != 0;
    l->created_ms = db_col_int64(s, 3);
    l->updated_ms = db_col_int64(s, 4);
    for (int side = 0; side < 2; side++) {
        int base = 5 + side * 3;
        store_col_blob(s, base, l->key[side], STORE_KEY_LEN, NULL);
        store_col_blob(s, base + 1, l->next_key[side], STORE_KEY_LEN, &l->has_next[side]);
        l->key_gen[side] = (uint32_t)db_col_int64(s, base + 2);
        l->next_until_ms[side] = l->has_next[side] ? db_col_int64(s, 11 + side) : 0;
        if (db_col_bytes(s, 13 + side) == STORE_ENDORSE_LEN)
            store_col_blob(s, 13 + side, l->endorse[side], STORE_ENDORSE_LEN,
                           &l->has_endorse[side]);
        l->rate[side] = (uint64_t)db_col_int64(s, 15 + side);
        enroll_row(s, 17 + 7 * side, &l->enroll[side]);
    }
}

int store_links_load(struct store *st, store_link_cb cb, void *arg)
{
    struct db_stmt *s;
    struct store_link l;
    int r = store_stmt_get(st, S_LINKS_ALL, &s);
    int rc;
    if (r < 0) {
        return r;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        store_row_to_link(s, &l);
        r = cb(arg, &l);
        if (r != 0) {
            db_reset(s);
            return r;
        }
    }
    db_reset(s);
    if (rc != DB_DONE) {
        return store_db_fail(st, rc, "list links");
    }
    return 0;
}

/* Runs a link SELECT with one bound parameter already set; -ENOENT if none. */
static int fetch_link(struct store *st, struct db_stmt *s, const char *what, struct store_link *out)
{
    int rc = db_step(s);
    if (rc == DB_ROW) {
        store_row_to_link(s, out);
        db_reset(s);
        return 0;
    }
    db_reset(s);
    if (rc == DB_DONE) {
        store_set_err(st, "no such link: %s", what);
        return -ENOENT;
    }
    return store_db_fail(st, rc, "find link");
}

int store_link_get(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], struct store_link *out)
{
    struct db_stmt *s;
    char hex[LINKID_TEXT_SIZE];
    int r = store_stmt_get(st, S_LINK_BY_ID, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    linkid_encode(id, hex);
    return fetch_link(st, s, hex, out);
}

int store_link_find(struct store *st, const char *name_or_id, struct store_link *out)
{
    struct db_stmt *s;
    uint8_t id[STORE_LINK_ID_LEN];
    int r = store_stmt_get(st, S_LINK_BY_NAME, &s);
    if (r < 0) {
        return r;
    }
    db_bind_text(s, 1, name_or_id);
    r = fetch_link(st, s, name_or_id, out);
    if (r != -ENOENT || linkid_decode(name_or_id, id, NULL) != 0) {
        return r;
    }
    r = store_link_get(st, id, out);
    if (r == -ENOENT) {
        store_set_err(st, "no such link: %s", name_or_id);
    }
    return r;
}

/* Inserts one event row; part of the caller's transaction. */
int store_event_insert(struct store *st, int64_t ts, const char *kind, const uint8_t *link_id,
                       const char *addr, const char *detail, uint32_t count)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_EVENT_INSERT, &s);
    if (r < 0) {
        return r;
    }
    db_bind_int64(s, 1, ts);
    db_bind_text(s, 2, kind);
    if (link_id != NULL) {
        db_bind_blob(s, 3, link_id, STORE_LINK_ID_LEN);
    }
    db_bind_text(s, 4, addr ? addr : "");
    db_bind_text(s, 5, detail ? detail : "");
    db_bind_int64(s, 6, count ? count : 1);
    return store_stmt_done(st, s, "insert event");
}

int store_link_exists(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int *exists)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_LINK_EXISTS, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    int rc = db_step(s);
    db_reset(s);
    if (rc != DB_ROW && rc != DB_DONE) {
        return store_db_fail(st, rc, "find link");
    }
    *exists = rc == DB_ROW;
    return 0;
}

static int name_taken(struct store *st, const char *name, int *taken)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_LINK_BY_NAME, &s);
    if (r < 0) {
        return r;
    }
    db_bind_text(s, 1, name);
    int rc = db_step(s);
    db_reset(s);
    if (rc != DB_ROW && rc != DB_DONE) {
        return store_db_fail(st, rc, "find link");
    }
    *taken = rc == DB_ROW;
    return 0;
}

void store_bind_key_or_null(struct db_stmt *s, int col, int present, const uint8_t *key)
{
    if (present) {
        db_bind_blob(s, col, key, STORE_KEY_LEN);
    } else {
        db_bind_null(s, col);
    }
}

static int link_insert(struct store *st, const struct store_link *l, int64_t ts)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_LINK_INSERT, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, l->id, STORE_LINK_ID_LEN);
    db_bind_text(s, 2, l->name);
    db_bind_int64(s, 3, l->enabled ? 1 : 0);
    db_bind_int64(s, 4, ts);
    db_bind_blob(s, 5, l->key[0], STORE_KEY_LEN);
    store_bind_key_or_null(s, 6, l->has_next[0], l->next_key[0]);
    db_bind_blob(s, 7, l->key[1], STORE_KEY_LEN);
    store_bind_key_or_null(s, 8, l->has_next[1], l->next_key[1]);
    db_bind_int64(s, 9, (int64_t)l->rate[0]);
    db_bind_int64(s, 10, (int64_t)l->rate[1]);
    r = store_stmt_done(st, s, "insert link");
    if (r == -EEXIST) {
        store_set_err(st, "a link with this id already exists");
    }
    return r;
}

int store_link_add(struct store *st, const struct store_link *l, const char *detail)
{
    int taken = 0;
    int64_t ts = store_now_ms();
    if (store_name_valid(l->name) != 0) {
        store_set_err(st, "invalid link name '%s': use 1..%d characters of A-Z a-z 0-9 . _ -",
                      l->name, STORE_NAME_MAX);
        return -EINVAL;
    }
    if (!STORE_RATE_VALID(l->rate[0]) || !STORE_RATE_VALID(l->rate[1])) {
        store_set_err(st, "rate out of range: %llu..%llu bytes/s, or none", STORE_RATE_MIN,
                      STORE_RATE_MAX);
        return -EINVAL;
    }
    int r = store_tx_begin(st);
    if (r < 0) {
        return r;
    }
    r = name_taken(st, l->name, &taken);
    if (r == 0 && taken) {
        store_set_err(st, "a link named '%s' already exists", l->name);
        r = -EEXIST;
    }
    if (r == 0) {
        r = link_insert(st, l, ts);
    }
    if (r == 0) {
        r = store_event_insert(st, ts, "link_added", l->id, NULL, detail, 1);
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}

int store_link_change(struct store *st, struct db_stmt *s, const uint8_t id[STORE_LINK_ID_LEN],
                      const char *kind, const char *detail)
{
    int64_t ts = store_now_ms();
    char hex[LINKID_TEXT_SIZE];
    int r = store_tx_begin(st);
    if (r < 0) {
        return r;
    }
    /* ?3 is the update time where the statement has one (not for DELETE). */
    if (db_param_count(s) >= 3) {
        db_bind_int64(s, 3, ts);
    }
    r = store_stmt_done(st, s, kind);
    if (r == 0 && db_changes(st->db) == 0) {
        linkid_encode(id, hex);
        store_set_err(st, "no such link: %s", hex);
        r = -ENOENT;
    }
    if (r == 0) {
        r = store_event_insert(st, ts, kind, id, NULL, detail, 1);
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}

int store_link_set_enabled(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int enabled,
                           const char *detail)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_LINK_SET_ENABLED, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    db_bind_int64(s, 2, enabled ? 1 : 0);
    return store_link_change(st, s, id, enabled ? "enabled" : "revoked", detail);
}

int store_link_remove(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], const char *detail)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_LINK_DELETE, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    return store_link_change(st, s, id, "removed", detail);
}
