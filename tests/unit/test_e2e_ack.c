/* SPDX-License-Identifier: MIT */
/*
 * Tests for the ACK cadence of a resumable stream (docs/protocol.md §7.3,
 * docs/design.md D32): each side's HELLO asks for an ACK every ack_every
 * bytes (a quarter of its resume buffer, 64 KiB to 1 MiB), and the peer
 * acknowledges at that cadence, whatever its own buffer, when both HELLOs
 * offer STREAM_ACK; every 64 KiB otherwise. STREAM_ACK (D43): the ACK that
 * goes on the control sessions, its mac, and the stall it prevents. Two
 * sessions back to back in memory, as in test_e2e_resume.c; the control
 * sessions are a direct hand-over here (struct pair's oob).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "lrcheck.h"
#include "resume.h"
#include "suite.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define GIB (1024ull * MIB)

struct side {
    struct e2e *s;
    const uint8_t *data; /* what this side sends */
    size_t len, off;
    size_t got_len, deliver_limit;
    uint8_t hash[crypto_generichash_BYTES];
    crypto_generichash_state h; /* of what it delivered */
};

struct pair {
    struct side a, b; /* a: initiator, b: responder */
    bool oob;         /* pump hands each STREAM_ACK due to the other side */
    uint64_t oob_taken[2];
    uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], link[16];
};

static void side_init(struct side *sd, const uint8_t *data, size_t len)
{
    memset(sd, 0, sizeof(*sd));
    sd->s = calloc(1, sizeof(struct e2e));
    ck_assert_ptr_nonnull(sd->s);
    sd->data = data;
    sd->len = len;
    sd->deliver_limit = SIZE_MAX;
    crypto_generichash_init(&sd->h, NULL, 0, sizeof(sd->hash));
}

/* a sends na bytes of da with a replay buffer of cap_a, b likewise; each
 * offers ChaCha20-Poly1305 and (offer_a, offer_b) STREAM_ACK. */
static void pair_init_offer(struct pair *p, const uint8_t *da, size_t na, uint64_t cap_a,
                            const uint8_t *db, size_t nb, uint64_t cap_b, bool offer_a,
                            bool offer_b)
{
    const unsigned chacha = SUITE_OFFER_CHACHA, sa = SUITE_OFFER_STREAM_ACK;

    crypto_box_keypair(p->a_pub, p->a_priv);
    crypto_box_keypair(p->b_pub, p->b_priv);
    randombytes_buf(p->link, sizeof(p->link));
    side_init(&p->a, da, na);
    side_init(&p->b, db, nb);
    p->oob = false;
    p->oob_taken[0] = p->oob_taken[1] = 0;
    ck_assert_int_eq(e2e_init_suites(p->a.s, E2E_INITIATOR, p->a_priv, NULL, NULL, p->b_pub,
                                     p->link, 9, cap_a, chacha | (offer_a ? sa : 0)),
                     0);
    ck_assert_int_eq(e2e_init_suites(p->b.s, E2E_RESPONDER, p->b_priv, NULL, NULL, p->a_pub,
                                     p->link, 9, cap_b, chacha | (offer_b ? sa : 0)),
                     0);
}

/* Both offer STREAM_ACK, as linkagent does. */
static void pair_init(struct pair *p, const uint8_t *da, size_t na, uint64_t cap_a,
                      const uint8_t *db, size_t nb, uint64_t cap_b)
{
    pair_init_offer(p, da, na, cap_a, db, nb, cap_b, true, true);
}

/* A STREAM_ACK due at from, handed to `to` (the two control sessions and
 * the relay between them): counted when it released bytes. */
static size_t oob_wire(struct side *from, struct side *to, uint64_t *taken)
{
    uint8_t mac[E2E_ACK_MAC_LEN];
    uint64_t off;
    int rc;

    if (e2e_oob_ack_take(from->s, &off, mac) != 1)
        return 0;
    rc = e2e_oob_ack_in(to->s, off, mac);
    ck_assert_int_ge(rc, 0);
    *taken += (uint64_t)rc;
    return (size_t)rc;
}

static void pair_free(struct pair *p)
{
    e2e_done(p->a.s);
    e2e_done(p->b.s);
    free(p->a.s);
    free(p->b.s);
}

