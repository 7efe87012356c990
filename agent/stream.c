/* SPDX-License-Identifier: MIT */
/*
 * stream — see stream.h and docs/internals/agent.md.
 */
#include "agent/stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <sodium.h>

#include "backoff.h"
#include "frame.h"
#include "log.h"
#include "agent/streamack.h"
#include "agent/streamend.h"
#include "agent/streamkeep.h"
#include "agent/streamlocal.h"

/* A failure: its cause, formatted, to stream_end, which resets the stream. */
__attribute__((format(printf, 3, 4))) void stream_fail(struct stream *st, enum log_level level,
                                                       const char *fmt, ...)
{
    char why[512];
    va_list ap;

    if (st->state == STREAM_CLOSING)
        return;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    streamend_end(st, PUMP_CLOSE_RESET, level, why);
}

/* A reset without a line: the cause was logged already, or there is none
 * worth a line (out of memory, a libuv call that does not fail here). */
static void stream_reset(struct stream *st)
{
    streamend_end(st, PUMP_CLOSE_RESET, LOG_LEVEL_DEBUG, NULL);
}

void stream_close(struct stream *st)
{
    stream_reset(st);
}

static bool kept_fallback(struct stream *st, const char *why);
static void keep_next(struct stream_owner *own, struct streamkeep *k);

/* The pump's callbacks (pump.h). A kept leg that ended before the answer
 * OPENs the stream anew; a stream finished on a kept leg leaves it for the
 * next (D48), and a responder's leg that already holds the next stream's
 * first bytes starts it once this one is closed. */
static void on_pump_close(void *owner, enum pump_close mode, enum log_level level, const char *why)
{
    struct stream *st = owner;
    struct streamkeep *k = NULL;
    struct mux *sm = NULL; /* a shared leg made of this stream's leg (D58) */

    if (mode == PUMP_CLOSE_RESET &&
        kept_fallback(st, "kept stream leg ended before the peer answered"))
        return;
    if (mode == PUMP_CLOSE_KEEP) {
        if (streamkeep_leg(st, keep_next, &k, &sm))
            streamend_release(st); /* the leg's reference: not the last (the timer's) */
        mode = PUMP_CLOSE_CLEAN;   /* closes the leg unless it was kept */
    }
    streamend_end(st, mode, level, why);
    if (k != NULL)
        streamkeep_kick(k);
    if (sm != NULL)
        mux_start(sm); /* nothing if it failed meanwhile */
}

static void leg_refused(struct stream *st, int err);

static void on_pump_leg_refused(void *owner, int err)
{
    leg_refused(owner, err);
}

static void on_pump_spliced(void *owner)
{
    struct stream *st = owner;

    sodium_memzero(st->ticket, sizeof(st->ticket));
}

static void on_leg_check(uv_timer_t *t);
static void on_pump_leg_lost(void *owner, const char *why);
static void on_pump_resumed(void *owner);

/* Setup is over: the timer turns from the setup deadline into the leg check. */
static void on_pump_ready(void *owner)
{
    struct stream *st = owner;

    if (st->state != STREAM_SETUP)
        return;
    if (st->own != NULL && leg_is_channel(st->io.leg))
        st->own->keep.shared_legs++;
    else if (st->own != NULL)
        ++*(st->kept_leg ? &st->own->keep.kept_legs : &st->own->keep.new_legs);
    st->state = STREAM_RUNNING;
    uv_timer_stop(&st->timer);
    if (st->dead_ms != 0)
        uv_timer_start(&st->timer, on_leg_check, live_period_ms(st->dead_ms),
                       live_period_ms(st->dead_ms));
}

static bool on_pump_unknown_ticket(void *owner);

static const struct pump_ops pump_ops = {
    .unknown_ticket = on_pump_unknown_ticket,
    .close = on_pump_close,
    .leg_refused = on_pump_leg_refused,
    .spliced = on_pump_spliced,
    .ready = on_pump_ready,
    .leg_lost = on_pump_leg_lost,
    .resumed = on_pump_resumed,
    .oob_ack = streamack_out,
};

