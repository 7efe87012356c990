/* SPDX-License-Identifier: MIT */
/*
 * db — the database layer under the store (docs/design.md D33): one API over
 * the embedded SQLite (db_sqlite.c) and PostgreSQL through libpq (db_pg.c).
 * The store writes each statement once, in the SQL both understand, and this
 * layer runs it on either.
 *
 * SQL text: parameters are ?1, ?2, ... (SQLite's numbered form); the
 * PostgreSQL backend sends them as $1, $2, .... Blobs are BLOB in SQLite and
 * BYTEA in PostgreSQL (db_schema_pg translates the schema); integers are
 * 64-bit in both. Upserts use "INSERT ... ON CONFLICT (...) DO UPDATE/NOTHING",
 * which both accept. Anything that differs (PRAGMA, schema version, change
 * detection, transactions) is a function here, never SQL text in the store.
 *
 * Threads: a struct db is one connection, used by one thread at a time; its
 * statements belong to it. Calls block until the database answers: call
 * them from a worker thread, never from an event loop (the relay does, D33).
 * PostgreSQL: no call waits longer than db_deadline() (D38); one that would
 * fails with -EIO, closes the connection, and the calls of the next
 * deadline fail at once (-EIO) before one connects again.
 *
 * Errors: every function that can fail returns 0 (or DB_ROW/DB_DONE) or a
 * negative errno as store.h's contract has it, and leaves a one-line reason
 * in db_errmsg():
 *   -EEXIST  a unique or primary key constraint failed
 *   -EINVAL  another constraint (CHECK, NOT NULL, foreign key) failed
 *   -EBUSY   a lock stayed taken past the lock timeout (5000 ms)
 *   -ENOMEM  out of memory
 *   -EIO     anything else (bad SQL, a lost connection, I/O)
 *
 * Lifetimes: memory passed to db_bind_blob/db_bind_text must stay valid and
 * unchanged until the statement is reset (the PostgreSQL backend sends it at
 * the first db_step). Column values (db_col_text) are valid until the next
 * db_step, db_reset or db_finalize of that statement.
 */
#ifndef LR_DB_H
#define LR_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct db_stmt;

enum db_kind {
    DB_SQLITE = 0,
    DB_PG = 1,
};

#define DB_ROW  1 /* db_step: a row is ready to read */
#define DB_DONE 0 /* db_step: no more rows */

#define DB_LOCK_TIMEOUT_MS 5000

/* PostgreSQL: the most one call (connect included) waits for the server,
 * for every connection of the process; ms 0 sets the default. The relay
 * sets its registry_timeout, linkctl the config's (D38). Thread-safe. */
#define DB_DEADLINE_DEFAULT_MS 10000
void db_set_deadline(uint32_t ms);
uint32_t db_deadline(void);

/* True when target names a PostgreSQL database: a libpq URL, starting
 * postgresql:// or postgres:// (a Unix socket directory goes in the query:
 * postgresql:///NAME?host=/run/dir). Anything else is an SQLite path. */
bool db_target_is_pg(const char *target);

/* target as it may be shown in messages and logs: a URL's password (in
 * "user:password@" or a "password=" query parameter) replaced by "***". */
void db_target_shown(const char *target, char *out, size_t cap);

enum db_open_flags {
    DB_OPEN_CREATE = 1 << 0,   /* SQLite: create the file when missing */
    DB_OPEN_READONLY = 1 << 1, /* SQLite: open read-only */
};
/* Opens a connection to target: an SQLite path, or a libpq URL/conninfo.
 * On failure *out is untouched and a reason is written to errbuf (when not
 * NULL). PostgreSQL ignores flags (the database must exist). */
int db_open(const char *target, unsigned flags, struct db **out, char *errbuf, size_t errlen);
/* Closes the connection; every statement must be finalized first. NULL ok. */
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);
/* The reason of the last failure ("" if none); valid until the next call. */
const char *db_errmsg(const struct db *db);

/* Prepares one statement (see "SQL text" above). */
int db_prepare(struct db *db, const char *sql, struct db_stmt **out);
/* Frees the statement; NULL ok. */
void db_finalize(struct db_stmt *s);
/* Forgets the results: the statement runs afresh at the next step, with the
 * same bindings. */
