/* SPDX-License-Identifier: MIT */
/*
 * bench_pair — the pair maker of lr_bench (see bench.h): control sessions
 * (docs/protocol.md §3–§5), stream legs with tickets (§6.1), or plain TCP
 * through a forwarder; an epoll state machine so many streams are set up at
 * once and each one's time to first byte is measured.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <sodium.h>

#include "bench.h"
#include "auth.h"
#include "buf.h"
#include "frame.h"
#include "tio.h"
#include "msg.h"

#define IO_TIMEOUT_MS 10000
#define RUN_LIMIT_US  (300ull * 1000000ull)
#define MAX_FDS       65536

enum { K_LEGA = 0, K_LEGB = 1, K_CTLA = 2, K_CTLB = 3, K_LISTEN = 4, K_ANON = 5 };

uint64_t bench_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void bench_die(const char *what)
{
    printf("error=%s errno=%d\nresult=fail\n", what, errno);
    fflush(stdout);
    exit(1);
}

void bench_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int bench_parse_addr(const char *hostport, struct sockaddr_storage *sa, socklen_t *len)
{
    char host[256], *colon;
    struct addrinfo hints, *res;

    snprintf(host, sizeof(host), "%s", hostport);
    colon = strrchr(host, ':');
    if (colon == NULL)
        return -EINVAL;
    *colon = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -EINVAL;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Connections to a 127/8 address come from 127.0.0.1..127.0.0.8 in turn, so
 * 18,000 legs to one relay port and the TIME_WAIT left by earlier tests do not
 * run out of ephemeral ports (28,232 per source address and destination). */
static void spread_source(int fd, const struct sockaddr_storage *sa)
{
    static unsigned next;
    const struct sockaddr_in *dst = (const struct sockaddr_in *)sa;
    struct sockaddr_in src;
    int one = 1;

    if (sa->ss_family != AF_INET || (ntohl(dst->sin_addr.s_addr) >> 24) != 127)
        return;
    memset(&src, 0, sizeof(src));
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001u + next++ % 8u);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    (void)bind(fd, (const struct sockaddr *)&src, sizeof(src));
}

int bench_dial(const struct sockaddr_storage *sa, socklen_t len)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -errno;
    spread_source(fd, sa);
    if (connect(fd, (const struct sockaddr *)sa, len) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int sess_recv(struct bench_sess *s, struct msg *m, uint8_t *pt, size_t cap)
{
    uint8_t ct[FRAME_MAX_CONTROL];
    size_t len, ptlen;
    int rc = tio_read_frame(s->fd, ct, sizeof(ct), &len, IO_TIMEOUT_MS);

    if (rc != 0)
        return rc;
    if (noise_cs_decrypt(&s->rx, NULL, 0, ct, len, pt, cap, &ptlen) != 0)
        return -EBADMSG;
    return msg_decode(pt, ptlen, m) == 0 ? 0 : -EBADMSG;
}

static int sess_send(struct bench_sess *s, const struct msg *m)
{
    uint8_t pt[MSG_MAX_LEN], ct[FRAME_MAX_CONTROL];
    size_t ptlen, ctlen;

    if (msg_encode(m, pt, sizeof(pt), &ptlen) != 0 ||
        noise_cs_encrypt(&s->tx, NULL, 0, pt, ptlen, ct, sizeof(ct), &ctlen) != 0)
        return -EINVAL;
    return tio_write_frame(s->fd, ct, ctlen);
}

int bench_sess_open(const struct bench_cfg *cfg, const uint8_t link[16], const uint8_t key[32],
                    int side, struct bench_sess *s)
{
    struct frame_preamble fp = {.kind = FRAME_KIND_CONTROL, .key_id = (uint8_t)cfg->key_id};
    struct auth a = {.side = side, .agent_version = "lr_bench"};
    uint8_t pre[FRAME_PREAMBLE_LEN], prologue[FRAME_CONTROL_PROLOGUE_LEN];
    uint8_t m[FRAME_MAX_HANDSHAKE], pl[FRAME_MAX_HANDSHAKE], auth[AUTH_MAX_LEN], pt[MSG_MAX_LEN];
    struct noise_hs hs;
    struct msg w;
    struct buf b;
    size_t mlen, plen, alen;
    int rc = -EPROTO;

    memset(s, 0, sizeof(*s));
    memcpy(a.link_id, link, sizeof(a.link_id));
    buf_init(&b, pre, sizeof(pre));
    if (frame_preamble_encode(&fp, &b) != 0 || auth_encode(&a, auth, sizeof(auth), &alen) != 0)
        return -EINVAL;
    frame_control_prologue(pre, prologue);
    s->fd = bench_dial(&cfg->relay_sa, cfg->relay_len);
    if (s->fd < 0)
        return s->fd;
    if (noise_hs_init(&hs, NOISE_XK, true, prologue, sizeof(prologue), key, cfg->relay_pub) != 0 ||
        noise_hs_write_message(&hs, NULL, 0, m, sizeof(m), &mlen) != 0)
        goto out;
    if (tio_write_all(s->fd, pre, 8) != 0 || tio_write_frame(s->fd, m, mlen) != 0 ||
        tio_read_frame(s->fd, m, sizeof(m), &mlen, IO_TIMEOUT_MS) != 0 ||
        noise_hs_read_message(&hs, m, mlen, pl, sizeof(pl), &plen) != 0 ||
        noise_hs_write_message(&hs, auth, alen, m, sizeof(m), &mlen) != 0 ||
        noise_hs_split(&hs, &s->tx, &s->rx) != 0 || tio_write_frame(s->fd, m, mlen) != 0 ||
        sess_recv(s, &w, pt, sizeof(pt)) != 0 || w.type != MSG_WELCOME)
        goto out;
    rc = 0;
out:
    noise_hs_wipe(&hs);
    if (rc != 0) {
        close(s->fd);
        s->fd = -1;
    }
    return rc;
}

/* Handles one message that is not for the pairing engine; false if fatal. */
static bool sess_other(struct bench_sess *s, const struct msg *m)
{
    if (m->type == MSG_PING) {
        struct msg pong = {.type = MSG_PONG};
        pong.u.nonce = m->u.nonce;
        return sess_send(s, &pong) == 0;
    }
    if (m->type == MSG_CLOSE) {
        printf("warn=relay sent CLOSE reason %s\n", msg_close_reason_name(m->u.close.reason));
        return false;
    }
    return true; /* PEER, ADDRS, ... */
}

int pairer_open(struct bench_pairer *p, const struct bench_cfg *cfg)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->lfd = -1;
    p->s[0].fd = p->s[1].fd = -1;
    if (cfg->via_relay) {
        for (int side = 0; side < 2; side++) {
            int rc = bench_sess_open(cfg, cfg->link, cfg->key[side], side, &p->s[side]);
            if (rc != 0)
                return rc;
        }
        /* Wait until a has seen b online (PEER), so OPEN cannot meet peer_offline. */
        usleep(50000);
        pairer_service(p);
        return 0;
    }
    int one = 1;
    p->lfd = socket(cfg->lis_sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (p->lfd < 0)
        return -errno;
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(p->lfd, (const struct sockaddr *)&cfg->lis_sa, cfg->lis_len) != 0 ||
        listen(p->lfd, 4096) != 0)
        return -errno;
    return 0;
}

