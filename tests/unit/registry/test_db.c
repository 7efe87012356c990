/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the registry's database layer (registry/db.h, D33), the same
 * cases on SQLite and on PostgreSQL (dbfix.h): values through binding and
 * columns (64-bit limits, blobs with zeros, NULL), ?N parameters, upserts,
 * errors mapped to errnos, transactions and the write lock, the schema
 * version, change detection, the translation of schema/ and that the
 * migrations give both backends the same tables and columns.
 */
#include "db.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lrcheck.h"
#define DBFIX_NAME "test_db"
#include "dbfix.h"
#include "schema_sql.h"

static struct db *open_db(void)
{
    struct db *db = NULL;
    char err[512];
    int r = db_open(dbfix_target, DB_OPEN_CREATE, &db, err, sizeof(err));
    ck_assert_msg(r == 0, "db_open: %d %s", r, err);
    ck_assert_int_eq(db_kind(db), dbfix_pg ? DB_PG : DB_SQLITE);
    return db;
}

/* Runs schema text written in SQLite's dialect, translated on PostgreSQL. */
static void exec_schema(struct db *db, const char *sql)
{
    char *pg = db_kind(db) == DB_PG ? db_schema_pg(sql) : NULL;
    int r = db_exec(db, pg ? pg : sql);
    ck_assert_msg(r == 0, "%s: %s", sql, db_errmsg(db));
    free(pg);
}

#define T_SCHEMA                                                                                   \
    "CREATE TABLE t (id BLOB PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= -9223372036854775807 - "  \
    "1), s TEXT, b BLOB) WITHOUT ROWID;"                                                           \
    "CREATE TABLE u (k INTEGER PRIMARY KEY AUTOINCREMENT, v INTEGER NOT NULL CHECK (v >= 0));"

/* Inserts (id, n, s, NULL) into t; returns db_step's result. */
static int put(struct db *db, uint8_t id, int64_t n, const char *s)
{
    struct db_stmt *st;
    ck_assert_int_eq(db_prepare(db, "INSERT INTO t (id, n, s) VALUES (?1, ?2, ?3)", &st), 0);
    ck_assert_int_eq(db_bind_blob(st, 1, &id, 1), 0);
    ck_assert_int_eq(db_bind_int64(st, 2, n), 0);
    ck_assert_int_eq(s ? db_bind_text(st, 3, s) : db_bind_null(st, 3), 0);
    int r = db_step(st);
    db_finalize(st);
    return r;
}

static int64_t count_t(struct db *db)
{
    struct db_stmt *st;
    ck_assert_int_eq(db_prepare(db, "SELECT count(*) FROM t", &st), 0);
    ck_assert_int_eq(db_step(st), DB_ROW);
    int64_t n = db_col_int64(st, 0);
    db_finalize(st);
    return n;
}

START_TEST(values_round_trip)
{
    struct db *db = open_db();
    struct db_stmt *st;
    const uint8_t blob[16] = {0, 1, 0, 0xff, 0x5c, 0x78, 0, 0, 9, 8, 7, 6, 5, 4, 3, 0};
    const int64_t ints[] = {INT64_MIN, -1, 0, 1, INT64_MAX};
    exec_schema(db, T_SCHEMA);
    ck_assert_int_eq(db_prepare(db, "INSERT INTO t (id, n, s, b) VALUES (?1, ?2, ?3, ?4)", &st), 0);
    ck_assert_int_eq(db_param_count(st), 4);
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        uint8_t id = (uint8_t)i;
        db_reset(st);
        db_clear_bindings(st);
        db_bind_blob(st, 1, &id, 1);
        db_bind_int64(st, 2, ints[i]);
        if (i == 0) {
            db_bind_text(st, 3, "quote ' and ? and \xc3\xa9");
            db_bind_blob(st, 4, blob, sizeof(blob));
        }
        ck_assert_int_eq(db_step(st), DB_DONE);
        ck_assert_int_eq(db_changes(db), 1);
    }
    db_finalize(st);
    ck_assert_int_eq(db_prepare(db, "SELECT id, n, s, b, 'a?b' FROM t ORDER BY id", &st), 0);
    ck_assert_int_eq(db_param_count(st), 0);
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        uint8_t id, got[16];
        ck_assert_int_eq(db_step(st), DB_ROW);
        ck_assert(db_col_blob(st, 0, &id, 1));
        ck_assert_int_eq(id, i);
        ck_assert(db_col_int64(st, 1) == ints[i]);
        ck_assert_str_eq(db_col_text(st, 4), "a?b");
        if (i == 0) {
            ck_assert_str_eq(db_col_text(st, 2), "quote ' and ? and \xc3\xa9");
            ck_assert_uint_eq(db_col_bytes(st, 3), sizeof(blob));
            ck_assert(db_col_blob(st, 3, got, sizeof(got)));
            ck_assert_mem_eq(got, blob, sizeof(blob));
            /* another length is refused, and zeros dst */
            ck_assert(!db_col_blob(st, 3, got, 15));
            ck_assert_int_eq(got[1], 0);
        } else {
            ck_assert(db_col_null(st, 2));
            ck_assert_ptr_null(db_col_text(st, 2));
            ck_assert(db_col_null(st, 3));
            ck_assert_uint_eq(db_col_bytes(st, 3), 0);
            memset(got, 0xaa, sizeof(got));
            ck_assert(!db_col_blob(st, 3, got, sizeof(got)));
            ck_assert_int_eq(got[0], 0);
        }
    }
    ck_assert_int_eq(db_step(st), DB_DONE);
    db_finalize(st);
    db_close(db);
}
END_TEST