void db_reset(struct db_stmt *s);
/* Sets every parameter back to NULL. */
void db_clear_bindings(struct db_stmt *s);
/* The connection of s. */
struct db *db_stmt_db(const struct db_stmt *s);
/* The highest ?N in the statement's text. */
int db_param_count(const struct db_stmt *s);

/* Binding parameter idx (1-based); an unbound parameter is NULL. A NULL
 * pointer to db_bind_blob or db_bind_text binds a NULL of that type, which
 * PostgreSQL needs where the statement does not tell the type (as in
 * "?1 IS NULL OR id = ?1"); db_bind_null binds an untyped NULL. */
int db_bind_int64(struct db_stmt *s, int idx, int64_t v);
int db_bind_blob(struct db_stmt *s, int idx, const void *p, size_t n);
int db_bind_text(struct db_stmt *s, int idx, const char *t);
int db_bind_null(struct db_stmt *s, int idx);

/* Runs the statement (first call after a reset) or moves to the next row:
 * DB_ROW, DB_DONE or a negative errno. */
int db_step(struct db_stmt *s);

/* Reading column col (0-based) of the current row. NULL reads as 0, NULL
 * text and 0 bytes. */
bool db_col_null(struct db_stmt *s, int col);
int64_t db_col_int64(struct db_stmt *s, int col);
const char *db_col_text(struct db_stmt *s, int col);
size_t db_col_bytes(struct db_stmt *s, int col);
/* Copies a blob column of exactly len bytes into dst and returns true;
 * otherwise (NULL, another length) zeros dst and returns false. */
bool db_col_blob(struct db_stmt *s, int col, void *dst, size_t len);

/* Rows changed by the last INSERT/UPDATE/DELETE stepped on db. */
int64_t db_changes(struct db *db);

/* Runs SQL text of one or more statements without parameters or rows. */
int db_exec(struct db *db, const char *sql);

/* A write transaction. db_begin takes the database's write lock for the
 * whole transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN and a
 * transaction advisory lock), so writers run one at a time in both, waiting
 * at most DB_LOCK_TIMEOUT_MS (-EBUSY). */
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);
bool db_in_tx(struct db *db);

/* The schema version (SQLite: PRAGMA user_version; PostgreSQL: the table
 * lr_meta, 0 when it does not exist yet). db_set_schema_version is part of
 * the caller's transaction. */
int db_schema_version(struct db *db, int64_t *out);
int db_set_schema_version(struct db *db, int64_t v);
/* PostgreSQL: creates lr_meta when missing; makes every statement that
 * changes one of the tables named in tables (NULL-terminated) bump
 * lr_meta.data_version, in the same transaction. SQLite: nothing to do.
 * Part of the caller's transaction (the migration's). */
int db_track_changes(struct db *db, const char *const *tables);
/* A number that changes when another connection commits a change (SQLite:
 * PRAGMA data_version, any table; PostgreSQL: lr_meta.data_version, the
 * tables given to db_track_changes, and also this connection's commits). */
int db_data_version(struct db *db, int64_t *out);

/* The PostgreSQL text of a migration written in SQLite's dialect (schema/):
 * "INTEGER PRIMARY KEY [AUTOINCREMENT]" -> "BIGINT GENERATED BY DEFAULT AS
 * IDENTITY PRIMARY KEY", INTEGER -> BIGINT, BLOB -> BYTEA, "WITHOUT ROWID"
 * dropped. Whole upper-case words only; string literals and comments are not
 * told apart (schema/ has none of these words in literals). Returns a
 * malloc'ed string, NULL when out of memory. In db_schema.c.
 * A line starting with DB_SQLITE_ONLY_BEGIN starts a block that is left out,
 * through the end of the line holding DB_SQLITE_ONLY_END (SQLite's own
 * triggers: schema 008). */
#define DB_SQLITE_ONLY_BEGIN "-- sqlite only: begin"
#define DB_SQLITE_ONLY_END   "-- sqlite only: end"
char *db_schema_pg(const char *sqlite_sql);

#endif
