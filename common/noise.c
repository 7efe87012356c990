/* SPDX-License-Identifier: MIT */
/*
 * noise — Noise Protocol Framework rev 34, 25519_ChaChaPoly_SHA256.
 * Structure: CipherState (cs_*), SymmetricState (ss_*), the pattern table, and
 * the HandshakeState token interpreter (noise_hs_*). See docs/internals/noise.md.
 */
#include "noise.h"

#include <string.h>

#include <sodium.h>

/* Handshake tokens. 0 ends a message's token list. */
enum tok {
    T_END = 0,
    T_E,
    T_S,
    T_EE,
    T_ES,
    T_SE,
    T_SS,
};

/* Pre-message bits: "-> s" (initiator's static known) and "<- s". */
#define PRE_IS 1
#define PRE_RS 2

struct pattern {
    const char *name;
    uint8_t pre;
    uint8_t nmsgs;
    uint8_t m[NOISE_MAX_MSGS][NOISE_MAX_TOKENS];
};

/*
 * Noise rev 34 §7.4 (one-way), §7.5 (interactive) and §18 (deferred patterns).
 * Message i is sent by the initiator when i is even.
 */
static const struct pattern patterns[NOISE_PATTERN_COUNT] = {
    [NOISE_N] = {"N", PRE_RS, 1, {{T_E, T_ES}}},
    [NOISE_K] = {"K", PRE_IS | PRE_RS, 1, {{T_E, T_ES, T_SS}}},
    [NOISE_X] = {"X", PRE_RS, 1, {{T_E, T_ES, T_S, T_SS}}},
    [NOISE_NN] = {"NN", 0, 2, {{T_E}, {T_E, T_EE}}},
    [NOISE_NK] = {"NK", PRE_RS, 2, {{T_E, T_ES}, {T_E, T_EE}}},
    [NOISE_NX] = {"NX", 0, 2, {{T_E}, {T_E, T_EE, T_S, T_ES}}},
    [NOISE_KN] = {"KN", PRE_IS, 2, {{T_E}, {T_E, T_EE, T_SE}}},
    [NOISE_KK] = {"KK", PRE_IS | PRE_RS, 2, {{T_E, T_ES, T_SS}, {T_E, T_EE, T_SE}}},
    [NOISE_KX] = {"KX", PRE_IS, 2, {{T_E}, {T_E, T_EE, T_SE, T_S, T_ES}}},
    [NOISE_XN] = {"XN", 0, 3, {{T_E}, {T_E, T_EE}, {T_S, T_SE}}},
    [NOISE_XK] = {"XK", PRE_RS, 3, {{T_E, T_ES}, {T_E, T_EE}, {T_S, T_SE}}},
    [NOISE_XX] = {"XX", 0, 3, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE}}},
    [NOISE_IN] = {"IN", 0, 2, {{T_E, T_S}, {T_E, T_EE, T_SE}}},
    [NOISE_IK] = {"IK", PRE_RS, 2, {{T_E, T_ES, T_S, T_SS}, {T_E, T_EE, T_SE}}},
    [NOISE_IX] = {"IX", 0, 2, {{T_E, T_S}, {T_E, T_EE, T_SE, T_S, T_ES}}},
    [NOISE_NK1] = {"NK1", PRE_RS, 2, {{T_E}, {T_E, T_EE, T_ES}}},
    [NOISE_NX1] = {"NX1", 0, 3, {{T_E}, {T_E, T_EE, T_S}, {T_ES}}},
    [NOISE_X1N] = {"X1N", 0, 4, {{T_E}, {T_E, T_EE}, {T_S}, {T_SE}}},
    [NOISE_X1K] = {"X1K", PRE_RS, 4, {{T_E, T_ES}, {T_E, T_EE}, {T_S}, {T_SE}}},
    [NOISE_XK1] = {"XK1", PRE_RS, 3, {{T_E}, {T_E, T_EE, T_ES}, {T_S, T_SE}}},
    [NOISE_X1K1] = {"X1K1", PRE_RS, 4, {{T_E}, {T_E, T_EE, T_ES}, {T_S}, {T_SE}}},
    [NOISE_X1X] = {"X1X", 0, 4, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S}, {T_SE}}},
    [NOISE_XX1] = {"XX1", 0, 3, {{T_E}, {T_E, T_EE, T_S}, {T_ES, T_S, T_SE}}},
    [NOISE_X1X1] = {"X1X1", 0, 4, {{T_E}, {T_E, T_EE, T_S}, {T_ES, T_S}, {T_SE}}},
    [NOISE_K1N] = {"K1N", PRE_IS, 3, {{T_E}, {T_E, T_EE}, {T_SE}}},
    [NOISE_K1K] = {"K1K", PRE_IS | PRE_RS, 3, {{T_E, T_ES}, {T_E, T_EE}, {T_SE}}},
    [NOISE_KK1] = {"KK1", PRE_IS | PRE_RS, 2, {{T_E}, {T_E, T_EE, T_SE, T_ES}}},
    [NOISE_K1K1] = {"K1K1", PRE_IS | PRE_RS, 3, {{T_E}, {T_E, T_EE, T_ES}, {T_SE}}},
    [NOISE_K1X] = {"K1X", PRE_IS, 3, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_SE}}},
    [NOISE_KX1] = {"KX1", PRE_IS, 3, {{T_E}, {T_E, T_EE, T_SE, T_S}, {T_ES}}},
    [NOISE_K1X1] = {"K1X1", PRE_IS, 3, {{T_E}, {T_E, T_EE, T_S}, {T_SE, T_ES}}},
    [NOISE_I1N] = {"I1N", 0, 3, {{T_E, T_S}, {T_E, T_EE}, {T_SE}}},
    [NOISE_I1K] = {"I1K", PRE_RS, 3, {{T_E, T_ES, T_S}, {T_E, T_EE}, {T_SE}}},
    [NOISE_IK1] = {"IK1", PRE_RS, 2, {{T_E, T_S}, {T_E, T_EE, T_SE, T_ES}}},
    [NOISE_I1K1] = {"I1K1", PRE_RS, 3, {{T_E, T_S}, {T_E, T_EE, T_ES}, {T_SE}}},
    [NOISE_I1X] = {"I1X", 0, 3, {{T_E, T_S}, {T_E, T_EE, T_S, T_ES}, {T_SE}}},
    [NOISE_IX1] = {"IX1", 0, 3, {{T_E, T_S}, {T_E, T_EE, T_SE, T_S}, {T_ES}}},
    [NOISE_I1X1] = {"I1X1", 0, 3, {{T_E, T_S}, {T_E, T_EE, T_S}, {T_SE, T_ES}}},
};