static size_t deliver(struct side *sd)
{
    size_t n;
    const uint8_t *q = e2e_plain_peek(sd->s, &n);

    if (n > sd->deliver_limit - sd->got_len)
        n = sd->deliver_limit - sd->got_len;
    if (n == 0)
        return 0;
    crypto_generichash_update(&sd->h, q, n);
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
    if (n == 0)
        return 0;
    ck_assert_int_eq(e2e_feed(to->s, q, n, &took), 0);
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

/* Runs until nothing moves: a sender stalled for an ACK that never comes
 * stops it short of the end. */
static void pump(struct pair *p)
{
    size_t moved;
    struct e2e_event ev;

    do {
        moved = send_some(&p->a) + send_some(&p->b);
        moved += wire(&p->a, &p->b, 70000) + wire(&p->b, &p->a, 70000);
        moved += deliver(&p->a) + deliver(&p->b);
        if (p->oob)
            moved +=
                oob_wire(&p->a, &p->b, &p->oob_taken[1]) + oob_wire(&p->b, &p->a, &p->oob_taken[0]);
        while (e2e_next_event(p->a.s, &ev) == 1)
            ck_assert_int_ne(ev.type, E2E_EV_ERROR);
        while (e2e_next_event(p->b.s, &ev) == 1)
            ck_assert_int_ne(ev.type, E2E_EV_ERROR);
    } while (moved > 0);
}

static void check_same(struct side *from, struct side *to)
{
    uint8_t want[crypto_generichash_BYTES], got[crypto_generichash_BYTES];

    ck_assert_uint_eq(to->got_len, from->len);
    crypto_generichash(want, sizeof(want), from->data, from->len, NULL, 0);
    crypto_generichash_final(&to->h, got, sizeof(got));
    ck_assert_mem_eq(want, got, sizeof(want));
}

/* The interval a resume buffer asks for, at the limits of resume_buffer
 * (128 KiB .. 1 GiB, linkagent.conf(5)) and where the quarter crosses the
 * bounds. */
START_TEST(test_ack_every_limits)
{
    ck_assert_uint_eq(RESUME_ACK_MAX, MIB);
    ck_assert_uint_eq(resume_ack_every(E2E_RESUME_MIN), RESUME_ACK_MIN);
    ck_assert_uint_eq(resume_ack_every(E2E_RESUME_MIN), E2E_RESUME_MIN / 2);
    ck_assert_uint_eq(resume_ack_every(256 * KIB), 64 * KIB);
    ck_assert_uint_eq(resume_ack_every(256 * KIB + 4), 64 * KIB + 1);
    ck_assert_uint_eq(resume_ack_every(512 * KIB), 128 * KIB);
    ck_assert_uint_eq(resume_ack_every(4 * MIB - 4), MIB - 1);
    ck_assert_uint_eq(resume_ack_every(4 * MIB), RESUME_ACK_MAX);
    ck_assert_uint_eq(resume_ack_every(GIB), RESUME_ACK_MAX);
    ck_assert_uint_eq(resume_ack_every(UINT64_MAX), RESUME_ACK_MAX);
    /* Never more than half of any buffer e2e accepts. */
    for (uint64_t cap = E2E_RESUME_MIN; cap <= 8 * MIB; cap += 4096 + 1)
        ck_assert_uint_le(resume_ack_every(cap), cap / 2);
}
END_TEST

/* The HELLO's resume field (§7.1, §7.3) both ways, and what an older agent's
 * or a malformed field means: an ACK every 64 KiB. */
START_TEST(test_offer_field)
{
    uint8_t b[RESUME_OFFER_MAX + 2];
    bool offer = true;
    uint32_t every = 0;

    ck_assert_uint_eq(resume_offer_encode(false, MIB, b), RESUME_OFFER_LEN);
    ck_assert_mem_eq(b, "\x01\x00\x00", 3);
    ck_assert_int_eq(resume_offer_check(b, RESUME_OFFER_LEN, &offer, &every), 0);
    ck_assert(!offer);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);

    ck_assert_uint_eq(resume_offer_encode(true, 64 * KIB, b), RESUME_OFFER_MAX);
    ck_assert_mem_eq(b, "\x01\x01\x04\x00\x01\x00\x00", 7);
    ck_assert_int_eq(resume_offer_check(b, RESUME_OFFER_MAX, &offer, &every), 0);
    ck_assert(offer);
    ck_assert_uint_eq(every, 64 * KIB);
    ck_assert_uint_eq(resume_offer_encode(true, MIB, b), RESUME_OFFER_MAX);
    ck_assert_mem_eq(b, "\x01\x01\x04\x00\x10\x00\x00", 7);
    ck_assert_int_eq(resume_offer_check(b, RESUME_OFFER_MAX, &offer, &every), 0);
    ck_assert_uint_eq(every, MIB);
    /* Encoding clamps to the bounds. */
    ck_assert_uint_eq(resume_offer_encode(true, MIB + 1, b), RESUME_OFFER_MAX);
    ck_assert_int_eq(resume_offer_check(b, RESUME_OFFER_MAX, &offer, &every), 0);
    ck_assert_uint_eq(every, RESUME_ACK_MAX);
    ck_assert_uint_eq(resume_offer_encode(true, 1, b), RESUME_OFFER_MAX);
    ck_assert_int_eq(resume_offer_check(b, RESUME_OFFER_MAX, &offer, &every), 0);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);

    /* An older agent's offer: empty field. */
    ck_assert_int_eq(resume_offer_check((const uint8_t *)"\x01\x01\x00", 3, &offer, &every), 0);
    ck_assert(offer);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);
    /* Out of bounds, or not 4 bytes: accepted, an ACK every 64 KiB. */
    ck_assert_int_eq(
        resume_offer_check((const uint8_t *)"\x01\x01\x04\x00\x00\xff\xff", 7, &offer, &every), 0);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);
    ck_assert_int_eq(
        resume_offer_check((const uint8_t *)"\x01\x01\x04\x00\x10\x00\x01", 7, &offer, &every), 0);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);
    ck_assert_int_eq(
        resume_offer_check((const uint8_t *)"\x01\x01\x03\x00\x10\x00", 6, &offer, &every), 0);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);
    /* The field without the offer is ignored. */
    ck_assert_int_eq(
        resume_offer_check((const uint8_t *)"\x01\x00\x04\x00\x02\x00\x00", 7, &offer, &every), 0);
    ck_assert(!offer);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);
    /* Still refused: a wrong version, another flag, a field longer than the bytes. */
    ck_assert_int_ne(resume_offer_check((const uint8_t *)"\x02\x01\x00", 3, &offer, &every), 0);
    ck_assert_int_ne(resume_offer_check((const uint8_t *)"\x01\x03\x00", 3, &offer, &every), 0);
    ck_assert_int_ne(
        resume_offer_check((const uint8_t *)"\x01\x01\x04\x00\x10\x00", 6, &offer, &every), 0);
}
END_TEST