/* The leg check (live.h, pump_leg_dead): data in flight to the relay and no
 * ACK at all for dead_after means the path is gone (a NAT router forgot the
 * mapping, the relay's host vanished). The kernel would retransmit for many
 * minutes and the local application would hang: reset it instead, or
 * suspend a resumable stream (§7.3). */
static void on_leg_check(uv_timer_t *t)
{
    struct stream *st = t->data;

    if (st->state != STREAM_CLOSING && st->io.leg_connected)
        pump_ack_idle(&st->io); /* what a quiet stream delivered (D32); may close */
    if (st->state == STREAM_CLOSING || !st->io.leg_connected ||
        !pump_leg_dead(&st->io, &st->ack, uv_now(st->loop), st->dead_ms))
        return;
    /* A channel's carrier is its shared leg: dead for every stream on it. */
    streamkeep_chan_dead(st->io.leg, false, "no ACK from the relay for dead_after");
    if (st->io.e2e != NULL && e2e_resumable(st->io.e2e)) {
        on_pump_leg_lost(st, "no ACK from the relay for dead_after");
        return;
    }
    /* The text is the log aggregation key (streamlog.h): only what is
     * the same for every such leg goes in, not the ms since the last ACK. */
    stream_fail(st, LOG_LEVEL_WARN,
                "stream leg dead: data unacknowledged and no ACK from the "
                "relay for over %u ms (NAT mapping lost or relay unreachable); resetting the local "
                "connection",
                st->dead_ms);
}

static void on_timer(uv_timer_t *t);

/* Starts the stream's timer for the next try of a held connection (an OPEN
 * refused rate_limited) or of a refused leg: the stream's backoff (st->retry,
 * drawn between half and all of its step, so connections refused together do
 * not come back together), never later than left ms, the bound. */
void stream_retry_start(struct stream *st, uint64_t left)
{
    uint32_t d = backoff_next(&st->retry, randombytes_random());

    uv_timer_stop(&st->timer);
    uv_timer_start(&st->timer, on_timer, d < left ? d : left, 0);
}

static bool e2e_session_start(struct stream *st, struct stream_owner *own);
static bool leg_dial(struct stream *st, struct stream_owner *own);

static void on_leg_dropped(uv_handle_t *h)
{
    struct stream *st = ((struct pump *)h->data)->owner;

    st->leg_dropping = false;
    streamend_release(st);
}

/* Closes a refused leg (with an RST) so that a new one can be dialled once
 * its close callback has run. The stream no longer counts it as its leg
 * (stream_end leaves it alone); writes still queued on it end with
 * UV_ECANCELED. */
static void leg_drop(struct stream *st)
{
    st->leg_inited = st->io.leg_connected = st->io.leg_eof = false;
    st->leg_dropping = true;
    leg_close(st->io.leg, true, on_leg_dropped);
    st->io.leg = NULL;
}

/*
 * "No such stream" for the leg of a stream this link opened, before its
 * handshake: the relay that sent STREAM handed its sockets to a successor (or
 * stopped under socket activation) before the legs arrived, and the new
 * relay does not know the ticket (docs/design.md D25's window). The local
 * connection has carried nothing (it is read only after the handshake), so
 * the stream is OPENed again, once: the leg is dropped, and the OPEN goes
 * out as soon as its handle is closed (on_timer, STREAM_HELD). The peer's
 * leg met the same answer and ended its side; the new OPEN makes a new one.
 */
static bool on_pump_unknown_ticket(void *owner)
{
    struct stream *st = owner;

    if (st->own == NULL || st->cable || st->role != E2E_INITIATOR || st->reopened ||
        st->state != STREAM_SETUP || st->io.local_eof)
        return false;
    stream_log(st, LOG_LEVEL_INFO,
               "relay has no such stream before it carried a byte (a relay handover?); "
               "opening it again");
    st->reopened = true;
    st->leg_tries = 0;
    leg_drop(st);
    st->state = STREAM_HELD;
    uv_timer_stop(&st->timer);
    uv_timer_start(&st->timer, on_timer, 0, 0);
    return true;
}

