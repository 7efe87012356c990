// SPDX-License-Identifier: MIT
/*
 * store_pool — pool membership rows and the links version (docs/design.md
 * D34, schema 008). See store.h; the arrow runs store_pool.c → store.c.
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
    char *msg = NULL;
    int rc = sqlite3_exec(store_handle(st), "PRAGMA synchronous = NORMAL", NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        store_set_err(st, "synchronous: %s", msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

int store_member_beat(struct store *st, const struct store_member *m)
{
    sqlite3_stmt *s;
    size_t na = strlen(m->addrs);
    int r;

    if (!member_id_ok(m->id) || na == 0 || na > STORE_MEMBER_ADDRS_MAX) {
        store_set_err(st, "member id or address list out of range");
        return -EINVAL;
    }
    r = store_prepare(st,
                      "INSERT OR REPLACE INTO members (id, addrs, sessions, streams, beat_ms, "
                      "started_ms, addrs_ok) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      &s);
    if (r < 0)
        return r;
    sqlite3_bind_text(s, 1, m->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m->addrs, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)m->sessions);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)m->streams);
    sqlite3_bind_int64(s, 5, m->beat_ms);
    sqlite3_bind_int64(s, 6, m->started_ms);
    sqlite3_bind_int(s, 7, m->addrs_ok ? 1 : 0);
    r = store_stmt_done(st, s, "member heartbeat");
    sqlite3_finalize(s);
    return r;
}

int store_members_load(struct store *st, store_member_cb cb, void *arg)
{
    struct store_member m;
    sqlite3_stmt *s;
    int rc, r = store_prepare(st,
                              "SELECT id, addrs, sessions, streams, beat_ms, started_ms, addrs_ok "
                              "FROM members ORDER BY id",
                              &s);

    if (r < 0)
        return r;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&m, 0, sizeof(m));
        store_col_text(s, 0, m.id, sizeof(m.id));
        store_col_text(s, 1, m.addrs, sizeof(m.addrs));
        m.sessions = (uint64_t)sqlite3_column_int64(s, 2);
        m.streams = (uint64_t)sqlite3_column_int64(s, 3);
        m.beat_ms = sqlite3_column_int64(s, 4);
        m.started_ms = sqlite3_column_int64(s, 5);
        m.addrs_ok = sqlite3_column_int(s, 6) != 0;
        r = cb(arg, &m);
        if (r != 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = store_db_fail(st, rc, "members");
    sqlite3_finalize(s);
    return r;
}

int store_member_forget(struct store *st, const char *id)
{
    sqlite3_stmt *s;
    int r = store_prepare(st, "DELETE FROM members WHERE id = ?1", &s);

    if (r < 0)
        return r;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    r = store_stmt_done(st, s, "forget member");
    if (r == 0 && sqlite3_changes(store_handle(st)) == 0) {
        store_set_err(st, "no such member");
        r = -ENOENT;
    }
    sqlite3_finalize(s);
    return r;
}

int store_links_version(struct store *st, int64_t *out)
{
    sqlite3_stmt *s;
    int rc, r = store_prepare(st, "SELECT links_version FROM registry_version WHERE one = 1", &s);

    if (r < 0)
        return r;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else
        r = store_db_fail(st, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, "links version");
    sqlite3_finalize(s);
    return r;
}
