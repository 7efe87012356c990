/* SPDX-License-Identifier: MIT */
/*
 * Tests for the end of a resumable stream (docs/protocol.md §7.3, FINISHED
 * and "A finished stream"): the FINISHED record's rules in common/rec.c, who
 * is finished when in common/e2e.c, and the responder's kept state
 * (common/e2eresume.c) answering a resume with a leg that carries only the
 * RESUME records and FINISHED. Two sessions back to back in memory; a "leg"
 * is cut by dropping what is in flight.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "e2eresume.h"
#include "lrcheck.h"
#include "rec.h"
#include "resume.h"
#include "suite.h"

#define CAP (256u * 1024u)

#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE

/* ---- the record ------------------------------------------------------------------- */

struct raw {
    uint8_t key[REC_KEY_LEN];
    uint8_t hdr[REC_HEADER_LEN];
    crypto_secretstream_xchacha20poly1305_state st;
    struct rec_rx rx;
};

static void raw_init(struct raw *w, bool resumable)
{
    randombytes_buf(w->key, sizeof(w->key));
    crypto_secretstream_xchacha20poly1305_init_push(&w->st, w->hdr, w->key);
    ck_assert_int_eq(rec_rx_init(&w->rx, w->key, w->hdr), 0);
    if (resumable)
        ck_assert_int_eq(rec_rx_set_resumable(&w->rx), 0);
}

/* Seals type ‖ u64 v with a MESSAGE tag; what rec_rx_open says of it. */
static int raw_try(struct raw *w, uint8_t type, uint64_t v, uint64_t sent)
{
    uint8_t plain[9], body[64], out[64];
    unsigned long long blen = 0;
    struct rec_record r;

    plain[0] = type;
    for (int i = 8; i >= 1; i--, v >>= 8)
        plain[i] = (uint8_t)v;
    crypto_secretstream_xchacha20poly1305_push(&w->st, body, &blen, plain, 9, NULL, 0, TAG_MESSAGE);
    return rec_rx_open(&w->rx, body, (size_t)blen, sent, out, sizeof(out), &r);
}

START_TEST(test_finished_record_rules)
{
    struct raw w;
    struct rec_tx tx;
    uint8_t hdr[REC_HEADER_LEN], key[REC_KEY_LEN], out[64];
    size_t len;

    /* Sealed only by a resumable direction after its FINAL; nothing after it. */
    randombytes_buf(key, sizeof(key));
    ck_assert_int_eq(rec_tx_init(&tx, key, hdr), 0);
    ck_assert_int_eq(rec_tx_finished(&tx, 1, out, sizeof(out), &len), REC_E_ARG);
    rec_tx_done(&tx);
    ck_assert_int_eq(rec_tx_init(&tx, key, hdr), 0);
    ck_assert_int_eq(rec_tx_set_resumable(&tx), 0);
    ck_assert_int_eq(rec_tx_finished(&tx, 1, out, sizeof(out), &len), REC_E_ARG);
    ck_assert_int_eq(rec_tx_final(&tx, out, sizeof(out), &len), 0);
    ck_assert_int_eq(rec_tx_finished(&tx, 1, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, 2 + 9 + REC_ABYTES); /* as long as an ACK */
    ck_assert_int_eq(rec_tx_ack(&tx, 1, out, sizeof(out), &len), REC_E_ENDED);
    rec_tx_done(&tx);

    /* Received: after the sender's FINAL, acknowledging all we sent (+1). */
    raw_init(&w, true);
    ck_assert_int_eq(raw_try(&w, REC_FINISHED, 101, 101), REC_E_FINISHED); /* before FINAL */
    rec_rx_done(&w.rx);
    raw_init(&w, false);
    ck_assert_int_eq(raw_try(&w, REC_FINAL, 0, 101), REC_E_TAG); /* not resumable: FINAL tag */
    rec_rx_done(&w.rx);
    for (int delta = -1; delta <= 0; delta++) {
        raw_init(&w, true);
        ck_assert_int_eq(raw_try(&w, REC_FINAL, 0, 101), 0);
        ck_assert_int_eq(raw_try(&w, REC_ACK, 101, 101), 0);
        ck_assert_int_eq(raw_try(&w, REC_FINISHED, (uint64_t)(101 + delta), 101),
                         delta == 0 ? 0 : REC_E_FINISHED);
        if (delta == 0) {
            ck_assert_int_eq(w.rx.state, REC_RX_FINISHED);
            ck_assert_int_eq(rec_rx_eof(&w.rx), 0); /* a clean end */
            ck_assert_int_eq(raw_try(&w, REC_ACK, 101, 101), REC_E_AFTER_END);
        }
        rec_rx_done(&w.rx);
    }
}
END_TEST

/* ---- two sessions ----------------------------------------------------------------- */

struct side {
    struct e2e *s;
    size_t got;
    int final_ev, err_ev, resumed_ev;
};

struct pair {
    struct side a, b; /* a: initiator, b: responder */
};

/* Both sides offer `offer` (suite.h); pair_init: ChaCha20-Poly1305 only. */
static void pair_init_offer(struct pair *p, unsigned offer)
{
    uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], link[16];

    crypto_box_keypair(a_pub, a_priv);
    crypto_box_keypair(b_pub, b_priv);
    randombytes_buf(link, sizeof(link));
    memset(p, 0, sizeof(*p));
    p->a.s = calloc(1, sizeof(struct e2e));
    p->b.s = calloc(1, sizeof(struct e2e));
    ck_assert_int_eq(
        e2e_init_suites(p->a.s, E2E_INITIATOR, a_priv, NULL, NULL, b_pub, link, 3, CAP, offer), 0);
    ck_assert_int_eq(
        e2e_init_suites(p->b.s, E2E_RESPONDER, b_priv, NULL, NULL, a_pub, link, 3, CAP, offer), 0);
}

