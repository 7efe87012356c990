/* SPDX-License-Identifier: MIT */
#include "relay/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "acct.h"
#include "holdcap.h"
#include "log.h"
#include "quota.h"
#include "stats.h"
#include "streamtypes.h"
#include "wallclock.h"

#define STREAM_SPLICED_BYTE 0x01 /* SPLICED (§6.1) */
#define STREAM_NOSTREAM     0x00 /* no such stream: do not redial (§6.1) */
#define STREAM_FREE_MAX     256  /* struct stream kept for reuse (freelist.h) */
#define STREAM_SHUT_MAX     256  /* uv_shutdown_t kept for reuse */

static void stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void stream_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);
static bool stream_zc_try(struct stream *s);
static void stream_rate_wake(struct shape_waiter *w);
static void stream_hold_wake(struct holdcap_dir *d);

uint64_t stream_wire_id(const struct stream *s)
{
    return s->id;
}

struct stream *stream_next(const struct stream *s)
{
    return s->next;
}

const struct conn *stream_leg_conn(const struct stream *s, int side)
{
    return s->leg[side].c;
}

void stream_ticket_copy(const struct stream *s, int side, uint8_t out[TICKET_LEN])
{
    memcpy(out, s->ticket[side], TICKET_LEN);
}

static void stream_free_cb(uv_handle_t *h)
{
    struct stream *s = h->data;

    freelist_put(&s->sx->free, s); /* wiped there */
}

static void stream_expire(uv_timer_t *t);

void stream_set_resume(struct stream *s)
{
    s->resume = true;
    s->sx->stats->resume_asked++;
}

int stream_open(struct stream_ctx *sx, struct index_link *l, int opener, uint32_t req_id,
                stream_expired_cb expired, struct stream **out)
{
    uint64_t now = uv_now(sx->loop), exp = now + sx->lim->ticket_expiry_ms;
    struct stream *s;
    int rc;

    if (sx->free.max == 0)
        freelist_init(&sx->free, sizeof(*s), STREAM_FREE_MAX);
    if ((s = freelist_get(&sx->free)) == NULL)
        return -ENOMEM;
    s->sx = sx;
    s->link = l;
    s->id = ++sx->next_id;
    s->req_id = req_id;
    s->opener = opener;
    s->expired = expired;
    s->created_ms = now;
    s->created_wall = wallclock_ms();
    for (int side = 0; side < 2; side++) {
        s->leg[side].s = s;
        s->leg[side].side = side;
        s->leg[side].wait.wake = stream_rate_wake;
        s->leg[side].hold.wake = stream_hold_wake;
        rc = ticket_issue(sx->tickets, s, side, exp, s->ticket[side]);
        if (rc != 0) {
            if (side == 1)
                ticket_revoke(sx->tickets, s->ticket[0]);
            freelist_put(&sx->free, s);
            return rc;
        }
        s->in_table[side] = true;
    }
    uv_timer_init(sx->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, stream_expire, sx->lim->ticket_expiry_ms, 0);
    s->next = l->streams;
    if (l->streams != NULL)
        l->streams->prev = s;
    l->streams = s;
    l->n_streams++;
    sx->stats->streams_open++;
    sx->stats->streams_opened[opener & 1]++;
    *out = s;
    return 0;
}

/* Tells a leg that will never be spliced that its ticket is gone (§6.1), so
 * its agent does not dial it again: one byte, written straight to the kernel
 * (a fresh leg's socket has room) ahead of the close or RST that follows. A
 * byte the kernel does not take at once is not sent (the close cancels it):
 * the agent then redials until the ticket's expiry, as before. */
static void stream_tell_gone(struct conn *c)
{
    static const uint8_t gone = STREAM_NOSTREAM;
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)&gone, 1);

    (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
}

/* The stream's accounting row, queued for the registry. */
static void stream_account(struct stream *s, enum store_cause cause)
{
    struct store_stream rec;

    memset(&rec, 0, sizeof(rec));
    memcpy(rec.link_id, s->link->id, sizeof(rec.link_id));
    rec.stream_id = s->id;
    rec.opener = s->opener;
    rec.started_ms = (int64_t)s->created_wall;
    rec.ended_ms = (int64_t)wallclock_ms();
    rec.wait_ms = s->paired_ms != 0 ? (int64_t)(s->paired_ms - s->created_ms) : 0;
    rec.bytes_a_to_b = s->bytes[0];
    rec.bytes_b_to_a = s->bytes[1];
    rec.cause = cause;
    acct_stream(s->sx->acct, &rec);
    quota_save(s->sx->acct, s->link); /* the counter with the row (D29) */
}