/* A buffer asks for an ACK every `every` bytes: exactly then, not before. */
static void cadence(uint64_t cap_a, uint64_t cap_b, size_t every, bool b_offers)
{
    const size_t n = 3 * every;
    uint8_t *d = malloc(n);
    struct pair p;

    ck_assert_ptr_nonnull(d);
    randombytes_buf(d, n);
    pair_init_offer(&p, d, n, cap_a, d, 0, cap_b, true, b_offers);
    p.b.deliver_limit = every - 1;
    pump(&p);
    ck_assert(e2e_resumable(p.a.s));
    ck_assert_uint_eq(p.b.got_len, every - 1);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), p.a.off); /* nothing acknowledged */
    ck_assert_uint_ge(p.a.off, every);
    p.b.deliver_limit = every;
    pump(&p);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), p.a.off - every); /* one ACK, of every */
    p.b.deliver_limit = SIZE_MAX;
    pump(&p);
    check_same(&p.a, &p.b);
    pair_free(&p);
    free(d);
}

START_TEST(test_cadence_large_buffer)
{
    cadence(4 * MIB, E2E_RESUME_MIN, MIB, true);
}
END_TEST

/* A peer that does not offer STREAM_ACK (an agent before D43) gets in-band
 * ACKs only, so every 64 KiB whatever it asks for (D32's stall). */
START_TEST(test_cadence_without_stream_ack)
{
    cadence(4 * MIB, E2E_RESUME_MIN, 64 * KIB, false);
}
END_TEST

START_TEST(test_cadence_small_buffer)
{
    cadence(E2E_RESUME_MIN, 4 * MIB, 64 * KIB, true);
}
END_TEST

/* A sender with the smallest buffer against a receiver with the largest, both
 * ways at once: the receiver acknowledges at the sender's cadence, whatever
 * its own buffer, and the sender never stalls with 128 KiB unacknowledged. */
START_TEST(test_min_sender_large_receiver)
{
    const size_t n = 8 * MIB;
    uint8_t *d = malloc(n);
    struct pair p;

    ck_assert_ptr_nonnull(d);
    randombytes_buf(d, n);
    pair_init(&p, d, n, E2E_RESUME_MIN, d, n, GIB);
    pump(&p);
    ck_assert_uint_eq(p.a.off, n);
    ck_assert_uint_eq(p.b.off, n);
    ck_assert_uint_le(e2e_resume_held(p.a.s), E2E_RESUME_MIN);
    check_same(&p.a, &p.b);
    check_same(&p.b, &p.a);
    pair_free(&p);
    free(d);
}
END_TEST

