/* SPDX-License-Identifier: MIT */
/*
 * Tests for common/e2e.c: two sessions wired back to back in memory.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "lrcheck.h"

struct side {
    struct e2e *s;
    uint8_t *got; /* plaintext delivered */
    size_t got_len, got_cap;
    size_t deliver_limit; /* consume at most this much in total (SIZE_MAX: all) */
    int ev[8];            /* count per event type */
    struct e2e_event last_err, last_reset;
    uint8_t reset_text[REC_TEXT_MAX + 1];
};

struct pair {
    struct side a, b; /* a: initiator, b: responder */
    uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32];
    uint8_t link[16];
};

static void side_init(struct side *sd, size_t cap)
{
    memset(sd, 0, sizeof(*sd));
    sd->s = malloc(sizeof(struct e2e));
    ck_assert_ptr_nonnull(sd->s);
    sd->got = malloc(cap);
    ck_assert_ptr_nonnull(sd->got);
    sd->got_cap = cap;
    sd->deliver_limit = SIZE_MAX;
}

static void side_free(struct side *sd)
{
    e2e_done(sd->s);
    free(sd->s);
    free(sd->got);
}

static void keys(struct pair *p)
{
    crypto_box_keypair(p->a_pub, p->a_priv);
    crypto_box_keypair(p->b_pub, p->b_priv);
    randombytes_buf(p->link, sizeof(p->link));
}

static void pair_init(struct pair *p, size_t cap)
{
    keys(p);
    side_init(&p->a, cap);
    side_init(&p->b, cap);
    ck_assert_int_eq(e2e_init(p->a.s, E2E_INITIATOR, p->a_priv, p->b_pub, p->link, 7), 0);
    ck_assert_int_eq(e2e_init(p->b.s, E2E_RESPONDER, p->b_priv, p->a_pub, p->link, 7), 0);
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
        ck_assert_int_le(ev.type, E2E_EV_ERROR);
        sd->ev[ev.type]++;
        if (ev.type == E2E_EV_ERROR)
            sd->last_err = ev;
        if (ev.type == E2E_EV_PEER_RESET) {
            sd->last_reset = ev;
            memcpy(sd->reset_text, ev.text, ev.text_len);
            sd->reset_text[ev.text_len] = 0;
        }
    }
}

/* Delivers plaintext of sd to its sink; returns bytes moved. */
static size_t deliver(struct side *sd)
{
    size_t n;
    const uint8_t *p = e2e_plain_peek(sd->s, &n);

    if (n > sd->deliver_limit - sd->got_len)
        n = sd->deliver_limit - sd->got_len;
    if (n == 0)
        return 0;
    ck_assert_uint_le(sd->got_len + n, sd->got_cap);
    memcpy(sd->got + sd->got_len, p, n);
    sd->got_len += n;
    ck_assert_int_eq(e2e_plain_consume(sd->s, n), 0);
    return n;
}

/* Moves up to max bytes of from's output into to; returns bytes moved. */
static size_t wire(struct side *from, struct side *to, size_t max)
{
    size_t n, took = 0;
    const uint8_t *p = e2e_out_peek(from->s, &n);

    if (n > max)
        n = max;
    if (n == 0)
        return 0;
    if (e2e_feed(to->s, p, n, &took) != 0)
        return 0;
    ck_assert_int_eq(e2e_out_consume(from->s, took), 0);
    return took;
}

/* Runs both directions until nothing moves. chunk bounds each transfer. */
static void pump(struct pair *p, size_t chunk)
{
    size_t moved;

    do {
        moved = wire(&p->a, &p->b, chunk) + wire(&p->b, &p->a, chunk);
        moved += deliver(&p->a) + deliver(&p->b);
        drain_events(&p->a);
        drain_events(&p->b);
    } while (moved > 0);
}

/* Sends as much of data[*off..len) as the session takes now. */
static void send_some(struct side *sd, const uint8_t *data, size_t len, size_t *off)
{
    size_t acc = 0;

    if (*off == len)
        return;
    ck_assert_int_eq(e2e_send(sd->s, data + *off, len - *off, &acc), 0);
    *off += acc;
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    randombytes_buf(p, n);
    return p;
}

