/* SPDX-License-Identifier: MIT */
/*
 * store_retain — retention (docs/design.md D31): old stream rows rolled into
 * per-link, per-day sums (stream_days) and deleted, old events deleted, in
 * bounded transactions; and the per-day figures of a link. The relay calls
 * the prunes from a worker thread on a handle of its own (relay/prune.c).
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>

/* The batch: the oldest `limit` rows that ended before the cutoff. Both
 * statements run in one IMMEDIATE transaction, so they see the same rows. */
#define STREAMS_BATCH "SELECT seq FROM streams WHERE ended_ms < ?1 ORDER BY ended_ms, seq LIMIT ?2"

static const char sql_roll[] =
    "INSERT INTO stream_days (link_id, day, streams, bytes_a_to_b, bytes_b_to_a) "
    "SELECT link_id, ended_ms / 86400000, count(*), sum(bytes_a_to_b), sum(bytes_b_to_a) "
    "FROM streams WHERE seq IN (" STREAMS_BATCH ") GROUP BY link_id, ended_ms / 86400000 "
    "ON CONFLICT (link_id, day) DO UPDATE SET streams = stream_days.streams + excluded.streams, "
    "bytes_a_to_b = stream_days.bytes_a_to_b + excluded.bytes_a_to_b, "
    "bytes_b_to_a = stream_days.bytes_b_to_a + excluded.bytes_b_to_a";
static const char sql_streams_delete[] = "DELETE FROM streams WHERE seq IN (" STREAMS_BATCH ")";
static const char sql_events_delete[] = "DELETE FROM events WHERE id IN (SELECT id FROM events "
                                        "WHERE ts_ms < ?1 ORDER BY ts_ms, id LIMIT ?2)";
static const char sql_days[] =
    "SELECT day, sum(n), sum(a), sum(b) FROM ("
    "SELECT day, streams AS n, bytes_a_to_b AS a, bytes_b_to_a AS b FROM stream_days "
    "WHERE link_id = ?1 AND day >= ?2 UNION ALL "
    "SELECT ended_ms / 86400000, 1, bytes_a_to_b, bytes_b_to_a FROM streams "
    "WHERE link_id = ?1 AND ended_ms >= ?2 * 86400000) AS d GROUP BY day ORDER BY day";

/* Prepares sql and binds ?1 and ?2. */
static int prep2(struct store *st, const char *sql, int64_t a, int64_t b, struct db_stmt **out,
                 const char *what)
{
    int r = db_prepare(store_handle(st), sql, out);

    if (r < 0) {
        *out = NULL;
        return store_db_fail(st, r, what);
    }
    db_bind_int64(*out, 1, a);
    db_bind_int64(*out, 2, b);
    return 0;
}

/* Runs sql (binding cutoff and limit) to its end; *changes = rows changed. */
static int run2(struct store *st, const char *sql, int64_t cutoff, unsigned limit, size_t *changes,
                const char *what)
{
    struct db_stmt *s;
    int rc, r = prep2(st, sql, cutoff, (int64_t)limit, &s, what);

    if (r < 0)
        return r;
    rc = db_step(s);
    db_finalize(s);
    if (rc != DB_DONE)
        return store_db_fail(st, rc, what);
    if (changes != NULL)
        *changes = (size_t)db_changes(store_handle(st));
    return 0;
}

int store_streams_prune(struct store *st, int64_t cutoff_ms, unsigned limit, size_t *pruned)
{
    size_t n = 0;
    int r;

    *pruned = 0;
    if (limit == 0)
        return -EINVAL;
    r = store_tx_begin(st);
    if (r == 0)
        r = run2(st, sql_roll, cutoff_ms, limit, NULL, "roll streams into days");
    if (r == 0)
        r = run2(st, sql_streams_delete, cutoff_ms, limit, &n, "prune streams");
    if (r < 0)
        return store_tx_fail(st, r);
    r = store_tx_commit(st);
    if (r == 0)
        *pruned = n;
    return r;
}

int store_events_prune(struct store *st, int64_t cutoff_ms, unsigned limit, size_t *pruned)
{
    size_t n = 0;
    int r;

    *pruned = 0;
    if (limit == 0)
        return -EINVAL;
    r = store_tx_begin(st);
    if (r == 0)
        r = run2(st, sql_events_delete, cutoff_ms, limit, &n, "prune events");
    if (r < 0)
        return store_tx_fail(st, r);
    r = store_tx_commit(st);
    if (r == 0)
        *pruned = n;
    return r;
}

int store_link_days(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int64_t since_day,
                    store_day_cb cb, void *arg)
{
    struct db_stmt *s;
    struct store_day d;
    int rc, r = prep2(st, sql_days, 0, since_day, &s, "link days");

    if (r < 0)
        return r;
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    while ((rc = db_step(s)) == DB_ROW) {
        d.day = db_col_int64(s, 0);
        d.streams = (uint64_t)db_col_int64(s, 1);
        d.bytes_a_to_b = (uint64_t)db_col_int64(s, 2);
        d.bytes_b_to_a = (uint64_t)db_col_int64(s, 3);
        r = cb(arg, &d);
        if (r != 0) {
            db_finalize(s);
            return r;
        }
    }
    db_finalize(s);
    if (rc != DB_DONE)
        return store_db_fail(st, rc, "link days");
    return 0;
}