static void pair_init(struct pair *p)
{
    pair_init_offer(p, SUITE_OFFER_CHACHA);
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
        sd->resumed_ev += ev.type == E2E_EV_RESUMED;
    }
}

/* Everything in from's output crosses to `to` (dropped when drop). */
static size_t wire(struct side *from, struct side *to, bool drop)
{
    size_t n, took = 0;
    const uint8_t *q = e2e_out_peek(from->s, &n);

    if (n == 0)
        return 0;
    if (drop) {
        ck_assert_int_eq(e2e_out_consume(from->s, n), 0);
        return n;
    }
    ck_assert_int_eq(e2e_feed(to->s, q, n, &took), 0);
    ck_assert_int_eq(e2e_out_consume(from->s, took), 0);
    return took;
}

/* Runs until nothing moves; a direction marked drop loses what it carries. */
static void run(struct pair *p, bool drop_ab, bool drop_ba)
{
    size_t moved;

    do {
        moved = wire(&p->a, &p->b, drop_ab) + wire(&p->b, &p->a, drop_ba);
        drain(&p->a);
        drain(&p->b);
    } while (moved > 0);
}

static void send_all(struct side *sd, size_t n)
{
    static uint8_t buf[1000];
    size_t acc;

    ck_assert_uint_le(n, sizeof(buf));
    ck_assert_int_eq(e2e_send(sd->s, buf, n, &acc), 0);
    ck_assert_uint_eq(acc, n);
}

enum drop { DROP_NONE, DROP_AB, DROP_BA };

/* Data both ways; `first` ends its direction first, its FINAL acknowledged;
 * then the other ends its own, and the direction `drop` (a -> b, b -> a, or
 * none) loses everything from there on. */
static void end_lossy(struct pair *p, struct side *first, struct side *second, enum drop drop)
{
    run(p, false, false);
    send_all(&p->a, 700);
    send_all(&p->b, 500);
    run(p, false, false);
    ck_assert_int_eq(e2e_shutdown(first->s), 0);
    run(p, false, false);
    ck_assert_int_eq(e2e_shutdown(second->s), 0);
    run(p, drop == DROP_AB, drop == DROP_BA);
}

static uint32_t resume_ids(struct pair *p, const struct e2e_fin *fin)
{
    uint8_t id[RESUME_ID_LEN];
    uint32_t ea = 0, eb = 0;

    ck_assert_int_eq(e2e_resume_next(p->a.s, id, &ea), 0);
    if (fin != NULL)
        ck_assert_int_eq(e2e_fin_match(fin, id, &eb), 0);
    else
        ck_assert_int_eq(e2e_resume_match(p->b.s, id, &eb), 0);
    ck_assert_uint_eq(ea, eb);
    return ea;
}

