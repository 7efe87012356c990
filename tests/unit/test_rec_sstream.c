/* SPDX-License-Identifier: MIT */
/*
 * Check suite for common/sstream.c, the secretstream construction on OpenSSL
 * that the record layer uses (docs/design.md D11). Differential against
 * libsodium's own crypto_secretstream_xchacha20poly1305 in both directions:
 * the same key and header must give the same bytes and the same state after
 * every message, tags (REKEY and FINAL included), explicit rekeys and a
 * counter wrap; each side must open what the other sealed. Plus tampering,
 * length limits, in-place opening and failing allocations.
 *
 * LR_SSTREAM_SEED=<n> replays a run of the random trials (the seed is printed).
 */
#include "sstream.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrcheck.h"
#include "rec.h"

typedef crypto_secretstream_xchacha20poly1305_state sodium_state;

_Static_assert(SSTREAM_TAG_MESSAGE == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, "");
_Static_assert(SSTREAM_TAG_PUSH == crypto_secretstream_xchacha20poly1305_TAG_PUSH, "");
_Static_assert(SSTREAM_TAG_REKEY == crypto_secretstream_xchacha20poly1305_TAG_REKEY, "");
_Static_assert(SSTREAM_TAG_FINAL == crypto_secretstream_xchacha20poly1305_TAG_FINAL, "");

/* ---- a seeded generator for the trials ---------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

static void rng_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng_next();
}

static uint64_t seed_from_env(void)
{
    const char *e = getenv("LR_SSTREAM_SEED");
    uint64_t seed = e != NULL ? strtoull(e, NULL, 10) : 0x5eed5eedull;

    fprintf(stderr, "test_rec_sstream: seed %" PRIu64 " (LR_SSTREAM_SEED replays)\n", seed);
    return seed;
}

/* Boundary lengths, ascending: block (16, 64) and record edges, then the
 * lengths only sstream takes (up to SSTREAM_MSG_MAX). */
static const size_t edge_lens[] = {0,
                                   1,
                                   2,
                                   15,
                                   16,
                                   17,
                                   31,
                                   32,
                                   47,
                                   48,
                                   63,
                                   64,
                                   65,
                                   127,
                                   128,
                                   129,
                                   16383,
                                   16384,
                                   16385,
                                   REC_PLAIN_MAX - 1,
                                   REC_PLAIN_MAX,
                                   65536,
                                   SSTREAM_MSG_MAX - 1,
                                   SSTREAM_MSG_MAX};
#define N_EDGE_LENS (sizeof(edge_lens) / sizeof(edge_lens[0]))

/* A message length: a boundary up to REC_PLAIN_MAX half of the time, else
 * uniform in 0..REC_PLAIN_MAX. */
static size_t pick_len(void)
{
    size_t n = 0;

    while (n < N_EDGE_LENS && edge_lens[n] <= REC_PLAIN_MAX)
        n++;
    if (rng_below(2) == 0)
        return edge_lens[rng_below(n)];
    return rng_below(REC_PLAIN_MAX + 1);
}

/* MESSAGE, PUSH, REKEY, FINAL, or (1 in 8) any byte: REKEY is a bit, e.g. 0x82 rekeys too. */
static uint8_t pick_tag(void)
{
    if (rng_below(8) == 0)
        return (uint8_t)rng_next();
    return (uint8_t)rng_below(4);
}

/* ---- the four states of one trial --------------------------------------------- */

struct quad {
    struct sstream our_tx, our_rx;
    sodium_state lib_tx, lib_rx;
};

static void assert_same_state(const struct sstream *ours, const sodium_state *lib)
{
    ck_assert_msg(memcmp(ours->k, lib->k, sizeof(lib->k)) == 0, "key differs from libsodium");
    ck_assert_msg(memcmp(ours->nonce, lib->nonce, sizeof(lib->nonce)) == 0,
                  "counter/inonce differ from libsodium");
}

