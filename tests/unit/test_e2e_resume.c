/* SPDX-License-Identifier: MIT */
/*
 * Tests for stream resumption in common/e2e.c, resume.c, replay.c
 * (docs/protocol.md §7.3): two sessions back to back in memory whose "leg" is
 * cut (in-flight bytes lost at any point), then re-made with the resume id,
 * the resume HELLO and a fresh epoch. Every byte must arrive exactly once,
 * in order; stale, tampered and foreign credentials and old-epoch records
 * must be refused.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "lrcheck.h"
#include "replay.h"
#include "resume.h"

#define CAP (256u * 1024u)

struct side {
    struct e2e *s;
    const uint8_t *data; /* what this side sends */
    size_t len, off;
    uint8_t *got; /* what it delivered */
    size_t got_len, got_cap, deliver_limit;
    int ev[8];
    int last_err;
};

struct pair {
    struct side a, b; /* a: initiator, b: responder */
    uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], link[16];
};

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(p);
    randombytes_buf(p, n);
    return p;
}

static void side_init(struct side *sd, const uint8_t *data, size_t len, size_t got_cap)
{
    memset(sd, 0, sizeof(*sd));
    sd->s = calloc(1, sizeof(struct e2e));
    ck_assert_ptr_nonnull(sd->s);
    sd->data = data;
    sd->len = len;
    sd->got = malloc(got_cap + 1);
    sd->got_cap = got_cap;
    sd->deliver_limit = SIZE_MAX;
}

static void pair_keys(struct pair *p)
{
    crypto_box_keypair(p->a_pub, p->a_priv);
    crypto_box_keypair(p->b_pub, p->b_priv);
    randombytes_buf(p->link, sizeof(p->link));
}

static void pair_start(struct pair *p, uint64_t stream, uint64_t cap_a, uint64_t cap_b)
{
    ck_assert_int_eq(
        e2e_init_resumable(p->a.s, E2E_INITIATOR, p->a_priv, p->b_pub, p->link, stream, cap_a), 0);
    ck_assert_int_eq(
        e2e_init_resumable(p->b.s, E2E_RESPONDER, p->b_priv, p->a_pub, p->link, stream, cap_b), 0);
}

static void pair_init(struct pair *p, const uint8_t *da, size_t na, const uint8_t *db, size_t nb)
{
    pair_keys(p);
    side_init(&p->a, da, na, nb);
    side_init(&p->b, db, nb, na);
    pair_start(p, 7, CAP, CAP);
}

static void side_free(struct side *sd)
{
    e2e_done(sd->s);
    free(sd->s);
    free(sd->got);
}

static void pair_free(struct pair *p)
{
    side_free(&p->a);
    side_free(&p->b);
}

static void drain_events(struct side *sd)
{
    struct e2e_event ev;

    while (e2e_next_event(sd->s, &ev) == 1) {
        ck_assert_int_gt(ev.type, E2E_EV_NONE);
        ck_assert_int_le(ev.type, E2E_EV_LEG_FAILED);
        sd->ev[ev.type]++;
        if (ev.type == E2E_EV_ERROR)
            sd->last_err = ev.err;
    }
}

static size_t deliver(struct side *sd)
{
    size_t n;
    const uint8_t *q = e2e_plain_peek(sd->s, &n);

    if (n > sd->deliver_limit - sd->got_len)
        n = sd->deliver_limit - sd->got_len;
    if (n == 0)
        return 0;
    ck_assert_uint_le(sd->got_len + n, sd->got_cap);
    memcpy(sd->got + sd->got_len, q, n);
    sd->got_len += n;
    ck_assert_int_eq(e2e_plain_consume(sd->s, n), 0);
    return n;
}

static size_t wire(struct side *from, struct side *to, size_t max)
{
    size_t n, took = 0;
    const uint8_t *q = e2e_out_peek(from->s, &n);

    if (n > max)
        n = max;
    if (n == 0 || e2e_suspended(to->s))
        return 0;
    if (e2e_feed(to->s, q, n, &took) != 0)
        return 0;
    ck_assert_int_eq(e2e_out_consume(from->s, took), 0);
    return took;
}

static size_t send_some(struct side *sd)
{
    size_t acc = 0;

    if (sd->off == sd->len || e2e_send_space(sd->s) == 0)
        return 0;
    ck_assert_int_eq(e2e_send(sd->s, sd->data + sd->off, sd->len - sd->off, &acc), 0);
    sd->off += acc;
    return acc;
}

