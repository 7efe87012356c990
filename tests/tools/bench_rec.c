/* SPDX-License-Identifier: MIT */
/*
 * Measures the record layer's throughput on this machine: seal and open of
 * full 16 KiB DATA records, one direction, one core. Not a test; the figure
 * goes into docs/internals/records.md.
 *
 *   <build>/tests/bench_rec [MiB]     (default 512 MiB of application data)
 *
 * Prints seal-only, open-only and seal+open rates in MB/s (10^6 bytes of
 * application data per second), best of three runs, for rec (secretstream on
 * OpenSSL, common/sstream.c) and, interleaved with it in the same process, for
 * the same records through libsodium's own crypto_secretstream_xchacha20poly1305
 * the way rec.c used it before (plaintext assembled in a stack buffer, pushed,
 * wiped; pulled and decoded), and for rec on the AES-256-GCM suite
 * (common/gstream.c, D37).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rec.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t data[REC_DATA_MAX];
static uint8_t plain[REC_BODY_MAX];

#define BATCH 64 /* records sealed, then opened, per round: ~1 MiB, cache-warm */

/* The libsodium reference: one DATA record sealed as rec.c did before D11. */
static void ref_seal(crypto_secretstream_xchacha20poly1305_state *st, uint64_t offset,
                     uint8_t *frame)
{
    uint8_t p[REC_PLAIN_MAX];
    size_t blen = REC_PLAIN_MAX + REC_ABYTES;

    p[0] = REC_DATA;
    for (int i = 0; i < 8; i++)
        p[1 + i] = (uint8_t)(offset >> (56 - 8 * i));
    memcpy(p + 9, data, REC_DATA_MAX);
    frame[0] = (uint8_t)(blen >> 8);
    frame[1] = (uint8_t)blen;
    crypto_secretstream_xchacha20poly1305_push(st, frame + 2, NULL, p, sizeof(p), NULL, 0,
                                               crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    sodium_memzero(p, sizeof(p));
}

static int ref_open(crypto_secretstream_xchacha20poly1305_state *st, const uint8_t *body,
                    size_t len, uint8_t *out)
{
    struct rec_record r;
    unsigned long long mlen = 0;
    unsigned char tag = 0;

    if (crypto_secretstream_xchacha20poly1305_pull(st, out, &mlen, &tag, body, len, NULL, 0) != 0)
        return -1;
    if (rec_plain_decode(out, (size_t)mlen, &r) != 0 || r.len != REC_DATA_MAX)
        return -1;
    return 0;
}

/* The reference run: libsodium's secretstream directly. */
static int run_ref(size_t count, int inplace, double *seal_s, double *open_s)
{
    static uint8_t frames[BATCH][REC_FRAME_MAX];
    uint8_t key[REC_KEY_LEN], hdr[REC_HEADER_LEN];
    crypto_secretstream_xchacha20poly1305_state tx, rx;
    size_t flen = REC_FRAME_MAX;
    double seal = 0, open = 0;
    int rc = 0;

    randombytes_buf(key, sizeof(key));
    crypto_secretstream_xchacha20poly1305_init_push(&tx, hdr, key);
    if (crypto_secretstream_xchacha20poly1305_init_pull(&rx, hdr, key) != 0)
        return -1;
    for (size_t done = 0; done < count && rc == 0; done += BATCH) {
        double t0 = now(), t1, t2;
        for (size_t i = 0; i < BATCH; i++)
            ref_seal(&tx, (done + i) * REC_DATA_MAX, frames[i]);
        t1 = now();
        for (size_t i = 0; i < BATCH && rc == 0; i++)
            rc = ref_open(&rx, frames[i] + 2, flen - 2, inplace ? frames[i] + 3 : plain);
        t2 = now();
        seal += t1 - t0;
        open += t2 - t1;
    }
    sodium_memzero(&tx, sizeof(tx));
    sodium_memzero(&rx, sizeof(rx));
    *seal_s = seal;
    *open_s = open;
    return rc;
}

/* One run over `count` records; returns seal and open seconds. */
static int run(size_t count, int inplace, enum rec_suite suite, double *seal_s, double *open_s)
{
    static uint8_t frames[BATCH][REC_FRAME_MAX];
    uint8_t key[REC_KEY_LEN], hdr[REC_HEADER_LEN];
    struct rec_tx tx;
    struct rec_rx rx;
    struct rec_record r;
    size_t flen = 0;
    double seal = 0, open = 0;
    int rc = 0;

    randombytes_buf(key, sizeof(key));
    if (rec_tx_init_suite(&tx, suite, key, hdr) != 0 ||
        rec_rx_init_suite(&rx, suite, key, hdr) != 0)
        return -1;
    for (size_t done = 0; done < count && rc == 0; done += BATCH) {
        double t0 = now(), t1, t2;
        for (size_t i = 0; i < BATCH && rc == 0; i++)
            rc = rec_tx_data(&tx, data, REC_DATA_MAX, frames[i], REC_FRAME_MAX, &flen);
        t1 = now();
        for (size_t i = 0; i < BATCH && rc == 0; i++) {
            uint8_t *out = inplace ? frames[i] + 3 : plain;
            rc = rec_rx_open(&rx, frames[i] + 2, flen - 2, 0, out,
                             inplace ? flen - 3 : sizeof(plain), &r);
            if (rc == 0 && r.len != REC_DATA_MAX)
                rc = -1;
        }
        t2 = now();
        seal += t1 - t0;
        open += t2 - t1;
    }
    rec_tx_done(&tx);
    rec_rx_done(&rx);
    *seal_s = seal;
    *open_s = open;
    return rc;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
    size_t count = mib * 1024 * 1024 / REC_DATA_MAX / BATCH * BATCH;

    if (sodium_init() < 0 || count == 0)
        return 1;
    randombytes_buf(data, sizeof(data));
    for (int inplace = 0; inplace <= 1; inplace++) {
        /* [0]: libsodium reference, [1]: rec (ChaCha), [2]: rec (AES); runs alternate */
        double best_seal[3] = {1e9, 1e9, 1e9}, best_open[3] = {1e9, 1e9, 1e9};
        double best_both[3] = {1e9, 1e9, 1e9};
        for (int k = 0; k < 9; k++) {
            int which = k % 3;
            double s, o;
            int rc = which == 0   ? run_ref(count, inplace, &s, &o)
                     : which == 1 ? run(count, inplace, REC_SUITE_CHACHA20_POLY1305, &s, &o)
                                  : run(count, inplace, REC_SUITE_AES256_GCM, &s, &o);
            if (rc != 0) {
                fprintf(stderr, "bench_rec: run failed\n");
                return 1;
            }
            best_seal[which] = s < best_seal[which] ? s : best_seal[which];
            best_open[which] = o < best_open[which] ? o : best_open[which];
            best_both[which] = s + o < best_both[which] ? s + o : best_both[which];
        }
        double bytes = (double)count * REC_DATA_MAX;
        for (int which = 0; which < 3; which++)
            printf("%zu records of %d bytes, open %s, %-28s seal %.0f MB/s, open %.0f MB/s, "
                   "seal+open %.0f MB/s\n",
                   count, REC_DATA_MAX, inplace ? "in place   " : "to a buffer",
                   which == 2   ? "rec (OpenSSL AES-256-GCM):"
                   : which == 1 ? "rec (OpenSSL ChaCha/Poly):"
                                : "libsodium secretstream:",
                   bytes / best_seal[which] / 1e6, bytes / best_open[which] / 1e6,
                   bytes / best_both[which] / 1e6);
    }
    return 0;
}