/* All four states from one key and header (init_pull computes what init_push does). */
static void quad_init(struct quad *q, const uint8_t key[32], const uint8_t hdr[24])
{
    ck_assert_int_eq(sstream_init_pull(&q->our_tx, key, hdr), 0);
    ck_assert_int_eq(sstream_init_pull(&q->our_rx, key, hdr), 0);
    ck_assert_int_eq(crypto_secretstream_xchacha20poly1305_init_pull(&q->lib_tx, hdr, key), 0);
    ck_assert_int_eq(crypto_secretstream_xchacha20poly1305_init_pull(&q->lib_rx, hdr, key), 0);
    assert_same_state(&q->our_tx, &q->lib_tx);
}

static void quad_done(struct quad *q)
{
    sstream_done(&q->our_tx);
    sstream_done(&q->our_rx);
}

static void quad_rekey(struct quad *q)
{
    ck_assert_int_eq(sstream_rekey(&q->our_tx), 0);
    ck_assert_int_eq(sstream_rekey(&q->our_rx), 0);
    crypto_secretstream_xchacha20poly1305_rekey(&q->lib_tx);
    crypto_secretstream_xchacha20poly1305_rekey(&q->lib_rx);
    assert_same_state(&q->our_tx, &q->lib_tx);
    assert_same_state(&q->our_rx, &q->lib_rx);
}

static uint8_t msg[SSTREAM_MSG_MAX];
static uint8_t ours[SSTREAM_MSG_MAX + SSTREAM_ABYTES];
static uint8_t theirs[SSTREAM_MSG_MAX + SSTREAM_ABYTES];
static uint8_t out[SSTREAM_MSG_MAX + SSTREAM_ABYTES];

/*
 * One message through all four states: ours and libsodium's seal it (ours
 * split at `split`), the bytes must be equal; libsodium opens ours, ours opens
 * libsodium's (in place or not); every state must match its twin.
 */
static void quad_message(struct quad *q, size_t len, size_t split, uint8_t tag, int inplace)
{
    unsigned long long clen = 0, mlen = 0;
    unsigned char lib_tag = 0xee;
    uint8_t our_tag = 0xee;
    uint8_t *m;

    ck_assert_int_eq(sstream_push(&q->our_tx, msg, split, msg + split, len - split, tag, ours), 0);
    ck_assert_int_eq(crypto_secretstream_xchacha20poly1305_push(&q->lib_tx, theirs, &clen, msg, len,
                                                                NULL, 0, tag),
                     0);
    ck_assert_uint_eq(clen, len + SSTREAM_ABYTES);
    ck_assert_msg(memcmp(ours, theirs, len + SSTREAM_ABYTES) == 0,
                  "ciphertext differs from libsodium (len %zu, split %zu, tag %u)", len, split,
                  tag);
    assert_same_state(&q->our_tx, &q->lib_tx);

    /* libsodium opens ours */
    ck_assert_int_eq(crypto_secretstream_xchacha20poly1305_pull(
                         &q->lib_rx, out, &mlen, &lib_tag, ours, len + SSTREAM_ABYTES, NULL, 0),
                     0);
    ck_assert_uint_eq(mlen, len);
    ck_assert_uint_eq(lib_tag, tag);
    ck_assert(len == 0 || memcmp(out, msg, len) == 0);

    /* ours opens libsodium's */
    m = inplace ? theirs + 1 : out;
    ck_assert_int_eq(sstream_pull(&q->our_rx, theirs, len + SSTREAM_ABYTES, m, &our_tag), 0);
    ck_assert_uint_eq(our_tag, tag);
    ck_assert(len == 0 || memcmp(m, msg, len) == 0);
    assert_same_state(&q->our_rx, &q->lib_rx);
}

/* ---- the tests ------------------------------------------------------------------ */

