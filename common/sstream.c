/* SPDX-License-Identifier: MIT */
#include "sstream.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

/*
 * The construction (libsodium 1.0.18, crypto_secretstream/xchacha20poly1305):
 *
 *   init:    k = HChaCha20(key, header[0..16)); nonce = counter ‖ inonce with
 *            counter = 1 (LE32) and inonce = header[16..24).
 *   message: ChaCha20-IETF under (k, nonce), block counter 0: the first 32
 *            bytes are the Poly1305 key; block 1 encrypts a 64-byte block that
 *            is the tag followed by 63 zeros (its first byte goes on the wire);
 *            blocks 2.. encrypt the message. The MAC runs over the encrypted
 *            64-byte block, the ciphertext, (mlen mod 16) zero bytes, LE64(0)
 *            and LE64(64 + mlen). Then inonce ^= mac[0..8), counter += 1, and
 *            a rekey follows on TAG_REKEY or when the counter wrapped to 0.
 *   rekey:   (k ‖ inonce) ^= ChaCha20-IETF keystream under (k, nonce), block
 *            counter 0; counter = 1.
 *
 * Blocks 0, 1, 2.. are one contiguous keystream, so a message needs one
 * cipher initialisation: 128 bytes (64 zeros, then the tag block) and then the
 * message, all from block counter 0.
 */

_Static_assert(SSTREAM_MSG_MAX <= 0x7fffffff - 128, "OpenSSL takes int lengths");

#define COUNTER_LEN 4
#define INONCE_LEN  8

static void counter_reset(struct sstream *s)
{
    memset(s->nonce, 0, COUNTER_LEN);
    s->nonce[0] = 1;
}

/* Allocates the contexts: ChaCha20 (fetched once, kept by the context) and Poly1305. */
static int contexts_new(struct sstream *s)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    int ok = 0;

    s->cipher = EVP_CIPHER_CTX_new();
    s->mac = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    if (cipher != NULL && s->cipher != NULL && s->mac != NULL)
        ok = EVP_EncryptInit_ex2(s->cipher, cipher, NULL, NULL, NULL) == 1;
    /* Both contexts hold their own references to the algorithms. */
    EVP_CIPHER_free(cipher);
    EVP_MAC_free(mac);
    if (!ok) {
        sstream_done(s);
        /* We report the failure ourselves: leave nothing stale in the thread's queue. */
        ERR_clear_error();
        return -ENOMEM;
    }
    return 0;
}

static int init_common(struct sstream *s, const uint8_t key[SSTREAM_KEY_LEN],
                       const uint8_t header[SSTREAM_HEADER_LEN])
{
    memset(s, 0, sizeof(*s));
    if (contexts_new(s) != 0)
        return -ENOMEM;
    crypto_core_hchacha20(s->k, header, key, NULL);
    counter_reset(s);
    memcpy(s->nonce + COUNTER_LEN, header + crypto_core_hchacha20_INPUTBYTES, INONCE_LEN);
    return 0;
}

int sstream_init_push(struct sstream *s, const uint8_t key[SSTREAM_KEY_LEN],
                      uint8_t header_out[SSTREAM_HEADER_LEN])
{
    uint8_t header[SSTREAM_HEADER_LEN];
    int rc;

    if (s == NULL || key == NULL || header_out == NULL)
        return -EINVAL;
    randombytes_buf(header, sizeof(header));
    rc = init_common(s, key, header);
    if (rc == 0)
        memcpy(header_out, header, sizeof(header));
    return rc;
}

int sstream_init_pull(struct sstream *s, const uint8_t key[SSTREAM_KEY_LEN],
                      const uint8_t header[SSTREAM_HEADER_LEN])
{
    if (s == NULL || key == NULL || header == NULL)
        return -EINVAL;
    return init_common(s, key, header);
}

/* Sets the cipher to (k, nonce) at block counter 0. The key is set every time:
 * the context carries nothing from one message to the next. */
