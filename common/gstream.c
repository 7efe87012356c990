/* SPDX-License-Identifier: MIT */
#include "gstream.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

/* The construction is in gstream.h; the bytes on the wire in protocol.md §7.2. */

_Static_assert(GSTREAM_MSG_MAX <= 0x7fffffff - 1, "OpenSSL takes int lengths");

#define INIT_LABEL  "linkrelay/1 aes-256-gcm"
#define REKEY_LABEL "linkrelay/1 aes-256-gcm rekey"
#define GCM_TAG_LEN 16
#define IV_LEN      12

/* k = BLAKE2b-256(key, label ‖ extra). */
static void derive(uint8_t out[GSTREAM_KEY_LEN], const uint8_t key[GSTREAM_KEY_LEN],
                   const char *label, const uint8_t *extra, size_t extra_len)
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, key, GSTREAM_KEY_LEN, GSTREAM_KEY_LEN);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
    if (extra_len > 0)
        crypto_generichash_update(&st, extra, extra_len);
    crypto_generichash_final(&st, out, GSTREAM_KEY_LEN);
    sodium_memzero(&st, sizeof(st));
}

/* Allocates the context and keys it with s->k for encryption (enc 1) or
 * decryption (enc 0). */
static int context_new(struct gstream *s, int enc)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    int ok = 0;

    s->cipher = EVP_CIPHER_CTX_new();
    if (cipher != NULL && s->cipher != NULL)
        ok = EVP_CipherInit_ex2(s->cipher, cipher, s->k, NULL, enc, NULL) == 1;
    EVP_CIPHER_free(cipher); /* the context keeps its own reference */
    if (!ok) {
        gstream_done(s);
        ERR_clear_error();
        return -ENOMEM;
    }
    return 0;
}

static int init_common(struct gstream *s, const uint8_t key[GSTREAM_KEY_LEN],
                       const uint8_t header[GSTREAM_HEADER_LEN], int enc)
{
    memset(s, 0, sizeof(*s));
    derive(s->k, key, INIT_LABEL, header, GSTREAM_HEADER_LEN);
    return context_new(s, enc);
}

int gstream_init_push(struct gstream *s, const uint8_t key[GSTREAM_KEY_LEN],
                      uint8_t header_out[GSTREAM_HEADER_LEN])
{
    uint8_t header[GSTREAM_HEADER_LEN];
    int rc;

    if (s == NULL || key == NULL || header_out == NULL)
        return -EINVAL;
    randombytes_buf(header, sizeof(header));
    rc = init_common(s, key, header, 1);
    if (rc == 0)
        memcpy(header_out, header, sizeof(header));
    return rc;
}

int gstream_init_pull(struct gstream *s, const uint8_t key[GSTREAM_KEY_LEN],
                      const uint8_t header[GSTREAM_HEADER_LEN])
{
    if (s == NULL || key == NULL || header == NULL)
        return -EINVAL;
    return init_common(s, key, header, 0);
}

/* Sets the IV of message n; the key stays what the context holds. */
static int msg_start(struct gstream *s)
{
    uint8_t iv[IV_LEN] = {0};

    if (s->n == UINT64_MAX)
        return -EOVERFLOW;
    for (int i = 0; i < 8; i++)
        iv[4 + i] = (uint8_t)(s->n >> (56 - 8 * i));
    return EVP_CipherInit_ex2(s->cipher, NULL, NULL, iv, -1, NULL) == 1 ? 0 : -ENOMEM;
}

static int update(struct gstream *s, uint8_t *out, const uint8_t *in, size_t len)
{
    int outl = 0;

    if (len == 0)
        return 0;
    if (EVP_CipherUpdate(s->cipher, out, &outl, in, (int)len) != 1 || (size_t)outl != len)
        return -ENOMEM;
    return 0;
}

/* After a message: n += 1, and a rekey on a tag with the REKEY bit. */
static int msg_advance(struct gstream *s, uint8_t tag)
{
    s->n++;
    if ((tag & SSTREAM_TAG_REKEY) != 0)
        return gstream_rekey(s);
    return 0;
}

