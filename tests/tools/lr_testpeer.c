/* SPDX-License-Identifier: MIT */
/*
 * lr_testpeer — a test client that speaks the agent side of the linkrelay
 * protocol (docs/protocol.md §3–§6) with common/ (frame, msg, noise, keys),
 * blocking sockets and poll(). Both sides of a link can run in one process,
 * so a test can drive a stream end to end and check every byte.
 *
 * usage: lr_testpeer keygen
 *        lr_testpeer [options] session   one control session (side --side)
 *        lr_testpeer [options] pair      both sides, one or more streams
 * options:
 *   --relay HOST:PORT --relay-pub lrpub1.. --key-id N --link HEX32
 *   --a-key lrkey1.. --b-key lrkey1.. --side a|b
 *   --token lrtok1..  (repeatable, one per side: sets link, side key, relay
 *                      key and key id, and --relay unless given)
 *   session: --hold-ms N (stay up N ms; print every message), --open N
 *   pair:    --bytes N (a→b) --bytes-back N (b→a) --mode MODE --count K
 *            --read-rate BPS --hold-ms N --early N --fast N
 *   modes:   both       a and b send at once, then shut down; SHA-256 checked
 *            halfclose  a sends, shuts down; b reads to EOF, then replies, shuts down
 *            reset      a sends --bytes then resets; b must see a reset
 *            slowread   b reads at --read-rate (after --fast bytes at full speed);
 *                       a writes; expect a reset
 *            hold       trickle bytes both ways until a leg is reset (revocation)
 *            race       --count streams, both legs connect at once; count pairings
 * Output: lines "key=value" on stdout, the last "result=ok|fail"; exit 0 on ok.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <sodium.h>

#include "auth.h"
#include "buf.h"
#include "frame.h"
#include "tio.h"
#include "keys.h"
#include "msg.h"
#include "noise.h"
#include "token.h"

#define IO_TIMEOUT_MS 10000

struct opts {
    const char *relay;
    uint8_t relay_pub[32];
    int key_id;
    uint8_t link[16];
    uint8_t key[2][32];
    bool have_key[2];
    int side;
    long hold_ms;
    int open;
    uint64_t bytes, bytes_back;
    const char *mode;
    long count;
    long read_rate;
    size_t early;
    uint64_t fast; /* slowread: b reads this many bytes at full speed first */
};

struct sess {
    int fd;
    struct noise_cs tx, rx;
    uint8_t in[FRAME_HDR_LEN + FRAME_MAX_CONTROL];
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *what)
{
    printf("error=%s\nresult=fail\n", what);
    exit(1);
}

