/* SPDX-License-Identifier: MIT */
/*
 * backoff — see backoff.h.
 */
#include "backoff.h"

#include <errno.h>

int backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms)
{
    if (min_ms == 0 || max_ms < min_ms)
        return -EINVAL;
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->step_ms = min_ms;
    return 0;
}

uint32_t backoff_next(struct backoff *b, uint32_t rnd)
{
    uint32_t d = b->step_ms, half = d / 2;
    uint32_t delay = half + (uint32_t)(rnd % ((uint64_t)(d - half) + 1));

    b->step_ms = d > b->max_ms / 2 ? b->max_ms : d * 2;
    return delay;
}

uint32_t backoff_long(struct backoff *b, uint32_t rnd)
{
    b->step_ms = b->max_ms;
    return backoff_next(b, rnd);
}

void backoff_reset(struct backoff *b)
{
    b->step_ms = b->min_ms;
}
