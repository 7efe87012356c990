/* SPDX-License-Identifier: MIT */
/*
 * The relay's way out (relay.h): the drain (docs/design.md D25), the stop
 * and the final release. Split from relay.c by responsibility: relay.c
 * starts, configures and reports, and calls in here (signals, the admin
 * socket); nothing here calls relay.c.
 */
#include "relay.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>

#include "acct.h"
#include "prune.h"
#include "admin.h"
#include "index.h"
#include "log.h"
#include "metrics.h"
#include "quota.h"
#include "sync.h"
#include "ticket.h"
#include "wallclock.h"

/* How often a drain checks whether its streams have ended. */
#define RELAY_DRAIN_CHECK_MS 100

uint64_t relay_drain_left(const struct relay *r)
{
    uint64_t now = uv_now(r->loop);

    return r->draining && r->drain_deadline_ms > now ? r->drain_deadline_ms - now : 0;
}

static void relay_close_listeners(struct relay *r)
{
    if (r->listeners_closed)
        return;
    r->listeners_closed = true;
    selfcheck_stop(&r->selfcheck); /* the addresses would fail from now on */
    for (size_t i = 0; i < r->n_listeners; i++)
        uv_close((uv_handle_t *)&r->listener[i].tcp, NULL);
}

/* Connections accepted whose first bytes (preamble, handshake, ticket) have
 * not all arrived yet: what a socket-activated relay finishes before it
 * stops (D26). */
static size_t relay_arriving(const struct relay *r)
{
    size_t n = 0;

    for (const struct conn *c = r->conn.list; c != NULL; c = c->next)
        n += c->state == CONN_PREAMBLE || c->state == CONN_HS1 || c->state == CONN_HS3 ||
             c->state == CONN_TICKET;
    return n;
}

/* Ends the drain when the last stream is gone or at the deadline; re-armed
 * every RELAY_DRAIN_CHECK_MS, and exactly for the deadline. Started by a
 * signal to a socket-activated relay (handoff, D26), it ends once every
 * connection accepted has arrived: systemd keeps the listening sockets for
 * the next relay, where the streams resume. */
static void relay_on_drain_timer(uv_timer_t *t)
{
    struct relay *r = t->data;
    uint64_t left = relay_drain_left(r);

    if (r->stopping)
        return;
    if (r->stats.streams_open == 0 && !pool_leaving(r->pool)) {
        log_info("drain: no stream left; stopping");
        relay_stop(r);
    } else if (r->handoff && relay_arriving(r) == 0) {
        log_info("drain: socket-activated, no connection arriving; stopping with %" PRIu32
                 " streams open (they resume on the next relay)",
                 r->stats.streams_open);
        relay_stop(r);
    } else if (left == 0) {
        log_info("drain: drain_timeout reached with %" PRIu32 " streams open; closing them",
                 r->stats.streams_open);
        relay_stop(r);
    } else {
        uv_timer_start(t, relay_on_drain_timer,
                       left < RELAY_DRAIN_CHECK_MS ? left : RELAY_DRAIN_CHECK_MS, 0);
    }
}

/* GOING_AWAY to every UP session. A send may close a session that does not
 * read, and its detach may close another one (PEER): the walk starts over
 * when the next connection was unlinked (a second GOING_AWAY is harmless). */
static void relay_going_away(struct relay *r, uint16_t seconds)
{
    struct conn *c = r->conn.list, *next;

    while (c != NULL) {
        next = c->next;
        if (c->state == CONN_UP)
            session_going_away(c, seconds, "relay draining");
        c = next != NULL && next->state == CONN_CLOSED ? r->conn.list : next;
    }
}

