/* SPDX-License-Identifier: MIT */
/*
 * session — the agent side of one control connection (docs/protocol.md §4, §5,
 * §8, §11 "Control connection, agent side").
 *
 * One struct session per dial attempt: resolve, connect, preamble + Noise_XK
 * message 1, message 2, message 3 with AUTH, WELCOME, then PING/PONG and the
 * relay's messages. Every failure ends the session through one path, which
 * logs its cause once as §8 names it ("relay key mismatch", "authentication
 * refused", "link revoked", ...), closes the handles and tells the owner
 * (session_ops.on_down); the struct is freed after its handles closed.
 *
 * Ownership: the owner (a link, agent/link.c) owns its current session and
 * hears from it only through the struct session_ops it gave session_start;
 * this module names nothing of its owner. The owner's callbacks may be
 * called from any libuv callback of the session until it closed; none is
 * called after session_close. The struct session_conf and what it points to
 * must stay valid until session_close or on_down.
 */
#ifndef LR_AGENT_SESSION_H
#define LR_AGENT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "addr.h"
#include "agentcfg.h"
#include "buf.h"
#include "frame.h"
#include "msg.h"
#include "noise.h"

struct agentcfg_link;
struct msg_key;
struct msg_addrs;
struct msg_redirect;
struct msg_stream;
struct msg_stream_ack;
struct msg_welcome;

/*
 * The owner's callbacks (libuv's read_cb/close_cb, nghttp2's session
 * callbacks). The session is up (on_online) until on_down; the others come
 * only in between. A callback may call session_close.
 */
struct session_ops {
    /* Connected (before the handshake): the relay's address, where stream
     * legs go. */
    void (*on_connected)(void *owner, const struct sockaddr_storage *relay);
    /* WELCOME: the session is online; session.keepalive_ms and
     * .dead_after_ms hold the effective timers. */
    void (*on_online)(void *owner, const struct msg_welcome *w);
    void (*on_peer)(void *owner, bool online);
    void (*on_stream)(void *owner, const struct msg_stream *m);
    void (*on_open_fail)(void *owner, uint32_t req_id, int reason);
    void (*on_addrs)(void *owner, const struct msg_addrs *a);
    /* GOING_AWAY: the relay drains and stops within seconds (D25). */
    void (*on_going_away)(void *owner, unsigned seconds);
    /* PEER_KEY: the static key of the peer's live session and its
     * endorsement, if any; the owner decides whether to trust it (D21). */
    void (*on_peer_key)(void *owner, const struct msg_key *k);
    /* RELAY_KEY: the relay's next static key and its id (D21). */
    void (*on_relay_key)(void *owner, uint8_t id, const uint8_t key[KEY_LEN]);
    /* RESUMABLE: the relay pairs resumed legs (§7.3); RESUME may go now. */
    void (*on_resumable)(void *owner);
    /* RESUMED: a new leg for a suspended stream (§7.3). */
    void (*on_resumed)(void *owner, const struct msg_stream *m);
    /* REDIRECT: the link's home is another relay of a pool (D34); the
     * session ends right after (on_down). Optional, may be NULL. */
    void (*on_redirect)(void *owner, const struct msg_redirect *r);
    /* STREAM_ACK: the peer's ACK of a stream, passed on by the relay
     * (§7.3, D43; optional, may be NULL). */
    void (*on_stream_ack)(void *owner, const struct msg_stream_ack *a);
    /* PONG: the relay answered session_send_ping (optional, may be NULL). */
    void (*on_pong)(void *owner, uint64_t nonce);
    /* The session failed (its cause logged) and is closing; revoked selects
     * the owner's long backoff. The last callback. */
    void (*on_down)(void *owner, bool revoked);
};

/* What a session needs from its owner. */
struct session_conf {
    const char *name;                 /* the link's name, for log lines */
    const struct agentcfg_link *link; /* keys, link id, side, relay key id */
    uint32_t keepalive_ms;            /* the agent's own keepalive; 0: the relay's */
    bool resume;                      /* AUTH flags bit 0: offer resumption (§7.3) */
    /* Enrollment (AUTH flags bit 3, D30): the code's verifier; NULL otherwise. */
    const uint8_t *enroll_verifier;
};

enum session_state {
    SESSION_RESOLVING,
    SESSION_CONNECTING,
    SESSION_WAIT_MSG2,
    SESSION_WAIT_WELCOME,
    SESSION_ONLINE,
    SESSION_CLOSING,
};

#define SESSION_IN_CAP    (2 * (FRAME_HDR_LEN + FRAME_MAX_CONTROL))
#define SESSION_CAUSE_MAX 512

struct session {
    const struct session_ops *ops; /* NULL once closing: the owner hears nothing more */
    void *owner;
    struct session_conf conf;
    char name[AGENTCFG_NAME_MAX + 1]; /* the link's name: log lines after closing */
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
    /* Why the session failed, as logged (truncated), set before on_down:
     * the owner may copy it there (`linkagent status`). "" otherwise. */
    char cause[SESSION_CAUSE_MAX];
    bool resumable; /* RESUMABLE came: RESUME may be sent */
    /* CLOSE source_not_allowed came (D27): on_down's revoked is true (the
     * long backoff), and this says it was the source address, not a revoke. */
    bool source_refused;
    int close_reason; /* the relay's CLOSE reason, 0 if none came */
};

/* Starts a dial attempt to addr. Returns NULL if it could not start (out of
 * memory, or the name cannot be resolved: logged), without a callback; the
 * caller retries later. */
struct session *session_start(uv_loop_t *loop, const struct session_conf *conf,
                              const struct session_ops *ops, void *owner,
                              const struct addr_spec *addr);
/* The owner closes the session (the link is closing): quietly, with no
 * callback any more. Idempotent; the struct is freed once its handles closed. */
void session_close(struct session *c);
/* Gives the session another owner table (the link keeps a session it is
 * replacing, make-before-break, D21). No effect once closing. */
void session_set_ops(struct session *c, const struct session_ops *ops, void *owner);
/* Sends OPEN; -ENOTCONN unless online. */
int session_send_open(struct session *c, uint32_t req_id);
/* PING with nonce: the relay answers PONG after everything sent before it
 * (on_pong). -ENOTCONN unless online. */
int session_send_ping(struct session *c, uint64_t nonce);
/* KEY_ENDORSE: k->by endorses k->key (D21). -ENOTCONN unless online. */
int session_send_endorse(struct session *c, const struct msg_key *k);

/* Sends STREAM_ACK (D43); -ENOTCONN unless online with AUTH flags bit 5. */
int session_send_stream_ack(struct session *c, const struct msg_stream_ack *a);
/* Sends RESUME (§7.3); -ENOTCONN unless online and the relay said RESUMABLE. */
int session_send_resume(struct session *c, uint32_t req_id, const uint8_t id[MSG_RESUME_ID_LEN]);
int session_send_leg_lost(struct session *c, uint64_t stream_id,
                          const uint8_t ticket[MSG_TICKET_LEN]);
bool session_online(const struct session *c);

#endif
