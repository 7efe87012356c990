/* SPDX-License-Identifier: MIT */
/*
 * Tests for the ACK cadence of a resumable stream (docs/protocol.md §7.3,
 * docs/design.md D32): each side's HELLO asks for an ACK every ack_every
 * bytes (a quarter of its resume buffer, within RESUME_ACK_MIN and
 * RESUME_ACK_MAX, both 64 KiB now), and the peer acknowledges at that
 * cadence, whatever its own buffer. Two sessions back to
 * back in memory, as in test_e2e_resume.c.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "lrcheck.h"
#include "resume.h"

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

/* a sends na bytes of da with a replay buffer of cap_a, b likewise. */
static void pair_init(struct pair *p, const uint8_t *da, size_t na, uint64_t cap_a,
                      const uint8_t *db, size_t nb, uint64_t cap_b)
{
    crypto_box_keypair(p->a_pub, p->a_priv);
    crypto_box_keypair(p->b_pub, p->b_priv);
    randombytes_buf(p->link, sizeof(p->link));
    side_init(&p->a, da, na);
    side_init(&p->b, db, nb);
    ck_assert_int_eq(
        e2e_init_resumable(p->a.s, E2E_INITIATOR, p->a_priv, p->b_pub, p->link, 9, cap_a), 0);
    ck_assert_int_eq(
        e2e_init_resumable(p->b.s, E2E_RESPONDER, p->b_priv, p->a_pub, p->link, 9, cap_b), 0);
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
    /* RESUME_ACK_MAX is RESUME_ACK_MIN since a larger cadence made a
     * bidirectional bulk stream stall (D32): every buffer asks for 64 KiB. */
    ck_assert_uint_eq(RESUME_ACK_MAX, RESUME_ACK_MIN);
    ck_assert_uint_eq(resume_ack_every(E2E_RESUME_MIN), RESUME_ACK_MIN);
    ck_assert_uint_eq(resume_ack_every(E2E_RESUME_MIN), E2E_RESUME_MIN / 2);
    ck_assert_uint_eq(resume_ack_every(256 * KIB), 64 * KIB);
    ck_assert_uint_eq(resume_ack_every(256 * KIB + 4), RESUME_ACK_MAX);
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
    /* Encoding clamps to the bounds. */
    ck_assert_uint_eq(resume_offer_encode(true, MIB, b), RESUME_OFFER_MAX);
    ck_assert_int_eq(resume_offer_check(b, RESUME_OFFER_MAX, &offer, &every), 0);
    ck_assert_uint_eq(every, RESUME_ACK_MAX);
    ck_assert_uint_eq(resume_offer_encode(true, 1, b), RESUME_OFFER_MAX);
    ck_assert_int_eq(resume_offer_check(b, RESUME_OFFER_MAX, &offer, &every), 0);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);

    /* An older agent's offer: empty field. */
    ck_assert_int_eq(resume_offer_check((const uint8_t *)"\x01\x01\x00", 3, &offer, &every), 0);
    ck_assert(offer);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);
    /* Out of bounds (1 MiB, which agents of D32's first version asked
     * for), or not 4 bytes: accepted, an ACK every 64 KiB. */
    ck_assert_int_eq(
        resume_offer_check((const uint8_t *)"\x01\x01\x04\x00\x10\x00\x00", 7, &offer, &every), 0);
    ck_assert_uint_eq(every, RESUME_ACK_MIN);
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
static void cadence(uint64_t cap_a, uint64_t cap_b, size_t every)
{
    const size_t n = 3 * every;
    uint8_t *d = malloc(n);
    struct pair p;

    ck_assert_ptr_nonnull(d);
    randombytes_buf(d, n);
    pair_init(&p, d, n, cap_a, d, 0, cap_b);
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
    cadence(4 * MIB, E2E_RESUME_MIN, RESUME_ACK_MAX);
}
END_TEST

START_TEST(test_cadence_small_buffer)
{
    cadence(E2E_RESUME_MIN, 4 * MIB, 64 * KIB);
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
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
