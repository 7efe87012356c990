/* SPDX-License-Identifier: MIT */
#include "conn.h"

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <sodium.h>

#include "frame.h"
#include "freelist.h"
#include "log.h"
#include "ticket.h"

#define CONN_FLUSH_MS 2000 /* longest wait for a last message to be written */
#define CONN_FREE_MAX 256  /* struct conn kept for reuse (freelist.h, D36) */
#define CONN_IN_CAP   (2 * (FRAME_HDR_LEN + FRAME_MAX_CONTROL))

struct conn_wr {
    uv_write_t req;
    size_t len; /* bytes in data, counted in queued until conn_send_done */
    bool leg;   /* written to a stream leg: counted in the relay's queued too */
    uint8_t data[];
};

const char *conn_state_name(enum conn_state s)
{
    static const char *const names[] = {"preamble", "hs1",     "hs3",     "up",    "flushing",
                                        "ticket",   "waiting", "spliced", "closed"};
    if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[s];
}

static void conn_close_cb(uv_handle_t *h)
{
    struct conn *c = h->data;

    if (--c->handles > 0)
        return;
    free(c->inmem);
    freelist_put(&c->ctx->conns, c);
}

void conn_ctx_stop(struct conn_ctx *ctx)
{
    cork_close(&ctx->cork);
    ctx->cork_tried = true; /* no new cork: later frames are written at once */
}

void conn_ctx_done(struct conn_ctx *ctx)
{
    cork_close(&ctx->cork); /* when conn_ctx_stop was not called */
    freelist_done(&ctx->conns);
}

static void conn_flush_timeout(uv_timer_t *t)
{
    conn_close(t->data, CONN_END_FIN, "flush timed out");
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
    struct conn *c = req->handle->data;

    (void)status;
    free(req);
    conn_close(c, CONN_END_FIN, "flushed");
}

/* CONN_END_FLUSH: the last message is queued; write it, then close. */
static void conn_flush(struct conn *c)
{
    uv_shutdown_t *req;

    cork_flush_one(&c->ctx->cork, &c->cork); /* before the shutdown */
    if (c->state == CONN_CLOSED)
        return; /* the write failed */
    c->state = CONN_FLUSHING;
    uv_read_stop((uv_stream_t *)&c->tcp);
    conn_timer(c, CONN_FLUSH_MS, 0, conn_flush_timeout);
    req = malloc(sizeof(*req));
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, conn_shutdown_cb) != 0) {
        free(req);
        conn_close(c, CONN_END_FIN, "shutdown failed");
    }
}

static const char *conn_end_name(enum conn_end how)
{
    return how == CONN_END_RST ? "rst" : how == CONN_END_FLUSH ? "flush" : "fin";
}