static const char name_prefix[] = "Noise_";
static const char name_suffix[] = "_25519_ChaChaPoly_SHA256";

/* ---- CipherState (spec §5.1) ---- */

static void cs_nonce(uint8_t out[crypto_aead_chacha20poly1305_ietf_NPUBBYTES], uint64_t n)
{
    /* 32 bits of zeros followed by the little-endian 64-bit counter (spec §12.3). */
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++) {
        out[4 + i] = (uint8_t)(n >> (8 * i));
    }
}

void noise_cs_init(struct noise_cs *cs, const uint8_t k[NOISE_KEY_LEN])
{
    memcpy(cs->k, k, NOISE_KEY_LEN);
    cs->n = 0;
    cs->has_key = true;
}

void noise_cs_wipe(struct noise_cs *cs)
{
    if (cs != NULL) {
        sodium_memzero(cs, sizeof(*cs));
    }
}

void noise_cs_set_nonce(struct noise_cs *cs, uint64_t n)
{
    cs->n = n;
}

/* EncryptWithAd without argument checks; out has room for pt_len (+16 with a key). */
static int cs_encrypt(struct noise_cs *cs, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                      size_t pt_len, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

    if (!cs->has_key) {
        if (pt_len > 0) {
            memmove(out, pt, pt_len);
        }
        return 0;
    }
    if (cs->n == UINT64_MAX) {
        return NOISE_ERR_NONCE;
    }
    cs_nonce(nonce, cs->n);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, pt_len, ad, ad_len, NULL, nonce,
                                              cs->k);
    cs->n++;
    return 0;
}

