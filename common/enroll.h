/* SPDX-License-Identifier: MIT */
/*
 * enroll — enrollment codes (docs/protocol.md §2.2, design.md D30).
 *
 * Text: "lrenr1" + base32(secret[16] || check[4]), 32 characters after the
 * prefix, check = first 4 bytes of SHA-256("lrenr1" || secret), the alphabet
 * and case rules of keys and tokens. The secret is 128 random bits; from it
 * and the link side it enrolls (link id, side) come:
 *
 *   verifier = BLAKE2b-256(key = secret, "linkrelay/1 enroll verifier" || link_id || side)
 *   hash     = BLAKE2b-256("linkrelay/1 enroll hash" || verifier)
 *   anchor   = X25519 key pair, priv = BLAKE2b-256(key = secret,
 *              "linkrelay/1 enroll anchor" || link_id || side)
 *
 * The agent sends the verifier in AUTH (flags bit 3); the registry keeps only
 * the hash. The anchor is the side's registered key until the side enrolls:
 * the peer's token names it, and the enrolled agent endorses its own new key
 * with it (D21), so the peer can check the new key without trusting the relay.
 *
 * Pure, no allocation; sodium_init() must have been called. Secrets (the
 * code, the secret, the anchor's private key) are handled in constant time
 * and every temporary is wiped.
 */
#ifndef LR_ENROLL_H
#define LR_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define ENROLL_SECRET_LEN 16
#define ENROLL_HASH_LEN   32
#define ENROLL_PREFIX     "lrenr1"
#define ENROLL_TEXT_LEN   (6 + 32)
#define ENROLL_TEXT_SIZE  (ENROLL_TEXT_LEN + 1)

enum enroll_err {
    ENROLL_OK = 0,
    ENROLL_ERR_PREFIX = -1,    /* not an enrollment code */
    ENROLL_ERR_KIND = -2,      /* a key or a token, not a code */
    ENROLL_ERR_TRUNCATED = -3, /* shorter than a code */
    ENROLL_ERR_TOO_LONG = -4,  /* longer than a code */
    ENROLL_ERR_BAD_CHAR = -5,  /* bad character at position errpos */
    ENROLL_ERR_CHECKSUM = -6,  /* checksum mismatch (a typo) */
};

const char *enroll_strerror(int err);
/* enroll_strerror(err), or "bad character at position N" (1-based). */
void enroll_format_error(int err, size_t errpos, char *out, size_t cap);

/* A new random secret. */
void enroll_secret_new(uint8_t secret[ENROLL_SECRET_LEN]);
/* The code text of secret (NUL-terminated, ENROLL_TEXT_LEN characters). */
void enroll_code_encode(const uint8_t secret[ENROLL_SECRET_LEN], char out[ENROLL_TEXT_SIZE]);
/* Decodes NUL-terminated text; 0 or an enum enroll_err; secret written only on
 * success. errpos (may be NULL) gets the 1-based position for BAD_CHAR. */
int enroll_code_decode(const char *text, uint8_t secret[ENROLL_SECRET_LEN], size_t *errpos)
    __attribute__((warn_unused_result));

/* The derivations of the header comment; side is 0 or 1. */
void enroll_verifier(const uint8_t secret[ENROLL_SECRET_LEN], const uint8_t link_id[LINKID_LEN],
                     int side, uint8_t verifier[ENROLL_HASH_LEN]);
void enroll_hash(const uint8_t verifier[ENROLL_HASH_LEN], uint8_t hash[ENROLL_HASH_LEN]);
/* 0, or -EINVAL when the derived key is unusable (probability 2^-120). */
int enroll_anchor(const uint8_t secret[ENROLL_SECRET_LEN], const uint8_t link_id[LINKID_LEN],
                  int side, uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN]);

#endif
