/* SPDX-License-Identifier: MIT */
/*
 * keyswitch — a control session that authenticated with its side's next key
 * (D21): its agent has switched, so the overlap can end. The sync worker
 * promotes the key; the index change that follows says so (relay.c).
 */
#ifndef LR_KEYSWITCH_H
#define LR_KEYSWITCH_H

#include <stdint.h>

#include "conn.h"
#include "index.h"
#include "sync.h"

/* pub: the static key c authenticated with for link l side `side`; nothing
 * happens unless it is that side's next key. sync may be NULL (logged). */
void keyswitch_check(struct sync *sync, const struct conn *c, const struct index_link *l, int side,
                     const uint8_t pub[32]);

#endif
