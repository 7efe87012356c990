/* SPDX-License-Identifier: MIT */
/*
 * test_noise — the Noise engine against the cacophony/snow test vectors (all
 * 38 patterns of the 25519_ChaChaPoly_SHA256 suite), plus tampering, low-order
 * keys, turn order, buffer limits and nonce exhaustion.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <jansson.h>

#include "noise.h"
#include "lrcheck.h"

#define VECTOR_FILE "tests/vectors/noise_25519_chachapoly_sha256.json"

/* ---- helpers ---- */

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t len = strlen(hex);
    size_t bin_len = 0;
    ck_assert_msg(len % 2 == 0 && len / 2 <= cap, "bad hex length %zu", len);
    ck_assert_int_eq(sodium_hex2bin(out, cap, hex, len, NULL, &bin_len, NULL), 0);
    ck_assert_uint_eq(bin_len, len / 2);
    return bin_len;
}

static const uint8_t *hex_field(const json_t *v, const char *key, uint8_t *buf, size_t cap,
                                size_t *len)
{
    const json_t *f = json_object_get(v, key);
    if (f == NULL) {
        return NULL;
    }
    ck_assert(json_is_string(f));
    size_t n = unhex(json_string_value(f), buf, cap);
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

/* ---- the vectors ---- */

static uint8_t msgbuf[NOISE_MAX_MSG], plbuf[NOISE_MAX_MSG], exp_ct[NOISE_MAX_MSG],
    exp_pl[NOISE_MAX_MSG];

static void init_side(struct noise_hs *hs, enum noise_pattern pat, const json_t *v, bool initiator)
{
    const char *pre = initiator ? "init_" : "resp_";
    char key[64];
    uint8_t prologue[256], s[32], rs[32], e[32];
    size_t prologue_len = 0;

    snprintf(key, sizeof(key), "%sprologue", pre);
    ck_assert_ptr_nonnull(hex_field(v, key, prologue, sizeof(prologue), &prologue_len));
    snprintf(key, sizeof(key), "%sstatic", pre);
    const uint8_t *sp = hex_field(v, key, s, sizeof(s), NULL);
    snprintf(key, sizeof(key), "%sremote_static", pre);
    const uint8_t *rsp = hex_field(v, key, rs, sizeof(rs), NULL);
    ck_assert_int_eq(noise_hs_init(hs, pat, initiator, prologue, prologue_len, sp, rsp), 0);
    snprintf(key, sizeof(key), "%sephemeral", pre);
    if (hex_field(v, key, e, sizeof(e), NULL) != NULL) {
        ck_assert_int_eq(noise_hs_set_ephemeral(hs, e), 0);
    }
}

/* Runs one vector; returns the pattern it covered. */
static enum noise_pattern run_vector(const json_t *v)
{
    const char *name = json_string_value(json_object_get(v, "protocol_name"));
    const json_t *msgs = json_object_get(v, "messages");
    enum noise_pattern pat;
    struct noise_hs hi, hr;
    struct noise_cs i_send, i_recv, r_send, r_recv;
    size_t n, pn, exp_len, exp_pl_len;

    ck_assert_ptr_nonnull(name);
    ck_assert_ptr_nonnull(msgs);
    ck_assert_int_eq(noise_pattern_from_name(name, &pat), 0);
    init_side(&hi, pat, v, true);
    init_side(&hr, pat, v, false);
    int nhs = noise_pattern_messages(pat);
    ck_assert_uint_ge(json_array_size(msgs), (size_t)nhs);
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        const json_t *m = json_array_get(msgs, i);
        ck_assert_ptr_nonnull(hex_field(m, "payload", exp_pl, sizeof(exp_pl), &exp_pl_len));
        ck_assert_ptr_nonnull(hex_field(m, "ciphertext", exp_ct, sizeof(exp_ct), &exp_len));
        if ((int)i < nhs) {
            struct noise_hs *w = i % 2 == 0 ? &hi : &hr, *r = i % 2 == 0 ? &hr : &hi;
            ck_assert(noise_hs_my_turn(w));
            ck_assert(!noise_hs_my_turn(r));
            ck_assert_int_eq(
                noise_hs_write_message(w, exp_pl, exp_pl_len, msgbuf, sizeof(msgbuf), &n), 0);
            ck_assert_uint_eq(n, exp_len);
            ck_assert_mem_eq(msgbuf, exp_ct, n);
            ck_assert_int_eq(noise_hs_read_message(r, msgbuf, n, plbuf, sizeof(plbuf), &pn), 0);
            ck_assert_uint_eq(pn, exp_pl_len);
            ck_assert_mem_eq(plbuf, exp_pl, pn);
            if ((int)i == nhs - 1) {
                uint8_t h1[32], h2[32], hv[32];
                ck_assert(noise_hs_done(&hi) && noise_hs_done(&hr));
                ck_assert_int_eq(noise_hs_handshake_hash(&hi, h1), 0);
                ck_assert_int_eq(noise_hs_handshake_hash(&hr, h2), 0);
                ck_assert_mem_eq(h1, h2, 32);
                if (hex_field(v, "handshake_hash", hv, sizeof(hv), NULL) != NULL) {
                    ck_assert_mem_eq(h1, hv, 32);
                }
                ck_assert_int_eq(noise_hs_split(&hi, &i_send, &i_recv), 0);
                ck_assert_int_eq(noise_hs_split(&hr, &r_send, &r_recv), 0);
            }
            continue;
        }
        /* Transport: alternate directions, except one-way patterns. */
        bool from_init = noise_pattern_one_way(pat) || (i % 2) == 0;
        struct noise_cs *send = from_init ? &i_send : &r_send;
        struct noise_cs *recv = from_init ? &r_recv : &i_recv;
        ck_assert_int_eq(
            noise_cs_encrypt(send, NULL, 0, exp_pl, exp_pl_len, msgbuf, sizeof(msgbuf), &n), 0);
        ck_assert_uint_eq(n, exp_len);
        ck_assert_mem_eq(msgbuf, exp_ct, n);
        ck_assert_int_eq(noise_cs_decrypt(recv, NULL, 0, msgbuf, n, plbuf, sizeof(plbuf), &pn), 0);
        ck_assert_uint_eq(pn, exp_pl_len);
        ck_assert_mem_eq(plbuf, exp_pl, pn);
    }
    noise_hs_wipe(&hi);
    noise_hs_wipe(&hr);
    noise_cs_wipe(&i_send);
    noise_cs_wipe(&i_recv);
    noise_cs_wipe(&r_send);
    noise_cs_wipe(&r_recv);
    return pat;
}