START_TEST(test_roundtrip_both_ways)
{
    const size_t na = 3 * 1024 * 1024 + 17, nb = 1024 * 1024 + 5;
    struct pair p;
    uint8_t *da = random_bytes(na), *db = random_bytes(nb);
    size_t oa = 0, ob = 0;
    size_t chunks[] = {1, 7, 1000, 16412, 70000};

    pair_init(&p, na + nb);
    /* Data before the handshake is refused, not lost. */
    ck_assert_int_eq(e2e_send(p.a.s, da, na, &oa), E2E_E_AGAIN);
    ck_assert_uint_eq(oa, 0);
    ck_assert_uint_eq(e2e_send_space(p.a.s), 0);
    pump(&p, 5);
    ck_assert(e2e_handshake_done(p.a.s));
    ck_assert(e2e_handshake_done(p.b.s));
    ck_assert_int_eq(p.a.ev[E2E_EV_HANDSHAKE], 1);
    ck_assert_int_eq(p.b.ev[E2E_EV_HANDSHAKE], 1);
    for (int i = 0; oa < na || ob < nb; i++) {
        send_some(&p.a, da, na, &oa);
        send_some(&p.b, db, nb, &ob);
        pump(&p, chunks[i % 5]);
    }
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
    pump(&p, 100000);
    ck_assert_uint_eq(p.b.got_len, na);
    ck_assert_uint_eq(p.a.got_len, nb);
    ck_assert_mem_eq(p.b.got, da, na);
    ck_assert_mem_eq(p.a.got, db, nb);
    ck_assert_int_eq(p.a.ev[E2E_EV_PEER_FINAL], 1);
    ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 1);
    ck_assert_int_eq(p.a.ev[E2E_EV_ERROR] + p.b.ev[E2E_EV_ERROR], 0);
    ck_assert(e2e_finished(p.a.s));
    ck_assert(e2e_finished(p.b.s));
    ck_assert_uint_eq(e2e_bytes_sent(p.a.s), na);
    ck_assert_uint_eq(e2e_bytes_delivered(p.b.s), na);
    /* EOF after both FINALs is clean. */
    e2e_eof(p.a.s);
    e2e_eof(p.b.s);
    drain_events(&p.a);
    drain_events(&p.b);
    ck_assert_int_eq(p.a.ev[E2E_EV_ERROR] + p.b.ev[E2E_EV_ERROR], 0);
    free(da);
    free(db);
    pair_free(&p);
}
END_TEST

START_TEST(test_rekey_small_interval)
{
    const size_t n = 300000;
    struct pair p;
    uint8_t *d = random_bytes(n);
    size_t off = 0;

    pair_init(&p, n);
    ck_assert_int_eq(e2e_set_rekey_interval(p.a.s, 0), E2E_E_ARG);
    pump(&p, 1000);
    ck_assert_int_eq(e2e_set_rekey_interval(p.a.s, 2), 0);
    ck_assert_int_eq(e2e_set_rekey_interval(p.b.s, 2), 0);
    while (off < n) {
        send_some(&p.a, d, n, &off);
        pump(&p, 3000);
    }
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    pump(&p, 3000);
    ck_assert_uint_eq(p.b.got_len, n);
    ck_assert_mem_eq(p.b.got, d, n);
    ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 1);
    free(d);
    pair_free(&p);
}
END_TEST

