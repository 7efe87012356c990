/* SPDX-License-Identifier: MIT */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sodium.h>

#include "acct.h"
#include "session.h"
#include "log.h"

#define SPLICE_RBUF_MAX RELAY_SPLICE_RBUF /* largest single read */
#define SPLICE_BYTE     0x01              /* SPLICED (§6.1) */
#define SPLICE_NOSTREAM 0x00              /* no such stream: do not redial (§6.1) */

/* Zero-copy forwarding (design.md D14): a read at least this big, or this
 * many bytes in one direction, mark a stream as bulk, which moves it to
 * splice(2) through two kernel pipes. */
#define SPLICE_ZC_PROMOTE       (64u * 1024u)
#define SPLICE_ZC_PROMOTE_BYTES (1024u * 1024u)
/* The smallest pipe worth splicing through (D14: 64 KiB splices cost more
 * CPU than copying). */
#define SPLICE_ZC_PIPE_MIN (256u * 1024u)
/* Reads (splice into the pipe, then out of it) per leg per poll event, like
 * libuv's 32 reads per event, so one busy leg cannot hold the loop. */
#define SPLICE_ZC_ROUNDS 16

enum stream_state {
    STREAM_PENDING = 0, /* tickets out, legs arriving */
    STREAM_SPLICED,     /* both legs present, forwarding */
    STREAM_DONE,        /* finished, timer closing */
};

struct stream {
    struct stream *prev, *next; /* the link's list */
    struct relay *r;
    struct index_link *link;
    uint64_t id;
    uint32_t req_id;
    int opener;
    enum stream_state state;
    uint8_t ticket[2][TICKET_LEN];
    bool ticket_live[2];
    struct conn *leg[2];
    uv_timer_t timer; /* expiry while pending, then the stall/half-close tick */
    uint64_t created_ms, created_wall, paired_ms, last_rx_ms;
    uint64_t bytes[2];        /* bytes read from leg i (forwarded to leg 1-i) */
    uint64_t queued_total[2]; /* bytes ever queued for writing to leg i */
    struct splice_zc *zc;     /* zero-copy state once promoted, or NULL */
    bool bulk;                /* SPLICE_ZC_PROMOTE(_BYTES) reached */
    bool zc_failed;           /* making pipes or poll handles failed: copy */
};

/*
 * A stream forwarding with splice(2): each leg's socket is driven by a
 * uv_poll_t instead of libuv's stream API (whose reading is stopped and whose
 * write queue is empty when the stream is promoted), and direction i moves
 * bytes from leg i through pipe i into leg 1 - i without copying them into
 * the relay. Owned by the stream; freed when both poll handles are closed.
 */
struct splice_zc {
    struct stream *s; /* NULL once the stream finished */
    uv_poll_t poll[2];
    int fd[2];         /* leg i's socket (owned by its uv_tcp_t) */
    int pipe_r[2];     /* direction i's pipe, read end */
    int pipe_w[2];     /* and write end */
    size_t cap[2];     /* bytes one splice into pipe i may move */
    size_t inpipe[2];  /* bytes in pipe i, waiting for leg 1 - i */
    int events[2];     /* poll events asked for on leg i */
    bool full[2];      /* leg i's socket took less than offered: wait for writable */
    bool pipe_full[2]; /* pipe i took nothing more: read leg i after it drains */
    int handles;       /* poll handles not yet closed */
};

uint64_t stream_wire_id(const struct stream *s)
{
    return s->id;
}

void stream_ticket_copy(const struct stream *s, int side, uint8_t out[TICKET_LEN])
{
    memcpy(out, s->ticket[side], TICKET_LEN);
}

static void stream_free_cb(uv_handle_t *h)
{
    struct stream *s = h->data;

    sodium_memzero(s, sizeof(*s));
    free(s);
}

static void stream_expire(uv_timer_t *t);

int stream_open(struct relay *r, struct index_link *l, int opener, uint32_t req_id,
                struct stream **out)
{
    uint64_t now = relay_now(r), exp = now + r->cfg.limits.ticket_expiry_ms;
    struct stream *s = calloc(1, sizeof(*s));
    int rc;