START_TEST(test_vectors)
{
    const char *dir = getenv("LR_SOURCE_DIR");
    char path[4096];
    json_error_t err;
    bool seen[NOISE_PATTERN_COUNT] = {false};

    ck_assert_msg(dir != NULL, "LR_SOURCE_DIR not set");
    snprintf(path, sizeof(path), "%s/%s", dir, VECTOR_FILE);
    json_t *doc = json_load_file(path, 0, &err);
    ck_assert_msg(doc != NULL, "cannot parse %s: %s", path, err.text);
    const json_t *vs = json_object_get(doc, "vectors");
    ck_assert(json_is_array(vs));
    int ran = 0, distinct = 0;
    for (size_t i = 0; i < json_array_size(vs); i++) {
        enum noise_pattern p = run_vector(json_array_get(vs, i));
        distinct += seen[p] ? 0 : 1;
        seen[p] = true;
        ran++;
    }
    printf("test_noise: %d vectors ran, %d distinct patterns\n", ran, distinct);
    ck_assert_int_ge(ran, 38);
    ck_assert_int_eq(distinct, NOISE_PATTERN_COUNT);
    ck_assert(seen[NOISE_XK] && seen[NOISE_KK]);
    json_decref(doc);
}
END_TEST

/* ---- fixtures for XK and KK ---- */

static uint8_t i_s[32], r_s[32], i_pub[32], r_pub[32];
static const uint8_t prologue[] = "linkrelay/1 control";

static void keys_setup(void)
{
    for (int i = 0; i < 32; i++) {
        i_s[i] = (uint8_t)(i + 1);
        r_s[i] = (uint8_t)(0x80 + i);
    }
    ck_assert_int_eq(crypto_scalarmult_base(i_pub, i_s), 0);
    ck_assert_int_eq(crypto_scalarmult_base(r_pub, r_s), 0);
}

static void pair_init(enum noise_pattern p, struct noise_hs *hi, struct noise_hs *hr)
{
    bool kk = p == NOISE_KK;
    ck_assert_int_eq(noise_hs_init(hi, p, true, prologue, sizeof(prologue) - 1, i_s, r_pub), 0);
    ck_assert_int_eq(
        noise_hs_init(hr, p, false, prologue, sizeof(prologue) - 1, r_s, kk ? i_pub : NULL), 0);
}

/* Moves one handshake message from w to r; returns the reader's result. */
static int step(struct noise_hs *w, struct noise_hs *r, const uint8_t *pl, size_t pl_len)
{
    uint8_t m[NOISE_MAX_MSG], out[NOISE_MAX_MSG];
    size_t n, pn;
    ck_assert_int_eq(noise_hs_write_message(w, pl, pl_len, m, sizeof(m), &n), 0);
    int r2 = noise_hs_read_message(r, m, n, out, sizeof(out), &pn);
    if (r2 == 0) {
        ck_assert_uint_eq(pn, pl_len);
        if (pl_len > 0) {
            ck_assert_mem_eq(out, pl, pl_len);
        }
    }
    return r2;
}