START_TEST(test_half_close)
{
    struct pair p;
    uint8_t reply[5000];
    size_t off = 0, acc;

    randombytes_buf(reply, sizeof(reply));
    pair_init(&p, 1 << 20);
    pump(&p, 64);
    ck_assert_int_eq(e2e_send(p.a.s, (const uint8_t *)"ping", 4, &acc), 0);
    ck_assert_uint_eq(acc, 4);
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    ck_assert_int_eq(e2e_shutdown(p.a.s), E2E_E_ENDED);
    ck_assert_int_eq(e2e_send(p.a.s, (const uint8_t *)"x", 1, &acc), E2E_E_ENDED);
    ck_assert_uint_eq(e2e_send_space(p.a.s), 0);
    pump(&p, 64);
    ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 1);
    ck_assert_uint_eq(p.b.got_len, 4);
    ck_assert(!e2e_finished(p.a.s));
    /* The other direction still works after the half-close. */
    while (off < sizeof(reply)) {
        send_some(&p.b, reply, sizeof(reply), &off);
        pump(&p, 64);
    }
    ck_assert_uint_eq(p.a.got_len, sizeof(reply));
    ck_assert_mem_eq(p.a.got, reply, sizeof(reply));
    ck_assert_int_eq(p.a.ev[E2E_EV_PEER_FINAL], 0);
    ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
    pump(&p, 64);
    ck_assert_int_eq(p.a.ev[E2E_EV_PEER_FINAL], 1);
    ck_assert(e2e_finished(p.a.s));
    ck_assert(e2e_finished(p.b.s));
    /* Every record's plaintext (DATA, FINAL, ACK) is wiped after it. */
    ck_assert(sodium_is_zero(p.a.s->scratch, sizeof(p.a.s->scratch)));
    ck_assert(sodium_is_zero(p.b.s->scratch, sizeof(p.b.s->scratch)));
    pair_free(&p);
}
END_TEST

START_TEST(test_shutdown_before_handshake)
{
    struct pair p;

    pair_init(&p, 1024);
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    ck_assert_int_eq(e2e_shutdown(p.b.s), 0);
    pump(&p, 1);
    ck_assert_int_eq(p.a.ev[E2E_EV_PEER_FINAL], 1);
    ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 1);
    ck_assert(e2e_finished(p.a.s) && e2e_finished(p.b.s));
    pair_free(&p);
}
END_TEST

START_TEST(test_reset)
{
    struct pair p;
    size_t acc;

    pair_init(&p, 1 << 20);
    pump(&p, 1000);
    ck_assert_int_eq(e2e_send(p.b.s, (const uint8_t *)"abc", 3, &acc), 0);
    ck_assert_int_eq(e2e_reset(p.a.s, 0, NULL), E2E_E_ARG);
    ck_assert_int_eq(e2e_reset(p.a.s, 5, NULL), E2E_E_ARG);
    ck_assert_int_eq(e2e_reset(p.a.s, REC_RESET_LOCAL, "client went away"), 0);
    ck_assert(e2e_dead(p.a.s));
    ck_assert_int_eq(e2e_send(p.a.s, (const uint8_t *)"x", 1, &acc), E2E_E_DEAD);
    pump(&p, 1000);
    ck_assert_int_eq(p.b.ev[E2E_EV_PEER_RESET], 1);
    ck_assert_int_eq(p.b.last_reset.reason, REC_RESET_LOCAL);
    ck_assert_str_eq((char *)p.b.reset_text, "client went away");
    /* The RESET's plaintext (its text) is wiped from the record scratch. */
    ck_assert(sodium_is_zero(p.b.s->scratch, sizeof(p.b.s->scratch)));
    ck_assert(e2e_dead(p.b.s));
    /* A reset side reports nothing else, and the reset peer neither. */
    ck_assert_uint_eq(p.a.got_len, 0);
    ck_assert_int_eq(p.a.ev[E2E_EV_ERROR] + p.b.ev[E2E_EV_ERROR], 0);
    e2e_eof(p.b.s);
    drain_events(&p.b);
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 0);
    pair_free(&p);
}
END_TEST

/* The connect side fails to reach its target before the initiator's hello
 * even arrived: the RESET goes out right after the handshake. */
START_TEST(test_reset_before_handshake)
{
    struct pair p;
    char text[REC_TEXT_MAX + 50];

    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = 0;
    pair_init(&p, 1024);
    ck_assert_int_eq(e2e_reset(p.b.s, REC_RESET_CONNECT_FAILED, text), 0);
    ck_assert(!e2e_dead(p.b.s));
    pump(&p, 3);
    ck_assert(e2e_dead(p.b.s));
    ck_assert_int_eq(p.a.ev[E2E_EV_PEER_RESET], 1);
    ck_assert_int_eq(p.a.last_reset.reason, REC_RESET_CONNECT_FAILED);
    ck_assert_uint_eq(p.a.last_reset.text_len, REC_TEXT_MAX); /* cut at the limit */
    pair_free(&p);
}
END_TEST