/* DecryptWithAd without argument checks; the nonce advances only on success. */
static int cs_decrypt(struct noise_cs *cs, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                      size_t ct_len, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

    if (!cs->has_key) {
        if (ct_len > 0) {
            memmove(out, ct, ct_len);
        }
        return 0;
    }
    if (cs->n == UINT64_MAX) {
        return NOISE_ERR_NONCE;
    }
    if (ct_len < NOISE_TAG_LEN) {
        return NOISE_ERR_SHORT;
    }
    cs_nonce(nonce, cs->n);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, ct_len, ad, ad_len, nonce,
                                                  cs->k) != 0) {
        return NOISE_ERR_DECRYPT;
    }
    cs->n++;
    return 0;
}

int noise_cs_encrypt(struct noise_cs *cs, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                     size_t pt_len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t dummy[NOISE_TAG_LEN];

    if (cs == NULL || out_len == NULL || (ad_len > 0 && ad == NULL) || (pt_len > 0 && pt == NULL) ||
        (cap > 0 && out == NULL)) {
        return NOISE_ERR_INVAL;
    }
    if (pt_len > NOISE_MAX_PAYLOAD) {
        return NOISE_ERR_TOOBIG;
    }
    size_t need = pt_len + (cs->has_key ? NOISE_TAG_LEN : 0);
    if (need > cap) {
        return NOISE_ERR_NOSPACE;
    }
    int r = cs_encrypt(cs, ad, ad_len, pt, pt_len, out != NULL ? out : dummy);
    if (r == 0) {
        *out_len = need;
    }
    return r;
}

int noise_cs_decrypt(struct noise_cs *cs, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                     size_t ct_len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t dummy[1];

    if (cs == NULL || out_len == NULL || (ad_len > 0 && ad == NULL) || (ct_len > 0 && ct == NULL) ||
        (cap > 0 && out == NULL)) {
        return NOISE_ERR_INVAL;
    }
    if (ct_len > NOISE_MAX_MSG) {
        return NOISE_ERR_TOOBIG;
    }
    size_t tag = cs->has_key ? NOISE_TAG_LEN : 0;
    if (ct_len < tag) {
        return NOISE_ERR_SHORT;
    }
    if (ct_len - tag > cap) {
        return NOISE_ERR_NOSPACE;
    }
    int r = cs_decrypt(cs, ad, ad_len, ct, ct_len, out != NULL ? out : dummy);
    if (r == 0) {
        *out_len = ct_len - tag;
    }
    return r;
}

/* ---- SymmetricState (spec §5.2) ---- */

static void hmac2(const uint8_t key[NOISE_HASH_LEN], const uint8_t *a, size_t a_len,
                  const uint8_t *b, size_t b_len, uint8_t out[NOISE_HASH_LEN])
{
    /* HMAC-SHA256 (RFC 2104) with a 32-byte key: libsodium's *_init takes any
     * key length and pads or hashes it exactly as RFC 2104 says. */
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, NOISE_HASH_LEN);
    crypto_auth_hmacsha256_update(&st, a, a_len);
    crypto_auth_hmacsha256_update(&st, b, b_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* HKDF(ck, ikm, 2) of spec §4.3. o1 may alias ck. */
static void hkdf2(const uint8_t ck[NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                  uint8_t o1[NOISE_HASH_LEN], uint8_t o2[NOISE_HASH_LEN])
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t temp_key[NOISE_HASH_LEN];

    hmac2(ck, ikm, ikm_len, NULL, 0, temp_key);
    hmac2(temp_key, &one, 1, NULL, 0, o1);
    hmac2(temp_key, o1, NOISE_HASH_LEN, &two, 1, o2);
    sodium_memzero(temp_key, sizeof(temp_key));
}

static void ss_mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, hs->h, NOISE_HASH_LEN);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, hs->h);
}