static int dial(const char *hostport)
{
    char host[256], *colon;
    struct addrinfo hints, *res;
    int fd, one = 1;

    snprintf(host, sizeof(host), "%s", hostport);
    colon = strrchr(host, ':');
    if (colon == NULL)
        die("relay address needs a port");
    *colon = '\0';
    if (host[0] == '[' && colon > host + 1 && colon[-1] == ']') {
        colon[-1] = '\0';
        memmove(host, host + 1, strlen(host + 1) + 1);
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        die("cannot resolve relay");
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        freeaddrinfo(res);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* AUTH (docs/protocol.md §4.1) as an agent sends it, by the common codec. */
static size_t peer_auth(const struct opts *o, int side, uint8_t *out, size_t cap)
{
    struct auth a = {.side = side, .agent_version = "lr_testpeer"};
    size_t len = 0;

    memcpy(a.link_id, o->link, sizeof(a.link_id));
    if (auth_encode(&a, out, cap, &len) != 0)
        die("auth encode");
    return len;
}

/* The control preamble for the pinned key id and the prologue that binds it. */
static void control_hello(uint8_t key_id, uint8_t pre[FRAME_PREAMBLE_LEN],
                          uint8_t prologue[FRAME_CONTROL_PROLOGUE_LEN])
{
    struct frame_preamble p = {.kind = FRAME_KIND_CONTROL, .key_id = key_id};
    struct buf b;

    buf_init(&b, pre, FRAME_PREAMBLE_LEN);
    if (frame_preamble_encode(&p, &b) != 0)
        die("preamble");
    frame_control_prologue(pre, prologue);
}

/* Receives one control message into m (strings point into s->in). */
static int sess_recv(struct sess *s, struct msg *m, int timeout_ms)
{
    uint8_t ct[FRAME_MAX_CONTROL];
    size_t len, ptlen;
    int rc = tio_read_frame(s->fd, ct, sizeof(ct), &len, timeout_ms);

    if (rc != 0)
        return rc;
    if (noise_cs_decrypt(&s->rx, NULL, 0, ct, len, s->in, sizeof(s->in), &ptlen) != 0)
        return -EBADMSG;
    return msg_decode(s->in, ptlen, m) == 0 ? 0 : -EBADMSG;
}

static int sess_send(struct sess *s, const struct msg *m)
{
    uint8_t pt[MSG_MAX_LEN], ct[FRAME_MAX_CONTROL];
    size_t ptlen, ctlen;

    if (msg_encode(m, pt, sizeof(pt), &ptlen) != 0 ||
        noise_cs_encrypt(&s->tx, NULL, 0, pt, ptlen, ct, sizeof(ct), &ctlen) != 0)
        return -EINVAL;
    return tio_write_frame(s->fd, ct, ctlen);
}

/* Control connect + XK + AUTH; WELCOME in *w. Returns 0, or a stage name
 * through *why on failure ("connect", "msg2", "welcome"). */
static int sess_open(const struct opts *o, int side, struct sess *s, struct msg *w,
                     const char **why)
{
    uint8_t pre[FRAME_PREAMBLE_LEN], prologue[FRAME_CONTROL_PROLOGUE_LEN];
    uint8_t m[FRAME_MAX_HANDSHAKE], pl[FRAME_MAX_HANDSHAKE], auth[AUTH_MAX_LEN];
    struct noise_hs hs;
    size_t mlen, plen, alen;
    int rc;

    memset(s, 0, sizeof(*s));
    control_hello((uint8_t)o->key_id, pre, prologue);
    *why = "connect";
    s->fd = dial(o->relay);
    if (s->fd < 0)
        return -ECONNREFUSED;
    if (noise_hs_init(&hs, NOISE_XK, true, prologue, sizeof(prologue), o->key[side],
                      o->relay_pub) != 0)
        die("noise init");
    if (noise_hs_write_message(&hs, NULL, 0, m, sizeof(m), &mlen) != 0)
        die("msg1");
    if (tio_write_all(s->fd, pre, 8) != 0 || tio_write_frame(s->fd, m, mlen) != 0)
        goto fail;
    *why = "msg2";
    rc = tio_read_frame(s->fd, m, sizeof(m), &mlen, IO_TIMEOUT_MS);
    if (rc != 0 || noise_hs_read_message(&hs, m, mlen, pl, sizeof(pl), &plen) != 0)
        goto fail;
    alen = peer_auth(o, side, auth, sizeof(auth));
    if (noise_hs_write_message(&hs, auth, alen, m, sizeof(m), &mlen) != 0)
        die("msg3");
    if (noise_hs_split(&hs, &s->tx, &s->rx) != 0)
        die("split");
    *why = "welcome";
    if (tio_write_frame(s->fd, m, mlen) != 0)
        goto fail;
    rc = sess_recv(s, w, IO_TIMEOUT_MS);
    if (rc != 0 || (w->type != MSG_WELCOME && w->type != MSG_CLOSE))
        goto fail;
    noise_hs_wipe(&hs);
    return 0;
fail:
    noise_hs_wipe(&hs);
    close(s->fd);
    s->fd = -1;
    return -EPROTO;
}

static void print_msg(const char *who, const struct msg *m)
{
    char text[256] = "";

    switch (m->type) {
    case MSG_WELCOME:
        printf("%s.welcome keepalive=%u dead_after=%u peer_online=%d max_streams=%u\n", who,
               m->u.welcome.keepalive_s, m->u.welcome.dead_after_s, m->u.welcome.peer_online,
               m->u.welcome.max_streams);
        break;
    case MSG_PEER:
        printf("%s.peer online=%d\n", who, m->u.peer_online);
        break;
    case MSG_STREAM:
        printf("%s.stream req=%" PRIu32 " id=%" PRIu64 " role=%d\n", who, m->u.stream.req_id,
               m->u.stream.stream_id, m->u.stream.role);
        break;
    case MSG_OPEN_FAIL:
        printf("%s.open_fail req=%" PRIu32 " reason=%s\n", who, m->u.open_fail.req_id,
               msg_open_fail_reason_name(m->u.open_fail.reason));
        break;
    case MSG_CLOSE:
        msg_str_cstr(&m->u.close.text, text, sizeof(text));
        printf("%s.close reason=%s text=%s\n", who, msg_close_reason_name(m->u.close.reason), text);
        break;
    default:
        printf("%s.msg type=%s\n", who, msg_type_name(m->type));
        break;
    }
    fflush(stdout);
}

/* Receives until a message of type `want` (answering PINGs), or error. */
static int sess_expect(struct sess *s, const char *who, enum msg_type want, struct msg *m,
                       int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        uint64_t now = now_ms();
        int rc;
        if (now >= deadline)
            return -ETIMEDOUT;
        rc = sess_recv(s, m, (int)(deadline - now));
        if (rc != 0)
            return rc;
        if (m->type == MSG_PING) {
            struct msg pong = {.type = MSG_PONG};
            pong.u.nonce = m->u.nonce;
            sess_send(s, &pong);
            continue;
        }
        if (m->type == want)
            return 0;
        print_msg(who, m);
        if (m->type == MSG_CLOSE || m->type == MSG_OPEN_FAIL)
            return -ECONNABORTED;
    }
}

/* ---- stream legs ---- */

static int leg_connect(const struct opts *o, const uint8_t ticket[32], const uint8_t *early,
                       size_t n_early)
{
    uint8_t pre[8 + 32] = {'L', 'R', 'L', 'Y', 1, 2, 0, 0};
    int fd = dial(o->relay);

    if (fd < 0)
        return -1;
    memcpy(pre + 8, ticket, 32);
    if (tio_write_all(fd, pre, sizeof(pre)) != 0 ||
        (n_early > 0 && tio_write_all(fd, early, n_early)))
        return close(fd), -1;
    return fd;
}

static int leg_wait_spliced(int fd)
{
    uint8_t b;
    int rc = tio_read_n(fd, &b, 1, IO_TIMEOUT_MS);

    return rc != 0 ? rc : b == 0x01 ? 0 : -EBADMSG;
}

static void set_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

struct pair {
    struct sess s[2];
    uint8_t ticket[2][32];
    int leg[2];
    uint32_t req;
};

/* OPEN from a, STREAM on both sessions. */
static int pair_open(struct pair *p)
{
    struct msg m = {.type = MSG_OPEN};
    int rc;

    m.u.req_id = ++p->req;
    if (sess_send(&p->s[0], &m) != 0)
        return -EIO;
    for (int side = 0; side < 2; side++) {
        rc = sess_expect(&p->s[side], side == 0 ? "a" : "b", MSG_STREAM, &m, IO_TIMEOUT_MS);
        if (rc != 0)
            return rc;
        if (m.u.stream.role != (side == 0 ? MSG_ROLE_INITIATOR : MSG_ROLE_RESPONDER) ||
            (side == 0 && m.u.stream.req_id != p->req))
            return -EBADMSG;
        memcpy(p->ticket[side], m.u.stream.ticket, 32);
    }
    return 0;
}

/* Both legs connect (a first unless b_first), both see SPLICED. */
static int pair_legs(const struct opts *o, struct pair *p, bool b_first)
{
    uint8_t early[4096];
    size_t ne = o->early < sizeof(early) ? o->early : sizeof(early);

    memset(early, 0xab, ne);
    for (int i = 0; i < 2; i++) {
        int side = b_first ? 1 - i : i;
        p->leg[side] = leg_connect(o, p->ticket[side], early, side == 0 ? ne : 0);
        if (p->leg[side] < 0)
            return -ECONNREFUSED;
    }
    for (int side = 0; side < 2; side++) {
        int rc = leg_wait_spliced(p->leg[side]);
        if (rc != 0)
            return rc;
    }
    if (ne > 0) {
        uint8_t got[4096];
        if (tio_read_n(p->leg[1], got, ne, IO_TIMEOUT_MS) != 0 || memcmp(got, early, ne) != 0)
            return -EBADMSG;
    }
    return 0;
}

/* One direction of a transfer. */
struct dir {
    int from, to;
    uint64_t total, sent, recvd;
    crypto_hash_sha256_state hs, hr;
    bool shut, eof;
    int err;
};

static void dir_init(struct dir *d, int from, int to, uint64_t total)
{
    memset(d, 0, sizeof(*d));
    d->from = from;
    d->to = to;
    d->total = total;
    crypto_hash_sha256_init(&d->hs);
    crypto_hash_sha256_init(&d->hr);
}

static void dir_send_some(struct dir *d, uint8_t *buf, size_t cap)
{
    size_t n = d->total - d->sent < cap ? (size_t)(d->total - d->sent) : cap;
    ssize_t w;

    if (n == 0) {
        if (!d->shut)
            shutdown(d->from, SHUT_WR);
        d->shut = true;
        return;
    }
    randombytes_buf(buf, n);
    w = send(d->from, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN)
            d->err = -errno;
        return;
    }
    crypto_hash_sha256_update(&d->hs, buf, (size_t)w);
    d->sent += (uint64_t)w;
}