/* Thousands of random streams: lengths, split points, tags, explicit rekeys. */
START_TEST(differential_random)
{
    uint64_t seed = seed_from_env();
    unsigned rekeys = 0, finals = 0, tag_rekeys = 0, messages = 0;

    for (int t = 0; t < 3000; t++) {
        uint8_t key[32], hdr[24];
        struct quad q;
        size_t n;

        rng_state = seed + (uint64_t)t * 0x100000001ull;
        rng_fill(key, sizeof(key));
        rng_fill(hdr, sizeof(hdr));
        quad_init(&q, key, hdr);
        n = 1 + rng_below(6);
        for (size_t i = 0; i < n; i++) {
            size_t len = pick_len();
            size_t split = rng_below(4) == 0 ? 0 : rng_below(len + 1);
            uint8_t tag = pick_tag();

            rng_fill(msg, len);
            quad_message(&q, len, split, tag, (int)rng_below(2));
            messages++;
            tag_rekeys += (tag & SSTREAM_TAG_REKEY) != 0;
            finals += tag == SSTREAM_TAG_FINAL;
            if (rng_below(8) == 0) {
                quad_rekey(&q);
                rekeys++;
            }
        }
        quad_done(&q);
    }
    fprintf(stderr,
            "differential: %u messages, %u with a REKEY bit (%u FINAL), %u explicit rekeys\n",
            messages, tag_rekeys, finals, rekeys);
    ck_assert_uint_gt(finals, 100);
    ck_assert_uint_gt(rekeys, 100);
}
END_TEST

/* Every boundary length, each split, one stream. */
START_TEST(differential_boundaries)
{
    uint8_t key[32], hdr[24];
    struct quad q;

    randombytes_buf(key, sizeof(key));
    randombytes_buf(hdr, sizeof(hdr));
    quad_init(&q, key, hdr);
    for (size_t i = 0; i < N_EDGE_LENS; i++) {
        size_t len = edge_lens[i], splits[] = {0, len / 2, len};
        for (int s = 0; s < 3; s++) {
            randombytes_buf(msg, len);
            quad_message(&q, len, splits[s], SSTREAM_TAG_MESSAGE, s == 1);
        }
    }
    quad_done(&q);
}
END_TEST

/*
 * The 32-bit counter wraps after 2^32 - 1 messages, out of reach of a test
 * (and of the record layer, which rekeys every 65536 records), so both
 * implementations' public state is set just before the wrap. libsodium
 * rekeys when the counter comes back to 0; so must we.
 */
START_TEST(differential_counter_wrap)
{
    uint8_t key[32], hdr[24], k_before[32];
    struct quad q;

    randombytes_buf(key, sizeof(key));
    randombytes_buf(hdr, sizeof(hdr));
    quad_init(&q, key, hdr);
    quad_message(&q, 100, 50, SSTREAM_TAG_MESSAGE, 0);
    static const uint8_t near_wrap[4] = {0xfe, 0xff, 0xff, 0xff};
    memcpy(q.our_tx.nonce, near_wrap, 4);
    memcpy(q.our_rx.nonce, near_wrap, 4);
    memcpy(q.lib_tx.nonce, near_wrap, 4);
    memcpy(q.lib_rx.nonce, near_wrap, 4);
    quad_message(&q, 1000, 10, SSTREAM_TAG_MESSAGE, 0); /* counter 0xfffffffe -> 0xffffffff */
    ck_assert_uint_eq(q.our_tx.nonce[0], 0xff);
    memcpy(k_before, q.our_tx.k, 32);
    quad_message(&q, 16384, 9, SSTREAM_TAG_MESSAGE, 1); /* wraps to 0: rekey, counter 1 */
    ck_assert_uint_eq(q.our_tx.nonce[0], 1);
    ck_assert(memcmp(k_before, q.our_tx.k, 32) != 0);
    quad_message(&q, 17, 0, SSTREAM_TAG_FINAL, 0);
    quad_done(&q);
}
END_TEST

