/* SPDX-License-Identifier: MIT */
/*
 * conn — one accepted TCP connection: its uv_tcp_t, one timer, an explicit
 * state, a bounded input buffer for everything before authentication or
 * pairing, and the one idempotent close path.
 *
 * conn knows no control session and no stream: the preamble names the kind,
 * and from then on the connection calls its owner through the struct
 * conn_ops table its context holds for that kind (session.c and stream.c
 * fill one in each; relay.c puts them into struct conn_ctx).
 *
 * Lifetime: conn_accept allocates a struct conn and links it into its
 * context's list. conn_close and conn_fail may be called any number of times
 * from anywhere (callbacks included); the first call detaches the connection
 * from its owner (ops->on_close), closes both handles, and the memory is freed
 * in the last close callback. After a close call returns the caller must only
 * check c->state == CONN_CLOSED and must not start new I/O on it. Every
 * conn_ops callback may close the connection; conn re-checks c->state after
 * each one.
 *
 * State machine (docs/protocol.md §11, docs/internals/relay.md):
 *   PREAMBLE -> HS1 -> HS3 -> UP -> [FLUSHING] -> CLOSED     (control)
 *   PREAMBLE -> TICKET -> WAITING -> SPLICED -> CLOSED        (stream leg)
 */
#ifndef LR_CONN_H
#define LR_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <uv.h>

#include "buf.h"
#include "admit.h"
#include "cork.h"
#include "freelist.h"
#include "relaycfg.h"
#include "stats.h"
#include "ticket.h"

enum conn_state {
    CONN_PREAMBLE = 0, /* waiting for the 8-byte preamble */
    CONN_HS1,          /* control: waiting for handshake message 1 */
    CONN_HS3,          /* control: message 2 sent, waiting for message 3 */
    CONN_UP,           /* control: session up */
    CONN_FLUSHING,     /* control: last message (CLOSE) written, then close */
    CONN_TICKET,       /* stream: waiting for the 32-byte ticket */
    CONN_WAITING,      /* stream: ticket taken, waiting for the other leg */
    CONN_SPLICED,      /* stream: forwarding bytes */
    CONN_CLOSED,       /* handles closing; memory freed in the close callback */
};
const char *conn_state_name(enum conn_state s);

struct conn;

/* What the owner of a connection of one kind does with it. Every callback
 * may close the connection. */
struct conn_ops {
    /* The preamble named this kind (preamble: its 8 bytes, key_id: the relay
     * key it names): take the connection and set its next state. arg is
     * the kind's conn_kind.arg, also left in c->ops_arg. 0, -ENOENT (unknown
     * key id: a counted failure) or another negative errno (closed). */
    int (*begin)(void *arg, struct conn *c, const uint8_t preamble[8], uint8_t key_id);
    /* Bytes arrived in c->in while pending or UP. */
    void (*input)(struct conn *c);
    /* A leg waiting for its peer read EOF (not a reset); reading stops. */
    void (*on_eof)(struct conn *c);
    /* The close path: the owner lets go of c (c->owner is not used after).
     * True if the connection must end with a reset. */
    bool (*on_close)(struct conn *c);
    /* Reading of a CONN_SPLICED connection is the owner's: conn's libuv
     * callbacks hand every allocation and read to these. */
    uv_alloc_cb alloc;
    uv_read_cb read;
};

struct conn_kind {
    const struct conn_ops *ops;
    void *arg;
};

/* Everything connections share: owned by struct relay, which fills it in
 * before the first accept. Pointers stay valid until the loop has ended. */
struct conn_ctx {
    uv_loop_t *loop;
    const struct relaycfg_limits *lim; /* updated in place on SIGHUP */
    struct admit *admit;
    struct ticket_table *tickets;
    struct stats *stats;
    struct conn_kind control, stream; /* owners by preamble kind */
    struct conn *list;                /* every open connection (prev/next) */
    uint64_t next_id;
    struct freelist conns; /* closed connections' memory, reused (conn_ctx_done frees it) */
    /* Control frames written once per loop turn (conn_write_corked, D49);
     * set up at the first one, closed by conn_ctx_stop. */
    struct cork cork;
    bool cork_tried;
};