static void dir_recv_some(struct dir *d, uint8_t *buf, size_t cap)
{
    ssize_t r = recv(d->to, buf, cap, MSG_DONTWAIT);

    if (r == 0) {
        d->eof = true;
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN)
            d->err = -errno;
        return;
    }
    crypto_hash_sha256_update(&d->hr, buf, (size_t)r);
    d->recvd += (uint64_t)r;
}

static bool dir_check(struct dir *d, const char *name)
{
    uint8_t a[32], b[32];
    char hex[65];

    crypto_hash_sha256_final(&d->hs, a);
    crypto_hash_sha256_final(&d->hr, b);
    sodium_bin2hex(hex, sizeof(hex), b, 32);
    printf("%s.sent=%" PRIu64 " %s.received=%" PRIu64 " %s.sha256=%s %s.match=%d\n", name, d->sent,
           name, d->recvd, name, hex, name, d->sent == d->recvd && memcmp(a, b, 32) == 0);
    return d->sent == d->total && d->recvd == d->total && memcmp(a, b, 32) == 0 && d->err == 0;
}

/* Runs the given directions to completion (both at once). */
static bool pump(struct dir *d, int n, int timeout_ms)
{
    static uint8_t buf[256 * 1024];
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        struct pollfd pf[4];
        int np = 0;
        bool busy = false;
        for (int i = 0; i < n; i++) {
            if (d[i].err != 0)
                return false;
            if (!d[i].shut) {
                pf[np++] = (struct pollfd){.fd = d[i].from, .events = POLLOUT};
                busy = true;
            }
            if (!d[i].eof) {
                pf[np++] = (struct pollfd){.fd = d[i].to, .events = POLLIN};
                busy = true;
            }
        }
        if (!busy)
            return true;
        if (now_ms() > deadline || poll(pf, (nfds_t)np, 1000) < 0)
            return false;
        for (int i = 0; i < n; i++) {
            if (!d[i].shut)
                dir_send_some(&d[i], buf, sizeof(buf));
            if (!d[i].eof)
                dir_recv_some(&d[i], buf, sizeof(buf));
        }
    }
}