void conn_close(struct conn *c, enum conn_end how, const char *why)
{
    struct conn_ctx *ctx = c->ctx;
    bool rst = how == CONN_END_RST;

    if (c->state == CONN_CLOSED)
        return;
    if (c->state != CONN_FLUSHING)
        log_debug("conn %" PRIu64 " %s: closed (%s): %s", c->id, c->peer, conn_end_name(how), why);
    if (how == CONN_END_FLUSH) {
        if (c->state != CONN_FLUSHING)
            conn_flush(c);
        return;
    }
    c->state = CONN_CLOSED;
    cork_drop(&ctx->cork, &c->cork);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        ctx->list = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    /* The owner lets go (a stream resets the other leg, and this one closes
     * with RST too). */
    if (c->ops != NULL && c->ops->on_close(c))
        rst = true;
    c->owner = NULL;
    conn_ticket_release(c);
    if (c->admitted)
        admit_release(ctx->admit, c->ip, c->pending);
    c->admitted = false;
    c->pending = false;
    c->ip = NULL;
    if (rst) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
    uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

void conn_fail(struct conn *c, enum stats_fail why)
{
    char text[96];

    if (c->state == CONN_CLOSED)
        return;
    snprintf(text, sizeof(text), "refused in state %s: %s", conn_state_name(c->state),
             stats_fail_name(why));
    stats_count_fail(c->ctx->stats, why, c->peer);
    conn_close(c, CONN_END_FIN, text);
}

void conn_established(struct conn *c)
{
    if (!c->pending)
        return;
    c->pending = false;
    if (c->admitted)
        admit_established(c->ctx->admit, c->ip);
}

void conn_ticket_release(struct conn *c)
{
    if (!c->claimed)
        return;
    ticket_unclaim(c->ctx->tickets, c->claim_tk, c->id);
    sodium_memzero(c->claim_tk, sizeof(c->claim_tk));
    c->claimed = false;
}

void conn_vouch(struct conn *c)
{
    if (!c->admitted || c->ip == NULL)
        return;
    admit_vouch(c->ctx->admit, c->ip, c->pending);
    c->ip = NULL;
}

void conn_send_done(uv_write_t *req)
{
    struct conn_wr *w = (struct conn_wr *)req;
    struct conn *c = req->handle->data;

    c->queued -= w->len;
    if (w->leg)
        c->ctx->stats->queued -= w->len;
    free(w);
}

static void conn_write_cb(uv_write_t *req, int status)
{
    struct conn *c = req->handle->data;

    conn_send_done(req);
    if (status < 0 && status != UV_ECANCELED && c->state != CONN_CLOSED)
        conn_close(c, CONN_END_FIN, uv_strerror(status));
}

int conn_sendv(struct conn *c, const uv_buf_t *bufs, unsigned n, uv_write_cb cb)
{
    struct conn_wr *w;
    size_t len = 0, skip, at = 0;
    uv_buf_t b;
    int rc;

    for (unsigned i = 0; i < n; i++)
        len += bufs[i].len;
    /* Straight to the kernel when nothing is queued (uv_try_write says
     * UV_EAGAIN otherwise, so order is kept); only the rest is copied into a
     * write request. Saves a malloc, a copy and libuv's epoll_ctl() calls for
     * the write watcher on nearly every control frame and spliced read. */
    rc = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
    if (rc < 0 && rc != UV_EAGAIN)
        return rc;
    skip = rc > 0 ? (size_t)rc : 0;
    if (skip == len)
        return 0;
    len -= skip;
    w = malloc(sizeof(*w) + len);
    if (w == NULL)
        return UV_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        size_t l = bufs[i].len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(w->data + at, bufs[i].base + skip, l - skip);
        at += l - skip;
        skip = 0;
    }
    w->len = len;
    w->leg = c->state == CONN_WAITING || c->state == CONN_SPLICED;
    b = uv_buf_init((char *)w->data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, cb);
    if (rc != 0) {
        free(w);
        return rc;
    }
    c->queued += len;
    if (w->leg)
        stats_hold(&c->ctx->stats->queued, &c->ctx->stats->queued_peak, len);
    return 0;
}

int conn_send(struct conn *c, const void *data, size_t len, uv_write_cb cb)
{
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)data, (unsigned)len);

    return conn_sendv(c, &b, 1, cb);
}

/* cork's write callback: one connection's frames of the turn. */
static void conn_cork_write(void *arg, struct cork_q *q, const uv_buf_t *bufs, unsigned n)
{
    struct conn *c = (struct conn *)(void *)((char *)q - offsetof(struct conn, cork));
    int rc;

    (void)arg;
    if (c->state == CONN_CLOSED)
        return;
    rc = conn_sendv(c, bufs, n, conn_write_cb);
    if (rc != 0)
        conn_close(c, CONN_END_FIN, uv_strerror(rc));
}

int conn_write(struct conn *c, const void *data, size_t len)
{
    int rc;

    if (c->state == CONN_CLOSED)
        return UV_EPIPE;
    cork_flush_one(&c->ctx->cork, &c->cork); /* order: the turn's frames first */
    if (c->state == CONN_CLOSED)
        return UV_EPIPE;
    rc = conn_send(c, data, len, conn_write_cb);
    if (rc != 0)
        conn_close(c, CONN_END_FIN, uv_strerror(rc));
    return rc;
}

int conn_write_corked(struct conn *c, const void *data, size_t len)
{
    struct conn_ctx *ctx = c->ctx;

    if (c->state == CONN_CLOSED)
        return UV_EPIPE;
    if (c->state != CONN_UP)
        return conn_write(c, data, len);
    if (!ctx->cork_tried) {
        ctx->cork_tried = true;
        if (cork_init(&ctx->cork, ctx->loop, conn_cork_write, ctx) != 0)
            log_warnx("control frames: no memory to batch them, written one by one");
    }
    if (!ctx->cork.ready) /* no memory, or the relay stops (conn_ctx_stop) */
        return conn_write(c, data, len);
    cork_add(&ctx->cork, &c->cork, data, len);
    return c->state == CONN_CLOSED ? UV_EPIPE : 0;
}

bool conn_all_written(const struct conn *c)
{
    return c->queued == 0 && uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) == 0;
}

bool conn_eof_was_reset(struct conn *c, const uv_buf_t *buf)
{
    uv_os_fd_t fd;
    char b;
    ssize_t n;

    if (buf != NULL && buf->base != NULL)
        return false; /* read() returned 0: the peer's FIN */
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return false;
    n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
}

void conn_timer(struct conn *c, uint64_t timeout_ms, uint64_t repeat_ms, uv_timer_cb cb)
{
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, cb, timeout_ms, repeat_ms);
}

