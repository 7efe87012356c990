/* SPDX-License-Identifier: MIT */
/*
 * noise — the Noise Protocol Framework (spec revision 34), suite
 * 25519_ChaChaPoly_SHA256, on libsodium primitives only.
 *
 * Sans-I/O: the caller moves bytes; this module only turns handshake payloads
 * into handshake messages and back, and transport plaintexts into ciphertexts.
 * All state lives in fixed-size structs the caller embeds; nothing is
 * allocated. A generic pattern engine runs every pattern of the spec's
 * sections 7.4/7.5 (one-way, fundamental and deferred, no PSK); the product
 * uses XK (control connection, docs/protocol.md §4.1) and KK (end to end,
 * §7.1). See docs/internals/noise.md.
 *
 * Ownership: struct noise_hs / struct noise_cs are owned by the caller; they
 * hold key material and must be wiped with noise_hs_wipe / noise_cs_wipe before
 * their memory is reused or freed. Pointers passed in are not retained: keys
 * and the prologue are copied or hashed during the call.
 *
 * Errors: every function returns 0 or a negative enum noise_err. A handshake
 * that fails on peer input (short or malformed message, authentication
 * failure, an all-zero/low-order DH result) or on a DH error while writing is
 * dead: every later call on it returns NOISE_ERR_STATE. Caller errors found
 * before any state changes (NOISE_ERR_INVAL, NOISE_ERR_NOSPACE, calling out of
 * turn) leave the state unchanged.
 *
 * sodium_init() must have succeeded before any call.
 */
#ifndef LR_NOISE_H
#define LR_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOISE_KEY_LEN     32 /* X25519 keys, cipher keys, SHA-256 output */
#define NOISE_HASH_LEN    32
#define NOISE_TAG_LEN     16                              /* ChaChaPoly authentication tag */
#define NOISE_MAX_MSG     65535                           /* spec §3: every Noise message */
#define NOISE_MAX_PAYLOAD (NOISE_MAX_MSG - NOISE_TAG_LEN) /* transport plaintext */
#define NOISE_MAX_MSGS    4                               /* handshake messages per pattern */
#define NOISE_MAX_TOKENS  6                               /* tokens per handshake message */

enum noise_err {
    NOISE_OK = 0,
    NOISE_ERR_INVAL = -1,   /* bad argument (NULL, missing or superfluous key) */
    NOISE_ERR_PATTERN = -2, /* unknown pattern name */
    NOISE_ERR_STATE = -3,   /* wrong turn, handshake finished/failed, not finished */
    NOISE_ERR_SHORT = -4,   /* received message too short for its tokens */
    NOISE_ERR_TOOBIG = -5,  /* message or payload over NOISE_MAX_MSG */
    NOISE_ERR_NOSPACE = -6, /* output buffer too small (state unchanged) */
    NOISE_ERR_DECRYPT = -7, /* authentication failed */
    NOISE_ERR_DH = -8,      /* X25519 gave all zeros (low-order or zero public key) */
    NOISE_ERR_NONCE = -9,   /* nonce 2^64-1 reached: the CipherState is exhausted */
};

/* Every pattern the engine knows (Noise rev 34 §7.4, §7.5, §18 names). */
enum noise_pattern {
    NOISE_N,
    NOISE_K,
    NOISE_X,
    NOISE_NN,
    NOISE_NK,
    NOISE_NX,
    NOISE_KN,
    NOISE_KK,
    NOISE_KX,
    NOISE_XN,
    NOISE_XK,
    NOISE_XX,
    NOISE_IN,
    NOISE_IK,
    NOISE_IX,
    NOISE_NK1,
    NOISE_NX1,
    NOISE_X1N,
    NOISE_X1K,
    NOISE_XK1,
    NOISE_X1K1,
    NOISE_X1X,
    NOISE_XX1,
    NOISE_X1X1,
    NOISE_K1N,
    NOISE_K1K,
    NOISE_KK1,
    NOISE_K1K1,
    NOISE_K1X,
    NOISE_KX1,
    NOISE_K1X1,
    NOISE_I1N,
    NOISE_I1K,
    NOISE_IK1,
    NOISE_I1K1,
    NOISE_I1X,
    NOISE_IX1,
    NOISE_I1X1,
    NOISE_PATTERN_COUNT
};