static void ss_mix_key(struct noise_hs *hs, const uint8_t ikm[NOISE_KEY_LEN])
{
    uint8_t temp_k[NOISE_HASH_LEN];

    hkdf2(hs->ck, ikm, NOISE_KEY_LEN, hs->ck, temp_k);
    noise_cs_init(&hs->cs, temp_k);
    sodium_memzero(temp_k, sizeof(temp_k));
}

/* out receives len (+16 once a key is set) bytes; then h = HASH(h || ciphertext). */
static int ss_encrypt_and_hash(struct noise_hs *hs, const uint8_t *pt, size_t len, uint8_t *out,
                               size_t *out_len)
{
    int r = cs_encrypt(&hs->cs, hs->h, NOISE_HASH_LEN, pt, len, out);
    if (r != 0) {
        return r;
    }
    *out_len = len + (hs->cs.has_key ? NOISE_TAG_LEN : 0);
    ss_mix_hash(hs, out, *out_len);
    return 0;
}

static int ss_decrypt_and_hash(struct noise_hs *hs, const uint8_t *ct, size_t len, uint8_t *out)
{
    int r = cs_decrypt(&hs->cs, hs->h, NOISE_HASH_LEN, ct, len, out);
    if (r != 0) {
        return r;
    }
    ss_mix_hash(hs, ct, len);
    return 0;
}

/* ---- Patterns ---- */

int noise_pattern_from_name(const char *name, enum noise_pattern *out)
{
    size_t plen = sizeof(name_prefix) - 1, slen = sizeof(name_suffix) - 1;

    if (name == NULL || out == NULL) {
        return NOISE_ERR_INVAL;
    }
    size_t len = strlen(name);
    const char *core = name;
    if (len > plen + slen && memcmp(name, name_prefix, plen) == 0 &&
        memcmp(name + len - slen, name_suffix, slen) == 0) {
        core = name + plen;
        len -= plen + slen;
    }
    for (int i = 0; i < NOISE_PATTERN_COUNT; i++) {
        if (strlen(patterns[i].name) == len && memcmp(patterns[i].name, core, len) == 0) {
            *out = (enum noise_pattern)i;
            return 0;
        }
    }
    return NOISE_ERR_PATTERN;
}

const char *noise_pattern_name(enum noise_pattern p)
{
    if ((unsigned)p >= NOISE_PATTERN_COUNT) {
        return NULL;
    }
    return patterns[p].name;
}

int noise_pattern_messages(enum noise_pattern p)
{
    if ((unsigned)p >= NOISE_PATTERN_COUNT) {
        return 0;
    }
    return patterns[p].nmsgs;
}

bool noise_pattern_one_way(enum noise_pattern p)
{
    return p == NOISE_N || p == NOISE_K || p == NOISE_X;
}

/* Does this side hold a static key in the pattern (pre-message or an "s" it sends)? */
static bool pattern_local_static(const struct pattern *pt, bool initiator)
{
    if ((pt->pre & (initiator ? PRE_IS : PRE_RS)) != 0) {
        return true;
    }
    for (int i = initiator ? 0 : 1; i < pt->nmsgs; i += 2) {
        for (int j = 0; j < NOISE_MAX_TOKENS && pt->m[i][j] != T_END; j++) {
            if (pt->m[i][j] == T_S) {
                return true;
            }
        }
    }
    return false;
}

/* ---- HandshakeState (spec §5.3) ---- */

static void hs_init_name(struct noise_hs *hs, const char *short_name)
{
    char name[64];
    size_t plen = sizeof(name_prefix) - 1, nlen = strlen(short_name),
           slen = sizeof(name_suffix) - 1;
    size_t len = plen + nlen + slen;

    /* Short names are at most 4 characters, so len < sizeof(name). */
    memcpy(name, name_prefix, plen);
    memcpy(name + plen, short_name, nlen);
    memcpy(name + plen + nlen, name_suffix, slen);
    if (len <= NOISE_HASH_LEN) {
        memset(hs->h, 0, NOISE_HASH_LEN);
        memcpy(hs->h, name, len);
    } else {
        crypto_hash_sha256(hs->h, (const uint8_t *)name, len);
    }
    memcpy(hs->ck, hs->h, NOISE_HASH_LEN);
}