/* Runs until nothing moves or `budget` bytes crossed the wire. */
static size_t pump(struct pair *p, size_t chunk, size_t budget)
{
    size_t moved, total = 0;

    do {
        moved = send_some(&p->a) + send_some(&p->b);
        moved += wire(&p->a, &p->b, chunk) + wire(&p->b, &p->a, chunk);
        moved += deliver(&p->a) + deliver(&p->b);
        drain_events(&p->a);
        drain_events(&p->b);
        total += moved;
    } while (moved > 0 && total < budget);
    return total;
}

/* The leg dies: `keep` more bytes of each output get through, the rest is lost. */
static void cut(struct pair *p, size_t keep)
{
    size_t n;

    (void)wire(&p->a, &p->b, keep);
    (void)wire(&p->b, &p->a, keep);
    (void)e2e_out_peek(p->a.s, &n);
    ck_assert_int_eq(e2e_leg_lost(p->a.s), 1);
    ck_assert_int_eq(e2e_leg_lost(p->b.s), 1);
    ck_assert(e2e_suspended(p->a.s));
    ck_assert(e2e_suspended(p->b.s));
    ck_assert_uint_eq(e2e_in_space(p->a.s), 0);
    (void)e2e_out_peek(p->a.s, &n);
    ck_assert_uint_eq(n, 0);
}

/* The relay pairs a new leg: a's id, b matches it, both start the epoch. */
static uint32_t resume(struct pair *p)
{
    uint8_t id[RESUME_ID_LEN];
    uint32_t ea = 0, eb = 0;

    ck_assert_int_eq(e2e_resume_next(p->a.s, id, &ea), 0);
    ck_assert_int_eq(e2e_resume_match(p->b.s, id, &eb), 0);
    ck_assert_uint_eq(ea, eb);
    ck_assert_int_eq(e2e_resume_start(p->a.s, ea), 0);
    ck_assert_int_eq(e2e_resume_start(p->b.s, eb), 0);
    return ea;
}

/* Both outputs cross the leg at once (as on a real connection). */
static void cross(struct side *x, struct side *y)
{
    uint8_t bx[256], by[256];
    size_t nx, ny, took;
    const uint8_t *o;

    o = e2e_out_peek(x->s, &nx);
    ck_assert_uint_le(nx, sizeof(bx));
    memcpy(bx, o, nx);
    ck_assert_int_eq(e2e_out_consume(x->s, nx), 0);
    o = e2e_out_peek(y->s, &ny);
    ck_assert_uint_le(ny, sizeof(by));
    memcpy(by, o, ny);
    ck_assert_int_eq(e2e_out_consume(y->s, ny), 0);
    ck_assert_int_eq(e2e_feed(y->s, bx, nx, &took), 0);
    ck_assert_int_eq(e2e_feed(x->s, by, ny, &took), 0);
    drain_events(x);
    drain_events(y);
}

static void finish(struct pair *p)
{
    ck_assert_int_eq(e2e_shutdown(p->a.s), 0);
    ck_assert_int_eq(e2e_shutdown(p->b.s), 0);
    pump(p, 100000, SIZE_MAX);
}

static void check_intact(struct pair *p)
{
    ck_assert_uint_eq(p->b.got_len, p->a.len);
    ck_assert_uint_eq(p->a.got_len, p->b.len);
    ck_assert(memcmp(p->b.got, p->a.data, p->a.len) == 0);
    ck_assert(memcmp(p->a.got, p->b.data, p->b.len) == 0);
    ck_assert_int_eq(p->a.ev[E2E_EV_ERROR] + p->b.ev[E2E_EV_ERROR], 0);
}

