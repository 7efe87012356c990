// SPDX-License-Identifier: MIT
#include "bbucket.h"

#define BBUCKET_UNIT 1000u /* thousandths of a byte; rate * 1 ms in these */

uint64_t bbucket_burst(uint64_t rate)
{
    uint64_t b = rate / BBUCKET_BURST_DIV;

    return b < BBUCKET_BURST_MIN ? BBUCKET_BURST_MIN : b;
}

static void bbucket_refill(struct bbucket *b, uint64_t rate, uint64_t now_ms)
{
    uint64_t cap = bbucket_burst(rate) * BBUCKET_UNIT;

    if (rate != b->rate) {
        b->rate = rate;
        if (b->debt > cap)
            b->debt = cap;
    }
    if (now_ms > b->last_ms) {
        uint64_t dt = now_ms - b->last_ms;
        /* rate thousandths arrive per millisecond; compare before
         * multiplying so a long idle time cannot overflow dt * rate. */
        if (rate != 0 && dt >= (b->debt + rate - 1) / rate)
            b->debt = 0;
        else
            b->debt -= dt * rate;
        b->last_ms = now_ms;
    }
}

uint64_t bbucket_avail(struct bbucket *b, uint64_t rate, uint64_t now_ms)
{
    uint64_t cap = bbucket_burst(rate) * BBUCKET_UNIT;

    bbucket_refill(b, rate, now_ms);
    return b->debt >= cap ? 0 : (cap - b->debt) / BBUCKET_UNIT;
}

void bbucket_take(struct bbucket *b, uint64_t n)
{
    b->debt += n * BBUCKET_UNIT;
}

uint64_t bbucket_wait_ms(struct bbucket *b, uint64_t rate, uint64_t want, uint64_t now_ms)
{
    uint64_t cap = bbucket_burst(rate) * BBUCKET_UNIT, need;

    bbucket_refill(b, rate, now_ms);
    if (want * BBUCKET_UNIT > cap)
        want = cap / BBUCKET_UNIT;
    /* Available: cap - debt; wanted: want units; short by debt + want - cap. */
    if (b->debt + want * BBUCKET_UNIT <= cap || rate == 0)
        return 0;
    need = b->debt + want * BBUCKET_UNIT - cap;
    return (need + rate - 1) / rate;
}