static int cipher_start(struct sstream *s, const uint8_t k[SSTREAM_KEY_LEN])
{
    uint8_t iv[16] = {0}; /* block counter LE32 (0) ‖ 96-bit nonce */

    memcpy(iv + 4, s->nonce, sizeof(s->nonce));
    return EVP_EncryptInit_ex2(s->cipher, NULL, k, iv, NULL) == 1 ? 0 : -ENOMEM;
}

/* out[0..len) = in[0..len) ^ the next keystream bytes. */
static int cipher_xor(struct sstream *s, uint8_t *out, const uint8_t *in, size_t len)
{
    int outl = 0;

    if (len == 0)
        return 0;
    if (EVP_EncryptUpdate(s->cipher, out, &outl, in, (int)len) != 1 || (size_t)outl != len)
        return -ENOMEM;
    return 0;
}

static int mac_update(struct sstream *s, const uint8_t *p, size_t len)
{
    if (len == 0)
        return 0;
    return EVP_MAC_update(s->mac, p, len) == 1 ? 0 : -ENOMEM;
}

/*
 * Starts a message: keys the cipher at block 0, runs it over 64 zeros (the
 * first 32 bytes become the Poly1305 key, then are wiped) and over the 64-byte
 * block `first` ‖ 63 zeros, which it leaves encrypted in block[64..128). The
 * cipher is then at block 2.
 */
static int msg_start(struct sstream *s, uint8_t first, uint8_t block[128])
{
    int rc;

    memset(block, 0, 128);
    block[64] = first;
    rc = cipher_start(s, s->k);
    if (rc == 0)
        rc = cipher_xor(s, block, block, 128);
    if (rc == 0 && EVP_MAC_init(s->mac, block, 32, NULL) != 1)
        rc = -ENOMEM;
    sodium_memzero(block, 64); /* the Poly1305 key */
    return rc;
}

/* MACs the padding and the lengths, writes the 16-byte MAC. */
static int msg_finish(struct sstream *s, size_t mlen, uint8_t mac[16])
{
    /* libsodium pads with (0x10 - 64 + mlen) & 0xf zero bytes, i.e. mlen mod
     * 16 — not the usual "up to a multiple of 16". The wire depends on it. */
    size_t pad = (size_t)(0x10 - 64 + mlen) & 0xf;
    uint8_t tail[16 + 16] = {0};
    uint64_t total = 64 + (uint64_t)mlen;
    size_t maclen = 0;

    /* tail = pad zeros ‖ LE64(adlen = 0) ‖ LE64(64 + mlen) */
    for (int i = 0; i < 8; i++)
        tail[pad + 8 + (size_t)i] = (uint8_t)(total >> (8 * i));
    if (mac_update(s, tail, pad + 16) != 0)
        return -ENOMEM;
    if (EVP_MAC_final(s->mac, mac, &maclen, 16) != 1 || maclen != 16)
        return -ENOMEM;
    return 0;
}

/* After a message: inonce ^= mac, counter += 1, rekey on REKEY or wrap. */
static int msg_advance(struct sstream *s, const uint8_t mac[16], uint8_t tag)
{
    for (size_t i = 0; i < INONCE_LEN; i++)
        s->nonce[COUNTER_LEN + i] ^= mac[i];
    sodium_increment(s->nonce, COUNTER_LEN);
    if ((tag & SSTREAM_TAG_REKEY) != 0 || sodium_is_zero(s->nonce, COUNTER_LEN))
        return sstream_rekey(s);
    return 0;
}

