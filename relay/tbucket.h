/* SPDX-License-Identifier: MIT */
/*
 * tbucket — a token bucket in whole integers (docs/protocol.md §9): up to
 * burst tokens, refilled at rate tokens per second, one token per event.
 *
 * Sans-I/O: the caller passes the time (monotonic milliseconds) and the
 * current rate and burst on every call, so a configuration reload applies to
 * existing buckets at once. The state is what was taken and not yet refilled
 * (a full bucket stays full when burst changes; the debt is capped at the
 * burst, so a lowered burst never means a longer wait). It is kept in
 * thousandths of a token, so rates that do not divide 1000 ms refill
 * exactly (no floating-point drift) and 1/rate s after a bucket ran empty it
 * holds exactly one token again.
 *
 * A zeroed struct tbucket is a full bucket (calloc, memset or = {0}): owners
 * embed it and need no init call. Used by relay/admit.c (new connections per
 * address) and relay/session.c (OPENs per link).
 */
#ifndef LR_TBUCKET_H
#define LR_TBUCKET_H

#include <stdbool.h>
#include <stdint.h>

#define TBUCKET_UNIT 1000u /* thousandths of a token */

struct tbucket {
    uint64_t debt;    /* units taken and not yet refilled (0 = full) */
    uint64_t last_ms; /* when the bucket was last refilled */
};

/* Refills for the time since the last call, then takes one token if there is
 * one: true if taken, false (nothing changed but the refill) if not. A clock
 * going backwards adds nothing. rate 0 never refills; burst 0 never gives. */
bool tbucket_take(struct tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);

/* Gives back one token taken earlier (a refund): the debt drops by one token,
 * never below zero, so a bucket never holds more than burst. */
void tbucket_give(struct tbucket *b);

/* True if the bucket would be full at now_ms (it can then be dropped and
 * replaced by a zeroed one without changing anything). */
bool tbucket_full(const struct tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);

#endif