/* Flips one bit at position pos of the bytes a sends after the handshake. */
static void tamper_run(size_t pos, int want_err, int want_detail)
{
    struct pair p;
    uint8_t data[40000], buf[E2E_OUT_CAP];
    size_t n, off = 0, took;
    const uint8_t *out;

    randombytes_buf(data, sizeof(data));
    pair_init(&p, 1 << 20);
    pump(&p, 1 << 20);
    send_some(&p.a, data, sizeof(data), &off);
    out = e2e_out_peek(p.a.s, &n);
    ck_assert_uint_gt(n, pos);
    memcpy(buf, out, n);
    buf[pos] ^= 0x20;
    ck_assert_int_eq(e2e_feed(p.b.s, buf, n, &took), 0);
    drain_events(&p.b);
    deliver(&p.b);
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 1);
    ck_assert_int_eq(p.b.last_err.err, want_err);
    if (want_detail != 0)
        ck_assert_int_eq(p.b.last_err.detail, want_detail);
    ck_assert(e2e_dead(p.b.s));
    /* Nothing of a forged stream reaches the application. */
    ck_assert_uint_le(p.b.got_len, pos);
    ck_assert_int_eq(e2e_feed(p.b.s, buf, 1, &took), E2E_E_DEAD);
    pair_free(&p);
}

START_TEST(test_tamper)
{
    tamper_run(2 + 5, E2E_E_RECORD, REC_E_DECRYPT);           /* first record */
    tamper_run(16412 + 2 + 100, E2E_E_RECORD, REC_E_DECRYPT); /* second record */
    tamper_run(0, E2E_E_FRAME, 0); /* length now above the record maximum */
}
END_TEST

START_TEST(test_tamper_handshake)
{
    struct pair p;
    uint8_t buf[256];
    size_t n, took;
    const uint8_t *out;

    for (size_t pos = 0; pos < 53; pos += 4) {
        pair_init(&p, 1024);
        out = e2e_out_peek(p.a.s, &n);
        ck_assert_uint_eq(n, 2 + 32 + E2E_HELLO_LEN + 16); /* e, HELLO sealed */
        memcpy(buf, out, n);
        buf[pos] ^= 1;
        ck_assert_int_eq(e2e_feed(p.b.s, buf, n, &took), 0);
        drain_events(&p.b);
        ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 1);
        ck_assert_int_eq(p.b.last_err.err, E2E_E_HANDSHAKE);
        ck_assert(!e2e_handshake_done(p.b.s));
        pair_free(&p);
    }
}
END_TEST

START_TEST(test_wrong_peer_key)
{
    struct pair p;
    uint8_t other_pub[32], other_priv[32];

    crypto_box_keypair(other_pub, other_priv);
    keys(&p);
    side_init(&p.a, 1024);
    side_init(&p.b, 1024);
    /* a believes in some other responder key. */
    ck_assert_int_eq(e2e_init(p.a.s, E2E_INITIATOR, p.a_priv, other_pub, p.link, 9), 0);
    ck_assert_int_eq(e2e_init(p.b.s, E2E_RESPONDER, p.b_priv, p.a_pub, p.link, 9), 0);
    pump(&p, 1000);
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 1);
    ck_assert_int_eq(p.b.last_err.err, E2E_E_HANDSHAKE);
    ck_assert_int_eq(p.b.ev[E2E_EV_HANDSHAKE], 0);
    /* The responder resets; a sees the leg end during its handshake. */
    e2e_eof(p.a.s);
    drain_events(&p.a);
    ck_assert_int_eq(p.a.ev[E2E_EV_ERROR], 1);
    ck_assert_int_eq(p.a.last_err.err, E2E_E_HS_EOF);
    pair_free(&p);
}
END_TEST

/* The prologue binds link and stream: a different stream id fails. */
START_TEST(test_prologue_binding)
{
    struct pair p;

    keys(&p);
    side_init(&p.a, 1024);
    side_init(&p.b, 1024);
    ck_assert_int_eq(e2e_init(p.a.s, E2E_INITIATOR, p.a_priv, p.b_pub, p.link, 1), 0);
    ck_assert_int_eq(e2e_init(p.b.s, E2E_RESPONDER, p.b_priv, p.a_pub, p.link, 2), 0);
    pump(&p, 1000);
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 1);
    ck_assert_int_eq(p.b.last_err.err, E2E_E_HANDSHAKE);
    pair_free(&p);
}
END_TEST

