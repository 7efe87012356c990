/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for common/e2e.c.
 *
 * Byte 0 picks a mode:
 *   even: the rest is raw bytes from a hostile relay leg, fed in pieces to a
 *         responder and to an initiator session (handshake parser, framing,
 *         EOF handling);
 *   odd:  the rest is a program of operations on a pair of honest sessions
 *         wired back to back, with tampering, dropping and EOF in between
 *         (state machine, record layer, bounds). Bit 1 of byte 0: the
 *         initiator offers AES-256-GCM, bit 2: the responder does (both: the
 *         stream runs on it, D37); bit 3: both offer resumption and
 *         STREAM_ACK (D43), whose acknowledgments the program hands over
 *         (genuine) or makes up (forged). Invariants checked: what a side
 *         delivers is always a prefix of what the peer sent, a clean FINAL
 *         means all of it arrived, both sides agree on the record suite, a
 *         genuine STREAM_ACK is never refused and a forged one always is.
 *         Bit 4: link sessions (D46): an honest first stream makes one on
 *         both sides, and the program runs on a stream keyed by it (which
 *         must be keyed on both sides once both handshakes are done).
 * Raw mode, bit 1 of byte 0: both sessions have a store holding a known
 * link session (a fixed id), so a hostile session-keyed frame reaches the
 * lookup and the AEAD; the initiator is then keyed by it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "e2els.h"
#include "suite.h"

struct fz_side {
    struct e2e s;
    uint64_t sent;      /* data bytes accepted by e2e_send */
    uint64_t got;       /* data bytes delivered */
    int finals, errors; /* events seen */
};

static uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32];
static const uint8_t link_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* The byte at stream position i of a side's plaintext; sides differ. */
static uint8_t pattern(int who, uint64_t i)
{
    return (uint8_t)(i * 131u + (uint64_t)who * 7u + (i >> 9));
}

static void events(struct fz_side *x)
{
    struct e2e_event ev;

    while (e2e_next_event(&x->s, &ev) == 1) {
        if (ev.type == E2E_EV_PEER_FINAL)
            x->finals++;
        if (ev.type == E2E_EV_ERROR)
            x->errors++;
    }
}

static void deliver(struct fz_side *x, int peer)
{
    size_t n;
    const uint8_t *p = e2e_plain_peek(&x->s, &n);

    for (size_t i = 0; i < n; i++) {
        if (p[i] != pattern(peer, x->got + i))
            abort(); /* delivered something the peer never sent */
    }
    if (n > 0 && e2e_plain_consume(&x->s, n) == 0)
        x->got += n;
}

