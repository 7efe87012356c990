/* SPDX-License-Identifier: MIT */
/*
 * pump — the data path of one agent stream: bytes between the local socket,
 * the e2e session (common/e2e.h) and the stream leg to the relay, with
 * backpressure and half-close (docs/internals/agent.md, "A stream, step by
 * step").
 *
 * After every event (a read, a finished write or shutdown, a connect), the
 * owner or a callback here runs pump_run: take the session's events (peer
 * RESET or an error ends the stream), move session output to the leg while
 * its write queue is under PUMP_HIGH_WATER, move plaintext to the local
 * socket likewise, shut each direction down once its FINAL is through, and
 * start or stop reading each socket. The local socket is read into the
 * agent's one read buffer, cut to what the session takes, so every read is
 * sealed whole inside the read callback; the leg is read straight into the
 * session's input. No allocation per read; a write the kernel does not take
 * at once is copied once into its own request.
 *
 * Ownership: the owner (a stream, agent/stream.c) embeds struct pump, and
 * owns the two handles' lives: it inits the local one (setting .data to the
 * pump) and hands a leg (leg.h) over with pump_leg_attach, sets *_connected
 * when they connect, closes them (or gives the leg away: a kept leg, D48),
 * sets closing when it starts closing (after which nothing here acts), and
 * frees what the pump points to. This module never closes a handle: it asks the owner through
 * struct pump_ops, and names nothing of its owner. Any pump_* call and any
 * callback here may end the stream (ops->close): callers re-check closing.
 *
 * Memory per stream is bounded by sizeof(struct e2e) + 2 * PUMP_HIGH_WATER
 * + one write of at most PUMP_WRITE_MAX each way.
 */
#ifndef LR_AGENT_PUMP_H
#define LR_AGENT_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "e2e.h"
#include "live.h"
#include "agent/leg.h"
#include "log.h"
#include "streamlog.h"

#define PUMP_HIGH_WATER (64 * 1024)
#define PUMP_WRITE_MAX  (64 * 1024)

/* The leg's first byte from the relay (docs/protocol.md §6.1). */
#define PUMP_SPLICED_BYTE   0x01 /* both legs present: the splice is on */
#define PUMP_NO_STREAM_BYTE 0x00 /* the ticket is gone: no redial, reset */

/* How the owner closes the stream. */
enum pump_close {
    PUMP_CLOSE_CLEAN, /* both FINALs done: plain close of both sockets */
    PUMP_CLOSE_RESET, /* reset the local connection and the leg */
    PUMP_CLOSE_FLUSH, /* reset local; the leg gets its pending bytes (a RESET
                       record) and a shutdown before it closes */
    PUMP_CLOSE_KEEP,  /* finished on a leg kept for the next stream (e2e_keep,
                       D48): close local; the owner keeps the leg, or
                       closes it as CLEAN when it cannot */
};

/* The owner's callbacks. Each may close the stream. */
struct pump_ops {
    /* The stream must end (mode); why, when not NULL, is the one line to log
     * (aggregated, streamlog.h) at level. */
    void (*close)(void *owner, enum pump_close mode, enum log_level level, const char *why);
    /* The relay closed the leg (err: EOF, a read or a write error) before a
     * byte came back on it: refused at accept, its ticket not taken. */
    void (*leg_refused)(void *owner, int err);
    /* SPLICED came: the relay took the ticket (the owner wipes it; the leg is
     * never dialled again). Does not close. */
    void (*spliced)(void *owner);
    /* The end-to-end handshake is done and the local socket connected: the
     * stream runs. Once; does not close. */
    void (*ready)(void *owner);
    /* Resumption (docs/protocol.md §7.3): the leg of a resumable stream
     * ended, failed, or its resume HELLO was refused (why says which): the
     * owner drops the leg and suspends the stream. May close. */
    void (*leg_lost)(void *owner, const char *why);
    /* A resumed epoch is open (E2E_EV_RESUMED). Does not close. */
    void (*resumed)(void *owner);
    /* The relay answered the leg's ticket "no such stream" (§6.1) before the
     * end-to-end handshake, so the local socket has carried nothing: true
     * when the owner OPENs the stream again (it drops the leg; nothing here
     * acts on it any more), false to reset it as any such answer. */
    bool (*unknown_ticket)(void *owner);
    /* A STREAM_ACK is due (e2e_oob_ack_take, D43): the owner sends it on
     * its control session if that is up. Optional; does not close. */
    void (*oob_ack)(void *owner, uint64_t offset, const uint8_t mac[E2E_ACK_MAC_LEN]);
};