    if (s == NULL)
        return -ENOMEM;
    s->r = r;
    s->link = l;
    s->id = ++r->next_stream_id;
    s->req_id = req_id;
    s->opener = opener;
    s->created_ms = now;
    s->created_wall = relay_wall_ms();
    for (int side = 0; side < 2; side++) {
        rc = ticket_issue(r->tickets, s, side, exp, s->ticket[side]);
        if (rc != 0) {
            if (side == 1)
                ticket_revoke(r->tickets, s->ticket[0]);
            sodium_memzero(s, sizeof(*s));
            free(s);
            return rc;
        }
        s->ticket_live[side] = true;
    }
    uv_timer_init(r->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, stream_expire, r->cfg.limits.ticket_expiry_ms, 0);
    s->next = l->streams;
    if (l->streams != NULL)
        l->streams->prev = s;
    l->streams = s;
    l->n_streams++;
    r->st.streams_open++;
    *out = s;
    return 0;
}

static void splice_zc_close(struct stream *s);
static bool splice_zc_try(struct stream *s);

/* Tells a leg that will never be spliced that its ticket is gone (§6.1), so
 * its agent does not dial it again: one byte, written straight to the kernel
 * (a fresh leg's socket has room) ahead of the close or RST that follows. A
 * byte the kernel does not take at once is not sent (the close cancels it):
 * the agent then redials until the ticket's expiry, as before. */
static void stream_tell_gone(struct conn *c)
{
    static const uint8_t gone = SPLICE_NOSTREAM;
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)&gone, 1);

    (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
}

/* Records accounting, detaches from link and legs, frees via the timer. */
static void stream_finish(struct stream *s, enum store_cause cause, bool rst)
{
    struct relay *r = s->r;
    struct store_stream rec;

    if (s->state == STREAM_DONE)
        return;
    for (int side = 0; side < 2; side++) {
        if (s->state == STREAM_PENDING && s->leg[side] != NULL)
            stream_tell_gone(s->leg[side]); /* took its ticket, never spliced */
    }
    s->state = STREAM_DONE;
    for (int side = 0; side < 2; side++) {
        if (s->ticket_live[side])
            ticket_revoke(r->tickets, s->ticket[side]);
        s->ticket_live[side] = false;
    }
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        s->link->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->link->n_streams--;
    r->st.streams_open--;
    memset(&rec, 0, sizeof(rec));
    memcpy(rec.link_id, s->link->id, sizeof(rec.link_id));
    rec.stream_id = s->id;
    rec.opener = s->opener;
    rec.started_ms = (int64_t)s->created_wall;
    rec.ended_ms = (int64_t)relay_wall_ms();
    rec.wait_ms = s->paired_ms != 0 ? (int64_t)(s->paired_ms - s->created_ms) : 0;
    rec.bytes_a_to_b = s->bytes[0];
    rec.bytes_b_to_a = s->bytes[1];
    rec.cause = cause;
    acct_stream(r->acct, &rec);
    log_debug("stream %" PRIu64 " link %s: closed (%s), %" PRIu64 " a->b, %" PRIu64 " b->a", s->id,
              s->link->name, store_cause_name(cause), s->bytes[0], s->bytes[1]);
    splice_zc_close(s);
    for (int side = 0; side < 2; side++) {
        struct conn *c = s->leg[side];
        if (c == NULL)
            continue;
        s->leg[side] = NULL;
        c->stream = NULL;
        if (rst)
            conn_reset(c);
        else
            conn_close(c);
    }
    uv_close((uv_handle_t *)&s->timer, stream_free_cb);
}

void stream_abort(struct stream *s, enum store_cause cause, const char *why)
{
    if (s->state == STREAM_DONE)
        return;
    log_info("stream %" PRIu64 " link %s: reset (%s)", s->id, s->link->name, why);
    stream_finish(s, cause, true);
}

/* A leg failed with a libuv error: ETIMEDOUT is the kernel's user timeout
 * (nothing acknowledged for write_stall_timeout, see stream_liveness), the
 * same condition as the write-stall timer; anything else is a reset. */
static void stream_abort_err(struct stream *s, int err)
{
    if (err == UV_ETIMEDOUT)
        stream_abort(s, STORE_CAUSE_TIMEOUT, "write stalled (nothing acknowledged)");
    else
        stream_abort(s, STORE_CAUSE_RESET, uv_strerror(err));
}