START_TEST(test_negotiation)
{
    struct pair p;
    uint8_t id[RESUME_ID_LEN];
    uint32_t e;
    uint8_t *d = random_bytes(1000);

    /* Both offer: resumable. */
    pair_init(&p, d, 1000, d, 1000);
    pump(&p, 50, SIZE_MAX);
    ck_assert(e2e_resumable(p.a.s));
    ck_assert(e2e_resumable(p.b.s));
    pair_free(&p);
    /* One side does not offer (resume_timeout = 0, or an older agent). */
    for (int off = 0; off < 2; off++) {
        pair_keys(&p);
        side_init(&p.a, d, 1000, 1000);
        side_init(&p.b, d, 1000, 1000);
        pair_start(&p, 9, off == 0 ? 0 : CAP, off == 1 ? 0 : CAP);
        pump(&p, 50, SIZE_MAX);
        ck_assert(!e2e_resumable(p.a.s));
        ck_assert(!e2e_resumable(p.b.s));
        ck_assert_int_eq(e2e_resume_next(p.a.s, id, &e), E2E_E_RESUME);
        ck_assert_uint_eq(p.b.got_len, 1000);
        /* The leg's end is what it was: truncation, not suspension. */
        ck_assert_int_eq(e2e_leg_lost(p.a.s), 0);
        drain_events(&p.a);
        ck_assert_int_eq(p.a.ev[E2E_EV_ERROR], 1);
        ck_assert_int_eq(p.a.last_err, E2E_E_TRUNCATED);
        ck_assert(e2e_dead(p.a.s));
        pair_free(&p);
    }
    /* A resume buffer under the minimum is refused. */
    side_init(&p.a, d, 0, 0);
    pair_keys(&p);
    ck_assert_int_eq(
        e2e_init_resumable(p.a.s, E2E_INITIATOR, p.a_priv, p.b_pub, p.link, 1, E2E_RESUME_MIN - 1),
        E2E_E_ARG);
    ck_assert_int_eq(
        e2e_init_resumable(p.a.s, E2E_INITIATOR, p.a_priv, p.b_pub, p.link, 1, E2E_RESUME_MIN), 0);
    side_free(&p.a);
    free(d);
}
END_TEST

/* Cuts at many points, both directions busy, 5 resumptions: intact. */
START_TEST(test_resume_intact)
{
    const size_t na = 1024 * 1024 + 3, nb = 512 * 1024 + 11;
    static const size_t chunks[] = {1, 7, 1000, 16412, 70000};
    static const size_t keeps[] = {0, 1, 54, 16411, 40000};
    uint8_t *da = random_bytes(na), *db = random_bytes(nb);
    struct pair p;

    for (size_t k = 0; k < sizeof(keeps) / sizeof(keeps[0]); k++) {
        uint32_t epoch = 0;

        pair_init(&p, da, na, db, nb);
        for (int i = 0; p.a.off < na || p.b.off < nb || epoch < 5; i++) {
            /* Tiny chunks cost a loop turn a byte: they get a smaller budget
             * (the cuts still fall inside them), so the case stays a few
             * seconds of CPU under ASan too. */
            size_t chunk = chunks[(i + k) % 5];
            pump(&p, chunk, chunk < 1000 ? 16384 : 300000);
            if (i % 3 == 1 && epoch < 5) {
                cut(&p, keeps[k]);
                /* While suspended: plaintext still delivers, send fills the buffer. */
                pump(&p, 1000, SIZE_MAX);
                ck_assert_uint_le(e2e_resume_held(p.a.s), CAP);
                ck_assert_uint_le(e2e_resume_held(p.b.s), CAP);
                ck_assert_uint_eq(resume(&p), ++epoch);
            }
        }
        finish(&p);
        check_intact(&p);
        ck_assert_int_eq(p.a.ev[E2E_EV_RESUMED], 5);
        ck_assert_int_eq(p.b.ev[E2E_EV_RESUMED], 5);
        ck_assert(e2e_finished(p.a.s));
        ck_assert(e2e_finished(p.b.s));
        /* Everything acknowledged: nothing held. */
        ck_assert_uint_eq(e2e_resume_held(p.a.s), 0);
        ck_assert_uint_eq(e2e_resume_held(p.b.s), 0);
        pair_free(&p);
    }
    free(da);
    free(db);
}
END_TEST

/* The leg dies around FINAL: before it arrives, after it arrived but before
 * its ACK came back; a half-closed direction keeps acknowledging. */
