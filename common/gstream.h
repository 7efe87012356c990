/* SPDX-License-Identifier: MIT */
/*
 * gstream — the AES-256-GCM record suite (docs/protocol.md §7.2, design.md
 * D37): the same stream semantics as sstream (a random 24-byte header sent
 * first, one message per record with a tag byte, 17 bytes of overhead, a
 * rekey after a REKEY or FINAL tag), with AES-256-GCM from OpenSSL libcrypto.
 *
 *   init:    k = BLAKE2b-256(key, "linkrelay/1 aes-256-gcm" ‖ header); n = 0.
 *   message: c = AES-256-GCM(k, iv = 0x00000000 ‖ n u64 big-endian, no
 *            additional data) of tag ‖ message: the encrypted tag byte, the
 *            encrypted message, then the 16-byte GCM tag. n += 1, and on a
 *            tag with the REKEY bit (REKEY, FINAL) a rekey follows.
 *   rekey:   k = BLAKE2b-256(k, "linkrelay/1 aes-256-gcm rekey"); n goes on
 *            counting (it is never reset, so no (k, iv) pair can repeat
 *            even if a rekey produced an old key).
 *
 * Ownership and errors as sstream.h: a struct gstream is embedded by its
 * owner, owns one OpenSSL context (allocated by gstream_init_*, freed after
 * OpenSSL cleanses it by gstream_done, which is idempotent and accepts a
 * zeroed struct), must not be copied and used twice. Errors are negative
 * errno: -EINVAL, -ENOMEM (allocation or libcrypto failure), -EBADMSG
 * (authentication failed), -EOVERFLOW (n would pass 2^64 - 1).
 * sodium_init() first.
 */
#ifndef LR_GSTREAM_H
#define LR_GSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "sstream.h"

#define GSTREAM_KEY_LEN    32
#define GSTREAM_HEADER_LEN 24
#define GSTREAM_ABYTES     17 /* encrypted tag byte + 16-byte GCM tag */
#define GSTREAM_MSG_MAX    SSTREAM_MSG_MAX

struct evp_cipher_ctx_st;

struct gstream {
    uint8_t k[GSTREAM_KEY_LEN];       /* current key */
    uint64_t n;                       /* messages so far: the next IV */
    struct evp_cipher_ctx_st *cipher; /* owned: AES-256-GCM, keyed with k */
};

/* Starts a sending stream and draws the random header the caller sends first. */
int gstream_init_push(struct gstream *s, const uint8_t key[GSTREAM_KEY_LEN],
                      uint8_t header_out[GSTREAM_HEADER_LEN]);
/* Starts a receiving stream from the peer's header. */
int gstream_init_pull(struct gstream *s, const uint8_t key[GSTREAM_KEY_LEN],
                      const uint8_t header[GSTREAM_HEADER_LEN]);

/*
 * Seals m1 ‖ m2 (either may be empty and then NULL; len1 + len2 <=
 * GSTREAM_MSG_MAX) with tag into c[0 .. len1 + len2 + 17); c must not overlap
 * m1 or m2. On error c is wiped and the state is unchanged.
 */
int gstream_push(struct gstream *s, const uint8_t *m1, size_t len1, const uint8_t *m2, size_t len2,
                 uint8_t tag, uint8_t *c);

/*
 * Opens c[0..clen) (clen >= 17) into m[0 .. clen - 17); m may be exactly
 * c + 1 (in place) or must not overlap c. GCM decrypts while it
 * authenticates: on an authentication failure m[0 .. clen - 17) is wiped
 * (in place: the body was overwritten) and -EBADMSG returned; the state is
 * then unchanged. On success *tag_out is the tag.
 */
__attribute__((warn_unused_result)) int gstream_pull(struct gstream *s, const uint8_t *c,
                                                     size_t clen, uint8_t *m, uint8_t *tag_out);

/* Explicit rekey (what a REKEY or FINAL tag does after its message). */
int gstream_rekey(struct gstream *s);

/* Frees the context and wipes the key. Idempotent; accepts NULL and a zeroed struct. */
void gstream_done(struct gstream *s);

#endif
