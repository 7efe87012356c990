/* SPDX-License-Identifier: MIT */
/*
 * Check suite for common/rec.c, the end-to-end record layer (protocol.md §7.2):
 * round trips, every sender and receiver rule, and the boundaries of the open
 * path and of the plaintext decoder. The randomised tamper trials and the
 * stream-level checks are in test_rec_stream.c.
 */
#include "rec.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lrcheck.h"

/* ---- helpers ------------------------------------------------------------------ */

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void make_key(uint8_t key[REC_KEY_LEN])
{
    randombytes_buf(key, REC_KEY_LEN);
}

/* Opens one frame (with its u16) expecting success. */
static struct rec_record open_ok(struct rec_rx *rx, const uint8_t *frame, size_t flen,
                                 uint64_t sent, uint8_t *plain)
{
    struct rec_record r;
    int rc;

    ck_assert_uint_ge(flen, 2);
    ck_assert_uint_eq(get_u16(frame), flen - 2);
    rc = rec_rx_open(rx, frame + 2, flen - 2, sent, plain, REC_BODY_MAX, &r);
    ck_assert_msg(rc == 0, "open: %s", rec_strerror(rc));
    return r;
}

/* A sender/receiver pair over one direction, set up by pair_init. */
struct pair {
    uint8_t key[REC_KEY_LEN];
    uint8_t hdr[REC_HEADER_LEN];
    struct rec_tx tx;
    struct rec_rx rx;
};

static void pair_init(struct pair *p)
{
    make_key(p->key);
    ck_assert_int_eq(rec_tx_init(&p->tx, p->key, p->hdr), 0);
    ck_assert_int_eq(rec_rx_init(&p->rx, p->key, p->hdr), 0);
}

static void pair_done(struct pair *p)
{
    rec_tx_done(&p->tx);
    rec_rx_done(&p->rx);
}

/* Raw secretstream, to craft records rec_tx would never send. */
struct raw {
    uint8_t key[REC_KEY_LEN];
    uint8_t hdr[REC_HEADER_LEN];
    crypto_secretstream_xchacha20poly1305_state st;
    struct rec_rx rx;
};

static void raw_init(struct raw *w)
{
    make_key(w->key);
    crypto_secretstream_xchacha20poly1305_init_push(&w->st, w->hdr, w->key);
    ck_assert_int_eq(rec_rx_init(&w->rx, w->key, w->hdr), 0);
}

/* Seals plain[0..plen) with tag into body; returns the body length. */
static size_t raw_seal(struct raw *w, const uint8_t *plain, size_t plen, unsigned char tag,
                       uint8_t *body)
{
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&w->st, body, &clen, plain, plen, NULL, 0, tag);
    return (size_t)clen;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Seals a crafted record and returns what rec_rx_open says about it. */
static int raw_try(struct raw *w, const uint8_t *plain, size_t plen, unsigned char tag,
                   uint64_t sent)
{
    static uint8_t body[REC_BODY_MAX + 64], out[REC_BODY_MAX + 64];
    struct rec_record r;
    size_t blen = raw_seal(w, plain, plen, tag, body);
    return rec_rx_open(&w->rx, body, blen, sent, out, sizeof(out), &r);
}

#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_PUSH    crypto_secretstream_xchacha20poly1305_TAG_PUSH
#define TAG_REKEY   crypto_secretstream_xchacha20poly1305_TAG_REKEY
#define TAG_FINAL   crypto_secretstream_xchacha20poly1305_TAG_FINAL

/* ---- round trips ----------------------------------------------------------------- */

START_TEST(test_roundtrip_types)
{
    static uint8_t frame[REC_FRAME_MAX], plain[REC_BODY_MAX];
    const uint8_t data[] = "hello, world";
    const uint8_t text[] = "target refused";
    struct pair p;
    struct rec_record r;
    size_t flen;

    pair_init(&p);
    ck_assert_int_eq(rec_tx_data(&p.tx, data, 12, frame, sizeof(frame), &flen), 0);
    ck_assert_uint_eq(flen, 2 + 1 + 8 + 12 + REC_ABYTES);
    ck_assert_uint_eq(rec_tx_offset(&p.tx), 12);
    r = open_ok(&p.rx, frame, flen, 0, plain);
    ck_assert_int_eq(r.type, REC_DATA);
    ck_assert_uint_eq(r.value, 0);
    ck_assert_uint_eq(r.len, 12);
    ck_assert_mem_eq(r.data, data, 12);
    ck_assert_uint_eq(rec_rx_received(&p.rx), 12);

    ck_assert_int_eq(rec_tx_data(&p.tx, data, 5, frame, sizeof(frame), &flen), 0);
    r = open_ok(&p.rx, frame, flen, 0, plain);
    ck_assert_uint_eq(r.value, 12);
    ck_assert_uint_eq(rec_rx_received(&p.rx), 17);

    ck_assert_int_eq(rec_tx_ack(&p.tx, 1000, frame, sizeof(frame), &flen), 0);
    ck_assert_uint_eq(flen, 2 + 9 + REC_ABYTES);
    r = open_ok(&p.rx, frame, flen, 1000, plain);
    ck_assert_int_eq(r.type, REC_ACK);
    ck_assert_uint_eq(r.value, 1000);
    ck_assert_uint_eq(p.rx.acked, 1000);

    ck_assert_int_eq(rec_tx_final(&p.tx, frame, sizeof(frame), &flen), 0);
    r = open_ok(&p.rx, frame, flen, 1000, plain);
    ck_assert_int_eq(r.type, REC_FINAL);
    ck_assert_uint_eq(r.value, 17);
    ck_assert_int_eq(p.rx.state, REC_RX_FINAL);
    ck_assert_int_eq(rec_rx_eof(&p.rx), 0);
    pair_done(&p);

    /* RESET with text, and with empty text. */
    for (size_t tl = 0; tl <= sizeof(text) - 1; tl += sizeof(text) - 1) {
        pair_init(&p);
        ck_assert_int_eq(rec_tx_reset(&p.tx, REC_RESET_CONNECT_FAILED, tl ? text : NULL, tl, frame,
                                      sizeof(frame), &flen),
                         0);
        ck_assert_uint_eq(flen, 2 + 3 + tl + REC_ABYTES);
        r = open_ok(&p.rx, frame, flen, 0, plain);
        ck_assert_int_eq(r.type, REC_RESET);
        ck_assert_int_eq(r.reason, REC_RESET_CONNECT_FAILED);
        ck_assert_uint_eq(r.len, tl);
        if (tl)
            ck_assert_mem_eq(r.data, text, tl);
        ck_assert_int_eq(p.rx.state, REC_RX_RESET);
        ck_assert_int_eq(rec_rx_eof(&p.rx), 0);
        pair_done(&p);
    }
}
END_TEST