/*
 * The one close path of a stream: logs one line (at info with why when it
 * is not NULL, else at debug), records the accounting row, detaches from its link and legs and
 * closes them (FIN for cause fin, RST for any other cause), and frees itself
 * via the timer. Idempotent. Closes connections: callers re-check their leg.
 */
void stream_finish(struct stream *s, enum store_cause cause, const char *why)
{
    struct stream_ctx *sx = s->sx;

    if (s->state == STREAM_DONE)
        return;
    for (int side = 0; side < 2; side++) {
        if (s->state == STREAM_PENDING && s->leg[side].c != NULL)
            stream_tell_gone(s->leg[side].c); /* took its ticket, never spliced */
    }
    s->state = STREAM_DONE;
    for (int side = 0; side < 2; side++) {
        shape_cancel(sx->shape, &s->leg[side].wait);
        holdcap_cancel(sx->hold, &s->leg[side].hold);
        holdcap_set(sx->hold, &s->leg[side].hold, 0);
        if (s->in_table[side])
            ticket_revoke(sx->tickets, s->ticket[side]);
        s->in_table[side] = false;
    }
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        s->link->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->link->n_streams--;
    sx->stats->streams_open--;
    if ((unsigned)cause < sizeof(sx->stats->streams_closed) / sizeof(sx->stats->streams_closed[0]))
        sx->stats->streams_closed[cause]++;
    stream_account(s, cause);
    if (why != NULL)
        log_info("stream %" PRIu64 " link %s: reset (%s), closed (%s), %" PRIu64 " a->b, %" PRIu64
                 " b->a",
                 s->id, s->link->name, why, store_cause_name(cause), s->bytes[0], s->bytes[1]);
    else
        log_debug("stream %" PRIu64 " link %s: closed (%s), %" PRIu64 " a->b, %" PRIu64 " b->a",
                  s->id, s->link->name, store_cause_name(cause), s->bytes[0], s->bytes[1]);
    zerocopy_close(s->zc);
    s->zc = NULL;
    for (int side = 0; side < 2; side++) {
        struct conn *c = s->leg[side].c;
        if (c == NULL)
            continue;
        s->leg[side].c = NULL;
        c->owner = NULL;
        conn_close(c, cause == STORE_CAUSE_FIN ? CONN_END_FIN : CONN_END_RST,
                   store_cause_name(cause));
    }
    uv_close((uv_handle_t *)&s->timer, stream_free_cb);
}

/* A leg failed with a libuv error: a stall (conn_leg_stalled) or a reset. */
static void stream_close_err(struct stream *s, int err)
{
    char why[96];

    if (conn_leg_stalled(err, why, sizeof(why)))
        stream_finish(s, STORE_CAUSE_TIMEOUT, why);
    else
        stream_finish(s, STORE_CAUSE_RESET, uv_strerror(err));
}

void stream_abort_link(struct index_link *l, enum store_cause cause, const char *why)
{
    while (l->streams != NULL)
        stream_finish(l->streams, cause, why);
}

static void stream_expire(uv_timer_t *t)
{
    struct stream *s = t->data;

    if (s->state != STREAM_PENDING)
        return;
    s->expired(s->link, s->opener, s->req_id);
    if (s->resume) /* a RESUME whose peer leg never came: its id matched nothing there */
        s->sx->stats->resume_unmatched++;
    stream_finish(s, STORE_CAUSE_TIMEOUT,
                  s->resume ? "a leg of a RESUME did not arrive in time (unmatched)"
                            : "a leg did not arrive in time");
}

/* ---- the splice proper ---- */

/* Bytes for leg i that the kernel has not taken yet, for the write-stall timer: a pipe's contents,
 * or on the copying path libuv's write queue size, which drops as the kernel takes each part of a
 * request. Not c->queued: a request of up to one read (256 KiB) is counted there until its
 * callback, so a reader slow but still reading would show no progress for as long as the whole
 * request takes to drain (D12: stalled means the kernel took no byte, not that no request
 * completed). */
