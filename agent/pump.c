/* SPDX-License-Identifier: MIT */
/*
 * pump — see pump.h and docs/internals/agent.md.
 */
#include "pump.h"

#include "live.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A line of this stream, aggregated per link and message (streamlog.h). */
#define pump_log(p, level, ...) streamlog_say((p)->log, (level), (p)->name, (p)->id, __VA_ARGS__)

/* Asks the owner to reset the stream, with the cause to log. */
__attribute__((format(printf, 3, 4))) static void pump_fail(struct pump *p, enum log_level level,
                                                            const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    p->ops->close(p->owner, PUMP_CLOSE_RESET, level, why);
}

/* A resumable stream's leg is lost, not failed: the owner suspends it. */
static bool leg_resumable(const struct pump *p)
{
    return p->e2e != NULL && e2e_resumable(p->e2e) && !e2e_finished(p->e2e) && !e2e_dead(p->e2e);
}

void pump_account(struct pump *p)
{
    uint64_t now;

    if (p->held_total == NULL || p->e2e == NULL)
        return;
    now = e2e_resume_held(p->e2e);
    *p->held_total = *p->held_total - p->held + now;
    p->held = now;
}

size_t pump_queued(uv_tcp_t *t)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)t);
}

bool pump_eof_was_reset(int fd, bool we_shut)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    if (we_shut)
        return false;
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return false;
    return ti.tcpi_state == TCP_CLOSE;
}

static void on_write_done(uv_write_t *req, int status)
{
    struct pump *p = req->data;
    bool local = req->handle == (uv_stream_t *)&p->local;

    free(req); /* leg_write_or_queue's */
    if (!local)
        p->leg_wreqs--;
    /* UV_ECANCELED: a handle the owner closed, the stream's or a refused
     * leg's; what follows is for the handle that is there now. */
    if (p->closing || status == UV_ECANCELED || (!local && !p->leg_connected))
        return; /* a dropped leg's last writes (their error was handled) */
    if (status < 0) {
        if (local) {
            pump_log(p, LOG_LEVEL_INFO, "local write failed: %s", uv_strerror(status));
            pump_reset(p, REC_RESET_LOCAL, "local write failed");
        } else if (!p->spliced) {
            p->ops->leg_refused(p->owner, status);
        } else if (leg_resumable(p)) {
            p->ops->leg_lost(p->owner, uv_strerror(status));
        } else {
            pump_fail(p, LOG_LEVEL_WARN, "write to relay failed: %s", uv_strerror(status));
        }
        return;
    }
    pump_run(p);
}

int pump_leg_write(struct pump *p, const uint8_t *buf, size_t len)
{
    if (leg_is_channel(p->leg))
        return p->leg->ops->write(p->leg, buf, len);
    return pump_write(p, &p->leg->tcp, buf, len);
}

int pump_write(struct pump *p, uv_tcp_t *t, const uint8_t *buf, size_t len)
{
    int rc = leg_write_or_queue((uv_stream_t *)t, buf, len, on_write_done, p);

    if (rc == 1 && t != &p->local)
        p->leg_wreqs++;
    return rc < 0 ? rc : 0;
}

void pump_reset(struct pump *p, uint8_t reason, const char *text)
{
    if (p->closing)
        return;
    if (p->e2e == NULL || e2e_reset(p->e2e, reason, text) != 0) {
        p->ops->close(p->owner, PUMP_CLOSE_RESET, LOG_LEVEL_DEBUG, NULL);
        return;
    }
    p->we_reset = true;
    pump_run(p);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct pump *p = req->data;

    if (p->closing)
        return;
    if (req == &p->local_sreq)
        p->local_shut_done = true;
    else
        p->leg_shut_done = true;
    if (status < 0 && req == &p->leg_sreq) {
        p->ops->close(p->owner, PUMP_CLOSE_RESET, LOG_LEVEL_DEBUG, NULL);
        return;
    }
    if (status == UV_ECANCELED)
        return;
    pump_run(p);
}

