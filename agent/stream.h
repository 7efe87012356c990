/* SPDX-License-Identifier: MIT */
/*
 * stream — one end-to-end stream inside linkagent (docs/protocol.md §6, §7,
 * §11 "Stream, agent side"): a local TCP connection, a stream leg to the
 * relay, and the e2e session (common/e2e.h) between them.
 *
 * Lifecycle: created for an owner (a link, agent/link.c: an accepted local
 * connection, the peer's STREAM for the connect side, or the immediate
 * policy's cable), closed through one idempotent path (stream_close: clean,
 * reset, or flush-then-close after a RESET record) and freed in the last
 * close callback. When the stream starts closing it leaves its owner's list
 * and the owner is told once (stream_ops.gone); the stream never touches the
 * struct stream_owner after that. This module names nothing of its owner: it
 * reads the struct stream_owner and calls back through its stream_ops.
 *
 * Backpressure, end to end: the local socket is read only while the e2e
 * session takes data (e2e_send_space) and the relay leg's libuv write queue is
 * below STREAM_HIGH_WATER; the relay leg is read only while the session has
 * input room, which it only has while decrypted plaintext drains into the
 * local socket, whose write queue is kept below STREAM_HIGH_WATER too. Memory
 * per stream is therefore bounded by sizeof(struct e2e) + 2 * STREAM_HIGH_WATER
 * + one write of at most STREAM_WRITE_MAX each way.
 */
#ifndef LR_AGENT_STREAM_H
#define LR_AGENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "agentcfg.h"
#include "backoff.h"
#include "e2e.h"
#include "live.h"
#include "msg.h"
#include "streamlog.h"

struct stream;

/*
 * What every stream shares, agent-wide (the agent owns it and keeps it
 * current across reloads; it outlives every stream).
 */
struct stream_env {
    uv_loop_t *loop;
    uint8_t *rbuf; /* the one local read buffer (sealed inside the read callback) */
    size_t rbuf_len;
    struct streamlog *log; /* per-stream failure lines */
    uint32_t open_queue;   /* connections held per link (OPEN_FAIL rate_limited) */
    uint32_t open_wait_ms; /* how long one is held at most */
    uint32_t ids;          /* the last stream number handed out (log lines) */
};

/* The owner's callbacks. */
struct stream_ops {
    /* A new request id (non-zero) and an OPEN for it; -ENOTCONN if the
     * control session is not up. */
    int (*send_open)(void *arg, uint32_t *req_id);
    /* The stream is closing and has left the owner's list (the owner re-arms
     * the cable if it was one). Called once; the stream's last word. */
    void (*gone)(void *arg, struct stream *st);
};

/*
 * The owner's side of its streams: embedded in the owner, which fills the
 * first fields and keeps the relay's address and the leg timers current. The
 * list and the counts are this module's; the owner may read them. Valid
 * until the owner's last stream has closed (stream_abort them all first).
 */
struct stream_owner {
    const struct stream_ops *ops;
    void *arg;
    struct stream_env *env;
    const struct agentcfg_link *cfg;        /* name, keys, the connect target */
    struct sockaddr_storage relay_sa;       /* where the control session is connected */
    uint32_t leg_keepalive_ms, leg_dead_ms; /* the session's timers, for stream legs */
    struct stream *streams;                 /* the owner's streams */
    size_t n_streams;
    uint32_t n_held; /* connections held after OPEN_FAIL rate_limited */
};

#define STREAM_HIGH_WATER (64 * 1024)
#define STREAM_WRITE_MAX  (64 * 1024)
#define STREAM_SETUP_MS   15000u /* OPEN → STREAM → SPLICED → handshake (and local dial) */
#define STREAM_FLUSH_MS   2000u  /* a RESET record's flush to the leg, at most; then RST */

/* Pacing of a held connection's OPENs (OPEN_FAIL rate_limited), within
 * open_wait, and of a refused leg's redials, within the ticket's expiry: the
 * stream's struct backoff (agent/backoff.h) from STREAM_RETRY_MIN_MS doubling
 * to STREAM_RETRY_MAX_MS, each delay drawn between half and all of the step
 * (2..4 ms up to 128..256 ms). The relay refills one OPEN per
 * 1/open_rate_per_link s (0.2 ms at the default 5000/s, behind a burst of
 * 10000), and OPEN_FAIL carries no hint (its body is fixed, §5). */
#define STREAM_RETRY_MIN_MS 4u
#define STREAM_RETRY_MAX_MS 256u

/* The stream leg's first byte from the relay (docs/protocol.md §6.1). */
#define STREAM_SPLICED_BYTE   0x01 /* both legs present: the splice is on */
#define STREAM_NO_STREAM_BYTE 0x00 /* the ticket is gone: no redial, reset */