static size_t stream_pending(const struct stream *s, int i)
{
    if (s->zc != NULL)
        return zerocopy_pending(s->zc, i);
    return uv_stream_get_write_queue_size((const uv_stream_t *)&s->leg[i].c->tcp);
}

/* What each direction holds, to the cap (D40): bytes in libuv's write queue
 * that the relay copied, or in the direction's pipe. */
static void stream_hold_sync(struct stream *s)
{
    for (int i = 0; i < 2 && s->state == STREAM_SPLICED; i++)
        holdcap_set(s->sx->hold, &s->leg[i].hold,
                    s->zc != NULL ? zerocopy_pending(s->zc, 1 - i) : s->leg[1 - i].c->queued);
}

static void stream_maybe_resume(struct stream *s, int src)
{
    struct stream_leg *lg = &s->leg[src];
    struct conn *c = lg->c, *dst = s->leg[1 - src].c;

    if (c == NULL || dst == NULL || !lg->read_paused || lg->read_eof || c->state == CONN_CLOSED)
        return;
    if (dst->queued == 0 && lg->rate_held) {
        lg->read_paused = false; /* stream_rate_wake restarts reading */
        return;
    }
    if (dst->queued > 0)
        return;
    lg->read_paused = false;
    /* A bulk stream whose copied rest just went out: libuv holds nothing for
     * this direction now, the moment to move it to zero-copy. */
    if (s->bulk && stream_zc_try(s))
        return;
    uv_read_start((uv_stream_t *)&c->tcp, stream_alloc, stream_read);
}

static void stream_write_cb(uv_write_t *req, int status)
{
    struct conn *dst = req->handle->data;
    struct stream_leg *lg = dst->owner;

    conn_send_done(req);
    if (status == UV_ECANCELED || lg == NULL)
        return;
    if (status < 0) {
        stream_close_err(lg->s, status);
        return;
    }
    stream_hold_sync(lg->s);
    stream_maybe_resume(lg->s, 1 - lg->side);
}

/* Queues len bytes to leg dst (conn_send: no copy of what the kernel takes). */
static int stream_write(struct stream *s, int dst, const uint8_t *p, size_t len)
{
    s->queued_total[dst] += len;
    return conn_send(s->leg[dst].c, p, len, stream_write_cb);
}

/* n bytes read from leg src: the counters, the half-close timer's last
 * traffic and the byte quota (D29): true when past it (not forwarded; the
 * caller calls stream_quota_abort). */
static bool stream_count_bytes(struct stream *s, int src, size_t n)
{
    s->bytes[src] += n;
    s->link->bytes[src] += n;
    shape_take(s->sx->shape, s->link, src, n);
    s->sx->stats->bytes[src] += n;
    s->last_rx_ms = uv_now(s->sx->loop);
    return quota_count(&s->link->quota, n);
}

/* Past the quota (D29): every stream of the link reset. Closes s too. */
static void stream_quota_abort(struct stream *s)
{
    quota_crossed(s->link, s->sx->stats, s->sx->acct);
    stream_abort_link(s->link, STORE_CAUSE_QUOTA, "quota exceeded");
}

static void stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    struct stream_leg *lg = c->owner;
    struct stream_ctx *sx = c->ops_arg;
    size_t room = STREAM_RBUF_SIZE, q;

    (void)suggested;
    if (lg != NULL && lg->s->leg[1 - lg->side].c != NULL) {
        /* Read no more than fits under splice_buffer on the other leg, so the
         * bound holds exactly (at least one byte, or libuv reports ENOBUFS). */
        q = lg->s->leg[1 - lg->side].c->queued;
        room = q < sx->lim->splice_buffer ? sx->lim->splice_buffer - q : 1;
        if (room > STREAM_RBUF_SIZE)
            room = STREAM_RBUF_SIZE;
        room = holdcap_budget(sx->hold, &lg->hold, room);
        room = quota_budget(&lg->s->link->quota, room);
        q = shape_budget(sx->shape, lg->s->link, lg->side, room);
        /* None: libuv hands stream_read UV_ENOBUFS, which stops reading. */
        lg->rate_held = q == 0;
        lg->rate_capped = q < room;
        room = q;
    }
    buf->base = (char *)sx->rbuf;
    buf->len = room;
}