START_TEST(test_resume_around_final)
{
    const size_t n = 300000;
    uint8_t *d = random_bytes(n);
    struct pair p;

    for (int variant = 0; variant < 3; variant++) {
        pair_init(&p, d, n, d, 0);
        pump(&p, 5000, SIZE_MAX);
        ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
        if (variant == 0) {
            cut(&p, 0); /* FINAL lost */
        } else {
            (void)wire(&p.a, &p.b, SIZE_MAX); /* FINAL arrives */
            (void)deliver(&p.b);
            drain_events(&p.b);
            if (variant == 2)
                (void)e2e_shutdown(p.b.s);
            cut(&p, 0); /* its ACK (and b's FINAL) lost */
        }
        resume(&p);
        if (variant < 2)
            ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
        pump(&p, 3000, SIZE_MAX);
        ck_assert_uint_eq(p.b.got_len, n);
        ck_assert(memcmp(p.b.got, d, n) == 0);
        ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 1);
        ck_assert_int_eq(p.a.ev[E2E_EV_PEER_FINAL], 1);
        ck_assert(e2e_finished(p.a.s));
        ck_assert(e2e_finished(p.b.s));
        ck_assert_int_eq(p.a.ev[E2E_EV_ERROR] + p.b.ev[E2E_EV_ERROR], 0);
        pair_free(&p);
    }
    /* Half-close: a's FINAL first, then b sends 3 MiB (12 × the buffer): the
     * ACKs that follow a's FINAL keep b's buffer moving. */
    {
        const size_t big = 3 * 1024 * 1024;
        uint8_t *db = random_bytes(big);

        pair_init(&p, d, 10, db, big);
        pump(&p, 5000, 1000);
        ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
        pump(&p, 20000, SIZE_MAX);
        ck_assert_uint_eq(p.a.got_len, big);
        ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
        pump(&p, 20000, SIZE_MAX);
        check_intact(&p);
        ck_assert(e2e_finished(p.a.s) && e2e_finished(p.b.s));
        pair_free(&p);
        free(db);
    }
    free(d);
}
END_TEST

/* The per-stream bound: a reader that stops; send_space reaches 0 with
 * exactly CAP held, through a suspension; memory is taken lazily. */
START_TEST(test_buffer_bound)
{
    const size_t n = 4 * CAP;
    uint8_t *d = random_bytes(n);
    struct pair p;

    pair_init(&p, d, n, d, 0);
    p.b.deliver_limit = 0;
    p.a.len = 0; /* the handshake only */
    pump(&p, 200, SIZE_MAX);
    p.a.len = n;
    ck_assert(e2e_handshake_done(p.a.s));
    ck_assert_uint_eq(e2e_resume_held(p.a.s), 0);
    ck_assert_ptr_null(p.a.s->rt.rp.head); /* nothing allocated yet */
    pump(&p, 70000, SIZE_MAX);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), CAP);
    ck_assert_uint_eq(p.a.off, CAP);
    ck_assert_uint_eq(e2e_send_space(p.a.s), 0);
    cut(&p, 0);
    pump(&p, 70000, SIZE_MAX);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), CAP);
    resume(&p);
    pump(&p, 70000, SIZE_MAX);
    ck_assert_uint_le(e2e_resume_held(p.a.s), CAP);
    /* The reader wakes up: everything arrives once. */
    p.b.deliver_limit = SIZE_MAX;
    pump(&p, 70000, SIZE_MAX);
    ck_assert_uint_eq(p.a.off, n);
    finish(&p);
    ck_assert_uint_eq(p.b.got_len, n);
    ck_assert(memcmp(p.b.got, d, n) == 0);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), 0);
    pair_free(&p);
    free(d);
}
END_TEST

