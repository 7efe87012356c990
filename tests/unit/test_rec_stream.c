/* SPDX-License-Identifier: MIT */
/*
 * Check suite for common/rec.c at the stream level (protocol.md §7.2): whole
 * record streams played through a receiver as the agent does (header, frames,
 * EOF). The per-rule tests are in test_rec.c.
 *
 * Randomised tamper trials: a random record stream is generated, tampered
 * with once (bit flip, drop, duplicate, swap, truncate) and fed to a receiver,
 * which must end in an error or a truncation report, never in a clean end. The base seed is
 * printed; set LR_REC_SEED to replay a run. The seed fixes every tamper choice and the keys; the
 * secretstream headers are random (libsodium draws them), which does not change whether a tamper is
 * detected.
 */
#include "rec.h"
#include "../fuzz/rec_fuzz.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lrcheck.h"

/* ---- helpers ------------------------------------------------------------------ */

/* A growable byte string: a sender's wire output, or the bytes a receiver got. */
struct wire {
    uint8_t *p;
    size_t len, cap;
    size_t starts[64]; /* start offset of each record frame (tamper trials) */
    size_t nrec;
};

static void wire_put(struct wire *w, const uint8_t *d, size_t n)
{
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 1024;
        while (cap < w->len + n)
            cap *= 2;
        w->p = realloc(w->p, cap);
        ck_assert_ptr_nonnull(w->p);
        w->cap = cap;
    }
    if (n > 0)
        memcpy(w->p + w->len, d, n);
    w->len += n;
}

static void wire_free(struct wire *w)
{
    free(w->p);
    memset(w, 0, sizeof(*w));
}

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng_next(s);
}

enum outcome {
    OUT_FINAL,     /* clean end by FINAL */
    OUT_RESET,     /* clean end by RESET */
    OUT_ERROR,     /* a record or frame was rejected */
    OUT_TRUNCATED, /* EOF before FINAL or RESET */
};

static const char *outcome_name(enum outcome o)
{
    static const char *const names[] = {"final", "reset", "error", "truncated"};
    return names[o];
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/*
 * Plays one received direction as an agent would: the raw 24-byte header, then
 * frames (len 1..REC_BODY_MAX) until the bytes end, which is EOF. Data bytes
 * are appended to *data; *err gets the rec error of an OUT_ERROR (0 for a
 * framing error). `sent` bounds the peer's ACKs.
 */
static enum outcome feed(const uint8_t key[REC_KEY_LEN], const uint8_t *s, size_t n, uint32_t rekey,
                         uint64_t sent, struct wire *data, int *err)
{
    static uint8_t plain[REC_BODY_MAX];
    struct rec_rx rx;
    struct rec_record r;
    size_t pos = REC_HEADER_LEN;
    enum outcome o;
    int rc;

    *err = 0;
    if (n < REC_HEADER_LEN)
        return OUT_TRUNCATED;
    ck_assert_int_eq(rec_rx_init(&rx, key, s), 0);
    ck_assert_int_eq(rec_rx_set_rekey_interval(&rx, rekey), 0);
    for (;;) {
        size_t blen;
        if (pos == n || n - pos < 2 || n - pos - 2 < get_u16(s + pos)) {
            /* EOF, possibly inside a frame: bytes after the end are junk. */
            if (rx.state != REC_RX_OPEN && pos != n) {
                o = OUT_ERROR;
                break;
            }
            rc = rec_rx_eof(&rx);
            if (rc == 0) {
                o = rx.state == REC_RX_FINAL ? OUT_FINAL : OUT_RESET;
            } else {
                ck_assert_int_eq(rc, REC_E_TRUNCATED);
                o = OUT_TRUNCATED;
            }
            break;
        }
        blen = get_u16(s + pos);
        if (blen == 0 || blen > REC_BODY_MAX) {
            o = OUT_ERROR;
            break;
        }
        rc = rec_rx_open(&rx, s + pos + 2, blen, sent, plain, sizeof(plain), &r);
        if (rc != 0) {
            *err = rc;
            o = OUT_ERROR;
            break;
        }
        if (r.type == REC_DATA)
            wire_put(data, r.data, r.len);
        pos += 2 + blen;
    }
    rec_rx_done(&rx);
    return o;
}

/* Seals a frame with a rec_tx call and appends it to w, recording its start. */
#define SEAL(w, call)                                                                              \
    do {                                                                                           \
        uint8_t frame_[REC_FRAME_MAX];                                                             \
        size_t flen_ = 0;                                                                          \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == 0, "%s: %s", #call, rec_strerror(rc_));                               \
        ck_assert_uint_lt((w)->nrec, 64);                                                          \
        (w)->starts[(w)->nrec++] = (w)->len;                                                       \
        wire_put((w), frame_, flen_);                                                              \
    } while (0)
#define OUT frame_, sizeof(frame_), &flen_

START_TEST(test_fuzz_seeds)
{
    static const struct {
        const char *name;
        enum outcome want;
        size_t data_len;
    } seeds[] = {
        {"frames-basic", OUT_FINAL, 5},
        {"frames-max", OUT_FINAL, REC_DATA_MAX},
        {"frames-reset-inplace", OUT_RESET, 0},
        {"frames-truncated", OUT_TRUNCATED, 1},
    };
    const char *src = getenv("LR_SOURCE_DIR");
    static uint8_t buf[3 * REC_FRAME_MAX];

    ck_assert_msg(src != NULL, "LR_SOURCE_DIR not set (run through ctest)");
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char path[4096];
        struct wire w = {0}, got = {0};
        FILE *f;
        size_t n;
        int err;

        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/rec/%s", src, seeds[i].name);
        f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        ck_assert_uint_ge(n, 1);
        wire_put(&w, rec_fuzz_header, REC_HEADER_LEN);
        wire_put(&w, buf + 1, n - 1);
        ck_assert_int_eq(
            feed(rec_fuzz_key, w.p, w.len, REC_REKEY_DEFAULT, REC_FUZZ_SENT, &got, &err),
            seeds[i].want);
        ck_assert_uint_eq(got.len, seeds[i].data_len);
        wire_free(&w);
        wire_free(&got);
    }
}
END_TEST