/* Truncation: the leg ends after n bytes of a's post-handshake output. */
static void truncate_run(size_t cut, bool final_first, int want_err)
{
    struct pair p;
    uint8_t data[20000];
    size_t n, off = 0, took;
    const uint8_t *out;

    randombytes_buf(data, sizeof(data));
    pair_init(&p, 1 << 20);
    pump(&p, 1 << 20);
    send_some(&p.a, data, sizeof(data), &off);
    if (final_first)
        ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    out = e2e_out_peek(p.a.s, &n);
    if (cut > n)
        cut = n;
    ck_assert_int_eq(e2e_feed(p.b.s, out, cut, &took), 0);
    ck_assert_uint_eq(took, cut);
    deliver(&p.b);
    e2e_eof(p.b.s);
    deliver(&p.b);
    drain_events(&p.b);
    if (want_err == 0) {
        ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 0);
        ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 1);
        ck_assert_uint_eq(p.b.got_len, sizeof(data));
    } else {
        ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 1);
        ck_assert_int_eq(p.b.last_err.err, want_err);
        ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 0);
    }
    pair_free(&p);
}

START_TEST(test_truncation)
{
    const size_t rec1 = 2 + 1 + 8 + 16384 + 17;
    const size_t all = rec1 + 2 + 1 + 8 + (20000 - 16384) + 17;

    truncate_run(0, false, E2E_E_TRUNCATED);           /* nothing after the handshake */
    truncate_run(rec1, false, E2E_E_TRUNCATED);        /* at a record boundary */
    truncate_run(rec1 + 1, false, E2E_E_TRUNCATED);    /* one byte into a record */
    truncate_run(all, false, E2E_E_TRUNCATED);         /* all data, no FINAL */
    truncate_run(all + 10, true, E2E_E_TRUNCATED);     /* inside the FINAL */
    truncate_run(all + 28 - 1, true, E2E_E_TRUNCATED); /* FINAL one byte short */
    truncate_run(all + 28, true, 0);                   /* FINAL exact: clean */
}
END_TEST

START_TEST(test_eof_during_handshake)
{
    struct pair p;
    const uint8_t *out;
    size_t n, took;

    pair_init(&p, 1024);
    out = e2e_out_peek(p.a.s, &n);
    ck_assert_int_eq(e2e_feed(p.b.s, out, n - 1, &took), 0);
    e2e_eof(p.b.s);
    drain_events(&p.b);
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 1);
    ck_assert_int_eq(p.b.last_err.err, E2E_E_HS_EOF);
    pair_free(&p);
}
END_TEST

/*
 * Bounds: a receiver whose application does not read takes at most
 * E2E_PLAIN_CAP of plaintext and E2E_IN_CAP of input, then refuses more; the
 * sender's output stops at E2E_OUT_CAP. EOF while a FINAL waits behind the
 * full buffer is not truncation.
 */
START_TEST(test_bounds_and_backpressure)
{
    const size_t n = 400000;
    struct pair p;
    uint8_t *d = random_bytes(n);
    size_t off = 0, len;

    pair_init(&p, n);
    pump(&p, 1 << 20);
    p.b.deliver_limit = 0;
    for (int i = 0; i < 50; i++) {
        send_some(&p.a, d, n, &off);
        pump(&p, 1 << 20);
        (void)e2e_out_peek(p.a.s, &len);
        ck_assert_uint_le(len, E2E_OUT_CAP);
        (void)e2e_plain_peek(p.b.s, &len);
        ck_assert_uint_le(len, E2E_PLAIN_CAP);
    }
    ck_assert_uint_lt(off, n);
    (void)e2e_plain_peek(p.b.s, &len);
    ck_assert_uint_gt(len, E2E_PLAIN_CAP - REC_DATA_MAX);
    ck_assert_uint_eq(e2e_in_space(p.b.s), 0);
    ck_assert_uint_eq(e2e_send_space(p.a.s), 0);
    /* The sender's output is full, but FINAL still fits (reserved room). */
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    e2e_eof(p.b.s); /* relay leg ended; FINAL is still in a's output */
    drain_events(&p.b);
    /* Undecided while whole records wait for room: FINAL might be among them. */
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 0);
    p.b.deliver_limit = SIZE_MAX;
    while (deliver(&p.b) > 0)
        ;
    drain_events(&p.b);
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 1); /* it never arrived: truncated */
    ck_assert_int_eq(p.b.last_err.err, E2E_E_TRUNCATED);
    ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 0);
    free(d);
    pair_free(&p);
}
END_TEST

