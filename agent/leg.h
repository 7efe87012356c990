/* SPDX-License-Identifier: MIT */
/*
 * leg — a stream leg's TCP handle, on the heap so that it can change hands
 * (docs/design.md D54).
 *
 * A kept leg (streamkeep.h, D48) goes from a finished stream to the kept
 * list and from there to the link's next stream. A uv_tcp_t cannot move in
 * memory, so the leg lives in a struct leg of its own and its holders pass
 * the pointer: tcp.data names the holder now (struct pump, struct
 * streamkeep), and the leg reads through one pair of callbacks here that
 * call the holder's. A leg that reads while it changes hands keeps reading:
 * leg_read() only swaps the callbacks, so a move costs no system call and
 * leaves the epoll registration alone (a dup() of the socket in a new handle
 * cost dup, ioctl, epoll_ctl twice and close per move before D54).
 *
 * A holder that gives the leg away must have no request of its own pending
 * on it (a write or shutdown whose callback would find the holder gone): the
 * pump keeps a leg only with no write of it in flight.
 */
#ifndef LR_AGENT_LEG_H
#define LR_AGENT_LEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct leg;

/*
 * A leg that is not a TCP connection of its own: a channel of a shared leg
 * (agent/mux.h, docs/design.md D58). Its holders use it through the calls
 * below as they use a TCP leg; libuv is never called on its tcp handle, of
 * which only .data and .loop are set. Each call acts as libuv's would for a
 * TCP handle: callbacks (reads, the shutdown's, the close's) come later,
 * from the loop, never from within the call.
 */
struct leg_ops {
    int (*read_start)(struct leg *l); /* the callbacks are set */
    void (*read_stop)(struct leg *l);
    /* len bytes, taken whole (copied), or a libuv error. */
    int (*write)(struct leg *l, const uint8_t *buf, size_t len);
    /* Bytes written that the peer has not yet taken in (the backpressure
     * a TCP leg's write queue gives). */
    size_t (*queued)(const struct leg *l);
    int (*shutdown)(struct leg *l, uv_shutdown_t *req, uv_shutdown_cb cb);
    void (*close)(struct leg *l, bool reset); /* then close_cb, then freed */
    /* The TCP connection that carries it (liveness checks), or NULL. */
    uv_tcp_t *(*carrier)(struct leg *l);
};

struct leg {
    uv_tcp_t tcp; /* first: a handle of a leg is the leg; .data: its holder */
    uv_alloc_cb alloc_cb;
    uv_read_cb read_cb;
    uv_close_cb close_cb;
    bool reading;              /* libuv reads it for us (it stops at an EOF or an error) */
    const struct leg_ops *ops; /* NULL: a TCP leg */
    /* A channel's peer took bytes in (leg_queued fell): set by the holder
     * that waits on it, as a TCP leg's holder waits for its writes. */
    void (*credit_cb)(struct leg *l);
    bool closing; /* a channel's leg_close has been called */
};

/* A new leg, uv_tcp_init'ed on loop, held by holder (tcp.data). NULL with
 * *err a libuv error (out of memory: UV_ENOMEM). */
struct leg *leg_new(uv_loop_t *loop, void *holder, int *err);
/* The leg of a handle (a libuv callback's argument). */
struct leg *leg_of(uv_handle_t *h);
/* Reads into the holder's callbacks (they get the handle; .data is the
 * holder): starts reading, or, on a leg that reads already, only makes these
 * the callbacks. 0 or a libuv error (then it does not read). */
int leg_read(struct leg *l, uv_alloc_cb alloc_cb, uv_read_cb read_cb);
void leg_read_stop(struct leg *l);
/* Closes the leg, with an RST when reset (uv_tcp_close_reset, or SO_LINGER 0
 * where libuv refuses it after a shutdown); close_cb (may be NULL) gets the
 * handle, then the leg is freed. */
void leg_close(struct leg *l, bool reset, uv_close_cb close_cb);
/* The leg's write queue in bytes (a TCP leg's libuv queue; a channel's
 * bytes its peer has not taken in). */
size_t leg_queued(const struct leg *l);
/* uv_shutdown for the leg. */
int leg_shutdown(struct leg *l, uv_shutdown_t *req, uv_shutdown_cb cb);
/* The TCP connection under the leg (the leg's own, or a channel's shared
 * leg), or NULL. */
uv_tcp_t *leg_carrier(struct leg *l);
/* A channel of a shared leg, not a TCP connection of its own (false for
 * NULL: no leg). */
bool leg_is_channel(const struct leg *l);
/* uv_is_closing for the leg. */
bool leg_is_closing(const struct leg *l);
/* Writes len bytes to s: straight to the kernel when nothing is queued
 * (uv_try_write, as relay/stream.c does), and a copy of what it did not
 * take queued with uv_write; an error of uv_try_write other than
 * UV_EAGAIN is left to the queued write, so that it reaches cb. cb gets
 * the request (.data: data), which it frees (free(req)). buf is the
 * caller's again on return. 0 when written whole, 1 when a write was
 * queued, or a negative libuv error (nothing queued). */
int leg_write_or_queue(uv_stream_t *s, const uint8_t *buf, size_t len, uv_write_cb cb, void *data);
/* The RST close for any TCP handle: uv_tcp_close_reset, or SO_LINGER 0 and
 * uv_close for a handle libuv 1.44 refuses (one that was shut down). */
void leg_tcp_close_reset(uv_tcp_t *t, uv_close_cb close_cb);

#endif