static void conn_hs_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;

    if (c->pending && c->state != CONN_WAITING) {
        c->ctx->admit->hit[ADMIT_HANDSHAKE]++;
        conn_fail(c, STATS_FAIL_TIMEOUT);
    }
}

/* The preamble decides what this connection is. */
static void conn_preamble(struct conn *c)
{
    size_t n;
    const uint8_t *p = bq_peek(&c->in, &n);
    struct frame_preamble pre;
    uint8_t raw[FRAME_PREAMBLE_LEN];
    const struct conn_kind *kind;
    int rc = frame_preamble_decode(p, n, &pre);

    if (rc == -EAGAIN)
        return;
    if (rc != 0) {
        conn_fail(c, STATS_FAIL_PREAMBLE);
        return;
    }
    memcpy(raw, p, sizeof(raw));
    bq_consume(&c->in, FRAME_PREAMBLE_LEN);
    kind = pre.kind == FRAME_KIND_STREAM ? &c->ctx->stream : &c->ctx->control;
    c->ops = kind->ops;
    c->ops_arg = kind->arg;
    rc = c->ops->begin(kind->arg, c, raw, pre.key_id);
    if (rc == -ENOENT)
        conn_fail(c, STATS_FAIL_KEY_ID);
    else if (rc != 0)
        conn_close(c, CONN_END_FIN, "its owner refused it");
}

static void conn_process(struct conn *c)
{
    enum conn_state before;

    do {
        before = c->state;
        switch (c->state) {
        case CONN_PREAMBLE:
            conn_preamble(c);
            break;
        case CONN_HS1:
        case CONN_HS3:
        case CONN_UP:
        case CONN_TICKET:
            c->ops->input(c);
            break;
        default:
            break;
        }
    } while (c->state != before && c->state != CONN_CLOSED);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    size_t len = 0;
    uint8_t *p;

    if (c->state == CONN_SPLICED) {
        c->ops->alloc(h, suggested, buf);
        return;
    }
    p = bq_reserve(&c->in, &len);
    if (c->pending) {
        /* One byte more than allowed: reading it proves the limit was passed. */
        size_t allowed = c->ctx->lim->preauth_bytes - c->preauth_read + 1;
        if (len > allowed)
            len = allowed;
    }
    buf->base = (char *)p;
    buf->len = p != NULL ? len : 0;
}

static void conn_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = h->data;

    if (c->state == CONN_SPLICED) {
        c->ops->read(h, nread, buf);
        return;
    }
    if (c->state == CONN_CLOSED || c->state == CONN_FLUSHING)
        return;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (c->state == CONN_WAITING && nread == UV_EOF && !conn_eof_was_reset(c, buf)) {
            c->ops->on_eof(c);
            uv_read_stop(h);
        } else if (c->pending) {
            conn_fail(c, nread == UV_ENOBUFS ? STATS_FAIL_PREAUTH_BYTES : STATS_FAIL_EOF);
        } else {
            conn_close(c, CONN_END_FIN,
                       nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
        }
        return;
    }
    bq_commit(&c->in, (size_t)nread);
    if (c->pending) {
        c->preauth_read += (size_t)nread;
        if (c->preauth_read > c->ctx->lim->preauth_bytes) {
            c->ctx->admit->hit[ADMIT_PREAUTH]++;
            conn_fail(c, STATS_FAIL_PREAUTH_BYTES);
            return;
        }
    }
    conn_process(c);
    /* The frames this read made (a STREAM per side for each OPEN in it) go
     * out now, one write per session, not after the rest of the turn. */
    cork_flush(&c->ctx->cork);
}

static void conn_peer_name(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    uint16_t port = 0;

    snprintf(c->peer, sizeof(c->peer), "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        uv_ip4_name(s4, host, sizeof(host));
        port = ntohs(s4->sin_port);
        snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(s6, host, sizeof(host));
        port = ntohs(s6->sin6_port);
        snprintf(c->peer, sizeof(c->peer), "[%s]:%u", host, port);
    }
    (void)admit_addr_key((struct sockaddr *)&ss, c->addr_key);
}

/* True if the connection's first bytes, already in the socket before
 * anything was read, are a stream preamble and a live ticket no other
 * connection holds (peeked, not consumed: the stream owner takes the ticket as
 * for any leg). The ticket is then claimed for c (ticket_claim), so a ticket
 * vouches for one connection at a time past its address's limits, however
 * many carry it; conn_ticket_release drops the claim. Agents write them right
 * after connecting, so on a relay busy enough to accept late they are there;
 * when they are not yet, the answer is no. */