void stream_abort_link(struct index_link *l, enum store_cause cause, const char *why)
{
    while (l->streams != NULL)
        stream_abort(l->streams, cause, why);
}

static void stream_expire(uv_timer_t *t)
{
    struct stream *s = t->data;

    if (s->state != STREAM_PENDING)
        return;
    session_open_fail(s->link, s->opener, s->req_id, MSG_OPEN_FAIL_TIMEOUT);
    log_info("stream %" PRIu64 " link %s: a leg did not arrive in time", s->id, s->link->name);
    stream_finish(s, STORE_CAUSE_TIMEOUT, true);
}

/* ---- the splice proper ---- */

/* Bytes the relay holds for leg c: conn_send's copies until their write
 * callback has freed them. Not libuv's write queue size, which drops as the
 * kernel takes bytes while the request (and its memory) lives on until the
 * callback: a read allowed at queue size 0 could then stack a second copy on
 * one not yet freed. With this count a direction holds at most one read.
 * Memory and backpressure only: the write-stall timer measures the kernel
 * taking bytes (stream_pending). */
static size_t stream_queue(const struct conn *c)
{
    return c->queued;
}

static void stream_maybe_resume(struct stream *s, int src)
{
    struct conn *c = s->leg[src], *dst = s->leg[1 - src];

    if (c == NULL || dst == NULL || !c->read_paused || c->read_eof || c->state == CONN_CLOSED)
        return;
    if (stream_queue(dst) > 0)
        return;
    c->read_paused = false;
    /* A bulk stream whose copied rest just went out: libuv holds nothing for
     * this direction now, the moment to move it to zero-copy. */
    if (s->bulk && splice_zc_try(s))
        return;
    uv_read_start((uv_stream_t *)&c->tcp, stream_alloc, stream_read);
}

static void stream_write_cb(uv_write_t *req, int status)
{
    struct conn *dst = req->handle->data;
    struct stream *s = dst->stream;

    conn_send_done(req);
    if (status == UV_ECANCELED || s == NULL)
        return;
    if (status < 0) {
        stream_abort_err(s, status);
        return;
    }
    stream_maybe_resume(s, 1 - dst->leg);
}

/* Queues len bytes to leg dst (conn_send: no copy of what the kernel takes). */
static int stream_write(struct stream *s, struct conn *dst, const uint8_t *p, size_t len)
{
    s->queued_total[dst->leg] += len;
    return conn_send(dst, p, len, stream_write_cb);
}

/* n bytes read from leg src: the stream's, the link's and the relay's
 * counters, and the half-close timer's last traffic. */
static void stream_count_bytes(struct stream *s, int src, size_t n)
{
    s->bytes[src] += n;
    s->link->bytes[src] += n;
    s->r->st.bytes[src] += n;
    s->last_rx_ms = relay_now(s->r);
}

void stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    struct stream *s = c->stream;
    size_t room = SPLICE_RBUF_MAX, q;

    (void)suggested;
    if (s != NULL && s->leg[1 - c->leg] != NULL) {
        /* Read no more than fits under splice_buffer on the other leg, so the
         * bound holds exactly (at least one byte, or libuv reports ENOBUFS). */
        q = stream_queue(s->leg[1 - c->leg]);
        room = q < s->r->cfg.limits.splice_buffer ? s->r->cfg.limits.splice_buffer - q : 1;
        if (room > SPLICE_RBUF_MAX)
            room = SPLICE_RBUF_MAX;
    }
    buf->base = (char *)c->r->splice_rbuf;
    buf->len = room;
}

static void stream_check_done(struct stream *s)
{
    struct conn *a = s->leg[0], *b = s->leg[1];

    if (a != NULL && b != NULL && a->read_eof && b->read_eof && a->shut_done && b->shut_done)
        stream_finish(s, STORE_CAUSE_FIN, false);
}

static void stream_shutdown_cb(uv_shutdown_t *req, int status)
{
    struct conn *c = req->handle->data;
    struct stream *s = c->stream;

    free(req);
    if (status == UV_ECANCELED || s == NULL)
        return;
    if (status < 0) {
        stream_abort(s, STORE_CAUSE_RESET, "shutdown failed");
        return;
    }
    c->shut_done = true;
    stream_check_done(s);
}

