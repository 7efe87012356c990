/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/mux.c: shared legs (docs/protocol.md §7.6, design.md
 * D58). Two muxes on a real loopback TCP pair and a real libuv loop, or one
 * mux against a blocking socket that speaks raw frames (a peer that breaks
 * the rules): channels opened and carrying bytes both ways, one write per
 * turn of the loop, END and RST, the window at its bound each way, the
 * channel limit, malformed frames, and the shared leg's end.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lrcheck.h"
#include "lrsock.h"
#include "leg.h"
#include "mux.h"

/* A channel's holder: what its callbacks saw. */
struct chold {
    struct leg *leg;
    uint8_t *got; /* got_cap bytes */
    size_t n, got_cap;
    int eofs, errs, closes, credits, shut;
    int last_err;
    uint8_t buf[4096];
};

static void h_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct chold *o = h->data;

    (void)suggested;
    *buf = uv_buf_init((char *)o->buf, sizeof(o->buf));
}

static void h_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct chold *o = s->data;

    if (nread == UV_EOF) {
        o->eofs++;
    } else if (nread < 0) {
        o->errs++;
        o->last_err = (int)nread;
    } else if (nread > 0) {
        ck_assert_uint_le(o->n + (size_t)nread, o->got_cap);
        memcpy(o->got + o->n, buf->base, (size_t)nread);
        o->n += (size_t)nread;
    }
}

static void h_credit(struct leg *l)
{
    ((struct chold *)l->tcp.data)->credits++;
}

static void h_closed(uv_handle_t *h)
{
    ((struct chold *)h->data)->closes++;
}

static void h_shut(uv_shutdown_t *req, int status)
{
    struct chold *o = req->data;

    ck_assert_int_eq(status, 0);
    o->shut++;
}

static void hold(struct chold *o, struct leg *l, size_t cap)
{
    memset(o, 0, sizeof(*o));
    o->leg = l;
    o->got_cap = cap;
    o->got = malloc(cap);
    ck_assert_ptr_nonnull(o->got);
    l->tcp.data = o;
    l->credit_cb = h_credit;
}

/* What the muxes told their owner. */
static struct leg *opened[MUX_CHANNELS_MAX + 8];
static size_t n_opened;
static int downs, downs_dead;
static char down_why[128];

static void on_channel(void *arg, struct mux *m, struct leg *ch)
{
    (void)arg, (void)m;
    ck_assert_uint_lt(n_opened, sizeof(opened) / sizeof(opened[0]));
    ch->tcp.data = NULL;
    opened[n_opened++] = ch;
}

static void on_down(void *arg, struct mux *m, const char *why, bool dead)
{
    (void)arg, (void)m;
    downs++;
    downs_dead += dead;
    snprintf(down_why, sizeof(down_why), "%s", why);
}

static const struct mux_ops ops = {.channel = on_channel, .down = on_down};

struct fixture {
    uv_loop_t loop;
    struct mux *a, *b; /* a opens the channels; b NULL: raw is its peer */
    struct leg *leg_a; /* a's TCP leg */
    struct mux_stats sa, sb;
    int raw; /* the blocking peer of a raw fixture */
};

static struct mux *mux_on(struct fixture *f, int fd, bool initiator, struct mux_stats *st)
{
    int err = 0;
    struct leg *l = leg_new(&f->loop, NULL, &err);
    struct mux *m;

    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(uv_tcp_open(&l->tcp, fd), 0);
    m = mux_new(l, initiator, NULL, 0, &ops, f, st, &err);
    ck_assert_ptr_nonnull(m);
    if (f->leg_a == NULL)
        f->leg_a = l;
    mux_start(m);
    return m;
}

