/* SPDX-License-Identifier: MIT */
/*
 * Tests for kept legs in the e2e session (docs/protocol.md §7.5, D48): the
 * keep_leg item is negotiated only when both HELLOs carry it, and once a
 * stream on a kept leg has read the peer's last record (its FINAL; on a
 * resumable stream FINISHED for the initiator, the initiator's ACK of our
 * FINAL for the responder) the bytes behind it are left unprocessed
 * (e2e_in_rest) for the next stream, whose responder takes them as its first
 * handshake frame. Two sessions back to back in memory.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "lrcheck.h"
#include "suite.h"

#define CAP (256u * 1024u)

struct side {
    struct e2e *s;
    size_t got;
    int final_ev, err_ev;
};

static uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], link_id[16];

static void keys(void)
{
    crypto_box_keypair(a_pub, a_priv);
    crypto_box_keypair(b_pub, b_priv);
    randombytes_buf(link_id, sizeof(link_id));
}

static void side_init(struct side *sd, enum e2e_role role, uint64_t cap, unsigned offer)
{
    memset(sd, 0, sizeof(*sd));
    sd->s = calloc(1, sizeof(struct e2e));
    ck_assert_ptr_nonnull(sd->s);
    ck_assert_int_eq(e2e_init_suites(sd->s, role, role == E2E_INITIATOR ? a_priv : b_priv, NULL,
                                     NULL, role == E2E_INITIATOR ? b_pub : a_pub, link_id, 9, cap,
                                     offer),
                     0);
}

static void side_free(struct side *sd)
{
    e2e_done(sd->s);
    free(sd->s);
}

static void drain(struct side *sd)
{
    struct e2e_event ev;
    const uint8_t *q;
    size_t n;

    while ((q = e2e_plain_peek(sd->s, &n)) != NULL && n > 0) {
        sd->got += n;
        ck_assert_int_eq(e2e_plain_consume(sd->s, n), 0);
    }
    while (e2e_next_event(sd->s, &ev) == 1) {
        sd->final_ev += ev.type == E2E_EV_PEER_FINAL;
        sd->err_ev += ev.type == E2E_EV_ERROR;
    }
}

static size_t wire(struct side *from, struct side *to)
{
    size_t n, took = 0;
    const uint8_t *q = e2e_out_peek(from->s, &n);

    if (n == 0)
        return 0;
    ck_assert_int_eq(e2e_feed(to->s, q, n, &took), 0);
    ck_assert_int_eq(e2e_out_consume(from->s, took), 0);
    return took;
}

static void run(struct side *a, struct side *b)
{
    size_t moved;

    do {
        moved = wire(a, b) + wire(b, a);
        drain(a);
        drain(b);
    } while (moved > 0);
}

/* A whole stream: data both ways, both FINALs, finished on both sides. */
static void one_stream(struct side *a, struct side *b)
{
    static const uint8_t data[300];
    size_t acc;

    run(a, b);
    ck_assert(e2e_handshake_done(a->s) && e2e_handshake_done(b->s));
    ck_assert_int_eq(e2e_send(a->s, data, sizeof(data), &acc), 0);
    ck_assert_int_eq(e2e_send(b->s, data, 200, &acc), 0);
    run(a, b);
    ck_assert_int_eq(e2e_shutdown(b->s), 0); /* the responder ends first */
    run(a, b);
    ck_assert_int_eq(e2e_shutdown(a->s), 0);
    run(a, b);
    ck_assert(e2e_finished(a->s) && e2e_finished(b->s));
    ck_assert_uint_eq(a->got, 200);
    ck_assert_uint_eq(b->got, sizeof(data));
}

/* Negotiated only when both HELLOs carry the item and the stream is
 * resumable (i & 4: both offer resumption; one offering it is not enough):
 * only a resumable stream's end proves the peer has every byte (D48). */
START_TEST(test_keep_needs_both)
{
    struct side a, b;
    unsigned k = SUITE_OFFER_KEEP_LEG;

    keys();
    for (int i = 0; i < 12; i++) {
        uint64_t cap_a = (i & 4) || i >= 8 ? CAP : 0, cap_b = (i & 4) ? CAP : 0;

        side_init(&a, E2E_INITIATOR, cap_a, SUITE_OFFER_CHACHA | ((i & 1) ? k : 0));
        side_init(&b, E2E_RESPONDER, cap_b, SUITE_OFFER_CHACHA | ((i & 2) ? k : 0));
        run(&a, &b);
        ck_assert(e2e_handshake_done(a.s) && e2e_handshake_done(b.s));
        ck_assert(e2e_keep(a.s) == (i == 7));
        ck_assert(e2e_keep(b.s) == (i == 7));
        side_free(&a);
        side_free(&b);
    }
}
END_TEST