void pairer_close(struct bench_pairer *p)
{
    for (int i = 0; i < 2; i++) {
        if (p->s[i].fd >= 0)
            close(p->s[i].fd);
        p->s[i].fd = -1;
    }
    if (p->lfd >= 0)
        close(p->lfd);
    p->lfd = -1;
}

void pairer_service(struct bench_pairer *p)
{
    uint8_t pt[MSG_MAX_LEN];

    for (int i = 0; i < 2; i++) {
        struct msg m;
        while (p->s[i].fd >= 0 && tio_wait_in(p->s[i].fd, 0) == 0) {
            if (sess_recv(&p->s[i], &m, pt, sizeof(pt)) != 0 || !sess_other(&p->s[i], &m))
                bench_die("control session ended");
        }
    }
}

/* ---- the pairing engine ---- */

struct pend {
    int fd[2];
    uint64_t t0, sid;
    uint64_t t_tk, t_spl; /* both tickets known, SPLICED read on leg a */
    uint8_t tk[2][32];
    bool have[2];
    uint8_t got[2];
    bool done;
};

struct stash {
    uint64_t sid;
    uint8_t tk[32];
};

struct run {
    struct bench_pairer *p;
    struct pend *pe;
    long n, inflight, ok, failed;
    long lo, started; /* streams [lo, started) may be in flight */
    int ep;
    bool keep;
    int (*legs)[2];
    double *lat;
    double **phase;     /* pairs_result.phase_us */
    uint64_t *start_us; /* pairs_result.start_us */
    struct stash *st;
    long nst, cap_st;
    uint8_t (*anon)[9]; /* via tcp: id bytes read so far on accepted fds; [8] = count */
};

static void ep_add(struct run *r, int fd, int kind, long idx)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)kind | (uint64_t)idx << 3};

    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        bench_die("epoll_ctl");
}