int relay_drain(struct relay *r, uint32_t timeout_ms)
{
    uint64_t now = uv_now(r->loop);

    if (r->stopping || r->draining)
        return -EALREADY;
    r->draining = true;
    r->drain_deadline_ms = now + timeout_ms;
    r->session.draining = true;
    r->session.drain_deadline_ms = r->drain_deadline_ms;
    log_info("draining: %" PRIu32 " sessions, %" PRIu32 " streams; stopping when the streams "
             "have ended, at the latest in %" PRIu32 " ms",
             r->stats.agents, r->stats.streams_open, timeout_ms);
    sdnotify_stopping(&r->sd);
    relay_close_listeners(r);
    uv_timer_init(r->loop, &r->drain_timer);
    r->drain_timer.data = r;
    if (timeout_ms == 0) {
        /* The admin reply that asked for it goes out first. */
        uv_timer_start(&r->drain_timer, relay_on_drain_timer, 0, 0);
        return 0;
    }
    /* A pool member leaves the pool, unless a successor (takeover, or the
     * next relay on systemd's sockets) serves on as the same member (D39). */
    if (r->handoff || r->handing_over || !pool_leave(r->pool, r->drain_deadline_ms))
        relay_going_away(r, (uint16_t)((timeout_ms + 999) / 1000));
    uv_timer_start(&r->drain_timer, relay_on_drain_timer,
                   r->handoff                          ? 0
                   : timeout_ms < RELAY_DRAIN_CHECK_MS ? timeout_ms
                                                       : RELAY_DRAIN_CHECK_MS,
                   0);
    return 0;
}

static void relay_abort_streams(void *arg, struct index_link *l)
{
    (void)arg;
    stream_abort_link(l, STORE_CAUSE_RESET, "relay shutting down");
}

void relay_stop(struct relay *r)
{
    struct conn *c, *next;

    if (r->stopping)
        return;
    r->stopping = true;
    sdnotify_stopping(&r->sd);
    metrics_stop(r->metrics);
    r->metrics = NULL;
    relay_close_listeners(r);
    if (r->draining)
        uv_close((uv_handle_t *)&r->drain_timer, NULL);
    admin_stop(r->admin);
    sync_stop(r->sync);
    pool_stop(r->pool);
    r->session.stopping = true;
    index_foreach(r->index, relay_abort_streams, NULL);
    for (c = r->conn.list; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_UP)
            session_close_with(c, MSG_CLOSE_SHUTDOWN, "relay shutting down");
        else if (c->state != CONN_FLUSHING)
            conn_close(c, CONN_END_FIN, "relay shutting down");
    }
    conn_ctx_stop(&r->conn); /* the CLOSE frames are written; no batching from here */
    stats_flush(&r->stats, uv_now(r->loop));
    quota_tick(r->index, r->acct, (int64_t)wallclock_ms()); /* the counters' last values */
    acct_stop(r->acct);
    prune_stop(r->prune);
    uv_close((uv_handle_t *)&r->tick, NULL);
    shape_close(&r->shape);
    /* The signal handlers stay (a second SIGTERM while sessions flush must
     * not kill the process before the last accounting write) but no longer
     * keep the loop alive; relay_done closes them. */
    uv_unref((uv_handle_t *)&r->sig_term);
    uv_unref((uv_handle_t *)&r->sig_int);
    uv_unref((uv_handle_t *)&r->sig_hup);
}

void relay_done(struct relay *r)
{
    /* Before the index goes: the status callback reads it. */
    sdnotify_close(&r->sd);
    /* Accounting first: from here on nothing is lost whatever happens. */
    acct_free(r->acct);
    r->acct = NULL;
    prune_free(r->prune);
    r->prune = NULL;
    sync_free(r->sync);
    r->sync = NULL;
    pool_free(r->pool);
    r->pool = NULL;
    index_free(r->index);
    r->index = NULL;
    ticket_table_free(r->tickets);
    r->tickets = NULL;
    admit_done(&r->admit);
    relaykey_wipe(&r->key);
    free(r->stream.rbuf);
    r->stream.rbuf = NULL;
    if (r->loop != NULL && !uv_is_closing((uv_handle_t *)&r->sig_term)) {
        /* Closing a signal handle restores the default action; a late
         * SIGTERM during the last microseconds is ignored instead. */
        uv_close((uv_handle_t *)&r->sig_term, NULL);
        uv_close((uv_handle_t *)&r->sig_int, NULL);
        uv_close((uv_handle_t *)&r->sig_hup, NULL);
        signal(SIGTERM, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        uv_run(r->loop, UV_RUN_DEFAULT);
    }
    conn_ctx_done(&r->conn); /* after the last connection's close callback */
    freelist_done(&r->stream.free);
    freelist_done(&r->stream.shut);
}