/* Reads fd until EOF or error; returns 0 on EOF, -errno on error. */
static int drain(int fd, int timeout_ms, uint64_t *count)
{
    uint8_t buf[65536];
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        ssize_t r;
        if (now_ms() > deadline)
            return -ETIMEDOUT;
        if (tio_wait_in(fd, 200) != 0)
            continue;
        r = read(fd, buf, sizeof(buf));
        if (r == 0)
            return 0;
        if (r < 0)
            return -errno;
        if (count != NULL)
            *count += (uint64_t)r;
    }
}

static void pair_close_legs(struct pair *p)
{
    for (int i = 0; i < 2; i++) {
        if (p->leg[i] >= 0)
            close(p->leg[i]);
        p->leg[i] = -1;
    }
}

static bool mode_both(const struct opts *o, struct pair *p)
{
    struct dir d[2];
    uint64_t t0 = now_ms();
    bool ok;

    dir_init(&d[0], p->leg[0], p->leg[1], o->bytes);
    dir_init(&d[1], p->leg[1], p->leg[0], o->bytes_back);
    ok = pump(d, 2, 600000);
    printf("elapsed_ms=%" PRIu64 "\n", now_ms() - t0);
    ok = dir_check(&d[0], "a2b") && ok;
    ok = dir_check(&d[1], "b2a") && ok;
    return ok;
}