/* A CipherState (spec §5.1). Treat the fields as private. */
struct noise_cs {
    uint8_t k[NOISE_KEY_LEN];
    uint64_t n;
    bool has_key;
};

/* A HandshakeState with its SymmetricState (spec §5.2, §5.3). Private fields. */
struct noise_hs {
    uint8_t ck[NOISE_HASH_LEN];
    uint8_t h[NOISE_HASH_LEN];
    struct noise_cs cs;
    uint8_t s_priv[NOISE_KEY_LEN], s_pub[NOISE_KEY_LEN];
    uint8_t e_priv[NOISE_KEY_LEN], e_pub[NOISE_KEY_LEN];
    uint8_t rs[NOISE_KEY_LEN], re[NOISE_KEY_LEN];
    bool has_s, has_e, has_rs, has_re;
    uint8_t ss[NOISE_KEY_LEN]; /* DH(s, rs) given by noise_hs_set_ss */
    bool has_ss;
    bool initiator, failed, split;
    uint8_t pattern; /* enum noise_pattern */
    uint8_t msg;     /* index of the next handshake message */
};

/*
 * Pattern names: accepts "XK" or the full "Noise_XK_25519_ChaChaPoly_SHA256".
 * noise_pattern_name returns the short name ("XK"), or NULL if out of range.
 */
int noise_pattern_from_name(const char *name, enum noise_pattern *out);
const char *noise_pattern_name(enum noise_pattern p);
/* Number of handshake messages of the pattern (1..NOISE_MAX_MSGS); 0 if unknown. */
int noise_pattern_messages(enum noise_pattern p);
/* True for the one-way patterns N, K, X (transport only initiator→responder). */
bool noise_pattern_one_way(enum noise_pattern p);

/*
 * Initialize(): s_priv is the local static private key, required exactly when
 * the pattern gives this side a static key; rs_pub is the peer's static public
 * key, required exactly when the pattern has it as a pre-message (for XK: the
 * initiator passes the relay's key, the responder passes NULL). Anything else
 * is NOISE_ERR_INVAL. prologue may be NULL when prologue_len is 0.
 */
int noise_hs_init(struct noise_hs *hs, enum noise_pattern pattern, bool initiator,
                  const uint8_t *prologue, size_t prologue_len, const uint8_t *s_priv,
                  const uint8_t *rs_pub);
/*
 * The same with the local static public key given (s_pub, the caller's own
 * public key of s_priv, computed once when the key was loaded) instead of
 * computed from s_priv here: one X25519 base-point multiplication less per
 * handshake (docs/design.md D45). s_pub NULL computes it, as noise_hs_init.
 */
int noise_hs_init_pub(struct noise_hs *hs, enum noise_pattern pattern, bool initiator,
                      const uint8_t *prologue, size_t prologue_len, const uint8_t *s_priv,
                      const uint8_t *s_pub, const uint8_t *rs_pub);

/*
 * DH(priv, pub) as a handshake's DH tokens compute it: NOISE_ERR_DH for a
 * low-order or zero result (nothing written), else 0.
 */
int noise_dh(uint8_t out[NOISE_KEY_LEN], const uint8_t priv[NOISE_KEY_LEN],
             const uint8_t pub[NOISE_KEY_LEN]);
/*
 * The static-static DH of this handshake (token ss), noise_dh(s_priv, rs)
 * computed once by the caller for the same two keys: the handshake mixes it
 * in instead of computing it again, one X25519 less per KK handshake on each
 * side (docs/design.md D45). It changes nothing on the wire. Call after
 * noise_hs_init, before the ss token; NOISE_ERR_STATE without both static
 * keys.
 */
int noise_hs_set_ss(struct noise_hs *hs, const uint8_t ss[NOISE_KEY_LEN]);

/*
 * Test vectors and fuzzing only: use this ephemeral private key instead of a
 * random one. Must be called before this side writes its "e" token.
 */
int noise_hs_set_ephemeral(struct noise_hs *hs, const uint8_t e_priv[NOISE_KEY_LEN]);