static const uint8_t auth_payload[40] = {1, 0, 0xaa, 0xbb};
static const uint8_t hello[3] = {1, 0, 0};

START_TEST(test_xk_kk_random_ephemeral)
{
    enum noise_pattern p = _i == 0 ? NOISE_XK : NOISE_KK;
    struct noise_hs hi, hr;
    struct noise_cs is, ir, rs, rr;
    uint8_t h1[32], h2[32], ct[64], pt[64];
    size_t n, pn;

    pair_init(p, &hi, &hr);
    if (p == NOISE_XK) {
        ck_assert_ptr_null(noise_hs_remote_static(&hr));
        ck_assert_int_eq(step(&hi, &hr, NULL, 0), 0);
        ck_assert_int_eq(step(&hr, &hi, NULL, 0), 0);
        ck_assert_ptr_null(noise_hs_remote_static(&hr));
        ck_assert_int_eq(step(&hi, &hr, auth_payload, sizeof(auth_payload)), 0);
    } else {
        ck_assert_int_eq(step(&hi, &hr, hello, sizeof(hello)), 0);
        ck_assert_int_eq(step(&hr, &hi, hello, sizeof(hello)), 0);
    }
    ck_assert(noise_hs_done(&hi) && noise_hs_done(&hr));
    ck_assert_mem_eq(noise_hs_remote_static(&hr), i_pub, 32);
    ck_assert_mem_eq(noise_hs_remote_static(&hi), r_pub, 32);
    ck_assert_int_eq(noise_hs_handshake_hash(&hi, h1), 0);
    ck_assert_int_eq(noise_hs_handshake_hash(&hr, h2), 0);
    ck_assert_mem_eq(h1, h2, 32);
    ck_assert_int_eq(noise_hs_split(&hi, &is, &ir), 0);
    ck_assert_int_eq(noise_hs_split(&hr, &rs, &rr), 0);
    ck_assert_int_eq(noise_hs_split(&hr, &rs, &rr), NOISE_ERR_STATE);
    /* Still readable after split. */
    ck_assert_int_eq(noise_hs_handshake_hash(&hi, h1), 0);
    ck_assert_mem_eq(h1, h2, 32);
    ck_assert_mem_eq(noise_hs_remote_static(&hr), i_pub, 32);
    ck_assert_int_eq(noise_cs_encrypt(&is, NULL, 0, hello, 3, ct, sizeof(ct), &n), 0);
    ck_assert_int_eq(noise_cs_decrypt(&rr, NULL, 0, ct, n, pt, sizeof(pt), &pn), 0);
    ck_assert_mem_eq(pt, hello, 3);
    ck_assert_int_eq(noise_cs_encrypt(&rs, NULL, 0, hello, 3, ct, sizeof(ct), &n), 0);
    ck_assert_int_eq(noise_cs_decrypt(&ir, NULL, 0, ct, n, pt, sizeof(pt), &pn), 0);
    /* The directions have different keys. */
    ck_assert_int_ne(noise_cs_decrypt(&rr, NULL, 0, ct, n, pt, sizeof(pt), &pn), 0);
    noise_hs_wipe(&hi);
    noise_hs_wipe(&hr);
    ck_assert(!noise_hs_done(&hi));
    ck_assert_ptr_null(noise_hs_remote_static(&hi));
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, ct, sizeof(ct), &n), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_read_message(&hr, ct, 48, pt, sizeof(pt), &pn), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_handshake_hash(&hi, h1), NOISE_ERR_STATE);
}
END_TEST

/* KK with the own public key given (noise_hs_init_pub) and the static-static
 * DH kept from before (noise_hs_set_ss, D45) on either side or both: with
 * the same ephemerals, the same messages and handshake hash as computing
 * both; a wrong ss or a wrong own public key makes the peer refuse. */
