/* SPDX-License-Identifier: MIT */
/*
 * Tests for the record-suite negotiation (common/suite.c, docs/protocol.md
 * §7.1, design.md D37): the `cipher` setting and the CPU test, the HELLO
 * codec (an agent of before D37 accepts ours, ours accepts theirs), the
 * negotiation matrix through two e2e sessions back to back, the downgrade
 * attempts of a relay that rewrites an offer (with noise.c alone and through
 * e2e), and resumption (§7.3) with AES-256-GCM.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"
#include "lrcheck.h"
#include "noise.h"
#include "suite.h"

#define ALL    SUITE_OFFER_ALL
#define CHACHA SUITE_OFFER_CHACHA
#define AES    REC_SUITE_AES256_GCM
#define CHA    REC_SUITE_CHACHA20_POLY1305

START_TEST(cfg_and_offer)
{
    enum suite_cfg c = SUITE_CFG_AES;

    ck_assert_int_eq(suite_cfg_parse("auto", &c), 0);
    ck_assert_int_eq(c, SUITE_CFG_AUTO);
    ck_assert_int_eq(suite_cfg_parse("chacha20-poly1305", &c), 0);
    ck_assert_int_eq(c, SUITE_CFG_CHACHA);
    ck_assert_int_eq(suite_cfg_parse("aes-256-gcm", &c), 0);
    ck_assert_int_eq(c, SUITE_CFG_AES);
    ck_assert_int_ne(suite_cfg_parse("AES-256-GCM", &c), 0);
    ck_assert_int_ne(suite_cfg_parse("aes", &c), 0);
    ck_assert_int_ne(suite_cfg_parse("", &c), 0);
    ck_assert_int_eq(c, SUITE_CFG_AES); /* untouched by a refusal */
    ck_assert_str_eq(suite_cfg_name(SUITE_CFG_CHACHA), "chacha20-poly1305");
    ck_assert_str_eq(suite_name(AES), "aes-256-gcm");
    ck_assert_str_eq(suite_name(CHA), "chacha20-poly1305");
    /* auto follows the CPU; the two others do not. */
    ck_assert_uint_eq(suite_offer(SUITE_CFG_AUTO, true), ALL);
    ck_assert_uint_eq(suite_offer(SUITE_CFG_AUTO, false), CHACHA);
    ck_assert_uint_eq(suite_offer(SUITE_CFG_CHACHA, true), CHACHA);
    ck_assert_uint_eq(suite_offer(SUITE_CFG_AES, false), ALL);
    /* AES only when both offer it. */
    ck_assert_int_eq(suite_choose(ALL, ALL), AES);
    ck_assert_int_eq(suite_choose(ALL, CHACHA), CHA);
    ck_assert_int_eq(suite_choose(CHACHA, ALL), CHA);
    ck_assert_int_eq(suite_choose(CHACHA, CHACHA), CHA);
}
END_TEST

/* The CPU test agrees with the kernel's view of the CPU (x86 Linux). */
START_TEST(cpu_matches_proc)
{
#if defined(__x86_64__) && defined(__linux__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    bool aes = false, pclmul = false;

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        aes = strstr(line, " aes ") != NULL || strstr(line, " aes\n") != NULL;
        pclmul = strstr(line, " pclmulqdq ") != NULL || strstr(line, " pclmulqdq\n") != NULL;
        break;
    }
    fclose(f);
    ck_assert_int_eq(suite_cpu_aes(), aes && pclmul);
#else
    (void)suite_cpu_aes();
#endif
}
END_TEST

/* What agents before D32 accepted: version 1, flags bit 0 at most, any str8,
 * nothing after it (their resume_offer_check; D32's also takes ack_every
 * from the first 4 bytes). */
static bool old_agent_accepts(const uint8_t *p, size_t n)
{
    return n >= 3 && p[0] == 1 && (p[1] & ~1u) == 0 && n == 3 + (size_t)p[2];
}