/* Events of the session; returns false if the stream closed. */
static bool handle_events(struct pump *p)
{
    struct e2e_event ev;
    char text[REC_TEXT_MAX + 1];

    while (e2e_next_event(p->e2e, &ev) == 1) {
        switch (ev.type) {
        case E2E_EV_HANDSHAKE:
            log_debug("link %s: stream %u: end-to-end session up", p->name, p->id);
            break;
        case E2E_EV_PEER_FINAL:
            break; /* acted on below, once the plaintext is written */
        case E2E_EV_RESUMED:
            p->ops->resumed(p->owner);
            break;
        case E2E_EV_LEG_FAILED:
            p->ops->leg_lost(p->owner, "the resumed leg's HELLO was refused (not our peer, or "
                                       "replayed)");
            return false;
        case E2E_EV_PEER_RESET:
            memcpy(text, ev.text, ev.text_len);
            text[ev.text_len] = '\0';
            pump_fail(p, LOG_LEVEL_INFO, "peer reset the stream (reason %u%s%s)", ev.reason,
                      text[0] ? ": " : "", text);
            return false;
        case E2E_EV_ERROR:
        default:
            pump_fail(p, LOG_LEVEL_WARN, "%s%s%s; resetting", e2e_strerror(ev.err),
                      ev.err == E2E_E_RECORD ? ": " : "",
                      ev.err == E2E_E_RECORD ? rec_strerror(ev.detail) : "");
            return false;
        }
    }
    return true;
}

/* Moves bytes: session output to the leg, plaintext to the local socket.
 * Returns true if anything moved. */
static bool move_bytes(struct pump *p)
{
    const uint8_t *b;
    size_t n;
    bool moved = false;

    while (p->leg_connected && leg_queued(p->leg) < PUMP_HIGH_WATER &&
           (b = e2e_out_peek(p->e2e, &n)) != NULL && n > 0) {
        n = n > PUMP_WRITE_MAX ? PUMP_WRITE_MAX : n;
        if (pump_leg_write(p, b, n) != 0) {
            if (leg_resumable(p))
                p->ops->leg_lost(p->owner, "write to relay failed");
            else
                p->ops->close(p->owner, PUMP_CLOSE_RESET, LOG_LEVEL_DEBUG, NULL);
            return false;
        }
        (void)e2e_out_consume(p->e2e, n);
        moved = true;
    }
    while (p->local_connected && !p->local_shut && pump_queued(&p->local) < PUMP_HIGH_WATER &&
           (b = e2e_plain_peek(p->e2e, &n)) != NULL && n > 0) {
        n = n > PUMP_WRITE_MAX ? PUMP_WRITE_MAX : n;
        if (pump_write(p, &p->local, b, n) != 0) {
            pump_reset(p, REC_RESET_LOCAL, "local write failed");
            return false;
        }
        (void)e2e_plain_consume(p->e2e, n);
        moved = true;
    }
    return moved;
}

static void on_local_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_local_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static bool local_read_now(struct pump *p);
static void on_leg_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_leg_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* The local socket may be read: the handshake is done, the session takes
 * data, the leg's queue is under its mark and the agent's replay bytes
 * under their cap (set_reading, local_read_now). */
static bool local_may_read(struct pump *p)
{
    struct e2e *e = p->e2e;

    return p->local_connected && e2e_handshake_done(e) && !p->local_eof && !p->we_reset &&
           e2e_send_space(e) > 0 && (!p->leg_connected || leg_queued(p->leg) < PUMP_HIGH_WATER) &&
           (p->held_total == NULL || *p->held_total < p->held_cap);
}

static void set_reading(struct pump *p)
{
    struct e2e *e = p->e2e;
    bool want_local = local_may_read(p);
    bool want_leg = p->leg_connected && !p->leg_eof && (!p->spliced || e2e_in_space(e) > 0);

    if (want_local != p->local_reading) {
        if (want_local)
            (void)uv_read_start((uv_stream_t *)&p->local, on_local_alloc, on_local_read);
        else
            (void)uv_read_stop((uv_stream_t *)&p->local);
        p->local_reading = want_local;
    }
    if (p->leg != NULL && want_leg != p->leg->reading) {
        if (want_leg)
            (void)leg_read(p->leg, on_leg_alloc, on_leg_read);
        else
            leg_read_stop(p->leg);
    }
}

/* Half-close, each way: the peer's FINAL shuts the local socket down once its
 * plaintext is written; local EOF, with our FINAL written out, shuts the leg
 * down. Returns false if the stream closed. */