/* Our init_push's random header is one libsodium can open from, and back. */
START_TEST(init_push_interop)
{
    uint8_t key[32], hdr[24], lhdr[24], c[64 + SSTREAM_ABYTES], m[64];
    unsigned long long mlen = 0, clen = 0;
    unsigned char tag = 0;
    uint8_t otag = 0;
    struct sstream tx, rx;
    sodium_state ltx, lrx;

    randombytes_buf(key, sizeof(key));
    randombytes_buf(msg, 64);
    ck_assert_int_eq(sstream_init_push(&tx, key, hdr), 0);
    ck_assert_int_eq(crypto_secretstream_xchacha20poly1305_init_pull(&lrx, hdr, key), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sstream_push(&tx, msg, 64, NULL, 0, (uint8_t)i, c), 0);
        ck_assert_int_eq(
            crypto_secretstream_xchacha20poly1305_pull(&lrx, m, &mlen, &tag, c, sizeof(c), NULL, 0),
            0);
        ck_assert_uint_eq(tag, (unsigned)i);
        ck_assert_mem_eq(m, msg, 64);
    }
    crypto_secretstream_xchacha20poly1305_init_push(&ltx, lhdr, key);
    ck_assert_int_eq(sstream_init_pull(&rx, key, lhdr), 0);
    crypto_secretstream_xchacha20poly1305_push(&ltx, c, &clen, msg, 64, NULL, 0, 3);
    ck_assert_int_eq(sstream_pull(&rx, c, (size_t)clen, m, &otag), 0);
    ck_assert_uint_eq(otag, 3);
    ck_assert_mem_eq(m, msg, 64);
    sstream_done(&tx);
    sstream_done(&rx);
}
END_TEST

/* Any flipped bit fails authentication, leaves the state and the output alone. */
START_TEST(tamper_every_bit)
{
    enum { LEN = 100, CLEN = LEN + SSTREAM_ABYTES };
    uint8_t key[32], hdr[24], c[CLEN], bad[CLEN], m[LEN], tag = 0;
    struct sstream tx, rx;

    randombytes_buf(key, sizeof(key));
    randombytes_buf(msg, LEN);
    ck_assert_int_eq(sstream_init_push(&tx, key, hdr), 0);
    ck_assert_int_eq(sstream_init_pull(&rx, key, hdr), 0);
    ck_assert_int_eq(sstream_push(&tx, msg, LEN, NULL, 0, SSTREAM_TAG_MESSAGE, c), 0);
    for (size_t bit = 0; bit < CLEN * 8; bit++) {
        uint8_t k[32], nonce[12];
        memcpy(bad, c, CLEN);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memcpy(k, rx.k, 32);
        memcpy(nonce, rx.nonce, 12);
        memset(m, 0xaa, sizeof(m));
        ck_assert_int_eq(sstream_pull(&rx, bad, CLEN, m, &tag), -EBADMSG);
        ck_assert_mem_eq(k, rx.k, 32);
        ck_assert_mem_eq(nonce, rx.nonce, 12);
        for (size_t i = 0; i < LEN; i++)
            ck_assert_uint_eq(m[i], 0xaa);
    }
    /* In place, too: the body is untouched on failure. */
    memcpy(bad, c, CLEN);
    bad[CLEN - 1] ^= 1;
    memcpy(out, bad, CLEN);
    ck_assert_int_eq(sstream_pull(&rx, out, CLEN, out + 1, &tag), -EBADMSG);
    ck_assert_mem_eq(out, bad, CLEN);
    /* The state did not move: the genuine message still opens. */
    ck_assert_int_eq(sstream_pull(&rx, c, CLEN, m, &tag), 0);
    ck_assert_mem_eq(m, msg, LEN);
    /* A wrong-position message (replay) fails. */
    ck_assert_int_eq(sstream_pull(&rx, c, CLEN, m, &tag), -EBADMSG);
    sstream_done(&tx);
    sstream_done(&rx);
}
END_TEST

