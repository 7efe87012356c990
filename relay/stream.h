/* SPDX-License-Identifier: MIT */
/*
 * splice — streams (docs/protocol.md §6): the pair of one-time tickets handed
 * out for an OPEN, the pairing of the two stream legs whichever arrives first,
 * and the byte splice between them with bounded per-direction buffering,
 * half-close forwarding, reset propagation, and the half-close and
 * write-stall timeouts. See docs/internals/relay.md.
 *
 * A struct stream is owned by its link's stream list from stream_open until it
 * finishes (both directions closed, a reset, expiry, revocation); it then
 * detaches its legs (closing them), writes its accounting row and frees itself
 * in its timer's close callback. Legs (struct conn) point at their stream
 * while attached; the connection close path calls stream_leg_closed.
 */
#ifndef LR_STREAM_H
#define LR_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "index.h"
#include "store.h"
#include "ticket.h"

struct stream;

/* Creates a pending stream of link l opened by side opener (req_id of its
 * OPEN) with one fresh ticket per side. 0, -ENOSPC (ticket table), -ENOMEM. */
int stream_open(struct relay *r, struct index_link *l, int opener, uint32_t req_id,
                struct stream **out);
uint64_t stream_wire_id(const struct stream *s);
/* Copies the ticket of side (for the STREAM message). */
void stream_ticket_copy(const struct stream *s, int side, uint8_t out[TICKET_LEN]);
/* A stream leg in CONN_TICKET has at least TICKET_LEN bytes in c->in:
 * present the ticket. Pairs, waits, or fails the connection (§8). */
void stream_present(struct conn *c);
/* The waiting leg read EOF before pairing (forwarded once paired). */
void stream_waiting_eof(struct conn *c);
/* Close-path hook of a leg: the stream resets the other leg and finishes. */
void stream_leg_closed(struct conn *c);
/* libuv read callbacks of a spliced leg (conn.c's callbacks forward to them
 * once c->state is CONN_SPLICED; backpressure restarts reading with them). */
void stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void stream_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);
/* Sets a stream leg's socket options on fd (TCP_NODELAY, keepalive after
 * keepalive, TCP_USER_TIMEOUT = write_stall_timeout). Applied to the listening
 * sockets, whose accepted sockets inherit them. 0 or -errno. */
int stream_leg_sockopts(uv_os_fd_t fd, const struct relaycfg_limits *lim);
/* Resets both legs and finishes the stream with cause (revocation, shutdown). */
void stream_abort(struct stream *s, enum store_cause cause, const char *why);
/* Aborts every stream of link l. */
void stream_abort_link(struct index_link *l, enum store_cause cause, const char *why);

#endif