int noise_hs_init(struct noise_hs *hs, enum noise_pattern pattern, bool initiator,
                  const uint8_t *prologue, size_t prologue_len, const uint8_t *s_priv,
                  const uint8_t *rs_pub)
{
    return noise_hs_init_pub(hs, pattern, initiator, prologue, prologue_len, s_priv, NULL, rs_pub);
}

int noise_hs_init_pub(struct noise_hs *hs, enum noise_pattern pattern, bool initiator,
                      const uint8_t *prologue, size_t prologue_len, const uint8_t *s_priv,
                      const uint8_t *s_pub, const uint8_t *rs_pub)
{
    if (hs == NULL || (unsigned)pattern >= NOISE_PATTERN_COUNT ||
        (prologue_len > 0 && prologue == NULL)) {
        return NOISE_ERR_INVAL;
    }
    const struct pattern *pt = &patterns[pattern];
    bool need_s = pattern_local_static(pt, initiator);
    bool need_rs = (pt->pre & (initiator ? PRE_RS : PRE_IS)) != 0;
    if (need_s != (s_priv != NULL) || need_rs != (rs_pub != NULL)) {
        return NOISE_ERR_INVAL;
    }
    sodium_memzero(hs, sizeof(*hs));
    if (s_priv != NULL) {
        memcpy(hs->s_priv, s_priv, NOISE_KEY_LEN);
        if (s_pub != NULL) {
            memcpy(hs->s_pub, s_pub, NOISE_KEY_LEN);
        } else if (crypto_scalarmult_base(hs->s_pub, hs->s_priv) != 0) {
            sodium_memzero(hs, sizeof(*hs));
            return NOISE_ERR_INVAL;
        }
        hs->has_s = true;
    }
    if (rs_pub != NULL) {
        memcpy(hs->rs, rs_pub, NOISE_KEY_LEN);
        hs->has_rs = true;
    }
    hs->initiator = initiator;
    hs->pattern = (uint8_t)pattern;
    hs_init_name(hs, pt->name);
    ss_mix_hash(hs, prologue, prologue_len);
    /* Pre-message public keys, initiator's first (spec §7.1). */
    if ((pt->pre & PRE_IS) != 0) {
        ss_mix_hash(hs, initiator ? hs->s_pub : hs->rs, NOISE_KEY_LEN);
    }
    if ((pt->pre & PRE_RS) != 0) {
        ss_mix_hash(hs, initiator ? hs->rs : hs->s_pub, NOISE_KEY_LEN);
    }
    return 0;
}

int noise_hs_set_ephemeral(struct noise_hs *hs, const uint8_t e_priv[NOISE_KEY_LEN])
{
    if (hs == NULL || e_priv == NULL) {
        return NOISE_ERR_INVAL;
    }
    if (hs->failed || hs->has_e) {
        return NOISE_ERR_STATE;
    }
    memcpy(hs->e_priv, e_priv, NOISE_KEY_LEN);
    if (crypto_scalarmult_base(hs->e_pub, hs->e_priv) != 0) {
        sodium_memzero(hs->e_priv, NOISE_KEY_LEN);
        return NOISE_ERR_INVAL;
    }
    hs->has_e = true;
    return 0;
}

bool noise_hs_done(const struct noise_hs *hs)
{
    return hs != NULL && !hs->failed && hs->msg >= patterns[hs->pattern].nmsgs;
}

bool noise_hs_my_turn(const struct noise_hs *hs)
{
    if (hs == NULL || hs->failed || hs->msg >= patterns[hs->pattern].nmsgs) {
        return false;
    }
    return ((hs->msg % 2) == 0) == hs->initiator;
}

