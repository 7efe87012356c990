/* SPDX-License-Identifier: MIT */
/*
 * streamack — STREAM_ACK for the agent's streams (docs/protocol.md §5, §7.3,
 * docs/design.md D43): the ACK of a resumable stream that goes through the
 * relay on the two control sessions, so that it never waits behind DATA the
 * peer is not reading (the stall of D32).
 *
 * streamack_out is a stream's pump callback (pump_ops.oob_ack): it sends the
 * ACK the session says is due, naming the current leg's stream id, on the
 * owner's control session if that is up (one that is not up loses it: the
 * next one covers it, and the in-band ACK still goes). streamack_in is the
 * owner's (link.c) for a STREAM_ACK from the relay: the running stream of
 * that leg takes it; one that does not verify is counted and logged.
 */
#ifndef LR_AGENT_STREAMACK_H
#define LR_AGENT_STREAMACK_H

#include <stdint.h>

#include "e2e.h"
#include "msg.h"
#include "agent/stream.h"

/* The counters of stream_env.acks (linkagent_stream_acks_total). */
enum streamack_count {
    STREAMACK_SENT = 0,    /* sent on the control session */
    STREAMACK_TAKEN = 1,   /* from the peer, verified and applied */
    STREAMACK_REFUSED = 2, /* from the peer, wrong mac or offset: ignored */
    STREAMACK_UNKNOWN = 3, /* naming no running stream (it just ended or moved) */
};

/* pump_ops.oob_ack; owner is the struct stream. */
void streamack_out(void *owner, uint64_t offset, const uint8_t mac[E2E_ACK_MAC_LEN]);
/* A STREAM_ACK from the relay for one of own's streams. */
void streamack_in(struct stream_owner *own, const struct msg_stream_ack *a);

#endif