/* EOF read from leg src: shut down the write side of the other leg. */
static void stream_forward_eof(struct stream *s, int src)
{
    struct conn *dst = s->leg[1 - src];
    uv_shutdown_t *req;

    s->leg[src]->read_eof = true;
    s->last_rx_ms = relay_now(s->r);
    if (dst->shut_sent)
        return;
    req = malloc(sizeof(*req));
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&dst->tcp, stream_shutdown_cb) != 0) {
        free(req);
        stream_abort(s, STORE_CAUSE_ERROR, "cannot shut down");
        return;
    }
    dst->shut_sent = true;
}

void stream_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = h->data;
    struct stream *s = c->stream;
    struct conn *dst;
    int rc;

    (void)buf;
    if (c->state == CONN_CLOSED || s == NULL || nread == 0)
        return;
    dst = s->leg[1 - c->leg];
    if (nread == UV_EOF && !conn_eof_was_reset(c)) {
        stream_forward_eof(s, c->leg);
        return;
    }
    if (nread < 0) {
        stream_abort_err(s, nread == UV_EOF ? UV_ECONNRESET : (int)nread);
        return;
    }
    stream_count_bytes(s, c->leg, (size_t)nread);
    rc = stream_write(s, dst, c->r->splice_rbuf, (size_t)nread);
    if (rc != 0) {
        stream_abort_err(s, rc);
        return;
    }
    if ((size_t)nread >= SPLICE_ZC_PROMOTE || s->bytes[c->leg] >= SPLICE_ZC_PROMOTE_BYTES)
        s->bulk = true;
    /* The kernel did not take it all: read no more from this leg until the
     * rest is written. So what waits in the relay is at most one read
     * (<= splice_buffer, stream_alloc) and is copied once; the source's
     * kernel buffer holds the rest, as TCP backpressure. Reading on while
     * below splice_buffer copied every further read into the queue and held
     * up to splice_buffer per stalled direction (design.md D12). */
    if (stream_queue(dst) > 0) {
        c->read_paused = true;
        uv_read_stop(h);
    } else if (s->bulk) {
        (void)splice_zc_try(s);
    }
}

/* ---- zero-copy forwarding (design.md D14) ---- */

static void splice_zc_free_cb(uv_handle_t *h)
{
    struct splice_zc *zc = h->data;

    if (--zc->handles == 0)
        free(zc);
}

static void splice_zc_close_pipes(struct splice_zc *zc)
{
    for (int i = 0; i < 2; i++) {
        if (zc->pipe_r[i] >= 0)
            close(zc->pipe_r[i]);
        if (zc->pipe_w[i] >= 0)
            close(zc->pipe_w[i]);
        zc->pipe_r[i] = zc->pipe_w[i] = -1;
    }
}

/* Stops both poll handles and drops the pipes (and what they hold: the
 * stream is finishing). Before the legs' sockets are closed. */
static void splice_zc_close(struct stream *s)
{
    struct splice_zc *zc = s->zc;

    if (zc == NULL)
        return;
    s->r->st.zc_queued -= zc->inpipe[0] + zc->inpipe[1];
    s->zc = NULL;
    zc->s = NULL;
    s->r->zc_streams--;
    splice_zc_close_pipes(zc);
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&zc->poll[i], splice_zc_free_cb);
}

/* Bytes for leg i that the kernel has not taken yet, for the write-stall
 * timer: a pipe's contents, or on the copying path libuv's write queue size,
 * which drops as the kernel takes each part of a request. Not stream_queue:
 * a request of up to one read (256 KiB) is counted there until its callback,
 * so a reader slow but still reading would show no progress for as long as
 * the whole request takes to drain (D12: stalled means the kernel took no
 * byte, not that no request completed). */
static size_t stream_pending(const struct stream *s, int i)
{
    if (s->zc != NULL)
        return s->zc->inpipe[1 - i];
    return uv_stream_get_write_queue_size((const uv_stream_t *)&s->leg[i]->tcp);
}

/* Two pipes sized to zero_copy_buffer (the kernel may round up; a direction
 * holds at most zero_copy_buffer). A pipe the kernel will not make that big
 * (over fs.pipe-max-size without CAP_SYS_RESOURCE, or over the user's pipe
 * quota, fs.pipe-user-pages-soft) is used at what it got, if that is at
 * least SPLICE_ZC_PIPE_MIN: smaller splices cost more than copying (D14).
 * 0, -ENOBUFS (too small) or -errno; nothing left open on failure. */
