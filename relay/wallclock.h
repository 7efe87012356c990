/* SPDX-License-Identifier: MIT */
/*
 * wallclock — the wall-clock time the relay stamps on what outlives the
 * process (accounting rows, a session's "online since"). Durations and
 * timers use the loop's monotonic uv_now() instead. A leaf: no state.
 */
#ifndef LR_WALLCLOCK_H
#define LR_WALLCLOCK_H

#include <stdint.h>

/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t wallclock_ms(void);

#endif
