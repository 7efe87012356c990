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

#include <uv.h>

struct leg {
    uv_tcp_t tcp; /* first: a handle of a leg is the leg; .data: its holder */
    uv_alloc_cb alloc_cb;
    uv_read_cb read_cb;
    uv_close_cb close_cb;
    bool reading; /* libuv reads it for us (it stops at an EOF or an error) */
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
/* The RST close for any TCP handle: uv_tcp_close_reset, or SO_LINGER 0 and
 * uv_close for a handle libuv 1.44 refuses (one that was shut down). */
void leg_tcp_close_reset(uv_tcp_t *t, uv_close_cb close_cb);

#endif
