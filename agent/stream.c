/* SPDX-License-Identifier: MIT */
/*
 * stream — see stream.h and docs/internals/agent.md.
 */
#include "stream.h"

#include <errno.h>
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

struct stream_wreq {
    uv_write_t req;
    struct stream *st;
    uint8_t data[];
};

/* A per-stream line, aggregated per link and message (streamlog.h). */
#define stream_log(st, level, ...)                                                                 \
    streamlog_say((st)->env->log, (level), (st)->name, (st)->id, __VA_ARGS__)

static void pump(struct stream *st);

static void stream_release(struct stream *st)
{
    if (--st->refs > 0)
        return;
    if (st->e2e != NULL) {
        e2e_done(st->e2e);
        free(st->e2e);
    }
    sodium_memzero(st->ticket, sizeof(st->ticket));
    free(st);
}

static void on_closed(uv_handle_t *h)
{
    stream_release(h->data);
}

/* SO_LINGER 0 by hand, for handles uv_tcp_close_reset refuses (libuv 1.44
 * refuses after a uv_shutdown, which a half-closed stream has done). */
static void linger_close(uv_tcp_t *t)
{
    uv_os_fd_t fd = -1;
    struct linger l = {1, 0};

    if (uv_fileno((uv_handle_t *)t, &fd) == 0 && fd >= 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    uv_close((uv_handle_t *)t, on_closed);
}

/* Closes a TCP handle with an RST so the peer cannot mistake it for a clean
 * end (docs/protocol.md §1). */
static void tcp_reset_close(uv_tcp_t *t)
{
    if (uv_tcp_close_reset(t, on_closed) != 0)
        linger_close(t);
}

/* The end of a flush (FLUSH mode): closes the leg (with an RST unless it
 * drained and shut down cleanly) and the deadline timer. Called by whichever
 * comes first, the shutdown callback or the deadline; the other finds both
 * closing. */
static void flush_done(struct stream *st, bool reset)
{
    if (!uv_is_closing((uv_handle_t *)&st->leg)) {
        if (reset)
            tcp_reset_close(&st->leg);
        else
            uv_close((uv_handle_t *)&st->leg, on_closed);
    }
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

static void on_write_done(uv_write_t *req, int status);
static void leg_refused(struct stream *st, int err);

/* Writes len bytes to t: straight to the kernel with uv_try_write() when
 * nothing is queued on t, and a copy of whatever the kernel did not take is
 * queued (as relay/stream.c does). The caller's buffer is free again on
 * return. An error from uv_try_write() other than UV_EAGAIN is left to the
 * queued write, so it reaches on_write_done() as before. */
static int write_copy(struct stream *st, uv_tcp_t *t, const uint8_t *p, size_t len)
{
    struct stream_wreq *w;
    uv_buf_t b;
    int rc;

    b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len); /* UV_EAGAIN while queued */
    rc = uv_try_write((uv_stream_t *)t, &b, 1);
    if (rc > 0) {
        p += rc;
        len -= (size_t)rc;
    }
    if (len == 0)
        return 0;
    w = malloc(sizeof(*w) + len);
    if (w == NULL)
        return -ENOMEM;
    w->st = st;
    memcpy(w->data, p, len);
    b = uv_buf_init((char *)w->data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)t, &b, 1, on_write_done);
    if (rc < 0)
        free(w);
    return rc;
}

/* The leg after a RESET record: everything the session still holds goes
 * out, then a shutdown, then the close. */
static void leg_flush_close(struct stream *st)
{
    const uint8_t *p;
    size_t n;

    while ((p = e2e_out_peek(st->e2e, &n)) != NULL && n > 0) {
        if (write_copy(st, &st->leg, p, n) != 0)
            break;
        (void)e2e_out_consume(st->e2e, n);
    }
    st->leg_sreq.data = st;
    if (st->leg_shut || uv_shutdown(&st->leg_sreq, (uv_stream_t *)&st->leg, on_leg_flushed) != 0) {
        flush_done(st, false); /* shut down earlier: what it holds goes out */
        return;
    }
    uv_timer_stop(&st->timer);
    uv_timer_start(&st->timer, on_flush_deadline, STREAM_FLUSH_MS, 0);
}

/* The stream leaves its owner's list and the owner is told (once); the
 * owner is never touched after. */
