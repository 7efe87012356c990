/* SPDX-License-Identifier: MIT */
/*
 * Tests for link sessions (common/e2els.c and its hooks in e2e.c;
 * docs/protocol.md §7.4, design.md D46): a KK whose two HELLOs carry the
 * link_session item makes a session on both sides; the next streams are
 * keyed by it with two frames and no X25519; tampered, foreign, unknown and
 * replayed frames are refused; resumption works on a keyed stream; the
 * store's limits hold at the limit.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "e2els.h"
#include "frame.h"
#include "lrcheck.h"
#include "suite.h"

#define CAP (256u * 1024u)

struct peer {
    uint8_t priv[32], pub[32];
    struct e2els_store st;
};

struct link {
    struct peer x, y; /* the link's two agents */
    uint8_t id[16];
};

struct end {
    struct e2e *s;
    int ev[8];
    int err, detail;
    uint8_t got[4096];
    size_t got_len;
};

static void link_init(struct link *l)
{
    memset(l, 0, sizeof(*l));
    crypto_box_keypair(l->x.pub, l->x.priv);
    crypto_box_keypair(l->y.pub, l->y.priv);
    randombytes_buf(l->id, sizeof(l->id));
}

/* A stream of the link: `from` initiates, `to` responds; stores NULL for a
 * side without link sessions. */
static void open_stream(struct end *i, struct end *r, struct peer *from, struct peer *to,
                        struct e2els_store *si, struct e2els_store *sr, const uint8_t link_id[16],
                        uint64_t stream, unsigned offer_i, unsigned offer_r)
{
    memset(i, 0, sizeof(*i));
    memset(r, 0, sizeof(*r));
    i->s = calloc(1, sizeof(struct e2e));
    r->s = calloc(1, sizeof(struct e2e));
    ck_assert_ptr_nonnull(i->s);
    ck_assert_ptr_nonnull(r->s);
    ck_assert_int_eq(e2e_init_ls(i->s, E2E_INITIATOR, from->priv, NULL, NULL, to->pub, link_id,
                                 stream, CAP, offer_i, si),
                     0);
    ck_assert_int_eq(e2e_init_ls(r->s, E2E_RESPONDER, to->priv, NULL, NULL, from->pub, link_id,
                                 stream, CAP, offer_r, sr),
                     0);
}

static void end_free(struct end *e)
{
    e2e_done(e->s);
    free(e->s);
}

static void events(struct end *e)
{
    struct e2e_event ev;

    while (e2e_next_event(e->s, &ev) == 1) {
        e->ev[ev.type]++;
        if (ev.type == E2E_EV_ERROR)
            e->err = ev.err, e->detail = ev.detail;
    }
}

/* All of from's output to `to`; returns the bytes moved. */
static size_t move(struct end *from, struct end *to)
{
    size_t n, took = 0;
    const uint8_t *q = e2e_out_peek(from->s, &n);

    if (n == 0 || e2e_dead(to->s))
        return 0;
    (void)e2e_feed(to->s, q, n, &took);
    ck_assert_int_eq(e2e_out_consume(from->s, took), 0);
    events(to);
    events(from);
    return took;
}

static void deliver(struct end *e)
{
    size_t n;
    const uint8_t *q = e2e_plain_peek(e->s, &n);

    if (n == 0)
        return;
    ck_assert_uint_le(e->got_len + n, sizeof(e->got));
    memcpy(e->got + e->got_len, q, n);
    e->got_len += n;
    ck_assert_int_eq(e2e_plain_consume(e->s, n), 0);
}

static void shuttle(struct end *a, struct end *b)
{
    while (move(a, b) + move(b, a) > 0) {
        deliver(a);
        deliver(b);
    }
    deliver(a);
    deliver(b);
}