/* A quiet stream: less than one interval delivered stays unacknowledged
 * until the ACK by time (e2e_ack_idle), which releases all of it once; it
 * does nothing on a stream that is not resumable. */
START_TEST(test_ack_idle)
{
    const size_t n = RESUME_ACK_MAX - 4 * KIB; /* less than one interval */
    uint8_t *d = malloc(n);
    struct pair p, q;

    ck_assert_ptr_nonnull(d);
    randombytes_buf(d, n);
    pair_init(&p, d, n, 4 * MIB, d, 0, 4 * MIB);
    ck_assert_int_eq(e2e_ack_idle(p.b.s), 0); /* handshake not done */
    pump(&p);
    ck_assert_uint_eq(p.b.got_len, n);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), n);
    ck_assert_int_eq(e2e_ack_idle(p.a.s), 0); /* a delivered nothing */
    ck_assert_int_eq(e2e_ack_idle(p.b.s), 1);
    ck_assert_int_eq(e2e_ack_idle(p.b.s), 0); /* queued already */
    pump(&p);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), 0);
    ck_assert_int_eq(e2e_ack_idle(p.b.s), 0); /* nothing left to acknowledge */
    check_same(&p.a, &p.b);
    pair_free(&p);

    /* Resumption off on one side: not resumable, no ACK by time. */
    pair_init(&q, d, n, 4 * MIB, d, 0, 0);
    pump(&q);
    ck_assert(!e2e_resumable(q.b.s));
    ck_assert_uint_eq(q.b.got_len, n);
    ck_assert_int_eq(e2e_ack_idle(q.b.s), 0);
    pair_free(&q);
    free(d);
}
END_TEST

/* A resumable stream's ACK of the peer's FINAL rides with the receiver's
 * next record when it frees at most E2E_LAZY_ACK_MAX (D55): its own FINAL (one flush, 2 records of
 * 28 bytes), its next DATA, or the idle ACK; nothing is sealed for it before. 1: FINAL, 2: DATA, 3:
 * idle. */
static void final_ack_case(int how)
{
    const size_t rec = 28; /* an ACK, a FINAL: 2 + 9 + 17 bytes */
    uint8_t d[1000], r[10];
    struct pair p;
    size_t n, acc = 0;

    randombytes_buf(d, sizeof(d));
    randombytes_buf(r, sizeof(r));
    pair_init(&p, d, sizeof(d), 4 * MIB, r, 0, 4 * MIB);
    pump(&p);
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    pump(&p);
    ck_assert(e2e_peer_final(p.b.s));
    ck_assert_uint_eq(p.b.got_len, sizeof(d));
    (void)e2e_out_peek(p.b.s, &n);
    ck_assert_uint_eq(n, 0);                              /* no ACK sealed yet */
    ck_assert_uint_eq(e2e_resume_held(p.a.s), sizeof(d)); /* a still holds it all */
    if (how == 1) {
        ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
        (void)e2e_out_peek(p.b.s, &n);
        ck_assert_uint_eq(n, 2 * rec); /* the ACK and our FINAL, one write */
    } else if (how == 2) {
        ck_assert_int_eq(e2e_send(p.b.s, r, sizeof(r), &acc), 0);
        ck_assert_uint_eq(acc, sizeof(r));
        (void)e2e_out_peek(p.b.s, &n);
        ck_assert_uint_eq(n, rec + rec + sizeof(r)); /* the ACK, then the DATA */
    } else {
        ck_assert_int_eq(e2e_ack_idle(p.b.s), 1);
        ck_assert_int_eq(e2e_ack_idle(p.b.s), 0); /* sealed already */
        (void)e2e_out_peek(p.b.s, &n);
        ck_assert_uint_eq(n, rec);
    }
    pump(&p);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), 0); /* a's FINAL acknowledged */
    if (how != 1)
        ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
    pump(&p);
    ck_assert(e2e_finished(p.a.s));
    ck_assert(e2e_finished(p.b.s));
    pair_free(&p);
}

/* More than E2E_LAZY_ACK_MAX unacknowledged when the peer's FINAL comes: the
 * ACK goes at once, so the peer's replay buffer does not hold it; at the
 * limit it still waits. */