/*
 * The relay closed the leg before a byte came back on it (err: UV_EOF,
 * ECONNRESET, EPIPE on a write). The relay refuses a connection at accept
 * (a per-address limit: max_pending_per_ip) before reading it, so the ticket
 * it carried was not taken and is still good: the leg is dialled again with
 * it after a jittered backoff, with the local connection held unread, until
 * the ticket expires (docs/design.md D16, "agent side"). A leg the relay did
 * take and then closed before splicing it (the peer's leg failed or never
 * came), or could not take (used, unknown, expired), gets one byte 0x00 (no
 * such stream) before the close, and any byte read ends the redials
 * (pump.c, on_leg_read): the local connection is reset at once. Only an older relay
 * closes such a leg without a byte; its redials are refused again and end at
 * the expiry, or earlier when the control session tells (OPEN_FAIL, the
 * session going down).
 */
static void leg_refused(struct stream *st, int err)
{
    uint64_t now = uv_now(st->loop);

    if (!st->leg_inited)
        return;                         /* dropped already (a second error of the same leg) */
    if (st->state == STREAM_RESUMING) { /* the next RESUME gets a new ticket */
        on_pump_leg_lost(st, "relay closed the resumed leg before pairing it");
        return;
    }
    if (st->own == NULL || (st->io.we_reset && st->role == E2E_INITIATOR)) {
        /* Resetting anyway (the cable's local target failed): nothing to save. */
        stream_fail(st, LOG_LEVEL_WARN, "relay closed the stream leg before pairing it: %s",
                    uv_strerror(err));
        return;
    }
    if (now >= st->ticket_until_ms) {
        log_debug("link %s: stream %u: stream leg refused by the relay %u times within the "
                  "ticket's %u ms (last: %s)",
                  st->name, st->id, st->leg_tries + 1, st->ticket_ms, uv_strerror(err));
        /* No count in the text: it is the aggregation key (streamlog.h). */
        stream_fail(st, LOG_LEVEL_WARN,
                    "stream leg refused by the relay until its ticket expired (%u ms); resetting "
                    "the local connection",
                    st->ticket_ms);
        return;
    }
    if (st->leg_tries == 0) {
        backoff_reset(&st->retry); /* the OPEN holds' steps do not carry over */
        stream_log(st, LOG_LEVEL_INFO,
                   "relay closed the stream leg before it carried a byte; dialling it again with "
                   "the same ticket (for up to %u ms)",
                   st->ticket_ms);
    }
    log_debug("link %s: stream %u: stream leg closed before its first byte: %s", st->name, st->id,
              uv_strerror(err));
    leg_drop(st);
    st->state = STREAM_REDIAL;
    stream_retry_start(st, st->ticket_until_ms - now);
    st->leg_tries++;
}

/* The backoff after a refused leg is over: a fresh leg, and for the
 * initiator a fresh session, whose first handshake message (written right
 * behind the ticket, and gone with the refused leg) the new leg carries. The
 * responder's session has neither read nor written anything yet. */
static void leg_redial(struct stream *st)
{
    if (st->leg_dropping) { /* its close callback has not run yet: soon */
        uv_timer_start(&st->timer, on_timer, 1, 0);
        return;
    }
    if (st->own == NULL)
        return;
    if (st->role == E2E_INITIATOR && !e2e_session_start(st, st->own))
        return;
    st->state = STREAM_SETUP;
    (void)leg_dial(st, st->own); /* closes the stream if it cannot */
}

static bool send_open(struct stream *st, struct stream_owner *own);

/* ---- resumption (docs/protocol.md §7.3, docs/internals/agent.md) ---- */

#define RESUME_TICK_MS 500u /* a suspended stream looks at its RESUME this often */

/* The initiator asks for a new leg when it can: no RESUME outstanding (or
 * one unanswered for STREAM_SETUP_MS, lost with a relay that died). */