static bool shut_down(struct pump *p)
{
    size_t n;

    if (e2e_peer_final(p->e2e) && p->local_connected && !p->local_shut) {
        p->local_shut = true;
        p->local_sreq.data = p;
        if (uv_shutdown(&p->local_sreq, (uv_stream_t *)&p->local, on_shutdown) != 0)
            p->local_shut_done = true;
    }
    /* A resumable stream keeps its leg open for ACKs until it is finished;
     * a kept one's leg is not shut down at all (D48). */
    if (p->local_eof && !p->leg_shut && p->leg_connected && e2e_final_sent(p->e2e) &&
        !e2e_keep(p->e2e) && (!e2e_resumable(p->e2e) || e2e_finished(p->e2e))) {
        (void)e2e_out_peek(p->e2e, &n);
        if (n == 0) {
            p->leg_shut = true;
            p->leg_sreq.data = p;
            if (leg_shutdown(p->leg, &p->leg_sreq, on_shutdown) != 0) {
                p->ops->close(p->owner, PUMP_CLOSE_RESET, LOG_LEVEL_DEBUG, NULL);
                return false;
            }
        }
    }
    return true;
}

/* A STREAM_ACK that is due goes to the owner (D43). */
static void pump_oob_ack(struct pump *p)
{
    uint8_t mac[E2E_ACK_MAC_LEN];
    uint64_t offset;

    if (p->ops->oob_ack != NULL && e2e_oob_ack_take(p->e2e, &offset, mac) == 1)
        p->ops->oob_ack(p->owner, offset, mac);
}

void pump_run(struct pump *p)
{
    bool moved;

    if (p->closing || p->e2e == NULL)
        return;
    if (!p->first_read && e2e_handshake_done(p->e2e) && !local_read_now(p))
        return;
    do {
        if (!handle_events(p))
            return;
        moved = move_bytes(p);
        if (p->closing)
            return;
    } while (moved);
    pump_oob_ack(p);
    pump_account(p);
    if (!p->ready && e2e_handshake_done(p->e2e) && (!p->dial_local || p->local_connected)) {
        p->ready = true;
        p->ops->ready(p->owner);
    }
    if (e2e_dead(p->e2e)) {
        /* Only a RESET of ours gets here (errors closed above). */
        p->ops->close(p->owner, p->leg_connected ? PUMP_CLOSE_FLUSH : PUMP_CLOSE_RESET,
                      LOG_LEVEL_DEBUG, NULL);
        return;
    }
    if (!shut_down(p))
        return;
    if (e2e_keep(p->e2e) && e2e_finished(p->e2e) && p->local_eof && p->local_shut_done &&
        p->leg_connected && pump_leg_idle(p)) {
        log_debug("link %s: stream %u finished: %llu bytes out, %llu in; keeping its leg", p->name,
                  p->id, (unsigned long long)e2e_bytes_sent(p->e2e),
                  (unsigned long long)e2e_bytes_delivered(p->e2e));
        p->ops->close(p->owner, PUMP_CLOSE_KEEP, LOG_LEVEL_DEBUG, NULL);
        return;
    }
    if (e2e_finished(p->e2e) && p->leg_eof && p->local_eof && p->local_shut_done &&
        p->leg_shut_done) {
        log_debug("link %s: stream %u finished: %llu bytes out, %llu in", p->name, p->id,
                  (unsigned long long)e2e_bytes_sent(p->e2e),
                  (unsigned long long)e2e_bytes_delivered(p->e2e));
        p->ops->close(p->owner, PUMP_CLOSE_CLEAN, LOG_LEVEL_DEBUG, NULL);
        return;
    }
    set_reading(p);
}

void pump_ack_idle(struct pump *p)
{
    if (p->closing || p->e2e == NULL)
        return;
    if (e2e_ack_idle(p->e2e) == 1 || e2e_oob(p->e2e))
        pump_run(p); /* the ACK sealed goes out; a STREAM_ACK due too */
}

static void on_local_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pump *p = h->data;
    size_t space = p->e2e != NULL ? e2e_send_space(p->e2e) : 0;

    (void)suggested;
    if (space > p->rbuf_len)
        space = p->rbuf_len;
    if (p->held_total != NULL) { /* the cap may be below the total after a reload */
        uint64_t room = *p->held_total < p->held_cap ? p->held_cap - *p->held_total : 0;

        if (space > room)
            space = (size_t)room;
    }
    *buf = uv_buf_init((char *)p->rbuf, (unsigned)space);
}

