/* SPDX-License-Identifier: MIT */
/*
 * noise_bench — measures what docs/internals/noise.md quotes: one X25519
 * (crypto_scalarmult), one crypto_scalarmult_base, and full XK and KK
 * handshakes (both sides in one process, including transport key split).
 * Usage: noise_bench [ITERATIONS]  (default 2000). Prints microseconds per op,
 * the best of 5 rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "frame.h"
#include "noise.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static uint8_t is[32], rs[32], ipub[32], rpub[32];

static int handshake(enum noise_pattern p)
{
    static uint8_t m[256], out[256];
    struct noise_hs hi, hr;
    struct noise_cs a, b;
    size_t n, pn;
    const uint8_t prologue[] = FRAME_CONTROL_PROLOGUE;

    if (noise_hs_init(&hi, p, true, prologue, sizeof(prologue) - 1, is, rpub) != 0 ||
        noise_hs_init(&hr, p, false, prologue, sizeof(prologue) - 1, rs,
                      p == NOISE_KK ? ipub : NULL) != 0) {
        return -1;
    }
    while (!noise_hs_done(&hi) || !noise_hs_done(&hr)) {
        struct noise_hs *w = noise_hs_my_turn(&hi) ? &hi : &hr, *r = w == &hi ? &hr : &hi;
        if (noise_hs_write_message(w, NULL, 0, m, sizeof(m), &n) != 0 ||
            noise_hs_read_message(r, m, n, out, sizeof(out), &pn) != 0) {
            return -1;
        }
    }
    if (noise_hs_split(&hi, &a, &b) != 0 || noise_hs_split(&hr, &a, &b) != 0) {
        return -1;
    }
    noise_hs_wipe(&hi);
    noise_hs_wipe(&hr);
    noise_cs_wipe(&a);
    noise_cs_wipe(&b);
    return 0;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    uint8_t q[32];
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    volatile uint8_t sink = 0;

    if (iters <= 0 || sodium_init() < 0) {
        fprintf(stderr, "usage: noise_bench [ITERATIONS]\n");
        return 2;
    }
    randombytes_buf(is, 32);
    randombytes_buf(rs, 32);
    if (crypto_scalarmult_base(ipub, is) != 0 || crypto_scalarmult_base(rpub, rs) != 0) {
        return 1;
    }
    for (int round = 0; round < 5; round++) {
        double t = now_us();
        for (long i = 0; i < iters; i++) {
            if (crypto_scalarmult(q, is, rpub) != 0) {
                return 1;
            }
            sink ^= q[0];
        }
        double d = (now_us() - t) / (double)iters;
        best[0] = d < best[0] ? d : best[0];
        t = now_us();
        for (long i = 0; i < iters; i++) {
            if (crypto_scalarmult_base(q, is) != 0) {
                return 1;
            }
            sink ^= q[0];
        }
        d = (now_us() - t) / (double)iters;
        best[1] = d < best[1] ? d : best[1];
        for (int k = 0; k < 2; k++) {
            t = now_us();
            for (long i = 0; i < iters / 4 + 1; i++) {
                if (handshake(k == 0 ? NOISE_XK : NOISE_KK) != 0) {
                    fprintf(stderr, "noise_bench: handshake failed\n");
                    return 1;
                }
            }
            d = (now_us() - t) / (double)(iters / 4 + 1);
            best[2 + k] = d < best[2 + k] ? d : best[2 + k];
        }
    }
    printf("libsodium %s, best of 5 rounds, %ld iterations\n", sodium_version_string(), iters);
    printf("crypto_scalarmult (X25519 DH)      %8.1f us\n", best[0]);
    printf("crypto_scalarmult_base (keygen)    %8.1f us\n", best[1]);
    printf("XK handshake, both sides + split   %8.1f us\n", best[2]);
    printf("KK handshake, both sides + split   %8.1f us\n", best[3]);
    (void)sink;
    return 0;
}