static void resume_ask(struct stream *st)
{
    uint8_t id[MSG_RESUME_ID_LEN];
    uint64_t now = uv_now(st->loop);

    if (st->state != STREAM_SUSPENDED || st->role != E2E_INITIATOR || st->own == NULL ||
        (st->resume_req != 0 && now - st->resume_asked_ms < STREAM_SETUP_MS))
        return;
    st->resume_req = 0;
    if (e2e_resume_next(st->io.e2e, id, &st->resume_epoch) == 0 &&
        st->own->ops->send_resume(st->own->arg, id, &st->resume_req) == 0)
        st->resume_asked_ms = now;
    sodium_memzero(id, sizeof(id));
}

/* The suspended stream's timer: resume_timeout, the RESUME retries, a
 * resumed leg waiting for the old one's handle. */
static void resume_timer(struct stream *st)
{
    uint64_t now = uv_now(st->loop), left;

    if (now >= st->resume_until_ms && st->revived) { /* kept again (streamend.c) */
        stream_fail(st, LOG_LEVEL_INFO, "finished stream's resumed leg not done in %u ms",
                    STREAM_SETUP_MS);
        return;
    }
    if (now >= st->resume_until_ms) {
        st->env->resume_expired++;
        stream_fail(st, LOG_LEVEL_WARN,
                    "stream not resumed within resume_timeout (%u ms); resetting the local "
                    "connection",
                    st->env->resume_timeout_ms);
        return;
    }
    left = st->resume_until_ms - now;
    if (st->state == STREAM_RESUMING && !st->leg_inited) {
        if (st->leg_dropping || st->own == NULL) {
            uv_timer_start(&st->timer, on_timer, 1, 0);
            return;
        }
        (void)leg_dial(st, st->own); /* its timer is the resume deadline */
        return;
    }
    /* On every new session too: the one it went on may have been dead. */
    if (st->lost_id != 0 && st->own != NULL) /* the relay ends that stream */
        (void)st->own->ops->send_leg_lost(st->own->arg, st->lost_id, st->leg_ticket,
                                          &st->lost_told);
    resume_ask(st);
    uv_timer_start(&st->timer, on_timer, left < RESUME_TICK_MS ? left : RESUME_TICK_MS, 0);
}

/* The pump lost the leg of a resumable stream (or refused a resumed one):
 * suspend, keep the local connection, ask for a new leg. */
static void on_pump_leg_lost(void *owner, const char *why)
{
    struct stream *st = owner;
    struct e2e *e = st->io.e2e;

    if (st->state == STREAM_CLOSING)
        return;
    if (e == NULL || e2e_leg_lost(e) != 1) {
        stream_fail(st, LOG_LEVEL_WARN, "stream leg lost (%s); resetting the local connection",
                    why);
        return;
    }
    if (e->hello_refused != st->refused_seen) { /* one per leg: the leg is gone now */
        bool old = e->hello_old != st->old_seen;

        st->env->resume_refused[old ? STREAM_REFUSED_OLD_EPOCH : STREAM_REFUSED_BAD_HELLO]++;
        st->refused_seen = e->hello_refused;
        st->old_seen = e->hello_old;
        stream_log(st, LOG_LEVEL_WARN, "%s",
                   old ? "refused a resumed stream leg (old_epoch): its resume HELLO is our "
                         "peer's of an earlier epoch (an old leg replayed)"
                       : "refused a resumed stream leg (bad_hello): its resume HELLO is not our "
                         "peer's for this stream (tampered, or spliced to another stream or "
                         "link)");
    }
    if (st->revived) { /* finished: kept again (streamend.c) for the next RESUME */
        streamend_end(st, PUMP_CLOSE_RESET, LOG_LEVEL_DEBUG, NULL);
        return;
    }
    if (st->state != STREAM_SUSPENDED && st->state != STREAM_RESUMING) {
        stream_log(st, LOG_LEVEL_INFO, "stream leg lost (%s); suspended, resuming", why);
        st->resume_until_ms = uv_now(st->loop) + st->env->resume_timeout_ms;
    }
    /* A channel's leg id is its shared leg's, which other streams use. */
    if (st->leg_id != 0 && !leg_is_channel(st->io.leg)) {
        st->lost_id = st->leg_id;
        st->lost_told = 0;
    }
    st->leg_id = 0;
    if (st->leg_inited)
        leg_drop(st);
    st->io.spliced = st->io.leg_shut = st->io.leg_shut_done = false;
    st->state = STREAM_SUSPENDED;
    st->resume_req = 0;
    uv_timer_stop(&st->timer);
    resume_timer(st);
    pump_run(&st->io); /* what was received still goes to the local socket */
}