START_TEST(test_data_sizes)
{
    static uint8_t data[REC_DATA_MAX + 1], frame[REC_FRAME_MAX + 16], plain[REC_BODY_MAX];
    const size_t sizes[] = {1, REC_DATA_MAX - 1, REC_DATA_MAX};
    struct pair p;
    size_t flen = 12345;
    uint64_t total = 0;

    randombytes_buf(data, sizeof(data));
    pair_init(&p);
    for (size_t i = 0; i < 3; i++) {
        struct rec_record r;
        ck_assert_int_eq(rec_tx_data(&p.tx, data, sizes[i], frame, sizeof(frame), &flen), 0);
        ck_assert_uint_eq(flen, 2 + 9 + sizes[i] + REC_ABYTES);
        r = open_ok(&p.rx, frame, flen, 0, plain);
        ck_assert_uint_eq(r.value, total);
        ck_assert_uint_eq(r.len, sizes[i]);
        ck_assert_mem_eq(r.data, data, sizes[i]);
        total += sizes[i];
    }
    ck_assert_uint_eq(flen, REC_FRAME_MAX); /* the largest record is the §9 limit */
    /* 16385 and 0 bytes are refused and change nothing. */
    flen = 777;
    ck_assert_int_eq(rec_tx_data(&p.tx, data, REC_DATA_MAX + 1, frame, sizeof(frame), &flen),
                     REC_E_ARG);
    ck_assert_int_eq(rec_tx_data(&p.tx, data, 0, frame, sizeof(frame), &flen), REC_E_ARG);
    ck_assert_int_eq(rec_tx_data(&p.tx, NULL, 1, frame, sizeof(frame), &flen), REC_E_ARG);
    ck_assert_uint_eq(flen, 777);
    ck_assert_uint_eq(rec_tx_offset(&p.tx), total);
    ck_assert_int_eq(rec_tx_final(&p.tx, frame, sizeof(frame), &flen), 0);
    ck_assert_uint_eq(open_ok(&p.rx, frame, flen, 0, plain).value, total);
    pair_done(&p);
}
END_TEST

/* A 16385-byte DATA sealed by hand (rec_tx refuses it) is refused by size. */
START_TEST(test_data_over_max_rejected)
{
    static uint8_t plain[1 + 8 + REC_DATA_MAX + 1], body[REC_BODY_MAX + 64], out[REC_BODY_MAX + 64];
    struct raw w;
    struct rec_record r;
    size_t blen;

    raw_init(&w);
    memset(plain, 0x5a, sizeof(plain));
    plain[0] = REC_DATA;
    put_u64(plain + 1, 0);
    blen = raw_seal(&w, plain, sizeof(plain), TAG_MESSAGE, body);
    ck_assert_uint_eq(blen, REC_BODY_MAX + 1);
    ck_assert_int_eq(rec_rx_open(&w.rx, body, blen, 0, out, sizeof(out), &r), REC_E_SIZE);
    ck_assert_int_eq(w.rx.state, REC_RX_FAILED);
    ck_assert_int_eq(rec_plain_decode(plain, sizeof(plain), &r), REC_E_MALFORMED);
    ck_assert_int_eq(rec_plain_decode(plain, sizeof(plain) - 1, &r), 0);
    ck_assert_uint_eq(r.len, REC_DATA_MAX);
    rec_rx_done(&w.rx);
    sodium_memzero(&w.st, sizeof(w.st));
}
END_TEST

/* ---- sender rules ------------------------------------------------------------------ */

