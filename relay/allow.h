/* SPDX-License-Identifier: MIT */
/*
 * allow — what the relay does when a link's source allowlists change while
 * it runs (docs/design.md D27): a control session or a stream leg from a
 * source the new lists do not allow is closed, as a revoke closes them. The
 * check at admission is in session.c (after AUTH) and stream.c (when a
 * ticket is presented), both through index_source_ok.
 *
 * Called by relay.c on INDEX_ALLOW_CHANGED; closes connections.
 */
#ifndef LR_RELAY_ALLOW_H
#define LR_RELAY_ALLOW_H

#include "index.h"

struct acct;

/* Closes l's sessions and streams whose source its lists no longer allow,
 * logs the change and writes one "source_not_allowed" event per session
 * closed. */
void allow_enforce(struct index_link *l, struct acct *acct);

#endif