static void setup(struct fixture *f, bool raw, bool raw_peer_opens)
{
    int x, y;

    memset(f, 0, sizeof(*f));
    n_opened = 0;
    downs = downs_dead = 0;
    down_why[0] = '\0';
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    lrsock_pair(&x, &y);
    if (raw) { /* small buffers toward the raw peer: what it leaves unread
                  queues in libuv soon, whatever the host's TCP settings */
        int small = 32 * 1024;

        ck_assert_int_eq(setsockopt(x, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
        ck_assert_int_eq(setsockopt(y, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        f->raw = y;
        f->a = mux_on(f, x, !raw_peer_opens, &f->sa);
    } else {
        f->raw = -1;
        f->a = mux_on(f, x, true, &f->sa);
        f->b = mux_on(f, y, false, &f->sb);
    }
}

/* Runs the loop until cond holds (bounded: 2,000 turns of at most 5 ms). */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        for (int turns_ = 0; !(cond) && turns_ < 2000; turns_++) {                                 \
            uv_update_time(&(f)->loop);                                                            \
            (void)uv_run(&(f)->loop, UV_RUN_NOWAIT);                                               \
            if (!(cond))                                                                           \
                usleep(5000);                                                                      \
        }                                                                                          \
        ck_assert(cond);                                                                           \
    } while (0)

static void run_turns(struct fixture *f, int n)
{
    for (int i = 0; i < n; i++) {
        uv_update_time(&f->loop);
        (void)uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
}

static void teardown(struct fixture *f)
{
    if (f->a != NULL && downs == 0)
        mux_close(f->a);
    if (f->b != NULL)
        mux_close(f->b);
    (void)uv_run(&f->loop, UV_RUN_DEFAULT); /* close callbacks */
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
    if (f->raw >= 0)
        close(f->raw);
}

/* ---- the raw peer ---- */

static void raw_frame(struct fixture *f, uint8_t type, uint32_t tag, uint32_t len,
                      const void *payload, size_t plen)
{
    uint8_t h[MUX_HDR_LEN] = {
        type,         (uint8_t)(tag >> 24), (uint8_t)(tag >> 16), (uint8_t)(tag >> 8),
        (uint8_t)tag, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
        (uint8_t)len};

    ck_assert_int_eq(write(f->raw, h, sizeof(h)), (ssize_t)sizeof(h));
    if (plen > 0)
        ck_assert_int_eq(write(f->raw, payload, plen), (ssize_t)plen);
}

/* The next frame the raw peer reads (the loop runs meanwhile); false at
 * the end of the stream or a reset. */
static bool raw_next(struct fixture *f, uint8_t *type, uint32_t *tag, uint32_t *len)
{
    uint8_t h[MUX_HDR_LEN];
    size_t got = 0;

    while (got < sizeof(h)) {
        struct pollfd p = {.fd = f->raw, .events = POLLIN};
        ssize_t n;

        uv_update_time(&f->loop);
        (void)uv_run(&f->loop, UV_RUN_NOWAIT);
        if (poll(&p, 1, 5) <= 0)
            continue;
        n = read(f->raw, h + got, sizeof(h) - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    *type = h[0];
    *tag = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
    *len = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
    return true;
}

/* Channels carry bytes both ways; the responder learns of a channel from
 * its first DATA and hands those bytes to its holder. */
START_TEST(test_roundtrip)
{
    struct fixture f;
    struct chold a, b;
    uint8_t first[16];
    struct leg *ch;

    setup(&f, false, false);
    ch = mux_open(f.a);
    ck_assert_ptr_nonnull(ch);
    hold(&a, ch, 64);
    ck_assert_int_eq(leg_read(ch, h_alloc, h_read), 0);
    ck_assert_int_eq(ch->ops->write(ch, (const uint8_t *)"hello", 5), 0);
    ck_assert_uint_eq(leg_queued(ch), 5);
    RUN_UNTIL(&f, n_opened == 1);
    ck_assert_uint_eq(mux_take_first(opened[0], first, 3), 3);
    ck_assert_int_eq(memcmp(first, "hel", 3), 0);
    hold(&b, opened[0], 64);
    ck_assert_int_eq(leg_read(opened[0], h_alloc, h_read), 0);
    RUN_UNTIL(&f, b.n == 2); /* the rest, from the loop */
    ck_assert_int_eq(memcmp(b.got, "lo", 2), 0);
    ck_assert_int_eq(opened[0]->ops->write(opened[0], (const uint8_t *)"world", 5), 0);
    RUN_UNTIL(&f, a.n == 5);
    ck_assert_int_eq(memcmp(a.got, "world", 5), 0);
    ck_assert_uint_eq(mux_channels(f.a), 1);
    ck_assert_uint_eq(mux_channels(f.b), 1);
    /* A clean close is an END: the peer reads its EOF. */
    leg_close(ch, false, h_closed);
    RUN_UNTIL(&f, b.eofs == 1 && a.closes == 1);
    ck_assert_uint_eq(mux_channels(f.a), 0);
    leg_close(opened[0], false, h_closed);
    RUN_UNTIL(&f, b.closes == 1 && mux_channels(f.b) == 0);
    ck_assert_int_eq(downs, 0);
    teardown(&f);
    free(a.got);
    free(b.got);
}
END_TEST

/* What many channels write in one turn of the loop leaves in one write. */
START_TEST(test_one_write_per_turn)
{
    struct fixture f;
    struct chold h[8];
    struct leg *ch[8];
    uint64_t writes;

    setup(&f, false, false);
    for (int i = 0; i < 8; i++) {
        ch[i] = mux_open(f.a);
        ck_assert_ptr_nonnull(ch[i]);
        hold(&h[i], ch[i], 16);
    }
    writes = f.sa.writes;
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(ch[i]->ops->write(ch[i], (const uint8_t *)"x", 1), 0);
    ck_assert_uint_eq(f.sa.writes, writes); /* nothing before the turn ends */
    RUN_UNTIL(&f, n_opened == 8);
    ck_assert_uint_eq(f.sa.writes, writes + 1);
    ck_assert_uint_eq(f.sa.channels, 8);
    ck_assert_uint_eq(f.sb.channels, 8);
    for (int i = 0; i < 8; i++) {
        leg_close(ch[i], false, h_closed);
        leg_close(opened[i], true, NULL);
    }
    teardown(&f);
    for (int i = 0; i < 8; i++)
        free(h[i].got);
}
END_TEST

/* A shutdown is an END after the bytes before it; an RST drops the
 * channel at the peer, which reads ECONNRESET, and writes fail after it. */
START_TEST(test_end_and_rst)
{
    struct fixture f;
    struct chold a, b, c;
    uv_shutdown_t sreq;
    struct leg *ch, *ch2;

    setup(&f, false, false);
    ch = mux_open(f.a);
    hold(&a, ch, 16);
    ck_assert_int_eq(ch->ops->write(ch, (const uint8_t *)"ab", 2), 0);
    sreq.data = &a;
    ck_assert_int_eq(leg_shutdown(ch, &sreq, h_shut), 0);
    ck_assert_int_eq(a.shut, 0); /* from the loop, never within the call */
    ck_assert_int_eq(ch->ops->write(ch, (const uint8_t *)"c", 1), UV_EPIPE);
    RUN_UNTIL(&f, n_opened == 1 && a.shut == 1);
    hold(&b, opened[0], 16);
    ck_assert_int_eq(leg_read(opened[0], h_alloc, h_read), 0);
    RUN_UNTIL(&f, b.eofs == 1);
    ck_assert_uint_eq(b.n, 2);
    ck_assert(!opened[0]->reading);
    /* The other way still works after a half close. */
    ck_assert_int_eq(leg_read(ch, h_alloc, h_read), 0);
    ck_assert_int_eq(opened[0]->ops->write(opened[0], (const uint8_t *)"back", 4), 0);
    RUN_UNTIL(&f, a.n == 4);
    /* An RST. */
    ch2 = mux_open(f.a);
    hold(&c, ch2, 16);
    ck_assert_int_eq(ch2->ops->write(ch2, (const uint8_t *)"z", 1), 0);
    RUN_UNTIL(&f, n_opened == 2);
    leg_close(opened[1], true, NULL);
    ck_assert_int_eq(leg_read(ch2, h_alloc, h_read), 0);
    RUN_UNTIL(&f, c.errs == 1);
    ck_assert_int_eq(c.last_err, UV_ECONNRESET);
    ck_assert_int_eq(ch2->ops->write(ch2, (const uint8_t *)"z", 1), UV_ECONNRESET);
    leg_close(ch2, false, h_closed);
    leg_close(ch, false, h_closed);
    leg_close(opened[0], false, h_closed);
    RUN_UNTIL(&f, c.closes == 1 && a.closes == 1 && b.closes == 1);
    ck_assert_int_eq(downs, 0);
    teardown(&f);
    free(a.got);
    free(b.got);
    free(c.got);
}
END_TEST

/* A holder that does not read stops its channel, not the shared leg: the
 * sender's queue reaches MUX_WINDOW and a write beyond it is refused; once
 * the holder reads, credits bring the queue down and tell the sender. */
START_TEST(test_window)
{
    static uint8_t blob[MUX_WINDOW];
    struct fixture f;
    struct chold a, b, a2, b2;
    struct leg *ch, *ch2;
    size_t sent = 0;

    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)(i * 7);
    setup(&f, false, false);
    ch = mux_open(f.a);
    hold(&a, ch, 16);
    while (sent < MUX_WINDOW) {
        ck_assert_int_eq(ch->ops->write(ch, blob + sent, 65536), 0);
        sent += 65536;
    }
    ck_assert_uint_eq(leg_queued(ch), MUX_WINDOW);
    ck_assert_int_eq(ch->ops->write(ch, blob, 1), UV_ENOBUFS);
    RUN_UNTIL(&f, n_opened == 1);
    hold(&b, opened[0], MUX_WINDOW);
    run_turns(&f, 20); /* b does not read: everything waits in its channel */
    ck_assert_uint_eq(leg_queued(ch), MUX_WINDOW);
    /* Another channel of the same shared leg is not held up. */
    ch2 = mux_open(f.a);
    hold(&a2, ch2, 16);
    ck_assert_int_eq(ch2->ops->write(ch2, (const uint8_t *)"ok", 2), 0);
    RUN_UNTIL(&f, n_opened == 2);
    hold(&b2, opened[1], 16);
    ck_assert_int_eq(leg_read(opened[1], h_alloc, h_read), 0);
    RUN_UNTIL(&f, b2.n == 2);
    /* b reads: all of it, intact, and the credits come back. */
    ck_assert_int_eq(leg_read(opened[0], h_alloc, h_read), 0);
    RUN_UNTIL(&f, b.n == MUX_WINDOW && leg_queued(ch) == 0);
    ck_assert_int_eq(memcmp(b.got, blob, MUX_WINDOW), 0);
    ck_assert_int_ge(a.credits, 1); /* what a turn took, in one CREDIT */
    ck_assert_int_eq(downs, 0);
    leg_close(ch, false, NULL);
    leg_close(ch2, false, NULL);
    leg_close(opened[0], false, NULL);
    leg_close(opened[1], false, NULL);
    teardown(&f);
    free(a.got);
    free(b.got);
    free(a2.got);
    free(b2.got);
}
END_TEST

/* A peer that sends a channel MUX_WINDOW bytes its holder has not read is
 * within the rules; one byte more resets the shared leg. */
START_TEST(test_peer_window_bound)
{
    static uint8_t blob[MUX_DATA_MAX];
    struct fixture f;
    uint8_t type;
    uint32_t tag, len;

    setup(&f, true, true); /* the raw peer opens */
    for (uint32_t i = 0; i < MUX_WINDOW / MUX_DATA_MAX; i++)
        raw_frame(&f, MUX_DATA, 1, MUX_DATA_MAX, blob, sizeof(blob));
    RUN_UNTIL(&f, n_opened == 1);
    run_turns(&f, 20);
    ck_assert_int_eq(downs, 0);
    ck_assert_uint_eq(f.sa.proto_errors, 0);
    raw_frame(&f, MUX_DATA, 1, 1, "x", 1);
    RUN_UNTIL(&f, downs == 1);
    ck_assert_str_eq(down_why, "the peer sent beyond a channel's window");
    ck_assert_uint_eq(f.sa.proto_errors, 1);
    ck_assert(!raw_next(&f, &type, &tag, &len)); /* the shared leg is reset */
    leg_close(opened[0], false, NULL);
    teardown(&f);
}
END_TEST

/* MUX_CHANNELS_MAX channels at once: the opener opens no more, and a
 * responder answers one more with an RST, not a reset of the shared leg. */
START_TEST(test_channel_limit)
{
    struct fixture f;
    struct leg *ch[MUX_CHANNELS_MAX];
    uint8_t type;
    uint32_t tag, len;

    setup(&f, true, false); /* a opens */
    for (size_t i = 0; i < MUX_CHANNELS_MAX; i++) {
        ch[i] = mux_open(f.a);
        ck_assert_ptr_nonnull(ch[i]);
    }
    ck_assert(!mux_can_open(f.a));
    ck_assert_ptr_null(mux_open(f.a));
    leg_close(ch[0], true, NULL);
    ck_assert(mux_can_open(f.a));
    ck_assert_uint_eq(mux_channels(f.a), MUX_CHANNELS_MAX - 1);
    ch[0] = mux_open(f.a); /* room again */
    ck_assert_ptr_nonnull(ch[0]);
    for (size_t i = 0; i < MUX_CHANNELS_MAX; i++)
        leg_close(ch[i], true, NULL);
    teardown(&f);

    setup(&f, true, true);         /* the raw peer opens */
    ck_assert(!mux_can_open(f.a)); /* a responder never opens */
    ck_assert_ptr_null(mux_open(f.a));
    for (uint32_t t = 1; t <= MUX_CHANNELS_MAX + 1; t++)
        raw_frame(&f, MUX_DATA, t, 1, "y", 1);
    RUN_UNTIL(&f, n_opened == MUX_CHANNELS_MAX);
    ck_assert(raw_next(&f, &type, &tag, &len));
    ck_assert_uint_eq(type, MUX_RST);
    ck_assert_uint_eq(tag, MUX_CHANNELS_MAX + 1);
    ck_assert_uint_eq(n_opened, MUX_CHANNELS_MAX);
    ck_assert_int_eq(downs, 0);
    for (size_t i = 0; i < n_opened; i++)
        leg_close(opened[i], true, NULL);
    teardown(&f);
}
END_TEST

/* Frames that break the rules reset the shared leg; a stale tag (a channel
 * closed here) does not. */
static void bad_frame_case(bool raw_opens, uint8_t type, uint32_t tag, uint32_t len,
                           const char *why)
{
    static uint8_t blob[MUX_DATA_MAX + 1];
    struct fixture f;

    setup(&f, true, raw_opens);
    raw_frame(&f, type, tag, len, blob, type == MUX_DATA && len <= MUX_DATA_MAX ? len : 0);
    RUN_UNTIL(&f, downs == 1);
    ck_assert_str_eq(down_why, why);
    ck_assert_uint_eq(f.sa.proto_errors, 1);
    for (size_t i = 0; i < n_opened; i++)
        leg_close(opened[i], true, NULL);
    teardown(&f);
}

START_TEST(test_bad_frames)
{
    bad_frame_case(true, 9, 1, 0, "a frame of an unknown type");
    bad_frame_case(true, MUX_DATA, 1, 0, "a DATA frame of a wrong length");
    bad_frame_case(true, MUX_DATA, 1, MUX_DATA_MAX + 1, "a DATA frame of a wrong length");
    bad_frame_case(false, MUX_DATA, 1, 1, "the peer sent on a channel never opened");
    bad_frame_case(true, MUX_END, 1, 1, "a malformed frame");
    bad_frame_case(true, MUX_CREDIT, 1, 0, "a credit for bytes never sent");
}
END_TEST

START_TEST(test_stale_and_late)
{
    struct fixture f;
    struct chold b;

    setup(&f, true, true);
    raw_frame(&f, MUX_DATA, 5, 1, "a", 1);
    RUN_UNTIL(&f, n_opened == 1);
    leg_close(opened[0], true, NULL);
    run_turns(&f, 2);
    raw_frame(&f, MUX_DATA, 5, 1, "b", 1);    /* closed here: dropped */
    raw_frame(&f, MUX_DATA, 3, 1, "c", 1);    /* below the last tag: dropped */
    raw_frame(&f, MUX_CREDIT, 5, 9, NULL, 0); /* a channel gone: ignored */
    raw_frame(&f, MUX_DATA, 6, 1, "d", 1);
    RUN_UNTIL(&f, n_opened == 2);
    ck_assert_int_eq(downs, 0);
    /* DATA after the END of a channel is a protocol error. */
    hold(&b, opened[1], 16);
    raw_frame(&f, MUX_END, 6, 0, NULL, 0);
    raw_frame(&f, MUX_DATA, 6, 1, "e", 1);
    RUN_UNTIL(&f, downs == 1);
    ck_assert_str_eq(down_why, "the peer sent on a channel after its end");
    leg_close(opened[1], true, NULL);
    teardown(&f);
    free(b.got);
}
END_TEST

/* The shared leg ends: each channel reads what came before it, then
 * ECONNRESET; writes fail; the owner is told once. */
START_TEST(test_shared_leg_ends)
{
    struct fixture f;
    struct chold b;
    uint8_t first;

    setup(&f, true, true);
    raw_frame(&f, MUX_DATA, 1, 3, "abc", 3);
    RUN_UNTIL(&f, n_opened == 1);
    ck_assert_uint_eq(mux_take_first(opened[0], &first, 1), 1);
    hold(&b, opened[0], 16);
    ck_assert_int_eq(shutdown(f.raw, SHUT_WR), 0);
    RUN_UNTIL(&f, downs == 1);
    ck_assert_str_eq(down_why, "the shared leg ended");
    ck_assert_ptr_null(leg_carrier(opened[0]));
    ck_assert_int_eq(opened[0]->ops->write(opened[0], (const uint8_t *)"x", 1), UV_ECONNRESET);
    ck_assert_int_eq(leg_read(opened[0], h_alloc, h_read), 0);
    RUN_UNTIL(&f, b.errs == 1);
    ck_assert_uint_eq(b.n, 2); /* "bc": the first byte was the owner's to take */
    ck_assert_int_eq(b.last_err, UV_ECONNRESET);
    leg_close(opened[0], false, h_closed);
    RUN_UNTIL(&f, b.closes == 1);
    teardown(&f);
    free(b.got);
}
END_TEST

/* A holder that finds the carrier dead fails the whole shared leg: its
 * other channels read ECONNRESET, and the peer's shared leg ends too. A
 * holder with no answer in time fails it only if nothing came on the
 * shared leg since its channel opened (a busy leg is slow, not dead). */
START_TEST(test_chan_fail)
{
    struct fixture f;
    struct chold a1, a2, b2;
    struct leg *c1, *c2, *c3;

    setup(&f, false, false);
    c1 = mux_open(f.a);
    c2 = mux_open(f.a);
    hold(&a1, c1, 16);
    hold(&a2, c2, 16);
    ck_assert_int_eq(leg_read(c2, h_alloc, h_read), 0);
    ck_assert_int_eq(c2->ops->write(c2, (const uint8_t *)"hi", 2), 0);
    RUN_UNTIL(&f, n_opened == 1);
    hold(&b2, opened[0], 16);
    ck_assert_int_eq(opened[0]->ops->write(opened[0], (const uint8_t *)"yo", 2), 0);
    RUN_UNTIL(&f, a2.n == 2);
    mux_chan_fail(c1, true, "no answer"); /* the leg brought bytes since c1 opened */
    ck_assert_int_eq(downs, 0);
    c3 = mux_open(f.a); /* nothing read since it opened */
    ck_assert_ptr_nonnull(leg_carrier(c3));
    mux_chan_fail(c3, true, "no answer on a channel in time");
    ck_assert_int_eq(downs, 1);
    ck_assert_str_eq(down_why, "no answer on a channel in time");
    ck_assert_ptr_null(leg_carrier(c1));
    mux_chan_fail(c1, false, "again"); /* detached: nothing */
    ck_assert_int_eq(downs, 1);
    RUN_UNTIL(&f, a2.errs == 1 && downs == 2);
    ck_assert_int_eq(a2.last_err, UV_ECONNRESET);
    ck_assert_int_eq(downs_dead, 1); /* only the side that found it dead says so */
    leg_close(c1, true, NULL);
    leg_close(c2, true, NULL);
    leg_close(c3, true, NULL);
    leg_close(opened[0], true, NULL);
    f.a = NULL;
    f.b = NULL; /* both went */
    teardown(&f);
    free(a1.got);
    free(a2.got);
    free(b2.got);
}
END_TEST

/* The peer resets a channel before it sent on it (at its channel limit, or
 * refusing channels since a reload): the opener opens no more there. */
START_TEST(test_refused)
{
    struct fixture f;
    struct chold a1;
    struct leg *c1;
    uint8_t type;
    uint32_t tag, len;

    setup(&f, true, false); /* a opens, the raw peer answers */
    c1 = mux_open(f.a);
    hold(&a1, c1, 16);
    ck_assert_int_eq(leg_read(c1, h_alloc, h_read), 0);
    ck_assert_int_eq(c1->ops->write(c1, (const uint8_t *)"I", 1), 0);
    ck_assert(raw_next(&f, &type, &tag, &len));
    ck_assert_uint_eq(type, MUX_DATA);
    raw_frame(&f, MUX_RST, tag, 0, NULL, 0);
    RUN_UNTIL(&f, a1.errs == 1);
    ck_assert(!mux_can_open(f.a)); /* so the opener picks another shared leg */
    ck_assert_ptr_null(mux_open(f.a));
    ck_assert_int_eq(downs, 0); /* not an error: the leg carries on */
    leg_close(c1, true, NULL);
    teardown(&f);
    free(a1.got);
}
END_TEST

/* Holders that act inside their read callback, as a pump does: one closes
 * its channel at the first byte (the rest of that DATA is dropped, nothing
 * more is read), one has no room (UV_ENOBUFS: it stops, the bytes wait and
 * come when it reads again), and a channel closed with its shutdown
 * pending gets the shutdown's UV_ECANCELED before its close callback. */
static struct chold *closer;
static int order[4], n_order;

static void h_read_close(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct chold *o = s->data;

    h_read(s, nread, buf);
    if (nread > 0 && o == closer)
        leg_close(o->leg, false, h_closed);
}

static bool nobufs_once;

static void h_alloc_nobufs(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    if (nobufs_once) {
        nobufs_once = false;
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    h_alloc(h, suggested, buf);
}

static void h_read_stop(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct chold *o = s->data;

    if (nread == UV_ENOBUFS) {
        o->errs++;
        leg_read_stop(o->leg); /* as the pump does */
        return;
    }
    h_read(s, nread, buf);
}

static void h_shut_order(uv_shutdown_t *req, int status)
{
    (void)req;
    order[n_order++] = status;
}

static void h_closed_order(uv_handle_t *h)
{
    (void)h;
    order[n_order++] = 1;
}

START_TEST(test_holder_acts_inside)
{
    struct fixture f;
    struct chold a, b, c;
    uv_shutdown_t sreq;
    struct leg *ch;

    setup(&f, true, true); /* the raw peer opens */
    raw_frame(&f, MUX_DATA, 1, 1, "a", 1);
    RUN_UNTIL(&f, n_opened == 1);
    hold(&a, opened[0], 16);
    closer = &a;
    ck_assert_int_eq(leg_read(opened[0], h_alloc, h_read_close), 0);
    RUN_UNTIL(&f, a.closes == 1); /* the first byte was kept: it comes from the loop */
    ck_assert_uint_eq(a.n, 1);
    raw_frame(&f, MUX_DATA, 1, 3, "bcd", 3); /* closed here: dropped */
    run_turns(&f, 5);
    ck_assert_uint_eq(a.n, 1);

    raw_frame(&f, MUX_DATA, 2, 2, "xy", 2);
    RUN_UNTIL(&f, n_opened == 2);
    hold(&b, opened[1], 16);
    nobufs_once = true;
    ck_assert_int_eq(leg_read(opened[1], h_alloc_nobufs, h_read_stop), 0);
    RUN_UNTIL(&f, b.errs == 1);
    ck_assert(!opened[1]->reading);
    raw_frame(&f, MUX_DATA, 2, 1, "z", 1);
    run_turns(&f, 5);
    ck_assert_uint_eq(b.n, 0); /* it does not read: all kept */
    ck_assert_int_eq(leg_read(opened[1], h_alloc, h_read_stop), 0);
    RUN_UNTIL(&f, b.n == 3);
    ck_assert_int_eq(memcmp(b.got, "xyz", 3), 0);

    raw_frame(&f, MUX_DATA, 3, 1, "s", 1);
    RUN_UNTIL(&f, n_opened == 3);
    ch = opened[2];
    hold(&c, ch, 16);
    n_order = 0;
    ck_assert_int_eq(leg_shutdown(ch, &sreq, h_shut_order), 0);
    leg_close(ch, false, h_closed_order); /* before the loop ran the shutdown's */
    RUN_UNTIL(&f, n_order == 2);
    ck_assert_int_eq(order[0], UV_ECANCELED);
    ck_assert_int_eq(order[1], 1);
    ck_assert_int_eq(downs, 0);
    leg_close(opened[1], false, NULL);
    teardown(&f);
    free(a.got);
    free(b.got);
    free(c.got);
}
END_TEST

/* mux_close sends what is still queued for the kernel before its FIN (a
 * peer that reads late gets every byte, then the end), and resets the
 * shared leg when that takes longer than its deadline (MUX_DRAIN_MS; here
 * a minute where the peer reads, so that no machine is too slow for it,
 * and 100 ms where it reads nothing until after). */
static size_t raw_drain(struct fixture *f, bool *reset)
{
    static uint8_t sink[1 << 16];
    size_t total = 0;

    *reset = false;
    for (int i = 0; i < 4000; i++) {
        struct pollfd p = {.fd = f->raw, .events = POLLIN};
        ssize_t n;

        uv_update_time(&f->loop);
        (void)uv_run(&f->loop, UV_RUN_NOWAIT);
        if (poll(&p, 1, 5) <= 0)
            continue;
        n = read(f->raw, sink, sizeof(sink));
        if (n == 0)
            return total;
        if (n < 0) {
            *reset = errno == ECONNRESET;
            return total;
        }
        total += (size_t)n;
    }
    return total;
}

/* Channels of full windows until the kernel takes no more and frames wait
 * in libuv's queue (at most MUX_CHANNELS_MAX: 32 MiB); *n: how many. */
static size_t fill(struct fixture *f, struct leg **ch, size_t *n)
{
    static uint8_t blob[MUX_DATA_MAX];
    size_t sent = 0, i;

    for (i = 0; i < MUX_CHANNELS_MAX && leg_queued(f->leg_a) == 0; i++) {
        ch[i] = mux_open(f->a);
        ck_assert_ptr_nonnull(ch[i]);
        for (int k = 0; k < (int)(MUX_WINDOW / MUX_DATA_MAX); k++) {
            ck_assert_int_eq(ch[i]->ops->write(ch[i], blob, sizeof(blob)), 0);
            sent += MUX_HDR_LEN + sizeof(blob);
        }
        run_turns(f, 1);
    }
    ck_assert_uint_gt(leg_queued(f->leg_a), 0);
    *n = i;
    return sent;
}

START_TEST(test_close_drains)
{
    struct fixture f;
    struct leg *ch[MUX_CHANNELS_MAX];
    size_t sent, got, n;
    bool reset;
    uint64_t t0;

    setup(&f, true, false); /* a opens; the raw peer does not read yet */
    sent = fill(&f, ch, &n);
    for (size_t i = 0; i < n; i++)
        leg_close(ch[i], false, NULL); /* an END each, behind their DATA */
    mux_set_drain_ms(f.a, 60000);
    mux_close(f.a);
    ck_assert_int_eq(downs, 1);
    got = raw_drain(&f, &reset);
    ck_assert(!reset);
    ck_assert_uint_eq(got, sent + n * MUX_HDR_LEN);
    teardown(&f);

    setup(&f, true, false);
    (void)fill(&f, ch, &n);
    mux_set_drain_ms(f.a, 100);
    mux_close(f.a);
    t0 = uv_now(&f.loop);
    while (uv_now(&f.loop) < t0 + 300)
        run_turns(&f, 10); /* the peer reads nothing until after the deadline */
    (void)raw_drain(&f, &reset);
    ck_assert(reset);
    for (size_t i = 0; i < n; i++)
        leg_close(ch[i], false, NULL);
    teardown(&f);
}
END_TEST

static Suite *mux_suite(void)
{
    Suite *s = suite_create("mux");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_one_write_per_turn);
    tcase_add_test(tc, test_end_and_rst);
    tcase_add_test(tc, test_window);
    tcase_add_test(tc, test_peer_window_bound);
    tcase_add_test(tc, test_channel_limit);
    tcase_add_test(tc, test_bad_frames);
    tcase_add_test(tc, test_stale_and_late);
    tcase_add_test(tc, test_shared_leg_ends);
    tcase_add_test(tc, test_chan_fail);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_holder_acts_inside);
    tcase_add_test(tc, test_close_drains);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(mux_suite());
}
