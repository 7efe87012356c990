/* SPDX-License-Identifier: MIT */
/*
 * db_int — what db.c shares with its two backends (db_sqlite.c, db_pg.c) and
 * nothing else includes: each backend fills a struct db_ops and embeds
 * struct db / struct db_stmt at the start of its own structs. db.c calls the
 * backends only through these tables; the backends never call db.c.
 */
#ifndef LR_DB_INT_H
#define LR_DB_INT_H

#include "db.h"

#include <stdarg.h>
#include <stdio.h>

#define DB_ERR_MAX 256

struct db_ops {
    void (*close)(struct db *db);
    int (*prepare)(struct db *db, const char *sql, struct db_stmt **out);
    void (*finalize)(struct db_stmt *s);
    void (*reset)(struct db_stmt *s);
    void (*clear_bindings)(struct db_stmt *s);
    int (*param_count)(const struct db_stmt *s);
    int (*bind_int64)(struct db_stmt *s, int idx, int64_t v);
    int (*bind_blob)(struct db_stmt *s, int idx, const void *p, size_t n);
    int (*bind_text)(struct db_stmt *s, int idx, const char *t);
    int (*bind_null)(struct db_stmt *s, int idx);
    int (*step)(struct db_stmt *s);
    bool (*col_null)(struct db_stmt *s, int col);
    int64_t (*col_int64)(struct db_stmt *s, int col);
    const char *(*col_text)(struct db_stmt *s, int col);
    size_t (*col_bytes)(struct db_stmt *s, int col);
    bool (*col_blob)(struct db_stmt *s, int col, void *dst, size_t len);
    int64_t (*changes)(struct db *db);
    int (*exec)(struct db *db, const char *sql);
    int (*begin)(struct db *db);
    int (*commit)(struct db *db);
    int (*rollback)(struct db *db);
    bool (*in_tx)(struct db *db);
    int (*schema_version)(struct db *db, int64_t *out);
    int (*set_schema_version)(struct db *db, int64_t v);
    int (*track_changes)(struct db *db, const char *const *tables);
    int (*data_version)(struct db *db, int64_t *out);
};

struct db {
    const struct db_ops *ops;
    enum db_kind kind;
    char err[DB_ERR_MAX];
};

struct db_stmt {
    struct db *db;
};

/* Sets db->err (printf format). */
static inline void db_seterr(struct db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void db_seterr(struct db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->err, sizeof(db->err), fmt, ap);
    va_end(ap);
}

/* The backends' openers: 0 or a negative errno with the reason in errbuf. */
int db_sqlite_open(const char *path, unsigned flags, struct db **out, char *errbuf, size_t errlen);
int db_pg_open(const char *conninfo, struct db **out, char *errbuf, size_t errlen);

#endif