/* ?1 used twice, once NULL; a re-run after db_reset keeps the bindings. */
START_TEST(parameters_and_reset)
{
    struct db *db = open_db();
    struct db_stmt *st;
    uint8_t id = 2;
    exec_schema(db, T_SCHEMA);
    ck_assert_int_eq(put(db, 1, 10, "a"), DB_DONE);
    ck_assert_int_eq(put(db, 2, 20, "b"), DB_DONE);
    ck_assert_int_eq(db_prepare(db, "SELECT count(*) FROM t WHERE ?1 IS NULL OR id = ?1", &st), 0);
    ck_assert_int_eq(db_param_count(st), 1);
    db_bind_blob(st, 1, NULL, 0);
    ck_assert_msg(db_step(st) == DB_ROW, "%s", db_errmsg(db));
    ck_assert_int_eq(db_col_int64(st, 0), 2);
    db_reset(st);
    db_bind_blob(st, 1, &id, 1);
    ck_assert_int_eq(db_step(st), DB_ROW);
    ck_assert_int_eq(db_col_int64(st, 0), 1);
    db_reset(st);
    ck_assert_int_eq(db_step(st), DB_ROW);
    ck_assert_int_eq(db_col_int64(st, 0), 1);
    db_reset(st);
    db_clear_bindings(st);
    db_bind_blob(st, 1, NULL, 0);
    ck_assert_int_eq(db_step(st), DB_ROW);
    ck_assert_int_eq(db_col_int64(st, 0), 2);
    db_finalize(st);
    db_close(db);
}
END_TEST

/* ON CONFLICT DO UPDATE with the old row's columns qualified by the table's
 * name (PostgreSQL refuses them bare as ambiguous) and excluded, and DO
 * NOTHING: the upsert form both backends accept. */
START_TEST(upserts)
{
    struct db *db = open_db();
    struct db_stmt *st;
    exec_schema(db, T_SCHEMA);
    ck_assert_int_eq(db_prepare(db,
                                "INSERT INTO t (id, n) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE "
                                "SET n = t.n + excluded.n",
                                &st),
                     0);
    for (int i = 0; i < 3; i++) {
        uint8_t id = 7;
        db_reset(st);
        db_bind_blob(st, 1, &id, 1);
        db_bind_int64(st, 2, 5);
        ck_assert_int_eq(db_step(st), DB_DONE);
    }
    db_finalize(st);
    ck_assert_int_eq(db_prepare(db, "SELECT n FROM t", &st), 0);
    ck_assert_int_eq(db_step(st), DB_ROW);
    ck_assert_int_eq(db_col_int64(st, 0), 15);
    db_finalize(st);
    ck_assert_int_eq(
        db_prepare(db, "INSERT INTO t (id, n) VALUES (?1, 1) ON CONFLICT DO NOTHING", &st), 0);
    uint8_t id = 7;
    db_bind_blob(st, 1, &id, 1);
    ck_assert_int_eq(db_step(st), DB_DONE);
    ck_assert_int_eq(db_changes(db), 0);
    db_finalize(st);
    ck_assert_int_eq(count_t(db), 1);
    db_close(db);
}
END_TEST