int noise_dh(uint8_t out[NOISE_KEY_LEN], const uint8_t priv[NOISE_KEY_LEN],
             const uint8_t pub[NOISE_KEY_LEN])
{
    uint8_t shared[NOISE_KEY_LEN];

    /* crypto_scalarmult fails on an all-zero result (low-order or zero public
     * key); the explicit check keeps that policy whatever the libsodium build. */
    if (crypto_scalarmult(shared, priv, pub) != 0 || sodium_is_zero(shared, sizeof(shared))) {
        sodium_memzero(shared, sizeof(shared));
        return NOISE_ERR_DH;
    }
    memcpy(out, shared, NOISE_KEY_LEN);
    sodium_memzero(shared, sizeof(shared));
    return 0;
}

int noise_hs_set_ss(struct noise_hs *hs, const uint8_t ss[NOISE_KEY_LEN])
{
    if (hs == NULL || ss == NULL)
        return NOISE_ERR_INVAL;
    if (hs->failed || !hs->has_s || !hs->has_rs)
        return NOISE_ERR_STATE;
    memcpy(hs->ss, ss, NOISE_KEY_LEN);
    hs->has_ss = true;
    return 0;
}

/* DH for ee/es/se/ss, mixed into the chaining key (spec §5.3, §12.1). */
static int hs_token_dh(struct noise_hs *hs, uint8_t tok)
{
    const uint8_t *priv, *pub;
    bool ok;
    uint8_t shared[NOISE_KEY_LEN];
    bool local_e = tok == T_EE || (tok == T_ES && hs->initiator) || (tok == T_SE && !hs->initiator);
    bool remote_e =
        tok == T_EE || (tok == T_ES && !hs->initiator) || (tok == T_SE && hs->initiator);

    priv = local_e ? hs->e_priv : hs->s_priv;
    pub = remote_e ? hs->re : hs->rs;
    ok = (local_e ? hs->has_e : hs->has_s) && (remote_e ? hs->has_re : hs->has_rs);
    if (!ok) {
        return NOISE_ERR_STATE;
    }
    if (tok == T_SS && hs->has_ss) {
        ss_mix_key(hs, hs->ss);
        return 0;
    }
    if (noise_dh(shared, priv, pub) != 0)
        return NOISE_ERR_DH;
    ss_mix_key(hs, shared);
    sodium_memzero(shared, sizeof(shared));
    return 0;
}

/* Bytes the tokens of the current message take (without the payload), and
 * whether a cipher key is set once they have run. */
static size_t hs_tokens_len(const struct noise_hs *hs, bool *key_after)
{
    const uint8_t *toks = patterns[hs->pattern].m[hs->msg];
    bool key = hs->cs.has_key;
    size_t n = 0;

    for (int i = 0; i < NOISE_MAX_TOKENS && toks[i] != T_END; i++) {
        if (toks[i] == T_E) {
            n += NOISE_KEY_LEN;
        } else if (toks[i] == T_S) {
            n += NOISE_KEY_LEN + (key ? NOISE_TAG_LEN : 0);
        } else {
            key = true;
        }
    }
    *key_after = key;
    return n;
}

static int hs_write_tokens(struct noise_hs *hs, uint8_t *out, size_t *pos)
{
    const uint8_t *toks = patterns[hs->pattern].m[hs->msg];
    size_t n;
    int r = 0;

    for (int i = 0; i < NOISE_MAX_TOKENS && toks[i] != T_END && r == 0; i++) {
        switch (toks[i]) {
        case T_E:
            if (!hs->has_e) {
                randombytes_buf(hs->e_priv, NOISE_KEY_LEN);
                if (crypto_scalarmult_base(hs->e_pub, hs->e_priv) != 0) {
                    return NOISE_ERR_DH;
                }
                hs->has_e = true;
            }
            memcpy(out + *pos, hs->e_pub, NOISE_KEY_LEN);
            ss_mix_hash(hs, hs->e_pub, NOISE_KEY_LEN);
            *pos += NOISE_KEY_LEN;
            break;
        case T_S:
            r = ss_encrypt_and_hash(hs, hs->s_pub, NOISE_KEY_LEN, out + *pos, &n);
            *pos += r == 0 ? n : 0;
            break;
        default:
            r = hs_token_dh(hs, toks[i]);
            break;
        }
    }
    return r;
}

