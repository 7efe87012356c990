// SPDX-License-Identifier: MIT
/*
 * store_pool — pool membership rows and the links version (docs/design.md
 * D34, schemas 008 and 010). See store.h; the arrow runs store_pool.c → store.c.
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <string.h>

static bool member_id_ok(const char *id)
{
    size_t n = strlen(id);

    return n >= 1 && n <= STORE_MEMBER_ID_MAX;
}

int store_pool_relaxed(struct store *st)
{
    /* A commit that returns before its log is flushed: SQLite's NORMAL in
     * WAL mode, PostgreSQL's synchronous_commit off (this session only). */
    struct db *db = store_handle(st);
    int r = db_exec(db, db_kind(db) == DB_PG ? "SET synchronous_commit = off"
                                             : "PRAGMA synchronous = NORMAL");

    return r < 0 ? store_db_fail(st, r, "synchronous") : 0;
}

int store_member_beat(struct store *st, const struct store_member *m)
{
    struct db_stmt *s;
    size_t na = strlen(m->addrs);
    int r;

    if (!member_id_ok(m->id) || na == 0 || na > STORE_MEMBER_ADDRS_MAX ||
        strlen(m->addrs_failing) > STORE_MEMBER_FAILING_MAX) {
        store_set_err(st, "member id or address list out of range");
        return -EINVAL;
    }
    r = store_prepare(st,
                      "INSERT INTO members (id, addrs, sessions, streams, beat_ms, started_ms, "
                      "addrs_ok, addrs_failing) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON "
                      "CONFLICT (id) DO UPDATE SET addrs = excluded.addrs, sessions = "
                      "excluded.sessions, streams = excluded.streams, beat_ms = excluded.beat_ms, "
                      "started_ms = excluded.started_ms, addrs_ok = excluded.addrs_ok, "
                      "addrs_failing = excluded.addrs_failing",
                      &s);
    if (r < 0)
        return r;
    db_bind_text(s, 1, m->id);
    db_bind_text(s, 2, m->addrs);
    db_bind_int64(s, 3, (int64_t)m->sessions);
    db_bind_int64(s, 4, (int64_t)m->streams);
    db_bind_int64(s, 5, m->beat_ms);
    db_bind_int64(s, 6, m->started_ms);
    db_bind_int64(s, 7, m->addrs_ok ? 1 : 0);
    db_bind_text(s, 8, m->addrs_failing);
    r = store_stmt_done(st, s, "member heartbeat");
    db_finalize(s);
    return r;
}

int store_members_load(struct store *st, store_member_cb cb, void *arg)
{
    struct store_member m;
    struct db_stmt *s;
    int rc, r = store_prepare(st,
                              "SELECT id, addrs, sessions, streams, beat_ms, started_ms, addrs_ok, "
                              "addrs_failing FROM members ORDER BY id",
                              &s);

    if (r < 0)
        return r;
    while ((rc = db_step(s)) == DB_ROW) {
        memset(&m, 0, sizeof(m));
        store_col_text(s, 0, m.id, sizeof(m.id));
        store_col_text(s, 1, m.addrs, sizeof(m.addrs));
        m.sessions = (uint64_t)db_col_int64(s, 2);
        m.streams = (uint64_t)db_col_int64(s, 3);
        m.beat_ms = db_col_int64(s, 4);
        m.started_ms = db_col_int64(s, 5);
        m.addrs_ok = db_col_int64(s, 6) != 0;
        store_col_text(s, 7, m.addrs_failing, sizeof(m.addrs_failing));
        r = cb(arg, &m);
        if (r != 0)
            break;
    }
    if (r == 0 && rc != DB_DONE)
        r = store_db_fail(st, rc, "members");
    db_finalize(s);
    return r;
}

int store_member_forget(struct store *st, const char *id)
{
    struct db_stmt *s;
    int r = store_prepare(st, "DELETE FROM members WHERE id = ?1", &s);

    if (r < 0)
        return r;
    db_bind_text(s, 1, id);
    r = store_stmt_done(st, s, "forget member");
    if (r == 0 && db_changes(store_handle(st)) == 0) {
        store_set_err(st, "no such member");
        r = -ENOENT;
    }
    db_finalize(s);
    return r;
}

int store_member_leave(struct store *st, const char *id, int64_t started_ms)
{
    struct db_stmt *s;
    int r = store_prepare(st, "DELETE FROM members WHERE id = ?1 AND started_ms = ?2", &s);

    if (r < 0)
        return r;
    db_bind_text(s, 1, id);
    db_bind_int64(s, 2, started_ms);
    r = store_stmt_done(st, s, "leave the pool");
    db_finalize(s);
    return r;
}

int store_links_version(struct store *st, int64_t *out)
{
    struct db_stmt *s;
    int rc, r;

    /* PostgreSQL: the tracked tables' statement triggers (D33) bump
     * lr_meta.data_version for exactly these tables; SQLite: schema 008's
     * triggers bump registry_version (PRAGMA data_version moves on every
     * commit, heartbeats included). */
    if (db_kind(store_handle(st)) == DB_PG) {
        r = db_data_version(store_handle(st), out);
        return r < 0 ? store_db_fail(st, r, "links version") : 0;
    }
    r = store_prepare(st, "SELECT links_version FROM registry_version WHERE one = 1", &s);
    if (r < 0)
        return r;
    rc = db_step(s);
    if (rc == DB_ROW) {
        *out = db_col_int64(s, 0);
    } else {
        store_set_err(st, "links version: %s",
                      rc == DB_DONE ? "no registry_version row" : db_errmsg(store_handle(st)));
        r = rc == DB_DONE ? -EIO : rc;
    }
    db_finalize(s);
    return r;
}
