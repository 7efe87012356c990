/* SPDX-License-Identifier: MIT */
/*
 * db_sqlite — the layer's SQLite backend (db.h): a thin mapping onto the
 * sqlite3 API. Statements are prepared persistent; the busy timeout stands
 * for the lock timeout; result codes become store.h's negative errnos.
 */
#include "db.h"
#include "db_int.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct sq_db {
    struct db base;
    sqlite3 *h;
};

struct sq_stmt {
    struct db_stmt base;
    sqlite3_stmt *s;
};

static sqlite3 *sq_h(struct db *db)
{
    return ((struct sq_db *)db)->h;
}

static sqlite3_stmt *sq_s(const struct db_stmt *s)
{
    return ((const struct sq_stmt *)s)->s;
}

/* Maps an SQLite result code to a negative errno and records the reason. */
static int sq_fail(struct db *db, int rc)
{
    db_seterr(db, "%s", sqlite3_errmsg(sq_h(db)));
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_CONSTRAINT:
        return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ? -EEXIST
                                                                                    : -EINVAL;
    default:
        return -EIO;
    }
}

static int sq_bindrc(struct db_stmt *s, int rc)
{
    return rc == SQLITE_OK ? 0 : sq_fail(s->db, rc);
}

static void sq_close(struct db *db)
{
    sqlite3_close(sq_h(db));
    free(db);
}

static int sq_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
    struct sq_stmt *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        db_seterr(db, "out of memory");
        return -ENOMEM;
    }
    int rc = sqlite3_prepare_v3(sq_h(db), sql, -1, SQLITE_PREPARE_PERSISTENT, &st->s, NULL);
    if (rc != SQLITE_OK) {
        free(st);
        return sq_fail(db, rc);
    }
    st->base.db = db;
    *out = &st->base;
    return 0;
}

static void sq_finalize(struct db_stmt *s)
{
    sqlite3_finalize(sq_s(s));
    free(s);
}

static void sq_reset(struct db_stmt *s)
{
    sqlite3_reset(sq_s(s));
}

static void sq_clear_bindings(struct db_stmt *s)
{
    sqlite3_clear_bindings(sq_s(s));
}

static int sq_param_count(const struct db_stmt *s)
{
    return sqlite3_bind_parameter_count(sq_s(s));
}

static int sq_bind_int64(struct db_stmt *s, int idx, int64_t v)
{
    return sq_bindrc(s, sqlite3_bind_int64(sq_s(s), idx, v));
}

static int sq_bind_blob(struct db_stmt *s, int idx, const void *p, size_t n)
{
    return sq_bindrc(s, sqlite3_bind_blob64(sq_s(s), idx, p, n, SQLITE_STATIC));
}

static int sq_bind_text(struct db_stmt *s, int idx, const char *t)
{
    return sq_bindrc(s, sqlite3_bind_text(sq_s(s), idx, t, -1, SQLITE_STATIC));
}

static int sq_bind_null(struct db_stmt *s, int idx)
{
    return sq_bindrc(s, sqlite3_bind_null(sq_s(s), idx));
}

static int sq_step(struct db_stmt *s)
{
    int rc = sqlite3_step(sq_s(s));
    if (rc == SQLITE_ROW) {
        return DB_ROW;
    }
    if (rc == SQLITE_DONE) {
        return DB_DONE;
    }
    return sq_fail(s->db, rc);
}

static bool sq_col_null(struct db_stmt *s, int col)
{
    return sqlite3_column_type(sq_s(s), col) == SQLITE_NULL;
}

static int64_t sq_col_int64(struct db_stmt *s, int col)
{
    return sqlite3_column_int64(sq_s(s), col);
}

static const char *sq_col_text(struct db_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(sq_s(s), col);
}

static size_t sq_col_bytes(struct db_stmt *s, int col)
{
    return (size_t)sqlite3_column_bytes(sq_s(s), col);
}

