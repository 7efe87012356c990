// SPDX-License-Identifier: MIT
#include "shape.h"

void shape_init(struct shape *sh, uv_loop_t *loop, const struct relaycfg_limits *lim,
                const uint32_t *streams)
{
    sh->loop = loop;
    sh->streams = streams;
    sh->lim = lim;
    sh->waiters = NULL;
    sh->timer_armed = false;
    uv_timer_init(loop, &sh->timer);
    sh->timer.data = sh;
}

void shape_close(struct shape *sh)
{
    uv_close((uv_handle_t *)&sh->timer, NULL);
}

/* At most a 1/n share of the bucket's wake quantum (what a waiter wakes for,
 * SHAPE_WAKE_DIV): woken together, n streams each get a turn before the
 * bucket is empty, whatever order the loop serves them in. */
static uint64_t shape_share(uint64_t rate, uint32_t n)
{
    uint64_t q = rate / SHAPE_WAKE_DIV;

    q = n > 1 ? q / n : q;
    return q > 0 ? q : 1;
}

size_t shape_budget(struct shape *sh, struct index_link *l, int dir, size_t want)
{
    uint64_t now = uv_now(sh->loop), rate = l->rate[dir], max = sh->lim->max_rate, v = want;

    if (rate != 0) {
        uint64_t avail = bbucket_avail(&l->rate_bkt[dir], rate, now);
        uint64_t share = shape_share(rate, l->n_streams);
        if (v > avail)
            v = avail;
        if (v > share)
            v = share;
    }
    if (max != 0) {
        uint64_t avail = bbucket_avail(&sh->relay_bkt, max, now);
        uint64_t share = shape_share(max, sh->streams != NULL ? *sh->streams : 1);
        if (v > avail)
            v = avail;
        if (v > share)
            v = share;
    }
    return (size_t)v;
}

void shape_take(struct shape *sh, struct index_link *l, int dir, size_t n)
{
    if (l->rate[dir] != 0)
        bbucket_take(&l->rate_bkt[dir], n);
    if (sh->lim->max_rate != 0)
        bbucket_take(&sh->relay_bkt, n);
}

static void shape_fire(uv_timer_t *t);

static void shape_arm(struct shape *sh, uint64_t now)
{
    uint64_t due = UINT64_MAX;

    for (struct shape_waiter *w = sh->waiters; w != NULL; w = w->next)
        if (w->due_ms < due)
            due = w->due_ms;
    if (due == UINT64_MAX) {
        uv_timer_stop(&sh->timer);
        sh->timer_armed = false;
        return;
    }
    if (sh->timer_armed && sh->timer_due == due)
        return;
    sh->timer_armed = true;
    sh->timer_due = due;
    uv_timer_start(&sh->timer, shape_fire, due > now ? due - now : 0, 0);
}

static void shape_unlink(struct shape *sh, struct shape_waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        sh->waiters = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->queued = false;
}

/* Calls back every waiter due; a callback may wait again or cancel any
 * waiter, so the list is walked from its head after each call. */
static void shape_fire(uv_timer_t *t)
{
    struct shape *sh = t->data;
    uint64_t now = uv_now(sh->loop);
    struct shape_waiter *w;

    sh->timer_armed = false;
    do {
        for (w = sh->waiters; w != NULL && w->due_ms > now; w = w->next)
            ;
        if (w != NULL) {
            shape_unlink(sh, w);
            w->wake(w);
        }
    } while (w != NULL);
    shape_arm(sh, now);
}

/* Milliseconds until a bucket holds a 1/SHAPE_WAKE_DIV s of its rate. */
static uint64_t shape_wait_for(struct bbucket *b, uint64_t rate, uint64_t now)
{
    uint64_t want = rate / SHAPE_WAKE_DIV;

    return bbucket_wait_ms(b, rate, want > 0 ? want : 1, now);
}

void shape_wait(struct shape *sh, struct index_link *l, int dir, struct shape_waiter *w)
{
    uint64_t now = uv_now(sh->loop), wait = 1, max = sh->lim->max_rate;

    if (l->rate[dir] != 0) {
        uint64_t ms = shape_wait_for(&l->rate_bkt[dir], l->rate[dir], now);
        if (ms > wait)
            wait = ms;
    }
    if (max != 0) {
        uint64_t ms = shape_wait_for(&sh->relay_bkt, max, now);
        if (ms > wait)
            wait = ms;
    }
    if (wait > SHAPE_WAIT_MAX_MS)
        wait = SHAPE_WAIT_MAX_MS;
    if (!w->queued) {
        sh->held++;
        w->prev = NULL;
        w->next = sh->waiters;
        if (sh->waiters != NULL)
            sh->waiters->prev = w;
        sh->waiters = w;
        w->queued = true;
    }
    w->due_ms = now + wait;
    shape_arm(sh, now);
}

void shape_cancel(struct shape *sh, struct shape_waiter *w)
{
    if (!w->queued)
        return;
    shape_unlink(sh, w);
    shape_arm(sh, uv_now(sh->loop));
}