static void stream_check_done(struct stream *s)
{
    const struct stream_leg *a = &s->leg[0], *b = &s->leg[1];

    if (a->c != NULL && b->c != NULL && a->read_eof && b->read_eof && a->shut_done && b->shut_done)
        stream_finish(s, STORE_CAUSE_FIN, NULL);
}

static void stream_shutdown_cb(uv_shutdown_t *req, int status)
{
    struct conn *c = req->handle->data; /* there until its close callbacks, after this */
    struct stream_leg *lg = c->owner;

    freelist_put(&((struct stream_ctx *)c->ops_arg)->shut, req);
    if (status == UV_ECANCELED || lg == NULL)
        return;
    if (status < 0) {
        stream_finish(lg->s, STORE_CAUSE_RESET, "shutdown failed");
        return;
    }
    lg->shut_done = true;
    stream_check_done(lg->s);
}

/* EOF read from leg src: shut down the write side of the other leg. If that
 * leg's direction had ended too and all was written, both close with FIN now
 * (close() sends it after what the kernel holds; both read EOF, so no RST):
 * no shutdown() calls, pending ones cancelled (D49). */
static void stream_forward_eof(struct stream *s, int src)
{
    struct stream_leg *dst = &s->leg[1 - src];
    uv_shutdown_t *req;

    s->leg[src].read_eof = true;
    s->last_rx_ms = uv_now(s->sx->loop);
    if (dst->read_eof && conn_all_written(dst->c) && conn_all_written(s->leg[src].c)) {
        stream_finish(s, STORE_CAUSE_FIN, NULL);
        return;
    }
    if (dst->shut_sent)
        return;
    if (s->sx->shut.max == 0)
        freelist_init(&s->sx->shut, sizeof(*req), STREAM_SHUT_MAX);
    if ((req = freelist_get(&s->sx->shut)) == NULL ||
        uv_shutdown(req, (uv_stream_t *)&dst->c->tcp, stream_shutdown_cb) != 0) {
        freelist_put(&s->sx->shut, req);
        stream_finish(s, STORE_CAUSE_ERROR, "cannot shut down");
        return;
    }
    dst->shut_sent = true;
}

static void stream_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = h->data;
    struct stream_leg *lg = c->owner;
    struct stream *s;
    int rc;

    if (c->state == CONN_CLOSED || lg == NULL || nread == 0)
        return;
    s = lg->s;
    if (nread == UV_ENOBUFS && lg->rate_held) {
        uv_read_stop(h);
        if (!holdcap_wait(s->sx->hold, &lg->hold)) /* else the cap's (D40) */
            shape_wait(s->sx->shape, s->link, lg->side, &lg->wait);
        return;
    }
    if (nread == UV_EOF && !conn_eof_was_reset(c, buf)) {
        stream_forward_eof(s, lg->side);
        return;
    }
    if (nread < 0) {
        stream_close_err(s, nread == UV_EOF ? UV_ECONNRESET : (int)nread);
        return;
    }
    if (stream_count_bytes(s, lg->side, (size_t)nread)) {
        stream_quota_abort(s);
        return;
    }
    rc = stream_write(s, 1 - lg->side, s->sx->rbuf, (size_t)nread);
    if (rc != 0) {
        stream_close_err(s, rc);
        return;
    }
    stream_hold_sync(s);
    if ((size_t)nread >= ZEROCOPY_PROMOTE || s->bytes[lg->side] >= ZEROCOPY_PROMOTE_BYTES)
        s->bulk = true;
    /* The kernel did not take it all: read no more from this leg until the
     * rest is written. So what waits in the relay is at most one read
     * (<= splice_buffer, stream_alloc) and is copied once; the source's
     * kernel buffer holds the rest, as TCP backpressure. Reading on while
     * below splice_buffer copied every further read into the queue and held
     * up to splice_buffer per stalled direction (design.md D12). */
    if (lg->rate_capped) {
        lg->rate_held = true; /* cut by a limit's share: the others read first */
        uv_read_stop(h);
        shape_wait(s->sx->shape, s->link, lg->side, &lg->wait);
    }
    if (s->leg[1 - lg->side].c->queued > 0) {
        lg->read_paused = true;
        uv_read_stop(h);
    } else if (s->bulk) {
        (void)stream_zc_try(s);
    }
}

/* ---- zero-copy forwarding (zerocopy.c, design.md D14) ---- */