/* How a connection ends. */
enum conn_end {
    CONN_END_FIN = 0, /* close now; queued writes are cancelled, then FIN */
    CONN_END_RST,     /* close now with RST (SO_LINGER 0) */
    CONN_END_FLUSH,   /* stop reading, write what is queued, shut down, then
                       * close (bounded by a short timer): for CLOSE messages */
};

/* The text of an accepted socket's peer (conn_peer_name): "[" IPv6 "]:"
 * port, or IPv4 ":" port, and the NUL; never a hostname. Not
 * ADDR_TEXT_SIZE (262): two of these per stream (D53). */
#define CONN_PEER_SIZE (INET6_ADDRSTRLEN + 8)

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake deadline, then keepalive (control) */
    struct conn_ctx *ctx;
    struct conn *prev, *next;
    uint64_t id;
    char peer[CONN_PEER_SIZE]; /* "1.2.3.4:5555" for logs */
    uint8_t addr_key[16];      /* source address for limits */
    struct admit_ip *ip;       /* its address's entry; NULL once vouched for (conn_vouch) */
    enum conn_state state;
    bool admitted; /* counted by admit (released on close) */
    bool pending;  /* counted as pending in limits */
    int handles;   /* open handles; freed when it drops to 0 */
    uint64_t accepted_ms;
    size_t preauth_read; /* bytes read while pending */
    /* The ticket that admitted it past its address's limits (ticket_claim
     * under its id), until it takes the ticket or closes. Wiped after. */
    bool claimed;
    uint8_t claim_tk[TICKET_LEN];

    /* Input before authentication/pairing, and control frames after. */
    struct bq in;
    uint8_t *inmem;

    /* Its owner, from the preamble on: the kind's table and context, and
     * the owner's per-connection state (session.c: struct session; stream.c:
     * the stream's state for this leg), NULL until the owner sets it. */
    const struct conn_ops *ops;
    void *ops_arg;
    void *owner;
    /* Bytes conn_send copied for this connection, not freed yet: until their
     * write callback, not libuv's write queue size, which drops as the kernel
     * takes bytes while the request (and its memory) lives on. A stream leg
     * reads while the other leg's count is 0, so a direction holds at most one
     * read (memory and backpressure; the write-stall timer measures the
     * kernel taking bytes, stream.c's stream_pending). */
    size_t queued;
    struct cork_q cork; /* control frames queued this loop turn (conn_write_corked) */
};

/* Writes the control frames still queued and closes the cork's handles (the
 * relay stops); later frames are written at once. */
void conn_ctx_stop(struct conn_ctx *ctx);
/* Frees the memory of closed connections kept for reuse; after the last
 * close callback ran (the loop has ended). */
void conn_ctx_done(struct conn_ctx *ctx);
/* Accepts one pending connection from server (the listen callback). */
void conn_accept(struct conn_ctx *ctx, uv_stream_t *server);
/* The claim on the ticket that admitted c past its address's limits is over:
 * c took that ticket (it is gone with its claim) or closes without it (the
 * ticket can vouch for another connection). Nothing when c holds no claim. */
void conn_ticket_release(struct conn *c);

/* The one close path: ends c as how says, for the reason why (a phrase for
 * the log), and logs one debug line "conn ID PEER: closed (HOW): WHY" when
 * the close begins. Idempotent (a FLUSH on a connection already flushing
 * does nothing; FIN or RST end it at once, without a second line). */
void conn_close(struct conn *c, enum conn_end how, const char *why);
/* Pre-authentication failure: counted (stats_count_fail), then the silent
 * close of §8 (CONN_END_FIN). */
void conn_fail(struct conn *c, enum stats_fail why);
/* Marks the connection authenticated/paired (leaves the pending counts). */
void conn_established(struct conn *c);
/* The connection authenticated or presented a valid ticket: it leaves its
 * source address's limits and gets its rate token back (admit_vouch,
 * docs/design.md D16). Idempotent. */
