/* SPDX-License-Identifier: MIT */
/*
 * streamkeep — kept stream legs: a leg pair through the relay that outlives
 * its stream and carries the link's next stream (docs/protocol.md §7.5,
 * docs/design.md D48).
 *
 * A stream whose two HELLOs carried the keep_leg item (e2e_keep) and that
 * finished cleanly both ways hands its leg here instead of closing it
 * (stream.c). The leg stays connected and idle, in its owner's list for its
 * role on that stream:
 *   - initiator (this side opened it): the link's next accepted local
 *     connection takes the most recently used one (streamkeep_take) and runs
 *     its handshake on it: no OPEN, no STREAM, no ticket, no new connection.
 *     It is closed (a FIN the relay forwards) after keep_idle idle, beyond
 *     keep_legs idle legs once idle a second (STREAMKEEP_TRIM_MS; a stream
 *     that ends with twice that idle closes its leg at once), and when the
 *     owner's link sessions are wiped
 *     (their generation changed: a key change, the peer or the control
 *     session going or coming, D46);
 *   - responder: read while idle; its first bytes are the next stream's
 *     first handshake frame, handed with the leg to on_next (stream.c),
 *     which starts the responder of a new stream on it. Closed when it ends
 *     or fails while idle, and with the initiator's rules above but for
 *     keep_idle (the initiator closes first, which ends it here).
 * Any byte on an idle initiator leg, or an end of it, closes it. The leg's
 * handle (leg.h) moves between a stream and the list by pointer, reading on
 * through the move (D54).
 *
 * The list holds the legs: each entry frees itself in its leg's close
 * callback, or when a stream takes the leg; the owner may go before that
 * (streamkeep_clear closes all).
 *
 * Shared legs (mux.h, docs/design.md D58): a leg whose stream's HELLOs also
 * carried share_leg (e2e_share) becomes a shared leg instead (struct
 * keepmux), listed by role like a kept leg. The initiator's next stream
 * takes a new channel of the busiest one with room (so that a load's
 * streams gather on one leg pair and their frames share writes), before
 * any kept leg; the responder's channels start their streams through
 * on_next as an idle responder leg does, with the channel's first bytes as
 * rest. A shared leg with no channel is idle: the rules above apply to
 * it (keep_idle, the bound, the generation), counted apart from kept legs.
 * With share_legs off (a reload) no shared leg takes a new stream, and
 * the idle ones go at the next tick.
 */
#ifndef LR_AGENT_STREAMKEEP_H
#define LR_AGENT_STREAMKEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "e2e.h"
#include "msg.h"
#include "agent/leg.h"
#include "agent/mux.h"

struct stream;
struct stream_owner;
struct streamkeep;

/* A responder's idle leg read the next stream's first bytes: k is out of
 * own's list and the callee's (it moves or closes it). */
typedef void streamkeep_next_fn(struct stream_owner *own, struct streamkeep *k);

/* Bytes an idle responder leg reads before its next stream takes it: more
 * than a first handshake frame (a KK message 1, §9) with its header. */
#define STREAMKEEP_REST_MAX 512u
/* A responder keeps this many times the link's keep_legs idle legs: its
 * legs outlive the initiator's decision to keep them by a round trip. */
#define STREAMKEEP_RESPONDER_FACTOR 2u
#define STREAMKEEP_RELAY_SHARE      4u
/* The bound (keep_legs, or the relay's share) is not applied as legs come:
 * a leg stays busy until its stream's last record, a round trip after its
 * client saw the end, so a load of N concurrent streams keeps about 2N legs
 * busy at its peaks, and legs closed at once over the bound were opened
 * again a moment later (8 % of the streams of a 64-stream load, D56). The
 * owner's tick closes the legs over the bound once they have been idle
 * STREAMKEEP_TRIM_MS, oldest first; more than STREAMKEEP_BURST_FACTOR times
 * the bound are never kept. */
#define STREAMKEEP_TRIM_MS      1000u
#define STREAMKEEP_BURST_FACTOR 2u

struct streamkeep {
    struct streamkeep *prev, *next;
    struct stream_owner *own; /* NULL once closing or detached */
    struct leg *leg;          /* its .data is this entry */
    enum e2e_role role;
    uint64_t leg_id; /* the relay's stream id (prologue, LEG_LOST) */
    uint8_t leg_ticket[MSG_TICKET_LEN];
    uint32_t keepalive_ms, dead_ms;
    uint32_t gen;           /* the owner's link-session generation when kept */
    uint64_t idle_since_ms; /* uv_now */
    size_t rest_len;
    uint8_t rest[STREAMKEEP_REST_MAX];
    streamkeep_next_fn *on_next; /* responder: bytes arrived */
};