int sstream_push(struct sstream *s, const uint8_t *m1, size_t len1, const uint8_t *m2, size_t len2,
                 uint8_t tag, uint8_t *c)
{
    uint8_t block[128];
    uint8_t mac[16];
    struct sstream saved;
    size_t mlen = len1 + len2;
    int rc;

    if (s == NULL || c == NULL || (m1 == NULL && len1 != 0) || (m2 == NULL && len2 != 0) ||
        len1 > SSTREAM_MSG_MAX || len2 > SSTREAM_MSG_MAX - len1)
        return -EINVAL;
    if (s->cipher == NULL || s->mac == NULL)
        return -EINVAL; /* not initialised, or done */
    memcpy(&saved, s, sizeof(saved));
    rc = msg_start(s, tag, block);
    if (rc == 0)
        rc = mac_update(s, block + 64, 64);
    c[0] = block[64];
    if (rc == 0)
        rc = cipher_xor(s, c + 1, m1, len1);
    if (rc == 0)
        rc = cipher_xor(s, c + 1 + len1, m2, len2);
    if (rc == 0)
        rc = mac_update(s, c + 1, mlen);
    if (rc == 0)
        rc = msg_finish(s, mlen, c + 1 + mlen);
    if (rc == 0)
        rc = msg_advance(s, c + 1 + mlen, tag);
    if (rc != 0) {
        sodium_memzero(c, mlen + SSTREAM_ABYTES);
        memcpy(s, &saved, sizeof(saved));
        ERR_clear_error();
    }
    sodium_memzero(&saved, sizeof(saved));
    sodium_memzero(block, sizeof(block));
    sodium_memzero(mac, sizeof(mac));
    return rc;
}

int sstream_pull(struct sstream *s, const uint8_t *c, size_t clen, uint8_t *m, uint8_t *tag_out)
{
    uint8_t block[128];
    uint8_t mac[16];
    struct sstream saved;
    size_t mlen;
    uint8_t tag;
    int rc;

    if (s == NULL || c == NULL || m == NULL || tag_out == NULL)
        return -EINVAL;
    if (s->cipher == NULL || s->mac == NULL)
        return -EINVAL;
    if (clen < SSTREAM_ABYTES || clen - SSTREAM_ABYTES > SSTREAM_MSG_MAX)
        return -EINVAL;
    mlen = clen - SSTREAM_ABYTES;
    memcpy(&saved, s, sizeof(saved));
    rc = msg_start(s, c[0], block);
    /* block + 64 is the received tag byte decrypted, then the keystream of
     * block 1; the MAC covers the block as it was on the wire. */
    tag = block[64];
    block[64] = c[0];
    if (rc == 0)
        rc = mac_update(s, block + 64, 64);
    if (rc == 0)
        rc = mac_update(s, c + 1, mlen);
    if (rc == 0)
        rc = msg_finish(s, mlen, mac);
    if (rc == 0 && sodium_memcmp(mac, c + 1 + mlen, sizeof(mac)) != 0)
        rc = -EBADMSG;
    /* Authentic: decrypt (the cipher is at block 2). */
    if (rc == 0)
        rc = cipher_xor(s, m, c + 1, mlen);
    if (rc == 0)
        rc = msg_advance(s, mac, tag);
    if (rc == 0) {
        *tag_out = tag;
    } else {
        if (rc != -EBADMSG) {
            sodium_memzero(m, mlen); /* a libcrypto failure, maybe mid-decryption */
            ERR_clear_error();
        }
        memcpy(s, &saved, sizeof(saved));
    }
    sodium_memzero(&saved, sizeof(saved));
    sodium_memzero(block, sizeof(block));
    sodium_memzero(mac, sizeof(mac));
    return rc;
}

int sstream_rekey(struct sstream *s)
{
    uint8_t kn[SSTREAM_KEY_LEN + INONCE_LEN];
    int rc;

    if (s == NULL || s->cipher == NULL)
        return -EINVAL;
    memcpy(kn, s->k, SSTREAM_KEY_LEN);
    memcpy(kn + SSTREAM_KEY_LEN, s->nonce + COUNTER_LEN, INONCE_LEN);
    rc = cipher_start(s, s->k);
    if (rc == 0)
        rc = cipher_xor(s, kn, kn, sizeof(kn));
    if (rc == 0) {
        memcpy(s->k, kn, SSTREAM_KEY_LEN);
        memcpy(s->nonce + COUNTER_LEN, kn + SSTREAM_KEY_LEN, INONCE_LEN);
        counter_reset(s);
    } else {
        ERR_clear_error();
    }
    sodium_memzero(kn, sizeof(kn));
    return rc;
}

void sstream_done(struct sstream *s)
{
    if (s == NULL)
        return;
    /* Both free functions cleanse the provider contexts (keys included). */
    EVP_CIPHER_CTX_free(s->cipher);
    EVP_MAC_CTX_free(s->mac);
    sodium_memzero(s, sizeof(*s));
}