static bool mode_halfclose(const struct opts *o, struct pair *p, bool quiet)
{
    struct dir d;
    bool ok;

    dir_init(&d, p->leg[0], p->leg[1], o->bytes);
    ok = pump(&d, 1, 60000);
    if (quiet) {
        uint8_t a[32];
        crypto_hash_sha256_final(&d.hs, a);
        ok = ok && d.recvd == o->bytes && d.sent == o->bytes;
    } else {
        ok = dir_check(&d, "a2b") && ok;
    }
    /* b replies after seeing a's EOF; a reads until b's EOF. */
    dir_init(&d, p->leg[1], p->leg[0], o->bytes_back);
    ok = pump(&d, 1, 60000) && ok;
    if (quiet) {
        ok = ok && d.recvd == o->bytes_back && d.sent == o->bytes_back;
    } else {
        ok = dir_check(&d, "b2a") && ok;
    }
    return ok;
}

static bool mode_reset(const struct opts *o, struct pair *p)
{
    uint8_t buf[4096];
    uint64_t got = 0, t0;
    int rc;

    memset(buf, 0x5a, sizeof(buf));
    for (uint64_t sent = 0; sent < o->bytes; sent += sizeof(buf))
        tio_write_all(p->leg[0], buf, sizeof(buf));
    set_rst(p->leg[0]);
    t0 = now_ms();
    close(p->leg[0]);
    p->leg[0] = -1;
    rc = drain(p->leg[1], 5000, &got);
    printf("b.after_reset=%s b.received=%" PRIu64 " reset_ms=%" PRIu64 "\n",
           rc == 0             ? "eof"
           : rc == -ECONNRESET ? "reset"
                               : "error",
           got, now_ms() - t0);
    return rc == -ECONNRESET;
}

/* Answers PINGs and prints anything else the sessions say, without blocking. */
static void pair_service(struct pair *p)
{
    for (int i = 0; i < 2; i++) {
        struct msg m;
        while (p->s[i].fd >= 0 && tio_wait_in(p->s[i].fd, 0) == 0) {
            int rc = sess_recv(&p->s[i], &m, 1000);
            if (rc != 0) {
                printf("%c.session=ended\n", 'a' + i);
                close(p->s[i].fd);
                p->s[i].fd = -1;
                break;
            }
            if (m.type == MSG_PING) {
                struct msg pong = {.type = MSG_PONG};
                pong.u.nonce = m.u.nonce;
                sess_send(&p->s[i], &pong);
            } else {
                print_msg(i == 0 ? "a" : "b", &m);
            }
        }
    }
}

