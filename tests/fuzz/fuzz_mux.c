/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for agent/mux.c: a shared leg (docs/protocol.md §7.6)
 * reading arbitrary bytes from its peer, as a relay or anyone on the path
 * could send them, through a real libuv loop over a socketpair.
 *
 * Input layout: byte 0 is a selector (bit 0: this side opens the channels;
 * bits 1-3: how many it opens before the bytes come, 0..7; bit 4: holders
 * read what comes, else they never read, so the window fills; bit 5:
 * holders write back what they read, so CREDITs and DATA go out; bit 6:
 * the peer's end of the stream follows the bytes). The rest is what the
 * peer sends. Checked by abort(): no holder gets more bytes than were sent,
 * a channel's EOF or error comes once and last, the owner is told down at
 * most once, and every handle is closed at the end (uv_loop_close).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "agent/leg.h"
#include "agent/mux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HOLDERS 256

struct holder {
    struct leg *leg;
    size_t got;
    bool ended, closed, open;
    uint8_t buf[512];
};

static struct holder holders[HOLDERS];
static size_t n_holders;
static int downs;
static bool do_read, do_write;
static size_t sent;

static void check(int cond)
{
    if (!cond)
        abort();
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct holder *o = h->data;

    (void)suggested;
    *buf = uv_buf_init((char *)o->buf, sizeof(o->buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct holder *o = s->data;

    check(!o->ended && !o->closed);
    if (nread == UV_ENOBUFS || nread == 0)
        return;
    if (nread < 0) {
        o->ended = true;
        return;
    }
    o->got += (size_t)nread;
    check(o->got <= sent);
    if (do_write)
        (void)o->leg->ops->write(o->leg, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_closed(uv_handle_t *h)
{
    struct holder *o = h->data;

    check(!o->closed);
    o->closed = true;
}

static void adopt(struct leg *l)
{
    struct holder *o;

    if (n_holders == HOLDERS) {
        leg_close(l, true, NULL);
        return;
    }
    o = &holders[n_holders++];
    memset(o, 0, sizeof(*o));
    o->leg = l;
    o->open = true;
    l->tcp.data = o;
    if (do_read)
        check(leg_read(l, on_alloc, on_read) == 0);
}

static void on_channel(void *arg, struct mux *m, struct leg *ch)
{
    uint8_t first[64];

    (void)arg, (void)m;
    (void)mux_take_first(ch, first, sizeof(first));
    adopt(ch);
}

static void on_down(void *arg, struct mux *m, const char *why, bool dead)
{
    (void)arg, (void)m, (void)why;
    check(downs == 0 && !dead);
    downs++;
}

static const struct mux_ops ops = {.channel = on_channel, .down = on_down};

static void turns(uv_loop_t *loop, int n)
{
    for (int i = 0; i < n; i++)
        (void)uv_run(loop, UV_RUN_NOWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mux_stats stats;
    uv_loop_t loop;
    struct leg *leg;
    struct mux *m;
    int sv[2], err = 0;
    uint8_t sel;

    if (size < 1)
        return 0;
    sel = data[0];
    data++;
    size--;
    memset(&stats, 0, sizeof(stats));
    n_holders = 0;
    downs = 0;
    do_read = (sel & 0x10) != 0;
    do_write = (sel & 0x20) != 0;
    sent = size;
    check(uv_loop_init(&loop) == 0);
    check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    check(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
    leg = leg_new(&loop, NULL, &err);
    check(leg != NULL);
    check(uv_tcp_open(&leg->tcp, sv[0]) == 0);
    m = mux_new(leg, (sel & 1) != 0, NULL, 0, &ops, NULL, &stats, &err);
    check(m != NULL);
    mux_start(m);
    if (sel & 1)
        for (int i = 0; i < ((sel >> 1) & 7); i++) {
            struct leg *ch = mux_open(m);

            check(ch != NULL);
            adopt(ch);
            if (do_write)
                check(ch->ops->write(ch, (const uint8_t *)"hi", 2) == 0);
        }
    for (size_t off = 0; off < size;) {
        ssize_t n = write(sv[1], data + off, size - off);

        if (n > 0)
            off += (size_t)n;
        turns(&loop, 2);
        if (n <= 0) {
            uint8_t sink[4096];

            while (read(sv[1], sink, sizeof(sink)) > 0)
                ; /* what the mux wrote back */
        }
    }
    turns(&loop, 4);
    if (sel & 0x40) {
        (void)shutdown(sv[1], SHUT_WR);
        turns(&loop, 4);
    }
    if (downs == 0)
        mux_close(m);
    check(downs == 1);
    turns(&loop, 2);
    for (size_t i = 0; i < n_holders; i++)
        if (!holders[i].closed && !leg_is_closing(holders[i].leg))
            leg_close(holders[i].leg, (i & 1) != 0, on_closed);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    check(uv_loop_close(&loop) == 0);
    close(sv[1]);
    return 0;
}