/* Resume ids: single use, bound to the stream, a window ahead, tampering. */
START_TEST(test_resume_ids)
{
    struct pair p, q;
    uint8_t id[RESUME_ID_LEN], id1[RESUME_ID_LEN], rk[RESUME_KEY_LEN];
    uint32_t e, e1;
    uint8_t *d = random_bytes(100);

    pair_init(&p, d, 100, d, 100);
    pump(&p, 1000, SIZE_MAX);
    /* q: another stream of the same link and keys (another stream id). */
    memcpy(&q, &p, sizeof(q));
    side_init(&q.a, d, 100, 100);
    side_init(&q.b, d, 100, 100);
    pair_start(&q, 8, CAP, CAP);
    pump(&q, 1000, SIZE_MAX);

    ck_assert_int_eq(e2e_resume_next(p.a.s, id1, &e1), 0);
    ck_assert_uint_eq(e1, 1);
    /* q's id is not p's: refused without a change. */
    ck_assert_int_eq(e2e_resume_next(q.a.s, id, &e), 0);
    ck_assert_int_eq(e2e_resume_match(p.b.s, id, &e), E2E_E_RESUME);
    /* A flipped bit. */
    for (size_t i = 0; i < RESUME_ID_LEN; i += 7) {
        memcpy(id, id1, sizeof(id));
        id[i] ^= 0x10;
        ck_assert_int_eq(e2e_resume_match(p.b.s, id, &e), E2E_E_RESUME);
    }
    /* The window: epoch 16 ahead is found, 17 is not. */
    memcpy(rk, p.b.s->rk, sizeof(rk));
    resume_id(rk, RESUME_WINDOW, id);
    ck_assert_int_eq(e2e_resume_match(p.b.s, id, &e), 0);
    ck_assert_uint_eq(e, RESUME_WINDOW);
    resume_id(rk, RESUME_WINDOW + 1, id);
    ck_assert_int_eq(e2e_resume_match(p.b.s, id, &e), E2E_E_RESUME);
    /* Epoch 1 used: its id is spent on both sides. */
    ck_assert_uint_eq(resume(&p), 1);
    pump(&p, 1000, SIZE_MAX);
    ck_assert_int_eq(e2e_resume_match(p.b.s, id1, &e), E2E_E_RESUME);
    ck_assert_int_eq(e2e_resume_start(p.a.s, 1), E2E_E_RESUME);
    ck_assert_int_eq(e2e_resume_start(p.b.s, 1), E2E_E_RESUME);
    ck_assert_int_eq(e2e_resume_next(p.a.s, id, &e), 0);
    ck_assert_uint_eq(e, 2);
    /* A responder that skipped epochs (a's failed tries) still matches. */
    resume_id(rk, 5, id);
    ck_assert_int_eq(e2e_resume_match(p.b.s, id, &e), 0);
    ck_assert_uint_eq(e, 5);
    finish(&p);
    finish(&q);
    check_intact(&p);
    check_intact(&q);
    sodium_memzero(rk, sizeof(rk));
    pair_free(&p);
    pair_free(&q);
    free(d);
}
END_TEST

/* Legs spliced wrong: q's initiator against p's responder (a relay splicing
 * two streams), a flipped bit in the resume HELLO, an old epoch's HELLO
 * replayed: the leg is refused and the stream stays suspended; the right
 * leg afterwards resumes it intact. */
START_TEST(test_bad_legs_refused)
{
    const size_t n = 200000;
    uint8_t *d = random_bytes(n);
    struct pair p, q;
    uint8_t old_hello[2 + RESUME_HELLO_LEN];
    const uint8_t *o;
    size_t len;

    pair_init(&p, d, n, d, n);
    memcpy(&q, &p, sizeof(q));
    side_init(&q.a, d, n, n);
    side_init(&q.b, d, n, n);
    pair_start(&q, 8, CAP, CAP);
    pump(&p, 5000, 100000);
    pump(&q, 5000, 100000);
    cut(&p, 0);
    cut(&q, 0);

    /* 1. cross-stream: q.a's epoch 1 against p.b's epoch 1. */
    ck_assert_int_eq(e2e_resume_start(q.a.s, 1), 0);
    ck_assert_int_eq(e2e_resume_start(p.b.s, 1), 0);
    cross(&q.a, &p.b);
    ck_assert_int_eq(q.a.ev[E2E_EV_LEG_FAILED], 1);
    ck_assert_int_eq(p.b.ev[E2E_EV_LEG_FAILED], 1);
    ck_assert(e2e_suspended(q.a.s) && e2e_suspended(p.b.s));
    ck_assert_uint_eq(p.b.s->hello_refused, 1);
    ck_assert_uint_eq(p.b.s->hello_old, 0); /* another stream's: not an old epoch */

    /* 2. tampered HELLO: p.a epoch 2, one bit flipped on its way to p.b. */
    ck_assert_int_eq(e2e_resume_start(p.a.s, 2), 0);
    ck_assert_int_eq(e2e_resume_start(p.b.s, 2), 0);
    o = e2e_out_peek(p.a.s, &len);
    ck_assert_uint_eq(len, sizeof(old_hello));
    memcpy(old_hello, o, len);
    old_hello[10] ^= 1;
    ck_assert_int_eq(e2e_feed(p.b.s, old_hello, len, &len), 0);
    drain_events(&p.b);
    ck_assert_int_eq(p.b.ev[E2E_EV_LEG_FAILED], 2);
    ck_assert(e2e_suspended(p.b.s));
    ck_assert_uint_eq(p.b.s->hello_old, 0); /* tampered: its MAC fails */
    old_hello[10] ^= 1;                     /* now the genuine epoch-2 HELLO of p.a */

    /* 3. replayed: the epoch-2 HELLO fed to p.b in epoch 3 (p.a's own
     * epoch-3 HELLO is lost on the way). */
    ck_assert_int_eq(e2e_resume_start(p.a.s, 3), 0);
    ck_assert_int_eq(e2e_leg_lost(p.a.s), 1);
    ck_assert_int_eq(e2e_resume_start(p.b.s, 3), 0);
    ck_assert_int_eq(e2e_feed(p.b.s, old_hello, sizeof(old_hello), &len), 0);
    drain_events(&p.b);
    ck_assert_int_eq(p.b.ev[E2E_EV_LEG_FAILED], 3);
    ck_assert_uint_eq(p.b.s->hello_refused, 3);
    ck_assert_uint_eq(p.b.s->hello_old, 1); /* the peer's, of epoch 2: replayed */

    /* The right legs: both streams resume, intact. */
    ck_assert_uint_eq(resume(&p), 4);
    ck_assert_uint_eq(resume(&q), 2);
    finish(&p);
    finish(&q);
    check_intact(&p);
    check_intact(&q);
    pair_free(&p);
    pair_free(&q);
    free(d);
}
END_TEST