static int stream_zc_on_read(void *arg, int src, size_t n)
{
    struct stream *s = arg;

    if (stream_count_bytes(s, src, n)) {
        s->quota_hit = true;
        return -EDQUOT; /* to stream_zc_on_error */
    }
    if (n == 0)
        s->leg[src].read_eof = true;
    else
        s->queued_total[1 - src] += n;
    return 0;
}

/* What leg src may splice now: quota (D29), then shape.c (D28); 0: waits. */
static size_t stream_zc_budget(void *arg, int src, size_t want)
{
    struct stream *s = arg;
    size_t n;

    stream_hold_sync(s); /* the pipes as they are now, then the cap (D40) */
    n = holdcap_budget(s->sx->hold, &s->leg[src].hold, want);
    n = shape_budget(s->sx->shape, s->link, src, quota_budget(&s->link->quota, n));
    s->leg[src].rate_held = n == 0;
    if (n == 0 && !holdcap_wait(s->sx->hold, &s->leg[src].hold))
        shape_wait(s->sx->shape, s->link, src, &s->leg[src].wait);
    return n;
}

/* shape.c's timer: a leg held for rate reads again (and asks its budget). */
static void stream_rate_wake(struct shape_waiter *w)
{
    struct stream_leg *lg = (struct stream_leg *)((char *)w - offsetof(struct stream_leg, wait));
    struct stream *s = lg->s;
    struct conn *c = lg->c;

    lg->rate_held = false;
    if (s->state != STREAM_SPLICED || c == NULL || c->state == CONN_CLOSED || lg->read_eof)
        return;
    if (s->zc != NULL)
        zerocopy_release(s->zc, lg->side);
    else if (!lg->read_paused && !uv_is_active((uv_handle_t *)&c->tcp))
        uv_read_start((uv_stream_t *)&c->tcp, stream_alloc, stream_read);
}

/* holdcap.c: a direction held by the cap (D40) may read again. */
static void stream_hold_wake(struct holdcap_dir *d)
{
    struct stream_leg *lg = (struct stream_leg *)((char *)d - offsetof(struct stream_leg, hold));

    lg->wait.wake(&lg->wait);
}

static void stream_zc_on_shutdown(void *arg, int dst)
{
    struct stream *s = arg;

    s->leg[dst].shut_sent = true;
    s->leg[dst].shut_done = true;
}

static void stream_zc_on_error(void *arg, int err)
{
    if (((struct stream *)arg)->quota_hit) /* stream_zc_on_read's -EDQUOT */
        stream_quota_abort(arg);
    else
        stream_close_err(arg, err);
}

static void stream_zc_on_event(void *arg)
{
    stream_hold_sync(arg);
    stream_check_done(arg);
}

static const struct zerocopy_ops stream_zc_ops = {
    .budget = stream_zc_budget,
    .on_read = stream_zc_on_read,
    .on_shutdown = stream_zc_on_shutdown,
    .on_error = stream_zc_on_error,
    .on_event = stream_zc_on_event,
};

/*
 * A bulk stream (a read of ZEROCOPY_PROMOTE or more, or
 * ZEROCOPY_PROMOTE_BYTES read in one direction) moves to zero-copy
 * forwarding if a slot is free (zero_copy_streams, whose pipes' fds the relay
 * reserved) and libuv holds nothing for either leg (no queued write, no
 * pending shutdown; a direction already half-closed is fine). Tried after a
 * read that was written whole and when a copied rest has gone out. Stays on
 * the copying path otherwise, or if anything fails on the way (reading
 * restarted on both legs). True if moved.
 */
static bool stream_zc_try(struct stream *s)
{
    uv_tcp_t *tcp[2];
    bool eof[2], shut[2];
    int rc;

    if (s->zc != NULL || s->zc_failed)
        return false;
    for (int i = 0; i < 2; i++) {
        const struct stream_leg *lg = &s->leg[i];
        /* A finished direction is fine (EOF read, its shutdown done), one
         * with libuv's shutdown still pending is not. */
        if ((lg->shut_sent && !lg->shut_done) || lg->read_paused || lg->c->queued > 0)
            return false;
        tcp[i] = &lg->c->tcp;
        eof[i] = lg->read_eof;
        shut[i] = lg->shut_sent;
    }
    rc = zerocopy_start(s->sx->zc, tcp, eof, shut, &stream_zc_ops, s, s->id, &s->zc);
    if (rc == -EBUSY)
        return false;
    if (rc != 0) {
        s->zc_failed = true;
        /* Reading goes on where zerocopy_start had stopped it already. */
        for (int i = 0; i < 2; i++)
            if (!s->leg[i].read_eof && !uv_is_active((uv_handle_t *)tcp[i]))
                uv_read_start((uv_stream_t *)tcp[i], stream_alloc, stream_read);
        return false;
    }
    log_debug("stream %" PRIu64 " link %s: zero-copy", s->id, s->link->name);
    return true;
}