START_TEST(test_tx_errors)
{
    static uint8_t frame[REC_FRAME_MAX], plain[REC_BODY_MAX];
    uint8_t text[REC_TEXT_MAX + 1];
    const uint8_t d = 'x';
    struct pair p;
    size_t flen = 99;

    memset(text, 't', sizeof(text));
    pair_init(&p);
    /* Too small a buffer: one byte short fails and changes nothing. */
    ck_assert_int_eq(rec_tx_data(&p.tx, &d, 1, frame, 2 + 10 + REC_ABYTES - 1, &flen),
                     REC_E_NOBUFS);
    ck_assert_int_eq(rec_tx_ack(&p.tx, 0, frame, 2 + 9 + REC_ABYTES - 1, &flen), REC_E_NOBUFS);
    ck_assert_int_eq(rec_tx_final(&p.tx, frame, 2 + 9 + REC_ABYTES - 1, &flen), REC_E_NOBUFS);
    ck_assert_int_eq(rec_tx_reset(&p.tx, 1, NULL, 0, frame, 2 + 3 + REC_ABYTES - 1, &flen),
                     REC_E_NOBUFS);
    ck_assert_uint_eq(flen, 99);
    ck_assert_uint_eq(rec_tx_offset(&p.tx), 0);
    ck_assert_uint_eq(p.tx.records, 0);
    /* Exact size works, and the stream is still in step. */
    ck_assert_int_eq(rec_tx_data(&p.tx, &d, 1, frame, 2 + 10 + REC_ABYTES, &flen), 0);
    open_ok(&p.rx, frame, flen, 0, plain);
    /* Reset arguments. */
    ck_assert_int_eq(rec_tx_reset(&p.tx, 0, NULL, 0, frame, sizeof(frame), &flen), REC_E_ARG);
    ck_assert_int_eq(rec_tx_reset(&p.tx, 5, NULL, 0, frame, sizeof(frame), &flen), REC_E_ARG);
    ck_assert_int_eq(rec_tx_reset(&p.tx, 1, NULL, 3, frame, sizeof(frame), &flen), REC_E_ARG);
    ck_assert_int_eq(rec_tx_reset(&p.tx, 1, text, REC_TEXT_MAX + 1, frame, sizeof(frame), &flen),
                     REC_E_ARG);
    ck_assert_int_eq(rec_tx_set_rekey_interval(&p.tx, 0), REC_E_ARG);
    ck_assert_int_eq(rec_rx_set_rekey_interval(&p.rx, 0), REC_E_ARG);
    /* Text at the limit: the largest control frame. */
    ck_assert_int_eq(rec_tx_reset(&p.tx, REC_RESET_SHUTDOWN, text, REC_TEXT_MAX, frame,
                                  REC_CTRL_FRAME_MAX, &flen),
                     0);
    ck_assert_uint_eq(flen, REC_CTRL_FRAME_MAX);
    {
        struct rec_record r = open_ok(&p.rx, frame, flen, 0, plain);
        ck_assert_uint_eq(r.len, REC_TEXT_MAX);
        ck_assert_int_eq(r.reason, REC_RESET_SHUTDOWN);
    }
    /* After RESET nothing more can be sealed. */
    ck_assert_int_eq(rec_tx_data(&p.tx, &d, 1, frame, sizeof(frame), &flen), REC_E_ENDED);
    ck_assert_int_eq(rec_tx_ack(&p.tx, 0, frame, sizeof(frame), &flen), REC_E_ENDED);
    ck_assert_int_eq(rec_tx_final(&p.tx, frame, sizeof(frame), &flen), REC_E_ENDED);
    ck_assert_int_eq(rec_tx_reset(&p.tx, 1, NULL, 0, frame, sizeof(frame), &flen), REC_E_ENDED);
    pair_done(&p);

    /* After FINAL likewise; after done too. */
    pair_init(&p);
    ck_assert_int_eq(rec_tx_final(&p.tx, frame, sizeof(frame), &flen), 0);
    ck_assert_int_eq(rec_tx_data(&p.tx, &d, 1, frame, sizeof(frame), &flen), REC_E_ENDED);
    ck_assert_int_eq(rec_tx_final(&p.tx, frame, sizeof(frame), &flen), REC_E_ENDED);
    ck_assert_int_eq(rec_tx_reset(&p.tx, 1, NULL, 0, frame, sizeof(frame), &flen), REC_E_ENDED);
    pair_done(&p);
    ck_assert(sodium_is_zero((const unsigned char *)&p.tx.st, sizeof(p.tx.st)));
    ck_assert(sodium_is_zero((const unsigned char *)&p.rx.st, sizeof(p.rx.st)));
    ck_assert_int_eq(rec_tx_ack(&p.tx, 0, frame, sizeof(frame), &flen), REC_E_ENDED);
    ck_assert_int_eq(
        rec_rx_open(&p.rx, frame + 2, flen - 2, 0, plain, REC_BODY_MAX, &(struct rec_record){0}),
        REC_E_FAILED);
}
END_TEST

/* ---- receiver rules ------------------------------------------------------------------ */

START_TEST(test_ack_rules)
{
    static uint8_t frame[REC_FRAME_MAX], plain[REC_BODY_MAX];
    struct pair p;
    struct rec_record r;
    size_t flen;

    pair_init(&p);
    ck_assert_int_eq(rec_tx_ack(&p.tx, 0, frame, sizeof(frame), &flen), 0);
    open_ok(&p.rx, frame, flen, 0, plain); /* ACK 0 with nothing sent */
    ck_assert_int_eq(rec_tx_ack(&p.tx, 500, frame, sizeof(frame), &flen), 0);
    open_ok(&p.rx, frame, flen, 500, plain); /* exactly what we sent */
    ck_assert_int_eq(rec_tx_ack(&p.tx, 500, frame, sizeof(frame), &flen), 0);
    open_ok(&p.rx, frame, flen, 600, plain); /* repeated: not backwards */
    ck_assert_int_eq(rec_tx_ack(&p.tx, 499, frame, sizeof(frame), &flen), 0);
    ck_assert_int_eq(rec_rx_open(&p.rx, frame + 2, flen - 2, 600, plain, REC_BODY_MAX, &r),
                     REC_E_ACK);
    ck_assert_int_eq(p.rx.state, REC_RX_FAILED);
    pair_done(&p);

    /* One over what we sent. */
    pair_init(&p);
    ck_assert_int_eq(rec_tx_ack(&p.tx, 601, frame, sizeof(frame), &flen), 0);
    ck_assert_int_eq(rec_rx_open(&p.rx, frame + 2, flen - 2, 600, plain, REC_BODY_MAX, &r),
                     REC_E_ACK);
    pair_done(&p);
}
END_TEST

