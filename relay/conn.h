/* SPDX-License-Identifier: MIT */
/*
 * conn — one accepted TCP connection: its uv_tcp_t, one timer, an explicit
 * state, a bounded input buffer for everything before authentication or
 * pairing, and the one idempotent close path.
 *
 * Lifetime: conn_accept allocates a struct conn and links it into the relay's
 * list. conn_close / conn_reset / conn_fail may be called any number of times
 * from anywhere (callbacks included); the first call detaches the connection
 * from its control session or stream, closes both handles, and the memory is
 * freed in the last close callback. After a close call returns the caller must
 * only check c->state == CONN_CLOSED and must not start new I/O on it.
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

#include <uv.h>

#include "buf.h"
#include "relay.h"
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

struct session;
struct stream;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake deadline, then keepalive (control) */
    struct relay *r;
    struct conn *prev, *next;
    uint64_t id;
    char peer[ADDR_TEXT_SIZE]; /* "1.2.3.4:5555" for logs */
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

    struct session *session; /* control session (owned), or NULL */
    struct stream *stream;   /* stream this leg belongs to (not owned), or NULL */
    int leg;                 /* 0 = side a, 1 = side b */

    /* Splice state of this leg as a source (see stream.c). */
    bool read_paused;      /* stopped for backpressure */
    bool read_eof;         /* EOF read from this leg */
    bool shut_sent;        /* uv_shutdown issued on this leg (other leg hit EOF) */
    bool shut_done;        /* that shutdown completed */
    uint64_t last_written; /* bytes written to this leg at the last stall check */
    size_t queued;         /* bytes conn_send copied for this connection, not freed yet */
    uint64_t last_progress_ms;
};

/* Accepts one pending connection from server (the listen callback). */
void conn_accept(struct relay *r, uv_stream_t *server);
/* The claim on the ticket that admitted c past its address's limits is over:
 * c took that ticket (it is gone with its claim) or closes without it (the
 * ticket can vouch for another connection). Nothing when c holds no claim. */
void conn_ticket_release(struct conn *c);

/* Graceful close (FIN after queued writes are cancelled). Idempotent. */
void conn_close(struct conn *c);
/* Close with RST (SO_LINGER 0). Idempotent. */
void conn_reset(struct conn *c);
/* Pre-authentication failure: counted, then the silent close of §8. */
void conn_fail(struct conn *c, enum relay_fail why);
/* Marks the connection authenticated/paired (leaves the pending counts). */
void conn_established(struct conn *c);
/* The connection authenticated or presented a valid ticket: it leaves its
 * source address's limits and gets its rate token back (admit_vouch,
 * docs/design.md D16). Idempotent. */
void conn_vouch(struct conn *c);
/* Writes data: what the kernel takes at once, then a copy of the rest in one
 * write request that cb completes and releases with conn_send_done. Order is
 * kept (uv_try_write says UV_EAGAIN while anything is queued). The copy counts
 * in c->queued, and for a stream leg in the relay's queued bytes, until it is
 * released. 0 or a negative libuv error; the connection is left as it is. */
int conn_send(struct conn *c, const void *data, size_t len, uv_write_cb cb);
/* Releases a conn_send request, whatever its status: its bytes leave the
 * queued counts and the memory is freed. Every conn_send callback calls it
 * first (libuv runs them before the connection's close callbacks, so the
 * connection is still there, also with UV_ECANCELED). */
void conn_send_done(uv_write_t *req);
/* conn_send for control frames; a write error closes the connection.
 * Returns 0 or a negative libuv error (the connection is then closing). */
int conn_write(struct conn *c, const void *data, size_t len);
/* Stops reading, shuts the write side down after what is queued, then closes
 * (bounded by a short timer). For CLOSE messages (§5: close right after). */
void conn_close_after_flush(struct conn *c);
/* libuv reports UV_EOF when the kernel signals a hang-up after a short read,
 * also when the peer sent RST rather than FIN. This peeks at the socket after
 * UV_EOF: true if it was really a reset (the error is then consumed). */
bool conn_eof_was_reset(struct conn *c);
/* Re-arms the connection timer (repeat 0 = one-shot). */
void conn_timer(struct conn *c, uint64_t timeout_ms, uint64_t repeat_ms, uv_timer_cb cb);

#endif