/* Records of an earlier epoch replayed into a resumed one, a dropped record
 * and a flipped bit in a resumed epoch: detected, the stream is dead. */
START_TEST(test_old_epoch_records_refused)
{
    const size_t n = 400000;
    uint8_t *d = random_bytes(n);
    uint8_t *old = malloc(70000);
    struct pair p;
    const uint8_t *o;
    size_t len, took;

    for (int variant = 0; variant < 3; variant++) {
        pair_init(&p, d, n, d, 0);
        pump(&p, 5000, 20000);
        ck_assert_int_eq(resume(&p), 1); /* live legs replaced: suspends first */
        pump(&p, 5000, 3000);
        ck_assert_int_eq(p.a.ev[E2E_EV_RESUMED], 1);
        ck_assert_int_eq(p.b.ev[E2E_EV_RESUMED], 1);
        send_some(&p.a);
        o = e2e_out_peek(p.a.s, &len);
        ck_assert_uint_gt(len, 3 * 16437);
        memcpy(old, o, 3 * 16437); /* three full DATA records of epoch 1 */
        if (variant == 0) {
            /* Epoch 2, then epoch 1's records after the new header. */
            ck_assert_int_eq(resume(&p), 2);
            pump(&p, 5000, 2000);
            ck_assert_int_eq(p.b.ev[E2E_EV_RESUMED], 2);
            ck_assert_int_eq(e2e_feed(p.b.s, old, 16437, &took), 0);
        } else if (variant == 1) {
            /* The second record dropped. */
            ck_assert_int_eq(e2e_feed(p.b.s, old, 16437, &took), 0);
            ck_assert_int_eq(e2e_feed(p.b.s, old + 2 * 16437, 16437, &took), 0);
        } else {
            old[100] ^= 4;
            ck_assert_int_eq(e2e_feed(p.b.s, old, 16437, &took), 0);
        }
        drain_events(&p.b);
        ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 1);
        ck_assert(e2e_dead(p.b.s));
        /* A dead stream does not suspend. */
        ck_assert_int_eq(e2e_leg_lost(p.b.s), 0);
        pair_free(&p);
    }
    free(old);
    free(d);
}
END_TEST

/* A RESUME offset the sender cannot honour is refused: behind what was
 * released (a peer that lost acknowledged data) or past what was sent. */
