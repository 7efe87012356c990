/* SPDX-License-Identifier: MIT */
/*
 * session — control sessions, relay side (docs/protocol.md §4, §5): the
 * Noise_XK responder handshake with the relay key named by the preamble, the
 * AUTH check against the link index, WELCOME/ADDRS, PING/PONG keepalive and
 * dead-peer detection, OPEN → STREAM to both sides or OPEN_FAIL, CLOSE with a
 * reason, and newest-session-wins per link side.
 *
 * struct session is owned by its struct conn (c->session) and freed (wiped) by
 * session_on_close, which the connection's close path calls. Any function here
 * may close the connection; callers re-check c->state afterwards.
 */
#ifndef LR_SESSION_H
#define LR_SESSION_H

#include <stdint.h>

#include "conn.h"
#include "index.h"
#include "msg.h"

/* Starts a control session after a valid control preamble (the 8 bytes are
 * the Noise prologue's tail). Returns 0 or -ENOENT for an unknown key id,
 * -ENOMEM. */
int session_begin(struct conn *c, const uint8_t preamble[8], uint8_t key_id);
/* Consumes every whole frame in c->in (handshake or transport). */
void session_input(struct conn *c);
/* Encrypts and sends one control message. 0 or negative (connection closing). */
int session_send(struct conn *c, const struct msg *m);
/* Sends CLOSE reason/text, detaches the session from its link and closes the
 * connection once the CLOSE is written. */
void session_close_with(struct conn *c, enum msg_close_reason reason, const char *text);
/* Close-path hook: detaches from the link (PEER offline to the other side
 * unless replaced), wipes and frees c->session. */
void session_on_close(struct conn *c);
/* Sends OPEN_FAIL to the session of link side `side`, if up. */
void session_open_fail(struct index_link *l, int side, uint32_t req_id,
                       enum msg_open_fail_reason why);
/* The static key the session authenticated with (valid while c->session). */
const uint8_t *session_static_key(const struct conn *c);

#endif