/* ---- randomised tamper trials ------------------------------------------------------ */

enum tamper {
    TAMPER_NONE,
    TAMPER_FLIP,
    TAMPER_DROP,
    TAMPER_DUP,
    TAMPER_SWAP,
    TAMPER_TRUNCATE,
};

#define TRIALS 3000

static uint64_t base_seed(void)
{
    static uint64_t seed;
    static int done;
    if (!done) {
        const char *e = getenv("LR_REC_SEED");
        seed = e != NULL ? strtoull(e, NULL, 0) : 0x6c696e6b72656c61ULL;
        printf("test_rec_stream: tamper seed 0x%016" PRIx64 " (set LR_REC_SEED to replay)\n", seed);
        fflush(stdout);
        done = 1;
    }
    return seed;
}

/* Generates a random stream: header, 1..30 records, then FINAL (or RESET). */
static void gen_stream(uint64_t *rng, const uint8_t key[REC_KEY_LEN], uint32_t rekey,
                       struct wire *w, struct wire *data)
{
    static uint8_t chunk[REC_DATA_MAX];
    uint8_t hdr[REC_HEADER_LEN];
    struct rec_tx tx;
    uint64_t acked = 0;
    size_t n = 1 + rng_below(rng, 30);

    ck_assert_int_eq(rec_tx_init(&tx, key, hdr), 0);
    ck_assert_int_eq(rec_tx_set_rekey_interval(&tx, rekey), 0);
    wire_put(w, hdr, sizeof(hdr));
    for (size_t i = 0; i < n; i++) {
        if (rng_below(rng, 4) == 0) {
            acked += rng_below(rng, 1000);
            SEAL(w, rec_tx_ack(&tx, acked, OUT));
        } else {
            size_t len = rng_below(rng, 50) == 0 ? 1 + rng_below(rng, REC_DATA_MAX)
                                                 : 1 + rng_below(rng, 200);
            rng_fill(rng, chunk, len);
            wire_put(data, chunk, len);
            SEAL(w, rec_tx_data(&tx, chunk, len, OUT));
        }
    }
    if (rng_below(rng, 10) == 0) {
        const uint8_t text[] = "reset";
        SEAL(w, rec_tx_reset(&tx, 1 + (uint8_t)rng_below(rng, 4), text, 5, OUT));
    } else {
        SEAL(w, rec_tx_final(&tx, OUT));
    }
    rec_tx_done(&tx);
}

