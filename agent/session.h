/* SPDX-License-Identifier: MIT */
/*
 * session — the agent side of one control connection (docs/protocol.md §4, §5,
 * §8, §11 "Control connection, agent side").
 *
 * One struct session per dial attempt: resolve, connect, preamble + Noise_XK
 * message 1, message 2, message 3 with AUTH, WELCOME, then PING/PONG and the
 * relay's messages. Every failure is logged once with its cause as §8 names
 * it ("relay key mismatch", "authentication refused", "link revoked", ...),
 * then the link is told (link_on_session_down) and the struct freed after its
 * handles closed.
 *
 * Ownership: the link owns its current session. session_close may be called at any
 * time and more than once; with detach, the link is not called back any more
 * (used when the link itself is closing).
 */
#ifndef LR_AGENT_SESSION_H
#define LR_AGENT_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "addr.h"
#include "buf.h"
#include "frame.h"
#include "noise.h"

struct link;

enum session_state {
    SESSION_RESOLVING,
    SESSION_CONNECTING,
    SESSION_WAIT_MSG2,
    SESSION_WAIT_WELCOME,
    SESSION_ONLINE,
    SESSION_CLOSING,
};

#define SESSION_IN_CAP (2 * (FRAME_HDR_LEN + FRAME_MAX_CONTROL))

struct session {
    struct link *lk; /* NULL once detached */
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    int refs; /* open handles and pending requests */
    bool tcp_inited, gai_pending;
    enum session_state state;
    char addr[ADDR_TEXT_SIZE]; /* "host:port" dialled, for logs */
    struct noise_hs hs;
    struct noise_cs tx, rx;
    struct bq in;
    uint8_t in_mem[SESSION_IN_CAP];
    uint64_t last_rx_ms, last_ping_ms;
    uint32_t keepalive_ms, dead_after_ms;
    uint64_t ping_nonce;
};

/* Starts a dial attempt to addr for the link. Returns NULL on allocation
 * failure (the caller retries later). */
struct session *session_start(struct link *lk, const struct addr_spec *addr);
/* Closes; the link gets link_on_session_down unless detach. Idempotent. */
void session_close(struct session *c, bool detach);
/* Sends OPEN; -ENOTCONN unless online. */
int session_send_open(struct session *c, uint32_t req_id);
bool session_online(const struct session *c);

#endif
