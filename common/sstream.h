/* SPDX-License-Identifier: MIT */
/*
 * sstream — libsodium's crypto_secretstream_xchacha20poly1305, computed with
 * OpenSSL libcrypto's ChaCha20 and Poly1305 (docs/design.md D11).
 *
 * The output is byte for byte what libsodium 1.0.18 produces for the same key,
 * header, messages and tags (tests/unit/test_rec_sstream.c checks it against
 * libsodium in both directions); only the speed differs. libsodium still does
 * HChaCha20 (crypto_core_hchacha20), the random header, sodium_memzero and
 * sodium_memcmp. Additional data is not supported (the record layer uses none):
 * every message is sealed with adlen 0, exactly as libsodium does with ad NULL.
 *
 * Ownership: a struct sstream is embedded by its owner (rec_tx / rec_rx) and
 * owns two OpenSSL contexts on the heap, allocated by sstream_init_* and
 * freed (after OpenSSL cleanses them) by sstream_done. The contexts are
 * scratch space: the stream's state is k and nonce, and each message keys the
 * contexts afresh. So the struct must not be copied and then used twice, and
 * every successful or failed sstream_init_* must be followed by sstream_done
 * (which is idempotent and accepts a zeroed struct).
 *
 * The process must have called sodium_init(). Errors are negative errno:
 * -EINVAL (argument), -ENOMEM (allocation or libcrypto failure), -EBADMSG
 * (authentication failed).
 */
#ifndef LR_SSTREAM_H
#define LR_SSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define SSTREAM_KEY_LEN    32
#define SSTREAM_HEADER_LEN 24
#define SSTREAM_ABYTES     17      /* tag byte + 16-byte MAC */
#define SSTREAM_MSG_MAX    1048576 /* our own bound; libsodium allows ~256 GiB */

/* The tags, same values as crypto_secretstream_xchacha20poly1305_TAG_*. */
#define SSTREAM_TAG_MESSAGE 0x00
#define SSTREAM_TAG_PUSH    0x01
#define SSTREAM_TAG_REKEY   0x02
#define SSTREAM_TAG_FINAL   0x03

/* OpenSSL's context types, declared so that this header needs no OpenSSL one. */
struct evp_cipher_ctx_st;
struct evp_mac_ctx_st;

struct sstream {
    uint8_t k[SSTREAM_KEY_LEN]; /* current subkey (HChaCha20 output, then rekeys) */
    uint8_t nonce[12];          /* block-counter-free IETF nonce: counter LE32 ‖ inonce[8] */
    struct evp_cipher_ctx_st *cipher; /* owned: ChaCha20 */
    struct evp_mac_ctx_st *mac;       /* owned: Poly1305 */
};

/*
 * Starts a sending stream: draws the random header the caller sends first.
 * On error the struct holds no key and no context (sstream_done is still
 * allowed) and header_out is not written.
 */
int sstream_init_push(struct sstream *s, const uint8_t key[SSTREAM_KEY_LEN],
                      uint8_t header_out[SSTREAM_HEADER_LEN]);

/* Starts a receiving stream from the peer's header. Same error rules. */
int sstream_init_pull(struct sstream *s, const uint8_t key[SSTREAM_KEY_LEN],
                      const uint8_t header[SSTREAM_HEADER_LEN]);

/*
 * Seals the message m1 ‖ m2 (either part may be empty, NULL when empty;
 * len1 + len2 <= SSTREAM_MSG_MAX) with tag into c[0 .. len1 + len2 + 17).
 * c must not overlap m1 or m2. The state advances (and rekeys on TAG_REKEY
 * or when the 32-bit counter wraps). On error c is wiped and the state is
 * unchanged.
 */
int sstream_push(struct sstream *s, const uint8_t *m1, size_t len1, const uint8_t *m2, size_t len2,
                 uint8_t tag, uint8_t *c);

/*
 * Authenticates c[0..clen) (clen >= 17, clen - 17 <= SSTREAM_MSG_MAX) and
 * only then decrypts it into m[0 .. clen - 17). m may be exactly c + 1 (in
 * place) or must not overlap c. On success the state advances and *tag_out is
 * the tag. On error the state is unchanged and nothing is written to m (after
 * a libcrypto failure during decryption, m[0 .. clen - 17) is wiped).
 */
__attribute__((warn_unused_result)) int sstream_pull(struct sstream *s, const uint8_t *c,
                                                     size_t clen, uint8_t *m, uint8_t *tag_out);

/* Explicit rekey, as crypto_secretstream_xchacha20poly1305_rekey. */
int sstream_rekey(struct sstream *s);

/* Frees the contexts and wipes the keys. Idempotent; accepts NULL and a zeroed struct. */
void sstream_done(struct sstream *s);

#endif
