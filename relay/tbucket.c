/* SPDX-License-Identifier: MIT */
#include "tbucket.h"

static void tbucket_refill(struct tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)burst * TBUCKET_UNIT;

    if (now_ms > b->last_ms) {
        uint64_t dt = now_ms - b->last_ms;
        /* rate units arrive per millisecond; compare before multiplying so a
         * long idle time cannot overflow dt * rate. */
        if (rate != 0 && dt >= (b->debt + rate - 1) / rate)
            b->debt = 0;
        else if (rate != 0)
            b->debt -= dt * rate;
        b->last_ms = now_ms;
    }
    /* A burst lowered by a reload: an empty bucket is empty, not in debt. */
    if (b->debt > cap)
        b->debt = cap;
}

bool tbucket_take(struct tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)burst * TBUCKET_UNIT;

    tbucket_refill(b, rate, burst, now_ms);
    if (cap - b->debt < TBUCKET_UNIT)
        return false;
    b->debt += TBUCKET_UNIT;
    return true;
}

void tbucket_give(struct tbucket *b)
{
    b->debt = b->debt > TBUCKET_UNIT ? b->debt - TBUCKET_UNIT : 0;
}

bool tbucket_full(const struct tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    struct tbucket c = *b;

    tbucket_refill(&c, rate, burst, now_ms);
    return c.debt == 0;
}