static void leave_owner(struct stream *st)
{
    struct stream_owner *own = st->own;

    if (own == NULL)
        return;
    st->own = NULL;
    if (st->held) { /* a connection held after rate_limited */
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

void stream_close(struct stream *st, enum stream_close_mode mode)
{
    bool flush =
        mode == STREAM_CLOSE_FLUSH && st->leg_inited && st->leg_connected && st->e2e != NULL;

    if (st->state == STREAM_CLOSING)
        return;
    st->state = STREAM_CLOSING;
    leave_owner(st);
    log_debug("link %s: stream %u closing (%s)", st->name, st->id,
              mode == STREAM_CLOSE_CLEAN   ? "clean"
              : mode == STREAM_CLOSE_RESET ? "reset"
                                           : "flush");
    if (!flush) /* else it becomes the flush deadline */
        uv_close((uv_handle_t *)&st->timer, on_closed);
    if (st->gai_pending)
        uv_cancel((uv_req_t *)&st->gai);
    if (st->local_inited) {
        if (mode == STREAM_CLOSE_CLEAN)
            uv_close((uv_handle_t *)&st->local, on_closed);
        else
            tcp_reset_close(&st->local);
    }
    if (st->leg_inited) {
        if (mode == STREAM_CLOSE_CLEAN)
            uv_close((uv_handle_t *)&st->leg, on_closed);
        else if (flush)
            leg_flush_close(st);
        else
            tcp_reset_close(&st->leg);
    }
}

/* A local-side abort: RESET with reason to the peer, then close. */
static void local_abort(struct stream *st, uint8_t reason, const char *text)
{
    if (st->state == STREAM_CLOSING)
        return;
    if (st->e2e == NULL || e2e_reset(st->e2e, reason, text) != 0) {
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    st->we_reset = true;
    pump(st);
}

static void on_write_done(uv_write_t *req, int status)
{
    struct stream_wreq *w = (struct stream_wreq *)req;
    struct stream *st = w->st;
    bool local = req->handle == (uv_stream_t *)&st->local;

    free(w);
    /* UV_ECANCELED: a handle we closed, the stream's or a refused leg's
     * (leg_drop); what follows is for the handle that is there now. */
    if (st->state == STREAM_CLOSING || status == UV_ECANCELED)
        return;
    if (status < 0) {
        if (local) {
            stream_log(st, LOG_LEVEL_INFO, "local write failed: %s", uv_strerror(status));
            local_abort(st, REC_RESET_LOCAL, "local write failed");
        } else if (!st->spliced) {
            leg_refused(st, status);
        } else {
            stream_log(st, LOG_LEVEL_WARN, "write to relay failed: %s", uv_strerror(status));
            stream_close(st, STREAM_CLOSE_RESET);
        }
        return;
    }
    pump(st);
}

static size_t wq(uv_tcp_t *t)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)t);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct stream *st = req->data;

    if (st->state == STREAM_CLOSING)
        return;
    if (req == &st->local_sreq)
        st->local_shut_done = true;
    else
        st->leg_shut_done = true;
    if (status < 0 && req == &st->leg_sreq) {
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    pump(st);
}

/* Events of the session; returns false if the stream closed. */
static bool handle_events(struct stream *st)
{
    struct e2e_event ev;
    char text[REC_TEXT_MAX + 1];

    while (e2e_next_event(st->e2e, &ev) == 1) {
        switch (ev.type) {
        case E2E_EV_HANDSHAKE:
            log_debug("link %s: stream %u: end-to-end session up", st->name, st->id);
            break;
        case E2E_EV_PEER_FINAL:
            break; /* acted on below, once the plaintext is written */
        case E2E_EV_PEER_RESET:
            memcpy(text, ev.text, ev.text_len);
            text[ev.text_len] = '\0';
            stream_log(st, LOG_LEVEL_INFO, "peer reset the stream (reason %u%s%s)", ev.reason,
                       text[0] ? ": " : "", text);
            stream_close(st, STREAM_CLOSE_RESET);
            return false;
        case E2E_EV_ERROR:
        default:
            stream_log(st, LOG_LEVEL_WARN, "%s%s%s; resetting", e2e_strerror(ev.err),
                       ev.err == E2E_E_RECORD ? ": " : "",
                       ev.err == E2E_E_RECORD ? rec_strerror(ev.detail) : "");
            stream_close(st, STREAM_CLOSE_RESET);
            return false;
        }
    }
    return true;
}

/* Moves bytes: session output to the leg, plaintext to the local socket.
 * Returns true if anything moved. */
static bool move_bytes(struct stream *st)
{
    const uint8_t *p;
    size_t n;
    bool moved = false;

    while (st->leg_connected && wq(&st->leg) < STREAM_HIGH_WATER &&
           (p = e2e_out_peek(st->e2e, &n)) != NULL && n > 0) {
        n = n > STREAM_WRITE_MAX ? STREAM_WRITE_MAX : n;
        if (write_copy(st, &st->leg, p, n) != 0) {
            stream_close(st, STREAM_CLOSE_RESET);
            return false;
        }
        (void)e2e_out_consume(st->e2e, n);
        moved = true;
    }
    while (st->local_connected && !st->local_shut && wq(&st->local) < STREAM_HIGH_WATER &&
           (p = e2e_plain_peek(st->e2e, &n)) != NULL && n > 0) {
        n = n > STREAM_WRITE_MAX ? STREAM_WRITE_MAX : n;
        if (write_copy(st, &st->local, p, n) != 0) {
            local_abort(st, REC_RESET_LOCAL, "local write failed");
            return false;
        }
        (void)e2e_plain_consume(st->e2e, n);
        moved = true;
    }
    return moved;
}

static void on_local_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_local_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_leg_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_leg_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* The leg check (live.h): data in flight to the relay and no ACK at all for
 * dead_after means the path is gone (a NAT router forgot the mapping, the
 * relay's host vanished). The kernel would retransmit for many minutes and
 * the local application would hang; reset it instead. A relay that is alive
 * but not reading (backpressure) answers the window probes and passes. */
static void on_leg_check(uv_timer_t *t)
{
    struct stream *st = t->data;
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    uv_os_fd_t fd = -1;

    if (st->state == STREAM_CLOSING || !st->leg_connected)
        return;
    memset(&ti, 0, sizeof(ti));
    if (uv_fileno((uv_handle_t *)&st->leg, &fd) != 0 ||
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return;
    /* Waiting for an ACK: data in flight, or (tcpi_probes) window or
     * keepalive probes sent and not answered. The relay's kernel answers
     * window probes while it merely does not read, so a leg whose writes
     * stopped at a zero window when the path died is caught too (its data
     * is then queued, not in flight: tcpi_unacked is 0). */
    if (!live_ack_dead(&st->ack, uv_now(st->loop), ti.tcpi_unacked + ti.tcpi_probes,
                       ti.tcpi_last_ack_recv, st->dead_ms))
        return;
    /* The text is the log aggregation key (streamlog.h): only what is
     * the same for every such leg goes in, not the ms since the last ACK. */
    stream_log(st, LOG_LEVEL_WARN,
               "stream leg dead: data unacknowledged and no ACK from the "
               "relay for over %u ms (NAT mapping lost or relay unreachable); resetting the local "
               "connection",
               st->dead_ms);
    stream_close(st, STREAM_CLOSE_RESET);
}

/* TCP keepalive on the leg with the session's timers (live.h): the kernel
 * gives up an idle leg whose path died at about dead_after (the read then
 * fails and the local connection is reset), and the probes keep a NAT
 * mapping of an idle leg alive, as PING does for the control connection. */
static void leg_keepalive(struct stream *st)
{
    struct live_keepalive k;
    uv_os_fd_t fd = -1;
    int intvl, cnt;

    if (st->dead_ms == 0)
        return;
    live_keepalive(st->keepalive_ms, st->dead_ms, &k);
    intvl = (int)k.intvl_s;
    cnt = (int)k.cnt;
    if (uv_tcp_keepalive(&st->leg, 1, k.idle_s) != 0 ||
        uv_fileno((uv_handle_t *)&st->leg, &fd) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0)
        log_warn("link %s: stream %u: cannot set TCP keepalive on the stream leg", st->name,
                 st->id);
}

static void set_reading(struct stream *st)
{
    struct e2e *e = st->e2e;
    bool want_local = st->local_connected && e2e_handshake_done(e) && !st->local_eof &&
                      !st->we_reset && e2e_send_space(e) > 0 && wq(&st->leg) < STREAM_HIGH_WATER;
    bool want_leg = st->leg_connected && !st->leg_eof && (!st->spliced || e2e_in_space(e) > 0);

    if (want_local != st->local_reading) {
        if (want_local)
            (void)uv_read_start((uv_stream_t *)&st->local, on_local_alloc, on_local_read);
        else
            (void)uv_read_stop((uv_stream_t *)&st->local);
        st->local_reading = want_local;
    }
    if (want_leg != st->leg_reading) {
        if (want_leg)
            (void)uv_read_start((uv_stream_t *)&st->leg, on_leg_alloc, on_leg_read);
        else
            (void)uv_read_stop((uv_stream_t *)&st->leg);
        st->leg_reading = want_leg;
    }
}

/* The state machine's step after anything happened. */
static void pump(struct stream *st)
{
    bool moved;

    if (st->state == STREAM_CLOSING || st->e2e == NULL)
        return;
    do {
        if (!handle_events(st))
            return;
        moved = move_bytes(st);
        if (st->state == STREAM_CLOSING)
            return;
    } while (moved);
    if (st->state == STREAM_SETUP && e2e_handshake_done(st->e2e) &&
        (!st->dial_local || st->local_connected)) {
        st->state = STREAM_RUNNING;
        uv_timer_stop(&st->timer);
        if (st->dead_ms != 0)
            uv_timer_start(&st->timer, on_leg_check, live_period_ms(st->dead_ms),
                           live_period_ms(st->dead_ms));
    }
    if (e2e_dead(st->e2e)) {
        /* Only a RESET of ours gets here (errors closed above). */
        stream_close(st, st->leg_connected ? STREAM_CLOSE_FLUSH : STREAM_CLOSE_RESET);
        return;
    }
    if (e2e_peer_final(st->e2e) && st->local_connected && !st->local_shut) {
        st->local_shut = true;
        st->local_sreq.data = st;
        if (uv_shutdown(&st->local_sreq, (uv_stream_t *)&st->local, on_shutdown) != 0)
            st->local_shut_done = true;
    }
    if (st->local_eof && !st->leg_shut && st->leg_connected && e2e_final_sent(st->e2e)) {
        size_t n;
        (void)e2e_out_peek(st->e2e, &n);
        if (n == 0) {
            st->leg_shut = true;
            st->leg_sreq.data = st;
            if (uv_shutdown(&st->leg_sreq, (uv_stream_t *)&st->leg, on_shutdown) != 0) {
                stream_close(st, STREAM_CLOSE_RESET);
                return;
            }
        }
    }
    if (e2e_finished(st->e2e) && st->leg_eof && st->local_eof && st->local_shut_done &&
        st->leg_shut_done) {
        log_debug("link %s: stream %u finished: %llu bytes out, %llu in", st->name, st->id,
                  (unsigned long long)e2e_bytes_sent(st->e2e),
                  (unsigned long long)e2e_bytes_delivered(st->e2e));
        stream_close(st, STREAM_CLOSE_CLEAN);
        return;
    }
    set_reading(st);
}

static void on_local_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct stream *st = h->data;
    size_t space = st->e2e != NULL ? e2e_send_space(st->e2e) : 0;

    (void)suggested;
    if (space > st->rbuf_len)
        space = st->rbuf_len;
    *buf = uv_buf_init((char *)st->rbuf, (unsigned)space);
}

static void on_local_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct stream *st = s->data;
    size_t acc = 0;

    if (st->state == STREAM_CLOSING || nread == 0)
        return;
    if (nread == UV_ENOBUFS) {
        (void)uv_read_stop(s);
        st->local_reading = false;
    } else if (nread == UV_EOF) {
        st->local_eof = true;
        (void)uv_read_stop(s);
        st->local_reading = false;
        if (e2e_shutdown(st->e2e) != 0) {
            stream_close(st, STREAM_CLOSE_RESET);
            return;
        }
    } else if (nread < 0) {
        stream_log(st, LOG_LEVEL_INFO, "local connection: %s; resetting the stream",
                   uv_strerror((int)nread));
        st->local_eof = true;
        local_abort(st, REC_RESET_LOCAL, "local connection reset");
        return;
    } else if (e2e_send(st->e2e, (const uint8_t *)buf->base, (size_t)nread, &acc) != 0 ||
               acc != (size_t)nread) {
        stream_log(st, LOG_LEVEL_WARN, "session refused local data");
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    pump(st);
}

static void on_leg_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct stream *st = h->data;
    size_t len = 0;
    uint8_t *p;

    (void)suggested;
    if (!st->spliced) {
        *buf = uv_buf_init((char *)&st->splice_byte, 1);
        return;
    }
    p = e2e_in_reserve(st->e2e, &len);
    *buf = uv_buf_init((char *)p, p != NULL ? (unsigned)len : 0);
}

static void on_leg_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct stream *st = s->data;

    (void)buf;
    if (st->state == STREAM_CLOSING || nread == 0)
        return;
    if (nread == UV_ENOBUFS) {
        (void)uv_read_stop(s);
        st->leg_reading = false;
    } else if (nread < 0 && !st->spliced) {
        leg_refused(st, (int)nread);
        return;
    } else if (nread == UV_EOF) {
        st->leg_eof = true;
        (void)uv_read_stop(s);
        st->leg_reading = false;
        e2e_eof(st->e2e);
    } else if (nread < 0) {
        if (!e2e_finished(st->e2e))
            stream_log(st, LOG_LEVEL_INFO, "stream leg failed: %s; resetting the local connection",
                       uv_strerror((int)nread));
        stream_close(st, e2e_finished(st->e2e) ? STREAM_CLOSE_CLEAN : STREAM_CLOSE_RESET);
        return;
    } else if (!st->spliced) {
        /* Any other byte: the ticket is gone (§6.1), never dialled again. */
        if (st->splice_byte == STREAM_NO_STREAM_BYTE) {
            stream_log(st, LOG_LEVEL_WARN,
                       "relay has no such stream (its ticket was used or has expired, or the "
                       "peer's leg failed before pairing); resetting the local connection");
            stream_close(st, STREAM_CLOSE_RESET);
            return;
        }
        if (st->splice_byte != STREAM_SPLICED_BYTE) {
            stream_log(st, LOG_LEVEL_WARN,
                       "relay sent 0x%02x instead of SPLICED; resetting the local connection",
                       st->splice_byte);
            stream_close(st, STREAM_CLOSE_RESET);
            return;
        }
        st->spliced = true; /* the relay took the ticket: never dialled again */
        sodium_memzero(st->ticket, sizeof(st->ticket));
    } else {
        (void)e2e_in_commit(st->e2e, (size_t)nread);
    }
    pump(st);
}