START_TEST(test_crafted_semantics)
{
    uint8_t pl[16];
    struct raw w;

    /* DATA offset one ahead, one behind. */
    for (int delta = -1; delta <= 1; delta += 2) {
        raw_init(&w);
        pl[0] = REC_DATA;
        put_u64(pl + 1, 0);
        pl[9] = 'a';
        pl[10] = 'b';
        ck_assert_int_eq(raw_try(&w, pl, 11, TAG_MESSAGE, 0), 0);
        put_u64(pl + 1, (uint64_t)(2 + delta));
        ck_assert_int_eq(raw_try(&w, pl, 11, TAG_MESSAGE, 0), REC_E_OFFSET);
        rec_rx_done(&w.rx);
    }
    /* DATA at the first offset must be 0. */
    raw_init(&w);
    pl[0] = REC_DATA;
    put_u64(pl + 1, 1);
    ck_assert_int_eq(raw_try(&w, pl, 10, TAG_MESSAGE, 0), REC_E_OFFSET);
    rec_rx_done(&w.rx);

    /* FINAL total one short, exact, one over (after 2 bytes). */
    for (int delta = -1; delta <= 1; delta++) {
        raw_init(&w);
        pl[0] = REC_DATA;
        put_u64(pl + 1, 0);
        ck_assert_int_eq(raw_try(&w, pl, 11, TAG_MESSAGE, 0), 0);
        pl[0] = REC_FINAL;
        put_u64(pl + 1, (uint64_t)(2 + delta));
        ck_assert_int_eq(raw_try(&w, pl, 9, TAG_FINAL, 0), delta == 0 ? 0 : REC_E_TOTAL);
        rec_rx_done(&w.rx);
    }

    /* Malformed or unknown plaintexts that authenticate. */
    {
        static const struct {
            uint8_t bytes[12];
            size_t len;
            unsigned char tag;
            int want;
        } cases[] = {
            {{0}, 0, TAG_MESSAGE, REC_E_TYPE}, /* empty: type missing */
            {{0x00, 0, 0, 0, 0, 0, 0, 0, 0}, 9, TAG_MESSAGE, REC_E_TYPE},
            {{0x07, 0, 0, 0, 0, 0, 0, 0, 0}, 9, TAG_MESSAGE, REC_E_TYPE},
            /* well formed, but FINISHED only ends a resumable direction after FINAL */
            {{REC_FINISHED, 0, 0, 0, 0, 0, 0, 0, 1}, 9, TAG_MESSAGE, REC_E_FINISHED},
            {{REC_FINISHED, 0, 0, 0, 0, 0, 0, 0}, 8, TAG_MESSAGE, REC_E_MALFORMED},
            {{REC_RESUME, 0, 0, 0, 0, 0, 0, 0, 0}, 9, TAG_MESSAGE, REC_E_MALFORMED},
            {{REC_RESUME, 0, 0, 0, 0, 0, 0, 0, 0, 2}, 10, TAG_MESSAGE, REC_E_MALFORMED},
            /* well formed, but only a resumed epoch opens with RESUME */
            {{REC_RESUME, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 10, TAG_MESSAGE, REC_E_RESUME},
            {{0xff}, 1, TAG_MESSAGE, REC_E_TYPE},
            {{REC_DATA, 0, 0, 0, 0, 0, 0, 0, 0}, 9, TAG_MESSAGE, REC_E_MALFORMED},
            {{REC_ACK, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 10, TAG_MESSAGE, REC_E_MALFORMED},
            {{REC_ACK, 0, 0, 0, 0, 0, 0, 0}, 8, TAG_MESSAGE, REC_E_MALFORMED},
            {{REC_FINAL, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 10, TAG_FINAL, REC_E_MALFORMED},
            {{REC_RESET, 1, 1}, 3, TAG_FINAL, REC_E_MALFORMED},      /* text short */
            {{REC_RESET, 1, 0, 'x'}, 4, TAG_FINAL, REC_E_MALFORMED}, /* trailing */
            {{REC_RESET, 0, 0}, 3, TAG_FINAL, REC_E_REASON},
            {{REC_RESET, 5, 0}, 3, TAG_FINAL, REC_E_REASON},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            raw_init(&w);
            ck_assert_msg(raw_try(&w, cases[i].bytes, cases[i].len, cases[i].tag, 0) ==
                              cases[i].want,
                          "case %zu", i);
            ck_assert_int_eq(w.rx.state, REC_RX_FAILED);
            rec_rx_done(&w.rx);
        }
    }
    sodium_memzero(&w.st, sizeof(w.st));
}
END_TEST

/* TAG_FINAL goes with FINAL/RESET and only with them; REKEY only at its slot. */
START_TEST(test_tags)
{
    uint8_t data[10] = {REC_DATA, 0, 0, 0, 0, 0, 0, 0, 0, 'z'};
    uint8_t ack[9] = {REC_ACK, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t fin[9] = {REC_FINAL, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t rst[3] = {REC_RESET, 1, 0};
    /* TAG_FINAL is PUSH | REKEY; any other byte value is not a tag we send. */
    const unsigned char bad_for_msg[] = {TAG_FINAL, TAG_PUSH, TAG_REKEY, 0x04, 0x80};
    const unsigned char bad_for_end[] = {TAG_MESSAGE, TAG_PUSH, TAG_REKEY, 0x07, 0xff};
    struct raw w;

    for (size_t i = 0; i < sizeof(bad_for_msg); i++) {
        raw_init(&w);
        ck_assert_int_eq(raw_try(&w, data, 10, bad_for_msg[i], 0), REC_E_TAG);
        rec_rx_done(&w.rx);
        raw_init(&w);
        ck_assert_int_eq(raw_try(&w, ack, 9, bad_for_msg[i], 0), REC_E_TAG);
        rec_rx_done(&w.rx);
    }
    for (size_t i = 0; i < sizeof(bad_for_end); i++) {
        raw_init(&w);
        ck_assert_int_eq(raw_try(&w, fin, 9, bad_for_end[i], 0), REC_E_TAG);
        rec_rx_done(&w.rx);
        raw_init(&w);
        ck_assert_int_eq(raw_try(&w, rst, 3, bad_for_end[i], 0), REC_E_TAG);
        rec_rx_done(&w.rx);
    }
    /* Interval 2: record 2 must carry REKEY, record 1 and 3 must not. */
    raw_init(&w);
    ck_assert_int_eq(rec_rx_set_rekey_interval(&w.rx, 2), 0);
    ck_assert_int_eq(raw_try(&w, ack, 9, TAG_MESSAGE, 0), 0);
    ck_assert_int_eq(raw_try(&w, ack, 9, TAG_MESSAGE, 0), REC_E_TAG);
    rec_rx_done(&w.rx);
    raw_init(&w);
    ck_assert_int_eq(rec_rx_set_rekey_interval(&w.rx, 2), 0);
    ck_assert_int_eq(raw_try(&w, ack, 9, TAG_REKEY, 0), REC_E_TAG);
    rec_rx_done(&w.rx);
    raw_init(&w);
    ck_assert_int_eq(rec_rx_set_rekey_interval(&w.rx, 2), 0);
    ck_assert_int_eq(raw_try(&w, ack, 9, TAG_MESSAGE, 0), 0);
    ck_assert_int_eq(raw_try(&w, ack, 9, TAG_REKEY, 0), 0);
    ck_assert_int_eq(raw_try(&w, ack, 9, TAG_MESSAGE, 0), 0);
    /* FINAL at a rekey slot carries FINAL (which rekeys as well). */
    ck_assert_int_eq(raw_try(&w, fin, 9, TAG_FINAL, 0), 0);
    rec_rx_done(&w.rx);
    sodium_memzero(&w.st, sizeof(w.st));
}
END_TEST

START_TEST(test_after_end_and_poison)
{
    static uint8_t frame[REC_FRAME_MAX], f2[REC_FRAME_MAX], plain[REC_BODY_MAX];
    const uint8_t d = 'q';
    struct raw w;
    struct pair p;
    struct rec_record r;
    size_t flen, f2len;
    uint8_t ack[9] = {REC_ACK, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t fin[9] = {REC_FINAL, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t rst[3] = {REC_RESET, 4, 0};

    /* Anything after FINAL (crafted, since rec_tx refuses). */
    raw_init(&w);
    ck_assert_int_eq(raw_try(&w, fin, 9, TAG_FINAL, 0), 0);
    ck_assert_int_eq(raw_try(&w, ack, 9, TAG_MESSAGE, 0), REC_E_AFTER_END);
    ck_assert_int_eq(rec_rx_eof(&w.rx), REC_E_FAILED);
    rec_rx_done(&w.rx);
    raw_init(&w);
    ck_assert_int_eq(raw_try(&w, rst, 3, TAG_FINAL, 0), 0);
    ck_assert_int_eq(raw_try(&w, fin, 9, TAG_FINAL, 0), REC_E_AFTER_END);
    rec_rx_done(&w.rx);
    sodium_memzero(&w.st, sizeof(w.st));

    /* Poisoned: a good record after a bad one still fails, and EOF is not clean. */
    pair_init(&p);
    ck_assert_int_eq(rec_tx_data(&p.tx, &d, 1, frame, sizeof(frame), &flen), 0);
    ck_assert_int_eq(rec_tx_data(&p.tx, &d, 1, f2, sizeof(f2), &f2len), 0);
    frame[5] ^= 1;
    ck_assert_int_eq(rec_rx_open(&p.rx, frame + 2, flen - 2, 0, plain, REC_BODY_MAX, &r),
                     REC_E_DECRYPT);
    ck_assert_int_eq(rec_rx_open(&p.rx, f2 + 2, f2len - 2, 0, plain, REC_BODY_MAX, &r),
                     REC_E_FAILED);
    ck_assert_int_eq(rec_rx_eof(&p.rx), REC_E_FAILED);
    ck_assert(sodium_is_zero((const unsigned char *)&p.rx.st, sizeof(p.rx.st)));
    pair_done(&p);

    /* A caller error (plaintext buffer too small) poisons too: the stream is
     * not retried with the same record. */
    pair_init(&p);
    ck_assert_int_eq(rec_tx_data(&p.tx, &d, 1, frame, sizeof(frame), &flen), 0);
    ck_assert_int_eq(rec_rx_open(&p.rx, frame + 2, flen - 2, 0, plain, 9, &r), REC_E_ARG);
    ck_assert_int_eq(rec_rx_open(&p.rx, frame + 2, flen - 2, 0, plain, 10, &r), REC_E_FAILED);
    pair_done(&p);
}
END_TEST

START_TEST(test_eof)
{
    static uint8_t frame[REC_FRAME_MAX], plain[REC_BODY_MAX];
    const uint8_t d = 'e';
    struct pair p;
    size_t flen;

    pair_init(&p); /* EOF right after the header */
    ck_assert_int_eq(rec_rx_eof(&p.rx), REC_E_TRUNCATED);
    ck_assert_int_eq(p.rx.state, REC_RX_FAILED);
    ck_assert_int_eq(rec_rx_eof(&p.rx), REC_E_FAILED);
    pair_done(&p);

    pair_init(&p); /* after data and an ACK */
    ck_assert_int_eq(rec_tx_data(&p.tx, &d, 1, frame, sizeof(frame), &flen), 0);
    open_ok(&p.rx, frame, flen, 0, plain);
    ck_assert_int_eq(rec_tx_ack(&p.tx, 0, frame, sizeof(frame), &flen), 0);
    open_ok(&p.rx, frame, flen, 0, plain);
    ck_assert_int_eq(rec_rx_eof(&p.rx), REC_E_TRUNCATED);
    pair_done(&p);

    pair_init(&p); /* after FINAL: clean, and asking twice stays clean */
    ck_assert_int_eq(rec_tx_final(&p.tx, frame, sizeof(frame), &flen), 0);
    open_ok(&p.rx, frame, flen, 0, plain);
    ck_assert_int_eq(rec_rx_eof(&p.rx), 0);
    ck_assert_int_eq(rec_rx_eof(&p.rx), 0);
    ck_assert_int_eq(p.rx.state, REC_RX_FINAL);
    pair_done(&p);
}
END_TEST

/* A finishes its direction; B keeps sending, ACKs, and finishes later. */
START_TEST(test_half_close)
{
    static uint8_t frame[REC_FRAME_MAX], plain[REC_BODY_MAX], data[3000];
    uint8_t ka[REC_KEY_LEN], kb[REC_KEY_LEN], ha[REC_HEADER_LEN], hb[REC_HEADER_LEN];
    struct rec_tx atx, btx;
    struct rec_rx arx, brx; /* arx receives B's direction, brx A's */
    struct rec_record r;
    size_t flen;

    randombytes_buf(data, sizeof(data));
    make_key(ka);
    make_key(kb);
    ck_assert_int_eq(rec_tx_init(&atx, ka, ha), 0);
    ck_assert_int_eq(rec_tx_init(&btx, kb, hb), 0);
    ck_assert_int_eq(rec_rx_init(&brx, ka, ha), 0);
    ck_assert_int_eq(rec_rx_init(&arx, kb, hb), 0);

    ck_assert_int_eq(rec_tx_data(&atx, data, 100, frame, sizeof(frame), &flen), 0);
    open_ok(&brx, frame, flen, rec_tx_offset(&btx), plain);
    ck_assert_int_eq(rec_tx_final(&atx, frame, sizeof(frame), &flen), 0);
    r = open_ok(&brx, frame, flen, rec_tx_offset(&btx), plain);
    ck_assert_int_eq(r.type, REC_FINAL);
    ck_assert_int_eq(rec_rx_eof(&brx), 0); /* A's direction ended cleanly */

    /* B's direction goes on. */
    ck_assert_int_eq(rec_tx_ack(&btx, rec_rx_received(&brx), frame, sizeof(frame), &flen), 0);
    r = open_ok(&arx, frame, flen, rec_tx_offset(&atx), plain);
    ck_assert_uint_eq(r.value, 100);
    for (size_t off = 0; off < sizeof(data); off += 1000) {
        ck_assert_int_eq(rec_tx_data(&btx, data + off, 1000, frame, sizeof(frame), &flen), 0);
        r = open_ok(&arx, frame, flen, rec_tx_offset(&atx), plain);
        ck_assert_uint_eq(r.value, off);
        ck_assert_mem_eq(r.data, data + off, 1000);
    }
    ck_assert_int_eq(rec_tx_final(&btx, frame, sizeof(frame), &flen), 0);
    r = open_ok(&arx, frame, flen, rec_tx_offset(&atx), plain);
    ck_assert_uint_eq(r.value, sizeof(data));
    ck_assert_int_eq(rec_rx_eof(&arx), 0);
    rec_tx_done(&atx);
    rec_tx_done(&btx);
    rec_rx_done(&arx);
    rec_rx_done(&brx);
}
END_TEST

/* Rekey every 3rd record over thousands of records, in both a matching and a
 * mismatched receiver. */
START_TEST(test_rekey)
{
    static uint8_t frame[REC_FRAME_MAX], plain[REC_BODY_MAX], data[600];
    struct pair p;
    struct rec_rx other; /* default interval: must trip on record 3 */
    struct rec_record r;
    size_t flen;
    uint64_t acked = 0;
    int other_rc = 0;

    randombytes_buf(data, sizeof(data));
    pair_init(&p);
    ck_assert_int_eq(rec_rx_init(&other, p.key, p.hdr), 0);
    ck_assert_int_eq(rec_tx_set_rekey_interval(&p.tx, 3), 0);
    ck_assert_int_eq(rec_rx_set_rekey_interval(&p.rx, 3), 0);
    for (int i = 0; i < 5000; i++) {
        size_t n = 1 + (size_t)i % sizeof(data);
        uint64_t off = rec_tx_offset(&p.tx);
        if (i % 7 == 6) {
            acked += (uint64_t)i;
            ck_assert_int_eq(rec_tx_ack(&p.tx, acked, frame, sizeof(frame), &flen), 0);
        } else {
            ck_assert_int_eq(rec_tx_data(&p.tx, data, n, frame, sizeof(frame), &flen), 0);
        }
        r = open_ok(&p.rx, frame, flen, UINT64_MAX, plain);
        if (r.type == REC_DATA) {
            ck_assert_uint_eq(r.value, off);
            ck_assert_mem_eq(r.data, data, n);
        }
        if (i < 3)
            other_rc =
                rec_rx_open(&other, frame + 2, flen - 2, UINT64_MAX, plain, REC_BODY_MAX, &r);
        if (i < 2)
            ck_assert_int_eq(other_rc, 0);
    }
    ck_assert_int_eq(other_rc, REC_E_TAG);
    ck_assert_uint_eq(p.tx.records, 5000);
    ck_assert_int_eq(rec_tx_final(&p.tx, frame, sizeof(frame), &flen), 0);
    r = open_ok(&p.rx, frame, flen, UINT64_MAX, plain);
    ck_assert_uint_eq(r.value, rec_tx_offset(&p.tx));
    ck_assert_int_eq(rec_rx_eof(&p.rx), 0);
    rec_rx_done(&other);
    pair_done(&p);
}
END_TEST

START_TEST(test_wrong_key_or_header)
{
    static uint8_t frame[REC_FRAME_MAX], plain[REC_BODY_MAX];
    const uint8_t d[4] = "abcd";
    struct pair p;
    struct rec_rx rx;
    struct rec_record r;
    uint8_t key2[REC_KEY_LEN], hdr2[REC_HEADER_LEN];
    size_t flen;

    pair_init(&p);
    ck_assert_int_eq(rec_tx_data(&p.tx, d, 4, frame, sizeof(frame), &flen), 0);
    /* One bit of the key. */
    memcpy(key2, p.key, sizeof(key2));
    key2[31] ^= 0x80;
    ck_assert_int_eq(rec_rx_init(&rx, key2, p.hdr), 0);
    ck_assert_int_eq(rec_rx_open(&rx, frame + 2, flen - 2, 0, plain, REC_BODY_MAX, &r),
                     REC_E_DECRYPT);
    rec_rx_done(&rx);
    /* One bit of the header: in the part that derives the subkey, and in the part
     * that becomes the nonce. */
    for (size_t i = 0; i < REC_HEADER_LEN; i += REC_HEADER_LEN - 1) {
        memcpy(hdr2, p.hdr, sizeof(hdr2));
        hdr2[i] ^= 1;
        ck_assert_int_eq(rec_rx_init(&rx, p.key, hdr2), 0);
        ck_assert_int_eq(rec_rx_open(&rx, frame + 2, flen - 2, 0, plain, REC_BODY_MAX, &r),
                         REC_E_DECRYPT);
        rec_rx_done(&rx);
    }
    /* The other direction's key (k2 instead of k1). */
    make_key(key2);
    ck_assert_int_eq(rec_rx_init(&rx, key2, p.hdr), 0);
    ck_assert_int_eq(rec_rx_open(&rx, frame + 2, flen - 2, 0, plain, REC_BODY_MAX, &r),
                     REC_E_DECRYPT);
    rec_rx_done(&rx);
    /* The right pair still works. */
    open_ok(&p.rx, frame, flen, 0, plain);
    pair_done(&p);
}
END_TEST

/* In-place: plaintext written over the body, starting one byte in. */
START_TEST(test_inplace)
{
    static uint8_t frame[REC_FRAME_MAX], data[REC_DATA_MAX];
    struct pair p;
    struct rec_record r;
    size_t flen;

    randombytes_buf(data, sizeof(data));
    pair_init(&p);
    for (size_t n = 1; n <= REC_DATA_MAX; n = n * 3 + 1) {
        uint64_t off = rec_tx_offset(&p.tx);
        ck_assert_int_eq(rec_tx_data(&p.tx, data, n, frame, sizeof(frame), &flen), 0);
        ck_assert_int_eq(rec_rx_open(&p.rx, frame + 2, flen - 2, 0, frame + 3, flen - 3, &r), 0);
        ck_assert_ptr_eq(r.data, frame + 3 + 9);
        ck_assert_uint_eq(r.value, off);
        ck_assert_uint_eq(r.len, n);
        ck_assert_mem_eq(r.data, data, n);
    }
    /* A failed in-place open leaves the body bytes as they were (before the
     * MAC check nothing is written). */
    ck_assert_int_eq(rec_tx_data(&p.tx, data, 100, frame, sizeof(frame), &flen), 0);
    frame[flen - 1] ^= 1;
    {
        static uint8_t copy[REC_FRAME_MAX];
        memcpy(copy, frame, flen);
        ck_assert_int_eq(rec_rx_open(&p.rx, frame + 2, flen - 2, 0, frame + 3, flen - 3, &r),
                         REC_E_DECRYPT);
        ck_assert_mem_eq(copy, frame, flen);
    }
    pair_done(&p);
}
END_TEST

/* The u64 byte counters at their limit (states set directly: 2^64 bytes
 * cannot be sent in a test). */
START_TEST(test_counter_overflow)
{
    static uint8_t frame[REC_FRAME_MAX], plain[REC_BODY_MAX];
    const uint8_t d[2] = {1, 2};
    uint8_t pl[11] = {REC_DATA, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 'b'};
    struct pair p;
    struct raw w;
    struct rec_record r;
    size_t flen = 5;

    pair_init(&p);
    p.tx.offset = UINT64_MAX - 1;
    p.rx.received = UINT64_MAX - 1;
    ck_assert_int_eq(rec_tx_data(&p.tx, d, 2, frame, sizeof(frame), &flen), REC_E_OVERFLOW);
    ck_assert_uint_eq(flen, 5);
    ck_assert_int_eq(rec_tx_data(&p.tx, d, 1, frame, sizeof(frame), &flen), 0);
    r = open_ok(&p.rx, frame, flen, 0, plain);
    ck_assert_uint_eq(r.value, UINT64_MAX - 1);
    ck_assert_uint_eq(rec_rx_received(&p.rx), UINT64_MAX);
    ck_assert_uint_eq(rec_tx_offset(&p.tx), UINT64_MAX);
    ck_assert_int_eq(rec_tx_data(&p.tx, d, 1, frame, sizeof(frame), &flen), REC_E_OVERFLOW);
    ck_assert_int_eq(rec_tx_final(&p.tx, frame, sizeof(frame), &flen), 0);
    ck_assert_uint_eq(open_ok(&p.rx, frame, flen, 0, plain).value, UINT64_MAX);
    pair_done(&p);

    /* The record counter. */
    pair_init(&p);
    p.tx.records = UINT64_MAX;
    ck_assert_int_eq(rec_tx_ack(&p.tx, 0, frame, sizeof(frame), &flen), REC_E_OVERFLOW);
    pair_done(&p);

    /* A peer whose DATA would carry the count past 2^64 - 1. */
    raw_init(&w);
    w.rx.received = UINT64_MAX - 1;
    put_u64(pl + 1, UINT64_MAX - 1);
    ck_assert_int_eq(raw_try(&w, pl, 11, TAG_MESSAGE, 0), REC_E_OVERFLOW);
    rec_rx_done(&w.rx);
    sodium_memzero(&w.st, sizeof(w.st));
}
END_TEST

/* ---- boundaries of the open path ------------------------------------------------- */

START_TEST(test_open_short_bodies)
{
    static uint8_t body[REC_BODY_MAX + 2], plain[REC_BODY_MAX + 2];
    struct pair p;
    struct rec_record r;

    randombytes_buf(body, sizeof(body));
    for (size_t len = 0; len < REC_ABYTES; len++) {
        pair_init(&p);
        ck_assert_int_eq(rec_rx_open(&p.rx, body, len, 0, plain, sizeof(plain), &r), REC_E_SIZE);
        ck_assert_int_eq(p.rx.state, REC_RX_FAILED);
        pair_done(&p);
    }
    /* Exactly ABYTES of garbage: no plaintext, fails authentication. */
    pair_init(&p);
    ck_assert_int_eq(rec_rx_open(&p.rx, body, REC_ABYTES, 0, plain, sizeof(plain), &r),
                     REC_E_DECRYPT);
    pair_done(&p);
    /* One over the maximum is refused before decryption. */
    pair_init(&p);
    ck_assert_int_eq(rec_rx_open(&p.rx, body, REC_BODY_MAX + 1, 0, plain, sizeof(plain), &r),
                     REC_E_SIZE);
    pair_done(&p);
    pair_init(&p);
    ck_assert_int_eq(rec_rx_open(&p.rx, body, REC_BODY_MAX, 0, plain, sizeof(plain), &r),
                     REC_E_DECRYPT);
    pair_done(&p);
}
END_TEST

/* Every truncation (and one extension) of each kind of valid record fails. */
START_TEST(test_open_every_truncation)
{
    static uint8_t frame[REC_FRAME_MAX + 1], data[REC_DATA_MAX], plain[REC_BODY_MAX + 1];
    const uint8_t text[] = "bye";
    uint8_t key[REC_KEY_LEN], hdr[REC_HEADER_LEN];
    struct rec_tx tx;
    struct rec_rx rx;
    struct rec_record r;
    size_t flen;

    randombytes_buf(data, sizeof(data));
    make_key(key);
    for (int kind = 0; kind < 5; kind++) {
        ck_assert_int_eq(rec_tx_init(&tx, key, hdr), 0);
        switch (kind) {
        case 0:
            ck_assert_int_eq(rec_tx_data(&tx, data, 1, frame, sizeof(frame), &flen), 0);
            break;
        case 1:
            ck_assert_int_eq(rec_tx_data(&tx, data, REC_DATA_MAX, frame, sizeof(frame), &flen), 0);
            break;
        case 2:
            ck_assert_int_eq(rec_tx_ack(&tx, 0, frame, sizeof(frame), &flen), 0);
            break;
        case 3:
            ck_assert_int_eq(rec_tx_final(&tx, frame, sizeof(frame), &flen), 0);
            break;
        default:
            ck_assert_int_eq(rec_tx_reset(&tx, 1, text, 3, frame, sizeof(frame), &flen), 0);
            break;
        }
        rec_tx_done(&tx);
        for (size_t len = 0; len <= flen - 2 + 1; len++) {
            int rc, want;
            ck_assert_int_eq(rec_rx_init(&rx, key, hdr), 0);
            rc = rec_rx_open(&rx, frame + 2, len, 0, plain, sizeof(plain), &r);
            if (len == flen - 2)
                want = 0;
            else if (len < REC_ABYTES || len > REC_BODY_MAX)
                want = REC_E_SIZE;
            else
                want = REC_E_DECRYPT;
            ck_assert_msg(rc == want, "kind %d len %zu: %s", kind, len, rec_strerror(rc));
            rec_rx_done(&rx);
        }
    }
}
END_TEST

START_TEST(test_plain_decode_boundaries)
{
    static uint8_t p[REC_PLAIN_MAX + 2];
    struct rec_record r = {.type = 0xee};

    memset(p, 0, sizeof(p));
    ck_assert_int_eq(rec_plain_decode(p, 0, &r), REC_E_TYPE);
    ck_assert_int_eq(r.type, 0xee); /* untouched on error */
    /* DATA: 9 (no data) short, 10 and REC_PLAIN_MAX exact ends, one over. */
    p[0] = REC_DATA;
    put_u64(p + 1, 0x0102030405060708ULL);
    for (size_t len = 1; len < 10; len++)
        ck_assert_int_eq(rec_plain_decode(p, len, &r), REC_E_MALFORMED);
    ck_assert_int_eq(rec_plain_decode(p, 10, &r), 0);
    ck_assert_uint_eq(r.value, 0x0102030405060708ULL);
    ck_assert_ptr_eq(r.data, p + 9);
    ck_assert_uint_eq(r.len, 1);
    ck_assert_int_eq(rec_plain_decode(p, REC_PLAIN_MAX, &r), 0);
    ck_assert_uint_eq(r.len, REC_DATA_MAX);
    ck_assert_int_eq(rec_plain_decode(p, REC_PLAIN_MAX + 1, &r), REC_E_MALFORMED);
    /* ACK and FINAL: exactly 9. */
    for (uint8_t t = REC_ACK; t <= REC_FINAL; t++) {
        p[0] = t;
        put_u64(p + 1, UINT64_MAX);
        ck_assert_int_eq(rec_plain_decode(p, 8, &r), REC_E_MALFORMED);
        ck_assert_int_eq(rec_plain_decode(p, 9, &r), 0);
        ck_assert_int_eq(r.type, t);
        ck_assert_uint_eq(r.value, UINT64_MAX);
        ck_assert_uint_eq(r.len, 0);
        ck_assert_int_eq(rec_plain_decode(p, 10, &r), REC_E_MALFORMED);
    }
    /* RESET: reason 1..4; text length exact, one short, one over; 200 max. */
    p[0] = REC_RESET;
    for (int reason = 0; reason <= 255; reason++) {
        p[1] = (uint8_t)reason;
        p[2] = 0;
        ck_assert_int_eq(rec_plain_decode(p, 3, &r), reason >= 1 && reason <= 4 ? 0 : REC_E_REASON);
    }
    p[1] = REC_RESET_PROTOCOL;
    ck_assert_int_eq(rec_plain_decode(p, 2, &r), REC_E_MALFORMED);
    for (size_t tl = 0; tl <= 255; tl++) {
        p[2] = (uint8_t)tl;
        memset(p + 3, 'r', tl);
        ck_assert_int_eq(rec_plain_decode(p, 3 + tl - (tl > 0), &r), tl > 0 ? REC_E_MALFORMED : 0);
        ck_assert_int_eq(rec_plain_decode(p, 3 + tl + 1, &r), REC_E_MALFORMED);
        ck_assert_int_eq(rec_plain_decode(p, 3 + tl, &r), tl <= REC_TEXT_MAX ? 0 : REC_E_MALFORMED);
        if (tl <= REC_TEXT_MAX) {
            ck_assert_uint_eq(r.len, tl);
            ck_assert_ptr_eq(r.data, p + 3);
            ck_assert_int_eq(r.reason, REC_RESET_PROTOCOL);
        }
    }
    /* Every other type byte. */
    for (int t = 0; t <= 255; t++) {
        if (t >= REC_DATA && t <= REC_FINISHED)
            continue;
        p[0] = (uint8_t)t;
        ck_assert_int_eq(rec_plain_decode(p, 9, &r), REC_E_TYPE);
        ck_assert_int_eq(rec_plain_decode(p, 1, &r), REC_E_TYPE);
    }
}
END_TEST

START_TEST(test_strerror)
{
    ck_assert_str_eq(rec_strerror(0), "success");
    ck_assert_str_eq(rec_strerror(12345), "unknown error");
    for (int e = REC_E_ARG; e <= REC_E_FAILED; e++) {
        ck_assert_str_ne(rec_strerror(e), "unknown error");
        for (int f = REC_E_ARG; f < e; f++)
            ck_assert_str_ne(rec_strerror(e), rec_strerror(f));
    }
}
END_TEST

/* The committed fuzz seeds (tests/tools/gen_rec_corpus.c) are valid streams
 * under the harness's fixed key and header: the generator's state trick works
 * and the fuzzer starts from records that get past authentication. */
static Suite *rec_suite(void)
{
    Suite *s = suite_create("rec");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_roundtrip_types);
    tcase_add_test(tc, test_data_sizes);
    tcase_add_test(tc, test_data_over_max_rejected);
    tcase_add_test(tc, test_tx_errors);
    tcase_add_test(tc, test_ack_rules);
    tcase_add_test(tc, test_crafted_semantics);
    tcase_add_test(tc, test_tags);
    tcase_add_test(tc, test_after_end_and_poison);
    tcase_add_test(tc, test_eof);
    tcase_add_test(tc, test_half_close);
    tcase_add_test(tc, test_rekey);
    tcase_add_test(tc, test_wrong_key_or_header);
    tcase_add_test(tc, test_inplace);
    tcase_add_test(tc, test_counter_overflow);
    tcase_add_test(tc, test_open_short_bodies);
    tcase_add_test(tc, test_open_every_truncation);
    tcase_add_test(tc, test_plain_decode_boundaries);
    tcase_add_test(tc, test_strerror);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(rec_suite());
}