START_TEST(test_eof_with_final_buffered)
{
    const size_t n = 200000;
    struct pair p;
    uint8_t *d = random_bytes(n);
    size_t off = 0, len, took;
    const uint8_t *out;

    pair_init(&p, n);
    pump(&p, 1 << 20);
    p.b.deliver_limit = 0;
    while (off < n) {
        send_some(&p.a, d, n, &off);
        out = e2e_out_peek(p.a.s, &len);
        ck_assert_int_eq(e2e_feed(p.b.s, out, len, &took), 0);
        ck_assert_int_eq(e2e_out_consume(p.a.s, took), 0);
        if (took < len)
            break;
    }
    while (off < n) { /* the rest only into a's output, up to its bound */
        size_t before = off;
        send_some(&p.a, d, n, &off);
        if (off == before)
            break;
    }
    ck_assert_int_eq(e2e_shutdown(p.a.s), 0);
    p.b.deliver_limit = SIZE_MAX;
    /* Now everything a has sealed arrives, then EOF, before b's app reads. */
    for (;;) {
        out = e2e_out_peek(p.a.s, &len);
        if (len == 0)
            break;
        ck_assert_int_eq(e2e_feed(p.b.s, out, len, &took), 0);
        ck_assert_int_eq(e2e_out_consume(p.a.s, took), 0);
        if (took == 0)
            deliver(&p.b);
    }
    e2e_eof(p.b.s);
    drain_events(&p.b);
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 0);
    ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 0); /* not before it is all delivered */
    while (deliver(&p.b) > 0)
        ;
    drain_events(&p.b);
    ck_assert_int_eq(p.b.ev[E2E_EV_ERROR], 0);
    ck_assert_int_eq(p.b.ev[E2E_EV_PEER_FINAL], 1);
    ck_assert_uint_eq(p.b.got_len, off);
    ck_assert_mem_eq(p.b.got, d, off);
    free(d);
    pair_free(&p);
}
END_TEST

/* An ACK goes out after exactly E2E_ACK_EVERY bytes delivered, not before. */
START_TEST(test_ack_every_64k)
{
    const size_t n = 3 * E2E_ACK_EVERY;
    struct pair p;
    uint8_t *d = random_bytes(n);
    size_t off = 0, len, step;

    pair_init(&p, n);
    pump(&p, 1 << 20);
    p.b.deliver_limit = E2E_ACK_EVERY - 1;
    for (int i = 0; i < 10; i++) {
        send_some(&p.a, d, n, &off);
        while (wire(&p.a, &p.b, 1 << 20) + deliver(&p.b) > 0)
            ;
    }
    ck_assert_uint_eq(p.b.got_len, E2E_ACK_EVERY - 1);
    (void)e2e_out_peek(p.b.s, &len);
    ck_assert_uint_eq(len, 0);
    p.b.deliver_limit = E2E_ACK_EVERY;
    step = deliver(&p.b);
    ck_assert_uint_eq(step, 1);
    (void)e2e_out_peek(p.b.s, &len);
    ck_assert_uint_eq(len, 2 + 1 + 8 + REC_ABYTES); /* one ACK record */
    /* The sender accepts it (ACK within what it sent). */
    ck_assert_uint_eq(wire(&p.b, &p.a, 1 << 20), len);
    drain_events(&p.a);
    ck_assert_int_eq(p.a.ev[E2E_EV_ERROR], 0);
    free(d);
    pair_free(&p);
}
END_TEST