static int splice_zc_pipes(struct relay *r, struct splice_zc *zc)
{
    uint32_t want = r->cfg.limits.zero_copy_buffer;

    for (int i = 0; i < 2; i++) {
        int p[2], sz;
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
            int rc = -errno;
            splice_zc_close_pipes(zc);
            return rc;
        }
        zc->pipe_r[i] = p[0];
        zc->pipe_w[i] = p[1];
        /* The largest size the kernel grants, halving from want. */
        for (uint32_t try_sz = want; try_sz >= SPLICE_ZC_PIPE_MIN; try_sz /= 2)
            if (fcntl(p[1], F_SETPIPE_SZ, (int)try_sz) >= 0)
                break;
        sz = fcntl(p[1], F_GETPIPE_SZ);
        if (sz < (int)SPLICE_ZC_PIPE_MIN) {
            splice_zc_close_pipes(zc);
            return -ENOBUFS;
        }
        zc->cap[i] = (uint32_t)sz < want ? (size_t)sz : want;
        if ((uint32_t)sz < want && !r->zc_small_logged) {
            r->zc_small_logged = true;
            log_warnx("zero-copy pipes get %d KiB, not zero_copy_buffer %" PRIu32
                      " KiB (fs.pipe-max-size, or the user's pipe quota)",
                      sz / 1024, want / 1024);
        }
    }
    return 0;
}

/* Moves pipe src into leg 1 - src until it is empty or the socket is full;
 * shuts that leg's write side once leg src's EOF and every byte before it
 * have gone through. 0 or a negative errno (the stream must be aborted). */
static int splice_zc_flush(struct stream *s, int src)
{
    struct splice_zc *zc = s->zc;
    int dst = 1 - src;

    while (zc->inpipe[src] > 0 && !zc->full[dst]) {
        size_t want = zc->inpipe[src];
        ssize_t n = splice(zc->pipe_r[src], NULL, zc->fd[dst], NULL, want,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        if (n > 0) {
            zc->inpipe[src] -= (size_t)n;
            s->r->st.zc_queued -= (uint64_t)n;
            zc->pipe_full[src] = false;
        }
        if (n < 0 || (size_t)n < want)
            zc->full[dst] = true; /* wait until it is writable */
    }
    if (zc->inpipe[src] == 0 && s->leg[src]->read_eof && !s->leg[dst]->shut_sent) {
        s->leg[dst]->shut_sent = true;
        if (shutdown(zc->fd[dst], SHUT_WR) != 0)
            return -errno;
        s->leg[dst]->shut_done = true;
    }
    return 0;
}

/* n more bytes in a zero-copy pipe. */
static void splice_zc_count(struct relay *r, size_t n)
{
    r->st.zc_queued += n;
    if (r->st.zc_queued > r->st.zc_queued_peak)
        r->st.zc_queued_peak = r->st.zc_queued;
}

/* Reads leg src into its pipe and on into the other leg, a bounded number of
 * rounds. A direction reads while its pipe holds less than zero_copy_buffer, so
 * the source keeps flowing while the other leg catches up and at most
 * zero_copy_buffer waits per direction (D14). 0 or a negative errno. */
static int splice_zc_pump(struct stream *s, int src)
{
    struct splice_zc *zc = s->zc;
    struct conn *c = s->leg[src];

    for (int round = 0; round < SPLICE_ZC_ROUNDS; round++) {
        ssize_t n;
        int rc = splice_zc_flush(s, src);
        if (rc != 0 || zc->inpipe[src] >= zc->cap[src] || zc->pipe_full[src] || c->read_eof)
            return rc;
        n = splice(zc->fd[src], NULL, zc->pipe_w[src], NULL, zc->cap[src] - zc->inpipe[src],
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            /* Nothing to read, or the pipe has no free slot left (small
             * segments fill its slots before splice_buffer bytes): the
             * socket may still be readable, so stop watching it until the
             * pipe has drained a little, or level-triggered epoll spins. */
            zc->pipe_full[src] = zc->inpipe[src] > 0;
            return 0;
        }
        if (n < 0)
            return -errno;
        stream_count_bytes(s, src, (size_t)n);
        if (n == 0) {
            c->read_eof = true;
            return splice_zc_flush(s, src);
        }
        zc->inpipe[src] += (size_t)n;
        s->queued_total[1 - src] += (uint64_t)n;
        splice_zc_count(s->r, (size_t)n);
    }
    return 0;
}

static void splice_zc_io(uv_poll_t *h, int status, int events);

/* Asks each leg's poll handle for what its directions wait on: readable while
 * its own pipe has room and no EOF was read, writable while the other leg's
 * pipe holds bytes for it (also when the last round of splice_zc_pump filled
 * the pipe without trying to empty it). */
static void splice_zc_watch(struct splice_zc *zc)
{
    struct stream *s = zc->s;

    for (int i = 0; i < 2; i++) {
        int ev = 0;
        if (zc->inpipe[i] < zc->cap[i] && !zc->pipe_full[i] && !s->leg[i]->read_eof)
            ev |= UV_READABLE;
        if (zc->inpipe[1 - i] > 0)
            ev |= UV_WRITABLE;
        if (ev == zc->events[i])
            continue;
        zc->events[i] = ev;
        if (ev == 0)
            uv_poll_stop(&zc->poll[i]);
        else
            uv_poll_start(&zc->poll[i], ev, splice_zc_io);
    }
}

/* The error a socket reported with POLLERR (libuv then says UV_EBADF). */
static int splice_zc_sockerr(int fd, int status)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
        return -err;
    return status;
}