/* Lengths at the limits: ciphertext 16 (one short), 17 (empty), message max and one over. */
START_TEST(length_limits)
{
    uint8_t key[32], hdr[24], tag = 0;
    struct sstream tx, rx;

    randombytes_buf(key, sizeof(key));
    ck_assert_int_eq(sstream_init_push(&tx, key, hdr), 0);
    ck_assert_int_eq(sstream_init_pull(&rx, key, hdr), 0);
    ck_assert_int_eq(sstream_push(&tx, NULL, 0, NULL, 0, SSTREAM_TAG_PUSH, ours), 0);
    ck_assert_int_eq(sstream_pull(&rx, ours, SSTREAM_ABYTES - 1, out, &tag), -EINVAL);
    ck_assert_int_eq(sstream_pull(&rx, ours, SSTREAM_ABYTES, out, &tag), 0);
    ck_assert_uint_eq(tag, SSTREAM_TAG_PUSH);
    /* one over the maximum, either part */
    ck_assert_int_eq(sstream_push(&tx, msg, SSTREAM_MSG_MAX, msg, 1, 0, ours), -EINVAL);
    ck_assert_int_eq(sstream_push(&tx, msg, SSTREAM_MSG_MAX + 1, NULL, 0, 0, ours), -EINVAL);
    ck_assert_int_eq(sstream_push(&tx, NULL, 1, NULL, 0, 0, ours), -EINVAL);
    ck_assert_int_eq(sstream_push(&tx, msg, SSTREAM_MSG_MAX - 5, msg, 5, 0, ours), 0);
    ck_assert_int_eq(sstream_pull(&rx, ours, SSTREAM_MSG_MAX + SSTREAM_ABYTES + 1, out, &tag),
                     -EINVAL);
    ck_assert_int_eq(sstream_pull(&rx, ours, SSTREAM_MSG_MAX + SSTREAM_ABYTES, out, &tag), 0);
    ck_assert_mem_eq(out, msg, SSTREAM_MSG_MAX);
    /* done is idempotent; a done stream refuses to work */
    sstream_done(&tx);
    sstream_done(&tx);
    ck_assert_int_eq(sstream_push(&tx, msg, 1, NULL, 0, 0, ours), -EINVAL);
    ck_assert_int_eq(sstream_rekey(&tx), -EINVAL);
    sstream_done(&rx);
    ck_assert_int_eq(sstream_pull(&rx, ours, SSTREAM_ABYTES, out, &tag), -EINVAL);
    sstream_done(NULL);
}
END_TEST

/* ---- failing allocations --------------------------------------------------------- */

/* OpenSSL's allocator, replaced in main() before libcrypto allocates anything. */
static long fail_countdown = -1; /* -1: never fail; n: the n-th allocation from now fails */
static long live_allocs;
static long alloc_calls;

static int should_fail(void)
{
    alloc_calls++;
    if (fail_countdown < 0)
        return 0;
    return fail_countdown-- == 0;
}

static void *t_malloc(size_t n, const char *file, int line)
{
    void *p;
    (void)file;
    (void)line;
    if (should_fail())
        return NULL;
    p = malloc(n);
    live_allocs += p != NULL;
    return p;
}

static void *t_realloc(void *old, size_t n, const char *file, int line)
{
    void *p;
    (void)file;
    (void)line;
    if (should_fail())
        return NULL;
    p = realloc(old, n);
    if (old == NULL && p != NULL)
        live_allocs++;
    return p;
}

static void t_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    live_allocs -= p != NULL;
    free(p);
}

/*
 * One init per allocation a successful init makes, failing that allocation:
 * each either succeeds (libcrypto survives some failures, e.g. in its name
 * cache) or returns its NOMEM error holding nothing. Returns the number that
 * failed. which: 0 sstream push, 1 sstream pull, 2 rec_tx, 3 rec_rx.
 */