/* Returns a tampered copy of w in *t (frame starts are not kept). */
static void tamper(uint64_t *rng, enum tamper kind, const struct wire *w, struct wire *t)
{
    size_t n = w->nrec;
    size_t i = rng_below(rng, n), j;
#define REC_END(k) ((k) + 1 < n ? w->starts[(k) + 1] : w->len)

    switch (kind) {
    case TAMPER_NONE:
        wire_put(t, w->p, w->len);
        break;
    case TAMPER_FLIP: {
        size_t bit = rng_below(rng, w->len * 8);
        wire_put(t, w->p, w->len);
        t->p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        break;
    }
    case TAMPER_DROP:
        wire_put(t, w->p, w->starts[i]);
        wire_put(t, w->p + REC_END(i), w->len - REC_END(i));
        break;
    case TAMPER_DUP:
        /* the copy goes right after the original or anywhere later */
        j = i + rng_below(rng, n - i); /* insert after record j */
        wire_put(t, w->p, REC_END(j));
        wire_put(t, w->p + w->starts[i], REC_END(i) - w->starts[i]);
        wire_put(t, w->p + REC_END(j), w->len - REC_END(j));
        break;
    case TAMPER_SWAP:
        ck_assert_uint_ge(n, 2); /* gen_stream makes at least two records */
        i = rng_below(rng, n - 1);
        j = i + 1 + rng_below(rng, n - 1 - i);
        wire_put(t, w->p, w->starts[i]);
        wire_put(t, w->p + w->starts[j], REC_END(j) - w->starts[j]);
        wire_put(t, w->p + REC_END(i), w->starts[j] - REC_END(i));
        wire_put(t, w->p + w->starts[i], REC_END(i) - w->starts[i]);
        wire_put(t, w->p + REC_END(j), w->len - REC_END(j));
        break;
    case TAMPER_TRUNCATE:
        /* half the time exactly the closing record is lost */
        wire_put(t, w->p, rng_below(rng, 2) ? w->starts[n - 1] : rng_below(rng, w->len));
        break;
    }
#undef REC_END
}

static void run_trials(enum tamper kind, int trials)
{
    static const char *const names[] = {"none", "flip", "drop", "dup", "swap", "truncate"};
    uint64_t seed = base_seed() ^ ((uint64_t)kind << 56);
    int counts[4] = {0};

    for (int k = 0; k < trials; k++) {
        uint64_t tseed = seed + (uint64_t)k, rng = tseed;
        uint8_t key[REC_KEY_LEN];
        uint32_t rekey = 1 + (uint32_t)rng_below(&rng, 6);
        struct wire w = {0}, t = {0}, sent_data = {0}, got = {0};
        enum outcome o;
        int err;

        rng_fill(&rng, key, sizeof(key));
        gen_stream(&rng, key, rekey, &w, &sent_data);
        tamper(&rng, kind, &w, &t);
        o = feed(key, t.p, t.len, rekey, UINT64_MAX, &got, &err);
        counts[o]++;
        if (kind == TAMPER_NONE) {
            ck_assert_msg(o == OUT_FINAL || o == OUT_RESET,
                          "untampered stream not clean: %s (%s), trial seed 0x%016" PRIx64,
                          outcome_name(o), rec_strerror(err), tseed);
            ck_assert_uint_eq(got.len, sent_data.len);
            if (got.len > 0)
                ck_assert_mem_eq(got.p, sent_data.p, got.len);
        } else {
            ck_assert_msg(o == OUT_ERROR || o == OUT_TRUNCATED,
                          "tamper '%s' undetected: clean %s (data %s), trial seed 0x%016" PRIx64,
                          names[kind], outcome_name(o),
                          got.len == sent_data.len &&
                                  (got.len == 0 || memcmp(got.p, sent_data.p, got.len) == 0)
                              ? "same"
                              : "DIFFERENT",
                          tseed);
        }
        wire_free(&w);
        wire_free(&t);
        wire_free(&sent_data);
        wire_free(&got);
    }
    printf("test_rec_stream: %d '%s' trials: final %d, reset %d, error %d, truncated %d\n", trials,
           names[kind], counts[OUT_FINAL], counts[OUT_RESET], counts[OUT_ERROR],
           counts[OUT_TRUNCATED]);
    fflush(stdout);
}

START_TEST(test_tamper_none)
{
    run_trials(TAMPER_NONE, TRIALS);
}
END_TEST

START_TEST(test_tamper_flip)
{
    run_trials(TAMPER_FLIP, TRIALS);
}
END_TEST

START_TEST(test_tamper_drop)
{
    run_trials(TAMPER_DROP, TRIALS);
}
END_TEST

START_TEST(test_tamper_dup)
{
    run_trials(TAMPER_DUP, TRIALS);
}
END_TEST

START_TEST(test_tamper_swap)
{
    run_trials(TAMPER_SWAP, TRIALS);
}
END_TEST

START_TEST(test_tamper_truncate)
{
    run_trials(TAMPER_TRUNCATE, TRIALS);
}
END_TEST

static Suite *rec_stream_suite(void)
{
    Suite *s = suite_create("rec_stream");
    TCase *tc = tcase_create("stream");

    tcase_add_test(tc, test_fuzz_seeds);
    tcase_add_test(tc, test_tamper_none);
    tcase_add_test(tc, test_tamper_flip);
    tcase_add_test(tc, test_tamper_drop);
    tcase_add_test(tc, test_tamper_dup);
    tcase_add_test(tc, test_tamper_swap);
    tcase_add_test(tc, test_tamper_truncate);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    base_seed();
    return lrcheck_run(rec_stream_suite());
}