static void on_pump_resumed(void *owner)
{
    struct stream *st = owner;

    if (st->state != STREAM_RESUMING)
        return;
    st->env->resumed += !st->revived; /* a revived one counts in resume_finished */
    stream_log(st, LOG_LEVEL_INFO, "stream resumed on a new leg");
    st->state = STREAM_RUNNING;
    uv_timer_stop(&st->timer);
    if (st->dead_ms != 0)
        uv_timer_start(&st->timer, on_leg_check, live_period_ms(st->dead_ms),
                       live_period_ms(st->dead_ms));
}

void stream_on_resumed(struct stream *st, const struct msg_stream *m, uint32_t epoch)
{
    uint64_t now = uv_now(st->loop);

    if (st->state == STREAM_RUNNING) /* the peer saw its leg die first */
        on_pump_leg_lost(st, "the peer resumes the stream on a new leg");
    if (st->state != STREAM_SUSPENDED || st->io.e2e == NULL)
        return;
    st->resume_req = 0;
    if (e2e_resume_start(st->io.e2e, epoch) != 0) {
        stream_fail(st, LOG_LEVEL_WARN, "cannot resume the stream (epoch %u)", epoch);
        return;
    }
    memcpy(st->ticket, m->ticket, MSG_TICKET_LEN);
    memcpy(st->leg_ticket, m->ticket, MSG_TICKET_LEN);
    st->leg_id = m->stream_id;
    st->lost_id = 0; /* paired: nothing left to tell */
    st->ticket_ms = m->expires_ms;
    st->ticket_until_ms = now + m->expires_ms;
    st->setup_until_ms = st->resume_until_ms;
    st->state = STREAM_RESUMING;
    st->leg_gen = st->own != NULL ? st->own->ls.gen : 0;
    uv_timer_stop(&st->timer);
    resume_timer(st); /* dials now, or once the old leg's handle is closed */
}

static struct stream *new_stream(struct stream_owner *own);

struct stream *stream_bare(struct stream_owner *own)
{
    struct stream *st = new_stream(own);

    if (st != NULL)
        own->opened--; /* not a new stream: the owner counts streams made */
    return st;
}

static void on_timer(uv_timer_t *t)
{
    struct stream *st = t->data;

    if (st->state == STREAM_SUSPENDED || st->state == STREAM_RESUMING) {
        resume_timer(st);
        return;
    }

    if (st->state == STREAM_HELD) {
        if (st->leg_dropping) /* a leg dropped (reopen): its close callback first */
            uv_timer_start(&st->timer, on_timer, 1, 0);
        else if (st->own != NULL)
            (void)send_open(st, st->own); /* closes the stream if it cannot */
        return;
    }
    if (st->state == STREAM_REDIAL) {
        leg_redial(st);
        return;
    }
    if (st->state == STREAM_SETUP && st->kept_leg && st->role == E2E_INITIATOR) {
        uint64_t now = uv_now(st->loop);

        /* A shared leg that brings no answer takes no more streams. */
        if (st->io.e2e != NULL && !e2e_handshake_done(st->io.e2e))
            streamkeep_chan_dead(st->io.leg, true, "no answer on a channel in time");
        if (kept_fallback(st, "no answer on the kept stream leg in time"))
            return;
        if (now < st->setup_until_ms) { /* answered: the rest of the setup deadline */
            uv_timer_start(&st->timer, on_timer, st->setup_until_ms - now, 0);
            return;
        }
    }
    if (st->state == STREAM_OPENING)
        stream_fail(st, LOG_LEVEL_WARN, "no answer from the relay to OPEN; resetting");
    else
        stream_fail(st, LOG_LEVEL_WARN, "stream setup timed out (%s); resetting",
                    !st->io.leg_connected     ? "connecting to the relay"
                    : !st->io.spliced         ? "waiting for the peer's stream leg"
                    : !st->io.local_connected ? "connecting to the local target"
                                              : "end-to-end handshake");
}

