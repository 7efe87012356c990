/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/cork (docs/design.md D49): a connection's frames of
 * one loop turn go out in one write at its end, in order; flush_one, drop,
 * a full buffer, frames queued while writing, frames queued by a timer
 * written before the loop waits, and no handle left open. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cork.h"
#include "lrcheck.h"

enum { NQ = 3, OUT_CAP = 65536, MAX_CALLS = 64 };

struct rig {
    uv_loop_t loop;
    struct cork k;
    struct cork_q q[NQ];
    /* What the write callback got: per call, the queue and the buffers. */
    int calls, call_q[MAX_CALLS];
    unsigned call_n[MAX_CALLS];
    uint8_t out[NQ][OUT_CAP];
    size_t out_len[NQ];
    uint64_t first_write_ns;
    /* The callback queues these for another queue once (reentrancy). */
    int requeue_to;
    const char *requeue;
};

static void rig_write(void *arg, struct cork_q *q, const uv_buf_t *bufs, unsigned n)
{
    struct rig *r = arg;
    int i = (int)(q - r->q);

    ck_assert_int_ge(i, 0);
    ck_assert_int_lt(i, NQ);
    ck_assert_int_lt(r->calls, MAX_CALLS);
    ck_assert_uint_le(n, CORK_IOV);
    if (r->calls == 0)
        r->first_write_ns = uv_hrtime();
    r->call_q[r->calls] = i;
    r->call_n[r->calls++] = n;
    for (unsigned b = 0; b < n; b++) {
        ck_assert_uint_le(r->out_len[i] + bufs[b].len, OUT_CAP);
        memcpy(r->out[i] + r->out_len[i], bufs[b].base, bufs[b].len);
        r->out_len[i] += bufs[b].len;
    }
    if (r->requeue != NULL) {
        const char *t = r->requeue;
        r->requeue = NULL;
        cork_add(&r->k, &r->q[r->requeue_to], t, strlen(t));
    }
}

static void rig_init(struct rig *r)
{
    memset(r, 0, sizeof(*r));
    ck_assert_int_eq(uv_loop_init(&r->loop), 0);
    ck_assert_int_eq(cork_init(&r->k, &r->loop, rig_write, r), 0);
}

static void add(struct rig *r, int q, const char *s)
{
    cork_add(&r->k, &r->q[q], s, strlen(s));
}

static void out_is(const struct rig *r, int q, const char *s)
{
    ck_assert_uint_eq(r->out_len[q], strlen(s));
    ck_assert(memcmp(r->out[q], s, strlen(s)) == 0);
}

/* Closing the cork leaves no handle: the loop closes (libuv's test habit). */
static void rig_done(struct rig *r)
{
    cork_close(&r->k);
    ck_assert_int_eq(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&r->loop), 0);
}

/* Frames of two connections, interleaved: nothing is written until the
 * turn ends, then one write per connection with its frames in order; the
 * handles stop (the loop has nothing left to run). */
START_TEST(test_one_write_per_connection_per_turn)
{
    struct rig r;

    rig_init(&r);
    add(&r, 0, "a1,");
    add(&r, 1, "b1,");
    add(&r, 0, "a2,");
    add(&r, 0, "a3");
    add(&r, 1, "b2");
    ck_assert_int_eq(r.calls, 0);
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_NOWAIT), 0);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(r.call_q[0], 0);
    ck_assert_uint_eq(r.call_n[0], 3);
    ck_assert_int_eq(r.call_q[1], 1);
    ck_assert_uint_eq(r.call_n[1], 2);
    out_is(&r, 0, "a1,a2,a3");
    out_is(&r, 1, "b1,b2");
    ck_assert_uint_eq(r.k.frames, 5);
    ck_assert_uint_eq(r.k.writes, 2);
    ck_assert(!uv_loop_alive(&r.loop));
    /* The next turn starts empty. */
    add(&r, 2, "c1");
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_NOWAIT), 0);
    ck_assert_int_eq(r.calls, 3);
    out_is(&r, 2, "c1");
    rig_done(&r);
}
END_TEST

/* flush_one writes one connection's frames at once (before a shutdown or a
 * direct write); drop forgets them (a close): the turn's end writes only
 * the others. */
START_TEST(test_flush_one_and_drop)
{
    struct rig r;

    rig_init(&r);
    add(&r, 0, "a1");
    add(&r, 1, "b1");
    add(&r, 2, "c1");
    add(&r, 0, "a2");
    cork_flush_one(&r.k, &r.q[0]);
    ck_assert_int_eq(r.calls, 1);
    out_is(&r, 0, "a1a2");
    cork_flush_one(&r.k, &r.q[0]); /* nothing queued: nothing written */
    ck_assert_int_eq(r.calls, 1);
    cork_drop(&r.k, &r.q[1]);
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_NOWAIT), 0);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(r.call_q[1], 2);
    ck_assert_uint_eq(r.out_len[1], 0);
    out_is(&r, 2, "c1");
    rig_done(&r);
}
END_TEST