static void splice_zc_io(uv_poll_t *h, int status, int events)
{
    struct splice_zc *zc = h->data;
    struct stream *s = zc->s;
    int leg = h == &zc->poll[0] ? 0 : 1, rc = 0;

    if (s == NULL)
        return;
    if (status < 0) {
        zc->events[leg] = 0; /* libuv stopped the handle */
        stream_abort_err(s, splice_zc_sockerr(zc->fd[leg], status));
        return;
    }
    if (events & UV_WRITABLE) {
        zc->full[leg] = false;
        rc = splice_zc_flush(s, 1 - leg);
    }
    if (rc == 0 && (events & UV_READABLE))
        rc = splice_zc_pump(s, leg);
    if (rc != 0) {
        stream_abort_err(s, rc);
        return;
    }
    splice_zc_watch(zc);
    stream_check_done(s);
}

/* A promotion failed after reading stopped on both legs and inited poll
 * handles were set up: the stream goes on copying, for good. */
static void splice_zc_undo(struct stream *s, struct splice_zc *zc, int inited)
{
    s->zc_failed = true;
    splice_zc_close_pipes(zc);
    zc->handles = inited;
    for (int i = 0; i < inited; i++)
        uv_close((uv_handle_t *)&zc->poll[i], splice_zc_free_cb);
    if (inited == 0)
        free(zc);
    for (int i = 0; i < 2; i++)
        if (!s->leg[i]->read_eof)
            uv_read_start((uv_stream_t *)&s->leg[i]->tcp, stream_alloc, stream_read);
}

/*
 * A bulk stream (a read of SPLICE_ZC_PROMOTE or more, or
 * SPLICE_ZC_PROMOTE_BYTES read in one direction) moves to
 * zero-copy forwarding if a slot is free (zero_copy_streams, whose pipes' fds
 * the relay reserved) and libuv holds nothing for either leg (no queued
 * write, no pending shutdown; a direction already half-closed is fine). Tried after a read that was
 * written whole and when a copied rest has gone out. Stays on the copying path otherwise, or if
 * anything fails on the way (reading restarted on both legs). True if moved.
 */
