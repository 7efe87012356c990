/* SPDX-License-Identifier: MIT */
/*
 * Check suite for common/gstream.c, the AES-256-GCM record suite
 * (docs/protocol.md §7.2, docs/design.md D37), and for the record layer
 * (common/rec.c) run over both suites.
 *
 * The reference: first OpenSSL's AES-256-GCM, used in one call per message,
 * is checked against the GCM specification's test cases 13 to 16 (McGrew and
 * Viega, "The Galois/Counter Mode of Operation", AES-256 with a 96-bit IV),
 * typed in from the specification. Then every message gstream seals must be
 * exactly what that reference gives for the construction protocol.md §7.2
 * specifies (the key derived from the header, the IV from the message
 * counter, the tag byte in front, the key derivation after REKEY and FINAL),
 * written here a second time from the text.
 */
#include "gstream.h"

#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrcheck.h"
#include "rec.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;

    ck_assert_uint_le(n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* AES-256-GCM in one EVP call per part: ct (ptlen bytes) and the 16-byte tag. */
static void ref_gcm(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad, size_t aadlen,
                    const uint8_t *pt, size_t ptlen, uint8_t *ct, uint8_t tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0;

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv), 1);
    if (aadlen > 0)
        ck_assert_int_eq(EVP_EncryptUpdate(c, NULL, &outl, aad, (int)aadlen), 1);
    if (ptlen > 0) {
        ck_assert_int_eq(EVP_EncryptUpdate(c, ct, &outl, pt, (int)ptlen), 1);
        ck_assert_int_eq(outl, (int)ptlen);
    }
    ck_assert_int_eq(EVP_EncryptFinal_ex(c, ct + ptlen, &outl), 1);
    ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag), 1);
    EVP_CIPHER_CTX_free(c);
}

