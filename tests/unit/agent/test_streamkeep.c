/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/streamkeep.c's bound on idle kept legs (docs/design.md
 * D56): legs over keep_legs stay until they have been idle
 * STREAMKEEP_TRIM_MS (the owner's tick closes them, oldest first), and no
 * more than STREAMKEEP_BURST_FACTOR times the bound are ever kept. Real TCP
 * legs on loopback and a real libuv loop; the tick gets its clock from the
 * test, so the limits are tested to the millisecond.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lrcheck.h"
#include "lrsock.h"
#include "agent/stream.h"
#include "agent/streamkeep.h"

#define LEGS_MAX 20

struct fixture {
    uv_loop_t loop;
    struct stream_env env;
    struct agentcfg_link cfg;
    struct stream_owner own;
    int peer[LEGS_MAX]; /* the other end of leg i, blocking */
    struct streamkeep *k[LEGS_MAX];
    int n;
};

static void setup(struct fixture *f, uint32_t keep_legs)
{
    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    f->env.keep_legs = keep_legs;
    f->env.keep_idle_ms = 3600000; /* keep_idle closes nothing here: only the bound */
    strcpy(f->cfg.name, "t");
    f->own.env = &f->env;
    f->own.cfg = &f->cfg;
}

/* A connected leg; its peer end is f->peer[i]. */
static struct leg *new_leg(struct fixture *f, int i)
{
    struct leg *l;
    int fd, err = 0;

    ck_assert_int_lt(i, LEGS_MAX);
    lrsock_pair(&f->peer[i], &fd);
    l = leg_new(&f->loop, NULL, &err);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(uv_tcp_open(&l->tcp, fd), 0);
    return l;
}

/* Keeps a new leg in role r as the stream of leg id i would: 0 or the error;
 * a refused leg is closed here, as stream.c closes it. */
static int keep(struct fixture *f, enum e2e_role r)
{
    static const uint8_t ticket[MSG_TICKET_LEN];
    int i = f->n++;
    struct leg *l = new_leg(f, i);
    int rc = streamkeep_add(&f->own, l, r, (uint64_t)i, ticket, 0, 0, NULL, 0, NULL, &f->k[i]);

    if (rc != 0) {
        f->k[i] = NULL;
        leg_close(l, false, NULL);
    }
    return rc;
}

/* Whether leg i was closed: its peer end reads the FIN within wait_ms (the
 * loop runs its pending closes first). A leg that was not closed never
 * reads one, so "not closed" is asked with 0 and "closed" with time to
 * spare for the FIN's delivery. */
static bool fin_within(struct fixture *f, int i, int wait_ms)
{
    struct pollfd p = {.fd = f->peer[i], .events = POLLIN};
    char c;

    (void)uv_run(&f->loop, UV_RUN_NOWAIT);
    (void)poll(&p, 1, wait_ms);
    return recv(f->peer[i], &c, 1, MSG_DONTWAIT) == 0;
}

static bool closed(struct fixture *f, int i)
{
    return fin_within(f, i, 5000);
}

static bool open_still(struct fixture *f, int i)
{
    return !fin_within(f, i, 0);
}

static void teardown(struct fixture *f)
{
    streamkeep_clear(&f->own);
    (void)uv_run(&f->loop, UV_RUN_DEFAULT); /* close callbacks free the entries */
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
    for (int i = 0; i < f->n; i++)
        close(f->peer[i]);
}

/* The legs' idle clock: what streamkeep_add recorded (uv_now). */
static uint64_t kept_at(struct fixture *f)
{
    return f->k[0]->idle_since_ms;
}

/* keep_legs 4: up to 8 idle legs are kept, the 9th is not (the hard bound,
 * at its limit); the tick leaves all 8 for 999 ms and closes the 4 oldest
 * at 1,000 ms, the 4 newest stay. */
START_TEST(test_over_bound_until_trim)
{
    struct fixture f;
    uint64_t t0;

    setup(&f, 4);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(keep(&f, E2E_INITIATOR), 0);
    ck_assert_int_eq(keep(&f, E2E_INITIATOR), -ENOSPC);
    ck_assert_uint_eq(f.own.keep.n[E2E_INITIATOR], 8);
    ck_assert(closed(&f, 8)); /* the refused one */
    t0 = kept_at(&f);
    for (int i = 1; i < 8; i++)
        ck_assert_uint_ge(f.k[i]->idle_since_ms, t0);
    streamkeep_tick(&f.own, t0 + STREAMKEEP_TRIM_MS - 1);
    ck_assert_uint_eq(f.own.keep.n[E2E_INITIATOR], 8);
    for (int i = 0; i < 8; i++)
        ck_assert(open_still(&f, i));
    streamkeep_tick(&f.own, f.k[7]->idle_since_ms + STREAMKEEP_TRIM_MS);
    ck_assert_uint_eq(f.own.keep.n[E2E_INITIATOR], 4);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(closed(&f, i), "oldest leg %d not closed", i);
    for (int i = 4; i < 8; i++)
        ck_assert_msg(open_still(&f, i), "newest leg %d closed", i);
    ck_assert_uint_eq(f.own.keep.closed, 4);
    teardown(&f);
}
END_TEST

/* The point of the grace: legs over the bound that streams take again
 * within it are never closed. 8 kept, streams take 6 (the newest first),
 * the tick ten seconds on closes nothing (2 idle: under the bound); the 6
 * streams finish and keep their legs again, and the two legs that stayed
 * idle all along are the oldest, over the bound and closed at the next
 * tick; the newest 4 of the rest a second after their streams ended. */
START_TEST(test_taken_within_grace)
{
    static const uint8_t ticket[MSG_TICKET_LEN];
    struct fixture f;
    struct leg *legs[6];
    uint8_t rest[STREAMKEEP_REST_MAX];
    size_t rest_len = 0;
    uint64_t t0;

    setup(&f, 4);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(keep(&f, E2E_INITIATOR), 0);
    t0 = f.k[7]->idle_since_ms;
    for (int i = 0; i < 6; i++) {
        struct streamkeep *k = streamkeep_take(&f.own, t0);

        ck_assert_ptr_eq(k, f.k[7 - i]); /* most recently kept first */
        legs[i] = streamkeep_move(k, rest, &rest_len);
        legs[i]->tcp.data = NULL; /* its entry is freed; a stream holds it (its
                                   * peer never sends, so nothing reads it) */
    }
    streamkeep_tick(&f.own, t0 + 10 * STREAMKEEP_TRIM_MS);
    ck_assert_uint_eq(f.own.keep.n[E2E_INITIATOR], 2);
    for (int i = 0; i < 8; i++)
        ck_assert(open_still(&f, i));
    for (int i = 5; i >= 0; i--) { /* the streams end, the oldest first */
        struct streamkeep *k = NULL;

        ck_assert_int_eq(
            streamkeep_add(&f.own, legs[i], E2E_INITIATOR, 0, ticket, 0, 0, NULL, 0, NULL, &k), 0);
        k->idle_since_ms = t0 + 20 * STREAMKEEP_TRIM_MS; /* the stream's end, on the test's clock */
    }
    ck_assert_uint_eq(f.own.keep.n[E2E_INITIATOR], 8);
    streamkeep_tick(&f.own, t0 + 21 * STREAMKEEP_TRIM_MS - 1);
    ck_assert_uint_eq(f.own.keep.n[E2E_INITIATOR], 6);
    ck_assert(closed(&f, 0) && closed(&f, 1));
    for (int i = 2; i < 8; i++)
        ck_assert(open_still(&f, i));
    streamkeep_tick(&f.own, t0 + 21 * STREAMKEEP_TRIM_MS);
    ck_assert_uint_eq(f.own.keep.n[E2E_INITIATOR], 4);
    /* the oldest two kept again: the streams that ended first (legs 2, 3) */
    ck_assert(closed(&f, 2) && closed(&f, 3));
    for (int i = 4; i < 8; i++)
        ck_assert(open_still(&f, i));
    teardown(&f);
}
END_TEST

/* With keep_legs and the relay's max_streams_per_link as given, role r keeps
 * twice bound idle legs and refuses the next; a second later the tick
 * leaves bound. */
static void check_bound(uint32_t keep_legs, uint32_t relay_max, enum e2e_role r, uint32_t bound)
{
    struct fixture f;

    setup(&f, keep_legs);
    f.own.keep.relay_max = relay_max;
    for (uint32_t i = 0; i < 2 * bound; i++)
        ck_assert_int_eq(keep(&f, r), 0);
    ck_assert_int_eq(keep(&f, r), -ENOSPC);
    if (bound > 0)
        streamkeep_tick(&f.own, f.k[2 * bound - 1]->idle_since_ms + STREAMKEEP_TRIM_MS);
    ck_assert_uint_eq(f.own.keep.n[r], bound);
    teardown(&f);
}

/* The other bounds scale the same way: a responder keeps twice the
 * initiator's bound, so 16 at keep_legs 4 (the 17th refused), 8 after the
 * tick; the relay's max_streams_per_link 8 makes the bound 2 (a quarter),
 * so 4 at most; keep_legs 0 keeps none. */
START_TEST(test_bounds_scale)
{
    check_bound(4, 0, E2E_RESPONDER, 8);
    check_bound(4, 8, E2E_INITIATOR, 2);
    check_bound(0, 0, E2E_INITIATOR, 0);
}
END_TEST

static Suite *streamkeep_suite(void)
{
    Suite *s = suite_create("streamkeep");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_over_bound_until_trim);
    tcase_add_test(tc, test_taken_within_grace);
    tcase_add_test(tc, test_bounds_scale);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(streamkeep_suite());
}