/* ---- timers ---- */

/* Stall and half-close checks, a few times per timeout. */
static void stream_tick(uv_timer_t *t)
{
    struct stream *s = t->data;
    const struct relaycfg_limits *lim = s->sx->lim;
    uint64_t now = uv_now(s->sx->loop);

    if (s->state != STREAM_SPLICED)
        return;
    for (int i = 0; i < 2; i++) {
        struct stream_leg *lg = &s->leg[i];
        size_t q = stream_pending(s, i);
        uint64_t written = s->queued_total[i] - q;
        if (q == 0 || written != lg->last_written) {
            lg->last_written = written;
            lg->last_progress_ms = now;
        } else if (now - lg->last_progress_ms >= lim->write_stall_timeout_ms) {
            stream_finish(s, STORE_CAUSE_TIMEOUT, "write stalled");
            return;
        }
    }
    if ((s->leg[0].read_eof || s->leg[1].read_eof) &&
        now - s->last_rx_ms >= lim->halfclose_timeout_ms)
        stream_finish(s, STORE_CAUSE_TIMEOUT, "half-closed stream idle");
}

/* ---- pairing ---- */

/* Each leg's early bytes to the other; the pre-pairing buffers go. 0, or -1
 * when the stream was closed. */
static int stream_send_early(struct stream *s)
{
    for (int i = 0; i < 2; i++) {
        struct conn *c = s->leg[i].c;
        size_t n;
        const uint8_t *p = bq_peek(&c->in, &n);
        if (n > 0) {
            if (stream_count_bytes(s, i, quota_budget(&s->link->quota, n))) {
                stream_quota_abort(s);
                return -1;
            }
            if (stream_write(s, 1 - i, p, n) != 0) {
                stream_finish(s, STORE_CAUSE_RESET, "write failed");
                return -1;
            }
        }
        bq_consume(&c->in, n);
        /* From here on this leg reads into the relay's shared read buffer. */
        free(c->inmem);
        c->inmem = NULL;
        bq_init(&c->in, NULL, 0);
    }
    return 0;
}

/* Both legs present: SPLICED byte to each, early bytes across, start reading. */
static void stream_start(struct stream *s)
{
    static const uint8_t spliced = STREAM_SPLICED_BYTE;
    struct stream_ctx *sx = s->sx;
    uint64_t now = uv_now(sx->loop);

    s->state = STREAM_SPLICED;
    s->paired_ms = now;
    s->last_rx_ms = now;
    s->link->streams_total++;
    sx->stats->streams_total++;
    sx->stats->resume_paired += s->resume;
    for (int i = 0; i < 2; i++) {
        struct conn *c = s->leg[i].c;
        c->state = CONN_SPLICED;
        s->leg[i].last_progress_ms = now;
        conn_established(c);
        uv_timer_stop(&c->timer);
        /* The leg keeps reading: conn.c's callbacks hand a spliced leg's
         * reads to stream_conn_ops' alloc and read, which saves libuv two
         * epoll_ctl() calls per leg for a stop and restart. */
    }
    for (int i = 0; i < 2; i++) {
        if (stream_write(s, i, &spliced, 1) != 0) {
            stream_finish(s, STORE_CAUSE_RESET, "write failed");
            return;
        }
    }
    if (stream_send_early(s) != 0)
        return;
    stream_hold_sync(s);
    for (int i = 0; i < 2; i++) {
        if (s->leg[i].read_eof)
            stream_forward_eof(s, i);
        if (s->state != STREAM_SPLICED)
            return;
    }
    uv_timer_stop(&s->timer);
    uv_timer_start(&s->timer, stream_tick, conn_leg_tick_ms(sx->lim), conn_leg_tick_ms(sx->lim));
    log_debug("stream %" PRIu64 " link %s: %s after %" PRIu64 " ms", s->id, s->link->name,
              s->resume ? "resumed leg spliced" : "spliced", now - s->created_ms);
}

