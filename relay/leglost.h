/* SPDX-License-Identifier: MIT */
/*
 * leglost — LEG_LOST (docs/protocol.md §7.3, docs/design.md D24): an agent
 * lost its leg of a resumable stream whose path may look alive here (dead on
 * its side only). The relay ends that stream of the sender's link, which
 * resets the peer's leg; the peer suspends and the RESUME pairs.
 *
 * Called by session.c for a LEG_LOST from a session that set AUTH flags
 * bit 0 (session.c refuses it from any other); calls stream.c's public
 * functions and nothing that calls it back. Closes connections.
 */
#ifndef LR_RELAY_LEGLOST_H
#define LR_RELAY_LEGLOST_H

#include "index.h"
#include "msg.h"
#include "relay/session.h"

/* Ends the stream of link l whose id is m->stream_id and whose ticket of
 * side is m->ticket (cause reset, logged), and counts it in
 * sx->stats->leg_lost[1]; a LEG_LOST that names no such stream is counted in
 * sx->stats->leg_lost[0] and logged at debug. True if a stream was ended. */
bool leglost_end(const struct session_ctx *sx, struct index_link *l, int side,
                 const struct msg_leg_lost *m);

#endif
