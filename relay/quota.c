/* SPDX-License-Identifier: MIT */
#include "quota.h"

#include <string.h>

#include <inttypes.h>
#include <stdio.h>

#include "acct.h"
#include "log.h"
#include "stats.h"

bool quota_roll(struct index_quota *q, int64_t now_ms)
{
    int64_t start;

    if (!q->on)
        return false;
    start = store_quota_period_start(q->period, now_ms);
    /* The same period, or a wall clock stepped back behind the period the
     * counter is in: counting goes on in that period. */
    if (q->start_ms == start || (q->start_ms != 0 && start < q->start_ms))
        return false;
    /* A counter not placed yet (a quota just set) keeps what it counted. */
    if (q->start_ms != 0)
        q->used = 0;
    q->start_ms = start;
    q->dirty = true;
    return true;
}

size_t quota_budget(const struct index_quota *q, size_t want)
{
    uint64_t left;

    if (!q->on)
        return want;
    left = q->used < q->limit ? q->limit - q->used : 0;
    if (left < want)
        return (size_t)left + 1;
    return want;
}

bool quota_count(struct index_quota *q, uint64_t n)
{
    if (!q->on || n == 0)
        return false;
    q->used += n;
    q->dirty = true;
    return q->used > q->limit;
}

bool quota_exhausted(const struct index_quota *q)
{
    return q->on && q->used >= q->limit;
}

void quota_save(struct acct *acct, struct index_link *l)
{
    struct store_quota_use u;

    if (!l->quota.on || !l->quota.dirty || l->quota.start_ms == 0)
        return;
    memset(&u, 0, sizeof(u));
    memcpy(u.link_id, l->id, sizeof(u.link_id));
    u.used = l->quota.used;
    u.start_ms = l->quota.start_ms;
    acct_quota(acct, &u);
    l->quota.dirty = false;
}

struct quota_walk {
    struct acct *acct;
    int64_t now_ms;
};

static void quota_tick_one(void *arg, struct index_link *l)
{
    const struct quota_walk *w = arg;

    (void)quota_roll(&l->quota, w->now_ms);
    quota_save(w->acct, l);
}

void quota_tick(struct index *ix, struct acct *acct, int64_t now_ms)
{
    struct quota_walk w = {acct, now_ms};

    index_foreach(ix, quota_tick_one, &w);
}

bool quota_refuse(struct index_link *l, struct stats *stats, int64_t now_ms, uint64_t loop_ms)
{
    struct index_quota *q = &l->quota;

    (void)quota_roll(q, now_ms);
    if (!quota_exhausted(q))
        return false;
    q->refused++;
    stats->quota_refused++;
    stats_log_refusal(stats, loop_ms,
                      "link %s: OPEN refused: quota_exceeded (%" PRIu64 " of %" PRIu64
                      " bytes per %s used)",
                      l->name, q->used, q->limit, store_quota_period_name(q->period));
    return true;
}

void quota_crossed(struct index_link *l, struct stats *stats, struct acct *acct)
{
    const struct index_quota *q = &l->quota;
    char detail[160];

    l->quota.resets++;
    stats->quota_resets++;
    snprintf(detail, sizeof(detail),
             "%" PRIu64 " of %" PRIu64 " bytes per %s used; %" PRIu32 " streams reset", q->used,
             q->limit, store_quota_period_name(q->period), l->n_streams);
    log_warnx("link %s: quota exceeded: %s", l->name, detail);
    acct_event(acct, "quota_exceeded", l->id, NULL, detail, 1);
}
