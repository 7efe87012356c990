/* SPDX-License-Identifier: MIT */
/*
 * poolage — how old a pool member's heartbeat counts as (docs/design.md
 * D34, D44). Time during which this relay could not read the registry is
 * not counted: nobody could write a beat then, so a member is not taken for
 * dead because the database was down. Sans-I/O, pure.
 */
#ifndef LR_POOLAGE_H
#define LR_POOLAGE_H

#include <stdint.h>

/* The registry was unreadable for this relay from `from` until `to` (wall
 * clock ms; to 0 while it still is; from 0: never). */
struct poolage_gap {
    int64_t from, to;
};

/* The age at wall clock now of a beat written at beat_ms: now − beat_ms,
 * less the part of the gap after the beat (and before now). */
int64_t poolage_age(int64_t beat_ms, int64_t now_ms, const struct poolage_gap *gap);

#endif
