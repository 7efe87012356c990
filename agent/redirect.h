/* SPDX-License-Identifier: MIT */
/*
 * redirect — what a link does with REDIRECT (docs/protocol.md §5, design.md
 * D34): the relay it reached is not the link's home in a pool, and names the
 * home's advertised addresses. The link dials them next, in order, at once;
 * its configured (and learned) list stays as it was and is where it goes back
 * to when the home's addresses fail or, later, the home does.
 *
 * Loop bound: at most REDIRECT_MAX_IN_ROW redirects are followed without the
 * link coming online in between; the next one is not followed (logged) and
 * the link backs off on its list as after any failure, then follows again.
 * Pure: no I/O, the link runs the timers.
 */
#ifndef LR_AGENT_REDIRECT_H
#define LR_AGENT_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "agentcfg.h"
#include "msg.h"

#define REDIRECT_MAX_IN_ROW 4

struct redirect {
    struct addr_spec addr[AGENTCFG_MAX_ADDRS]; /* the home's, from the last REDIRECT */
    size_t n, idx;                             /* idx: the next to dial; n == 0: none (the list) */
    unsigned in_row;                           /* followed since the link was last online */
    bool taken;                                /* the session now ending was redirected */
    uint64_t followed;                         /* REDIRECTs followed (the metrics) */
    uint64_t refused; /* REDIRECTs not followed: the loop bound, or no usable address */
};

/* A REDIRECT came on the link's session (which ends next). Returns true if
 * it is followed (rd->addr holds the usable addresses, the next dial is the
 * first of them); false when the loop bound or an unusable list refuses it.
 * name is the link's, for the log line. */
bool redirect_take(struct redirect *rd, const struct msg_redirect *m, const char *name);
/* The address the next dial goes to: a redirect target, or NULL (the
 * link's own list). */
const struct addr_spec *redirect_next(const struct redirect *rd);
/* The session went down (was_online: it had come online). True when the
 * next dial is to go at once (a redirect was just taken); otherwise the
 * link backs off, and after a failed dial to a redirect target the next of
 * its addresses is tried, then the list. */
bool redirect_down(struct redirect *rd, bool was_online);
/* The link came online: the loop count starts over. */
void redirect_online(struct redirect *rd);

#endif