static void kk_run(int variant, uint8_t hash[32], int *read1, int *read2)
{
    static const uint8_t ei[32] = {9, 8, 7}, er[32] = {1, 2, 3};
    uint8_t ss_i[32], ss_r[32], bad[32], h2[32];
    struct noise_hs hi, hr;
    bool cache_i = variant == 1 || variant == 3, cache_r = variant == 2 || variant == 3;

    ck_assert_int_eq(noise_dh(ss_i, i_s, r_pub), 0);
    ck_assert_int_eq(noise_dh(ss_r, r_s, i_pub), 0);
    ck_assert_mem_eq(ss_i, ss_r, 32);
    memcpy(bad, i_pub, 32);
    bad[0] ^= 1;
    ck_assert_int_eq(noise_hs_init_pub(&hi, NOISE_KK, true, prologue, sizeof(prologue) - 1, i_s,
                                       variant == 5 ? bad
                                       : cache_i    ? i_pub
                                                    : NULL,
                                       r_pub),
                     0);
    ck_assert_int_eq(noise_hs_init_pub(&hr, NOISE_KK, false, prologue, sizeof(prologue) - 1, r_s,
                                       cache_r ? r_pub : NULL, i_pub),
                     0);
    if (cache_i)
        ck_assert_int_eq(noise_hs_set_ss(&hi, ss_i), 0);
    if (cache_r)
        ck_assert_int_eq(noise_hs_set_ss(&hr, ss_r), 0);
    if (variant == 4) {
        ss_i[0] ^= 1;
        ck_assert_int_eq(noise_hs_set_ss(&hi, ss_i), 0);
    }
    ck_assert_int_eq(noise_hs_set_ephemeral(&hi, ei), 0);
    ck_assert_int_eq(noise_hs_set_ephemeral(&hr, er), 0);
    *read1 = step(&hi, &hr, hello, sizeof(hello));
    *read2 = *read1 == 0 ? step(&hr, &hi, hello, sizeof(hello)) : -1;
    if (*read2 == 0) {
        ck_assert_int_eq(noise_hs_handshake_hash(&hi, hash), 0);
        ck_assert_int_eq(noise_hs_handshake_hash(&hr, h2), 0);
        ck_assert_mem_eq(hash, h2, 32);
    }
    noise_hs_wipe(&hi);
    noise_hs_wipe(&hr);
}

START_TEST(test_kk_kept_ss_and_pub)
{
    uint8_t h0[32], h[32], ss[32];
    int r1, r2;
    struct noise_hs hs;

    kk_run(0, h0, &r1, &r2);
    ck_assert(r1 == 0 && r2 == 0);
    for (int v = 1; v <= 3; v++) {
        kk_run(v, h, &r1, &r2);
        ck_assert_msg(r1 == 0 && r2 == 0, "variant %d", v);
        ck_assert_mem_eq(h, h0, 32);
    }
    /* A wrong ss, or a public key that is not the private key's: the
     * responder cannot read the first message. */
    kk_run(4, h, &r1, &r2);
    ck_assert_int_eq(r1, NOISE_ERR_DECRYPT);
    kk_run(5, h, &r1, &r2);
    ck_assert_int_eq(r1, NOISE_ERR_DECRYPT);
    /* Only with both static keys (an XK responder has no rs). */
    memset(ss, 1, sizeof(ss));
    ck_assert_int_eq(noise_hs_init(&hs, NOISE_XK, false, prologue, sizeof(prologue) - 1, r_s, NULL),
                     0);
    ck_assert_int_eq(noise_hs_set_ss(&hs, ss), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_set_ss(NULL, ss), NOISE_ERR_INVAL);
    noise_hs_wipe(&hs);
    /* noise_dh refuses a low-order point as the DH tokens do. */
    memset(ss, 0, sizeof(ss));
    ck_assert_int_eq(noise_dh(h, i_s, ss), NOISE_ERR_DH);
}
END_TEST

/* Every single-bit flip of every handshake message is rejected by its reader. */
START_TEST(test_tamper)
{
    enum noise_pattern p = _i == 0 ? NOISE_XK : NOISE_KK;
    struct noise_hs hi, hr;
    static uint8_t m[NOISE_MAX_MSG], out[NOISE_MAX_MSG];
    size_t n, pn;
    int flips = 0;

    pair_init(p, &hi, &hr);
    for (int k = 0; k < noise_pattern_messages(p); k++) {
        struct noise_hs *w = k % 2 == 0 ? &hi : &hr, *r = k % 2 == 0 ? &hr : &hi;
        const uint8_t *pl = p == NOISE_KK ? hello : (k == 2 ? auth_payload : NULL);
        size_t pl_len = p == NOISE_KK ? sizeof(hello) : (k == 2 ? sizeof(auth_payload) : 0);
        ck_assert_int_eq(noise_hs_write_message(w, pl, pl_len, m, sizeof(m), &n), 0);
        for (size_t bit = 0; bit < n * 8; bit++) {
            struct noise_hs copy = *r;
            m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            int rc = noise_hs_read_message(&copy, m, n, out, sizeof(out), &pn);
            ck_assert_msg(rc == NOISE_ERR_DECRYPT || rc == NOISE_ERR_DH,
                          "msg %d bit %zu accepted (%d)", k, bit, rc);
            /* A failed handshake stays failed. */
            ck_assert_int_eq(noise_hs_read_message(&copy, m, n, out, sizeof(out), &pn),
                             NOISE_ERR_STATE);
            m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            noise_hs_wipe(&copy);
            flips++;
        }
        ck_assert_int_eq(noise_hs_read_message(r, m, n, out, sizeof(out), &pn), 0);
    }
    ck_assert(noise_hs_done(&hi) && noise_hs_done(&hr));
    printf("test_noise: %s: %d bit flips rejected\n", noise_pattern_name(p), flips);
}
END_TEST