int gstream_push(struct gstream *s, const uint8_t *m1, size_t len1, const uint8_t *m2, size_t len2,
                 uint8_t tag, uint8_t *c)
{
    size_t mlen = len1 + len2;
    uint64_t n0;
    int outl = 0, rc;

    if (s == NULL || c == NULL || (m1 == NULL && len1 != 0) || (m2 == NULL && len2 != 0) ||
        len1 > GSTREAM_MSG_MAX || len2 > GSTREAM_MSG_MAX - len1)
        return -EINVAL;
    if (s->cipher == NULL)
        return -EINVAL; /* not initialised, or done */
    n0 = s->n;
    rc = msg_start(s);
    if (rc == 0)
        rc = update(s, c, &tag, 1);
    if (rc == 0)
        rc = update(s, c + 1, m1, len1);
    if (rc == 0)
        rc = update(s, c + 1 + len1, m2, len2);
    if (rc == 0 && EVP_CipherFinal_ex(s->cipher, c + 1 + mlen, &outl) != 1)
        rc = -ENOMEM;
    if (rc == 0 &&
        EVP_CIPHER_CTX_ctrl(s->cipher, EVP_CTRL_AEAD_GET_TAG, GCM_TAG_LEN, c + 1 + mlen) != 1)
        rc = -ENOMEM;
    if (rc == 0)
        rc = msg_advance(s, tag);
    if (rc != 0) {
        sodium_memzero(c, mlen + GSTREAM_ABYTES);
        s->n = n0; /* a failed rekey left k as it was */
        ERR_clear_error();
    }
    return rc;
}

int gstream_pull(struct gstream *s, const uint8_t *c, size_t clen, uint8_t *m, uint8_t *tag_out)
{
    uint8_t mac[GCM_TAG_LEN];
    size_t mlen;
    uint64_t n0;
    uint8_t tag = 0;
    int outl = 0, rc;

    if (s == NULL || c == NULL || m == NULL || tag_out == NULL)
        return -EINVAL;
    if (s->cipher == NULL)
        return -EINVAL;
    if (clen < GSTREAM_ABYTES || clen - GSTREAM_ABYTES > GSTREAM_MSG_MAX)
        return -EINVAL;
    mlen = clen - GSTREAM_ABYTES;
    memcpy(mac, c + 1 + mlen, sizeof(mac)); /* before an in-place decryption */
    n0 = s->n;
    rc = msg_start(s);
    if (rc == 0 && EVP_CIPHER_CTX_ctrl(s->cipher, EVP_CTRL_AEAD_SET_TAG, GCM_TAG_LEN, mac) != 1)
        rc = -ENOMEM;
    if (rc == 0)
        rc = update(s, &tag, c, 1);
    if (rc == 0)
        rc = update(s, m, c + 1, mlen);
    if (rc == 0 && EVP_CipherFinal_ex(s->cipher, m + mlen, &outl) != 1)
        rc = -EBADMSG; /* GCM's Final fails exactly when the tag does not match */
    if (rc == 0)
        rc = msg_advance(s, tag);
    if (rc == 0) {
        *tag_out = tag;
    } else {
        sodium_memzero(m, mlen); /* decrypted before it was authenticated */
        s->n = n0;
        ERR_clear_error();
    }
    sodium_memzero(&tag, sizeof(tag));
    return rc;
}

int gstream_rekey(struct gstream *s)
{
    uint8_t k[GSTREAM_KEY_LEN];

    if (s == NULL || s->cipher == NULL)
        return -EINVAL;
    derive(k, s->k, REKEY_LABEL, NULL, 0);
    if (EVP_CipherInit_ex2(s->cipher, NULL, k, NULL, -1, NULL) != 1) {
        sodium_memzero(k, sizeof(k));
        (void)EVP_CipherInit_ex2(s->cipher, NULL, s->k, NULL, -1, NULL);
        ERR_clear_error();
        return -ENOMEM;
    }
    memcpy(s->k, k, sizeof(k));
    sodium_memzero(k, sizeof(k));
    return 0;
}

void gstream_done(struct gstream *s)
{
    if (s == NULL)
        return;
    EVP_CIPHER_CTX_free(s->cipher); /* cleanses the key schedule */
    sodium_memzero(s, sizeof(*s));
}