static void on_timer(uv_timer_t *t);

/* Starts the stream's timer for the next try of a held connection (an OPEN
 * refused rate_limited) or of a refused leg: the stream's backoff (st->retry,
 * drawn between half and all of its step, so connections refused together do
 * not come back together), never later than left ms, the bound. */
static void retry_start(struct stream *st, uint64_t left)
{
    uint32_t d = backoff_next(&st->retry, randombytes_random());

    uv_timer_stop(&st->timer);
    uv_timer_start(&st->timer, on_timer, d < left ? d : left, 0);
}

static bool e2e_session_start(struct stream *st, struct stream_owner *own);
static bool leg_dial(struct stream *st, struct stream_owner *own);

static void on_leg_dropped(uv_handle_t *h)
{
    struct stream *st = h->data;

    st->leg_dropping = false;
    stream_release(st);
}

/* Closes a refused leg so that st->leg can be dialled afresh once its close
 * callback has run. The stream no longer counts it as its leg (stream_close
 * leaves it alone); writes still queued on it end with UV_ECANCELED. */
static void leg_drop(struct stream *st)
{
    st->leg_inited = st->leg_connected = st->leg_reading = st->leg_eof = false;
    st->leg_dropping = true;
    if (uv_tcp_close_reset(&st->leg, on_leg_dropped) != 0)
        uv_close((uv_handle_t *)&st->leg, on_leg_dropped);
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
 * (on_leg_read): the local connection is reset at once. Only an older relay
 * closes such a leg without a byte; its redials are refused again and end at
 * the expiry, or earlier when the control session tells (OPEN_FAIL, the
 * session going down).
 */
static void leg_refused(struct stream *st, int err)
{
    uint64_t now = uv_now(st->loop);

    if (st->own == NULL || (st->we_reset && st->role == E2E_INITIATOR)) {
        /* Resetting anyway (the cable's local target failed): nothing to save. */
        stream_log(st, LOG_LEVEL_WARN, "relay closed the stream leg before pairing it: %s",
                   uv_strerror(err));
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    if (now >= st->ticket_until_ms) {
        log_debug("link %s: stream %u: stream leg refused by the relay %u times within the "
                  "ticket's %u ms (last: %s)",
                  st->name, st->id, st->leg_tries + 1, st->ticket_ms, uv_strerror(err));
        /* No count in the text: it is the aggregation key (streamlog.h). */
        stream_log(st, LOG_LEVEL_WARN,
                   "stream leg refused by the relay until its ticket expired (%u ms); resetting "
                   "the local connection",
                   st->ticket_ms);
        stream_close(st, STREAM_CLOSE_RESET);
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
    retry_start(st, st->ticket_until_ms - now);
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

static void on_timer(uv_timer_t *t)
{
    struct stream *st = t->data;

    if (st->state == STREAM_HELD) {
        if (st->own != NULL)
            (void)send_open(st, st->own); /* closes the stream if it cannot */
        return;
    }
    if (st->state == STREAM_REDIAL) {
        leg_redial(st);
        return;
    }
    if (st->state == STREAM_OPENING)
        stream_log(st, LOG_LEVEL_WARN, "no answer from the relay to OPEN; resetting");
    else
        stream_log(st, LOG_LEVEL_WARN, "stream setup timed out (%s); resetting",
                   !st->leg_connected     ? "connecting to the relay"
                   : !st->spliced         ? "waiting for the peer's stream leg"
                   : !st->local_connected ? "connecting to the local target"
                                          : "end-to-end handshake");
    stream_close(st, STREAM_CLOSE_RESET);
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
    st->rbuf = own->env->rbuf;
    st->rbuf_len = own->env->rbuf_len;
    uv_timer_init(st->loop, &st->timer);
    st->timer.data = st;
    (void)backoff_init(&st->retry, STREAM_RETRY_MIN_MS, STREAM_RETRY_MAX_MS); /* valid constants */
    st->refs = 1;
    st->local.data = st;
    st->leg.data = st;
    st->next = own->streams;
    if (own->streams != NULL)
        own->streams->prev = st;
    own->streams = st;
    own->n_streams++;
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
        stream_log(st, LOG_LEVEL_WARN, "cannot connect the stream leg to the relay: %s",
                   uv_strerror(status));
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    buf_init(&b, pre, sizeof(pre));
    if (frame_preamble_encode(&fp, &b) != 0 || buf_put_bytes(&b, st->ticket, MSG_TICKET_LEN) != 0 ||
        write_copy(st, &st->leg, pre, b.len) != 0) {
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    sodium_memzero(pre, sizeof(pre)); /* the ticket stays for a redial until the relay takes it */
    st->leg_connected = true;
    leg_keepalive(st);
    pump(st); /* the initiator's first handshake message rides right behind */
}

static void on_local_connect(uv_connect_t *req, int status)
{
    struct stream *st = req->data;
    char what[ADDR_TEXT_SIZE + 64];

    if (status == UV_ECANCELED || st->state == STREAM_CLOSING)
        return;
    if (status < 0) {
        snprintf(what, sizeof(what), "connect to the local target failed: %s", uv_strerror(status));
        stream_log(st, LOG_LEVEL_WARN, "%s", what);
        local_abort(st, REC_RESET_CONNECT_FAILED, what);
        return;
    }
    (void)uv_tcp_nodelay(&st->local, 1);
    st->local_connected = true;
    pump(st);
}

static void on_local_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct stream *st = req->data;
    char what[128];
    int rc;

    st->gai_pending = false;
    if (status == UV_ECANCELED || st->state == STREAM_CLOSING) {
        uv_freeaddrinfo(res);
        stream_release(st);
        return;
    }
    stream_release(st); /* the request; the timer still holds the struct */
    if (status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        snprintf(what, sizeof(what), "cannot resolve the local target: %s", uv_strerror(status));
        stream_log(st, LOG_LEVEL_WARN, "%s", what);
        local_abort(st, REC_RESET_CONNECT_FAILED, what);
        return;
    }
    rc = uv_tcp_init(st->loop, &st->local);
    if (rc == 0) {
        st->local_inited = true;
        st->refs++;
        st->local_creq.data = st;
        rc = uv_tcp_connect(&st->local_creq, &st->local, res->ai_addr, on_local_connect);
    }
    uv_freeaddrinfo(res);
    if (rc != 0) {
        snprintf(what, sizeof(what), "connect to the local target failed: %s", uv_strerror(rc));
        stream_log(st, LOG_LEVEL_WARN, "%s", what);
        local_abort(st, REC_RESET_CONNECT_FAILED, what);
    }
}

/* Dials the link's configured local target: never an address from the peer. */
static void dial_local(struct stream *st, struct stream_owner *own)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    char port[8];

    st->dial_local = true;
    if (!own->cfg->has_connect) {
        stream_log(st, LOG_LEVEL_WARN,
                   "the peer opened a stream but this side has no "
                   "connect target; refusing it");
        local_abort(st, REC_RESET_CONNECT_FAILED, "no connect target configured");
        return;
    }
    snprintf(port, sizeof(port), "%u", own->cfg->connect.port);
    st->gai.data = st;
    if (uv_getaddrinfo(st->loop, &st->gai, on_local_resolved, own->cfg->connect.host, port,
                       &hints) != 0) {
        local_abort(st, REC_RESET_CONNECT_FAILED, "cannot resolve the local target");
        return;
    }
    st->gai_pending = true;
    st->refs++;
}

/* A fresh e2e session for the stream (again for a redialled initiator).
 * Returns false if the stream closed. */
static bool e2e_session_start(struct stream *st, struct stream_owner *own)
{
    if (st->e2e != NULL) {
        e2e_done(st->e2e);
    } else if ((st->e2e = malloc(sizeof(*st->e2e))) == NULL) {
        stream_close(st, STREAM_CLOSE_RESET);
        return false;
    }
    if (e2e_init(st->e2e, st->role, own->cfg->priv, own->cfg->peer_pub, own->cfg->link_id,
                 st->stream_id) != 0) {
        free(st->e2e);
        st->e2e = NULL;
        stream_close(st, STREAM_CLOSE_RESET);
        return false;
    }
    return true;
}

/* Dials the stream leg (on_leg_connect presents the ticket), under what is
 * left of the setup deadline. Returns false if the stream closed. */
static bool leg_dial(struct stream *st, struct stream_owner *own)
{
    uint64_t now = uv_now(st->loop);
    int rc;

    uv_timer_stop(&st->timer);
    uv_timer_start(&st->timer, on_timer, st->setup_until_ms > now ? st->setup_until_ms - now : 0,
                   0);
    rc = uv_tcp_init(st->loop, &st->leg);
    if (rc == 0) {
        st->leg_inited = true;
        st->refs++;
        (void)uv_tcp_nodelay(&st->leg, 1);
        st->leg_creq.data = st;
        rc = uv_tcp_connect(&st->leg_creq, &st->leg, (const struct sockaddr *)&own->relay_sa,
                            on_leg_connect);
    }
    if (rc != 0) {
        stream_log(st, LOG_LEVEL_WARN, "cannot open the stream leg: %s", uv_strerror(rc));
        stream_close(st, STREAM_CLOSE_RESET);
        return false;
    }
    return true;
}

/* Common part of STREAM handling: session and leg. Returns false if closed. */
static bool begin(struct stream *st, struct stream_owner *own, const struct msg_stream *m)
{
    uint64_t now = uv_now(st->loop);

    st->stream_id = m->stream_id;
    st->role = m->role == MSG_ROLE_INITIATOR ? E2E_INITIATOR : E2E_RESPONDER;
    memcpy(st->ticket, m->ticket, MSG_TICKET_LEN);
    st->ticket_ms = m->expires_ms;
    st->ticket_until_ms = now + m->expires_ms;
    st->setup_until_ms = now + STREAM_SETUP_MS;
    st->keepalive_ms = own->leg_keepalive_ms;
    st->dead_ms = own->leg_dead_ms;
    st->state = STREAM_SETUP;
    if (!e2e_session_start(st, own) || !leg_dial(st, own))
        return false;
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
        dial_local(st, own);
}

void stream_responder(struct stream_owner *own, const struct msg_stream *m)
{
    struct stream *st = new_stream(own);

    if (st == NULL)
        return;
    if (!begin(st, own, m))
        return;
    dial_local(st, own);
}

/*
 * The relay's answer rate_limited means the link's OPEN budget is spent for
 * now, not that this connection is unwanted: shape, do not drop
 * (docs/design.md D16). The local connection is held (not read; the client
 * sees a slow connect-to-first-byte) and OPENed again as the budget refills,
 * within two bounds: open_queue connections held per link, each for at most
 * open_wait since its first OPEN. Past either it is reset, and the log line
 * says which bound. The immediate policy's cable keeps its own backoff.
 */
void stream_open_failed(struct stream *st, int reason)
{
    struct stream_owner *own = st->own;
    uint32_t queue = st->env->open_queue, wait = st->env->open_wait_ms;
    uint64_t now = uv_now(st->loop);

    if (reason != MSG_OPEN_FAIL_RATE_LIMITED || st->cable || own == NULL ||
        st->state == STREAM_REDIAL) {
        stream_log(st, LOG_LEVEL_WARN, "relay refused to open a stream: %s",
                   msg_open_fail_reason_name(reason));
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    if (!st->held && own->n_held >= queue) {
        stream_log(st, LOG_LEVEL_WARN,
                   "relay refused to open a stream: rate_limited; open_queue full (%u connections "
                   "held); resetting the local connection",
                   queue);
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    if (now - st->open_since_ms >= wait) {
        stream_log(st, LOG_LEVEL_WARN,
                   "relay refused to open a stream: rate_limited for open_wait (%u ms); resetting "
                   "the local connection",
                   wait);
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    if (!st->held) {
        st->held = true;
        own->n_held++;
        stream_log(st, LOG_LEVEL_INFO,
                   "relay refused to open a stream: rate_limited; holding the local connection "
                   "(open_queue %u, open_wait %u ms)",
                   queue, wait);
    }
    st->state = STREAM_HELD;
    retry_start(st, st->open_since_ms + wait - now);
    st->open_tries++;
}

static bool send_open(struct stream *st, struct stream_owner *own)
{
    int rc;

    if (st->open_tries == 0)
        st->open_since_ms = uv_now(st->loop);
    rc = own->ops->send_open(own->arg, &st->req_id);
    if (rc != 0) {
        stream_log(st, LOG_LEVEL_WARN, "%s; refusing the local connection",
                   rc == -ENOTCONN ? "no control session to the relay (relay unreachable?)"
                                   : "cannot send OPEN");
        stream_close(st, STREAM_CLOSE_RESET);
        return false;
    }
    st->state = STREAM_OPENING;
    uv_timer_start(&st->timer, on_timer, STREAM_SETUP_MS, 0);
    return true;
}

void stream_accept(struct stream_owner *own, uv_stream_t *server)
{
    struct stream *st = new_stream(own);
    struct sockaddr_storage ss;
    int len = (int)sizeof(ss);

    if (st == NULL) {
        log_warnx("link %s: out of memory accepting a connection", own->cfg->name);
        return;
    }
    if (uv_tcp_init(st->loop, &st->local) != 0) {
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    st->local_inited = true;
    st->refs++;
    if (uv_accept(server, (uv_stream_t *)&st->local) != 0) {
        stream_close(st, STREAM_CLOSE_RESET);
        return;
    }
    (void)uv_tcp_nodelay(&st->local, 1);
    st->local_connected = true;
    (void)uv_tcp_getpeername(&st->local, (struct sockaddr *)&ss, &len);
    log_debug("link %s: stream %u: local connection accepted", st->name, st->id);
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
    leave_owner(st);
    if (st->e2e != NULL && e2e_handshake_done(st->e2e) &&
        e2e_reset(st->e2e, REC_RESET_SHUTDOWN, "agent shutting down") == 0) {
        st->we_reset = true;
        stream_close(st, STREAM_CLOSE_FLUSH);
        return;
    }
    stream_close(st, STREAM_CLOSE_RESET);
}