static bool splice_zc_try(struct stream *s)
{
    struct relay *r = s->r;
    struct splice_zc *zc;
    int rc = 0, inited = 0;

    if (s->zc != NULL || s->zc_failed || r->zc_streams >= r->zc_max)
        return false;
    for (int i = 0; i < 2; i++) {
        struct conn *c = s->leg[i];
        /* A finished direction is fine (EOF read, its shutdown done), one
         * with libuv's shutdown still pending is not. */
        if ((c->shut_sent && !c->shut_done) || c->read_paused || stream_queue(c) > 0)
            return false;
    }
    zc = calloc(1, sizeof(*zc));
    if (zc == NULL)
        return false;
    for (int i = 0; i < 2; i++)
        zc->pipe_r[i] = zc->pipe_w[i] = -1;
    rc = splice_zc_pipes(r, zc);
    if (rc != 0) {
        s->zc_failed = true;
        if (!r->zc_small_logged) {
            r->zc_small_logged = true;
            log_warnx("zero-copy: %s; such streams keep copying (logged once)",
                      rc == -ENOBUFS ? "the kernel gives pipes under 256 KiB" : strerror(-rc));
        }
        free(zc);
        return false;
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        uv_os_fd_t fd;
        uv_read_stop((uv_stream_t *)&s->leg[i]->tcp);
        rc = uv_fileno((uv_handle_t *)&s->leg[i]->tcp, &fd);
        if (rc == 0)
            rc = uv_poll_init(r->loop, &zc->poll[i], fd);
        if (rc == 0) {
            zc->fd[i] = fd;
            zc->poll[i].data = zc;
            inited++;
        }
    }
    if (rc != 0) {
        log_debug("stream %" PRIu64 ": no zero-copy: %s", s->id, uv_strerror(rc));
        splice_zc_undo(s, zc, inited);
        return false;
    }
    zc->handles = 2;
    zc->s = s;
    s->zc = zc;
    r->zc_streams++;
    r->st.zc_total++;
    splice_zc_watch(zc);
    log_debug("stream %" PRIu64 " link %s: zero-copy", s->id, s->link->name);
    return true;
}

/* Stall and half-close checks, a few times per timeout. */
static void stream_tick(uv_timer_t *t)
{
    struct stream *s = t->data;
    const struct relaycfg_limits *lim = &s->r->cfg.limits;
    uint64_t now = relay_now(s->r);

    if (s->state != STREAM_SPLICED)
        return;
    for (int i = 0; i < 2; i++) {
        struct conn *c = s->leg[i];
        size_t q = stream_pending(s, i);
        uint64_t written = s->queued_total[i] - q;
        if (q == 0 || written != c->last_written) {
            c->last_written = written;
            c->last_progress_ms = now;
        } else if (now - c->last_progress_ms >= lim->write_stall_timeout_ms) {
            stream_abort(s, STORE_CAUSE_TIMEOUT, "write stalled");
            return;
        }
    }
    if ((s->leg[0]->read_eof || s->leg[1]->read_eof) &&
        now - s->last_rx_ms >= lim->halfclose_timeout_ms)
        stream_abort(s, STORE_CAUSE_TIMEOUT, "half-closed stream idle");
}

static uint64_t stream_tick_ms(const struct relaycfg_limits *lim)
{
    uint64_t t = lim->write_stall_timeout_ms < lim->halfclose_timeout_ms
                     ? lim->write_stall_timeout_ms
                     : lim->halfclose_timeout_ms;
    t /= 4;
    if (t < 20)
        t = 20;
    if (t > 1000)
        t = 1000;
    return t;
}

/*
 * A leg whose path died without a FIN or RST (a NAT that dropped its mapping,
 * a router that went away) must not stay open forever: the write-stall timer
 * only sees bytes the kernel did not take, not bytes it took and never got
 * acknowledged. So the kernel is asked to give up on a leg whose sent data
 * (or keepalive probes, after keepalive of silence) stay unacknowledged for
 * write_stall_timeout; the read then fails and the other leg is reset.
 *
 * These options are set once on each listening socket, and every accepted
 * socket inherits them (Linux copies them from the listener), which saves
 * seven setsockopt() calls per leg; control sessions switch keepalive and the
 * user timeout off again (session_session_sockopts). design.md D10.
 */
int stream_leg_sockopts(uv_os_fd_t fd, const struct relaycfg_limits *lim)
{
    int one = 1, cnt = 10;
    unsigned idle_s = lim->keepalive_ms / 1000 > 0 ? lim->keepalive_ms / 1000 : 1;
    unsigned user_timeout = lim->write_stall_timeout_ms;
    /* Probes often enough that the user timeout is noticed on time. */
    unsigned intvl = user_timeout / 3000 > 0 ? user_timeout / 3000 : 1;

    if (intvl > idle_s)
        intvl = idle_s;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout)) != 0)
        return -errno;
    return 0;
}

