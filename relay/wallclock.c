/* SPDX-License-Identifier: MIT */
#include "wallclock.h"

#include <time.h>

uint64_t wallclock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