START_TEST(test_resume_offset_checked)
{
    struct resume_tx rt;
    struct rec_tx tx;
    uint8_t key[REC_KEY_LEN] = {1}, hdr[REC_HEADER_LEN], out[REC_FRAME_MAX];
    uint8_t data[40000] = {0};
    size_t len;

    resume_tx_init(&rt, CAP);
    ck_assert_int_eq(rec_tx_init(&tx, key, hdr), 0);
    ck_assert_int_eq(rec_tx_set_resumable(&tx), 0);
    ck_assert_int_eq(replay_append(&rt.rp, data, sizeof(data)), 0);
    ck_assert_uint_eq(resume_tx_space(&rt), CAP - sizeof(data));
    while (resume_tx_pending(&rt))
        ck_assert_int_eq(resume_tx_pump(&rt, &tx, out, sizeof(out), 0, &len), 0);
    ck_assert_uint_eq(rt.sealed_max, sizeof(data));
    resume_tx_ack(&rt, 10000);
    ck_assert_uint_eq(replay_held(&rt.rp), 30000);
    rec_tx_done(&tx);
    ck_assert_int_eq(rec_tx_init(&tx, key, hdr), 0);
    ck_assert_int_eq(rec_tx_set_resumable(&tx), 0);
    ck_assert_int_eq(resume_tx_rewind(&rt, &tx, 9999, false), RESUME_E_OFFSET);
    ck_assert_int_eq(resume_tx_rewind(&rt, &tx, 40001, false), RESUME_E_OFFSET);
    ck_assert_int_eq(resume_tx_rewind(&rt, &tx, 40000, true), RESUME_E_OFFSET); /* no FINAL */
    ck_assert_int_eq(resume_tx_rewind(&rt, &tx, 20000, false), 0);
    ck_assert_uint_eq(rt.cur, 20000);
    ck_assert_uint_eq(replay_held(&rt.rp), 20000);
    ck_assert_uint_eq(rec_tx_offset(&tx), 20000);
    rec_tx_done(&tx);
    resume_tx_done(&rt);
}
END_TEST

/* replay: offsets across chunks, release inside and across chunks. */
START_TEST(test_replay_buffer)
{
    struct replay r;
    uint8_t *d = random_bytes(100000);
    const uint8_t *q;
    size_t len;
    uint64_t at;

    replay_init(&r, 0);
    ck_assert_ptr_null(replay_peek(&r, 0, &len));
    ck_assert_int_eq(replay_append(&r, d, 1), 0);
    ck_assert_int_eq(replay_append(&r, d + 1, REPLAY_CHUNK), 0);
    ck_assert_int_eq(replay_append(&r, d + 1 + REPLAY_CHUNK, 100000 - 1 - REPLAY_CHUNK), 0);
    ck_assert_uint_eq(replay_held(&r), 100000);
    for (at = 0; at < 100000; at += len) {
        q = replay_peek(&r, at, &len);
        ck_assert_ptr_nonnull(q);
        ck_assert_uint_le(len, REPLAY_CHUNK);
        ck_assert(memcmp(q, d + at, len) == 0);
    }
    replay_release(&r, 5);
    ck_assert_ptr_null(replay_peek(&r, 4, &len));
    q = replay_peek(&r, 5, &len);
    ck_assert(memcmp(q, d + 5, len) == 0);
    replay_release(&r, 3 * REPLAY_CHUNK + 7);
    q = replay_peek(&r, 3 * REPLAY_CHUNK + 7, &len);
    ck_assert(memcmp(q, d + 3 * REPLAY_CHUNK + 7, len) == 0);
    ck_assert_uint_eq(replay_held(&r), 100000 - 3 * REPLAY_CHUNK - 7);
    replay_release(&r, 1); /* backwards: nothing */
    replay_release(&r, 200000);
    ck_assert_uint_eq(replay_held(&r), 0);
    ck_assert_ptr_null(r.head);
    ck_assert_int_eq(replay_append(&r, d, 10), 0);
    q = replay_peek(&r, 100000, &len);
    ck_assert_uint_eq(len, 10);
    replay_done(&r);
    free(d);
}
END_TEST

/* replay: a peek remembers its block, and a peek behind it (a rewind) or
 * after that block was released still finds the right bytes. */
