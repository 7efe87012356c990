/* SPDX-License-Identifier: MIT */
/*
 * advert — the relay's own addresses as agents are told them: ADDRS after
 * WELCOME carries the admin-set advertise list and nothing else (never a
 * listen or wildcard address; docs/design.md D15, D34); and WELCOME, which
 * comes before it. Pure.
 */
#ifndef LR_ADVERT_H
#define LR_ADVERT_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "msg.h"
#include "relaycfg.h"

/* Fills m with ADDRS of cfg's advertise list, the texts in buf (which must
 * outlive the send); returns the number of addresses (0: send nothing). */
size_t advert_addrs_msg(const struct relaycfg *cfg, struct msg *m,
                        char buf[RELAYCFG_MAX_ADDRS][ADDR_TEXT_SIZE]);

/* Fills m with WELCOME: cfg's keepalive and dead_after (at least 1 s), its
 * max_streams_per_link (at most 65535), whether the peer is online, and
 * version (which must outlive the send). */
void advert_welcome_msg(const struct relaycfg *cfg, bool peer_online, const char *version,
                        struct msg *m);

#endif