static bool local_eof_was_reset(struct pump *p)
{
    uv_os_fd_t fd = -1;

    return uv_fileno((uv_handle_t *)&p->local, &fd) == 0 &&
           pump_eof_was_reset(fd, p->local_shut_done);
}

/* What a read of the local socket gave (libuv's nread); false when the
 * stream closed or went to its reset (nothing more to do here). */
static bool local_input(struct pump *p, ssize_t nread, const uv_buf_t *buf)
{
    size_t acc = 0;

    if (nread == UV_ENOBUFS) {
        (void)uv_read_stop((uv_stream_t *)&p->local);
        p->local_reading = false;
    } else if (nread == UV_EOF && local_eof_was_reset(p)) {
        pump_log(p, LOG_LEVEL_INFO,
                 "local connection: reset by peer (seen by a write first); "
                 "resetting the stream");
        p->local_eof = true;
        pump_reset(p, REC_RESET_LOCAL, "local connection reset");
        return false;
    } else if (nread == UV_EOF) {
        p->local_eof = true;
        (void)uv_read_stop((uv_stream_t *)&p->local);
        p->local_reading = false;
        if (e2e_shutdown(p->e2e) != 0) {
            p->ops->close(p->owner, PUMP_CLOSE_RESET, LOG_LEVEL_DEBUG, NULL);
            return false;
        }
    } else if (nread < 0) {
        pump_log(p, LOG_LEVEL_INFO, "local connection: %s; resetting the stream",
                 uv_strerror((int)nread));
        p->local_eof = true;
        pump_reset(p, REC_RESET_LOCAL, "local connection reset");
        return false;
    } else if (e2e_send(p->e2e, (const uint8_t *)buf->base, (size_t)nread, &acc) != 0 ||
               acc != (size_t)nread) {
        pump_fail(p, LOG_LEVEL_WARN, "session refused local data");
        return false;
    }
    return true;
}

static void on_local_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct pump *p = s->data;

    if (p->closing || nread == 0)
        return;
    if (local_input(p, nread, buf))
        pump_run(p);
}

/*
 * The first step after the handshake, on a side whose local connection was
 * up before it ended (the initiator's; the responder's too when its target
 * answered first): one read of the local socket straight away, so what the client sent while the
 * handshake ran is sealed behind our record header and both leave in one write (design.md D51).
 * Without it the header went out alone and the data a turn of the loop later: one more write here,
 * one more message for the relay and the peer. Nothing is read before the handshake is done (no
 * 0-RTT data, docs/protocol.md §7.4). Returns false when the stream closed.
 */
static bool local_read_now(struct pump *p)
{
    uv_os_fd_t fd = -1;
    uv_buf_t buf;
    ssize_t n;

    p->first_read = true;
    if (p->local_reading || !local_may_read(p) || uv_fileno((uv_handle_t *)&p->local, &fd) != 0)
        return true;
    on_local_alloc((uv_handle_t *)&p->local, 0, &buf);
    if (buf.len == 0)
        return true;
    do
        n = read(fd, buf.base, buf.len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true; /* nothing yet: set_reading() waits for it */
    return local_input(p, n > 0 ? n : n == 0 ? UV_EOF : uv_translate_sys_error(errno), &buf);
}

static void on_leg_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pump *p = h->data;
    size_t len = 0;
    uint8_t *b;

    (void)suggested;
    if (!p->spliced) {
        *buf = uv_buf_init((char *)&p->splice_byte, 1);
        return;
    }
    b = e2e_in_reserve(p->e2e, &len);
    *buf = uv_buf_init((char *)b, b != NULL ? (unsigned)len : 0);
}

/* The leg's first byte (§6.1): SPLICED starts the handshake; 0x00 (no such
 * stream) or any other byte means the ticket is gone, never dialled again
 * (the owner may OPEN the stream anew: unknown_ticket). Returns false if the
 * stream closed or dropped the leg. */