/* A shared leg of the owner (mux.h). */
struct keepmux {
    struct keepmux *prev, *next;
    struct stream_owner *own; /* NULL once it went (mux_ops.down) */
    struct mux *mux;
    enum e2e_role role;
    uint64_t leg_id; /* as struct streamkeep's, for its channels' streams */
    uint8_t leg_ticket[MSG_TICKET_LEN];
    uint32_t keepalive_ms, dead_ms;
    uint32_t gen;
    streamkeep_next_fn *on_next; /* responder: a channel opened */
};

/* The owner's kept legs, embedded in struct stream_owner. */
struct streamkeep_list {
    struct streamkeep *head[2]; /* by role (enum e2e_role), most recent first */
    size_t n[2];
    /* The relay's max_streams_per_link (WELCOME; 0: not known yet): an idle
     * kept leg pair is an open stream there, so a side keeps at most a
     * quarter of it (STREAMKEEP_RELAY_SHARE), whatever keep_legs says. */
    uint32_t relay_max;
    /* Streams by how their leg came (metrics): a new leg, a kept one, and
     * kept ones that ended before the answer (the stream was OPENed anew). */
    uint64_t new_legs, kept_legs, fallbacks;
    uint64_t closed; /* idle kept legs closed (any cause) */
    /* Shared legs by role, most recent first; streams that ran on one of
     * their channels; the frames' counters. */
    struct keepmux *mux_head[2];
    size_t n_mux[2];
    uint64_t shared_legs;
    struct mux_stats mux;
};

/* Keeps leg, of a stream that finished (the leg is the entry's on
 * success, which reads it from then on; on failure still the caller's, its
 * .data the caller's again, not reading if it was not), with rest (the unprocessed input, at most
 * STREAMKEEP_REST_MAX: the responder's next stream's first bytes). 0, or -ENOSPC (the bound is
 * reached), -EPROTO (bytes after the initiator's last record), -ENOMEM, a
 * libuv error. A responder whose rest is not empty is handed to on_next
 * at once by streamkeep_kick. */
int streamkeep_add(struct stream_owner *own, struct leg *leg, enum e2e_role role, uint64_t leg_id,
                   const uint8_t ticket[MSG_TICKET_LEN], uint32_t keepalive_ms, uint32_t dead_ms,
                   const uint8_t *rest, size_t rest_len, streamkeep_next_fn *on_next,
                   struct streamkeep **out);
/* streamkeep_add for st, which finished on a leg it may keep (e2e_keep):
 * its leg, ids, timers and unprocessed input; a shared leg instead when
 * e2e_share (*km, which the caller starts with mux_start once st is
 * closed: a mux that fails meanwhile is only freed from the loop);
 * never a channel of one (it closes with its stream). True when kept:
 * st->io.leg is NULL and st->leg_inited false after (the caller drops the
 * leg's reference on st), and *k or *km is set; false when it is not kept
 * (logged at debug; st's close then ends the leg at the relay too). */
bool streamkeep_leg(struct stream *st, streamkeep_next_fn *on_next, struct streamkeep **k,
                    struct mux **km);
/* A responder kept with bytes already read: on_next now. */
void streamkeep_kick(struct streamkeep *k);
/* A new channel of the busiest shared leg with room, or else the most
 * recently used idle initiator leg of the owner that is still good, out of
 * the list (the caller moves it: streamkeep_move); NULL. */
struct streamkeep *streamkeep_take(struct stream_owner *own, uint64_t now);
/* Gives k's leg to the caller, reading if it was (the caller attaches it
 * at once: pump_leg_attach; its .data still names k, which is freed), and
 * its rest to rest[] (*rest_len). */
struct leg *streamkeep_move(struct streamkeep *k, uint8_t rest[STREAMKEEP_REST_MAX],
                            size_t *rest_len);
/* Closes k (out of its list if it is in one). */
void streamkeep_close(struct streamkeep *k);
/* The owner's tick, with now from uv_now: idle expiry, the bound (legs over
 * it idle STREAMKEEP_TRIM_MS), a changed link-session generation. */
void streamkeep_tick(struct stream_owner *own, uint64_t now);
/* When leg is a channel of a shared leg: its holder found the shared leg
 * dead (no ACK for dead_after; unless_heard: no answer in time, and
 * nothing came on the shared leg since the channel opened). The shared leg
 * is reset, every stream on it moves, none starts there, and the relay is
 * told (LEG_LOST), D58. Nothing for a TCP leg or NULL. */
void streamkeep_chan_dead(struct leg *leg, bool unless_heard, const char *why);
/* Closes every kept leg of the owner (it goes away). */
void streamkeep_clear(struct stream_owner *own);

#endif