START_TEST(errors_mapped)
{
    struct db *db = open_db();
    struct db_stmt *st;
    exec_schema(db, T_SCHEMA);
    ck_assert_int_eq(put(db, 1, 1, "x"), DB_DONE);
    ck_assert_int_eq(put(db, 1, 2, "y"), -EEXIST);
    ck_assert_str_ne(db_errmsg(db), "");
    ck_assert_int_eq(db_exec(db, "INSERT INTO u (v) VALUES (-1)"), -EINVAL);
    uint8_t id = 9;
    ck_assert_int_eq(db_prepare(db, "INSERT INTO t (id) VALUES (?1)", &st), 0);
    db_bind_blob(st, 1, &id, 1);
    ck_assert_int_eq(db_step(st), -EINVAL); /* n NOT NULL */
    db_finalize(st);
    ck_assert_int_eq(db_exec(db, "INSERT INTO nosuch VALUES (1)"), -EIO);
    ck_assert_int_eq(db_prepare(db, "SELEKT 1", &st) == 0 ? db_step(st) : -EIO, -EIO);
    if (dbfix_pg) {
        db_finalize(st); /* PostgreSQL parses at the first step */
    }
    ck_assert_int_eq(count_t(db), 1);
    db_close(db);
}
END_TEST

START_TEST(transactions)
{
    struct db *a = open_db(), *b;
    exec_schema(a, T_SCHEMA);
    b = open_db();
    ck_assert(!db_in_tx(a));
    ck_assert_int_eq(db_begin(a), 0);
    ck_assert(db_in_tx(a));
    ck_assert_int_eq(put(a, 1, 1, NULL), DB_DONE);
    ck_assert_int_eq(count_t(b), 0); /* not committed yet */
    ck_assert_int_eq(db_rollback(a), 0);
    ck_assert(!db_in_tx(a));
    ck_assert_int_eq(count_t(a), 0);
    ck_assert_int_eq(db_begin(a), 0);
    ck_assert_int_eq(put(a, 1, 1, NULL), DB_DONE);
    ck_assert_int_eq(put(a, 2, 1, NULL), DB_DONE);
    ck_assert_int_eq(db_commit(a), 0);
    ck_assert_int_eq(count_t(b), 2);
    /* A failed statement, then a rollback: the handle works again. */
    ck_assert_int_eq(db_begin(a), 0);
    ck_assert_int_eq(put(a, 3, 1, NULL), DB_DONE);
    ck_assert_int_eq(put(a, 1, 1, NULL), -EEXIST);
    ck_assert(db_in_tx(a));
    ck_assert_int_eq(db_rollback(a), 0);
    ck_assert_int_eq(count_t(a), 2);
    db_close(b);
    db_close(a);
}
END_TEST

/* Writers run one at a time: a second db_begin waits for the first and
 * gives up with -EBUSY after DB_LOCK_TIMEOUT_MS (the first never ends). */
START_TEST(write_lock)
{
    struct db *a = open_db(), *b;
    exec_schema(a, T_SCHEMA);
    b = open_db();
    ck_assert_int_eq(db_begin(a), 0);
    ck_assert_int_eq(put(a, 1, 1, NULL), DB_DONE);
    ck_assert_int_eq(db_begin(b), -EBUSY);
    ck_assert(!db_in_tx(b));
    ck_assert_int_eq(db_commit(a), 0);
    ck_assert_int_eq(db_begin(b), 0);
    ck_assert_int_eq(put(b, 2, 1, NULL), DB_DONE);
    ck_assert_int_eq(db_commit(b), 0);
    ck_assert_int_eq(count_t(a), 2);
    db_close(b);
    db_close(a);
}
END_TEST