static struct stream *new_stream(struct stream_owner *own)
{
    struct stream *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    st->own = own;
    st->env = own->env;
    st->loop = own->env->loop;
    st->id = ++own->env->ids;
    snprintf(st->name, sizeof(st->name), "%s", own->cfg->name);
    st->io.rbuf = own->env->rbuf;
    st->io.rbuf_len = own->env->rbuf_len;
    uv_timer_init(st->loop, &st->timer);
    st->timer.data = st;
    (void)backoff_init(&st->retry, STREAM_RETRY_MIN_MS, STREAM_RETRY_MAX_MS); /* valid constants */
    st->refs = 1;
    st->io.ops = &pump_ops;
    st->io.owner = st;
    st->io.log = own->env->log;
    st->io.name = st->name;
    st->io.id = st->id;
    st->io.local.data = &st->io;
    st->next = own->streams;
    if (own->streams != NULL)
        own->streams->prev = st;
    own->streams = st;
    own->n_streams++;
    own->opened++;
    return st;
}

static void on_leg_connect(uv_connect_t *req, int status)
{
    struct stream *st = req->data;
    uint8_t pre[FRAME_PREAMBLE_LEN + MSG_TICKET_LEN];
    struct frame_preamble fp = {.kind = FRAME_KIND_STREAM, .key_id = 0};
    struct buf b;

    if (status == UV_ECANCELED || st->state == STREAM_CLOSING)
        return;
    if (status < 0) {
        stream_fail(st, LOG_LEVEL_WARN, "cannot connect the stream leg to the relay: %s",
                    uv_strerror(status));
        return;
    }
    buf_init(&b, pre, sizeof(pre));
    if (frame_preamble_encode(&fp, &b) != 0 || buf_put_bytes(&b, st->ticket, MSG_TICKET_LEN) != 0 ||
        pump_write(&st->io, &st->io.leg->tcp, pre, b.len) != 0) {
        stream_reset(st);
        return;
    }
    sodium_memzero(pre, sizeof(pre)); /* the ticket stays for a redial until the relay takes it */
    st->io.leg_connected = true;
    if (st->dead_ms != 0 && pump_leg_keepalive(&st->io, st->keepalive_ms, st->dead_ms) != 0)
        log_warn("link %s: stream %u: cannot set TCP keepalive on the stream leg", st->name,
                 st->id);
    pump_run(&st->io); /* the initiator's first handshake message rides right behind */
}

/* A fresh e2e session for the stream (again for a redialled initiator).
 * Returns false if the stream closed. */
static bool e2e_session_start(struct stream *st, struct stream_owner *own)
{
    if (stream_session_init(st, own) != 0) {
        stream_reset(st);
        return false;
    }
    return true;
}

/* Dials the stream leg (on_leg_connect presents the ticket), under what is
 * left of the setup deadline. Returns false if the stream closed. */
static bool leg_dial(struct stream *st, struct stream_owner *own)
{
    uint64_t now = uv_now(st->loop);
    struct leg *l;
    int rc = 0;

    uv_timer_stop(&st->timer);
    uv_timer_start(&st->timer, on_timer, st->setup_until_ms > now ? st->setup_until_ms - now : 0,
                   0);
    if ((l = leg_new(st->loop, &st->io, &rc)) != NULL) {
        pump_leg_attach(&st->io, l);
        st->leg_inited = true;
        st->refs++;
        (void)uv_tcp_nodelay(&l->tcp, 1);
        st->leg_creq.data = st;
        rc = uv_tcp_connect(&st->leg_creq, &l->tcp, (const struct sockaddr *)&own->relay_sa,
                            on_leg_connect);
    }
    if (rc != 0) {
        stream_fail(st, LOG_LEVEL_WARN, "cannot open the stream leg: %s", uv_strerror(rc));
        return false;
    }
    return true;
}