static int fail_each_allocation(int which, long calls, long *max_growth)
{
    uint8_t key[32] = {1}, hdr[24] = {2};
    struct sstream s;
    struct rec_tx tx;
    struct rec_rx rx;
    int failures = 0, rc = 0;

    for (long n = 0; n < calls; n++) {
        long live = live_allocs;
        fail_countdown = n;
        switch (which) {
        case 0:
            rc = sstream_init_push(&s, key, hdr);
            break;
        case 1:
            rc = sstream_init_pull(&s, key, hdr);
            break;
        case 2:
            rc = rec_tx_init(&tx, key, hdr);
            break;
        default:
            rc = rec_rx_init(&rx, key, hdr);
            break;
        }
        fail_countdown = -1;
        if (rc != 0) {
            failures++;
            if (which < 2) {
                ck_assert_int_eq(rc, -ENOMEM);
                ck_assert_ptr_null(s.cipher);
                ck_assert_ptr_null(s.mac);
            } else if (which == 2) {
                uint8_t frame[REC_CTRL_FRAME_MAX];
                size_t flen;
                ck_assert_int_eq(rc, REC_E_NOMEM);
                ck_assert_ptr_null(tx.st.cipher);
                ck_assert_int_eq(rec_tx_ack(&tx, 0, frame, sizeof(frame), &flen), REC_E_ENDED);
            } else {
                ck_assert_int_eq(rc, REC_E_NOMEM);
                ck_assert_ptr_null(rx.st.cipher);
                ck_assert_int_eq(rx.state, REC_RX_FAILED);
            }
        }
        if (which < 2)
            sstream_done(&s);
        else if (which == 2)
            rec_tx_done(&tx);
        else
            rec_rx_done(&rx);
        if (live_allocs - live > *max_growth)
            *max_growth = live_allocs - live;
    }
    return failures;
}

/*
 * Every failing allocation in an init is -ENOMEM / REC_E_NOMEM and leaks
 * nothing. (Run under ASan, LeakSanitizer checks the same; here the count of
 * live libcrypto allocations must not grow once libcrypto's own per-thread
 * error state exists, which the first round creates.)
 */
/* A libcrypto failure mid-message, made by taking the cipher out of the
 * context (EVP_EncryptInit_ex2 with no cipher then fails), and its repair. */
static void break_cipher(struct sstream *s)
{
    ck_assert_int_eq(EVP_CIPHER_CTX_reset(s->cipher), 1);
}

static void mend_cipher(struct sstream *s)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(EVP_EncryptInit_ex2(s->cipher, c, NULL, NULL, NULL), 1);
    EVP_CIPHER_free(c);
}

static void assert_unchanged(const struct sstream *s, const struct sstream *before)
{
    ck_assert_mem_eq(s->k, before->k, sizeof(s->k));
    ck_assert_mem_eq(s->nonce, before->nonce, sizeof(s->nonce));
}

/* push, pull and rekey fail with -ENOMEM, leave the state as it was and wipe
 * what they wrote; once the context is whole the streams go on in step with
 * libsodium's. Through rec: REC_E_NOMEM, nothing counted, the rx direction
 * failed (not a decryption error). */
START_TEST(libcrypto_failures)
{
    enum { LEN = 64, CLEN = LEN + SSTREAM_ABYTES };
    uint8_t key[32], hdr[24], lhdr[24], c[CLEN], m[LEN], tag = 0;
    unsigned long long mlen = 0, clen = 0;
    unsigned char ltag = 0;
    struct sstream tx, rx, before;
    sodium_state ltx, lrx;

    randombytes_buf(key, sizeof(key));
    randombytes_buf(msg, LEN);
    ck_assert_int_eq(sstream_init_push(&tx, key, hdr), 0);
    ck_assert_int_eq(crypto_secretstream_xchacha20poly1305_init_pull(&lrx, hdr, key), 0);
    before = tx;
    break_cipher(&tx);
    memset(c, 0xaa, sizeof(c));
    ck_assert_int_eq(sstream_push(&tx, msg, LEN, NULL, 0, 0, c), -ENOMEM);
    assert_unchanged(&tx, &before);
    ck_assert(sodium_is_zero(c, sizeof(c)));
    ck_assert_int_eq(sstream_rekey(&tx), -ENOMEM);
    assert_unchanged(&tx, &before);
    mend_cipher(&tx);
    ck_assert_int_eq(sstream_push(&tx, msg, LEN, NULL, 0, 0, c), 0);
    ck_assert_int_eq(
        crypto_secretstream_xchacha20poly1305_pull(&lrx, m, &mlen, &ltag, c, CLEN, NULL, 0), 0);
    ck_assert_mem_eq(m, msg, LEN);

    crypto_secretstream_xchacha20poly1305_init_push(&ltx, lhdr, key);
    ck_assert_int_eq(sstream_init_pull(&rx, key, lhdr), 0);
    crypto_secretstream_xchacha20poly1305_push(&ltx, c, &clen, msg, LEN, NULL, 0, 0);
    before = rx;
    break_cipher(&rx);
    memset(m, 0x55, sizeof(m));
    ck_assert_int_eq(sstream_pull(&rx, c, (size_t)clen, m, &tag), -ENOMEM);
    assert_unchanged(&rx, &before);
    ck_assert(sodium_is_zero(m, sizeof(m)));
    mend_cipher(&rx);
    ck_assert_int_eq(sstream_pull(&rx, c, (size_t)clen, m, &tag), 0);
    ck_assert_mem_eq(m, msg, LEN);
    sstream_done(&tx);
    sstream_done(&rx);
}
END_TEST