START_TEST(schema_version)
{
    struct db *a = open_db(), *b;
    int64_t v = -1;
    ck_assert_int_eq(db_schema_version(a, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(db_begin(a), 0);
    ck_assert_int_eq(db_set_schema_version(a, 7), 0);
    ck_assert_int_eq(db_commit(a), 0);
    b = open_db();
    ck_assert_int_eq(db_schema_version(b, &v), 0);
    ck_assert_int_eq(v, 7);
    db_close(b);
    db_close(a);
}
END_TEST

/* A commit on another connection to a tracked table changes the version;
 * on PostgreSQL a write to another table does not. */
START_TEST(data_version)
{
    struct db *a = open_db(), *b;
    static const char *const tracked[] = {"t", NULL};
    int64_t v0, v1, v2;
    exec_schema(a, T_SCHEMA);
    ck_assert_int_eq(db_begin(a), 0);
    ck_assert_int_eq(db_track_changes(a, tracked), 0);
    ck_assert_int_eq(db_commit(a), 0);
    b = open_db();
    ck_assert_int_eq(db_data_version(a, &v0), 0);
    ck_assert_int_eq(db_data_version(a, &v1), 0);
    ck_assert(v0 == v1);
    ck_assert_int_eq(put(b, 1, 1, NULL), DB_DONE);
    ck_assert_int_eq(db_data_version(a, &v1), 0);
    ck_assert(v1 != v0);
    ck_assert_int_eq(db_exec(b, "INSERT INTO u (v) VALUES (1)"), 0);
    ck_assert_int_eq(db_data_version(a, &v2), 0);
    if (dbfix_pg) {
        ck_assert(v2 == v1);
    }
    ck_assert_int_eq(db_exec(b, "UPDATE t SET n = 2"), 0);
    ck_assert_int_eq(db_data_version(a, &v2), 0);
    ck_assert(v2 != v1);
    db_close(b);
    db_close(a);
}
END_TEST

START_TEST(schema_translation)
{
    char *pg = db_schema_pg("CREATE TABLE x (\n  seq  INTEGER  PRIMARY KEY,\n  e INTEGER "
                            "PRIMARY KEY AUTOINCREMENT, b BLOB, c BLOBS, INTEGERS INTEGER,\n"
                            "  d MYINTEGER) WITHOUT ROWID;");
    ck_assert_ptr_nonnull(pg);
    ck_assert_str_eq(pg, "CREATE TABLE x (\n  seq  BIGINT GENERATED BY DEFAULT AS IDENTITY "
                         "PRIMARY KEY,\n  e BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                         "b BYTEA, c BLOBS, INTEGERS BIGINT,\n  d MYINTEGER) ;");
    free(pg);
}
END_TEST

/* SQLite-only blocks (schema 008's triggers) are left out for PostgreSQL,
 * from a line starting with the begin marker through the end marker's line;
 * a marker not at a line's start is text. */
START_TEST(schema_sqlite_only_blocks)
{
    char *pg = db_schema_pg(
        "CREATE TABLE a (x INTEGER);\n" DB_SQLITE_ONLY_BEGIN "\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\nEND;\n" DB_SQLITE_ONLY_END
        "\nCREATE TABLE b (y BLOB); -- " DB_SQLITE_ONLY_BEGIN "\n" DB_SQLITE_ONLY_BEGIN
        "\nCREATE TRIGGER u;\n");
    ck_assert_ptr_nonnull(pg);
    ck_assert_str_eq(
        pg, "CREATE TABLE a (x BIGINT);\nCREATE TABLE b (y BYTEA); -- " DB_SQLITE_ONLY_BEGIN "\n");
    free(pg);
}
END_TEST

/* The columns of every table as "table.column type notnull" lines, types
 * in PostgreSQL's names, lr_meta (PostgreSQL's own) left out. */
static void columns(struct db *db, char *out, size_t cap)
{
    struct db_stmt *st;
    const char *sql =
        db_kind(db) == DB_PG
            ? "SELECT table_name, column_name, data_type, is_nullable = 'NO' FROM "
              "information_schema.columns WHERE table_schema = current_schema() AND table_name "
              "<> 'lr_meta' ORDER BY table_name COLLATE \"C\", column_name COLLATE \"C\""
            : "SELECT m.name, p.name, CASE p.type WHEN 'INTEGER' THEN 'bigint' WHEN 'BLOB' "
              "THEN 'bytea' WHEN 'TEXT' THEN 'text' ELSE p.type END, p.\"notnull\" OR p.pk > 0 "
              "FROM sqlite_schema m, pragma_table_info(m.name) p WHERE m.type = 'table' AND "
              "m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.name";
    size_t o = 0;
    out[0] = '\0';
    ck_assert_int_eq(db_prepare(db, sql, &st), 0);
    int r;
    while ((r = db_step(st)) == DB_ROW) {
        o += (size_t)snprintf(out + o, cap - o, "%s.%s %s %d\n", db_col_text(st, 0),
                              db_col_text(st, 1), db_col_text(st, 2), (int)db_col_int64(st, 3));
        ck_assert_uint_lt(o, cap);
    }
    ck_assert_int_eq(r, DB_DONE);
    db_finalize(st);
}

static void migrate_all(struct db *db)
{
    ck_assert_int_eq(db_begin(db), 0);
    for (int i = 0; i < schema_migrations_count; i++) {
        exec_schema(db, schema_migrations[i].sql);
    }
    ck_assert_int_eq(db_set_schema_version(db, schema_migrations_count), 0);
    ck_assert_int_eq(db_commit(db), 0);
}

/* Every migration of schema/ applies; on the PostgreSQL run, the tables
 * and columns equal those of an SQLite database migrated beside it. */
START_TEST(migrations_same_schema)
{
    static char mine[16384], sqlite[16384];
    struct db *db = open_db();
    migrate_all(db);
    columns(db, mine, sizeof(mine));
    ck_assert_ptr_nonnull(strstr(mine, "links.a_key bytea 1\n"));
    ck_assert_ptr_nonnull(strstr(mine, "events.id bigint 1\n"));
    if (dbfix_pg) {
        char dir[] = "/tmp/test_db.XXXXXX", path[64];
        struct db *sq;
        char err[256];
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/s.db", dir);
        ck_assert_int_eq(db_open(path, DB_OPEN_CREATE, &sq, err, sizeof(err)), 0);
        migrate_all(sq);
        columns(sq, sqlite, sizeof(sqlite));
        db_close(sq);
        unlink(path);
        rmdir(dir);
        ck_assert_str_eq(mine, sqlite);
    }
    db_close(db);
}
END_TEST

START_TEST(target_kinds)
{
    char shown[128];
    ck_assert(db_target_is_pg("postgresql:///r?host=/run/x"));
    ck_assert(db_target_is_pg("postgres://u@h/r"));
    ck_assert(!db_target_is_pg("/var/lib/linkrelay/linkrelay.db"));
    ck_assert(!db_target_is_pg("postgresql.db"));
    db_target_shown("postgresql://u:s3cret@h:5432/r?sslmode=require&password=x2&a=b", shown,
                    sizeof(shown));
    ck_assert_str_eq(shown, "postgresql://u:***@h:5432/r?sslmode=require&password=***&a=b");
    db_target_shown("postgresql://u@h/r", shown, sizeof(shown));
    ck_assert_str_eq(shown, "postgresql://u@h/r");
    db_target_shown("/a/b:c@d", shown, sizeof(shown));
    ck_assert_str_eq(shown, "/a/b:c@d");
    db_target_shown("postgresql://u:s3cret@h/r", shown, 12);
    ck_assert_str_eq(shown, "postgresql:");
}
END_TEST

static void show_setting(struct db *db, const char *name, const char *want)
{
    char sql[96];
    struct db_stmt *st;
    snprintf(sql, sizeof(sql), "SELECT current_setting('%s')", name);
    ck_assert_int_eq(db_prepare(db, sql, &st), 0);
    ck_assert_int_eq(db_step(st), DB_ROW);
    ck_assert_str_eq(db_col_text(st, 0), want);
    db_finalize(st);
}

/* A connection the server ends (as on a restart) is made again before the
 * next statement, with the session settings of the first (D38): they travel
 * in the startup packet, not as SET statements a new connection would forget. */
START_TEST(pg_reconnect_keeps_settings)
{
    if (!dbfix_pg) {
        return;
    }
    db_set_deadline(7000); /* the server's statement_timeout follows it */
    struct db *db = open_db();
    struct db *other = open_db();
    struct db_stmt *st;
    show_setting(db, "statement_timeout", "7s");
    show_setting(db, "lock_timeout", "5s");
    ck_assert_int_eq(db_exec(other,
                             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()"),
                     0);
    /* The first statement finds the connection gone: an error, nothing hangs. */
    ck_assert_int_eq(db_prepare(db, "SELECT 1", &st), 0);
    int r = db_step(st);
    db_finalize(st);
    ck_assert_msg(r == -EIO || r == DB_ROW, "first statement after the kill: %d", r);
    show_setting(db, "statement_timeout", "7s");
    show_setting(db, "lock_timeout", "5s");
    show_setting(db, "bytea_output", "hex");
    db_close(other);
    db_close(db);
    db_set_deadline(0);
}
END_TEST

/* An unreachable server: a clear error, no hang (libpq fails at once on a
 * missing socket). */
START_TEST(pg_unreachable)
{
    struct db *db = NULL;
    char err[512];
    int r = db_open("postgresql://lrtest:pw@/x?host=/nonexistent-dir", 0, &db, err, sizeof(err));
    ck_assert_int_eq(r, -EIO);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(err, "postgresql://lrtest:***@/x?host=/nonexistent-dir"));
    ck_assert_ptr_null(strstr(err, "pw@"));
}
END_TEST

/* A connection lost inside a transaction (D38): every call fails until the
 * transaction's ROLLBACK (0: the server dropped it) instead of a new
 * connection running the rest of it in autocommit; then a call connects
 * again. */
START_TEST(pg_lost_in_transaction)
{
    if (!dbfix_pg) {
        return;
    }
    struct db *db = open_db();
    struct db *other = open_db();
    struct db_stmt *st;
    ck_assert_int_eq(db_exec(db, "CREATE TABLE IF NOT EXISTS lost_tx (v BIGINT)"), 0);
    ck_assert_int_eq(db_exec(db, "DELETE FROM lost_tx"), 0);
    ck_assert_int_eq(db_begin(db), 0);
    ck_assert_int_eq(db_exec(other,
                             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()"),
                     0);
    ck_assert_int_eq(db_exec(db, "INSERT INTO lost_tx VALUES (1)"), -EIO);
    ck_assert_int_eq(db_exec(db, "INSERT INTO lost_tx VALUES (2)"), -EIO);
    ck_assert_ptr_nonnull(strstr(db_errmsg(db), "lost in a transaction"));
    ck_assert(db_in_tx(db));
    ck_assert_int_eq(db_rollback(db), 0);
    ck_assert(!db_in_tx(db));
    ck_assert_int_eq(db_prepare(db, "SELECT count(*) FROM lost_tx", &st), 0);
    ck_assert_int_eq(db_step(st), DB_ROW);
    ck_assert_int_eq(db_col_int64(st, 0), 0);
    db_finalize(st);
    ck_assert_int_eq(db_exec(db, "DROP TABLE lost_tx"), 0);
    db_close(other);
    db_close(db);
}
END_TEST

/* A server that takes the connection and never answers (a Unix socket
 * listening, never accepted: the kernel completes the connect): the open
 * fails with the reason after the connect's bound, the deadline plus its
 * slack (1 s), instead of waiting for ever (D38). */
START_TEST(pg_no_answer)
{
    char dir[] = "/tmp/test_db_hung.XXXXXX", sock[96], url[160], err[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "%s/.s.PGSQL.5432", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    snprintf(url, sizeof(url), "postgresql://lrtest@/x?host=%s&port=5432", dir);
    db_set_deadline(1000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct db *db = NULL;
    int r = db_open(url, 0, &db, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    db_set_deadline(0);
    close(fd);
    unlink(sock);
    rmdir(dir);
    int64_t ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("pg_no_answer: open failed after %lld ms: %s\n", (long long)ms, err);
    ck_assert_int_eq(r, -EIO);
    ck_assert_ptr_null(db);
    ck_assert_msg(strstr(err, "no answer from the server to connect within") != NULL, "%s", err);
    ck_assert_int_ge(ms, 2000);
}
END_TEST

static Suite *db_suite(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, values_round_trip);
    tcase_add_test(tc, parameters_and_reset);
    tcase_add_test(tc, upserts);
    tcase_add_test(tc, errors_mapped);
    tcase_add_test(tc, transactions);
    tcase_add_test(tc, write_lock);
    tcase_add_test(tc, schema_version);
    tcase_add_test(tc, data_version);
    tcase_add_test(tc, migrations_same_schema);
    tcase_add_test(tc, pg_reconnect_keeps_settings);
    tcase_add_test(tc, pg_lost_in_transaction);
    suite_add_tcase(s, tc);
    TCase *plain = tcase_create("plain");
    tcase_set_timeout(plain, 60);
    tcase_add_test(plain, schema_translation);
    tcase_add_test(plain, schema_sqlite_only_blocks);
    tcase_add_test(plain, target_kinds);
    tcase_add_test(plain, pg_unreachable);
    tcase_add_test(plain, pg_no_answer);
    suite_add_tcase(s, plain);
    return s;
}

int main(void)
{
    return dbfix_main(db_suite);
}
