/* SPDX-License-Identifier: MIT */
/*
 * keys — X25519 key pairs, their text forms, and link ids (docs/protocol.md §2).
 *
 * Text forms:
 *   public key   "lrpub1" + base32(key[32] || check[4])   (64 characters)
 *   private key  "lrkey1" + base32(key[32] || check[4])   (64 characters)
 *   link id      32 hex digits
 * where base32 is RFC 4648 with the lowercase alphabet, no padding, and check
 * is the first 4 bytes of SHA-256(prefix || key). Decoders also accept
 * uppercase (prefix included). The 2 unused low bits of the last character
 * must be zero, so every key has exactly one text form (up to case).
 *
 * Private keys are encoded and decoded in constant time with respect to their
 * value: the base32 code is branchless arithmetic (no table indexed by secret
 * data) and the checksum is compared with sodium_memcmp. Only the position of
 * a character that is not in the alphabet at all is searched with branches.
 *
 * All functions are pure (no I/O, no allocation). The caller must have called
 * sodium_init() once before key_keypair_new() / key_pub_check().
 * Out-parameters are written only on success; the optional errpos of the
 * decoders is written only on failure.
 */
#ifndef LR_KEYS_H
#define LR_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEY_LEN          32
#define KEY_PREFIX_LEN   6
#define KEY_B32_LEN      58                             /* base32 of 36 bytes */
#define KEY_TEXT_LEN     (KEY_PREFIX_LEN + KEY_B32_LEN) /* 64 */
#define KEY_TEXT_SIZE    (KEY_TEXT_LEN + 1)             /* with the NUL */
#define KEY_PUB_PREFIX   "lrpub1"
#define KEY_PRIV_PREFIX  "lrkey1"
#define KEY_TOKEN_PREFIX "lrtok1" /* only recognised to say "wrong kind" */
#define LINKID_LEN       16
#define LINKID_TEXT_LEN  32
#define LINKID_TEXT_SIZE (LINKID_TEXT_LEN + 1)

/* Decoder errors (negative). key_strerror() gives the text. */
enum key_err {
    KEY_OK = 0,
    KEY_ERR_PREFIX = -1,     /* not a key text at all (unknown prefix) */
    KEY_ERR_KIND_PUB = -2,   /* wrong kind: this is a public key */
    KEY_ERR_KIND_PRIV = -3,  /* wrong kind: this is a private key */
    KEY_ERR_KIND_TOKEN = -4, /* wrong kind: this is an enrollment token */
    KEY_ERR_BAD_CHAR = -5,   /* bad character at position *errpos */
    KEY_ERR_TRUNCATED = -6,  /* too short */
    KEY_ERR_TOO_LONG = -7,   /* too long */
    KEY_ERR_CHECKSUM = -8,   /* checksum mismatch (a typo) */
    KEY_ERR_LOW_ORDER = -9,  /* all-zero or low-order public key */
};

/* Static text for an enum key_err value (never NULL). */
const char *key_strerror(int err);

/*
 * Formats a decoder error for a human: key_strerror(err), and for
 * KEY_ERR_BAD_CHAR "bad character at position N" with N = errpos (1-based).
 * Always NUL-terminates when cap > 0.
 */
void key_format_error(int err, size_t errpos, char *out, size_t cap);

/* A fresh random key pair (libsodium randombytes). */
void key_keypair_new(uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN]);

/* pub = X25519(priv, basepoint). Returns 0, or KEY_ERR_LOW_ORDER if the
 * result is all-zero (cannot happen for a clamped scalar; kept as a guard). */
int key_pub_from_priv(const uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN]);

/*
 * Returns 0 if pub is usable as a peer's X25519 public key, KEY_ERR_LOW_ORDER
 * if it is all-zero or of small order. Method: crypto_scalarmult() with a
 * fresh random scalar; libsodium returns -1 when the shared point is the
 * identity (all-zero output), which happens exactly for the points of order
 * 1, 2, 4 and 8 and their non-canonical encodings (u + p, top bit set).
 */
int key_pub_check(const uint8_t pub[KEY_LEN]) __attribute__((warn_unused_result));

/* Text encoders: out gets KEY_TEXT_LEN characters and a NUL. The private key
 * encoder runs in constant time; it wipes its temporaries. */
void key_pub_encode(const uint8_t pub[KEY_LEN], char out[KEY_TEXT_SIZE]);
void key_priv_encode(const uint8_t priv[KEY_LEN], char out[KEY_TEXT_SIZE]);

/*
 * Text decoders. text is NUL-terminated; no whitespace is skipped. Return 0
 * or an enum key_err. errpos may be NULL; on KEY_ERR_BAD_CHAR it receives the
 * 1-based position of the offending character in text. key_pub_decode also
 * runs key_pub_check (KEY_ERR_LOW_ORDER). key_priv_decode is constant time in
 * the key's value and wipes its temporaries.
 */
int key_pub_decode(const char *text, uint8_t pub[KEY_LEN], size_t *errpos)
    __attribute__((warn_unused_result));
int key_priv_decode(const char *text, uint8_t priv[KEY_LEN], size_t *errpos)
    __attribute__((warn_unused_result));

/* A fresh random link id. */
void linkid_new(uint8_t id[LINKID_LEN]);
/* 32 lowercase hex digits and a NUL. */
void linkid_encode(const uint8_t id[LINKID_LEN], char out[LINKID_TEXT_SIZE]);
/* Accepts exactly 32 hex digits (either case). Returns 0, KEY_ERR_TRUNCATED,
 * KEY_ERR_TOO_LONG or KEY_ERR_BAD_CHAR (errpos as above, may be NULL). */
int linkid_decode(const char *text, uint8_t id[LINKID_LEN], size_t *errpos)
    __attribute__((warn_unused_result));

/*
 * key_b32_len: characters for nbytes bytes.
 * Shared with token.c (same alphabet and rules), exposed so both modules use
 * one constant-time implementation.
 * key_b32_encode: writes ceil(n*8/5) characters, no NUL. Constant time in data.
 * key_b32_decode: decodes exactly len characters into floor(len*5/8) bytes.
 * Returns 0; KEY_ERR_BAD_CHAR with *errpos = 0-based index of the first
 * character outside the alphabet; KEY_ERR_TRUNCATED if len is not a length
 * base32 can produce (len % 8 in {1, 3, 6}); or 1 (success, but the unused
 * low bits of the last character are not zero: a non-canonical text).
 * Constant time in the decoded value for valid input. Whatever it returns,
 * out may hold decoded bytes: the caller wipes it.
 */
size_t key_b32_len(size_t nbytes);
void key_b32_encode(const uint8_t *in, size_t n, char *out);
int key_b32_decode(const char *in, size_t len, uint8_t *out, size_t *errpos);

#endif