/* Common part of STREAM handling: session and leg. Returns false if closed. */
static bool begin(struct stream *st, struct stream_owner *own, const struct msg_stream *m)
{
    uint64_t now = uv_now(st->loop);

    st->stream_id = st->leg_id = m->stream_id;
    st->role = m->role == MSG_ROLE_INITIATOR ? E2E_INITIATOR : E2E_RESPONDER;
    memcpy(st->ticket, m->ticket, MSG_TICKET_LEN);
    memcpy(st->leg_ticket, m->ticket, MSG_TICKET_LEN);
    st->ticket_ms = m->expires_ms;
    st->ticket_until_ms = now + m->expires_ms;
    st->setup_until_ms = now + STREAM_SETUP_MS;
    st->keepalive_ms = own->leg_keepalive_ms;
    st->dead_ms = own->leg_dead_ms;
    st->state = STREAM_SETUP;
    if (!e2e_session_start(st, own) || !leg_dial(st, own))
        return false;
    st->leg_gen = own->ls.gen; /* after own_ss, which may wipe the store */
    log_debug("link %s: stream %u: stream id %llu, %s", st->name, st->id,
              (unsigned long long)st->stream_id,
              st->role == E2E_INITIATOR ? "initiator" : "responder");
    return true;
}

void stream_on_stream(struct stream *st, const struct msg_stream *m)
{
    struct stream_owner *own = st->own;

    if (st->state != STREAM_OPENING || own == NULL)
        return;
    if (st->held) {
        own->n_held--;
        st->held = false;
    }
    uv_timer_stop(&st->timer);
    if (!begin(st, own, m))
        return;
    if (st->cable)
        streamlocal_dial(st, own);
}

void stream_responder(struct stream_owner *own, const struct msg_stream *m)
{
    struct stream *st = new_stream(own);

    if (st == NULL)
        return;
    if (!begin(st, own, m))
        return;
    streamlocal_dial(st, own);
}

static bool send_open(struct stream *st, struct stream_owner *own)
{
    int rc;

    if (st->open_tries == 0)
        st->open_since_ms = uv_now(st->loop);
    rc = own->ops->send_open(own->arg, &st->req_id);
    if (rc != 0) {
        stream_fail(st, LOG_LEVEL_WARN, "%s; refusing the local connection",
                    rc == -ENOTCONN ? "no control session to the relay (relay unreachable?)"
                                    : "cannot send OPEN");
        return false;
    }
    st->state = STREAM_OPENING;
    uv_timer_start(&st->timer, on_timer, STREAM_SETUP_MS, 0);
    return true;
}

/* ---- kept legs (docs/protocol.md §7.5, agent/streamkeep.h, D48) ---- */

/* A stream on a kept leg: no OPEN, no STREAM, no ticket; the initiator's
 * first handshake frame goes out at once, the responder answers the bytes
 * that came. Returns false if the stream closed. */