/*
 * WriteMessage(): writes the next handshake message, carrying payload, into
 * out. Needs the local turn. out must not overlap payload. *out_len is written
 * on success only. NOISE_ERR_NOSPACE if cap is too small (nothing changes).
 */
int noise_hs_write_message(struct noise_hs *hs, const uint8_t *payload, size_t payload_len,
                           uint8_t *out, size_t cap, size_t *out_len);

/*
 * ReadMessage(): consumes one complete handshake message (the caller's framing
 * delimits it) and writes its decrypted payload. Needs the peer's turn. Any
 * failure on msg kills the handshake. msg and payload_out must not overlap.
 */
__attribute__((warn_unused_result)) int noise_hs_read_message(struct noise_hs *hs,
                                                              const uint8_t *msg, size_t len,
                                                              uint8_t *payload_out, size_t cap,
                                                              size_t *payload_len);

/* True once every handshake message has been written or read (and not failed). */
bool noise_hs_done(const struct noise_hs *hs);
/* True if this side writes the next handshake message. */
bool noise_hs_my_turn(const struct noise_hs *hs);

/*
 * The peer's static public key once known (from a pre-message or after the
 * message carrying "s" was read and authenticated), else NULL. Points into hs;
 * valid until hs is wiped or re-initialized.
 */
const uint8_t *noise_hs_remote_static(const struct noise_hs *hs);

/* The handshake hash h; only once the handshake is done (else NOISE_ERR_STATE). */
int noise_hs_handshake_hash(const struct noise_hs *hs, uint8_t out[NOISE_HASH_LEN]);

/*
 * An extra secret from the finished handshake, before Split(): the first
 * output of HKDF(ck, label) (label non-empty, so it differs from Split()'s
 * HKDF(ck, zero-length)). The e2e layer derives its resume key with it
 * (docs/protocol.md §7.3). The caller must wipe what it gets.
 */
int noise_hs_export_key(const struct noise_hs *hs, const uint8_t *label, size_t label_len,
                        uint8_t out[NOISE_KEY_LEN]);

/*
 * Split(): the two transport CipherStates for the caller's role (the
 * initiator sends with the first, the responder with the second). Only once,
 * only when done. Wipes the chaining key and the local private keys from hs;
 * the handshake hash and the remote static stay readable.
 * noise_hs_split_keys does the same but hands out the raw keys (docs/protocol.md
 * §7.2 keys secretstream with them). The caller must wipe what it gets.
 */
int noise_hs_split(struct noise_hs *hs, struct noise_cs *send, struct noise_cs *recv);
int noise_hs_split_keys(struct noise_hs *hs, uint8_t send_key[NOISE_KEY_LEN],
                        uint8_t recv_key[NOISE_KEY_LEN]);

/* sodium_memzero of the whole state; safe on a zeroed or failed state. A wiped
 * state refuses every call (NOISE_ERR_STATE) until noise_hs_init again. */
void noise_hs_wipe(struct noise_hs *hs);

/* A CipherState with key k and nonce 0 (InitializeKey). */
void noise_cs_init(struct noise_cs *cs, const uint8_t k[NOISE_KEY_LEN]);
void noise_cs_wipe(struct noise_cs *cs);
/* SetNonce() of the spec (for tests and out-of-order transports). */
void noise_cs_set_nonce(struct noise_cs *cs, uint64_t n);

/*
 * EncryptWithAd(): out gets pt_len + 16 bytes; out may equal pt (in place) but
 * must not overlap it otherwise. pt_len at most NOISE_MAX_PAYLOAD.
 * NOISE_ERR_NONCE once the nonce reached 2^64-1 (the spec reserves it).
 */
int noise_cs_encrypt(struct noise_cs *cs, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                     size_t pt_len, uint8_t *out, size_t cap, size_t *out_len);
/*
 * DecryptWithAd(): out gets ct_len - 16 bytes; same overlap rule. On failure
 * the nonce does not advance and *out_len is not written.
 */
__attribute__((warn_unused_result)) int noise_cs_decrypt(struct noise_cs *cs, const uint8_t *ad,
                                                         size_t ad_len, const uint8_t *ct,
                                                         size_t ct_len, uint8_t *out, size_t cap,
                                                         size_t *out_len);

/* A static English text for an enum noise_err value. */
const char *noise_strerror(int err);

#endif