enum stream_state {
    STREAM_OPENING, /* OPEN sent, waiting for STREAM */
    STREAM_HELD,    /* refused rate_limited: local connection held, OPEN again later */
    STREAM_SETUP,   /* leg (and local target) dialling, splice, handshake */
    STREAM_REDIAL,  /* the relay closed the leg before it carried a byte: local
                     connection held, the leg dialled again with the same
                     ticket later (within the ticket's expiry) */
    STREAM_RUNNING,
    STREAM_CLOSING,
};

enum stream_close_mode {
    STREAM_CLOSE_CLEAN, /* both FINALs done: plain close of both sockets */
    STREAM_CLOSE_RESET, /* reset the local connection and the leg */
    STREAM_CLOSE_FLUSH, /* reset local; the leg gets its pending bytes (a RESET
                         record) and a shutdown before it closes */
};

struct stream {
    struct stream_owner *own; /* NULL once closing */
    struct stream_env *env;   /* outlives the stream (log aggregation) */
    uv_loop_t *loop;
    struct stream *prev, *next; /* the owner's list */
    uint32_t id;                /* for logs */
    char name[48];              /* link name, for logs after detaching */
    uint8_t *rbuf;              /* the agent's shared local read buffer */
    size_t rbuf_len;
    uint32_t req_id;
    uint64_t stream_id;
    uint64_t open_since_ms;   /* first OPEN (open_wait counts from here) */
    uint32_t open_tries;      /* OPENs refused rate_limited so far */
    struct backoff retry;     /* held OPENs', then refused legs' delays */
    uint64_t ticket_until_ms; /* STREAM's expires_ms from its arrival: redials stop here */
    uint32_t ticket_ms;       /* that expires_ms, for logs */
    uint64_t setup_until_ms;  /* STREAM + STREAM_SETUP_MS: the setup deadline */
    uint32_t leg_tries;       /* legs the relay closed before they carried a byte */
    bool held;                /* counted in the owner's n_held */
    enum e2e_role role;
    bool cable;      /* the immediate policy's permanent stream */
    bool dial_local; /* we dial the local target (connect side, cable) */
    enum stream_state state;
    uv_tcp_t local, leg;
    uv_connect_t local_creq, leg_creq;
    uv_getaddrinfo_t gai;
    uv_shutdown_t local_sreq, leg_sreq;
    uv_timer_t timer; /* setup deadline; then the leg check; closing: flush deadline */
    int refs;
    uint32_t keepalive_ms, dead_ms; /* the session's, for the leg (0: unknown) */
    struct live_ack ack;
    bool local_inited, leg_inited, gai_pending;
    bool leg_dropping; /* a refused leg's handle is closing; st->leg is not free yet */
    bool local_connected, leg_connected, spliced;
    bool local_eof, leg_eof, local_shut, leg_shut, local_shut_done, leg_shut_done;
    bool local_reading, leg_reading, we_reset;
    uint8_t splice_byte;
    uint8_t ticket[MSG_TICKET_LEN];
    struct e2e *e2e;
};

/* An accepted local connection on one of the link's listeners: sends OPEN.
 * On failure the connection is reset and nothing is kept. */
void stream_accept(struct stream_owner *own, uv_stream_t *server);
/* The immediate policy's cable: sends OPEN; the local target is dialled when
 * STREAM arrives. Returns NULL if OPEN could not be sent. */
struct stream *stream_cable(struct stream_owner *own);
/* STREAM role 0 for a stream this link opened. A leg the relay closes before
 * a byte came back on it (refused at accept: the ticket was never taken) is
 * dialled again with the same ticket, after a jittered backoff, until the
 * ticket's expires_ms; the local connection is held unread meanwhile
 * (STREAM_REDIAL, docs/design.md D16). Both roles. */
void stream_on_stream(struct stream *st, const struct msg_stream *m);
/* STREAM role 1: the peer opened a stream; dial the leg and the local target. */
void stream_responder(struct stream_owner *own, const struct msg_stream *m);
/* OPEN_FAIL for this stream's req_id. rate_limited holds a local connection
 * (the link's open_queue, open_wait: docs/linkagent.conf.md) and OPENs it
 * again later; past those bounds, and for every other reason, it is reset.
 * A stream redialling its leg (STREAM_REDIAL) is reset at once: the relay has
 * failed it (OPEN_FAIL timeout). */
void stream_open_failed(struct stream *st, int reason);
/* The link goes away (reload, SIGTERM): RESET `shutdown` to the peer where a
 * session exists, reset the local connection. The leg gets STREAM_FLUSH_MS to
 * take the RESET record and its shutdown; then it is reset, so a stuck leg
 * cannot keep the agent from stopping. */
void stream_abort(struct stream *st);
void stream_close(struct stream *st, enum stream_close_mode mode);

#endif
