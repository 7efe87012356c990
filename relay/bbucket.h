// SPDX-License-Identifier: MIT
/*
 * bbucket — a byte bucket for bandwidth limits (docs/design.md D28): up to
 * burst bytes, refilled at rate bytes per second, taken by the bytes a read
 * moved. Sans-I/O: the caller passes the time (monotonic milliseconds) and
 * the rate on every call, so a new rate applies to a running bucket at once.
 *
 * The state is what was taken and not yet refilled (the debt), in
 * thousandths of a byte, so any rate refills exactly with no drift. A read is
 * never given more than bbucket_avail, so over any interval of t ms the bytes
 * taken are at most burst + rate * t / 1000: the bound the tests check. Bytes
 * taken beyond what was available (bbucket_take does not refuse) stay owed,
 * except when the rate changes: the debt is then capped at the new burst, so
 * a lowered rate never means a wait for bytes the old rate allowed.
 *
 * A zeroed struct bbucket is a full bucket. Used by relay/shape.c.
 */
#ifndef LR_BBUCKET_H
#define LR_BBUCKET_H

#include <stdint.h>

/* The smallest burst: one zero-copy promotion read (ZEROCOPY_PROMOTE), so a
 * limited stream still moves in splices of a useful size (D14, D28). */
#define BBUCKET_BURST_MIN (64u * 1024u)
/* The burst is a tenth of a second of the rate, at least BBUCKET_BURST_MIN. */
#define BBUCKET_BURST_DIV 10u

struct bbucket {
    uint64_t debt;    /* thousandths of a byte taken and not yet refilled */
    uint64_t last_ms; /* when last refilled */
    uint64_t rate;    /* the rate of the last call (a change caps the debt) */
};

/* The burst (bucket size in bytes) of a rate. */
uint64_t bbucket_burst(uint64_t rate);
/* Refills for the time since the last call; the whole bytes available now
 * (0..burst). */
uint64_t bbucket_avail(struct bbucket *b, uint64_t rate, uint64_t now_ms);
/* Takes n bytes (after bbucket_avail at the same time). */
void bbucket_take(struct bbucket *b, uint64_t n);
/* Milliseconds from now_ms until want bytes (at most the burst) are
 * available; 0 if they are now. Refills b. */
uint64_t bbucket_wait_ms(struct bbucket *b, uint64_t rate, uint64_t want, uint64_t now_ms);

#endif