/* Both legs present: SPLICED byte to each, early bytes across, start reading. */
static void stream_start(struct stream *s)
{
    static const uint8_t spliced = SPLICE_BYTE;
    struct relay *r = s->r;
    uint64_t now = relay_now(r);

    s->state = STREAM_SPLICED;
    s->paired_ms = now;
    s->last_rx_ms = now;
    s->link->streams_total++;
    r->st.streams_total++;
    for (int i = 0; i < 2; i++) {
        struct conn *c = s->leg[i];
        c->state = CONN_SPLICED;
        c->last_progress_ms = now;
        conn_established(c);
        uv_timer_stop(&c->timer);
        /* The leg keeps reading: conn.c's callbacks hand a spliced leg's
         * reads to stream_alloc/stream_read, which saves libuv two
         * epoll_ctl() calls per leg for a stop and restart. */
    }
    for (int i = 0; i < 2; i++) {
        if (stream_write(s, s->leg[i], &spliced, 1) != 0) {
            stream_abort(s, STORE_CAUSE_RESET, "write failed");
            return;
        }
    }
    for (int i = 0; i < 2; i++) {
        struct conn *c = s->leg[i];
        size_t n;
        const uint8_t *p = bq_peek(&c->in, &n);
        if (n > 0) {
            stream_count_bytes(s, i, n);
            if (stream_write(s, s->leg[1 - i], p, n) != 0) {
                stream_abort(s, STORE_CAUSE_RESET, "write failed");
                return;
            }
        }
        bq_consume(&c->in, n);
        /* From here on this leg reads into the relay's shared read buffer. */
        free(c->inmem);
        c->inmem = NULL;
        bq_init(&c->in, NULL, 0);
    }
    for (int i = 0; i < 2; i++) {
        if (s->leg[i]->read_eof)
            stream_forward_eof(s, i);
        if (s->state != STREAM_SPLICED)
            return;
    }
    uv_timer_stop(&s->timer);
    uv_timer_start(&s->timer, stream_tick, stream_tick_ms(&r->cfg.limits),
                   stream_tick_ms(&r->cfg.limits));
    log_debug("stream %" PRIu64 " link %s: spliced after %" PRIu64 " ms", s->id, s->link->name,
              now - s->created_ms);
}

void stream_present(struct conn *c)
{
    struct relay *r = c->r;
    uint8_t tk[TICKET_LEN];
    void *owner;
    struct stream *s;
    int leg, rc;

    if (bq_len(&c->in) < TICKET_LEN)
        return;
    memcpy(tk, bq_peek(&c->in, &(size_t){0}), TICKET_LEN);
    bq_consume(&c->in, TICKET_LEN);
    rc = ticket_take(r->tickets, tk, relay_now(r), &owner, &leg);
    sodium_memzero(tk, sizeof(tk));
    /* The ticket it was admitted on (if any) is gone now, taken or not. */
    conn_ticket_release(c);
    if (rc != 0) {
        stream_tell_gone(c);
        conn_fail(c, rc == -ETIMEDOUT ? RELAY_FAIL_TICKET_EXPIRED : RELAY_FAIL_TICKET);
        return;
    }
    s = owner;
    s->ticket_live[leg] = false;
    if (s->state != STREAM_PENDING || s->leg[leg] != NULL) {
        stream_tell_gone(c);
        conn_fail(c, RELAY_FAIL_TICKET);
        return;
    }
    s->leg[leg] = c;
    c->stream = s;
    c->leg = leg;
    c->state = CONN_WAITING;
    /* A valid ticket: the leg is its link's (open_rate_per_link and
     * max_streams_per_link paid for it), not its address's (D16). */
    conn_vouch(c);
    uv_timer_stop(&c->timer); /* the ticket's expiry bounds the wait now */
    if (s->leg[1 - leg] != NULL)
        stream_start(s);
}

void stream_waiting_eof(struct conn *c)
{
    c->read_eof = true;
}

void stream_leg_closed(struct conn *c)
{
    struct stream *s = c->stream;

    if (s == NULL)
        return;
    s->leg[c->leg] = NULL;
    c->stream = NULL;
    stream_finish(s, STORE_CAUSE_RESET, true);
}
