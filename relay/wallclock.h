/* SPDX-License-Identifier: MIT */
/*
 * wallclock — the wall-clock time the relay stamps on what outlives the
 * process (accounting rows, a session's "online since"). Durations and
 * timers use the loop's monotonic uv_now() instead. A leaf: no state.
 *
 * Tests move it: when the environment names a file in WALLCLOCK_TEST_ENV,
 * every call adds the signed number of milliseconds the file holds (read
 * each time, so a test changes it while the relay runs: a byte quota's
 * period rollover, D29). Unset in production; a missing or unreadable file
 * adds 0.
 */
#ifndef LR_WALLCLOCK_H
#define LR_WALLCLOCK_H

#include <stdint.h>

#define WALLCLOCK_TEST_ENV "LINKRELAY_TEST_CLOCK_OFFSET_FILE"

/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t wallclock_ms(void);

#endif
