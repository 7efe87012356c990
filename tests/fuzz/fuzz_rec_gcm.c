/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the record layer on the AES-256-GCM suite
 * (common/rec.c over common/gstream.c, docs/protocol.md §7.2, design.md D37).
 * Seeds: tests/fuzz/corpus/rec_gcm/ (tests/fuzz/gen_corpus_rec_gcm.py).
 *
 * Input: mode byte m, then the rest.
 *   m & 1 == 0: frames (u16 length ‖ body)… from a hostile peer, fed to
 *               rec_rx_open (in place when m & 2): nothing the harness did not
 *               seal can authenticate, so every frame must fail and poison
 *               the direction.
 *   m & 1 == 1: items (tag u8 ‖ len u16 ‖ plaintext[len]) the harness seals
 *               itself, with its own AES-256-GCM (OpenSSL's EVP in one call
 *               per message) following §7.2 word for word, and feeds to
 *               rec_rx_open (rekey interval 1 + ((m >> 2) & 7), in place when
 *               m & 2). An authentic message must never fail authentication;
 *               what is accepted must be within the record limits; after an
 *               error every call fails.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static const uint8_t key[REC_KEY_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
static const uint8_t header[REC_HEADER_LEN] = {0x40, 0x41, 0x42, 0x43};

struct ref {
    uint8_t k[32];
    uint64_t n;
    EVP_CIPHER_CTX *c;
};

static void ref_init(struct ref *r)
{
    static const char label[] = "linkrelay/1 aes-256-gcm";
    uint8_t in[sizeof(label) - 1 + REC_HEADER_LEN];

    memcpy(in, label, sizeof(label) - 1);
    memcpy(in + sizeof(label) - 1, header, REC_HEADER_LEN);
    crypto_generichash(r->k, 32, in, sizeof(in), key, 32);
    r->n = 0;
    r->c = EVP_CIPHER_CTX_new();
    CHECK(r->c != NULL);
}

/* Seals tag ‖ m into out (len + 17 bytes) as message n of the direction. */
static void ref_seal(struct ref *r, uint8_t tag, const uint8_t *m, size_t len, uint8_t *out,
                     uint8_t *pt)
{
    static const char label[] = "linkrelay/1 aes-256-gcm rekey";
    uint8_t iv[12] = {0};
    int outl = 0;

    for (int i = 0; i < 8; i++)
        iv[4 + i] = (uint8_t)(r->n >> (56 - 8 * i));
    pt[0] = tag;
    memcpy(pt + 1, m, len);
    CHECK(EVP_EncryptInit_ex(r->c, EVP_aes_256_gcm(), NULL, r->k, iv) == 1);
    CHECK(EVP_EncryptUpdate(r->c, out, &outl, pt, (int)len + 1) == 1);
    CHECK(EVP_EncryptFinal_ex(r->c, out + len + 1, &outl) == 1);
    CHECK(EVP_CIPHER_CTX_ctrl(r->c, EVP_CTRL_AEAD_GET_TAG, 16, out + len + 1) == 1);
    r->n++;
    if (tag & 2)
        crypto_generichash(r->k, 32, (const uint8_t *)label, sizeof(label) - 1, r->k, 32);
}

static void check_record(const struct rec_record *r)
{
    CHECK(r->type >= REC_DATA && r->type <= REC_RESUME);
    CHECK(r->type != REC_DATA || (r->len >= 1 && r->len <= REC_DATA_MAX));
    CHECK(r->type != REC_RESET || r->len <= REC_TEXT_MAX);
}

/* Opens one body (copied, exact size); 0 if accepted. */
static int open_one(struct rec_rx *rx, const uint8_t *body, size_t len, int inplace)
{
    uint8_t *copy = malloc(len ? len : 1), *plain;
    struct rec_record r;
    int rc;

    CHECK(copy != NULL);
    memcpy(copy, body, len);
    plain = inplace && len > 0 ? copy + 1 : malloc(len ? len : 1);
    CHECK(plain != NULL);
    rc = rec_rx_open(rx, copy, len, 100000, plain, len, &r);
    if (rc == 0)
        check_record(&r);
    if (!(inplace && len > 0))
        free(plain);
    free(copy);
    return rc;
}

static void fuzz_frames(const uint8_t *p, size_t n, int inplace)
{
    struct rec_rx rx;

    CHECK(rec_rx_init_suite(&rx, REC_SUITE_AES256_GCM, key, header) == 0);
    while (n >= 2) {
        size_t len = (size_t)p[0] << 8 | p[1];
        if (len > n - 2)
            break;
        CHECK(open_one(&rx, p + 2, len, inplace) != 0); /* nothing forged opens */
        CHECK(open_one(&rx, p + 2, len, inplace) == REC_E_FAILED);
        p += 2 + len;
        n -= 2 + len;
    }
    rec_rx_done(&rx);
}

static void fuzz_sealed(const uint8_t *p, size_t n, uint32_t rekey, int inplace)
{
    static uint8_t body[REC_PLAIN_MAX + 1 + REC_ABYTES], pt[REC_PLAIN_MAX + 2];
    struct rec_rx rx;
    struct ref r;
    int failed = 0;

    ref_init(&r);
    CHECK(rec_rx_init_suite(&rx, REC_SUITE_AES256_GCM, key, header) == 0);
    CHECK(rec_rx_set_rekey_interval(&rx, rekey) == 0);
    while (n >= 3) {
        uint8_t tag = p[0];
        size_t len = (size_t)p[1] << 8 | p[2];
        int rc;

        p += 3;
        n -= 3;
        if (len > n)
            len = n;
        if (len > REC_PLAIN_MAX + 1)
            len = REC_PLAIN_MAX + 1; /* one over the limit still reaches rec */
        ref_seal(&r, tag, p, len, body, pt);
        rc = open_one(&rx, body, len + REC_ABYTES, inplace);
        if (failed)
            CHECK(rc == REC_E_FAILED);
        else
            CHECK(rc != REC_E_DECRYPT); /* authentic: never an authentication failure */
        failed |= rc != 0;
        p += len;
        n -= len;
    }
    rec_rx_done(&rx);
    EVP_CIPHER_CTX_free(r.c);
    sodium_memzero(r.k, sizeof(r.k));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;

    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_sealed(data + 1, size - 1, 1 + ((data[0] >> 2) & 7), (data[0] & 2) != 0);
    else
        fuzz_frames(data + 1, size - 1, (data[0] & 2) != 0);
    return 0;
}