START_TEST(test_xk_wrong_responder_static)
{
    struct noise_hs hi, hr;
    uint8_t wrong[32];

    memcpy(wrong, r_pub, 32);
    wrong[0] ^= 0x40;
    ck_assert_int_eq(noise_hs_init(&hi, NOISE_XK, true, prologue, 19, i_s, wrong), 0);
    ck_assert_int_eq(noise_hs_init(&hr, NOISE_XK, false, prologue, 19, r_s, NULL), 0);
    ck_assert_int_eq(step(&hi, &hr, NULL, 0), NOISE_ERR_DECRYPT);
    /* A different prologue also fails. */
    ck_assert_int_eq(noise_hs_init(&hi, NOISE_XK, true, prologue, 18, i_s, r_pub), 0);
    ck_assert_int_eq(noise_hs_init(&hr, NOISE_XK, false, prologue, 19, r_s, NULL), 0);
    ck_assert_int_eq(step(&hi, &hr, NULL, 0), NOISE_ERR_DECRYPT);
    /* KK: the responder expecting another initiator key fails on msg 1. */
    ck_assert_int_eq(noise_hs_init(&hi, NOISE_KK, true, prologue, 19, i_s, r_pub), 0);
    ck_assert_int_eq(noise_hs_init(&hr, NOISE_KK, false, prologue, 19, r_s, wrong), 0);
    ck_assert_int_eq(step(&hi, &hr, hello, 3), NOISE_ERR_DECRYPT);
}
END_TEST

/* Every 32-byte encoding whose X25519 result is all zeros. RFC 7748 decoding
 * ignores bit 255, so these are the seven low-order values 0, 1, the two
 * order-8 points, p-1, p (= 0) and p+1 (= 1), each with bit 255 clear and set.
 * (Older lists add p + the order-8 points; after masking bit 255 those are
 * ordinary points, so they are not listed.) */
static const char *const low_order[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
};
#define N_LOW_ORDER (sizeof(low_order) / sizeof(low_order[0]))

START_TEST(test_low_order)
{
    struct noise_hs hi, hr;
    uint8_t lo[32], m[256], out[256];
    size_t n, pn;

    unhex(low_order[_i], lo, sizeof(lo));
    /* As the initiator's e in XK msg 1 (the responder's es fails). */
    pair_init(NOISE_XK, &hi, &hr);
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, sizeof(m), &n), 0);
    memcpy(m, lo, 32);
    ck_assert_int_eq(noise_hs_read_message(&hr, m, n, out, sizeof(out), &pn), NOISE_ERR_DH);
    /* As the responder's e in XK msg 2 (the initiator's ee fails). */
    pair_init(NOISE_XK, &hi, &hr);
    ck_assert_int_eq(step(&hi, &hr, NULL, 0), 0);
    ck_assert_int_eq(noise_hs_write_message(&hr, NULL, 0, m, sizeof(m), &n), 0);
    memcpy(m, lo, 32);
    ck_assert_int_eq(noise_hs_read_message(&hi, m, n, out, sizeof(out), &pn), NOISE_ERR_DH);
    /* As the pinned responder static (XK pre-message): writing msg 1 fails. */
    ck_assert_int_eq(noise_hs_init(&hi, NOISE_XK, true, prologue, 19, i_s, lo), 0);
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, sizeof(m), &n), NOISE_ERR_DH);
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, sizeof(m), &n), NOISE_ERR_STATE);
    /* As the initiator's s sent in XK msg 3 (the responder's se fails). The
     * test forges it by overwriting the public half of the initiator's key. */
    pair_init(NOISE_XK, &hi, &hr);
    ck_assert_int_eq(step(&hi, &hr, NULL, 0), 0);
    ck_assert_int_eq(step(&hr, &hi, NULL, 0), 0);
    memcpy(hi.s_pub, lo, 32);
    ck_assert_int_eq(step(&hi, &hr, NULL, 0), NOISE_ERR_DH);
    ck_assert_ptr_null(noise_hs_remote_static(&hr));
    /* As the initiator's static known to a KK responder (ss fails). */
    ck_assert_int_eq(noise_hs_init(&hi, NOISE_KK, true, prologue, 19, i_s, r_pub), 0);
    ck_assert_int_eq(noise_hs_init(&hr, NOISE_KK, false, prologue, 19, r_s, lo), 0);
    ck_assert_int_eq(step(&hi, &hr, hello, 3), NOISE_ERR_DH);
}
END_TEST