START_TEST(test_send_space_exact)
{
    struct pair p;
    uint8_t *d = random_bytes(E2E_OUT_CAP);
    size_t space, acc, len;

    pair_init(&p, 1024);
    pump(&p, 1 << 20);
    space = e2e_send_space(p.a.s);
    ck_assert_uint_gt(space, 3 * REC_DATA_MAX);
    ck_assert_int_eq(e2e_send(p.a.s, d, space + 1, &acc), 0);
    ck_assert_uint_eq(acc, space);
    ck_assert_uint_eq(e2e_send_space(p.a.s), 0);
    ck_assert_int_eq(e2e_send(p.a.s, d, 1, &acc), 0);
    ck_assert_uint_eq(acc, 0);
    (void)e2e_out_peek(p.a.s, &len);
    ck_assert_uint_le(len, E2E_OUT_CAP - E2E_CTRL_RESERVE);
    free(d);
    pair_free(&p);
}
END_TEST

START_TEST(test_bad_args)
{
    struct e2e *s = malloc(sizeof(*s));
    uint8_t k[32] = {0}, pub[32], priv[32], link[16] = {0};
    size_t took;

    crypto_box_keypair(pub, priv);
    ck_assert_int_eq(e2e_init(s, (enum e2e_role)2, priv, pub, link, 1), E2E_E_ARG);
    ck_assert_int_eq(e2e_init(s, E2E_INITIATOR, NULL, pub, link, 1), E2E_E_ARG);
    /* An all-zero peer key cannot give a handshake. */
    ck_assert_int_eq(e2e_init(s, E2E_INITIATOR, priv, k, link, 1), E2E_E_HANDSHAKE);
    ck_assert_int_eq(e2e_init(s, E2E_RESPONDER, priv, pub, link, 1), 0);
    ck_assert_int_eq(e2e_feed(s, NULL, 1, &took), E2E_E_ARG);
    ck_assert_int_eq(e2e_out_consume(s, 1), E2E_E_ARG);
    ck_assert_int_eq(e2e_plain_consume(s, 1), E2E_E_ARG);
    ck_assert_str_eq(e2e_strerror(E2E_E_TRUNCATED), "stream truncated (ended before FINAL)");
    ck_assert_str_eq(e2e_strerror(12345), "unknown e2e error");
    e2e_done(s);
    free(s);
}
END_TEST

/* e2e_done wipes the plaintext a stream held (D45: only as far as the
 * plaintext FIFO was ever written, not the whole 210 KiB struct) and every
 * field before the buffers: here the responder never consumes, so 10,000
 * bytes of 0xab sit in its FIFO until e2e_done. */
START_TEST(test_done_wipes_plaintext)
{
    struct pair p;
    uint8_t data[10000];
    size_t off = 0, top, seen = 0;
    const uint8_t *m;

    memset(data, 0xab, sizeof(data));
    pair_init(&p, 1 << 16);
    p.b.deliver_limit = 0;
    pump(&p, SIZE_MAX);
    send_some(&p.a, data, sizeof(data), &off);
    ck_assert_uint_eq(off, sizeof(data));
    pump(&p, SIZE_MAX);
    m = p.b.s->plain_mem;
    top = bq_top(&p.b.s->plain);
    ck_assert_uint_ge(top, sizeof(data));
    for (size_t k = 0; k < top; k++)
        seen += m[k] == 0xab;
    ck_assert_uint_eq(seen, sizeof(data));
    e2e_done(p.b.s);
    for (size_t k = 0; k < top; k++)
        ck_assert_msg(m[k] == 0, "plain_mem[%zu] = %u after e2e_done", k, m[k]);
    ck_assert(sodium_is_zero((const uint8_t *)p.b.s, offsetof(struct e2e, in_mem)));
    pair_free(&p);
}
END_TEST

static Suite *e2e_suite(void)
{
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip_both_ways);
    tcase_add_test(tc, test_rekey_small_interval);
    tcase_add_test(tc, test_half_close);
    tcase_add_test(tc, test_shutdown_before_handshake);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_reset_before_handshake);
    tcase_add_test(tc, test_tamper);
    tcase_add_test(tc, test_tamper_handshake);
    tcase_add_test(tc, test_wrong_peer_key);
    tcase_add_test(tc, test_prologue_binding);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_eof_during_handshake);
    tcase_add_test(tc, test_bounds_and_backpressure);
    tcase_add_test(tc, test_eof_with_final_buffered);
    tcase_add_test(tc, test_ack_every_64k);
    tcase_add_test(tc, test_send_space_exact);
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_done_wipes_plaintext);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(e2e_suite());
}