struct pump {
    const struct pump_ops *ops;
    void *owner;
    struct streamlog *log; /* for the owner's lines: */
    const char *name;      /* the link's name (the owner's memory) */
    uint32_t id;           /* the stream's number */
    uint8_t *rbuf;         /* the agent's shared local read buffer */
    size_t rbuf_len;
    struct e2e *e2e; /* the owner's; NULL until the stream has a session */
    uv_tcp_t local;
    struct leg *leg;    /* the owner's; NULL while it has none (leg.h) */
    unsigned leg_wreqs; /* writes queued on the leg whose callback has not run */
    uv_shutdown_t local_sreq, leg_sreq;
    bool closing;    /* set by the owner: nothing here acts any more */
    bool dial_local; /* the local socket is dialled (it counts for ready) */
    bool ready;      /* ops->ready told */
    bool local_connected, leg_connected, spliced;
    bool local_eof, leg_eof, local_shut, leg_shut, local_shut_done, leg_shut_done;
    bool local_reading, we_reset; /* the leg's reading: leg->reading */
    bool first_read;              /* the read right after the handshake was tried (D51) */
    uint8_t splice_byte;
    /* The agent-wide count of bytes held for replay (stream_env), which
     * this stream's share (held) is part of, and its cap; NULL: none. */
    uint64_t *held_total;
    uint64_t held_cap, held;
};

/* The leg l is the pump's now (its .data: p); one that reads already reads
 * on into the pump (no system call: leg.h). */
void pump_leg_attach(struct pump *p, struct leg *l);
/* Whether the leg may change hands: no write of the pump's is queued on it
 * (leg.h). */
bool pump_leg_idle(const struct pump *p);

/* TCP keepalive on the leg with the session's timers (live.h): the kernel
 * gives up an idle leg whose path died at about dead_after, and the probes
 * keep a NAT mapping of an idle leg alive. 0 or -errno. */
int pump_leg_keepalive(struct pump *p, uint32_t keepalive_ms, uint32_t dead_ms);
/* The leg check (live.h): true when data waits for an ACK that has not come
 * for dead_ms. */
bool pump_leg_dead(struct pump *p, struct live_ack *ack, uint64_t now, uint32_t dead_ms);

/* Brings *held_total up to date with the session's replay buffer. */
void pump_account(struct pump *p);

/* A resumable stream's ACK by time (e2e_ack_idle, docs/design.md D32): the
 * owner calls it on its leg check timer. May close the stream. */
void pump_ack_idle(struct pump *p);
/* The pump's step after anything happened (see above). */
void pump_run(struct pump *p);
/* Writes len bytes to t (the pump's local or leg): straight to the kernel
 * when nothing is queued, and a copy of what it did not take queued. p's
 * buffer is free again on return. 0 or a negative libuv error. */
int pump_write(struct pump *p, uv_tcp_t *t, const uint8_t *buf, size_t len);
/* pump_write for the leg, a TCP leg or a channel of a shared leg (leg.h). */
int pump_leg_write(struct pump *p, const uint8_t *buf, size_t len);
/* Ends the stream from our side: a RESET record (reason, text) to the peer,
 * which the leg gets before it closes; without a session to seal it in, a
 * plain reset. */
void pump_reset(struct pump *p, uint8_t reason, const char *text);
/* libuv's write queue of t, in bytes. */
size_t pump_queued(uv_tcp_t *t);
/*
 * Whether the TCP socket fd, which has just read end of stream, was in fact
 * reset by its peer. Linux reports a received RST (ECONNRESET) once, to the
 * first call that meets it: when that is a write, whose error libuv hands
 * over only after the read callback has seen the EOF that follows, the
 * reset would pass for a clean close (silent truncation for the peer). The
 * socket's state tells them apart while our write side is open: an RST
 * leaves it CLOSED, a FIN in CLOSE_WAIT. Once we have shut our side down
 * (we_shut) a clean close leaves it CLOSED too (its TIME_WAIT lives on in
 * another kernel object), but then no write can have taken the reset first,
 * so the read reports it itself: false. A socket that is not TCP: false.
 */
bool pump_eof_was_reset(int fd, bool we_shut);

#endif
