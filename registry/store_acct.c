/* SPDX-License-Identifier: MIT */
/*
 * store_acct — the store's accounting and event log: close causes, stream
 * rows and per-link totals (written by the relay in batches), events
 * (written by both programs, listed by linkctl). See store.h for the API and
 * store_int.h for how it shares the handle with store.c.
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static const char *const cause_names[STORE_CAUSE_COUNT] = {"fin",   "reset", "timeout", "revoked",
                                                           "limit", "error", "quota"};
#define CAUSE_COUNT ((int)(sizeof(cause_names) / sizeof(cause_names[0])))

const char *store_cause_name(int cause)
{
    if (cause == STORE_CAUSE_NONE) {
        return "none";
    }
    if (cause < 0 || cause >= CAUSE_COUNT) {
        return NULL;
    }
    return cause_names[cause];
}

int store_cause_parse(const char *s, enum store_cause *out)
{
    for (int i = 0; i < CAUSE_COUNT; i++) {
        if (strcmp(s, cause_names[i]) == 0) {
            *out = (enum store_cause)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- accounting ---- */

int store_link_totals(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                      struct store_totals *out)
{
    struct db_stmt *s;
    struct store_totals t = {0, 0, 0, STORE_CAUSE_NONE, 0};
    int r = store_stmt_get(st, S_TOTALS_GET, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    int rc = db_step(s);
    if (rc == DB_ROW) {
        enum store_cause c;
        const char *cause = db_col_text(s, 3);
        t.streams = (uint64_t)db_col_int64(s, 0);
        t.bytes_a_to_b = (uint64_t)db_col_int64(s, 1);
        t.bytes_b_to_a = (uint64_t)db_col_int64(s, 2);
        if (cause != NULL && store_cause_parse((const char *)cause, &c) == 0) {
            t.last_cause = c;
        }
        t.last_closed_ms = db_col_int64(s, 4);
    }
    db_reset(s);
    if (rc != DB_ROW && rc != DB_DONE) {
        return store_db_fail(st, rc, "link totals");
    }
    *out = t;
    return 0;
}

static int stream_insert(struct store *st, const struct store_stream *x)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_STREAM_INSERT, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, x->link_id, STORE_LINK_ID_LEN);
    db_bind_int64(s, 2, (int64_t)x->stream_id);
    db_bind_int64(s, 3, x->opener);
    db_bind_int64(s, 4, x->started_ms);
    db_bind_int64(s, 5, x->ended_ms);
    db_bind_int64(s, 6, x->wait_ms);
    db_bind_int64(s, 7, (int64_t)x->bytes_a_to_b);
    db_bind_int64(s, 8, (int64_t)x->bytes_b_to_a);
    db_bind_text(s, 9, cause_names[x->cause]);
    r = store_stmt_done(st, s, "insert stream");
    if (r < 0) {
        return r;
    }
    r = store_stmt_get(st, S_TOTALS_ADD, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, x->link_id, STORE_LINK_ID_LEN);
    db_bind_int64(s, 2, (int64_t)x->bytes_a_to_b);
    db_bind_int64(s, 3, (int64_t)x->bytes_b_to_a);
    db_bind_text(s, 4, cause_names[x->cause]);
    db_bind_int64(s, 5, x->ended_ms);
    return store_stmt_done(st, s, "update totals");
}

int store_streams_record(struct store *st, const struct store_stream *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((x[i].opener != STORE_SIDE_A && x[i].opener != STORE_SIDE_B) || x[i].cause < 0 ||
            x[i].cause >= CAUSE_COUNT) {
            store_set_err(st, "stream record %zu: bad opener or cause", i);
            return -EINVAL;
        }
    }
    int r = store_tx_begin(st);
    for (size_t i = 0; r == 0 && i < n; i++) {
        int exists = 0;
        r = store_link_exists(st, x[i].link_id, &exists);
        if (r == 0 && exists) {
            r = stream_insert(st, &x[i]);
        }
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}

/* ---- events ---- */

int store_events_add(struct store *st, const struct store_event *ev, size_t n)
{
    int64_t now = store_now_ms();
    int r = store_tx_begin(st);
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = store_event_insert(st, ev[i].ts_ms ? ev[i].ts_ms : now, ev[i].kind,
                               ev[i].has_link ? ev[i].link_id : NULL, ev[i].addr, ev[i].detail,
                               ev[i].count);
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}

static void row_to_event(struct db_stmt *s, struct store_event *e)
{
    memset(e, 0, sizeof(*e));
    e->id = db_col_int64(s, 0);
    e->ts_ms = db_col_int64(s, 1);
    store_col_text(s, 2, e->kind, sizeof(e->kind));
    store_col_blob(s, 3, e->link_id, sizeof(e->link_id), &e->has_link);
    store_col_text(s, 4, e->link_name, sizeof(e->link_name));
    store_col_text(s, 5, e->addr, sizeof(e->addr));
    store_col_text(s, 6, e->detail, sizeof(e->detail));
    e->count = (uint32_t)db_col_int64(s, 7);
}

int store_events_list(struct store *st, const uint8_t *link_id, size_t limit, store_event_cb cb,
                      void *arg)
{
    struct db_stmt *s;
    struct store_event e;
    int rc;
    int r = store_stmt_get(st, S_EVENTS_LIST, &s);
    if (r < 0) {
        return r;
    }
    /* NULL (all links) as a typed NULL: PostgreSQL must know ?1's type. */
    db_bind_blob(s, 1, link_id, link_id != NULL ? STORE_LINK_ID_LEN : 0);
    db_bind_int64(s, 2, limit == 0 || limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    while ((rc = db_step(s)) == DB_ROW) {
        row_to_event(s, &e);
        r = cb(arg, &e);
        if (r != 0) {
            db_reset(s);
            return r;
        }
    }
    db_reset(s);
    if (rc != DB_DONE) {
        return store_db_fail(st, rc, "list events");
    }
    return 0;
}
