/* SPDX-License-Identifier: MIT */
/*
 * backoff — jittered exponential backoff for dialling out (docs/linkagent.md).
 *
 * Pure arithmetic: the caller supplies the randomness (so tests are exact) and
 * runs the timer. The delay doubles from min_ms up to max_ms; each returned
 * delay is drawn from [d/2, d] ("equal jitter"), so a fleet of agents that
 * lost the same relay does not come back in lockstep, and a delay is never
 * below half the nominal step. backoff_reset() after a stable session starts
 * over at min_ms. backoff_long() jumps to the cap at once (a revoked link
 * must not hot-loop).
 */
#ifndef LR_BACKOFF_H
#define LR_BACKOFF_H

#include <stdint.h>

struct backoff {
    uint32_t min_ms, max_ms;
    uint32_t step_ms; /* nominal delay of the next failure */
};

/* min_ms >= 1 and max_ms >= min_ms, else -EINVAL (b untouched). */
int backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms);
/* The delay for this failure, jittered with rnd (any 32-bit random value);
 * advances the step. */
uint32_t backoff_next(struct backoff *b, uint32_t rnd);
/* Like backoff_next, but the step goes to max_ms first. */
uint32_t backoff_long(struct backoff *b, uint32_t rnd);
/* Back to min_ms (after a session that stayed up). */
void backoff_reset(struct backoff *b);

#endif