static void send_n(struct fz_side *x, int who, size_t n)
{
    uint8_t buf[40000];
    size_t acc = 0;

    if (n > sizeof(buf))
        n = sizeof(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(who, x->sent + i);
    if (e2e_send(&x->s, buf, n, &acc) == 0)
        x->sent += acc;
}

/* Moves up to max bytes from one side's output to the other's input; with
 * flip, one bit of the first byte moved is flipped; with drop, the first byte
 * is dropped. */
static void wire(struct fz_side *from, struct fz_side *to, size_t max, int flip, int drop)
{
    uint8_t tmp[E2E_OUT_CAP];
    size_t n, took = 0;
    const uint8_t *p = e2e_out_peek(&from->s, &n);

    if (n > max)
        n = max;
    if (n == 0)
        return;
    if (drop) {
        (void)e2e_out_consume(&from->s, 1);
        return;
    }
    memcpy(tmp, p, n);
    if (flip)
        tmp[0] ^= (uint8_t)(1u << (flip & 7));
    (void)e2e_feed(&to->s, tmp, n, &took);
    (void)e2e_out_consume(&from->s, took);
}

/* STREAM_ACK (D43): the one due at `from`, handed to `to` (genuine: never
 * refused), or, with forge, one made up from it (an offset moved by delta,
 * the mac's first byte xored with flip): always refused unless it is the
 * genuine one (delta 0, flip 0). */
static void oob(struct fz_side *from, struct fz_side *to, int forge, uint8_t arg)
{
    uint8_t mac[E2E_ACK_MAC_LEN];
    uint64_t off = 0;
    int rc;

    if (!forge) {
        if (e2e_oob_ack_take(&from->s, &off, mac) == 1 && e2e_oob_ack_in(&to->s, off, mac) < 0)
            abort();
        return;
    }
    memset(mac, arg, sizeof(mac));
    off = (uint64_t)arg << (arg & 31);
    rc = e2e_oob_ack_in(&to->s, off, mac);
    if (e2e_oob(&to->s) ? rc != E2E_E_ACK : rc != E2E_E_ARG)
        abort(); /* a mac of 16 equal bytes is not a guess that may pass */
}

static struct e2els_store st_a, st_b;

/* An honest first stream of the link (id 41): its KK makes a session on
 * both sides. */
static void make_session(unsigned offer_a, unsigned offer_b, uint64_t resume_cap)
{
    static struct fz_side a, b;

    memset(&st_a, 0, sizeof(st_a));
    memset(&st_b, 0, sizeof(st_b));
    e2els_store_tick(&st_a, 1);
    e2els_store_tick(&st_b, 1);
    if (e2e_init_ls(&a.s, E2E_INITIATOR, a_priv, NULL, NULL, b_pub, link_id, 41, resume_cap,
                    offer_a, &st_a) != 0 ||
        e2e_init_ls(&b.s, E2E_RESPONDER, b_priv, NULL, NULL, a_pub, link_id, 41, resume_cap,
                    offer_b, &st_b) != 0)
        abort();
    for (int i = 0; i < 3; i++) {
        wire(&a, &b, SIZE_MAX, 0, 0);
        wire(&b, &a, SIZE_MAX, 0, 0);
    }
    if (e2els_store_count(&st_a) != 1 || e2els_store_count(&st_b) != 1)
        abort();
    e2e_done(&a.s);
    e2e_done(&b.s);
}

static void run_program(const uint8_t *d, size_t n, unsigned offer_a, unsigned offer_b,
                        uint64_t resume_cap, int ls)
{
    static struct fz_side a, b;
    struct fz_side *x[2] = {&a, &b};
    int eof[2] = {0, 0}, dirty = 0;

    if (ls)
        make_session(offer_a, offer_b, resume_cap);
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    if (e2e_init_ls(&a.s, E2E_INITIATOR, a_priv, NULL, NULL, b_pub, link_id, 42, resume_cap,
                    offer_a, ls ? &st_a : NULL) != 0 ||
        e2e_init_ls(&b.s, E2E_RESPONDER, b_priv, NULL, NULL, a_pub, link_id, 42, resume_cap,
                    offer_b, ls ? &st_b : NULL) != 0)
        abort();
    if (ls && !e2e_ls_keyed(&a.s))
        abort();
    for (size_t i = 0; i + 1 < n; i += 2) {
        int who = d[i] & 1, op = (d[i] >> 1) % 12;
        size_t arg = (size_t)d[i + 1] * 157u + 1u;
        struct fz_side *me = x[who], *peer = x[!who];

        switch (op) {
        case 0:
            send_n(me, who, arg);
            break;
        case 1:
        case 2:
            wire(me, peer, op == 1 ? arg : SIZE_MAX, 0, 0);
            break;
        case 3:
            deliver(me, !who);
            break;
        case 4:
            (void)e2e_shutdown(&me->s);
            break;
        case 5:
            (void)e2e_reset(&me->s, (uint8_t)(1 + d[i + 1] % 4), "fuzz");
            break;
        case 6:
            wire(me, peer, arg, 1 + (d[i + 1] & 7), 0);
            dirty = 1;
            break;
        case 7:
            wire(me, peer, arg, 0, 1);
            dirty = 1;
            break;
        case 8:
            e2e_eof(&peer->s);
            eof[!who] = 1;
            break;
        case 9:
            (void)e2e_set_rekey_interval(&me->s, 1 + d[i + 1] % 3);
            break;
        default:
            oob(me, peer, op == 11, d[i + 1]);
            break;
        }
        events(&a);
        events(&b);
    }
    /* A clean FINAL on an untampered wire means every byte arrived. */
    for (int k = 0; k < 2; k++) {
        if (x[k]->finals > 0 && x[k]->errors == 0 && !dirty && x[k]->got != x[!k]->sent)
            abort();
        if (x[k]->finals > 1)
            abort();
    }
    (void)eof;
    /* Both handshakes done: the same suite, AES-256-GCM exactly when both offered it. */
    if (e2e_handshake_done(&a.s) && e2e_handshake_done(&b.s) &&
        (e2e_record_suite(&a.s) != e2e_record_suite(&b.s) ||
         e2e_record_suite(&a.s) != (int)suite_choose(offer_a, offer_b) ||
         e2e_ls_keyed(&a.s) != (ls != 0) || e2e_ls_keyed(&b.s) != (ls != 0)))
        abort();
    e2e_done(&a.s);
    e2e_done(&b.s);
}

static void run_raw(const uint8_t *d, size_t n, int ls)
{
    static struct e2e s;
    struct e2e_event ev;
    size_t took, plen;
    uint8_t key[E2ELS_KEY_LEN], id[E2ELS_ID_LEN];

    memset(key, 0x4b, sizeof(key));
    memset(id, 0x5a, sizeof(id));
    for (int role = 0; role < 2; role++) {
        memset(&st_a, 0, sizeof(st_a));
        e2els_store_tick(&st_a, 1);
        e2els_store_add(&st_a, key, id);
        if (e2e_init_ls(&s, role == 0 ? E2E_RESPONDER : E2E_INITIATOR, role == 0 ? b_priv : a_priv,
                        NULL, NULL, role == 0 ? a_pub : b_pub, link_id, 42, 0, SUITE_OFFER_CHACHA,
                        ls ? &st_a : NULL) != 0)
            abort();
        for (size_t off = 0; off < n;) {
            size_t k = 1 + (d[off] % 64);
            if (k > n - off)
                k = n - off;
            if (e2e_feed(&s, d + off, k, &took) != 0)
                break;
            off += k;
            (void)e2e_plain_peek(&s, &plen);
            if (plen > 0)
                abort(); /* nothing authenticates without the keys */
        }
        e2e_eof(&s);
        while (e2e_next_event(&s, &ev) == 1)
            if (ev.type != E2E_EV_ERROR)
                abort();
        e2e_done(&s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;

    if (!ready) {
        uint8_t seed[32];
        if (sodium_init() < 0)
            abort();
        memset(seed, 'a', sizeof(seed));
        crypto_box_seed_keypair(a_pub, a_priv, seed);
        memset(seed, 'b', sizeof(seed));
        crypto_box_seed_keypair(b_pub, b_priv, seed);
        ready = 1;
    }
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        /* Bit 5: both offer the keep_leg item (D48): input after the peer's
         * last record is left alone; bit 6: and the share_leg item (D58). */
        unsigned sa = (data[0] & 8 ? SUITE_OFFER_STREAM_ACK : 0) |
                      (data[0] & 32 ? SUITE_OFFER_KEEP_LEG : 0) |
                      (data[0] & 64 ? SUITE_OFFER_SHARE_LEG : 0);
        run_program(data + 1, size - 1, (data[0] & 2 ? SUITE_OFFER_ALL : SUITE_OFFER_CHACHA) | sa,
                    (data[0] & 4 ? SUITE_OFFER_ALL : SUITE_OFFER_CHACHA) | sa,
                    (sa & SUITE_OFFER_STREAM_ACK) ? E2E_RESUME_MIN : 0, data[0] & 16);
    } else
        run_raw(data + 1, size - 1, data[0] & 2);
    return 0;
}