int noise_hs_write_message(struct noise_hs *hs, const uint8_t *payload, size_t payload_len,
                           uint8_t *out, size_t cap, size_t *out_len)
{
    bool key_after;
    size_t pos = 0, n;

    if (hs == NULL || out_len == NULL || (payload_len > 0 && payload == NULL) ||
        (cap > 0 && out == NULL)) {
        return NOISE_ERR_INVAL;
    }
    if (!noise_hs_my_turn(hs) || hs->split) {
        return NOISE_ERR_STATE;
    }
    size_t need = hs_tokens_len(hs, &key_after);
    if (payload_len > NOISE_MAX_MSG) {
        return NOISE_ERR_TOOBIG;
    }
    need += payload_len + (key_after ? NOISE_TAG_LEN : 0);
    if (need > NOISE_MAX_MSG) {
        return NOISE_ERR_TOOBIG;
    }
    if (need > cap) {
        return NOISE_ERR_NOSPACE;
    }
    int r = hs_write_tokens(hs, out, &pos);
    if (r == 0) {
        r = ss_encrypt_and_hash(hs, payload, payload_len, out + pos, &n);
    }
    if (r != 0) {
        hs->failed = true;
        return r;
    }
    hs->msg++;
    *out_len = pos + n;
    return 0;
}

static int hs_read_tokens(struct noise_hs *hs, const uint8_t *msg, size_t *pos)
{
    const uint8_t *toks = patterns[hs->pattern].m[hs->msg];
    uint8_t rs[NOISE_KEY_LEN];
    size_t n;
    int r = 0;

    for (int i = 0; i < NOISE_MAX_TOKENS && toks[i] != T_END && r == 0; i++) {
        switch (toks[i]) {
        case T_E:
            memcpy(hs->re, msg + *pos, NOISE_KEY_LEN);
            hs->has_re = true;
            ss_mix_hash(hs, hs->re, NOISE_KEY_LEN);
            *pos += NOISE_KEY_LEN;
            break;
        case T_S:
            n = NOISE_KEY_LEN + (hs->cs.has_key ? NOISE_TAG_LEN : 0);
            r = ss_decrypt_and_hash(hs, msg + *pos, n, rs);
            if (r == 0) {
                memcpy(hs->rs, rs, NOISE_KEY_LEN);
                hs->has_rs = true;
                *pos += n;
            }
            break;
        default:
            r = hs_token_dh(hs, toks[i]);
            break;
        }
    }
    return r;
}

int noise_hs_read_message(struct noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload_out,
                          size_t cap, size_t *payload_len)
{
    uint8_t dummy[1];
    bool key_after;
    size_t pos = 0;
    int r;

    if (hs == NULL || payload_len == NULL || (len > 0 && msg == NULL) ||
        (cap > 0 && payload_out == NULL)) {
        return NOISE_ERR_INVAL;
    }
    if (hs->failed || hs->split || hs->msg >= patterns[hs->pattern].nmsgs || noise_hs_my_turn(hs)) {
        return NOISE_ERR_STATE;
    }
    size_t fixed = hs_tokens_len(hs, &key_after) + (key_after ? NOISE_TAG_LEN : 0);
    if (len > NOISE_MAX_MSG) {
        r = NOISE_ERR_TOOBIG;
    } else if (len < fixed) {
        r = NOISE_ERR_SHORT;
    } else if (len - fixed > cap) {
        return NOISE_ERR_NOSPACE; /* the caller's buffer: nothing consumed */
    } else {
        r = hs_read_tokens(hs, msg, &pos);
    }
    if (r == 0) {
        r = ss_decrypt_and_hash(hs, msg + pos, len - pos,
                                payload_out != NULL ? payload_out : dummy);
    }
    if (r != 0) {
        hs->failed = true;
        return r;
    }
    hs->msg++;
    *payload_len = len - fixed;
    return 0;
}

const uint8_t *noise_hs_remote_static(const struct noise_hs *hs)
{
    if (hs == NULL || hs->failed || !hs->has_rs) {
        return NULL;
    }
    return hs->rs;
}