static void finish(struct run *r, long i, bool ok)
{
    struct pend *e = &r->pe[i];

    if (e->done)
        return;
    e->done = true;
    r->inflight--;
    uint64_t now = bench_now_us();

    r->lat[i] = ok ? (double)(now - e->t0) : -1.0;
    if (r->start_us != NULL)
        r->start_us[i] = e->t0;
    if (r->phase[0] != NULL) {
        bool all = ok && e->t_tk != 0 && e->t_spl != 0;
        r->phase[0][i] = all ? (double)(e->t_tk - e->t0) : -1.0;
        r->phase[1][i] = all ? (double)(e->t_spl - e->t_tk) : -1.0;
        r->phase[2][i] = all ? (double)(now - e->t_spl) : -1.0;
    }
    if (ok)
        r->ok++;
    else
        r->failed++;
    for (int s = 0; s < 2; s++) {
        if (e->fd[s] < 0)
            continue;
        epoll_ctl(r->ep, EPOLL_CTL_DEL, e->fd[s], NULL);
        if (ok && r->keep) {
            int fl = fcntl(e->fd[s], F_GETFL);
            fcntl(e->fd[s], F_SETFL, fl & ~O_NONBLOCK);
            r->legs[i][s] = e->fd[s];
        } else {
            close(e->fd[s]);
        }
        e->fd[s] = -1;
    }
}

/* Both tickets known: connect both legs, present the tickets. */
static void legs_connect(struct run *r, long i)
{
    const struct bench_cfg *c = r->p->cfg;
    struct pend *e = &r->pe[i];

    e->t_tk = bench_now_us();
    for (int s = 0; s < 2; s++) {
        uint8_t pre[8 + 32] = {'L', 'R', 'L', 'Y', 1, 2, 0, 0};
        int fd = bench_dial(&c->relay_sa, c->relay_len);
        if (fd < 0) {
            finish(r, i, false);
            return;
        }
        e->fd[s] = fd;
        memcpy(pre + 8, e->tk[s], 32);
        if (tio_write_all(fd, pre, sizeof(pre)) != 0) {
            finish(r, i, false);
            return;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        ep_add(r, fd, s, i);
    }
}

static void on_stream(struct run *r, int side, const struct msg_stream *st)
{
    if (side == 0) {
        long i = (long)st->req_id - 1;
        if (i < 0 || i >= r->n || r->pe[i].done)
            return;
        r->pe[i].sid = st->stream_id;
        memcpy(r->pe[i].tk[0], st->ticket, 32);
        r->pe[i].have[0] = true;
        for (long k = 0; k < r->nst; k++) {
            if (r->st[k].sid == st->stream_id) {
                memcpy(r->pe[i].tk[1], r->st[k].tk, 32);
                r->pe[i].have[1] = true;
                r->st[k] = r->st[--r->nst];
                legs_connect(r, i);
                return;
            }
        }
        return;
    }
    while (r->lo < r->started && r->pe[r->lo].done)
        r->lo++;
    for (long i = r->lo; i < r->started; i++) { /* b's STREAM: find the stream a opened */
        struct pend *e = &r->pe[i];
        if (e->have[0] && !e->have[1] && !e->done && e->sid == st->stream_id) {
            memcpy(e->tk[1], st->ticket, 32);
            e->have[1] = true;
            legs_connect(r, i);
            return;
        }
    }
    if (r->nst == r->cap_st)
        bench_die("too many early STREAM messages");
    r->st[r->nst].sid = st->stream_id;
    memcpy(r->st[r->nst++].tk, st->ticket, 32);
}

static void on_ctl(struct run *r, int side)
{
    struct bench_sess *s = &r->p->s[side];
    uint8_t pt[MSG_MAX_LEN];

    do {
        struct msg m;
        if (sess_recv(s, &m, pt, sizeof(pt)) != 0)
            bench_die("control session ended");
        if (m.type == MSG_STREAM)
            on_stream(r, side, &m.u.stream);
        else if (m.type == MSG_OPEN_FAIL && m.u.open_fail.req_id != 0)
            finish(r, (long)m.u.open_fail.req_id - 1, false);
        else if (m.type != MSG_OPEN_FAIL && !sess_other(s, &m))
            bench_die("control session closed");
    } while (tio_wait_in(s->fd, 0) == 0);
}

/* A relay leg is readable: SPLICED, then (leg b) the 8-byte id from leg a. */
static void on_leg(struct run *r, int side, long i)
{
    struct pend *e = &r->pe[i];
    uint8_t buf[16];
    ssize_t n = read(e->fd[side], buf, side == 0 ? 1 : 9 - e->got[1]);

    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        finish(r, i, false);
        return;
    }
    if (e->got[side] == 0 && buf[0] != 0x01) {
        finish(r, i, false);
        return;
    }
    if (e->got[side] == 0 && side == 0)
        e->t_spl = bench_now_us();
    e->got[side] = (uint8_t)(e->got[side] + n);
    if (side == 0) {
        uint64_t id = (uint64_t)i;
        if (tio_write_all(e->fd[0], (const uint8_t *)&id, 8) != 0)
            finish(r, i, false);
    } else if (e->got[1] >= 9) {
        finish(r, i, true);
    }
}

