/* SPDX-License-Identifier: MIT */
/*
 * live — see live.h.
 */
#include "live.h"

static uint32_t secs(uint32_t ms)
{
    uint32_t s = ms / 1000u;

    if (s < 1)
        s = 1;
    return s > LIVE_KA_MAX_S ? LIVE_KA_MAX_S : s;
}

void live_keepalive(uint32_t keepalive_ms, uint32_t dead_ms, struct live_keepalive *out)
{
    uint32_t idle = secs(keepalive_ms), dead = dead_ms / 1000u;
    uint32_t rest = dead > idle ? dead - idle : 1;
    uint32_t cnt = rest < LIVE_KA_PROBES ? rest : LIVE_KA_PROBES;
    uint32_t intvl = rest / cnt;

    out->idle_s = idle;
    out->intvl_s = intvl > LIVE_KA_MAX_S ? LIVE_KA_MAX_S : intvl;
    out->cnt = cnt;
}

uint32_t live_period_ms(uint32_t dead_ms)
{
    uint32_t p = dead_ms / 4u;

    if (p < LIVE_PERIOD_MIN_MS)
        return LIVE_PERIOD_MIN_MS;
    return p > LIVE_PERIOD_MAX_MS ? LIVE_PERIOD_MAX_MS : p;
}

bool live_ack_dead(struct live_ack *a, uint64_t now_ms, uint32_t unacked, uint32_t ack_age_ms,
                   uint32_t dead_ms)
{
    uint64_t stuck;

    if (unacked == 0) {
        a->outstanding = false;
        return false;
    }
    if (!a->outstanding) {
        a->outstanding = true;
        a->since_ms = now_ms;
    }
    stuck = now_ms - a->since_ms;
    if (ack_age_ms < stuck)
        stuck = ack_age_ms;
    return stuck >= dead_ms;
}
