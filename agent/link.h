/* SPDX-License-Identifier: MIT */
/*
 * link — one configured link side inside linkagent: its control session
 * (session.c) with dial-out and backoff, its local listeners, its streams
 * (stream.c), and the "virtual cable" of the immediate policy.
 *
 * Ownership: the agent (agent.c) owns links; link_new starts one, link_close
 * stops it asynchronously (closing its control session, listeners and
 * streams) and frees it when its last handle is closed. A link owns its
 * current struct session and its streams; they call back into it through the
 * link_on_* functions below, and never after they were detached by
 * link_close.
 */
#ifndef LR_AGENT_LINK_H
#define LR_AGENT_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "agentcfg.h"
#include "backoff.h"
#include "msg.h"

struct agent;
struct session;
struct stream;

#define LINK_MAX_LISTEN AGENTCFG_MAX_ADDRS
#define LINK_MAX_ADDRS  (2 * AGENTCFG_MAX_ADDRS) /* configured + learned (ADDRS) */

struct link_listener {
    uv_tcp_t tcp;
    struct link *lk;
};

struct link {
    struct agent *ag;
    uv_loop_t *loop;
    uint32_t keepalive_ms; /* the agent's own keepalive; 0: the relay's */
    struct link *next;     /* agent's list */
    struct agentcfg_link cfg;
    uint8_t own_pub[KEY_LEN];
    int refs; /* open handles */
    bool closing;
    /* Control session. */
    struct session *session;
    uv_timer_t retry_timer;
    struct backoff bo;
    uint64_t online_since_ms;
    bool online, peer_online;
    uint16_t max_streams;
    uint32_t leg_keepalive_ms, leg_dead_ms; /* the session's timers, for stream legs */
    struct sockaddr_storage relay_sa;       /* where the control session is connected */
    /* Relay addresses: configured ones first, then learned ones. */
    size_t n_learned;
    struct addr_spec learned[AGENTCFG_MAX_ADDRS];
    size_t addr_idx;
    /* Local listeners. */
    size_t n_lsn;
    struct link_listener *lsn[LINK_MAX_LISTEN];
    /* Streams. */
    struct stream *streams;
    size_t n_streams;
    uint32_t n_held; /* local connections held after OPEN_FAIL rate_limited (stream.c) */
    uint32_t next_req;
    /* Immediate policy. */
    struct stream *cable;
    uv_timer_t cable_timer;
    struct backoff cable_bo;
    uint64_t cable_since_ms;
};

/*
 * Creates a link from its configuration (copied), binds its listeners and
 * starts dialling. Returns 0 and *out, or a negative libuv error (a listener
 * could not bind: the message names the address) with nothing left behind.
 */
int link_new(struct agent *ag, const struct agentcfg_link *cfg, struct link **out);
/* Stops everything of the link; frees it once its handles are closed. With
 * graceful, open streams get RESET `shutdown` before their legs close. */
void link_close(struct link *lk);

/* Callbacks of the control session. */
void link_on_online(struct link *lk, const struct msg_welcome *w);
void link_on_peer(struct link *lk, bool online);
void link_on_stream(struct link *lk, const struct msg_stream *m);
void link_on_open_fail(struct link *lk, uint32_t req_id, int reason);
void link_on_addrs(struct link *lk, const struct msg_addrs *a);
/* The control session is gone (it is being freed). revoked selects the long
 * backoff. */
void link_on_session_down(struct link *lk, bool revoked);

/* Callbacks of streams. */
/* A new request id (non-zero) and an OPEN for it; -ENOTCONN if the control
 * session is not up. */
int link_send_open(struct link *lk, uint32_t *req_id);
void link_stream_add(struct link *lk, struct stream *st);
/* The stream is closing: unlinks it (and re-arms the cable if it was one). */
void link_stream_gone(struct link *lk, struct stream *st);

/* For log lines: the link's name. */
const char *link_name(const struct link *lk);

#endif