/* Data both ways arrives intact. */
static void check_data(struct end *a, struct end *b)
{
    size_t acc, la = a->got_len, lb = b->got_len;

    ck_assert_int_eq(e2e_send(a->s, (const uint8_t *)"ping", 4, &acc), 0);
    ck_assert_uint_eq(acc, 4);
    ck_assert_int_eq(e2e_send(b->s, (const uint8_t *)"pong!", 5, &acc), 0);
    ck_assert_uint_eq(acc, 5);
    shuttle(a, b);
    ck_assert_uint_eq(b->got_len, lb + 4);
    ck_assert(memcmp(b->got + lb, "ping", 4) == 0);
    ck_assert_uint_eq(a->got_len, la + 5);
    ck_assert(memcmp(a->got + la, "pong!", 5) == 0);
    ck_assert_int_eq(a->ev[E2E_EV_ERROR] + b->ev[E2E_EV_ERROR], 0);
}

/* Whether a store keys a new stream (on a copy: nothing counted). */
static bool may_key(const struct e2els_store *st)
{
    struct e2els_store t = *st;
    struct e2els_hs h;
    bool keyed = e2els_begin(&t, &h) == 1;

    e2els_hs_wipe(&h);
    sodium_memzero(&t, sizeof(t));
    return keyed;
}

/* The first stream of the link: a KK that makes a session on both sides. */
static void first_kk(struct link *l, unsigned offer)
{
    struct end a, b;

    e2els_store_tick(&l->x.st, 1000);
    e2els_store_tick(&l->y.st, 1000);
    open_stream(&a, &b, &l->x, &l->y, &l->x.st, &l->y.st, l->id, 1, offer, offer);
    ck_assert(!e2e_ls_keyed(a.s));
    ck_assert_int_eq(move(&a, &b), 32 + 2 + 16 + 7 + 2 + (offer != SUITE_OFFER_CHACHA ? 3 : 0) +
                                       (offer & SUITE_OFFER_STREAM_ACK ? 2 : 0));
    /* b sent message 2: it answers with the session, keys nothing with it. */
    ck_assert_uint_eq(e2els_store_count(&l->y.st), 1);
    ck_assert(!may_key(&l->y.st));
    /* b's answer (message 2), then b's header: a has read message 2. */
    ck_assert_uint_gt(move(&b, &a), 0);
    ck_assert_uint_eq(e2els_store_count(&l->x.st), 1);
    ck_assert(may_key(&l->x.st));
    ck_assert(!may_key(&l->y.st));
    ck_assert_uint_gt(move(&a, &b), 0); /* a's header: b knows a holds it */
    ck_assert_uint_eq(e2els_store_count(&l->y.st), 1);
    ck_assert(may_key(&l->y.st));
    ck_assert(sodium_memcmp(l->x.st.s[0].id, l->y.st.s[0].id, E2ELS_ID_LEN) == 0);
    ck_assert(sodium_memcmp(l->x.st.s[0].key, l->y.st.s[0].key, E2ELS_KEY_LEN) == 0);
    check_data(&a, &b);
    ck_assert_uint_eq(l->x.st.kk + l->y.st.kk, 2);
    end_free(&a);
    end_free(&b);
}