/* share_leg (D58) is negotiated only on top of keep_leg, with both HELLOs
 * carrying both items (i & 1: a offers share_leg, i & 2: b does; i & 4:
 * both offer keep_leg; all resumable). */
START_TEST(test_share_needs_keep_and_both)
{
    struct side a, b;
    unsigned s = SUITE_OFFER_SHARE_LEG;

    keys();
    for (int i = 0; i < 8; i++) {
        unsigned k = (i & 4) ? SUITE_OFFER_KEEP_LEG : 0;

        side_init(&a, E2E_INITIATOR, CAP, SUITE_OFFER_CHACHA | k | ((i & 1) ? s : 0));
        side_init(&b, E2E_RESPONDER, CAP, SUITE_OFFER_CHACHA | k | ((i & 2) ? s : 0));
        run(&a, &b);
        ck_assert(e2e_handshake_done(a.s) && e2e_handshake_done(b.s));
        ck_assert(e2e_keep(a.s) == ((i & 4) != 0));
        ck_assert(e2e_share(a.s) == (i == 7));
        ck_assert(e2e_share(b.s) == (i == 7));
        side_free(&a);
        side_free(&b);
    }
}
END_TEST

/*
 * Two streams on one "leg": the second initiator's first frame arrives at
 * the first responder behind the first stream's last record (loop 1:
 * resumable, whose last record from the initiator is its ACK of the
 * responder's FINAL). The first responder stays finished, without an
 * error, the frame sits in e2e_in_rest, and a new responder fed with it
 * runs the second stream. Without the item (loop 2), and with it on a
 * stream that is not resumable (loop 0: a FINAL in the sender's own buffer
 * does not prove delivery, so such a leg is never kept, D48), those bytes
 * are a record error, as before D48.
 */
START_TEST(test_keep_next_stream_rest)
{
    unsigned offer = SUITE_OFFER_CHACHA | (_i < 2 ? SUITE_OFFER_KEEP_LEG : 0);
    uint64_t cap = _i == 1 ? CAP : 0;
    struct side a, b, a2, b2;
    const uint8_t *q, *rest;
    size_t n, took = 0, rn = 0;

    keys();
    side_init(&a, E2E_INITIATOR, cap, offer);
    side_init(&b, E2E_RESPONDER, cap, offer);
    one_stream(&a, &b);
    ck_assert(e2e_resumable(a.s) == (_i == 1));
    side_init(&a2, E2E_INITIATOR, cap, offer);
    q = e2e_out_peek(a2.s, &n);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(e2e_feed(b.s, q, n, &took), 0);
    drain(&b);
    if (_i != 1) {
        ck_assert(!e2e_keep(a.s) && !e2e_keep(b.s));
        ck_assert_int_eq(b.err_ev, 1); /* not kept: after the end, a record error */
        goto out;
    }
    ck_assert_uint_eq(took, n);
    ck_assert_int_eq(b.err_ev, 0);
    ck_assert(e2e_finished(b.s) && !e2e_dead(b.s));
    rest = e2e_in_rest(b.s, &rn);
    ck_assert_uint_eq(rn, n);
    ck_assert(memcmp(rest, q, n) == 0);
    ck_assert_int_eq(e2e_out_consume(a2.s, n), 0);
    side_init(&b2, E2E_RESPONDER, cap, offer);
    ck_assert_int_eq(e2e_feed(b2.s, rest, rn, &took), 0);
    ck_assert_uint_eq(took, rn);
    one_stream(&a2, &b2);
    ck_assert(e2e_keep(a2.s) && e2e_keep(b2.s));
    /* The initiator's side too: nothing follows the responder's last
     * record, and a byte that does is left, not taken as a record. */
    ck_assert_int_eq(e2e_feed(a2.s, (const uint8_t *)"\x00\x05zzzzz", 7, &took), 0);
    drain(&a2);
    ck_assert_int_eq(a2.err_ev, 0);
    (void)e2e_in_rest(a2.s, &rn);
    ck_assert_uint_eq(rn, 7);
    side_free(&b2);
out:
    side_free(&a2);
    side_free(&a);
    side_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_keep");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_keep_needs_both);
    tcase_add_test(tc, test_share_needs_keep_and_both);
    tcase_add_loop_test(tc, test_keep_next_stream_rest, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