START_TEST(rec_libcrypto_failures)
{
    uint8_t key[32], hdr[REC_HEADER_LEN], frame[REC_FRAME_MAX], plain[REC_FRAME_MAX];
    struct rec_tx tx;
    struct rec_rx rx;
    struct rec_record r;
    size_t n = 0;

    randombytes_buf(key, sizeof(key));
    ck_assert_int_eq(rec_tx_init(&tx, key, hdr), 0);
    ck_assert_int_eq(rec_rx_init(&rx, key, hdr), 0);
    break_cipher(&tx.st);
    ck_assert_int_eq(rec_tx_data(&tx, msg, 100, frame, sizeof(frame), &n), REC_E_NOMEM);
    ck_assert_uint_eq(rec_tx_offset(&tx), 0);
    ck_assert_uint_eq(tx.records, 0);
    mend_cipher(&tx.st);
    ck_assert_int_eq(rec_tx_data(&tx, msg, 100, frame, sizeof(frame), &n), 0);
    ck_assert_uint_eq(rec_tx_offset(&tx), 100);
    break_cipher(&rx.st);
    ck_assert_int_eq(
        rec_rx_open(&rx, frame + REC_FRAME_HDR, n - REC_FRAME_HDR, 0, plain, sizeof(plain), &r),
        REC_E_NOMEM);
    ck_assert_uint_eq(rx.state, REC_RX_FAILED);
    ck_assert_uint_eq(rx.received, 0);
    rec_tx_done(&tx);
    rec_rx_done(&rx);
}
END_TEST

START_TEST(init_allocation_failures)
{
    uint8_t key[32] = {1}, hdr[24];
    struct sstream s;
    long calls, growth = 0;
    int failures[4];

    /* Warm up: the first fetch fills libcrypto's global caches. */
    ck_assert_int_eq(sstream_init_push(&s, key, hdr), 0);
    sstream_done(&s);
    alloc_calls = 0;
    ck_assert_int_eq(sstream_init_pull(&s, key, hdr), 0);
    sstream_done(&s);
    calls = alloc_calls;
    ck_assert_int_ge(calls, 2);
    for (int which = 0; which < 4; which++)
        (void)fail_each_allocation(which, calls, &growth);
    growth = 0;
    for (int which = 0; which < 4; which++)
        failures[which] = fail_each_allocation(which, calls, &growth);
    fprintf(stderr, "allocation failures: of %ld allocations, %d / %d / %d / %d failed the init\n",
            calls, failures[0], failures[1], failures[2], failures[3]);
    for (int which = 0; which < 4; which++)
        ck_assert_int_ge(failures[which], 2); /* at least the two contexts */
    ck_assert_int_eq(growth, 0);
}
END_TEST

static Suite *sstream_suite(void)
{
    Suite *s = suite_create("rec_sstream");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, differential_random);
    tcase_add_test(tc, differential_boundaries);
    tcase_add_test(tc, differential_counter_wrap);
    tcase_add_test(tc, init_push_interop);
    tcase_add_test(tc, tamper_every_bit);
    tcase_add_test(tc, length_limits);
    tcase_add_test(tc, init_allocation_failures);
    tcase_add_test(tc, libcrypto_failures);
    tcase_add_test(tc, rec_libcrypto_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free) != 1)
        return EXIT_FAILURE;
    return lrcheck_run(sstream_suite());
}