START_TEST(hello_codec)
{
    uint8_t h[SUITE_HELLO_MAX];
    bool resume = false;
    uint32_t ack = 0;
    unsigned offer = 0;
    static const uint8_t none[] = {1, 0, 0}, with_aes[] = {1, 0, 3, 1, 1, 1};
    static const uint8_t resume_only[] = {1, 1, 4, 0, 1, 0, 0};
    static const uint8_t resume_aes[] = {1, 1, 7, 0, 1, 0, 0, 1, 1, 1};

    /* ChaCha only: byte for byte the HELLO of before D37 (D32's with resumption). */
    ck_assert_uint_eq(suite_hello_encode(false, 0, CHACHA, h), 3);
    ck_assert(memcmp(h, none, 3) == 0);
    ck_assert_uint_eq(suite_hello_encode(true, 65536, CHACHA, h), 7);
    ck_assert(memcmp(h, resume_only, 7) == 0);
    /* AES offered: the suites item after what there was. */
    ck_assert_uint_eq(suite_hello_encode(false, 0, ALL, h), 6);
    ck_assert(memcmp(h, with_aes, 6) == 0);
    ck_assert(old_agent_accepts(h, 6));
    ck_assert_int_eq(suite_hello_check(h, 6, &resume, &ack, &offer), 0);
    ck_assert(!resume);
    ck_assert_uint_eq(offer, ALL);
    ck_assert_uint_eq(suite_hello_encode(true, 65536, ALL, h), 10);
    ck_assert(memcmp(h, resume_aes, 10) == 0);
    ck_assert(old_agent_accepts(h, 10));
    ck_assert_int_eq(suite_hello_check(h, 10, &resume, &ack, &offer), 0);
    ck_assert(resume);
    ck_assert_uint_eq(ack, 65536);
    ck_assert_uint_eq(offer, ALL);
    ck_assert_int_eq(suite_hello_check(resume_only, 7, &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, CHACHA);
    ck_assert_uint_eq(ack, 65536);
    /* An agent before D32: resumption with an empty field, or other content
     * shorter than ack_every; no items in it. */
    {
        static const uint8_t d31[] = {1, 1, 0}, short3[] = {1, 1, 3, 1, 1, 1};
        ck_assert_int_eq(suite_hello_check(d31, 3, &resume, &ack, &offer), 0);
        ck_assert(resume);
        ck_assert_uint_eq(ack, RESUME_ACK_MIN);
        ck_assert_uint_eq(offer, CHACHA);
        ck_assert_int_eq(suite_hello_check(short3, 6, &resume, &ack, &offer), 0);
        ck_assert_uint_eq(offer, CHACHA);
    }
    /* Unknown items and unknown suite ids are skipped; a ChaCha id listed is fine. */
    {
        static const uint8_t x[] = {1, 0, 12, 9, 2, 0xaa, 0xbb, 1, 4, 0, 7, 1, 200, 9, 0};
        ck_assert(old_agent_accepts(x, sizeof(x)));
        ck_assert_int_eq(suite_hello_check(x, sizeof(x), &resume, &ack, &offer), 0);
        ck_assert_uint_eq(offer, ALL);
        static const uint8_t y[] = {1, 0, 5, 1, 3, 0, 7, 200};
        ck_assert_int_eq(suite_hello_check(y, sizeof(y), &resume, &ack, &offer), 0);
        ck_assert_uint_eq(offer, CHACHA);
    }
    /* The longest field (255 bytes of one unknown item) is accepted. */
    {
        uint8_t z[3 + 255] = {1, 0, 255, 77, 253};
        ck_assert_int_eq(suite_hello_check(z, sizeof(z), &resume, &ack, &offer), 0);
        ck_assert_uint_eq(offer, CHACHA);
    }
    /* Refused, and nothing written. */
    {
        static const uint8_t past[] = {1, 0, 3, 1, 2, 1};           /* item runs past the field */
        static const uint8_t half[] = {1, 0, 1, 1};                 /* item without its length */
        static const uint8_t trail[] = {1, 0, 0, 0};                /* a byte after the field */
        static const uint8_t ver[] = {2, 0, 0};                     /* version */
        static const uint8_t flag[] = {1, 2, 0};                    /* unknown flag */
        static const uint8_t cut[] = {1, 0, 3, 1, 1};               /* field shorter than said */
        static const uint8_t rpast[] = {1, 1, 6, 0, 1, 0, 0, 1, 5}; /* after ack_every */
        const struct {
            const uint8_t *p;
            size_t n;
        } bad[] = {
            {past, sizeof(past)}, {half, sizeof(half)}, {trail, sizeof(trail)}, {ver, sizeof(ver)},
            {flag, sizeof(flag)}, {cut, sizeof(cut)},   {rpast, sizeof(rpast)}, {h, 2}};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            offer = 99;
            ck_assert_int_eq(suite_hello_check(bad[i].p, bad[i].n, &resume, &ack, &offer),
                             -EBADMSG);
            ck_assert_uint_eq(offer, 99);
        }
    }
}
END_TEST