static bool keep_begin(struct stream *st, struct stream_owner *own, struct streamkeep *k)
{
    uint8_t rest[STREAMKEEP_REST_MAX];
    size_t n = 0, took = 0;

    st->stream_id = st->leg_id = k->leg_id;
    st->role = k->role;
    memcpy(st->leg_ticket, k->leg_ticket, MSG_TICKET_LEN);
    st->keepalive_ms = k->keepalive_ms;
    st->dead_ms = k->dead_ms;
    st->setup_until_ms = uv_now(st->loop) + STREAM_SETUP_MS;
    st->state = STREAM_SETUP;
    st->kept_leg = true;
    /* The opener waits for the answer briefly, then takes a new leg (D48). */
    uv_timer_start(&st->timer, on_timer,
                   st->role == E2E_INITIATOR ? STREAM_KEPT_ANSWER_MS : STREAM_SETUP_MS, 0);
    pump_leg_attach(&st->io, streamkeep_move(k, rest, &n)); /* reads on, no system call */
    st->leg_inited = true;
    st->refs++;
    st->io.leg_connected = st->io.spliced = true;
    if (!e2e_session_start(st, own))
        return false;
    st->leg_gen = own->ls.gen;
    if (n > 0)
        (void)e2e_feed(st->io.e2e, rest, n, &took); /* the responder's first frame */
    pump_run(&st->io);
    return st->state != STREAM_CLOSING; /* a first frame refused at once closed it */
}

/* An idle responder leg read the next stream's first bytes. */
static void keep_next(struct stream_owner *own, struct streamkeep *k)
{
    struct stream *st = new_stream(own);

    if (st == NULL) {
        streamkeep_close(k);
        return;
    }
    if (keep_begin(st, own, k))
        streamlocal_dial(st, own);
}

/* An initiator's kept leg ended before the responder's answer (the peer
 * went away, the relay restarted, a key changed): the local connection has
 * carried nothing, so the stream is OPENed anew, once; the client sees
 * nothing of it. True when it was. */
static bool kept_fallback(struct stream *st, const char *why)
{
    struct e2e *e = st->io.e2e;

    if (!st->kept_leg || st->role != E2E_INITIATOR || st->state != STREAM_SETUP || !st->own ||
        st->io.we_reset || e == NULL || e2e_handshake_done(e) || st->io.local_eof)
        return false;
    st->own->keep.fallbacks++;
    stream_log(st, LOG_LEVEL_INFO, "%s; opening the stream anew", why);
    e2e_ls_abandon(e); /* a keyed frame I without an answer (D46) */
    e2e_done(e);
    free(e);
    st->io.e2e = NULL;
    st->kept_leg = false;
    st->kept_fallback = true;
    leg_drop(st);
    st->io.spliced = st->io.leg_shut = st->io.leg_shut_done = false;
    st->state = STREAM_HELD;
    uv_timer_stop(&st->timer);
    uv_timer_start(&st->timer, on_timer, 0, 0);
    return true;
}

void stream_accept(struct stream_owner *own, uv_stream_t *server)
{
    struct stream *st = new_stream(own);
    struct streamkeep *k;

    if (st == NULL) {
        log_warnx("link %s: out of memory accepting a connection", own->cfg->name);
        return;
    }
    if (uv_tcp_init(st->loop, &st->io.local) != 0) {
        stream_reset(st);
        return;
    }
    st->local_inited = true;
    st->refs++;
    if (uv_accept(server, (uv_stream_t *)&st->io.local) != 0) {
        stream_reset(st);
        return;
    }
    st->io.local_connected = true; /* TCP_NODELAY from the listener (D54) */
    log_debug("link %s: stream %u: local connection accepted", st->name, st->id);
    if ((k = streamkeep_take(own, uv_now(st->loop))) != NULL) {
        (void)keep_begin(st, own, k); /* closes the stream if it cannot */
        return;
    }
    (void)send_open(st, own);
}

struct stream *stream_cable(struct stream_owner *own)
{
    struct stream *st = new_stream(own);

    if (st == NULL)
        return NULL;
    st->cable = true;
    if (!send_open(st, own))
        return NULL;
    return st;
}

void stream_abort(struct stream *st)
{
    if (st->state == STREAM_CLOSING)
        return;
    if (st->io.e2e != NULL && e2e_handshake_done(st->io.e2e) &&
        e2e_reset(st->io.e2e, REC_RESET_SHUTDOWN, "agent shutting down") == 0) {
        st->io.we_reset = true;
        streamend_end(st, PUMP_CLOSE_FLUSH, LOG_LEVEL_DEBUG, NULL);
        return;
    }
    stream_reset(st);
}