START_TEST(test_turns)
{
    struct noise_hs hi, hr;
    uint8_t m[256], out[256], h[32];
    size_t n = 0, pn;
    struct noise_cs a, b;

    pair_init(NOISE_XK, &hi, &hr);
    ck_assert_int_eq(noise_hs_write_message(&hr, NULL, 0, m, sizeof(m), &n), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_read_message(&hi, m, 48, out, sizeof(out), &pn), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_handshake_hash(&hi, h), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_split(&hi, &a, &b), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, sizeof(m), &n), 0);
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, sizeof(m), &n), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_read_message(&hr, m, n, out, sizeof(out), &pn), 0);
    ck_assert_int_eq(noise_hs_read_message(&hr, m, n, out, sizeof(out), &pn), NOISE_ERR_STATE);
    ck_assert_int_eq(step(&hr, &hi, NULL, 0), 0);
    ck_assert_int_eq(step(&hi, &hr, NULL, 0), 0);
    /* Finished: neither side may write or read another handshake message. */
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, sizeof(m), &n), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_write_message(&hr, NULL, 0, m, sizeof(m), &n), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_read_message(&hr, m, 48, out, sizeof(out), &pn), NOISE_ERR_STATE);
    ck_assert_int_eq(noise_hs_read_message(&hi, m, 48, out, sizeof(out), &pn), NOISE_ERR_STATE);
    /* The ephemeral can only be fixed before it is used. */
    uint8_t e[32] = {7};
    ck_assert_int_eq(noise_hs_set_ephemeral(&hi, e), NOISE_ERR_STATE);
}
END_TEST

START_TEST(test_init_args)
{
    struct noise_hs hs;
    enum noise_pattern p;

    ck_assert_int_eq(noise_hs_init(&hs, NOISE_XK, true, prologue, 19, i_s, NULL), NOISE_ERR_INVAL);
    ck_assert_int_eq(noise_hs_init(&hs, NOISE_XK, true, prologue, 19, NULL, r_pub),
                     NOISE_ERR_INVAL);
    ck_assert_int_eq(noise_hs_init(&hs, NOISE_XK, false, prologue, 19, r_s, i_pub),
                     NOISE_ERR_INVAL);
    ck_assert_int_eq(noise_hs_init(&hs, NOISE_NN, true, NULL, 0, i_s, NULL), NOISE_ERR_INVAL);
    ck_assert_int_eq(noise_hs_init(&hs, NOISE_NN, true, NULL, 5, NULL, NULL), NOISE_ERR_INVAL);
    ck_assert_int_eq(noise_hs_init(&hs, NOISE_PATTERN_COUNT, true, NULL, 0, NULL, NULL),
                     NOISE_ERR_INVAL);
    ck_assert_int_eq(noise_hs_init(&hs, NOISE_NN, true, NULL, 0, NULL, NULL), 0);
    ck_assert_int_eq(noise_pattern_from_name("XK", &p), 0);
    ck_assert_int_eq(p, NOISE_XK);
    ck_assert_int_eq(noise_pattern_from_name("Noise_KK_25519_ChaChaPoly_SHA256", &p), 0);
    ck_assert_int_eq(p, NOISE_KK);
    ck_assert_int_eq(noise_pattern_from_name("Noise_I1K1_25519_ChaChaPoly_SHA256", &p), 0);
    ck_assert_int_eq(p, NOISE_I1K1);
    ck_assert_int_eq(noise_pattern_from_name("Noise_XK_25519_AESGCM_SHA256", &p),
                     NOISE_ERR_PATTERN);
    ck_assert_int_eq(noise_pattern_from_name("XKK", &p), NOISE_ERR_PATTERN);
    ck_assert_int_eq(noise_pattern_from_name("", &p), NOISE_ERR_PATTERN);
    ck_assert_int_eq(noise_pattern_from_name("Noise__25519_ChaChaPoly_SHA256", &p),
                     NOISE_ERR_PATTERN);
    ck_assert_ptr_null(noise_pattern_name(NOISE_PATTERN_COUNT));
    ck_assert_str_eq(noise_pattern_name(NOISE_X1K1), "X1K1");
    ck_assert_str_eq(noise_strerror(NOISE_ERR_DH),
                     "invalid public key (all-zero Diffie-Hellman result)");
    ck_assert_str_eq(noise_strerror(12345), "unknown noise error");
}
END_TEST