static void final_ack_size_case(size_t len, bool waits)
{
    uint8_t *d = malloc(len);
    struct pair p;

    ck_assert_ptr_nonnull(d);
    randombytes_buf(d, len);
    pair_init(&p, d, len, 4 * MIB, d, 0, 4 * MIB); /* ack_every 1 MiB: no cadence ACK */
    pump(&p);
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    pump(&p);
    ck_assert(e2e_peer_final(p.b.s));
    ck_assert_uint_eq(p.b.got_len, len);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), (waits ? len : 0));
    ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
    pump(&p);
    ck_assert(e2e_finished(p.a.s) && e2e_finished(p.b.s));
    pair_free(&p);
    free(d);
}

START_TEST(test_final_ack_rides)
{
    final_ack_case(1);
    final_ack_case(2);
    final_ack_case(3);
    final_ack_size_case(E2E_LAZY_ACK_MAX, true);
    final_ack_size_case(E2E_LAZY_ACK_MAX + 1, false);
}
END_TEST

/* STREAM_ACK is used when both HELLOs offer it and the stream is
 * resumable; otherwise nothing is due and one from the peer is refused. */
START_TEST(test_stream_ack_negotiation)
{
    static const bool offers[4][2] = {{true, true}, {true, false}, {false, true}, {false, false}};
    uint8_t d[1000], mac[E2E_ACK_MAC_LEN] = {0};
    uint64_t off = 0;
    struct pair p;

    randombytes_buf(d, sizeof(d));
    for (int i = 0; i < 4; i++) {
        bool both = offers[i][0] && offers[i][1];
        pair_init_offer(&p, d, sizeof(d), 4 * MIB, d, 0, 4 * MIB, offers[i][0], offers[i][1]);
        pump(&p);
        ck_assert(e2e_resumable(p.a.s));
        ck_assert(e2e_oob(p.a.s) == both);
        ck_assert(e2e_oob(p.b.s) == both);
        ck_assert_int_eq(e2e_ack_idle(p.b.s), 1); /* 1000 bytes: the ACK by time */
        ck_assert_int_eq(e2e_oob_ack_take(p.b.s, &off, mac), both ? 1 : 0);
        if (both)
            ck_assert_uint_eq(off, sizeof(d));
        else
            ck_assert_int_eq(e2e_oob_ack_in(p.a.s, 0, mac), E2E_E_ARG);
        pair_free(&p);
    }
    /* Resumption off on one side: nothing to acknowledge out of band. */
    pair_init_offer(&p, d, sizeof(d), 4 * MIB, d, 0, 0, true, true);
    pump(&p);
    ck_assert(!e2e_oob(p.a.s) && !e2e_oob(p.b.s));
    pair_free(&p);
}
END_TEST

/* The mac of §7.3 computed here from its definition, not by e2eack.c. */
static void expect_mac(const struct e2e *s, uint8_t role, uint64_t off,
                       uint8_t mac[E2E_ACK_MAC_LEN])
{
    static const char label[] = "linkrelay/1 stream ack";
    crypto_generichash_blake2b_state st;
    uint8_t tail[9] = {role};

    for (int i = 0; i < 8; i++)
        tail[1 + i] = (uint8_t)(off >> (56 - 8 * i));
    crypto_generichash_blake2b_init(&st, s->rk, sizeof(s->rk), E2E_ACK_MAC_LEN);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)label, sizeof(label) - 1);
    crypto_generichash_blake2b_update(&st, tail, sizeof(tail));
    crypto_generichash_blake2b_final(&st, mac, E2E_ACK_MAC_LEN);
}

/* a sends, b delivers one interval (1 MiB) and its in-band ACK is never
 * carried: the STREAM_ACK alone releases a's replay buffer, once. A
 * tampered mac, a's own role's mac (reflected), and an offset past what a
 * sealed are refused and change nothing. */
