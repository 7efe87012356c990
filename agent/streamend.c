/* SPDX-License-Identifier: MIT */
/*
 * streamend — see streamend.h and docs/internals/agent.md.
 */
#include "agent/streamend.h"

#include <stdlib.h>

#include <sodium.h>

#include "log.h"
#include "agent/streamfin.h"

void streamend_release(struct stream *st)
{
    if (--st->refs > 0)
        return;
    if (st->io.e2e != NULL) {
        if (st->io.held_total != NULL)
            *st->io.held_total -= st->io.held;
        e2e_done(st->io.e2e);
        free(st->io.e2e);
    }
    sodium_memzero(st->ticket, sizeof(st->ticket));
    sodium_memzero(st->leg_ticket, sizeof(st->leg_ticket));
    free(st);
}

static void on_closed(uv_handle_t *h) /* the timer */
{
    streamend_release(h->data);
}

static void on_sock_closed(uv_handle_t *h) /* local and leg: .data is the pump */
{
    streamend_release(((struct pump *)h->data)->owner);
}

/* Closes the stream's leg (with an RST when reset, so the peer cannot
 * mistake it for a clean end: docs/protocol.md §1); it is gone from the
 * stream at once, and freed after its close callback. */
static void leg_end(struct stream *st, bool reset)
{
    leg_close(st->io.leg, reset, on_sock_closed);
    st->io.leg = NULL;
}

/* The end of a flush (FLUSH mode): closes the leg (with an RST unless it
 * drained and shut down cleanly) and the deadline timer. Called by whichever
 * comes first, the shutdown callback or the deadline; the other finds both
 * closing. */
static void flush_done(struct stream *st, bool reset)
{
    if (st->io.leg != NULL)
        leg_end(st, reset);
    if (!uv_is_closing((uv_handle_t *)&st->timer))
        uv_close((uv_handle_t *)&st->timer, on_closed);
}

static void on_leg_flushed(uv_shutdown_t *req, int status)
{
    /* UV_ECANCELED: the deadline closed the leg first. */
    flush_done(req->data, status < 0);
}

static void on_flush_deadline(uv_timer_t *t)
{
    struct stream *st = t->data;

    stream_log(st, LOG_LEVEL_INFO, "the stream leg did not drain within %u ms; resetting it",
               STREAM_FLUSH_MS);
    flush_done(st, true);
}

/* The leg after a RESET record: everything the session still holds goes
 * out, then a shutdown, then the close. */
static void leg_flush_close(struct stream *st)
{
    const uint8_t *p;
    size_t n;

    while ((p = e2e_out_peek(st->io.e2e, &n)) != NULL && n > 0) {
        if (pump_leg_write(&st->io, p, n) != 0)
            break;
        (void)e2e_out_consume(st->io.e2e, n);
    }
    st->io.leg_sreq.data = st;
    if (st->io.leg_shut || leg_shutdown(st->io.leg, &st->io.leg_sreq, on_leg_flushed) != 0) {
        flush_done(st, false); /* shut down earlier: what it holds goes out */
        return;
    }
    uv_timer_stop(&st->timer);
    uv_timer_start(&st->timer, on_flush_deadline, STREAM_FLUSH_MS, 0);
}

/* A resumable stream's responder that ended cleanly (or a revived one, whose
 * leg ended in any way but a failed session) keeps what a resume of it needs
 * (streamfin.h, docs/protocol.md §7.3): the initiator may lack FINISHED. */
static void keep_finished(struct stream *st, enum pump_close mode)
{
    struct e2e_fin f;
    uint64_t now, until;

    if (st->own == NULL || st->io.e2e == NULL || (mode != PUMP_CLOSE_CLEAN && !st->revived) ||
        st->env->resume_timeout_ms == 0 || e2e_fin_save(st->io.e2e, &f) != 0)
        return;
    now = uv_now(st->loop);
    until = st->revived ? st->fin_until_ms : now + st->env->resume_timeout_ms;
    if (streamfin_keep(st->own, &f, st->stream_id, now, until) != 0)
        log_debug("link %s: stream %u: finished stream not kept for a resume (no room within "
                  "resume_buffer_total, or its time is up)",
                  st->name, st->id);
    e2e_fin_wipe(&f);
}

/* The stream leaves its owner's list and the owner is told (once); the
 * owner is never touched after. */
static void leave_owner(struct stream *st)
{
    struct stream_owner *own = st->own;

    if (own == NULL)
        return;
    st->own = NULL;
    if (st->io.e2e != NULL && st->io.spliced)
        e2e_ls_abandon(st->io.e2e); /* a keyed handshake with no answer: D46 */
    if (st->io.e2e != NULL)
        e2e_ls_detach(st->io.e2e); /* the owner's link sessions may go with it */
    if (st->held) {                /* a connection held after rate_limited */
        own->n_held--;
        st->held = false;
    }
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        own->streams = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
    own->n_streams--;
    own->ops->gone(own->arg, st);
}

/*
 * The one close path. Logs why (one aggregated line at level, when there is
 * one), leaves the owner, and closes everything: CLEAN closes both sockets,
 * RESET resets them, FLUSH resets the local one and lets the leg take what
 * the session still holds (our RESET record) before its shutdown, within
 * STREAM_FLUSH_MS. Idempotent: the first cause wins. Freed in the last close
 * callback.
 */
void streamend_end(struct stream *st, enum pump_close mode, enum log_level level, const char *why)
{
    bool flush =
        mode == PUMP_CLOSE_FLUSH && st->leg_inited && st->io.leg_connected && st->io.e2e != NULL;

    if (st->state == STREAM_CLOSING)
        return;
    if (why != NULL)
        stream_log(st, level, "%s", why);
    st->state = STREAM_CLOSING;
    st->io.closing = true;
    keep_finished(st, mode);
    leave_owner(st);
    log_debug("link %s: stream %u closing (%s)", st->name, st->id,
              mode == PUMP_CLOSE_CLEAN   ? "clean"
              : mode == PUMP_CLOSE_RESET ? "reset"
                                         : "flush");
    if (!flush) /* else it becomes the flush deadline */
        uv_close((uv_handle_t *)&st->timer, on_closed);
    if (st->gai_pending)
        uv_cancel((uv_req_t *)&st->gai);
    if (st->local_inited) {
        if (mode == PUMP_CLOSE_CLEAN)
            uv_close((uv_handle_t *)&st->io.local, on_sock_closed);
        else
            leg_tcp_close_reset(&st->io.local, on_sock_closed);
    }
    if (st->leg_inited) {
        if (flush)
            leg_flush_close(st);
        else
            leg_end(st, mode != PUMP_CLOSE_CLEAN);
    }
}