static bool mode_slowread(const struct opts *o, struct pair *p)
{
    static uint8_t buf[65536];
    uint64_t t0 = now_ms(), sent = 0, got = 0, last = t0, a_ms = 0;
    int a_err = 0, b_err = 0, rc;

    randombytes_buf(buf, sizeof(buf));
    /* --fast: a reader that reads at full speed for a while, then slowly. */
    while (got < o->fast && a_err == 0 && b_err == 0 && now_ms() - t0 < (uint64_t)o->hold_ms) {
        ssize_t w = send(p->leg[0], buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
        ssize_t r = recv(p->leg[1], buf, sizeof(buf), MSG_DONTWAIT);
        if (w > 0)
            sent += (uint64_t)w;
        else if (w < 0 && errno != EAGAIN)
            a_err = errno;
        if (r > 0)
            got += (uint64_t)r;
        else if (r == 0 || (r < 0 && errno != EAGAIN))
            b_err = r == 0 ? EPIPE : errno;
        if (w <= 0 && r <= 0)
            usleep(1000);
    }
    if (o->fast > 0) {
        printf("fast.done=1\n");
        fflush(stdout);
    }
    t0 = last = now_ms();
    while (now_ms() - t0 < (uint64_t)o->hold_ms && a_err == 0) {
        ssize_t w = send(p->leg[0], buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0)
            sent += (uint64_t)w;
        else if (w < 0 && errno != EAGAIN)
            a_err = errno;
        if (now_ms() - last >= 100) {
            size_t want = (size_t)(o->read_rate / 10);
            ssize_t r = recv(p->leg[1], buf, want > 0 ? want : 1, MSG_DONTWAIT);
            last = now_ms();
            if (r > 0)
                got += (uint64_t)r;
            else if (r == 0 || (r < 0 && errno != EAGAIN))
                b_err = r == 0 ? EPIPE : errno;
        }
        pair_service(p);
        usleep(10000);
    }
    a_ms = now_ms() - t0;
    /* The reader's kernel buffer still holds what the relay wrote before the
     * reset; read it fast to see how the leg ended (RST, not EOF). */
    if (b_err == 0) {
        rc = drain(p->leg[1], 10000, &got);
        b_err = rc == 0 ? EPIPE : -rc;
    }
    printf("a.sent=%" PRIu64 " b.received=%" PRIu64 " a.err=%d b.err=%d a.err_ms=%" PRIu64 "\n",
           sent, got, a_err, b_err, a_ms);
    fflush(stdout);
    return a_err == ECONNRESET && b_err == ECONNRESET;
}

/* Trickles bytes both ways until a leg fails; reports what the sessions say. */
static bool mode_hold(const struct opts *o, struct pair *p)
{
    uint64_t t0 = now_ms(), last = 0;
    uint8_t b = 0x42, buf[256];
    int err[2] = {0, 0};

    printf("holding=1\n");
    fflush(stdout);
    while (now_ms() - t0 < (uint64_t)o->hold_ms && (err[0] == 0 || err[1] == 0)) {
        for (int i = 0; i < 2; i++) {
            ssize_t r;
            if (err[i] != 0)
                continue;
            if (now_ms() - last >= 50 && send(p->leg[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
                errno != EAGAIN)
                err[i] = errno;
            /* A send that met a reset consumed the socket's error (ECONNRESET):
             * a recv after it would see only the closed socket and return 0,
             * so a reset would read as EOF whenever the send came first. */
            r = err[i] == 0 ? recv(p->leg[i], buf, sizeof(buf), MSG_DONTWAIT) : -2;
            if (r == 0)
                err[i] = EPIPE;
            else if (r == -1 && errno != EAGAIN)
                err[i] = errno;
            if (err[i] != 0) {
                printf("leg.%c=%s at_ms=%" PRIu64 "\n", 'a' + i,
                       err[i] == ECONNRESET ? "reset"
                       : err[i] == EPIPE    ? "eof"
                                            : "error",
                       now_ms() - t0);
                fflush(stdout);
            }
        }
        if (now_ms() - last >= 50)
            last = now_ms();
        pair_service(p);
        usleep(5000);
    }
    for (uint64_t t1 = now_ms(); now_ms() - t1 < 1000;) {
        pair_service(p);
        usleep(10000);
    }
    for (int i = 0; i < 2; i++) {
        if (p->s[i].fd >= 0)
            printf("%c.session=up\n", 'a' + i);
    }
    return err[0] == ECONNRESET && err[1] == ECONNRESET;
}

static bool mode_race(const struct opts *o, struct pair *p)
{
    long ok = 0, fail = 0;

    for (long i = 0; i < o->count; i++) {
        if (pair_open(p) != 0) {
            fail++;
            continue;
        }
        /* Connect both, send both tickets, and only then look for SPLICED. */
        if (pair_legs(o, p, (i & 1) != 0) == 0)
            ok++;
        else
            fail++;
        pair_close_legs(p);
    }
    printf("race.paired=%ld race.failed=%ld\n", ok, fail);
    return fail == 0;
}

static int cmd_pair(const struct opts *o)
{
    struct pair p;
    struct msg w;
    const char *why;
    bool ok = true;
    long n = o->count > 0 ? o->count : 1;

    memset(&p, 0, sizeof(p));
    p.leg[0] = p.leg[1] = -1;
    bool a_sees_peer = false;
    for (int side = 0; side < 2; side++) {
        if (sess_open(o, side, &p.s[side], &w, &why) != 0 || w.type != MSG_WELCOME)
            die(why);
        if (side == 0)
            a_sees_peer = w.u.welcome.peer_online;
    }
    /* b's arrival tells a the peer is online (unless b was online already,
     * replaced now by our session: newest wins, no PEER flapping). */
    if (!a_sees_peer &&
        (sess_expect(&p.s[0], "a", MSG_PEER, &w, IO_TIMEOUT_MS) != 0 || !w.u.peer_online))
        die("peer online");
    if (strcmp(o->mode, "race") == 0) {
        ok = mode_race(o, &p);
        printf("result=%s\n", ok ? "ok" : "fail");
        return ok ? 0 : 1;
    }
    for (long i = 0; i < n && ok; i++) {
        if (pair_open(&p) != 0)
            die("open");
        if (pair_legs(o, &p, false) != 0)
            die("splice");
        if (strcmp(o->mode, "both") == 0)
            ok = mode_both(o, &p);
        else if (strcmp(o->mode, "halfclose") == 0)
            ok = mode_halfclose(o, &p, n > 1);
        else if (strcmp(o->mode, "reset") == 0)
            ok = mode_reset(o, &p);
        else if (strcmp(o->mode, "slowread") == 0)
            ok = mode_slowread(o, &p);
        else if (strcmp(o->mode, "hold") == 0)
            ok = mode_hold(o, &p);
        else
            die("unknown mode");
        pair_close_legs(&p);
    }
    if (n > 1)
        printf("cycles=%ld\n", n);
    printf("result=%s\n", ok ? "ok" : "fail");
    return ok ? 0 : 1;
}

static int cmd_session(const struct opts *o)
{
    struct sess s;
    struct msg m;
    const char *why;
    uint64_t t0;
    int rc = sess_open(o, o->side, &s, &m, &why);

    if (rc != 0) {
        printf("failed=%s\nresult=fail\n", why);
        return 3;
    }
    print_msg("s", &m);
    if (m.type != MSG_WELCOME) {
        printf("result=fail\n");
        return 4;
    }
    for (int i = 0; i < o->open; i++) {
        struct msg op = {.type = MSG_OPEN};
        op.u.req_id = (uint32_t)i + 1;
        sess_send(&s, &op);
    }
    t0 = now_ms();
    while (now_ms() - t0 < (uint64_t)o->hold_ms) {
        rc = sess_recv(&s, &m, 100);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc != 0) {
            printf("s.end=%s at_ms=%" PRIu64 "\n", rc == -EPIPE ? "eof" : "error", now_ms() - t0);
            break;
        }
        if (m.type == MSG_PING) {
            struct msg pong = {.type = MSG_PONG};
            pong.u.nonce = m.u.nonce;
            sess_send(&s, &pong);
            printf("s.ping\n");
            fflush(stdout);
            continue;
        }
        print_msg("s", &m);
    }
    printf("result=ok\n");
    return 0;
}

static void parse_key(const char *text, uint8_t out[32], bool pub)
{
    size_t pos;

    if ((pub ? key_pub_decode(text, out, &pos) : key_priv_decode(text, out, &pos)) != 0)
        die(pub ? "bad --relay-pub" : "bad private key");
}

/* An enrollment token with a private key gives everything for its side. */
static void parse_token(const char *text, struct opts *o, char *relay, size_t relay_cap)
{
    struct token t;
    size_t pos;

    if (token_decode(text, &t, &pos) != 0 || !(t.flags & TOKEN_FLAG_PRIV))
        die("bad --token (or one without a private key)");
    memcpy(o->link, t.link_id, sizeof(o->link));
    memcpy(o->relay_pub, t.relay_pub, sizeof(o->relay_pub));
    o->key_id = t.relay_key_id;
    memcpy(o->key[t.side], t.priv, 32);
    o->have_key[t.side] = true;
    o->side = t.side;
    if (o->relay == NULL) {
        snprintf(relay, relay_cap, "%s", t.addrs[0]);
        o->relay = relay;
    }
    token_wipe(&t);
}

static uint64_t parse_u64(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0')
        die("bad number");
    return v;
}

int main(int argc, char **argv)
{
    struct opts o;
    const char *cmd = NULL;
    static char token_relay[TOKEN_ADDR_MAX + 1];

    if (sodium_init() < 0)
        return 1;
    memset(&o, 0, sizeof(o));
    o.key_id = 1;
    o.mode = "both";
    o.hold_ms = 2000;
    o.read_rate = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (a[0] != '-') {
            cmd = a;
            continue;
        }
        i++;
        if (strcmp(a, "--relay") == 0)
            o.relay = v;
        else if (strcmp(a, "--relay-pub") == 0)
            parse_key(v, o.relay_pub, true);
        else if (strcmp(a, "--key-id") == 0)
            o.key_id = (int)parse_u64(v);
        else if (strcmp(a, "--link") == 0) {
            size_t pos;
            if (linkid_decode(v, o.link, &pos) != 0)
                die("bad --link");
        } else if (strcmp(a, "--a-key") == 0 || strcmp(a, "--b-key") == 0) {
            int side = a[2] == 'b';
            parse_key(v, o.key[side], false);
            o.have_key[side] = true;
        } else if (strcmp(a, "--token") == 0) {
            parse_token(v, &o, token_relay, sizeof(token_relay));
        } else if (strcmp(a, "--side") == 0)
            o.side = v[0] == 'b';
        else if (strcmp(a, "--hold-ms") == 0)
            o.hold_ms = (long)parse_u64(v);
        else if (strcmp(a, "--open") == 0)
            o.open = (int)parse_u64(v);
        else if (strcmp(a, "--bytes") == 0)
            o.bytes = parse_u64(v);
        else if (strcmp(a, "--bytes-back") == 0)
            o.bytes_back = parse_u64(v);
        else if (strcmp(a, "--mode") == 0)
            o.mode = v;
        else if (strcmp(a, "--count") == 0)
            o.count = (long)parse_u64(v);
        else if (strcmp(a, "--read-rate") == 0)
            o.read_rate = (long)parse_u64(v);
        else if (strcmp(a, "--early") == 0)
            o.early = (size_t)parse_u64(v);
        else if (strcmp(a, "--fast") == 0)
            o.fast = parse_u64(v);
        else
            die("unknown option");
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (cmd != NULL && strcmp(cmd, "keygen") == 0) {
        uint8_t priv[32], pub[32];
        char tp[KEY_TEXT_SIZE], tk[KEY_TEXT_SIZE];
        key_keypair_new(priv, pub);
        key_priv_encode(priv, tk);
        key_pub_encode(pub, tp);
        printf("%s %s\n", tk, tp);
        sodium_memzero(priv, sizeof(priv));
        return 0;
    }
    if (o.relay == NULL)
        die("--relay is required");
    if (cmd != NULL && strcmp(cmd, "session") == 0)
        return cmd_session(&o);
    if (cmd != NULL && strcmp(cmd, "pair") == 0)
        return cmd_pair(&o);
    die("command: keygen, session or pair");
    return 2;
}