START_TEST(test_initiator_waits_for_finished)
{
    struct pair p;

    /* b ends first; a's FINAL then makes b seal its ACK and FINISHED: b is
     * finished once they are out, a only once they came. */
    pair_init(&p);
    run(&p, false, false);
    send_all(&p.a, 700);
    send_all(&p.b, 500);
    run(&p, false, false);
    ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
    run(&p, false, false);
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    (void)wire(&p.a, &p.b, false);
    drain(&p.b);
    ck_assert(!e2e_finished(p.b.s)); /* FINISHED sealed, not yet taken */
    ck_assert(!e2e_finished(p.a.s));
    {
        size_t n;

        (void)e2e_out_peek(p.b.s, &n);
        ck_assert_uint_eq(n, 2 * (2 + 9 + REC_ABYTES)); /* ACK(701), FINISHED(701) */
    }
    (void)wire(&p.b, &p.a, false);
    drain(&p.a);
    ck_assert(e2e_finished(p.a.s) && e2e_finished(p.b.s));
    ck_assert_uint_eq(p.a.got, 500);
    ck_assert_uint_eq(p.b.got, 700);
    ck_assert_int_eq(p.a.err_ev + p.b.err_ev, 0);
    ck_assert_int_eq(e2e_leg_lost(p.a.s), 0); /* finished: the leg's end is no loss */
    side_free(&p.a);
    side_free(&p.b);

    /* a ends first: the last record is still b's FINISHED. */
    pair_init(&p);
    end_lossy(&p, &p.a, &p.b, DROP_NONE);
    ck_assert(e2e_finished(p.a.s) && e2e_finished(p.b.s));
    ck_assert_int_eq(p.a.err_ev + p.b.err_ev, 0);
    side_free(&p.a);
    side_free(&p.b);
}
END_TEST

/* The responder finished; its ACK of a's FINAL and FINISHED are lost. It
 * keeps only its e2e_fin, the session goes, and a restored one answers the
 * initiator's resume with RESUME and FINISHED: both end cleanly. */
START_TEST(test_finished_responder_answers)
{
    struct pair p;
    struct e2e_fin fin, again;
    uint32_t epoch;

    /* _i 0: ChaCha20-Poly1305; 1: AES-256-GCM, which the kept state must
     * remember (the resumed epoch keys the suite the handshake chose). */
    pair_init_offer(&p, _i ? SUITE_OFFER_ALL : SUITE_OFFER_CHACHA);
    end_lossy(&p, &p.b, &p.a, DROP_BA); /* b's FINAL first; then a's, whose answers are lost */
    ck_assert(e2e_finished(p.b.s));
    ck_assert(!e2e_finished(p.a.s));
    ck_assert_int_eq(e2e_record_suite(p.a.s),
                     _i ? REC_SUITE_AES256_GCM : REC_SUITE_CHACHA20_POLY1305);
    ck_assert_int_eq(e2e_fin_save(p.a.s, &fin), E2E_E_RESUME); /* an initiator keeps none */
    ck_assert_int_eq(e2e_fin_save(p.b.s, &fin), 0);
    ck_assert_int_eq(fin.suite, e2e_record_suite(p.a.s));
    ck_assert_uint_eq(fin.sent, 500);
    ck_assert_uint_eq(fin.received, 700);
    ck_assert_uint_eq(fin.epoch, 0);
    e2e_done(p.b.s);
    ck_assert_int_eq(e2e_leg_lost(p.a.s), 1);

    ck_assert_int_eq(e2e_fin_restore(p.b.s, &fin), 0);
    p.b.got = 0; /* what the restored session delivers: nothing */
    p.b.final_ev = 0;
    ck_assert(e2e_suspended(p.b.s));
    ck_assert_uint_eq(e2e_send_space(p.b.s), 0); /* its FINAL went long ago */
    epoch = resume_ids(&p, &fin);
    ck_assert_uint_eq(epoch, 1);
    ck_assert_int_eq(e2e_resume_start(p.a.s, epoch), 0);
    ck_assert_int_eq(e2e_resume_start(p.b.s, epoch), 0);
    run(&p, false, false);
    ck_assert(e2e_finished(p.a.s) && e2e_finished(p.b.s));
    ck_assert_int_eq(p.a.err_ev + p.b.err_ev, 0);
    ck_assert_uint_eq(p.a.got, 500); /* nothing delivered twice, no FINAL told twice */
    ck_assert_uint_eq(p.b.got, 0);
    ck_assert_int_eq(p.a.final_ev, 1);
    ck_assert_int_eq(p.b.final_ev, 0);
    ck_assert_int_eq(e2e_resume_held(p.b.s), 0);

    /* Kept again: epoch 1 is spent, its id no longer matches; epoch 2's does. */
    ck_assert_int_eq(e2e_fin_save(p.b.s, &again), 0);
    ck_assert_uint_eq(again.epoch, 1);
    {
        uint8_t id[RESUME_ID_LEN];
        uint32_t e;

        resume_id(fin.rk, 1, id);
        ck_assert_int_eq(e2e_fin_match(&again, id, &e), E2E_E_RESUME);
        resume_id(fin.rk, 2, id);
        ck_assert_int_eq(e2e_fin_match(&again, id, &e), 0);
        ck_assert_uint_eq(e, 2);
    }
    e2e_fin_wipe(&fin);
    e2e_fin_wipe(&again);
    side_free(&p.a);
    side_free(&p.b);
}
END_TEST