START_TEST(test_replay_peek_hint)
{
    struct replay r;
    uint8_t *d = random_bytes(8 * REPLAY_CHUNK);
    const uint8_t *q;
    size_t len;

    replay_init(&r, 1000);
    ck_assert_int_eq(replay_append(&r, d, 8 * REPLAY_CHUNK), 0);
    q = replay_peek(&r, 1000 + 6 * REPLAY_CHUNK + 3, &len);
    ck_assert(memcmp(q, d + 6 * REPLAY_CHUNK + 3, len) == 0);
    ck_assert_uint_eq(len, REPLAY_CHUNK - 3);
    q = replay_peek(&r, 1000 + 2 * REPLAY_CHUNK + 1, &len); /* behind the last */
    ck_assert(memcmp(q, d + 2 * REPLAY_CHUNK + 1, len) == 0);
    ck_assert_uint_eq(len, REPLAY_CHUNK - 1);
    replay_release(&r, 1000 + 3 * REPLAY_CHUNK + 5); /* frees the block found last */
    ck_assert_ptr_null(replay_peek(&r, 1000 + 2 * REPLAY_CHUNK + 1, &len));
    q = replay_peek(&r, 1000 + 3 * REPLAY_CHUNK + 5, &len);
    ck_assert(memcmp(q, d + 3 * REPLAY_CHUNK + 5, len) == 0);
    q = replay_peek(&r, 1000 + 7 * REPLAY_CHUNK, &len);
    ck_assert(memcmp(q, d + 7 * REPLAY_CHUNK, len) == 0);
    ck_assert_uint_eq(len, REPLAY_CHUNK);
    replay_done(&r);
    replay_pool_free();
    free(d);
}
END_TEST

/* replay: released blocks go to the process's pool, at most REPLAY_POOL of
 * them; appends take from it first; replay_pool_free empties it. */
START_TEST(test_replay_pool)
{
    struct replay r;
    const size_t n = (REPLAY_POOL + 10) * (size_t)REPLAY_CHUNK;
    uint8_t *d = random_bytes(n);
    const uint8_t *q;
    size_t len;

    replay_pool_free();
    ck_assert_uint_eq(replay_pool_blocks(), 0);
    replay_init(&r, 0);
    ck_assert_int_eq(replay_append(&r, d, 3 * REPLAY_CHUNK), 0);
    replay_release(&r, 2 * REPLAY_CHUNK + 1);
    ck_assert_uint_eq(replay_pool_blocks(), 2);
    ck_assert_int_eq(replay_append(&r, d + 3 * REPLAY_CHUNK, 2 * REPLAY_CHUNK), 0);
    ck_assert_uint_eq(replay_pool_blocks(), 0); /* both came from the pool */
    for (uint64_t at = 2 * REPLAY_CHUNK + 1; at < 5 * REPLAY_CHUNK; at += len) {
        q = replay_peek(&r, at, &len);
        ck_assert(memcmp(q, d + at, len) == 0);
    }
    replay_done(&r); /* its 3 blocks go to the pool too */
    ck_assert_uint_eq(replay_pool_blocks(), 3);
    replay_init(&r, 0);
    ck_assert_int_eq(replay_append(&r, d, n), 0);
    ck_assert_uint_eq(replay_pool_blocks(), 0);
    replay_release(&r, n);
    ck_assert_uint_eq(replay_held(&r), 0);
    ck_assert_uint_eq(replay_pool_blocks(), REPLAY_POOL); /* the rest freed */
    replay_done(&r);
    replay_pool_free();
    ck_assert_uint_eq(replay_pool_blocks(), 0);
    free(d);
}
END_TEST

/* A local reset while suspended kills the stream at once. */
START_TEST(test_reset_while_suspended)
{
    uint8_t *d = random_bytes(1000);
    struct pair p;

    pair_init(&p, d, 1000, d, 1000);
    pump(&p, 5000, SIZE_MAX);
    cut(&p, 0);
    ck_assert_int_eq(e2e_reset(p.a.s, REC_RESET_LOCAL, "x"), 0);
    ck_assert(e2e_dead(p.a.s));
    ck_assert_int_eq(e2e_resume_start(p.a.s, 1), E2E_E_RESUME);
    pair_free(&p);
    free(d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_resume");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_negotiation);
    tcase_add_test(tc, test_resume_intact);
    tcase_add_test(tc, test_resume_around_final);
    tcase_add_test(tc, test_buffer_bound);
    tcase_add_test(tc, test_resume_ids);
    tcase_add_test(tc, test_bad_legs_refused);
    tcase_add_test(tc, test_old_epoch_records_refused);
    tcase_add_test(tc, test_resume_offset_checked);
    tcase_add_test(tc, test_replay_buffer);
    tcase_add_test(tc, test_replay_peek_hint);
    tcase_add_test(tc, test_replay_pool);
    tcase_add_test(tc, test_reset_while_suspended);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