static void on_listen(struct run *r)
{
    for (;;) {
        int fd = accept4(r->p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
        if (fd < 0)
            return;
        if (fd >= MAX_FDS)
            bench_die("fd too large");
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        r->anon[fd][8] = 0;
        ep_add(r, fd, K_ANON, fd);
    }
}

/* An accepted connection is readable: the 8-byte id says which stream it is. */
static void on_anon(struct run *r, int fd)
{
    uint8_t *a = r->anon[fd];
    ssize_t n = read(fd, a + a[8], 8u - a[8]);
    uint64_t id;

    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        return;
    }
    a[8] = (uint8_t)(a[8] + n);
    if (a[8] < 8)
        return;
    memcpy(&id, a, 8);
    if (id >= (uint64_t)r->n || r->pe[id].done || r->pe[id].fd[1] >= 0)
        bench_die("bad stream id on an accepted connection");
    r->pe[id].fd[1] = fd;
    finish(r, (long)id, true);
}

static void start_one(struct run *r, long i)
{
    struct pend *e = &r->pe[i];
    const struct bench_cfg *c = r->p->cfg;

    e->t0 = bench_now_us();
    r->inflight++;
    if (c->via_relay) {
        struct msg m = {.type = MSG_OPEN};
        m.u.req_id = (uint32_t)(i + 1);
        if (sess_send(&r->p->s[0], &m) != 0)
            bench_die("OPEN");
        return;
    }
    uint64_t id = (uint64_t)i;
    e->fd[0] = bench_dial(&c->fwd_sa, c->fwd_len);
    if (e->fd[0] < 0 || tio_write_all(e->fd[0], (const uint8_t *)&id, 8) != 0)
        finish(r, i, false);
}

static void run_dispatch(struct run *r, uint64_t u)
{
    int kind = (int)(u & 7);
    long idx = (long)(u >> 3);

    switch (kind) {
    case K_LEGA:
    case K_LEGB:
        if (!r->pe[idx].done)
            on_leg(r, kind, idx);
        break;
    case K_CTLA:
    case K_CTLB:
        on_ctl(r, kind - K_CTLA);
        break;
    case K_LISTEN:
        on_listen(r);
        break;
    default:
        on_anon(r, (int)idx);
        break;
    }
}

int pairs_run(struct bench_pairer *p, long n, long rate, long window, int (*legs)[2],
              double *lat_us, struct pairs_result *res)
{
    struct run r;
    struct epoll_event evs[256];
    uint64_t t0 = bench_now_us();
    long started = 0;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    r.p = p;
    r.n = n;
    r.keep = legs != NULL;
    r.legs = legs;
    r.lat = lat_us;
    r.phase = res->phase_us;
    r.start_us = res->start_us;
    r.pe = calloc((size_t)n, sizeof(*r.pe));
    r.cap_st = window * 2 + 16;
    r.st = calloc((size_t)r.cap_st, sizeof(*r.st));
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    if (r.pe == NULL || r.st == NULL || r.ep < 0)
        bench_die("pairs_run alloc");
    for (long i = 0; i < n; i++)
        r.pe[i].fd[0] = r.pe[i].fd[1] = -1;
    if (p->cfg->via_relay) {
        ep_add(&r, p->s[0].fd, K_CTLA, 0);
        ep_add(&r, p->s[1].fd, K_CTLB, 0);
    } else {
        r.anon = calloc(MAX_FDS, sizeof(*r.anon));
        if (r.anon == NULL)
            bench_die("alloc");
        ep_add(&r, p->lfd, K_LISTEN, 0);
    }
    while (r.ok + r.failed < n) {
        uint64_t now = bench_now_us();
        int ne;
        if (now - t0 > RUN_LIMIT_US) {
            rc = -ETIMEDOUT;
            break;
        }
        while (started < n && r.inflight < window &&
               (rate == 0 || (double)started < (double)(now - t0) * (double)rate / 1e6))
            start_one(&r, started++);
        r.started = started;
        ne = epoll_wait(r.ep, evs, 256, rate > 0 && started < n ? 1 : 100);
        for (int k = 0; k < ne; k++)
            run_dispatch(&r, evs[k].data.u64);
    }
    res->elapsed_s = (double)(bench_now_us() - t0) / 1e6;
    res->ok = r.ok;
    res->failed = r.failed + (n - r.ok - r.failed);
    for (long i = 0; i < n; i++) {
        if (!r.pe[i].done) {
            lat_us[i] = -1.0;
            for (int s = 0; s < 2; s++)
                if (r.pe[i].fd[s] >= 0)
                    close(r.pe[i].fd[s]);
        }
    }
    close(r.ep);
    free(r.pe);
    free(r.st);
    free(r.anon);
    return rc;
}