/* The initiator would have finished first: its ACK of b's FINAL is lost. b
 * lacks the ACK of its FINAL and is not finished (it keeps nothing, it
 * suspends); a lacks FINISHED, suspends and resumes; both end cleanly. */
START_TEST(test_finished_initiator_resumes)
{
    struct pair p;
    struct e2e_fin fin;
    uint32_t epoch;

    pair_init(&p);
    end_lossy(&p, &p.a, &p.b, DROP_AB);
    ck_assert(!e2e_finished(p.a.s) && !e2e_finished(p.b.s));
    ck_assert_int_eq(e2e_fin_save(p.b.s, &fin), E2E_E_RESUME); /* its FINAL unacknowledged */
    ck_assert_int_eq(e2e_leg_lost(p.a.s), 1);
    ck_assert_int_eq(e2e_leg_lost(p.b.s), 1);
    epoch = resume_ids(&p, NULL);
    ck_assert_int_eq(e2e_resume_start(p.a.s, epoch), 0);
    ck_assert_int_eq(e2e_resume_start(p.b.s, epoch), 0);
    run(&p, false, false);
    ck_assert(e2e_finished(p.a.s) && e2e_finished(p.b.s));
    ck_assert_int_eq(p.a.err_ev + p.b.err_ev, 0);
    ck_assert_uint_eq(p.a.got, 500);
    ck_assert_uint_eq(p.b.got, 700);
    side_free(&p.a);
    side_free(&p.b);
}
END_TEST

/* FINISHED is lost on the restored session's leg too: the responder keeps
 * the stream again and answers the next epoch. */
START_TEST(test_finished_lost_twice)
{
    struct pair p;
    struct e2e_fin fin;
    uint32_t epoch;

    pair_init(&p);
    end_lossy(&p, &p.b, &p.a, DROP_BA);
    ck_assert_int_eq(e2e_fin_save(p.b.s, &fin), 0);
    ck_assert_int_eq(e2e_leg_lost(p.a.s), 1);
    for (int leg = 1; leg <= 2; leg++) {
        e2e_done(p.b.s);
        ck_assert_int_eq(e2e_fin_restore(p.b.s, &fin), 0);
        epoch = resume_ids(&p, &fin);
        ck_assert_uint_eq(epoch, (uint32_t)leg);
        ck_assert_int_eq(e2e_resume_start(p.a.s, epoch), 0);
        ck_assert_int_eq(e2e_resume_start(p.b.s, epoch), 0);
        run(&p, false, leg == 1); /* leg 1: b's RESUME and FINISHED lost */
        if (leg == 1) {
            ck_assert(!e2e_finished(p.a.s));
            ck_assert_int_eq(e2e_leg_lost(p.a.s), 1);
            ck_assert_int_eq(e2e_leg_lost(p.b.s), 1);
            ck_assert_int_eq(e2e_fin_save(p.b.s, &fin), 0);
            ck_assert_uint_eq(fin.epoch, 1);
        }
    }
    ck_assert(e2e_finished(p.a.s) && e2e_finished(p.b.s));
    ck_assert_int_eq(p.a.err_ev + p.b.err_ev, 0);
    e2e_fin_wipe(&fin);
    side_free(&p.a);
    side_free(&p.b);
}
END_TEST

START_TEST(test_fin_restore_bounds)
{
    struct e2e_fin fin;
    struct e2e *s = calloc(1, sizeof(*s));

    memset(&fin, 0, sizeof(fin));
    fin.cap = E2E_RESUME_MIN - 1;
    ck_assert_int_eq(e2e_fin_restore(s, &fin), E2E_E_ARG);
    fin.cap = E2E_RESUME_MIN;
    fin.received = UINT64_MAX; /* its ACK (total + 1) would wrap */
    ck_assert_int_eq(e2e_fin_restore(s, &fin), E2E_E_ARG);
    fin.received = 0;
    ck_assert_int_eq(e2e_fin_restore(s, &fin), 0);
    ck_assert(e2e_suspended(s) && e2e_resumable(s));
    e2e_done(s);
    free(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_finished");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_finished_record_rules);
    tcase_add_test(tc, test_initiator_waits_for_finished);
    tcase_add_loop_test(tc, test_finished_responder_answers, 0, 2);
    tcase_add_test(tc, test_finished_initiator_resumes);
    tcase_add_test(tc, test_finished_lost_twice);
    tcase_add_test(tc, test_fin_restore_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