static void keyed_round_trip(unsigned offer)
{
    struct link l;
    struct end a, b;

    link_init(&l);
    first_kk(&l, offer);
    /* Both directions, several streams: each keyed by the session. */
    for (uint64_t k = 2; k < 6; k++) {
        struct peer *from = k % 2 == 0 ? &l.x : &l.y, *to = k % 2 == 0 ? &l.y : &l.x;
        size_t n;

        open_stream(&a, &b, from, to, &from->st, &to->st, l.id, k, offer, offer);
        ck_assert(e2e_ls_keyed(a.s));
        (void)e2e_out_peek(a.s, &n);
        ck_assert_uint_ge(n, 2 + E2ELS_I_OVERHEAD);
        ck_assert_uint_eq(e2e_out_peek(a.s, &n)[0] & 0x80, 0x80);
        shuttle(&a, &b);
        ck_assert(e2e_ls_keyed(b.s));
        ck_assert(e2e_handshake_done(a.s) && e2e_handshake_done(b.s));
        ck_assert_int_eq(e2e_record_suite(a.s), suite_choose(offer, offer));
        ck_assert_int_eq(e2e_record_suite(b.s), suite_choose(offer, offer));
        ck_assert(e2e_resumable(a.s) && e2e_resumable(b.s));
        ck_assert_int_eq(e2e_oob(a.s), (offer & SUITE_OFFER_STREAM_ACK) != 0);
        check_data(&a, &b);
        /* A keyed stream makes no new session. */
        ck_assert_uint_eq(e2els_store_count(&l.x.st), 1);
        ck_assert_uint_eq(e2els_store_count(&l.y.st), 1);
        end_free(&a);
        end_free(&b);
    }
    ck_assert_uint_eq(l.x.st.keyed, 4);
    ck_assert_uint_eq(l.y.st.keyed, 4);
    ck_assert_uint_eq(l.x.st.kk + l.y.st.kk, 2);
}

START_TEST(test_keyed_round_trip)
{
    keyed_round_trip(SUITE_OFFER_CHACHA);
    keyed_round_trip(SUITE_OFFER_ALL);
    keyed_round_trip(SUITE_OFFER_ALL | SUITE_OFFER_STREAM_ACK);
}
END_TEST

/* No session unless both HELLOs carry the item: a side without a store
 * (an older agent, or link sessions off) never sends it. */
START_TEST(test_no_session_without_item)
{
    struct link l;
    struct end a, b;

    for (int side = 0; side < 2; side++) {
        link_init(&l);
        open_stream(&a, &b, &l.x, &l.y, side == 0 ? &l.x.st : NULL, side == 1 ? &l.y.st : NULL,
                    l.id, 1, SUITE_OFFER_CHACHA, SUITE_OFFER_CHACHA);
        shuttle(&a, &b);
        check_data(&a, &b);
        ck_assert_uint_eq(e2els_store_count(&l.x.st) + e2els_store_count(&l.y.st), 0);
        end_free(&a);
        end_free(&b);
    }
}
END_TEST

/* Every single-byte change of either frame is refused: no handshake, the
 * side that got it fails (at the latest when the leg ends). */
START_TEST(test_tamper_refused)
{
    struct link l;
    struct end a, b;
    struct e2els_store sx, sy;
    uint8_t f[2][FRAME_HDR_LEN + FRAME_MAX_HANDSHAKE];
    size_t fl[2], took;

    link_init(&l);
    first_kk(&l, SUITE_OFFER_ALL);
    sx = l.x.st;
    sy = l.y.st;
    /* The two frames of a good handshake, to know their lengths. */
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 9, SUITE_OFFER_ALL, SUITE_OFFER_ALL);
    (void)e2e_out_peek(a.s, &fl[0]);
    memcpy(f[0], e2e_out_peek(a.s, &took), fl[0]);
    (void)move(&a, &b);
    fl[1] = 2 + ((size_t)(e2e_out_peek(b.s, &took)[0] & 0x7f) << 8) + e2e_out_peek(b.s, &took)[1];
    memcpy(f[1], e2e_out_peek(b.s, &took), fl[1]);
    end_free(&a);
    end_free(&b);
    for (int which = 0; which < 2; which++) {
        for (size_t i = 0; i < fl[which]; i++) {
            struct end *victim;
            uint8_t t[sizeof(f[0])];

            l.x.st = sx;
            l.y.st = sy;
            open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 9, SUITE_OFFER_ALL,
                        SUITE_OFFER_ALL);
            if (which == 1) /* b answers a's good frame */
                (void)move(&a, &b);
            victim = which == 0 ? &b : &a;
            memcpy(t, which == 0 ? e2e_out_peek(a.s, &took) : e2e_out_peek(b.s, &took), fl[which]);
            t[i] ^= 0x01;
            (void)e2e_feed(victim->s, t, fl[which], &took);
            e2e_eof(victim->s);
            events(victim);
            ck_assert_msg(victim->ev[E2E_EV_HANDSHAKE] == 0, "frame %d byte %zu", which, i);
            ck_assert_msg(e2e_dead(victim->s), "frame %d byte %zu", which, i);
            end_free(&a);
            end_free(&b);
        }
    }
}
END_TEST