static bool sq_col_blob(struct db_stmt *s, int col, void *dst, size_t len)
{
    const void *p = sqlite3_column_blob(sq_s(s), col);
    size_t n = (size_t)sqlite3_column_bytes(sq_s(s), col);
    if (p != NULL && n == len) {
        memcpy(dst, p, len);
        return true;
    }
    memset(dst, 0, len);
    return false;
}

static int64_t sq_changes(struct db *db)
{
    return sqlite3_changes64(sq_h(db));
}

static int sq_exec(struct db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(sq_h(db), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int r = sq_fail(db, rc);
        if (msg != NULL) {
            db_seterr(db, "%s", msg);
        }
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

static int sq_begin(struct db *db)
{
    return sq_exec(db, "BEGIN IMMEDIATE");
}

static int sq_commit(struct db *db)
{
    return sq_exec(db, "COMMIT");
}

static int sq_rollback(struct db *db)
{
    return sq_exec(db, "ROLLBACK");
}

static bool sq_in_tx(struct db *db)
{
    return !sqlite3_get_autocommit(sq_h(db));
}

static int sq_pragma(struct db *db, const char *sql, int64_t *out)
{
    struct db_stmt *s;
    int r = sq_prepare(db, sql, &s);
    if (r < 0) {
        return r;
    }
    r = sq_step(s);
    if (r == DB_ROW) {
        *out = sq_col_int64(s, 0);
        r = 0;
    } else if (r == DB_DONE) {
        db_seterr(db, "%s: no row", sql);
        r = -EIO;
    }
    sq_finalize(s);
    return r;
}

static int sq_schema_version(struct db *db, int64_t *out)
{
    return sq_pragma(db, "PRAGMA user_version", out);
}

static int sq_set_schema_version(struct db *db, int64_t v)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", (int)v);
    return sq_exec(db, sql);
}

static int sq_track_changes(struct db *db, const char *const *tables)
{
    (void)db;
    (void)tables;
    return 0; /* PRAGMA data_version sees every other connection's commit */
}

static int sq_data_version(struct db *db, int64_t *out)
{
    return sq_pragma(db, "PRAGMA data_version", out);
}

static const struct db_ops sq_ops = {
    .close = sq_close,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .reset = sq_reset,
    .clear_bindings = sq_clear_bindings,
    .param_count = sq_param_count,
    .bind_int64 = sq_bind_int64,
    .bind_blob = sq_bind_blob,
    .bind_text = sq_bind_text,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_null = sq_col_null,
    .col_int64 = sq_col_int64,
    .col_text = sq_col_text,
    .col_bytes = sq_col_bytes,
    .col_blob = sq_col_blob,
    .changes = sq_changes,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .in_tx = sq_in_tx,
    .schema_version = sq_schema_version,
    .set_schema_version = sq_set_schema_version,
    .track_changes = sq_track_changes,
    .data_version = sq_data_version,
};

int db_sqlite_open(const char *path, unsigned flags, struct db **out, char *errbuf, size_t errlen)
{
    struct sq_db *d = calloc(1, sizeof(*d));
    int oflags = (flags & DB_OPEN_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (d == NULL) {
        if (errbuf != NULL && errlen > 0) {
            snprintf(errbuf, errlen, "out of memory");
        }
        return -ENOMEM;
    }
    if ((flags & DB_OPEN_CREATE) && !(flags & DB_OPEN_READONLY)) {
        oflags |= SQLITE_OPEN_CREATE;
    }
    d->base.ops = &sq_ops;
    d->base.kind = DB_SQLITE;
    int rc = sqlite3_open_v2(path, &d->h, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (errbuf != NULL && errlen > 0) {
            snprintf(errbuf, errlen, "database %s: %s", path,
                     d->h ? sqlite3_errmsg(d->h) : "cannot open");
        }
        sqlite3_close(d->h);
        free(d);
        return rc == SQLITE_CANTOPEN ? -EACCES : -EIO;
    }
    sqlite3_busy_timeout(d->h, DB_LOCK_TIMEOUT_MS);
    sqlite3_extended_result_codes(d->h, 1);
    *out = &d->base;
    return 0;
}