/* ---- two sessions back to back -------------------------------------------- */

struct pair {
    struct e2e *a, *b; /* a: initiator */
    uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], link[16];
    uint8_t *got_a, *got_b;
    size_t na, nb, cap;
    int err_a, err_b, hs_a, hs_b;
};

static void drain(struct e2e *s, int *err, int *hs)
{
    struct e2e_event ev;

    while (e2e_next_event(s, &ev) == 1) {
        if (ev.type == E2E_EV_ERROR)
            *err = ev.err;
        if (ev.type == E2E_EV_HANDSHAKE)
            (*hs)++;
    }
}

static void pair_new(struct pair *p, unsigned oa, unsigned ob, uint64_t resume_cap)
{
    memset(p, 0, sizeof(*p));
    p->a = calloc(1, sizeof(struct e2e));
    p->b = calloc(1, sizeof(struct e2e));
    p->cap = 1 << 20;
    p->got_a = malloc(p->cap);
    p->got_b = malloc(p->cap);
    ck_assert(p->a && p->b && p->got_a && p->got_b);
    crypto_box_keypair(p->a_pub, p->a_priv);
    crypto_box_keypair(p->b_pub, p->b_priv);
    randombytes_buf(p->link, sizeof(p->link));
    ck_assert_int_eq(e2e_init_suites(p->a, E2E_INITIATOR, p->a_priv, NULL, NULL, p->b_pub, p->link,
                                     5, resume_cap, oa),
                     0);
    ck_assert_int_eq(e2e_init_suites(p->b, E2E_RESPONDER, p->b_priv, NULL, NULL, p->a_pub, p->link,
                                     5, resume_cap, ob),
                     0);
}

static void pair_free(struct pair *p)
{
    e2e_done(p->a);
    e2e_done(p->b);
    free(p->a);
    free(p->b);
    free(p->got_a);
    free(p->got_b);
}

static size_t move(struct e2e *from, struct e2e *to)
{
    size_t n, took = 0;
    const uint8_t *q = e2e_out_peek(from, &n);

    if (n == 0 || e2e_suspended(to) || e2e_feed(to, q, n, &took) != 0)
        return 0;
    ck_assert_int_eq(e2e_out_consume(from, took), 0);
    return took;
}

static size_t take(struct e2e *s, uint8_t *got, size_t *len, size_t cap)
{
    size_t n;
    const uint8_t *q = e2e_plain_peek(s, &n);

    if (n == 0)
        return 0;
    ck_assert_uint_le(*len + n, cap);
    memcpy(got + *len, q, n);
    *len += n;
    ck_assert_int_eq(e2e_plain_consume(s, n), 0);
    return n;
}

/* Moves everything until nothing moves; a sends data[0..len) when it can. */
static void pump(struct pair *p, const uint8_t *data, size_t len, size_t *sent)
{
    size_t moved, acc;

    do {
        moved = 0;
        if (*sent < len && e2e_handshake_done(p->a) && e2e_send_space(p->a) > 0 &&
            !e2e_suspended(p->a)) {
            ck_assert_int_eq(e2e_send(p->a, data + *sent, len - *sent, &acc), 0);
            *sent += acc;
            moved += acc;
        }
        moved += move(p->a, p->b) + move(p->b, p->a);
        moved += take(p->b, p->got_b, &p->nb, p->cap) + take(p->a, p->got_a, &p->na, p->cap);
        drain(p->a, &p->err_a, &p->hs_a);
        drain(p->b, &p->err_b, &p->hs_b);
    } while (moved > 0);
}