/* The frames' functions themselves: every byte of either body changed is
 * refused (-EBADMSG, or -ENOENT for the id), and the HELLO is not handed out. */
START_TEST(test_frame_functions_refuse)
{
    struct e2els_store st;
    struct e2els_hs i, r, r2, i2;
    uint8_t hello[9] = {1, 1, 6, 0, 1, 0, 0, 2, 0}, out[128], t[128], got[64];
    size_t bi, br, n;

    memset(&st, 0, sizeof(st));
    e2els_store_tick(&st, 1);
    memset(&i, 0, sizeof(i));
    memset(i.key, 0x33, sizeof(i.key));
    memset(i.id, 0x44, sizeof(i.id));
    memset(i.prologue, 0x55, sizeof(i.prologue));
    e2els_store_add(&st, i.key, i.id);
    i.mode = E2ELS_KEYED;
    ck_assert_int_eq(e2els_write_i(&i, hello, sizeof(hello), out, sizeof(out), &bi), 0);
    ck_assert_uint_eq(bi, sizeof(hello) + E2ELS_I_OVERHEAD);
    for (size_t k = 0; k < bi; k++) {
        memcpy(t, out, bi);
        t[k] ^= 0x80;
        memset(&r2, 0, sizeof(r2));
        memcpy(r2.prologue, i.prologue, sizeof(r2.prologue));
        memset(got, 0xee, sizeof(got));
        ck_assert_int_eq(e2els_read_i(&r2, &st, t, bi, got, sizeof(got), &n),
                         k < E2ELS_ID_LEN ? -ENOENT : -EBADMSG);
        ck_assert_int_ne(r2.mode, E2ELS_KEYED);
        ck_assert_uint_ne(got[0], hello[0]); /* not the HELLO */
    }
    ck_assert_int_eq(e2els_read_i(&r2, &st, out, bi - 1, got, sizeof(got), &n), -EBADMSG);
    memset(&r, 0, sizeof(r));
    memcpy(r.prologue, i.prologue, sizeof(r.prologue));
    ck_assert_int_eq(e2els_read_i(&r, &st, out, bi, got, sizeof(got), &n), 0);
    ck_assert(n == sizeof(hello) && memcmp(got, hello, n) == 0);
    ck_assert_int_eq(e2els_write_r(&r, hello, sizeof(hello), out, sizeof(out), &br), 0);
    for (size_t k = 0; k < br; k++) {
        i2 = i;
        memcpy(t, out, br);
        t[k] ^= 0x01;
        memset(got, 0xee, sizeof(got));
        ck_assert_int_eq(e2els_read_r(&i2, t, br, got, sizeof(got), &n), -EBADMSG);
        ck_assert_uint_ne(got[0], hello[0]); /* not the HELLO */
    }
    ck_assert_int_eq(e2els_read_r(&i, out, br, got, sizeof(got), &n), 0);
    ck_assert(sodium_memcmp(i.h, r.h, sizeof(i.h)) == 0);
    e2els_hs_wipe(&i);
    e2els_hs_wipe(&r);
}
END_TEST

/* The responder holds no session of that id: E2E_E_SESSION, counted; the
 * initiator's leg ends: E2E_E_SESSION, its session dropped, and its next
 * stream runs the KK that makes a new one. */