static bool conn_ticket_waiting(struct conn *c)
{
    uint8_t b[FRAME_PREAMBLE_LEN + TICKET_LEN];
    struct frame_preamble pre;
    uv_os_fd_t fd;
    bool ok;

    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 ||
        recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) != (ssize_t)sizeof(b))
        return false;
    ok = frame_preamble_decode(b, FRAME_PREAMBLE_LEN, &pre) == 0 && pre.kind == FRAME_KIND_STREAM &&
         ticket_claim(c->ctx->tickets, b + FRAME_PREAMBLE_LEN, uv_now(c->ctx->loop), c->id) == 0;
    if (ok) {
        memcpy(c->claim_tk, b + FRAME_PREAMBLE_LEN, TICKET_LEN);
        c->claimed = true;
    }
    sodium_memzero(b, sizeof(b));
    return ok;
}

void conn_accept(struct conn_ctx *ctx, uv_stream_t *server)
{
    struct conn *c;
    size_t cap;
    int rc;

    if (ctx->conns.max == 0)
        freelist_init(&ctx->conns, sizeof(*c), CONN_FREE_MAX);
    c = freelist_get(&ctx->conns);
    if (c == NULL) {
        log_warnx("accept: out of memory");
        return;
    }
    c->ctx = ctx;
    c->id = ++ctx->next_id;
    c->state = CONN_PREAMBLE;
    uv_tcp_init(ctx->loop, &c->tcp);
    uv_timer_init(ctx->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->next = ctx->list;
    if (ctx->list != NULL)
        ctx->list->prev = c;
    ctx->list = c;
    rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        log_warnx("accept: %s", uv_strerror(rc));
        conn_close(c, CONN_END_FIN, "accept failed");
        return;
    }
    conn_peer_name(c);
    c->accepted_ms = uv_now(ctx->loop);
    rc = admit_admit(ctx->admit, c->addr_key, c->accepted_ms, &c->ip);
    /* A leg whose ticket is already waiting is its link's, not anonymous:
     * the per-address limits do not refuse it (D16). */
    if (rc != 0 && admit_kind_per_address(admit_kind_of(rc)) && conn_ticket_waiting(c)) {
        rc = admit_admit_ticketed(ctx->admit, c->addr_key, rc);
        if (rc == 0)
            log_debug("conn %" PRIu64 " %s: admitted past the per-address limits: a live ticket",
                      c->id, c->peer);
    }
    if (rc != 0) {
        char text[64];
        stats_count_fail(ctx->stats, STATS_FAIL_LIMIT, c->peer);
        c->ip = NULL;
        snprintf(text, sizeof(text), "refused: %s",
                 rc == -ENOMEM ? "out of memory" : admit_name(admit_kind_of(rc)));
        conn_close(c, CONN_END_FIN, text);
        return;
    }
    c->admitted = true;
    c->pending = true;
    /* Room for everything allowed before authentication (plus the one byte
     * that proves the limit was passed), and at least two control frames. */
    cap = ctx->lim->preauth_bytes + 1 > CONN_IN_CAP ? ctx->lim->preauth_bytes + 1 : CONN_IN_CAP;
    c->inmem = malloc(cap);
    if (c->inmem == NULL) {
        conn_close(c, CONN_END_FIN, "out of memory");
        return;
    }
    bq_init(&c->in, c->inmem, cap);
    /* TCP_NODELAY and the leg options come from the listener (conn_leg_sockopts). */
    log_debug("conn %" PRIu64 " %s: accepted", c->id, c->peer);
    conn_timer(c, ctx->lim->handshake_timeout_ms, 0, conn_hs_timeout);
    rc = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
    if (rc != 0)
        conn_close(c, CONN_END_FIN, uv_strerror(rc));
}

bool conn_leg_stalled(int err, char *why, size_t cap)
{
    if (err == UV_ETIMEDOUT) {
        snprintf(why, cap, "write stalled (nothing acknowledged)");
        return true;
    }
    if (err == UV_EHOSTUNREACH || err == UV_ENETUNREACH || err == UV_EHOSTDOWN ||
        err == UV_ENONET) {
        snprintf(why, cap, "write stalled (nothing acknowledged; last ICMP: %s)", uv_strerror(err));
        return true;
    }
    return false;
}

uint64_t conn_leg_tick_ms(const struct relaycfg_limits *lim)
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
 * user timeout off again (conn_session_sockopts). design.md D10.
 */
int conn_leg_sockopts(uv_os_fd_t fd, const struct relaycfg_limits *lim)
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

void conn_session_sockopts(struct conn *c)
{
    int zero = 0;
    unsigned uzero = 0;
    uv_os_fd_t fd;

    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &zero, sizeof(zero)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uzero, sizeof(uzero)) != 0)
        log_debug("conn %" PRIu64 ": control socket options: %s", c->id, strerror(errno));
}