/* Both offer, one offers, neither, and the e2e_init of an agent before D37:
 * both sides agree, and the bytes arrive. */
/* The stream_ack item (type 2, empty, D43): written only with the
 * resumption offer, after the suites item; an agent before it skips it as
 * an unknown item, and accepts the HELLO as before. */
START_TEST(hello_stream_ack_item)
{
    uint8_t h[SUITE_HELLO_MAX];
    bool resume = false;
    uint32_t ack = 0;
    unsigned offer = 0;
    const unsigned sa = SUITE_OFFER_STREAM_ACK;
    static const uint8_t chacha_sa[] = {1, 1, 6, 0, 0x10, 0, 0, 2, 0};
    static const uint8_t all_sa[] = {1, 1, 9, 0, 0x10, 0, 0, 1, 1, 1, 2, 0};

    ck_assert_uint_eq(suite_hello_encode(true, 1024 * 1024, CHACHA | sa, h), sizeof(chacha_sa));
    ck_assert(memcmp(h, chacha_sa, sizeof(chacha_sa)) == 0);
    ck_assert(old_agent_accepts(h, sizeof(chacha_sa)));
    ck_assert_int_eq(suite_hello_check(h, sizeof(chacha_sa), &resume, &ack, &offer), 0);
    ck_assert(resume);
    ck_assert_uint_eq(ack, 1024 * 1024);
    ck_assert_uint_eq(offer, CHACHA | sa);
    ck_assert_uint_eq(suite_hello_encode(true, 1024 * 1024, ALL | sa, h), sizeof(all_sa));
    ck_assert(memcmp(h, all_sa, sizeof(all_sa)) == 0);
    ck_assert(old_agent_accepts(h, sizeof(all_sa)));
    ck_assert_int_eq(suite_hello_check(h, sizeof(all_sa), &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, ALL | sa);
    /* The link_session item (D46), then the keep_leg item (D48), then the
     * share_leg item (D58) last: the largest HELLO. */
    ck_assert_uint_eq(suite_hello_encode(true, 1024 * 1024, ALL | sa | SUITE_OFFER_LINK_SESSION, h),
                      SUITE_HELLO_MAX - 4);
    ck_assert(memcmp(h + sizeof(all_sa), "\x03\x00", 2) == 0 && h[2] == all_sa[2] + 2);
    ck_assert_int_eq(suite_hello_check(h, SUITE_HELLO_MAX - 4, &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, ALL | sa | SUITE_OFFER_LINK_SESSION);
    ck_assert_uint_eq(suite_hello_encode(true, 1024 * 1024,
                                         ALL | sa | SUITE_OFFER_LINK_SESSION | SUITE_OFFER_KEEP_LEG,
                                         h),
                      SUITE_HELLO_MAX - 2);
    ck_assert(memcmp(h + sizeof(all_sa), "\x03\x00\x04\x00", 4) == 0 && h[2] == all_sa[2] + 4);
    ck_assert(old_agent_accepts(h, SUITE_HELLO_MAX - 2)); /* an older agent skips it */
    ck_assert_int_eq(suite_hello_check(h, SUITE_HELLO_MAX - 2, &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, ALL | sa | SUITE_OFFER_LINK_SESSION | SUITE_OFFER_KEEP_LEG);
    ck_assert_uint_eq(suite_hello_encode(true, 1024 * 1024,
                                         ALL | sa | SUITE_OFFER_LINK_SESSION |
                                             SUITE_OFFER_KEEP_LEG | SUITE_OFFER_SHARE_LEG,
                                         h),
                      SUITE_HELLO_MAX);
    ck_assert(memcmp(h + sizeof(all_sa), "\x03\x00\x04\x00\x05\x00", 6) == 0 &&
              h[2] == all_sa[2] + 6);
    ck_assert(old_agent_accepts(h, SUITE_HELLO_MAX)); /* an older agent skips it */
    ck_assert_int_eq(suite_hello_check(h, SUITE_HELLO_MAX, &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, ALL | sa | SUITE_OFFER_LINK_SESSION | SUITE_OFFER_KEEP_LEG |
                                 SUITE_OFFER_SHARE_LEG);
    ck_assert_uint_eq(suite_hello_encode(false, 0, SUITE_OFFER_SHARE_LEG, h), 5);
    ck_assert(memcmp(h, "\x01\x00\x02\x05\x00", 5) == 0);
    ck_assert_int_eq(suite_hello_check(h, 5, &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, CHACHA | SUITE_OFFER_SHARE_LEG);
    ck_assert_uint_eq(suite_hello_encode(false, 0, SUITE_OFFER_KEEP_LEG, h), 5);
    ck_assert(memcmp(h, "\x01\x00\x02\x04\x00", 5) == 0);
    ck_assert_int_eq(suite_hello_check(h, 5, &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, CHACHA | SUITE_OFFER_KEEP_LEG);
    ck_assert_uint_eq(suite_hello_encode(false, 0, SUITE_OFFER_LINK_SESSION, h), 5);
    ck_assert_int_eq(suite_hello_check(h, 5, &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, CHACHA | SUITE_OFFER_LINK_SESSION);
    /* Without resumption there is nothing to acknowledge: no item. */
    ck_assert_uint_eq(suite_hello_encode(false, 0, CHACHA | sa, h), 3);
    ck_assert_uint_eq(suite_hello_encode(false, 0, ALL | sa, h), 6);
    ck_assert_int_eq(suite_hello_check(h, 6, &resume, &ack, &offer), 0);
    ck_assert_uint_eq(offer, ALL);
    /* Sent without the resumption offer, it offers nothing. */
    {
        static const uint8_t bare[] = {1, 0, 2, 2, 0};
        ck_assert_int_eq(suite_hello_check(bare, sizeof(bare), &resume, &ack, &offer), 0);
        ck_assert(!resume);
        ck_assert_uint_eq(offer, CHACHA);
    }
    /* A stream_ack item running past the end is malformed. */
    {
        static const uint8_t bad[] = {1, 1, 6, 0, 1, 0, 0, 2, 1};
        ck_assert_int_ne(suite_hello_check(bad, sizeof(bad), &resume, &ack, &offer), 0);
    }
}
END_TEST

START_TEST(negotiation_matrix)
{
    static const struct {
        unsigned a, b;
        int want;
    } m[] = {{ALL, ALL, AES}, {ALL, CHACHA, CHA}, {CHACHA, ALL, CHA}, {CHACHA, CHACHA, CHA}};
    uint8_t data[50000];
    struct pair p;
    size_t sent;

    randombytes_buf(data, sizeof(data));
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        pair_new(&p, m[i].a, m[i].b, 0);
        sent = 0;
        pump(&p, data, sizeof(data), &sent);
        ck_assert_int_eq(p.hs_a + p.hs_b, 2);
        ck_assert_int_eq(e2e_record_suite(p.a), m[i].want);
        ck_assert_int_eq(e2e_record_suite(p.b), m[i].want);
        ck_assert_int_eq(p.a->tx.suite, m[i].want);
        ck_assert_int_eq(p.b->rx.suite, m[i].want);
        ck_assert_uint_eq(p.nb, sizeof(data));
        ck_assert(memcmp(p.got_b, data, sizeof(data)) == 0);
        pair_free(&p);
    }
    /* An old agent on either side (e2e_init offers ChaCha only, as before D37). */
    for (int side = 0; side < 2; side++) {
        pair_new(&p, ALL, ALL, 0);
        e2e_done(side == 0 ? p.a : p.b);
        if (side == 0)
            ck_assert_int_eq(e2e_init(p.a, E2E_INITIATOR, p.a_priv, p.b_pub, p.link, 5), 0);
        else
            ck_assert_int_eq(e2e_init(p.b, E2E_RESPONDER, p.b_priv, p.a_pub, p.link, 5), 0);
        sent = 0;
        pump(&p, data, sizeof(data), &sent);
        ck_assert_int_eq(e2e_record_suite(p.a), CHA);
        ck_assert_int_eq(e2e_record_suite(p.b), CHA);
        ck_assert_uint_eq(p.nb, sizeof(data));
        pair_free(&p);
    }
    /* An unknown offer bit is a caller error. */
    pair_new(&p, ALL, ALL, 0);
    ck_assert_int_eq(
        e2e_init_suites(p.a, E2E_INITIATOR, p.a_priv, NULL, NULL, p.b_pub, p.link, 5, 0, ALL | 4u),
        E2E_E_ARG);
    pair_free(&p);
}
END_TEST

/*
 * A relay that strips AES-256-GCM from a HELLO on the way. The payload is
 * encrypted with a stream cipher, so the relay can rewrite the known
 * plaintext {1, 0, 3, 1, 1, 1} into {1, 0, 0} by flipping the ext length
 * byte and cutting the item; only the AEAD tag (and the handshake hash) stop
 * it. `which` 0 rewrites message 1 (a's offer), 1 message 2 (b's).
 */
static void strip_offer(uint8_t *frame, size_t *len)
{
    /* u16 length ‖ e[32] ‖ payload ciphertext[6] ‖ tag[16] */
    size_t body = ((size_t)frame[0] << 8) | frame[1];

    ck_assert_uint_eq(body, 32 + 6 + 16);
    frame[2 + 32 + 2] ^= 3; /* ext length 3 -> 0 */
    memmove(frame + 2 + 32 + 3, frame + 2 + 32 + 6, 16);
    body -= 3;
    frame[0] = (uint8_t)(body >> 8);
    frame[1] = (uint8_t)body;
    *len = 2 + body;
}

START_TEST(downgrade_through_e2e)
{
    for (int which = 0; which < 2; which++) {
        struct pair p;
        struct e2e *from, *to;
        uint8_t frame[128];
        size_t n, took, sent = 0;
        const uint8_t *q;

        pair_new(&p, ALL, ALL, 0);
        if (which == 1)
            (void)move(p.a, p.b); /* message 1 goes through untouched */
        from = which == 0 ? p.a : p.b;
        to = which == 0 ? p.b : p.a;
        q = e2e_out_peek(from, &n);
        ck_assert_uint_ge(n, 2 + 32 + 6 + 16);
        n = 2 + 32 + 6 + 16; /* the handshake frame (b's header follows it) */
        memcpy(frame, q, n);
        ck_assert_int_eq(e2e_out_consume(from, n), 0);
        strip_offer(frame, &n);
        ck_assert_int_eq(e2e_feed(to, frame, n, &took), 0);
        pump(&p, (const uint8_t *)"x", 1, &sent);
        ck_assert_int_eq(which == 0 ? p.err_b : p.err_a, E2E_E_HANDSHAKE);
        ck_assert(e2e_dead(to));
        ck_assert(!e2e_handshake_done(to));
        ck_assert_uint_eq(p.nb, 0);
        pair_free(&p);
    }
}
END_TEST

/* The same with noise.c alone: a rewritten offer, and a relay that makes its
 * own message 1 (it does not hold a's static key) offering ChaCha only. */
START_TEST(downgrade_through_noise)
{
    static const uint8_t prologue[] = "linkrelay/1 e2e test";
    uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], m_priv[32], m_pub[32];
    uint8_t hello[SUITE_HELLO_MAX], msg[2 + 128], forged[128], pl[64];
    size_t hl, mlen, flen, plen;
    struct noise_hs a, b, m;

    crypto_box_keypair(a_pub, a_priv);
    crypto_box_keypair(b_pub, b_priv);
    crypto_box_keypair(m_pub, m_priv);
    hl = suite_hello_encode(false, 0, ALL, hello);
    /* Rewritten in flight. */
    ck_assert_int_eq(noise_hs_init(&a, NOISE_KK, true, prologue, sizeof(prologue), a_priv, b_pub),
                     0);
    ck_assert_int_eq(noise_hs_init(&b, NOISE_KK, false, prologue, sizeof(prologue), b_priv, a_pub),
                     0);
    ck_assert_int_eq(noise_hs_write_message(&a, hello, hl, msg + 2, 128, &mlen), 0);
    msg[0] = (uint8_t)(mlen >> 8);
    msg[1] = (uint8_t)mlen;
    flen = 2 + mlen;
    strip_offer(msg, &flen);
    ck_assert_int_eq(noise_hs_read_message(&b, msg + 2, flen - 2, pl, sizeof(pl), &plen),
                     NOISE_ERR_DECRYPT);
    noise_hs_wipe(&a);
    noise_hs_wipe(&b);
    /* Forged by a third key pretending to be a. */
    ck_assert_int_eq(noise_hs_init(&m, NOISE_KK, true, prologue, sizeof(prologue), m_priv, b_pub),
                     0);
    ck_assert_int_eq(noise_hs_init(&b, NOISE_KK, false, prologue, sizeof(prologue), b_priv, a_pub),
                     0);
    hl = suite_hello_encode(false, 0, CHACHA, hello);
    ck_assert_int_eq(noise_hs_write_message(&m, hello, hl, forged, sizeof(forged), &mlen), 0);
    ck_assert_int_eq(noise_hs_read_message(&b, forged, mlen, pl, sizeof(pl), &plen),
                     NOISE_ERR_DECRYPT);
    noise_hs_wipe(&m);
    noise_hs_wipe(&b);
}
END_TEST

/* A resumable stream on AES-256-GCM: the leg dies mid-transfer, the epoch's
 * keys start AES-256-GCM again, every byte arrives once. */
START_TEST(resume_with_aes)
{
    const size_t len = 300000;
    uint8_t *data = malloc(len), id[RESUME_ID_LEN];
    struct pair p;
    size_t sent = 0, n;
    uint32_t ea, eb;

    ck_assert_ptr_nonnull(data);
    randombytes_buf(data, len);
    pair_new(&p, ALL, ALL, 256 * 1024);
    pump(&p, data, len / 3, &sent);
    ck_assert(e2e_resumable(p.a));
    ck_assert_int_eq(e2e_record_suite(p.a), AES);
    /* Some bytes in flight are lost with the leg. */
    ck_assert_int_eq(e2e_send(p.a, data + sent, 40000, &n), 0);
    sent += n;
    ck_assert_int_eq(e2e_leg_lost(p.a), 1);
    ck_assert_int_eq(e2e_leg_lost(p.b), 1);
    ck_assert_int_eq(e2e_resume_next(p.a, id, &ea), 0);
    ck_assert_int_eq(e2e_resume_match(p.b, id, &eb), 0);
    ck_assert_int_eq(e2e_resume_start(p.a, ea), 0);
    ck_assert_int_eq(e2e_resume_start(p.b, eb), 0);
    pump(&p, data, len, &sent);
    ck_assert_int_eq(p.a->tx.suite, AES);
    ck_assert_int_eq(p.b->rx.suite, AES);
    ck_assert_int_eq(p.b->tx.suite, AES);
    ck_assert_int_eq(e2e_shutdown(p.a), 0);
    pump(&p, data, len, &sent);
    ck_assert_int_eq(p.err_a + p.err_b, 0);
    ck_assert_uint_eq(p.nb, len);
    ck_assert(memcmp(p.got_b, data, len) == 0);
    ck_assert(e2e_peer_final(p.b));
    pair_free(&p);
    free(data);
}
END_TEST

static Suite *e2e_suite_suite(void)
{
    Suite *s = suite_create("e2e_suite");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cfg_and_offer);
    tcase_add_test(tc, cpu_matches_proc);
    tcase_add_test(tc, hello_codec);
    tcase_add_test(tc, hello_stream_ack_item);
    tcase_add_test(tc, negotiation_matrix);
    tcase_add_test(tc, downgrade_through_e2e);
    tcase_add_test(tc, downgrade_through_noise);
    tcase_add_test(tc, resume_with_aes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(e2e_suite_suite());
}
