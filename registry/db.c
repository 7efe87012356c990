/* SPDX-License-Identifier: MIT */
/*
 * db — the layer's entry points: picks the backend by the target's form and
 * forwards every call through the backend's table (db_int.h). See db.h.
 */
#include "db.h"
#include "db_int.h"

int db_open(const char *target, unsigned flags, struct db **out, char *errbuf, size_t errlen)
{
    if (db_target_is_pg(target)) {
        return db_pg_open(target, out, errbuf, errlen);
    }
    return db_sqlite_open(target, flags, out, errbuf, errlen);
}

void db_close(struct db *db)
{
    if (db != NULL) {
        db->ops->close(db);
    }
}

enum db_kind db_kind(const struct db *db)
{
    return db->kind;
}

const char *db_errmsg(const struct db *db)
{
    return db->err;
}

int db_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
    return db->ops->prepare(db, sql, out);
}

void db_finalize(struct db_stmt *s)
{
    if (s != NULL) {
        s->db->ops->finalize(s);
    }
}

void db_reset(struct db_stmt *s)
{
    s->db->ops->reset(s);
}

void db_clear_bindings(struct db_stmt *s)
{
    s->db->ops->clear_bindings(s);
}

struct db *db_stmt_db(const struct db_stmt *s)
{
    return s->db;
}

int db_param_count(const struct db_stmt *s)
{
    return s->db->ops->param_count(s);
}

int db_bind_int64(struct db_stmt *s, int idx, int64_t v)
{
    return s->db->ops->bind_int64(s, idx, v);
}

int db_bind_blob(struct db_stmt *s, int idx, const void *p, size_t n)
{
    return s->db->ops->bind_blob(s, idx, p, n);
}

int db_bind_text(struct db_stmt *s, int idx, const char *t)
{
    return s->db->ops->bind_text(s, idx, t);
}

int db_bind_null(struct db_stmt *s, int idx)
{
    return s->db->ops->bind_null(s, idx);
}

int db_step(struct db_stmt *s)
{
    return s->db->ops->step(s);
}

bool db_col_null(struct db_stmt *s, int col)
{
    return s->db->ops->col_null(s, col);
}

int64_t db_col_int64(struct db_stmt *s, int col)
{
    return s->db->ops->col_int64(s, col);
}

const char *db_col_text(struct db_stmt *s, int col)
{
    return s->db->ops->col_text(s, col);
}

size_t db_col_bytes(struct db_stmt *s, int col)
{
    return s->db->ops->col_bytes(s, col);
}

bool db_col_blob(struct db_stmt *s, int col, void *dst, size_t len)
{
    return s->db->ops->col_blob(s, col, dst, len);
}

int64_t db_changes(struct db *db)
{
    return db->ops->changes(db);
}

int db_exec(struct db *db, const char *sql)
{
    return db->ops->exec(db, sql);
}

int db_begin(struct db *db)
{
    return db->ops->begin(db);
}

int db_commit(struct db *db)
{
    return db->ops->commit(db);
}

int db_rollback(struct db *db)
{
    return db->ops->rollback(db);
}

bool db_in_tx(struct db *db)
{
    return db->ops->in_tx(db);
}

int db_schema_version(struct db *db, int64_t *out)
{
    return db->ops->schema_version(db, out);
}

int db_set_schema_version(struct db *db, int64_t v)
{
    return db->ops->set_schema_version(db, v);
}

int db_track_changes(struct db *db, const char *const *tables)
{
    return db->ops->track_changes(db, tables);
}

int db_data_version(struct db *db, int64_t *out)
{
    return db->ops->data_version(db, out);
}
