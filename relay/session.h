/* SPDX-License-Identifier: MIT */
/*
 * session — control sessions, relay side (docs/protocol.md §4, §5): the
 * Noise_XK responder handshake with the relay key named by the preamble, the
 * AUTH check against the link index, WELCOME/ADDRS, PING/PONG keepalive and
 * dead-peer detection, OPEN → STREAM to both sides or OPEN_FAIL, CLOSE with a
 * reason, and newest-session-wins per link side.
 *
 * struct session is owned by its struct conn (c->owner) and freed (wiped) by
 * the close hook of session_conn_ops, which the connection's close path calls.
 * OPEN asks the stream module for a stream (session → stream, never the
 * other way: a stream that expires tells the session through the callback
 * given to stream_open). Any function here may close the connection; callers
 * re-check c->state afterwards.
 */
#ifndef LR_RELAY_SESSION_H
#define LR_RELAY_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "index.h"
#include "msg.h"
#include "pool.h"
#include "relaycfg.h"
#include "relaykey.h"
#include "selfcheck.h"

struct stream_ctx;
struct sync;

/* What control sessions share: owned by struct relay, which fills it in
 * before the first accept. */
struct session_ctx {
    const struct relaycfg *cfg; /* updated in place on SIGHUP */
    const struct relaykey *key;
    struct index *index;
    struct admit *admit; /* limits_hit counters */
    struct acct *acct;
    struct stats *stats;
    struct sync *sync;          /* where a switch to a next key is reported (D21) */
    struct pool *pool;          /* NULL unless a pool member: AUTH may redirect (D34) */
    struct stream_ctx *streams; /* where an OPEN's stream is made */
    bool stopping;              /* the relay is closing every session */
    /* The relay's own advertised-address checks (D35); may be NULL. */
    struct selfcheck *selfcheck;
    /* RELAY_KEY as encoded for the current next key (session_announce_key);
     * relay_key_len 0 until first needed. */
    uint8_t relay_key_msg[2 + 32];
    size_t relay_key_len;
    /* The relay drains (D25): a session that comes up is told GOING_AWAY
     * right after WELCOME. */
    bool draining;
    uint64_t drain_deadline_ms; /* loop time the drain ends at */
};

/* The owner table of a control connection (struct conn_ctx.control, with a
 * struct session_ctx as its arg): the handshake from the preamble on, then
 * the session; its close hook detaches the session from its link (PEER
 * offline to the other side unless replaced) and wipes it. */
extern const struct conn_ops session_conn_ops;

/* Sends CLOSE reason/text, detaches the session from its link and closes the
 * connection once the CLOSE is written (CONN_END_FLUSH). */
void session_close_with(struct conn *c, enum msg_close_reason reason, const char *text);
/* Tells the agent of an UP session the relay's next key (RELAY_KEY), if the
 * relay has one and the agent set AUTH_FLAG_RELAY_KEY; nothing otherwise.
 * Sent after WELCOME and by the relay when its key file gains a next key
 * (design.md D21). May close the connection. */
void session_announce_key(struct conn *c);
/* Sends GOING_AWAY (seconds: until the relay stops, text: why) to an UP
 * session; the session stays up until the agent leaves or the relay stops.
 * May close the connection (a session that does not read). */
void session_going_away(struct conn *c, uint16_t seconds, const char *text);
/* The static key the session authenticated with (valid while c is open). */
const uint8_t *session_static_key(const struct conn *c);

#endif
