/*
 * Measures the record layer's throughput on this machine: seal and open of
 * full 16 KiB DATA records, one direction, one core. Not a test; the figure
 * goes into docs/internals/records.md.
 *
 *   <build>/tests/bench_rec [MiB]     (default 512 MiB of application data)
 *
 * Prints seal-only, open-only and seal+open rates in MB/s (10^6 bytes of
 * application data per second), best of three runs.
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

/* One run over `count` records; returns seal and open seconds. */
static int run(size_t count, int inplace, double *seal_s, double *open_s)
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
    if (rec_tx_init(&tx, key, hdr) != 0 || rec_rx_init(&rx, key, hdr) != 0)
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
        double best_seal = 1e9, best_open = 1e9, best_both = 1e9;
        for (int k = 0; k < 3; k++) {
            double s, o;
            if (run(count, inplace, &s, &o) != 0) {
                fprintf(stderr, "bench_rec: run failed\n");
                return 1;
            }
            best_seal = s < best_seal ? s : best_seal;
            best_open = o < best_open ? o : best_open;
            best_both = s + o < best_both ? s + o : best_both;
        }
        double bytes = (double)count * REC_DATA_MAX;
        printf("%zu records of %d bytes, open %s: seal %.0f MB/s, open %.0f MB/s, "
               "seal+open %.0f MB/s\n",
               count, REC_DATA_MAX, inplace ? "in place" : "to a buffer", bytes / best_seal / 1e6,
               bytes / best_open / 1e6, bytes / best_both / 1e6);
    }
    return 0;
}
