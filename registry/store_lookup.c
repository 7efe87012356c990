// SPDX-License-Identifier: MIT
/*
 * store_lookup — one link as a relay serves it, by its id (docs/design.md
 * D42): the relay resolves each AUTH of a link it does not hold with this,
 * on its sync worker, instead of loading every link of the registry.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

int store_link_lookup(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], struct store_link *out,
                      struct store_allow *allow)
{
    int r = store_link_get(st, id, out);

    if (r == 0)
        r = store_quota_get(st, out);
    if (r == 0)
        r = store_allow_get(st, id, allow);
    return r;
}

/* Binds ids[0..k) to ?1..?k and the last of them to the rest. */
static void bind_batch(struct db_stmt *s, const uint8_t (*ids)[STORE_LINK_ID_LEN], size_t k)
{
    for (size_t i = 0; i < STORE_LOOKUP_BATCH; i++)
        db_bind_blob(s, (int)i + 1, ids[i < k ? i : k - 1], STORE_LINK_ID_LEN);
}

/* The entry of recs[first..got) whose id is the row's column 0; -1 if none. */
static ptrdiff_t batch_find(struct db_stmt *s, const struct store_link *recs, size_t first,
                            size_t got)
{
    uint8_t id[STORE_LINK_ID_LEN];

    if (!db_col_blob(s, 0, id, sizeof(id)))
        return -1;
    for (size_t j = first; j < got; j++)
        if (memcmp(recs[j].id, id, sizeof(id)) == 0)
            return (ptrdiff_t)j;
    return -1;
}

/* One batch of k <= STORE_LOOKUP_BATCH ids, appended at recs[*got]: the
 * links, then their quotas, then their allowlists (ordered by link, side,
 * cidr, as store_allow_get reads one link's). */
static int lookup_batch(struct store *st, const uint8_t (*ids)[STORE_LINK_ID_LEN], size_t k,
                        struct store_link *recs, struct store_allow *allows, size_t *got,
                        size_t cap)
{
    static const enum stmt_id stmts[3] = {S_LINKS_BY_IDS, S_QUOTAS_BY_IDS, S_ALLOWS_BY_IDS};
    static const char *const what[3] = {"read links", "read quotas", "read allowlists"};
    size_t first = *got;

    for (int t = 0; t < 3; t++) {
        struct db_stmt *s;
        int rc, r = store_stmt_get(st, stmts[t], &s);
        if (r < 0)
            return r;
        bind_batch(s, ids, k);
        while ((rc = db_step(s)) == DB_ROW) {
            ptrdiff_t j = t == 0 ? (ptrdiff_t)*got : batch_find(s, recs, first, *got);
            if (t == 0 && *got < cap) {
                store_row_to_link(s, &recs[j]);
                recs[j].has_quota = 0;
                memset(&recs[j].quota, 0, sizeof(recs[j].quota));
                memset(&allows[j], 0, sizeof(allows[j]));
                (*got)++;
            } else if (t == 1 && j >= 0) {
                store_quota_row(s, 1, &recs[j].quota);
                recs[j].has_quota = 1;
            } else if (t == 2 && j >= 0) {
                store_allow_row(s, &allows[j]);
            }
        }
        db_reset(s);
        if (rc != DB_DONE)
            return store_db_fail(st, rc, what[t]);
    }
    return 0;
}

int store_links_lookup_many(struct store *st, const uint8_t (*ids)[STORE_LINK_ID_LEN], size_t n,
                            struct store_link *recs, struct store_allow *allows, size_t *found)
{
    *found = 0;
    for (size_t at = 0; at < n; at += STORE_LOOKUP_BATCH) {
        size_t k = n - at < STORE_LOOKUP_BATCH ? n - at : STORE_LOOKUP_BATCH;
        int r = lookup_batch(st, ids + at, k, recs, allows, found, n);
        if (r != 0)
            return r;
    }
    return 0;
}

/* The statements store_link_lookup runs, in its order, then the one that
 * finds the due key overlaps (store_links_expire, at every relay's start). */
static const enum stmt_id lookup_stmts[STORE_LOOKUP_STMTS] = {
    S_LINK_BY_ID,    S_QUOTA_LINK,    S_ALLOW_LINK, S_LINKS_BY_IDS,
    S_QUOTAS_BY_IDS, S_ALLOWS_BY_IDS, S_LINK_DUE};

/* ?1 is a link id, or (as_int) an integer. */
static int plan_run(struct store *st, const char *query, bool as_int, store_plan_cb cb, void *arg)
{
    bool pg = db_kind(store_db(st)) == DB_PG;
    static const uint8_t zero[STORE_LINK_ID_LEN];
    char sql[2048];
    struct db_stmt *s;
    int rc, r;

    snprintf(sql, sizeof(sql), "%s %s", pg ? "EXPLAIN" : "EXPLAIN QUERY PLAN", query);
    r = store_prepare(st, sql, &s);
    if (r < 0)
        return r;
    if (strstr(query, "?1") != NULL && as_int)
        db_bind_int64(s, 1, 0);
    else if (strstr(query, "?1") != NULL) /* PostgreSQL types $1 from it */
        db_bind_blob(s, 1, zero, sizeof(zero));
    while ((rc = db_step(s)) == DB_ROW) {
        /* SQLite: id, parent, notused, detail; PostgreSQL: one text column. */
        const char *line = db_col_text(s, pg ? 0 : 3);
        r = cb(arg, 0, line != NULL ? line : "");
        if (r != 0)
            break;
    }
    db_finalize(s);
    if (r == 0 && rc != DB_DONE)
        r = store_db_fail(st, rc, "explain");
    return r;
}

int store_plan_of(struct store *st, const char *query, store_plan_cb cb, void *arg)
{
    return plan_run(st, query, false, cb, arg);
}

struct plan_fwd {
    store_plan_cb cb;
    void *arg;
    int stmt;
};

static int plan_fwd(void *arg, int stmt, const char *line)
{
    const struct plan_fwd *f = arg;

    (void)stmt;
    return f->cb(f->arg, f->stmt, line);
}

int store_lookup_explain(struct store *st, store_plan_cb cb, void *arg)
{
    bool pg = db_kind(store_db(st)) == DB_PG;
    int r = 0;

    /* On PostgreSQL a table of a few rows is read whole whatever its
     * indexes; with sequential scans priced out, the plan shows an index
     * scan exactly when an index serves the statement. */
    if (pg && (r = db_exec(store_db(st), "SET enable_seqscan = off")) < 0)
        return store_db_fail(st, r, "explain");
    for (int i = 0; i < STORE_LOOKUP_STMTS && r == 0; i++) {
        struct plan_fwd f = {cb, arg, i};
        r = plan_run(st, store_stmt_text(lookup_stmts[i]), lookup_stmts[i] == S_LINK_DUE, plan_fwd,
                     &f);
    }
    if (pg) {
        int r2 = db_exec(store_db(st), "RESET enable_seqscan");
        if (r == 0 && r2 < 0)
            r = store_db_fail(st, r2, "explain");
    }
    return r;
}