/* More frames than CORK_IOV for one connection: several calls, in order.
 * Past CORK_BYTES a frame goes out at once, after the connection's queued
 * ones; order is kept throughout. */
START_TEST(test_full_keeps_order)
{
    static char big[CORK_BYTES / 4];
    struct rig r;
    char expect[CORK_BYTES * 2 + 256];
    size_t at = 0;

    rig_init(&r);
    for (unsigned i = 0; i < CORK_IOV + 3; i++)
        add(&r, 0, i % 2 ? "y" : "x");
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_NOWAIT), 0);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_uint_eq(r.call_n[0], CORK_IOV);
    ck_assert_uint_eq(r.call_n[1], 3);
    ck_assert_uint_eq(r.out_len[0], CORK_IOV + 3);
    for (unsigned i = 0; i < CORK_IOV + 3; i++)
        ck_assert_int_eq(r.out[0][i], i % 2 ? 'y' : 'x');

    memset(big, 'B', sizeof(big) - 1);
    r.calls = 0;
    add(&r, 1, "first");
    memcpy(expect, "first", 5);
    at = 5;
    for (int i = 0; i < 6; i++) { /* 6 quarters: the fifth does not fit */
        big[0] = (char)('0' + i);
        add(&r, 1, big);
        memcpy(expect + at, big, sizeof(big) - 1);
        at += sizeof(big) - 1;
    }
    ck_assert_int_ge(r.calls, 1); /* some went out before the turn ended */
    add(&r, 1, "last");
    memcpy(expect + at, "last", 4);
    at += 4;
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_NOWAIT), 0);
    ck_assert_uint_eq(r.out_len[1], at);
    ck_assert(memcmp(r.out[1], expect, at) == 0);
    rig_done(&r);
}
END_TEST

/* A write callback that queues a frame (a session closing tells its peer)
 * gets it written in the same flush, after the connection's earlier ones. */
START_TEST(test_queued_while_writing)
{
    struct rig r;

    rig_init(&r);
    add(&r, 0, "a1");
    add(&r, 1, "b1");
    r.requeue_to = 1;
    r.requeue = "b2";
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_NOWAIT), 0);
    out_is(&r, 0, "a1");
    out_is(&r, 1, "b1b2");
    ck_assert_int_eq(r.calls, 2); /* b2 joined b1's chain before it was written */
    r.requeue_to = 0;
    r.requeue = "a2";
    add(&r, 0, "a3");
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_NOWAIT), 0);
    out_is(&r, 0, "a1a3a2");
    ck_assert(!uv_loop_alive(&r.loop));
    rig_done(&r);
}
END_TEST

struct timed {
    struct rig *r;
    uint64_t added_ns;
};

static void add_from_timer(uv_timer_t *t)
{
    struct timed *td = t->data;

    td->added_ns = uv_hrtime();
    add(td->r, 0, "ping");
}

static void stop_timer(uv_timer_t *t)
{
    uv_timer_stop(t);
}

/* Frames queued by a timer go out before the loop waits for I/O again (the
 * prepare handle), not when the next I/O or timer wakes it (300 ms here). */
START_TEST(test_timer_frames_before_wait)
{
    struct rig r;
    struct timed td;
    uv_timer_t now, later;

    rig_init(&r);
    td.r = &r;
    uv_timer_init(&r.loop, &now);
    uv_timer_init(&r.loop, &later);
    now.data = &td;
    uv_timer_start(&now, add_from_timer, 0, 0);
    uv_timer_start(&later, stop_timer, 300, 0);
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(r.calls, 1);
    out_is(&r, 0, "ping");
    ck_assert_uint_lt(r.first_write_ns - td.added_ns, 100 * 1000 * 1000ull);
    uv_close((uv_handle_t *)&now, NULL);
    uv_close((uv_handle_t *)&later, NULL);
    rig_done(&r);
}
END_TEST

/* Closed (the relay stops): what was queued is written, later frames go out
 * at once, and the loop closes. */
START_TEST(test_close_writes_and_uncorks)
{
    struct rig r;

    rig_init(&r);
    add(&r, 0, "a1");
    cork_close(&r.k);
    out_is(&r, 0, "a1");
    add(&r, 0, "a2");
    out_is(&r, 0, "a1a2");
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(uv_run(&r.loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&r.loop), 0);
    cork_close(&r.k); /* twice is fine */
}
END_TEST

static Suite *cork_suite(void)
{
    Suite *s = suite_create("cork");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_one_write_per_connection_per_turn);
    tcase_add_test(tc, test_flush_one_and_drop);
    tcase_add_test(tc, test_full_keeps_order);
    tcase_add_test(tc, test_queued_while_writing);
    tcase_add_test(tc, test_timer_frames_before_wait);
    tcase_add_test(tc, test_close_writes_and_uncorks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(cork_suite());
}
