/* SPDX-License-Identifier: MIT */
/*
 * history — the last hour of the relay's figures for the status page
 * (docs/design.md D22 "Status page"): one sample every HISTORY_EVERY_MS
 * (10 s) in a fixed ring of HISTORY_LEN (360) entries, the oldest replaced;
 * 360 * 48 bytes, allocated once with struct relay. Counters are kept as
 * totals (bytes, streams opened), the page turns neighbours into rates.
 *
 * Fed by the relay's once-a-second tick, read by statusjson.c; on the loop.
 */
#ifndef LR_HISTORY_H
#define LR_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HISTORY_LEN      360
#define HISTORY_EVERY_MS 10000

struct history_sample {
    int64_t t_ms;           /* wall clock, ms since the epoch */
    uint64_t bytes[2];      /* a→b, b→a since relay start */
    uint64_t streams_open;  /* at that moment */
    uint64_t streams_total; /* opened since relay start */
    uint64_t agents;        /* control sessions up */
};

struct history {
    struct history_sample s[HISTORY_LEN];
    size_t head;      /* where the next sample goes */
    size_t n;         /* samples held, at most HISTORY_LEN */
    uint64_t next_ms; /* loop time the next sample is due */
};

/* Records x when a sample is due at loop time now_ms (the first call always
 * records); true when it did. */
bool history_tick(struct history *h, uint64_t now_ms, const struct history_sample *x);
/* {"every_s":10,"t_ms":[...],"bytes_a_to_b":[...],...}, oldest first; NULL
 * when out of memory. */
json_t *history_json(const struct history *h);

#endif