void conn_vouch(struct conn *c);
/* Writes data: what the kernel takes at once, then a copy of the rest in one
 * write request that cb completes and releases with conn_send_done. Order is
 * kept (uv_try_write says UV_EAGAIN while anything is queued). The copy counts
 * in c->queued, and for a stream leg (WAITING or SPLICED) in the relay's
 * queued bytes (stats), until it is released. 0 or a negative libuv error;
 * the connection is left as it is. */
int conn_send(struct conn *c, const void *data, size_t len, uv_write_cb cb);
/* Releases a conn_send request, whatever its status: its bytes leave the
 * queued counts and the memory is freed. Every conn_send callback calls it
 * first (libuv runs them before the connection's close callbacks, so the
 * connection is still there, also with UV_ECANCELED). */
void conn_send_done(uv_write_t *req);
/* Writes n buffers in order, as conn_send does one (what the kernel does not
 * take at once is copied into one request). */
int conn_sendv(struct conn *c, const uv_buf_t *bufs, unsigned n, uv_write_cb cb);
/* conn_send for control frames; a write error closes the connection.
 * Returns 0 or a negative libuv error (the connection is then closing).
 * Frames queued by conn_write_corked go first. */
int conn_write(struct conn *c, const void *data, size_t len);
/* A control frame for an UP session, written at the end of this loop turn
 * with the connection's other frames of the turn in one writev (cork.h,
 * docs/design.md D49); in any other state as conn_write. A write error
 * closes the connection, then or at the end of the turn. 0, or UV_EPIPE when
 * the connection is closed. A FLUSH close writes the queued frames first; a
 * FIN or RST close drops them. */
int conn_write_corked(struct conn *c, const void *data, size_t len);
/* Every byte written to c is the kernel's: none waits in libuv. */
bool conn_all_written(const struct conn *c);
/* libuv reports UV_EOF when the kernel signals a hang-up after a short read,
 * also when the peer sent RST rather than FIN. After UV_EOF with the read
 * callback's buf: true if it was really a reset (the error is then consumed).
 * Only that hang-up (buf->base NULL: libuv read nothing) costs a peek at the
 * socket; a UV_EOF from read() returning 0 is a FIN, as a reset makes read()
 * fail instead (docs/design.md D36). */
bool conn_eof_was_reset(struct conn *c, const uv_buf_t *buf);
/* Re-arms the connection timer (repeat 0 = one-shot). */
void conn_timer(struct conn *c, uint64_t timeout_ms, uint64_t repeat_ms, uv_timer_cb cb);

/* Sets a stream leg's socket options on fd (TCP_NODELAY, keepalive after
 * keepalive, TCP_USER_TIMEOUT = write_stall_timeout). Applied to the listening
 * sockets, whose accepted sockets inherit them. 0 or -errno. */
int conn_leg_sockopts(uv_os_fd_t fd, const struct relaycfg_limits *lim);
/* A control session keeps TCP_NODELAY from the listener but not the stream
 * legs' keepalive and TCP_USER_TIMEOUT (inherited from the listener): its
 * liveness is PING/PONG and dead_after (docs/protocol.md §5), which the
 * agent is told in WELCOME. Failures are logged at debug level. */
void conn_session_sockopts(struct conn *c);
/* Whether a leg's libuv error err means nothing was acknowledged for
 * write_stall_timeout (then true, with the words in why): ETIMEDOUT is the
 * kernel's user timeout that conn_leg_sockopts sets, the same condition as
 * the write-stall timer. So is an unreachability error: on an established
 * leg an ICMP unreachable is only a soft error, which the kernel reports
 * instead of ETIMEDOUT when it gives up (a router that could not reach the
 * agent's host said so while its uplink was down). Anything else is a reset
 * (false). */
bool conn_leg_stalled(int err, char *why, size_t cap);
/* How often a spliced leg's stall and half-close checks run: a quarter of
 * the shorter timeout, within 20..1000 ms. */
uint64_t conn_leg_tick_ms(const struct relaycfg_limits *lim);

#endif