int noise_hs_handshake_hash(const struct noise_hs *hs, uint8_t out[NOISE_HASH_LEN])
{
    if (hs == NULL || out == NULL) {
        return NOISE_ERR_INVAL;
    }
    if (!noise_hs_done(hs)) {
        return NOISE_ERR_STATE;
    }
    memcpy(out, hs->h, NOISE_HASH_LEN);
    return 0;
}

int noise_hs_export_key(const struct noise_hs *hs, const uint8_t *label, size_t label_len,
                        uint8_t out[NOISE_KEY_LEN])
{
    uint8_t o1[NOISE_HASH_LEN], o2[NOISE_HASH_LEN];

    if (hs == NULL || out == NULL || label == NULL || label_len == 0) {
        return NOISE_ERR_INVAL;
    }
    if (!noise_hs_done(hs) || hs->split) {
        return NOISE_ERR_STATE;
    }
    hkdf2(hs->ck, label, label_len, o1, o2);
    memcpy(out, o1, NOISE_KEY_LEN);
    sodium_memzero(o1, sizeof(o1));
    sodium_memzero(o2, sizeof(o2));
    return 0;
}

int noise_hs_split_keys(struct noise_hs *hs, uint8_t send_key[NOISE_KEY_LEN],
                        uint8_t recv_key[NOISE_KEY_LEN])
{
    uint8_t k1[NOISE_HASH_LEN], k2[NOISE_HASH_LEN];

    if (hs == NULL || send_key == NULL || recv_key == NULL) {
        return NOISE_ERR_INVAL;
    }
    if (!noise_hs_done(hs) || hs->split) {
        return NOISE_ERR_STATE;
    }
    hkdf2(hs->ck, NULL, 0, k1, k2);
    memcpy(send_key, hs->initiator ? k1 : k2, NOISE_KEY_LEN);
    memcpy(recv_key, hs->initiator ? k2 : k1, NOISE_KEY_LEN);
    sodium_memzero(k1, sizeof(k1));
    sodium_memzero(k2, sizeof(k2));
    /* Only h and rs stay useful; the secrets that could rebuild the keys go. */
    sodium_memzero(hs->ck, sizeof(hs->ck));
    sodium_memzero(&hs->cs, sizeof(hs->cs));
    sodium_memzero(hs->s_priv, sizeof(hs->s_priv));
    sodium_memzero(hs->e_priv, sizeof(hs->e_priv));
    hs->split = true;
    return 0;
}

int noise_hs_split(struct noise_hs *hs, struct noise_cs *send, struct noise_cs *recv)
{
    uint8_t ks[NOISE_KEY_LEN], kr[NOISE_KEY_LEN];

    if (send == NULL || recv == NULL) {
        return NOISE_ERR_INVAL;
    }
    int r = noise_hs_split_keys(hs, ks, kr);
    if (r != 0) {
        return r;
    }
    noise_cs_init(send, ks);
    noise_cs_init(recv, kr);
    sodium_memzero(ks, sizeof(ks));
    sodium_memzero(kr, sizeof(kr));
    return 0;
}

void noise_hs_wipe(struct noise_hs *hs)
{
    if (hs != NULL) {
        sodium_memzero(hs, sizeof(*hs));
        hs->failed = true; /* a wiped state accepts no further calls */
    }
}

const char *noise_strerror(int err)
{
    switch (err) {
    case NOISE_OK:
        return "success";
    case NOISE_ERR_INVAL:
        return "invalid argument";
    case NOISE_ERR_PATTERN:
        return "unknown handshake pattern";
    case NOISE_ERR_STATE:
        return "not allowed in this handshake state";
    case NOISE_ERR_SHORT:
        return "message too short";
    case NOISE_ERR_TOOBIG:
        return "message too long";
    case NOISE_ERR_NOSPACE:
        return "output buffer too small";
    case NOISE_ERR_DECRYPT:
        return "authentication failed";
    case NOISE_ERR_DH:
        return "invalid public key (all-zero Diffie-Hellman result)";
    case NOISE_ERR_NONCE:
        return "nonce exhausted";
    default:
        return "unknown noise error";
    }
}
