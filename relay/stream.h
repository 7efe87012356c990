/* SPDX-License-Identifier: MIT */
/*
 * stream — streams (docs/protocol.md §6): the pair of one-time tickets handed
 * out for an OPEN, the pairing of the two stream legs whichever arrives first,
 * and the byte splice between them with bounded per-direction buffering,
 * half-close forwarding, reset propagation, and the half-close and
 * write-stall timeouts. Bulk streams move to zerocopy.c. See
 * docs/internals/relay.md.
 *
 * A struct stream is owned by its link's stream list from stream_open until it
 * finishes (both directions closed, a reset, expiry, revocation); it then
 * detaches its legs (closing them), writes its accounting row and frees itself
 * in its timer's close callback. A leg (struct conn) is the stream module's
 * from its preamble on (stream_conn_ops); once it presented its ticket its
 * c->owner is the stream's state for that leg, until the stream or the
 * connection closes (the connection's close path calls the close hook, and
 * the stream resets the other leg and finishes). The stream calls no session
 * function: an expiry is told through the callback given to stream_open.
 */
#ifndef LR_RELAY_STREAM_H
#define LR_RELAY_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "freelist.h"
#include "holdcap.h"
#include "index.h"
#include "shape.h"
#include "store.h"
#include "ticket.h"
#include "zerocopy.h"

/* Size of the read buffer every spliced leg reads into (stream_ctx.rbuf); a
 * read is also capped by splice_buffer. */
#define STREAM_RBUF_SIZE (256u * 1024u)

/* What streams share: owned by struct relay, which fills it in before the
 * first accept. */
struct stream_ctx {
    uv_loop_t *loop;
    const struct relaycfg_limits *lim; /* updated in place on SIGHUP */
    struct ticket_table *tickets;
    struct acct *acct;
    struct stats *stats;
    struct zerocopy_ctx *zc;
    struct shape *shape;  /* bandwidth limits (D28) */
    struct holdcap *hold; /* the relay-wide cap on held bytes (D40) */
    /* The one read buffer of every spliced leg (STREAM_RBUF_SIZE): libuv
     * calls a handle's alloc_cb and read_cb back to back on this single
     * thread, and the read callback is done with the bytes (written or
     * copied) before it returns. */
    uint8_t *rbuf;
    uint64_t next_id;
    struct freelist free; /* finished streams' memory, reused (D36; freelist_done at the end) */
    struct freelist shut; /* the legs' uv_shutdown_t, reused (D49; freelist_done at the end) */
};

struct stream;

/* The owner table of a stream leg (struct conn_ctx.stream, with a struct
 * stream_ctx as its arg): the ticket, the wait for the other leg, the splice
 * (its reads come straight to the stream once spliced) and the close hook. */
extern const struct conn_ops stream_conn_ops;

/* A pending stream expired before both legs arrived: tell the opener (side
 * opener of link l, req_id of its OPEN). Called before the stream finishes. */
typedef void (*stream_expired_cb)(struct index_link *l, int opener, uint32_t req_id);

/* Creates a pending stream of link l opened by side opener (req_id of its
 * OPEN) with one fresh ticket per side; expired is called if the legs do not
 * both arrive within ticket_expiry. 0, -ENOSPC (ticket table), -ENOMEM. */
int stream_open(struct stream_ctx *sx, struct index_link *l, int opener, uint32_t req_id,
                stream_expired_cb expired, struct stream **out);
/* Marks a pending stream as made for a RESUME (§7.3): counted as asked now,
 * then as paired or unmatched (its ticket expired) in struct stats. */
void stream_set_resume(struct stream *s);
uint64_t stream_wire_id(const struct stream *s);
/* The stream after s in its link's list (index_link.streams), or NULL. */
struct stream *stream_next(const struct stream *s);
/* The connection of side's leg, or NULL while that leg has not arrived. */
const struct conn *stream_leg_conn(const struct stream *s, int side);
/* Copies the ticket of side (for the STREAM message). */
void stream_ticket_copy(const struct stream *s, int side, uint8_t out[TICKET_LEN]);
/* Resets both legs of every stream of link l and finishes them with cause
 * (revocation, rotation, shutdown), logging why. Closes connections. */
void stream_abort_link(struct index_link *l, enum store_cause cause, const char *why);
/* The one close path of stream s (stream.c): logs one line (at info with why
 * when it is not NULL), records the accounting row, detaches s from its link
 * and legs and closes them (FIN for cause fin, RST for any other cause), and
 * frees s. Idempotent. Closes connections. */
void stream_finish(struct stream *s, enum store_cause cause, const char *why);

#endif