START_TEST(test_unknown_id_refused)
{
    struct link l;
    struct end a, b;

    link_init(&l);
    first_kk(&l, SUITE_OFFER_CHACHA);
    e2els_store_clear(&l.y.st);
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 2, 0, 0);
    ck_assert(e2e_ls_keyed(a.s));
    (void)move(&a, &b);
    ck_assert(e2e_dead(b.s));
    ck_assert_int_eq(b.err, E2E_E_SESSION);
    ck_assert_uint_eq(l.y.st.refused, 1);
    e2e_eof(a.s); /* b's agent closed the leg */
    events(&a);
    ck_assert_int_eq(a.err, E2E_E_SESSION);
    ck_assert_uint_eq(l.x.st.failed, 1);
    ck_assert_uint_eq(e2els_store_count(&l.x.st), 0);
    end_free(&a);
    end_free(&b);
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 3, 0, 0);
    ck_assert(!e2e_ls_keyed(a.s));
    shuttle(&a, &b);
    check_data(&a, &b);
    ck_assert_uint_eq(e2els_store_count(&l.x.st), 1);
    ck_assert_uint_eq(e2els_store_count(&l.y.st), 1);
    end_free(&a);
    end_free(&b);
}
END_TEST

/* The responder's stream ends after it sent message 2, before the
 * initiator's header (its local target refused, say): the initiator holds
 * the session and keys its next stream with it; the responder answers it
 * (it kept the session for answers), and keys its own streams with it only
 * once it knows the initiator holds it: a stream keyed by it proves that. */
START_TEST(test_responder_gone_before_header)
{
    struct link l;
    struct end a, b;

    link_init(&l);
    e2els_store_tick(&l.x.st, 1000);
    e2els_store_tick(&l.y.st, 1000);
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 1, 0, 0);
    (void)move(&a, &b);
    (void)move(&b, &a);
    ck_assert(e2e_handshake_done(a.s) && may_key(&l.x.st));
    ck_assert_int_eq(e2e_reset(b.s, REC_RESET_CONNECT_FAILED, "refused"), 0);
    end_free(&b); /* a's header never reaches it */
    end_free(&a);
    ck_assert(!may_key(&l.y.st));
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 2, 0, 0);
    ck_assert(e2e_ls_keyed(a.s));
    shuttle(&a, &b);
    check_data(&a, &b);
    ck_assert(e2e_ls_keyed(b.s));
    ck_assert_uint_eq(l.y.st.refused, 0);
    ck_assert(may_key(&l.y.st));
    end_free(&a);
    end_free(&b);
}
END_TEST

/* The prologue binds the stream id and the link id. */
START_TEST(test_wrong_stream_or_link_refused)
{
    struct link l;
    struct end a, b;
    uint8_t other[16];

    link_init(&l);
    first_kk(&l, SUITE_OFFER_CHACHA);
    memcpy(other, l.id, sizeof(other));
    other[15] ^= 1;
    for (int k = 0; k < 2; k++) {
        struct e2els_store sx = l.x.st;

        open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 5, 0, 0);
        e2e_done(b.s);
        ck_assert_int_eq(e2e_init_ls(b.s, E2E_RESPONDER, l.y.priv, NULL, NULL, l.x.pub,
                                     k == 0 ? l.id : other, k == 0 ? 6 : 5, CAP, 0, &l.y.st),
                         0);
        (void)move(&a, &b);
        ck_assert(e2e_dead(b.s));
        ck_assert_int_eq(b.err, E2E_E_HANDSHAKE);
        ck_assert_int_eq(b.ev[E2E_EV_HANDSHAKE], 0);
        end_free(&a);
        end_free(&b);
        l.x.st = sx;
    }
}
END_TEST

/* A relay that replays the initiator's frame onto a second responder gets
 * a fresh answer and other keys: the first stream's records do not open. */
