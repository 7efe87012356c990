// SPDX-License-Identifier: MIT
/*
 * store_quota — byte quotas per link (link_quota, schema/005_quota.sql,
 * docs/design.md D29): linkctl sets and clears a link's limit and period,
 * the relay loads them with the counters and saves its counters back. See
 * store.h for the API; the statements are prepared per call (they run once
 * per command, or once per second in the relay's accounting worker).
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const period_names[] = {"day", "month"};

const char *store_quota_period_name(int period)
{
    if (period != STORE_QUOTA_DAY && period != STORE_QUOTA_MONTH) {
        return NULL;
    }
    return period_names[period];
}

int store_quota_period_parse(const char *s, enum store_quota_period *out)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(s, period_names[i]) == 0) {
            *out = (enum store_quota_period)i;
            return 0;
        }
    }
    return -EINVAL;
}

#define QUOTA_DAY_MS 86400000LL

/* The start of the UTC calendar month that is m months after the one of
 * the UTC day t_ms falls in (m is 0 or 1). */
static int64_t quota_month(int64_t t_ms, int m)
{
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon += m;
    if (tm.tm_mon == 12) {
        tm.tm_mon = 0;
        tm.tm_year++;
    }
    return (int64_t)timegm(&tm) * 1000;
}

int64_t store_quota_period_start(int period, int64_t now_ms)
{
    if (now_ms < 0) {
        now_ms = 0;
    }
    if (period == STORE_QUOTA_MONTH) {
        return quota_month(now_ms, 0);
    }
    return now_ms - now_ms % QUOTA_DAY_MS;
}

int64_t store_quota_period_next(int period, int64_t start_ms)
{
    if (period == STORE_QUOTA_MONTH) {
        return quota_month(start_ms, 1);
    }
    return store_quota_period_start(period, start_ms) + QUOTA_DAY_MS;
}

/* Runs sql (no rows) with link id as ?1; a statement with more parameters
 * gets limit as ?2, the period's name as ?3 and now as ?4. */
static int quota_run(struct store *st, const char *sql, const uint8_t *id, uint64_t limit,
                     const char *pname, const char *what)
{
    struct db_stmt *s;
    int r = store_prepare(st, sql, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    if (db_param_count(s) >= 4) {
        db_bind_int64(s, 2, (int64_t)limit);
        db_bind_text(s, 3, pname);
        db_bind_int64(s, 4, store_now_ms());
    }
    r = store_stmt_done(st, s, what);
    db_finalize(s);
    return r;
}

static int quota_link_exists(struct store *st, const uint8_t id[STORE_LINK_ID_LEN])
{
    int exists = 0;
    int r = store_link_exists(st, id, &exists);
    if (r == 0 && !exists) {
        store_set_err(st, "no such link");
        r = -ENOENT;
    }
    return r;
}

int store_quota_set(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], uint64_t limit,
                    int period, const char *detail)
{
    const char *pname = store_quota_period_name(period);
    if (pname == NULL || limit > STORE_QUOTA_MAX) {
        store_set_err(st, "bad quota: limit above %llu or bad period",
                      (unsigned long long)STORE_QUOTA_MAX);
        return -EINVAL;
    }
    int r = store_tx_begin(st);
    if (r == 0) {
        r = quota_link_exists(st, id);
    }
    if (r == 0) {
        r = quota_run(st,
                      "INSERT INTO link_quota (link_id, limit_bytes, period, updated_ms) "
                      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (link_id) DO UPDATE SET "
                      "limit_bytes = excluded.limit_bytes, period = excluded.period, "
                      "updated_ms = excluded.updated_ms",
                      id, limit, pname, "set quota");
    }
    if (r == 0) {
        r = store_event_insert(st, store_now_ms(), "quota", id, "", detail, 1);
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}

int store_quota_clear(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], const char *detail)
{
    int r = store_tx_begin(st);
    if (r == 0) {
        r = quota_link_exists(st, id);
    }
    if (r == 0) {
        r = quota_run(st, "DELETE FROM link_quota WHERE link_id = ?1", id, 0, NULL, "clear quota");
    }
    if (r == 0) {
        r = store_event_insert(st, store_now_ms(), "quota", id, "", detail, 1);
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}

void store_quota_row(struct db_stmt *s, int col, struct store_quota *q)
{
    enum store_quota_period p = STORE_QUOTA_DAY;
    const char *pname = db_col_text(s, col + 1);

    memset(q, 0, sizeof(*q));
    q->limit = (uint64_t)db_col_int64(s, col);
    if (pname != NULL) {
        (void)store_quota_period_parse((const char *)pname, &p);
    }
    q->period = p;
    q->used = (uint64_t)db_col_int64(s, col + 2);
    q->start_ms = db_col_int64(s, col + 3);
}

int store_quota_get(struct store *st, struct store_link *link)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_QUOTA_LINK, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, link->id, STORE_LINK_ID_LEN);
    int rc = db_step(s);
    if (rc == DB_ROW) {
        store_quota_row(s, 0, &link->quota);
        link->has_quota = 1;
    } else if (rc == DB_DONE) {
        memset(&link->quota, 0, sizeof(link->quota));
        link->has_quota = 0;
    } else {
        r = store_db_fail(st, rc, "quota");
    }
    db_reset(s);
    return r;
}

int store_quotas_load(struct store *st, store_quota_cb cb, void *arg)
{
    struct db_stmt *s;
    struct store_quota q;
    uint8_t id[STORE_LINK_ID_LEN];
    int rc, r = store_prepare(st,
                              "SELECT link_id, limit_bytes, period, used_bytes, period_start_ms "
                              "FROM link_quota",
                              &s);
    if (r < 0) {
        return r;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        int present = 0;
        store_col_blob(s, 0, id, sizeof(id), &present);
        if (!present) {
            continue;
        }
        store_quota_row(s, 1, &q);
        r = cb(arg, id, &q);
        if (r != 0) {
            break;
        }
    }
    if (r == 0 && rc != DB_DONE) {
        r = store_db_fail(st, rc, "quotas");
    }
    db_finalize(s);
    return r;
}

int store_quota_save(struct store *st, const struct store_quota_use *u, size_t n)
{
    struct db_stmt *s = NULL;
    int r = store_tx_begin(st);
    if (r < 0) {
        return r;
    }
    r = store_prepare(st,
                      "UPDATE link_quota SET used_bytes = CASE WHEN period_start_ms = ?3 "
                      "AND used_bytes > ?2 THEN used_bytes ELSE ?2 END, period_start_ms = ?3 "
                      "WHERE link_id = ?1 AND period_start_ms <= ?3",
                      &s);
    for (size_t i = 0; r == 0 && i < n; i++) {
        db_reset(s);
        db_bind_blob(s, 1, u[i].link_id, STORE_LINK_ID_LEN);
        uint64_t used = u[i].used > STORE_QUOTA_MAX ? STORE_QUOTA_MAX : u[i].used;
        db_bind_int64(s, 2, (int64_t)used);
        db_bind_int64(s, 3, u[i].start_ms);
        r = store_stmt_done(st, s, "save quota use");
    }
    db_finalize(s);
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}
