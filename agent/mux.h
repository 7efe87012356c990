/* SPDX-License-Identifier: MIT */
/*
 * mux — a shared leg: one leg pair through the relay that carries many
 * streams of a link at once, each in a channel of its own
 * (docs/protocol.md §7.6, docs/design.md D58).
 *
 * A kept leg whose stream's two HELLOs carried keep_leg and share_leg
 * becomes a shared leg once that stream is finished (streamkeep.c). From
 * then on every byte on it, both ways, is a frame:
 *
 *     type u8 | tag u32 | len u32 | payload (DATA only: len bytes)
 *
 *   DATA   (1) len bytes of the channel's byte stream, 1..MUX_DATA_MAX;
 *              the first DATA of a tag above every tag seen opens the
 *              channel at the responder (only the initiator opens them);
 *   END    (2) the sender sends no more on the channel (a FIN); len 0;
 *   RST    (3) the sender dropped the channel (an RST): what it sent may
 *              be cut short, and it takes nothing more; len 0;
 *   CREDIT (4) the sender took len more bytes of the channel in.
 *
 * Flow control is per channel, so that a reader that stops (its local
 * application does not read) stops its own channel and not the shared leg:
 * a sender has at most MUX_WINDOW bytes sent and not credited per channel
 * (the holder's backpressure: leg_queued is that count), and the receiver
 * credits what its holder has read, in steps of MUX_CREDIT_STEP. A peer
 * that sends beyond the window, a malformed frame, a DATA of a tag the
 * initiator never opened or more than MUX_CHANNELS_MAX channels is a
 * protocol error: the shared leg is reset, and every channel with it.
 *
 * The frames of a turn of the loop leave in one write: a channel's write
 * is appended to the shared leg's output, which goes to the kernel before
 * the loop waits again (a uv_prepare_t). The shared leg is read into one
 * buffer and each DATA is copied to its channel's holder (the holder's
 * alloc and read callbacks, as libuv calls them), or kept for it while it
 * does not read.
 *
 * A channel is a struct leg (leg.h) with ops: its holders (a stream's
 * pump) use it like a TCP leg. Its callbacks come from the loop, never from
 * within a call. When the shared leg ends or fails, every channel reads the
 * error (UV_ECONNRESET) after what it had received; the mux then closes
 * itself, tells ops->down once and frees itself after its handles close.
 */
#ifndef LR_AGENT_MUX_H
#define LR_AGENT_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/leg.h"

#define MUX_HDR_LEN      9u
#define MUX_DATA_MAX     65536u
#define MUX_WINDOW       (256u * 1024u)
#define MUX_CREDIT_STEP  (16u * 1024u)
#define MUX_CHANNELS_MAX 128u
/* The output of one turn that is written at once, without waiting for the
 * turn's end. */
#define MUX_OUT_FLUSH (256u * 1024u)
/* mux_close: how long frames still queued for the kernel (the RESET
 * records of streams aborted as their link goes) may take to leave. */
#define MUX_DRAIN_MS 2000u

enum mux_frame { MUX_DATA = 1, MUX_END = 2, MUX_RST = 3, MUX_CREDIT = 4 };

struct mux;

struct mux_ops {
    /* Responder: the peer opened channel ch, whose first bytes are kept
     * for its holder (mux_take_first). The callee owns ch: it attaches it or
     * closes it (leg_close). */
    void (*channel)(void *arg, struct mux *m, struct leg *ch);
    /* The shared leg is going (why: its end, an error, a protocol error,
     * or mux_close's "closed"); dead: mux_chan_fail's (the path may be gone
     * without the relay knowing). The last call with arg. */
    void (*down)(void *arg, struct mux *m, const char *why, bool dead);
};

struct mux_stats {
    uint64_t writes;       /* writes of the shared leg */
    uint64_t frames_out;   /* frames in them */
    uint64_t channels;     /* channels opened, both ways */
    uint64_t proto_errors; /* shared legs reset for a peer's protocol error */
};

/* Makes leg (a TCP leg that finished its stream cleanly, no write of its
 * holder pending) a shared leg in role initiator (true: this side opens the
 * channels) or not; rest: bytes read past the stream's end, frames
 * already. The mux holds the leg from here and reads it; mux_start begins
 * processing. NULL on failure, the leg still the caller's: *err UV_ENOMEM,
 * UV_EPROTO (rest too long), a libuv error. */
struct mux *mux_new(struct leg *leg, bool initiator, const uint8_t *rest, size_t rest_len,
                    const struct mux_ops *ops, void *arg, struct mux_stats *stats, int *err);
/* Processes the rest given to mux_new (may call ops->channel, ops->down). */
void mux_start(struct mux *m);
/* Whether mux_open would give a channel: this side opens them, the mux is
 * not closing or full (MUX_CHANNELS_MAX, or its tags ran out), and the
 * peer has not reset a channel before it sent on it (at its limit, or
 * refusing channels since a reload: the opener's streams take other
 * legs). */
bool mux_can_open(const struct mux *m);
/* Initiator: a new channel (the first write opens it at the peer), held
 * by the caller, or NULL unless mux_can_open. */
struct leg *mux_open(struct mux *m);
/* Channels open now. */
size_t mux_channels(const struct mux *m);
/* When the last channel closed (uv_now), or when the mux began. */
uint64_t mux_idle_since(const struct mux *m);
/* Moves up to max of the bytes kept for channel ch to buf (a responder's
 * first bytes for its holder); returns how many. */
size_t mux_take_first(struct leg *ch, uint8_t *buf, size_t max);
/* Resets the shared leg of channel ch, whose holder found it dead (no ACK
 * for dead_after; or, unless_heard, no answer in time and nothing read on
 * the shared leg since ch opened: a busy leg is slow, not dead): every
 * channel reads UV_ECONNRESET, ops->down gets why and dead. Nothing if ch
 * is detached already. */
void mux_chan_fail(struct leg *ch, bool unless_heard, const char *why);
/* Closes the shared leg (a FIN, behind what is still queued, within
 * MUX_DRAIN_MS, else an RST; channels still open read UV_ECONNRESET);
 * ops->down is called with "closed". */
void mux_close(struct mux *m);
/* mux_close's deadline for m (MUX_DRAIN_MS unless set). */
void mux_set_drain_ms(struct mux *m, uint32_t ms);

#endif