START_TEST(test_replayed_frame)
{
    struct link l;
    struct end a, b, b2, unused;
    struct e2els_store sy;
    uint8_t f[FRAME_HDR_LEN + FRAME_MAX_HANDSHAKE], hdr[REC_HEADER_LEN], out[4096];
    uint8_t r1[E2ELS_NONCE_LEN];
    size_t fl, n, took;

    link_init(&l);
    first_kk(&l, SUITE_OFFER_CHACHA);
    sy = l.y.st;
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 4, 0, 0);
    (void)e2e_out_peek(a.s, &fl);
    memcpy(f, e2e_out_peek(a.s, &took), fl);
    (void)move(&a, &b);
    memcpy(r1, e2e_out_peek(b.s, &n) + FRAME_HDR_LEN, sizeof(r1)); /* b's n_r */
    (void)move(&b, &a);
    ck_assert_ptr_nonnull(e2e_out_peek(a.s, &n));
    ck_assert_uint_eq(n, REC_HEADER_LEN);
    memcpy(hdr, e2e_out_peek(a.s, &n), sizeof(hdr));
    shuttle(&a, &b);
    check_data(&a, &b);
    ck_assert_int_eq(e2e_send(a.s, (const uint8_t *)"secret", 6, &took), 0);
    (void)e2e_out_peek(a.s, &n);
    memcpy(out, e2e_out_peek(a.s, &took), n);
    /* The second responder: the same session, the same stream id, the
     * replayed frame: it answers with a fresh n_r. */
    open_stream(&unused, &b2, &l.x, &l.y, NULL, &sy, l.id, 4, 0, 0);
    ck_assert_int_eq(e2e_feed(b2.s, f, fl, &took), 0);
    events(&b2);
    ck_assert_msg(b2.ev[E2E_EV_HANDSHAKE] == 1, "%s %d", e2e_strerror(b2.err), b2.detail);
    ck_assert(memcmp(e2e_out_peek(b2.s, &took) + FRAME_HDR_LEN, r1, sizeof(r1)) != 0);
    /* a's header and record of the first stream: other keys, not opened. */
    ck_assert_int_eq(e2e_feed(b2.s, hdr, sizeof(hdr), &took), 0);
    ck_assert_int_eq(e2e_feed(b2.s, out, n, &took), 0);
    events(&b2);
    deliver(&b2);
    ck_assert_uint_eq(b2.got_len, 0);
    ck_assert(e2e_dead(b2.s));
    ck_assert_int_eq(b2.err, E2E_E_RECORD);
    end_free(&a);
    end_free(&b);
    end_free(&b2);
    end_free(&unused);
}
END_TEST

/* Both agents hold the same session, so a frame must say who sent it: a
 * relay that sends x a STREAM as responder with the stream id of x's own
 * keyed stream, and splices x's initiator leg to it, must not get x's frame
 * I accepted by x's own responder (x's client would talk to x's own
 * target). The sides (initiator's and responder's static keys) are bound
 * into k_hi and the transcript; y's responder takes the same frame. The
 * refused stream keeps no session key. */
START_TEST(test_reflected_frame)
{
    struct link l;
    struct end a, b, ax, unused;
    struct e2els_store sx;
    uint8_t f[FRAME_HDR_LEN + FRAME_MAX_HANDSHAKE];
    size_t fl, took;

    link_init(&l);
    first_kk(&l, SUITE_OFFER_CHACHA);
    sx = l.x.st;
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 7, 0, 0);
    ck_assert(e2e_ls_keyed(a.s));
    (void)e2e_out_peek(a.s, &fl);
    memcpy(f, e2e_out_peek(a.s, &took), fl);
    /* x's own responder, with x's store and x's keys (its peer: y). */
    open_stream(&unused, &ax, &l.y, &l.x, NULL, &sx, l.id, 7, 0, 0);
    ck_assert_int_eq(e2e_feed(ax.s, f, fl, &took), 0);
    events(&ax);
    ck_assert_int_eq(ax.ev[E2E_EV_HANDSHAKE], 0);
    ck_assert(e2e_dead(ax.s));
    ck_assert_int_eq(ax.err, E2E_E_HANDSHAKE);
    ck_assert(sodium_is_zero(ax.s->ls.key, sizeof(ax.s->ls.key)));
    /* The same frame at y: the stream it was meant for. */
    shuttle(&a, &b);
    check_data(&a, &b);
    end_free(&a);
    end_free(&b);
    end_free(&ax);
    end_free(&unused);
}
END_TEST