static bool on_splice_byte(struct pump *p)
{
    if (p->splice_byte != PUMP_SPLICED_BYTE && leg_resumable(p) && e2e_handshake_done(p->e2e)) {
        /* A resumed leg the relay could not pair (the peer's never came). */
        p->ops->leg_lost(p->owner, "relay could not pair the resumed leg");
        return false;
    }
    if (p->splice_byte == PUMP_NO_STREAM_BYTE && !e2e_handshake_done(p->e2e) &&
        p->ops->unknown_ticket(p->owner))
        return false;
    if (p->splice_byte == PUMP_NO_STREAM_BYTE) {
        pump_fail(p, LOG_LEVEL_WARN,
                  "relay has no such stream (its ticket was used or has expired, or the "
                  "peer's leg failed before pairing); resetting the local connection");
        return false;
    }
    if (p->splice_byte != PUMP_SPLICED_BYTE) {
        pump_fail(p, LOG_LEVEL_WARN,
                  "relay sent 0x%02x instead of SPLICED; resetting the local connection",
                  p->splice_byte);
        return false;
    }
    p->spliced = true; /* the relay took the ticket: never dialled again */
    p->ops->spliced(p->owner);
    return true;
}

static void on_leg_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct pump *p = s->data;

    (void)buf;
    if (p->closing || nread == 0)
        return;
    if (nread == UV_ENOBUFS) {
        leg_read_stop(leg_of((uv_handle_t *)s));
    } else if (nread < 0 && !p->spliced) {
        p->ops->leg_refused(p->owner, (int)nread);
        return;
    } else if (nread < 0 && leg_resumable(p)) {
        p->ops->leg_lost(p->owner, nread == UV_EOF ? "the relay closed the stream leg"
                                                   : uv_strerror((int)nread));
        return;
    } else if (nread == UV_EOF) {
        p->leg_eof = true;
        leg_read_stop(leg_of((uv_handle_t *)s));
        e2e_eof(p->e2e);
    } else if (nread < 0) {
        if (e2e_finished(p->e2e))
            p->ops->close(p->owner, PUMP_CLOSE_CLEAN, LOG_LEVEL_DEBUG, NULL);
        else
            pump_fail(p, LOG_LEVEL_INFO, "stream leg failed: %s; resetting the local connection",
                      uv_strerror((int)nread));
        return;
    } else if (!p->spliced) {
        if (!on_splice_byte(p))
            return;
    } else {
        (void)e2e_in_commit(p->e2e, (size_t)nread);
    }
    pump_run(p);
}

/* A channel's peer took bytes in: the pump may write again (leg.h). */
static void on_leg_credit(struct leg *l)
{
    pump_run(l->tcp.data);
}

void pump_leg_attach(struct pump *p, struct leg *l)
{
    p->leg = l;
    l->tcp.data = p;
    l->credit_cb = on_leg_credit;
    if (l->reading)
        (void)leg_read(l, on_leg_alloc, on_leg_read); /* only the callbacks change */
}

bool pump_leg_idle(const struct pump *p)
{
    /* A channel's writes are frames of its shared leg already (mux.h). */
    return p->leg != NULL && p->leg_wreqs == 0 &&
           (leg_is_channel(p->leg) || leg_queued(p->leg) == 0);
}

int pump_leg_keepalive(struct pump *p, uint32_t keepalive_ms, uint32_t dead_ms)
{
    struct live_keepalive k;
    uv_os_fd_t fd = -1;
    int intvl, cnt;

    if (p->leg == NULL)
        return -ENOTCONN;
    if (leg_is_channel(p->leg))
        return 0; /* its shared leg's were set when it was a stream's */
    live_keepalive(keepalive_ms, dead_ms, &k);
    intvl = (int)k.intvl_s;
    cnt = (int)k.cnt;
    if (uv_tcp_keepalive(&p->leg->tcp, 1, k.idle_s) != 0 ||
        uv_fileno((uv_handle_t *)&p->leg->tcp, &fd) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0)
        return -errno;
    return 0;
}

bool pump_leg_dead(struct pump *p, struct live_ack *ack, uint64_t now, uint32_t dead_ms)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    uv_os_fd_t fd = -1;
    uv_tcp_t *t = p->leg != NULL ? leg_carrier(p->leg) : NULL;

    memset(&ti, 0, sizeof(ti));
    if (t == NULL || uv_fileno((uv_handle_t *)t, &fd) != 0 ||
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return false;
    /* Waiting for an ACK: data in flight, or (tcpi_probes) window or
     * keepalive probes sent and not answered. The relay's kernel answers
     * window probes while it merely does not read, so a leg whose writes
     * stopped at a zero window when the path died is caught too (its data
     * is then queued, not in flight: tcpi_unacked is 0). */
    return live_ack_dead(ack, now, ti.tcpi_unacked + ti.tcpi_probes, ti.tcpi_last_ack_recv,
                         dead_ms);
}