/* Output buffers one short fail without changing state; exact succeeds. */
START_TEST(test_buffers)
{
    struct noise_hs hi, hr;
    static uint8_t m[NOISE_MAX_MSG + 1], out[NOISE_MAX_MSG];
    size_t n, pn;

    pair_init(NOISE_XK, &hi, &hr);
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, 47, &n), NOISE_ERR_NOSPACE);
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, 48, &n), 0);
    ck_assert_uint_eq(n, 48);
    /* Boundary lengths of a received message: one short, one over. */
    struct noise_hs copy = hr;
    ck_assert_int_eq(noise_hs_read_message(&copy, m, 47, out, sizeof(out), &pn), NOISE_ERR_SHORT);
    copy = hr;
    m[48] = 0;
    ck_assert_int_eq(noise_hs_read_message(&copy, m, 49, out, sizeof(out), &pn), NOISE_ERR_DECRYPT);
    ck_assert_int_eq(noise_hs_read_message(&hr, m, 48, NULL, 0, &pn), 0);
    ck_assert_uint_eq(pn, 0);
    /* msg 2 with a 10-byte payload: the reader's payload buffer one short. */
    ck_assert_int_eq(noise_hs_write_message(&hr, auth_payload, 10, m, 57, &n), NOISE_ERR_NOSPACE);
    ck_assert_int_eq(noise_hs_write_message(&hr, auth_payload, 10, m, 58, &n), 0);
    ck_assert_int_eq(noise_hs_read_message(&hi, m, n, out, 9, &pn), NOISE_ERR_NOSPACE);
    ck_assert_int_eq(noise_hs_read_message(&hi, m, n, out, 10, &pn), 0);
    ck_assert_mem_eq(out, auth_payload, 10);
    /* msg 3 at the maximum message size: 64 + payload == 65535. */
    memset(out, 0x5a, sizeof(out));
    struct noise_hs hi2 = hi;
    ck_assert_int_eq(noise_hs_write_message(&hi2, out, NOISE_MAX_MSG - 64 + 1, m, sizeof(m), &n),
                     NOISE_ERR_TOOBIG);
    ck_assert_int_eq(noise_hs_write_message(&hi, out, NOISE_MAX_MSG - 64, m, sizeof(m), &n), 0);
    ck_assert_uint_eq(n, NOISE_MAX_MSG);
    copy = hr;
    m[NOISE_MAX_MSG] = 0;
    ck_assert_int_eq(noise_hs_read_message(&copy, m, NOISE_MAX_MSG + 1, out, sizeof(out), &pn),
                     NOISE_ERR_TOOBIG);
    ck_assert_int_eq(noise_hs_read_message(&hr, m, n, out, sizeof(out), &pn), 0);
    ck_assert_uint_eq(pn, NOISE_MAX_MSG - 64);
    ck_assert(noise_hs_done(&hr));
}
END_TEST

START_TEST(test_transport_limits)
{
    struct noise_cs a, b;
    uint8_t k[32] = {9};
    static uint8_t pt[NOISE_MAX_MSG + 1], ct[NOISE_MAX_MSG + 1];
    size_t n, pn;

    noise_cs_init(&a, k);
    noise_cs_init(&b, k);
    ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, pt, NOISE_MAX_PAYLOAD + 1, ct, sizeof(ct), &n),
                     NOISE_ERR_TOOBIG);
    ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, pt, 10, ct, 25, &n), NOISE_ERR_NOSPACE);
    ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, pt, NOISE_MAX_PAYLOAD, ct, sizeof(ct), &n), 0);
    ck_assert_uint_eq(n, NOISE_MAX_MSG);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, n, pt, NOISE_MAX_PAYLOAD - 1, &pn),
                     NOISE_ERR_NOSPACE);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, NOISE_MAX_MSG + 1, pt, sizeof(pt), &pn),
                     NOISE_ERR_TOOBIG);
    ct[100] ^= 1;
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, n, pt, sizeof(pt), &pn), NOISE_ERR_DECRYPT);
    ct[100] ^= 1;
    /* Wrong AD fails, and a failure does not advance the nonce. */
    ck_assert_int_eq(noise_cs_decrypt(&b, (const uint8_t *)"x", 1, ct, n, pt, sizeof(pt), &pn),
                     NOISE_ERR_DECRYPT);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, n, pt, sizeof(pt), &pn), 0);
    ck_assert_uint_eq(pn, NOISE_MAX_PAYLOAD);
    /* Empty plaintext: 16 bytes; 15 is short. In-place encryption works. */
    ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, NULL, 0, ct, 16, &n), 0);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, 15, NULL, 0, &pn), NOISE_ERR_SHORT);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, 16, NULL, 0, &pn), 0);
    ck_assert_uint_eq(pn, 0);
    memcpy(ct, "hello", 5);
    ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, ct, 5, ct, sizeof(ct), &n), 0);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, n, ct, sizeof(ct), &pn), 0);
    ck_assert_mem_eq(ct, "hello", 5);
    /* Replaying an old message fails (the nonce moved on). */
    ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, pt, 3, ct, sizeof(ct), &n), 0);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, n, pt, sizeof(pt), &pn), 0);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, n, pt, sizeof(pt), &pn), NOISE_ERR_DECRYPT);
    /* Nonce 2^64-2 is the last usable one; 2^64-1 is refused both ways. */
    noise_cs_set_nonce(&a, UINT64_MAX - 1);
    noise_cs_set_nonce(&b, UINT64_MAX - 1);
    ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, pt, 3, ct, sizeof(ct), &n), 0);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, n, pt, sizeof(pt), &pn), 0);
    ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, pt, 3, ct, sizeof(ct), &n), NOISE_ERR_NONCE);
    ck_assert_int_eq(noise_cs_decrypt(&b, NULL, 0, ct, n, pt, sizeof(pt), &pn), NOISE_ERR_NONCE);
    noise_cs_wipe(&a);
    noise_cs_wipe(&b);
}
END_TEST