/* A store cleared (a key or control session changed) while a KK that makes
 * a session is under way: the session it exports is not added afterwards,
 * neither when the responder's answer goes nor when the initiator's header
 * confirms it. */
START_TEST(test_cleared_while_made)
{
    struct link l;
    struct end a, b;

    link_init(&l);
    e2els_store_tick(&l.x.st, 1000);
    e2els_store_tick(&l.y.st, 1000);
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 1, SUITE_OFFER_CHACHA,
                SUITE_OFFER_CHACHA);
    ck_assert_uint_gt(move(&a, &b), 0);               /* message 1 */
    ck_assert_uint_eq(e2els_store_count(&l.y.st), 1); /* y answers with it */
    e2els_store_clear(&l.y.st);
    e2els_store_clear(&l.x.st);
    ck_assert_uint_gt(move(&b, &a), 0); /* message 2 and y's header */
    ck_assert_uint_gt(move(&a, &b), 0); /* x's header */
    ck_assert(e2e_handshake_done(a.s) && e2e_handshake_done(b.s));
    ck_assert_uint_eq(e2els_store_count(&l.x.st), 0);
    ck_assert_uint_eq(e2els_store_count(&l.y.st), 0);
    ck_assert(sodium_is_zero(b.s->ls.key, sizeof(b.s->ls.key)));
    check_data(&a, &b);
    end_free(&a);
    end_free(&b);
}
END_TEST

/* rk is the same on both sides and resumption works on a keyed stream. */
START_TEST(test_keyed_resume)
{
    struct link l;
    struct end a, b;
    uint8_t id[RESUME_ID_LEN];
    uint32_t ea, eb;

    link_init(&l);
    first_kk(&l, SUITE_OFFER_CHACHA);
    open_stream(&a, &b, &l.x, &l.y, &l.x.st, &l.y.st, l.id, 2, 0, 0);
    shuttle(&a, &b);
    ck_assert(e2e_ls_keyed(a.s) && e2e_ls_keyed(b.s));
    ck_assert(e2e_resumable(a.s) && e2e_resumable(b.s));
    ck_assert(sodium_memcmp(a.s->rk, b.s->rk, RESUME_KEY_LEN) == 0);
    ck_assert(!sodium_is_zero(a.s->rk, RESUME_KEY_LEN));
    check_data(&a, &b);
    ck_assert_int_eq(e2e_leg_lost(a.s), 1);
    ck_assert_int_eq(e2e_leg_lost(b.s), 1);
    ck_assert_int_eq(e2e_resume_next(a.s, id, &ea), 0);
    ck_assert_int_eq(e2e_resume_match(b.s, id, &eb), 0);
    ck_assert_uint_eq(ea, eb);
    ck_assert_int_eq(e2e_resume_start(a.s, ea), 0);
    ck_assert_int_eq(e2e_resume_start(b.s, eb), 0);
    shuttle(&a, &b);
    ck_assert_int_eq(a.ev[E2E_EV_RESUMED], 1);
    ck_assert_int_eq(b.ev[E2E_EV_RESUMED], 1);
    check_data(&a, &b);
    end_free(&a);
    end_free(&b);
}
END_TEST

static void add(struct e2els_store *st, uint8_t tag)
{
    uint8_t key[E2ELS_KEY_LEN], id[E2ELS_ID_LEN];

    memset(key, tag, sizeof(key));
    memset(id, tag, sizeof(id));
    e2els_store_add(st, key, id);
}