/* conn_ops.begin: a stream preamble; the ticket comes next. */
static int stream_begin(void *arg, struct conn *c, const uint8_t preamble[8], uint8_t key_id)
{
    (void)arg;
    (void)preamble;
    (void)key_id;
    c->state = CONN_TICKET;
    return 0;
}

/* Leg c of side leg, with s's ticket, came from a source the side's allowlist
 * does not allow (D27): refused as a bad ticket is (0x00, then closed,
 * counted), logged and written as an event once per window, and its stream
 * ends at once (its other leg gets 0x00 too). */
static void stream_refuse_source(struct stream *s, struct conn *c, int leg)
{
    struct index_link *l = s->link;

    if (index_source_fail(l, leg, c->peer, wallclock_ms())) {
        log_warnx("conn %" PRIu64 " %s: link %s side %c: source not allowed (stream %" PRIu64
                  " leg)",
                  c->id, c->peer, l->name, 'a' + leg, s->id);
        acct_event(s->sx->acct, "source_not_allowed", l->id, c->peer,
                   leg == 0 ? "side a: stream leg" : "side b: stream leg", 1);
    }
    stream_tell_gone(c);
    conn_fail(c, STATS_FAIL_SOURCE);
    stream_finish(s, STORE_CAUSE_LIMIT, "a leg came from a source not allowed");
}

/* conn_ops.input: a leg in CONN_TICKET with at least TICKET_LEN bytes in c->in
 * presents its ticket. Pairs, waits, or fails the connection (§8). */
static void stream_present(struct conn *c)
{
    struct stream_ctx *sx = c->ops_arg;
    uint8_t tk[TICKET_LEN];
    void *owner;
    struct stream *s;
    int leg, rc;

    if (c->state != CONN_TICKET || bq_len(&c->in) < TICKET_LEN)
        return;
    memcpy(tk, bq_peek(&c->in, &(size_t){0}), TICKET_LEN);
    bq_consume(&c->in, TICKET_LEN);
    rc = ticket_take(sx->tickets, tk, uv_now(sx->loop), &owner, &leg);
    sodium_memzero(tk, sizeof(tk));
    /* The ticket it was admitted on (if any) is gone now, taken or not. */
    conn_ticket_release(c);
    if (rc != 0) {
        stream_tell_gone(c);
        conn_fail(c, rc == -ETIMEDOUT ? STATS_FAIL_TICKET_EXPIRED : STATS_FAIL_TICKET);
        return;
    }
    s = owner;
    s->in_table[leg] = false;
    if (s->state != STREAM_PENDING || s->leg[leg].c != NULL) {
        stream_tell_gone(c);
        conn_fail(c, STATS_FAIL_TICKET);
        return;
    }
    if (!index_source_ok(s->link, leg, c->addr_key)) {
        stream_refuse_source(s, c, leg);
        return;
    }
    s->leg[leg].c = c;
    c->owner = &s->leg[leg];
    c->state = CONN_WAITING;
    /* A valid ticket: the leg is its link's (open_rate_per_link and
     * max_streams_per_link paid for it), not its address's (D16). */
    conn_vouch(c);
    uv_timer_stop(&c->timer); /* the ticket's expiry bounds the wait now */
    if (s->leg[1 - leg].c != NULL)
        stream_start(s);
}

/* conn_ops.on_eof: the waiting leg read EOF before pairing (forwarded once
 * paired). */
static void stream_waiting_eof(struct conn *c)
{
    struct stream_leg *lg = c->owner;

    if (lg != NULL)
        lg->read_eof = true;
}

/* conn_ops.on_close: a leg closes; the stream resets the other leg and
 * finishes, and this one ends with RST too. */
static bool stream_leg_closed(struct conn *c)
{
    struct stream_leg *lg = c->owner;

    if (lg == NULL)
        return false;
    lg->c = NULL;
    c->owner = NULL;
    stream_finish(lg->s, STORE_CAUSE_RESET, NULL);
    return true;
}

const struct conn_ops stream_conn_ops = {
    .begin = stream_begin,
    .input = stream_present,
    .on_eof = stream_waiting_eof,
    .on_close = stream_leg_closed,
    .alloc = stream_alloc,
    .read = stream_read,
};