/* docs/protocol.md §4.1 and §7.1 sizes, and split_keys agreeing across roles. */
START_TEST(test_wire_sizes_and_split_keys)
{
    struct noise_hs hi, hr;
    uint8_t m[256], out[256], is[32], ir[32], rs_[32], rr[32];
    size_t n, pn;

    pair_init(NOISE_XK, &hi, &hr);
    ck_assert_int_eq(noise_hs_write_message(&hi, NULL, 0, m, sizeof(m), &n), 0);
    ck_assert_uint_eq(n, 48);
    ck_assert_int_eq(noise_hs_read_message(&hr, m, n, out, sizeof(out), &pn), 0);
    ck_assert_int_eq(noise_hs_write_message(&hr, NULL, 0, m, sizeof(m), &n), 0);
    ck_assert_uint_eq(n, 48);
    ck_assert_int_eq(noise_hs_read_message(&hi, m, n, out, sizeof(out), &pn), 0);
    ck_assert_int_eq(
        noise_hs_write_message(&hi, auth_payload, sizeof(auth_payload), m, sizeof(m), &n), 0);
    ck_assert_uint_eq(n, 64 + sizeof(auth_payload));
    ck_assert_int_eq(noise_hs_read_message(&hr, m, n, out, sizeof(out), &pn), 0);
    ck_assert_int_eq(noise_hs_split_keys(&hi, is, ir), 0);
    ck_assert_int_eq(noise_hs_split_keys(&hr, rs_, rr), 0);
    ck_assert_mem_eq(is, rr, 32);
    ck_assert_mem_eq(ir, rs_, 32);
    ck_assert(memcmp(is, ir, 32) != 0);
    ck_assert_int_eq(noise_hs_split_keys(&hr, rs_, rr), NOISE_ERR_STATE);

    /* KK: e, es, ss + HELLO = 32 + 3 + 16; e, ee, se + HELLO the same. */
    pair_init(NOISE_KK, &hi, &hr);
    ck_assert_int_eq(noise_hs_write_message(&hi, hello, 3, m, sizeof(m), &n), 0);
    ck_assert_uint_eq(n, 51);
    ck_assert_int_eq(noise_hs_read_message(&hr, m, n, out, sizeof(out), &pn), 0);
    ck_assert_int_eq(noise_hs_write_message(&hr, hello, 3, m, sizeof(m), &n), 0);
    ck_assert_uint_eq(n, 51);
    ck_assert_int_eq(noise_hs_read_message(&hi, m, n, out, sizeof(out), &pn), 0);
    ck_assert(noise_hs_done(&hi) && noise_hs_done(&hr));
}
END_TEST

static Suite *noise_suite(void)
{
    Suite *s = suite_create("noise");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, keys_setup, NULL);
    tcase_add_test(tc, test_vectors);
    tcase_add_loop_test(tc, test_xk_kk_random_ephemeral, 0, 2);
    tcase_add_loop_test(tc, test_tamper, 0, 2);
    tcase_add_test(tc, test_kk_kept_ss_and_pub);
    tcase_add_test(tc, test_xk_wrong_responder_static);
    tcase_add_loop_test(tc, test_low_order, 0, (int)N_LOW_ORDER);
    tcase_add_test(tc, test_turns);
    tcase_add_test(tc, test_init_args);
    tcase_add_test(tc, test_buffers);
    tcase_add_test(tc, test_transport_limits);
    tcase_add_test(tc, test_wire_sizes_and_split_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(noise_suite());
}
