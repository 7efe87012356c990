/* SPDX-License-Identifier: MIT */
/*
 * fmt — how times and durations are written for people, the same in
 * linkctl and `linkagent status`. Pure (no I/O).
 */
#ifndef LR_FMT_H
#define LR_FMT_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-21 10:40:00Z" (UTC) for ms since the epoch; "-" for 0 or less. */
void fmt_time(int64_t ms, char *out, size_t cap);
/* "1d02h03m04s", "2h03m04s", "3m04s", "4s"; negative counts as 0. */
void fmt_duration(int64_t seconds, char *out, size_t cap);

#endif