/* The GCM specification's AES-256 test cases with a 96-bit IV. */
START_TEST(gcm_spec_vectors)
{
    static const struct {
        const char *k, *iv, *aad, *p, *c, *t;
    } v[] = {
        {/* 13 */ "0000000000000000000000000000000000000000000000000000000000000000",
         "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
        {/* 14 */ "0000000000000000000000000000000000000000000000000000000000000000",
         "000000000000000000000000", "", "00000000000000000000000000000000",
         "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
        {/* 15 */ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
         "cafebabefacedbaddecaf888", "",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
         "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
         "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
         "b094dac5d93471bdec1a502270e3cc6c"},
        {/* 16 */ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
         "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
         "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
         "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"},
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint8_t k[32], iv[12], aad[32], p[64], c[64], t[16], got[64], gt[16];
        size_t plen, alen;

        ck_assert_uint_eq(unhex(v[i].k, k, sizeof(k)), 32);
        ck_assert_uint_eq(unhex(v[i].iv, iv, sizeof(iv)), 12);
        alen = unhex(v[i].aad, aad, sizeof(aad));
        plen = unhex(v[i].p, p, sizeof(p));
        ck_assert_uint_eq(unhex(v[i].c, c, sizeof(c)), plen);
        ck_assert_uint_eq(unhex(v[i].t, t, sizeof(t)), 16);
        ref_gcm(k, iv, aad, alen, p, plen, got, gt);
        ck_assert_msg(memcmp(got, c, plen) == 0, "test case %zu: ciphertext", 13 + i);
        ck_assert_msg(memcmp(gt, t, 16) == 0, "test case %zu: tag", 13 + i);
    }
}
END_TEST

/* ---- the construction, written again from protocol.md §7.2 ------------------- */

struct ref {
    uint8_t k[32];
    uint64_t n;
};

static void ref_init(struct ref *r, const uint8_t key[32], const uint8_t header[24])
{
    static const char label[] = "linkrelay/1 aes-256-gcm";
    uint8_t in[sizeof(label) - 1 + 24];

    memcpy(in, label, sizeof(label) - 1);
    memcpy(in + sizeof(label) - 1, header, 24);
    crypto_generichash(r->k, 32, in, sizeof(in), key, 32);
    r->n = 0;
}

/* Seals tag ‖ m as message n into c (mlen + 17 bytes). */
static void ref_seal(struct ref *r, uint8_t tag, const uint8_t *m, size_t mlen, uint8_t *c)
{
    static const char label[] = "linkrelay/1 aes-256-gcm rekey";
    uint8_t iv[12] = {0}, *pt = malloc(mlen + 1);

    ck_assert_ptr_nonnull(pt);
    for (int i = 0; i < 8; i++)
        iv[4 + i] = (uint8_t)(r->n >> (56 - 8 * i));
    pt[0] = tag;
    if (mlen > 0)
        memcpy(pt + 1, m, mlen);
    ref_gcm(r->k, iv, NULL, 0, pt, mlen + 1, c, c + 1 + mlen);
    free(pt);
    r->n++;
    if (tag == SSTREAM_TAG_REKEY || tag == SSTREAM_TAG_FINAL)
        crypto_generichash(r->k, 32, (const uint8_t *)label, sizeof(label) - 1, r->k, 32);
}

/* Every message of a stream with all tags and edge lengths, sealed by gstream
 * as the reference does, opened again by a pulling gstream (in place and not). */
START_TEST(construction_matches_reference)
{
    static const size_t lens[] = {0, 1, 15, 16, 17, 31, 32, 63, 64, 65, 16393, 16394, 65536};
    static const uint8_t tags[] = {SSTREAM_TAG_MESSAGE, SSTREAM_TAG_REKEY, SSTREAM_TAG_MESSAGE,
                                   SSTREAM_TAG_FINAL,   SSTREAM_TAG_PUSH,  SSTREAM_TAG_MESSAGE};
    uint8_t key[32], header[24], *m = malloc(65536), *c = malloc(65536 + 17),
                                 *want = malloc(65536 + 17), *back = malloc(65536);
    struct gstream tx, rx;
    struct ref r;
    uint8_t tag;

    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(back);
    randombytes_buf(key, sizeof(key));
    randombytes_buf(m, 65536);
    ck_assert_int_eq(gstream_init_push(&tx, key, header), 0);
    ck_assert_int_eq(gstream_init_pull(&rx, key, header), 0);
    ref_init(&r, key, header);
    for (size_t i = 0; i < 3 * sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i % (sizeof(lens) / sizeof(lens[0]))], split = len / 3;
        uint8_t t = tags[i % (sizeof(tags) / sizeof(tags[0]))];

        /* The message in two parts, as the record layer hands it over. */
        ck_assert_int_eq(gstream_push(&tx, m, split, m + split, len - split, t, c), 0);
        ref_seal(&r, t, m, len, want);
        ck_assert_msg(memcmp(c, want, len + 17) == 0, "message %zu (len %zu, tag %u)", i, len,
                      (unsigned)t);
        ck_assert_uint_eq(tx.n, r.n);
        if (i % 2 == 0) {
            ck_assert_int_eq(gstream_pull(&rx, c, len + 17, back, &tag), 0);
            ck_assert(len == 0 || memcmp(back, m, len) == 0);
        } else {
            ck_assert_int_eq(gstream_pull(&rx, c, len + 17, c + 1, &tag), 0); /* in place */
            ck_assert(len == 0 || memcmp(c + 1, m, len) == 0);
        }
        ck_assert_uint_eq(tag, t);
    }
    /* An explicit rekey on both ends keeps them together. */
    ck_assert_int_eq(gstream_rekey(&tx), 0);
    ck_assert_int_eq(gstream_rekey(&rx), 0);
    ck_assert_int_eq(gstream_push(&tx, m, 100, NULL, 0, SSTREAM_TAG_MESSAGE, c), 0);
    ck_assert_int_eq(gstream_pull(&rx, c, 117, back, &tag), 0);
    ck_assert(memcmp(back, m, 100) == 0);
    gstream_done(&tx);
    gstream_done(&rx);
    gstream_done(&rx); /* idempotent */
    free(m);
    free(c);
    free(want);
    free(back);
}
END_TEST

/* Any changed bit fails; the plaintext buffer is wiped and the state stays,
 * so the intact message still opens. Reordered, replayed, foreign-key and
 * foreign-header messages fail too. */
START_TEST(tamper_reorder_foreign)
{
    uint8_t key[32], other[32], header[24], h2[24], m[40], c1[57], c2[57], out[40], tag;
    struct gstream tx, rx, rx2;

    randombytes_buf(key, sizeof(key));
    randombytes_buf(other, sizeof(other));
    randombytes_buf(m, sizeof(m));
    ck_assert_int_eq(gstream_init_push(&tx, key, header), 0);
    ck_assert_int_eq(gstream_init_pull(&rx, key, header), 0);
    ck_assert_int_eq(gstream_push(&tx, m, 40, NULL, 0, SSTREAM_TAG_MESSAGE, c1), 0);
    ck_assert_int_eq(gstream_push(&tx, NULL, 0, m, 40, SSTREAM_TAG_MESSAGE, c2), 0);
    for (size_t bit = 0; bit < 8 * sizeof(c1); bit++) {
        c1[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(out, 0xaa, sizeof(out));
        ck_assert_int_eq(gstream_pull(&rx, c1, sizeof(c1), out, &tag), -EBADMSG);
        for (size_t i = 0; i < sizeof(out); i++)
            ck_assert_uint_eq(out[i], 0);
        c1[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_eq(rx.n, 0);
    }
    ck_assert_int_eq(gstream_pull(&rx, c1, sizeof(c1) - 1, out, &tag), -EBADMSG); /* cut */
    ck_assert_int_eq(gstream_pull(&rx, c2, sizeof(c2), out, &tag), -EBADMSG);     /* reorder */
    ck_assert_int_eq(gstream_pull(&rx, c1, sizeof(c1), out, &tag), 0);
    ck_assert(memcmp(out, m, 40) == 0);
    ck_assert_int_eq(gstream_pull(&rx, c1, sizeof(c1), out, &tag), -EBADMSG); /* replay */
    ck_assert_int_eq(gstream_pull(&rx, c2, sizeof(c2), out, &tag), 0);
    /* Another key, another header: nothing opens. */
    ck_assert_int_eq(gstream_init_pull(&rx2, other, header), 0);
    ck_assert_int_eq(gstream_pull(&rx2, c1, sizeof(c1), out, &tag), -EBADMSG);
    gstream_done(&rx2);
    memcpy(h2, header, sizeof(h2));
    h2[23] ^= 1;
    ck_assert_int_eq(gstream_init_pull(&rx2, key, h2), 0);
    ck_assert_int_eq(gstream_pull(&rx2, c1, sizeof(c1), out, &tag), -EBADMSG);
    gstream_done(&rx2);
    gstream_done(&tx);
    gstream_done(&rx);
}
END_TEST

/* Lengths, arguments, the end of the message counter, use after done. */
START_TEST(limits)
{
    uint8_t key[32] = {1}, header[24], tag;
    uint8_t *big = calloc(1, GSTREAM_MSG_MAX + 2 + GSTREAM_ABYTES), *c = big;
    struct gstream tx, rx;

    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(gstream_init_push(NULL, key, header), -EINVAL);
    ck_assert_int_eq(gstream_init_push(&tx, key, header), 0);
    ck_assert_int_eq(gstream_init_pull(&rx, key, header), 0);
    ck_assert_int_eq(gstream_push(&tx, NULL, 1, NULL, 0, 0, c), -EINVAL);
    ck_assert_int_eq(gstream_push(&tx, big, GSTREAM_MSG_MAX, big, 1, 0, c), -EINVAL);
    ck_assert_int_eq(gstream_pull(&rx, c, GSTREAM_ABYTES - 1, big, &tag), -EINVAL);
    ck_assert_int_eq(gstream_pull(&rx, c, GSTREAM_MSG_MAX + GSTREAM_ABYTES + 1, big, &tag),
                     -EINVAL);
    /* The largest message, in place (c and the message share the buffer's room). */
    uint8_t *m = malloc(GSTREAM_MSG_MAX);
    ck_assert_ptr_nonnull(m);
    randombytes_buf(m, GSTREAM_MSG_MAX);
    ck_assert_int_eq(gstream_push(&tx, m, GSTREAM_MSG_MAX, NULL, 0, 0, c), 0);
    ck_assert_int_eq(gstream_pull(&rx, c, GSTREAM_MSG_MAX + GSTREAM_ABYTES, c + 1, &tag), 0);
    ck_assert(memcmp(c + 1, m, GSTREAM_MSG_MAX) == 0);
    free(m);
    /* The empty message is a message. */
    ck_assert_int_eq(gstream_push(&tx, NULL, 0, NULL, 0, SSTREAM_TAG_FINAL, c), 0);
    ck_assert_int_eq(gstream_pull(&rx, c, GSTREAM_ABYTES, big + 100, &tag), 0);
    ck_assert_uint_eq(tag, SSTREAM_TAG_FINAL);
    /* The counter's last value is used, then the stream refuses. */
    tx.n = rx.n = UINT64_MAX - 1;
    ck_assert_int_eq(gstream_push(&tx, key, 5, NULL, 0, 0, c), 0);
    ck_assert_int_eq(gstream_pull(&rx, c, 5 + GSTREAM_ABYTES, big + 100, &tag), 0);
    ck_assert_int_eq(gstream_push(&tx, key, 5, NULL, 0, 0, c), -EOVERFLOW);
    for (size_t i = 0; i < 5 + GSTREAM_ABYTES; i++)
        ck_assert_uint_eq(c[i], 0);
    ck_assert_int_eq(gstream_pull(&rx, c, 5 + GSTREAM_ABYTES, big + 100, &tag), -EOVERFLOW);
    ck_assert_uint_eq(tx.n, UINT64_MAX);
    gstream_done(&tx);
    ck_assert_int_eq(gstream_push(&tx, key, 5, NULL, 0, 0, c), -EINVAL);
    ck_assert_int_eq(gstream_rekey(&tx), -EINVAL);
    gstream_done(&rx);
    free(big);
}
END_TEST

/* ---- the record layer over both suites ------------------------------------------ */

static const enum rec_suite suites[] = {REC_SUITE_CHACHA20_POLY1305, REC_SUITE_AES256_GCM};

/* DATA, ACK, FINAL with a rekey every 3 records, through each suite: same
 * frame lengths (17 bytes over the plaintext), same rules. */
START_TEST(records_both_suites)
{
    enum rec_suite su = suites[_i];
    uint8_t key[REC_KEY_LEN], header[REC_HEADER_LEN], data[REC_DATA_MAX], frame[REC_FRAME_MAX];
    uint8_t plain[REC_PLAIN_MAX];
    struct rec_tx tx;
    struct rec_rx rx;
    struct rec_record r;
    size_t len;
    uint64_t total = 0;

    randombytes_buf(key, sizeof(key));
    randombytes_buf(data, sizeof(data));
    ck_assert_int_eq(rec_tx_init_suite(&tx, su, key, header), 0);
    ck_assert_int_eq(rec_rx_init_suite(&rx, su, key, header), 0);
    ck_assert_int_eq(rec_tx_set_rekey_interval(&tx, 3), 0);
    ck_assert_int_eq(rec_rx_set_rekey_interval(&rx, 3), 0);
    for (size_t i = 1; i <= 10; i++) {
        size_t n = i == 10 ? REC_DATA_MAX : i * 100;

        ck_assert_int_eq(rec_tx_data(&tx, data, n, frame, sizeof(frame), &len), 0);
        ck_assert_uint_eq(len, REC_FRAME_HDR + 9 + n + REC_ABYTES);
        ck_assert_int_eq(rec_rx_open(&rx, frame + 2, len - 2, 0, plain, sizeof(plain), &r), 0);
        ck_assert_uint_eq(r.type, REC_DATA);
        ck_assert_uint_eq(r.value, total);
        ck_assert(memcmp(r.data, data, n) == 0);
        total += n;
    }
    ck_assert_int_eq(rec_tx_ack(&tx, 0, frame, sizeof(frame), &len), 0);
    ck_assert_int_eq(rec_rx_open(&rx, frame + 2, len - 2, 0, plain, sizeof(plain), &r), 0);
    ck_assert_uint_eq(r.type, REC_ACK);
    ck_assert_int_eq(rec_tx_final(&tx, frame, sizeof(frame), &len), 0);
    ck_assert_int_eq(rec_rx_open(&rx, frame + 2, len - 2, 0, plain, sizeof(plain), &r), 0);
    ck_assert_uint_eq(r.type, REC_FINAL);
    ck_assert_uint_eq(r.value, total);
    ck_assert_int_eq(rec_rx_eof(&rx), 0);
    rec_tx_done(&tx);
    rec_rx_done(&rx);
}
END_TEST

/* A record sealed with one suite fails to open with the other (same key and
 * header), a tampered one fails in both, and an unknown suite is refused. */
START_TEST(records_suite_mismatch)
{
    uint8_t key[REC_KEY_LEN], header[REC_HEADER_LEN], frame[REC_FRAME_MAX], plain[REC_PLAIN_MAX];
    struct rec_tx tx;
    struct rec_rx rx;
    struct rec_record r;
    size_t len;

    randombytes_buf(key, sizeof(key));
    for (int s = 0; s < 2; s++) {
        ck_assert_int_eq(rec_tx_init_suite(&tx, suites[s], key, header), 0);
        ck_assert_int_eq(rec_tx_data(&tx, key, 32, frame, sizeof(frame), &len), 0);
        ck_assert_int_eq(rec_rx_init_suite(&rx, suites[1 - s], key, header), 0);
        ck_assert_int_eq(rec_rx_open(&rx, frame + 2, len - 2, 0, plain, sizeof(plain), &r),
                         REC_E_DECRYPT);
        rec_rx_done(&rx);
        frame[len - 1] ^= 0x80;
        ck_assert_int_eq(rec_rx_init_suite(&rx, suites[s], key, header), 0);
        ck_assert_int_eq(rec_rx_open(&rx, frame + 2, len - 2, 0, plain, sizeof(plain), &r),
                         REC_E_DECRYPT);
        ck_assert_int_eq(rec_rx_open(&rx, frame + 2, len - 2, 0, plain, sizeof(plain), &r),
                         REC_E_FAILED);
        rec_rx_done(&rx);
        rec_tx_done(&tx);
    }
    ck_assert_int_eq(rec_tx_init_suite(&tx, (enum rec_suite)2, key, header), REC_E_ARG);
    ck_assert_int_eq(rec_rx_init_suite(&rx, (enum rec_suite)2, key, header), REC_E_ARG);
}
END_TEST

static Suite *gstream_suite(void)
{
    Suite *s = suite_create("rec_gstream");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gcm_spec_vectors);
    tcase_add_test(tc, construction_matches_reference);
    tcase_add_test(tc, tamper_reorder_foreign);
    tcase_add_test(tc, limits);
    tcase_add_loop_test(tc, records_both_suites, 0, 2);
    tcase_add_test(tc, records_suite_mismatch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(gstream_suite());
}