START_TEST(test_stream_ack_releases)
{
    const size_t n = 3 * MIB;
    uint8_t *d = malloc(n), mac[E2E_ACK_MAC_LEN], want[E2E_ACK_MAC_LEN];
    uint64_t off = 0, held;
    struct pair p;

    ck_assert_ptr_nonnull(d);
    randombytes_buf(d, n);
    pair_init(&p, d, n, 4 * MIB, d, 0, 4 * MIB);
    p.b.deliver_limit = MIB;
    for (size_t moved = 1; moved > 0;) /* a to b only: b's output is never read */
        moved = send_some(&p.a) + wire(&p.a, &p.b, 70000) + deliver(&p.b) +
                wire(&p.b, &p.a, p.a.s->tx_ready ? 0 : SIZE_MAX);
    ck_assert(e2e_oob(p.a.s));
    ck_assert_uint_eq(p.b.got_len, MIB);
    held = e2e_resume_held(p.a.s);
    ck_assert_uint_eq(held, p.a.off);
    ck_assert_int_eq(e2e_oob_ack_take(p.b.s, &off, mac), 1);
    ck_assert_uint_eq(off, MIB);
    expect_mac(p.b.s, E2E_RESPONDER, MIB, want);
    ck_assert_mem_eq(mac, want, sizeof(want));
    ck_assert_int_eq(e2e_oob_ack_take(p.b.s, &off, mac), 0); /* given out once */

    mac[3] ^= 0x10;
    ck_assert_int_eq(e2e_oob_ack_in(p.a.s, MIB, mac), E2E_E_ACK);
    expect_mac(p.b.s, E2E_INITIATOR, MIB, want); /* a's own, reflected */
    ck_assert_int_eq(e2e_oob_ack_in(p.a.s, MIB, want), E2E_E_ACK);
    expect_mac(p.b.s, E2E_RESPONDER, p.a.off + 1, want); /* never sealed */
    ck_assert_int_eq(e2e_oob_ack_in(p.a.s, p.a.off + 1, want), E2E_E_ACK);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), held);

    expect_mac(p.b.s, E2E_RESPONDER, MIB, want);
    ck_assert_int_eq(e2e_oob_ack_in(p.a.s, MIB, want), 1);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), held - MIB);
    ck_assert_int_eq(e2e_oob_ack_in(p.a.s, MIB, want), 0); /* old news */
    expect_mac(p.b.s, E2E_RESPONDER, MIB / 2, want);       /* older */
    ck_assert_int_eq(e2e_oob_ack_in(p.a.s, MIB / 2, want), 0);
    ck_assert_uint_eq(e2e_resume_held(p.a.s), held - MIB);

    /* The in-band ACKs that were held up arrive later: no harm. */
    p.b.deliver_limit = SIZE_MAX;
    pump(&p);
    check_same(&p.a, &p.b);
    pair_free(&p);
    free(d);
}
END_TEST

/* The stall of D32, in memory: b's application does not read (b delivers
 * nothing), a's reads everything, and both send 16 MiB with 1 MiB replay
 * buffers. a's ACKs of b's data wait behind a's DATA, which b does not
 * read: with in-band ACKs only b stops once its buffer is full of bytes a
 * has delivered; with STREAM_ACK all of b's 16 MiB go through (as over
 * TCP, whose ACKs do not wait behind data). */
static void one_way_reader(bool oob, size_t *b_sent, size_t *a_got)
{
    const size_t n = 16 * MIB;
    uint8_t *d = malloc(n);
    struct pair p;

    ck_assert_ptr_nonnull(d);
    randombytes_buf(d, n);
    pair_init(&p, d, n, MIB, d, n, MIB);
    p.oob = oob;
    p.b.deliver_limit = 0;
    pump(&p);
    *b_sent = p.b.off;
    *a_got = p.a.got_len;
    ck_assert_uint_le(e2e_resume_held(p.b.s), MIB); /* the bound holds either way */
    if (oob)
        ck_assert_uint_gt(p.oob_taken[1], 0);
    pair_free(&p);
    free(d);
}

START_TEST(test_stream_ack_unstalls)
{
    size_t sent, got;

    one_way_reader(false, &sent, &got);
    ck_assert_uint_lt(sent, 16 * MIB); /* stalled short of the end */
    ck_assert_uint_le(got, sent);
    one_way_reader(true, &sent, &got);
    ck_assert_uint_eq(sent, 16 * MIB);
    ck_assert_uint_eq(got, 16 * MIB);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_ack");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ack_every_limits);
    tcase_add_test(tc, test_offer_field);
    tcase_add_test(tc, test_cadence_large_buffer);
    tcase_add_test(tc, test_cadence_small_buffer);
    tcase_add_test(tc, test_min_sender_large_receiver);
    tcase_add_test(tc, test_ack_idle);
    tcase_add_test(tc, test_final_ack_rides);
    tcase_add_test(tc, test_cadence_without_stream_ack);
    tcase_add_test(tc, test_stream_ack_negotiation);
    tcase_add_test(tc, test_stream_ack_releases);
    tcase_add_test(tc, test_stream_ack_unstalls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