/* Age and stream count at the limit; one offer at a time; the newest two. */
START_TEST(test_limits)
{
    struct e2els_store st;
    struct e2els_hs hs;
    const uint64_t t0 = 5000;

    memset(&st, 0, sizeof(st));
    e2els_store_tick(&st, t0);
    /* No session: one KK asks, the next does not until E2ELS_ASK_MS. */
    ck_assert_int_eq(e2els_begin(&st, &hs), 0);
    ck_assert_int_eq(hs.mode, E2ELS_ASK);
    ck_assert_int_eq(e2els_begin(&st, &hs), 0);
    ck_assert_int_eq(hs.mode, E2ELS_OFF);
    e2els_store_tick(&st, t0 + E2ELS_ASK_MS - 1);
    ck_assert_int_eq(e2els_begin(&st, &hs), 0);
    ck_assert_int_eq(hs.mode, E2ELS_OFF);
    e2els_store_tick(&st, t0 + E2ELS_ASK_MS);
    ck_assert_int_eq(e2els_begin(&st, &hs), 0);
    ck_assert_int_eq(hs.mode, E2ELS_ASK);
    /* Age: used until E2ELS_MAX_AGE_MS, kept for answers E2ELS_GRACE_MS more. */
    e2els_store_tick(&st, t0);
    add(&st, 1);
    e2els_store_tick(&st, t0 + E2ELS_MAX_AGE_MS - 1);
    ck_assert_int_eq(e2els_begin(&st, &hs), 1);
    ck_assert_int_eq(hs.id[0], 1);
    e2els_store_tick(&st, t0 + E2ELS_MAX_AGE_MS);
    ck_assert_int_eq(e2els_begin(&st, &hs), 0);
    ck_assert_int_eq(hs.mode, E2ELS_ASK);
    e2els_store_tick(&st, t0 + E2ELS_MAX_AGE_MS + E2ELS_GRACE_MS - 1);
    ck_assert_uint_eq(e2els_store_count(&st), 1);
    e2els_store_tick(&st, t0 + E2ELS_MAX_AGE_MS + E2ELS_GRACE_MS);
    ck_assert_uint_eq(e2els_store_count(&st), 0);
    /* Streams: the E2ELS_MAX_STREAMS-th is keyed, the next is not. */
    add(&st, 2);
    st.s[0].streams = E2ELS_MAX_STREAMS - 1;
    ck_assert_int_eq(e2els_begin(&st, &hs), 1);
    ck_assert_uint_eq(st.s[0].streams, E2ELS_MAX_STREAMS);
    ck_assert_int_eq(e2els_begin(&st, &hs), 0);
    /* The newest two stay; the newest keys streams. */
    e2els_store_clear(&st);
    for (uint8_t t = 1; t <= 3; t++) {
        e2els_store_tick(&st, t0 + t);
        add(&st, t);
    }
    ck_assert_uint_eq(e2els_store_count(&st), 2);
    ck_assert_int_eq(e2els_begin(&st, &hs), 1);
    ck_assert_int_eq(hs.id[0], 3);
    e2els_store_drop(&st, hs.id);
    ck_assert_int_eq(e2els_begin(&st, &hs), 1);
    ck_assert_int_eq(hs.id[0], 2);
    add(&st, 2); /* the same id again: nothing changes */
    ck_assert_uint_eq(e2els_store_count(&st), 1);
    e2els_hs_wipe(&hs);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("e2e_ls");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_keyed_round_trip);
    tcase_add_test(tc, test_no_session_without_item);
    tcase_add_test(tc, test_tamper_refused);
    tcase_add_test(tc, test_frame_functions_refuse);
    tcase_add_test(tc, test_unknown_id_refused);
    tcase_add_test(tc, test_responder_gone_before_header);
    tcase_add_test(tc, test_wrong_stream_or_link_refused);
    tcase_add_test(tc, test_replayed_frame);
    tcase_add_test(tc, test_reflected_frame);
    tcase_add_test(tc, test_cleared_while_made);
    tcase_add_test(tc, test_keyed_resume);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
