/* SPDX-License-Identifier: MIT */
/*
 * link — one configured link side inside linkagent: its control session
 * (session.c) with dial-out and backoff, its local listeners, its streams
 * (stream.c), and the "virtual cable" of the immediate policy.
 *
 * Ownership: the agent (agent.c) owns links; link_new starts one, link_close
 * stops it asynchronously (closing its control session, listeners and
 * streams) and frees it when its last handle is closed. A link owns its
 * current struct session and its streams; they call back into it through
 * the tables it gives them (struct session_ops, struct stream_ops), never
 * after link_close detached them. This module names nothing of the agent:
 * what it needs comes in struct link_env.
 */
#ifndef LR_AGENT_LINK_H
#define LR_AGENT_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "agentcfg.h"
#include "backoff.h"
#include "redirect.h"
#include "agent/stream.h"

struct session;

#define LINK_MAX_LISTEN AGENTCFG_MAX_ADDRS
#define LINK_MAX_ADDRS  (2 * AGENTCFG_MAX_ADDRS) /* configured + learned (ADDRS) */
#define LINK_CAUSE_MAX  512                      /* = SESSION_CAUSE_MAX */

struct link_listener {
    uv_tcp_t tcp;
    struct link *lk;
};

/* What the agent gives a link, read at link_new. */
struct link_env {
    uv_loop_t *loop;
    uint32_t keepalive_ms; /* the agent's own keepalive; 0: the relay's */
    uint32_t backoff_min_ms, backoff_max_ms;
    struct stream_env *streams; /* the agent's, outlives the link */
    /* The relay announced its next key (RELAY_KEY): the agent keeps it
     * (relaykeys.h); old_pub is the key the link pinned until now. */
    void (*relay_key_learned)(void *arg, const uint8_t old_pub[KEY_LEN], uint8_t id,
                              const uint8_t pub[KEY_LEN]);
    /* The link took the peer's new key pub, endorsed by old_pub, the key it
     * trusted until now (PEER_KEY, D21): the agent keeps it. */
    void (*peer_key_learned)(void *arg, const uint8_t old_pub[KEY_LEN], uint8_t side,
                             const uint8_t pub[KEY_LEN]);
    void *learned_arg;
};

struct link {
    uv_loop_t *loop;
    uint32_t keepalive_ms; /* the agent's own keepalive; 0: the relay's */
    struct link *next;     /* agent's list */
    struct agentcfg_link cfg;
    void (*relay_key_learned)(void *arg, const uint8_t old_pub[KEY_LEN], uint8_t id,
                              const uint8_t pub[KEY_LEN]);
    void (*peer_key_learned)(void *arg, const uint8_t old_pub[KEY_LEN], uint8_t side,
                             const uint8_t pub[KEY_LEN]);
    void *learned_arg;
    /* After link_rekey to a new key: the old key's endorsement of it for
     * the peer, sent to the relay (KEY_ENDORSE) on every session from then
     * on (D21). */
    struct msg_key endorse;
    bool has_endorse;
    int refs; /* open handles */
    bool closing;
    /* Control session, and the one it replaces while a new key takes over
     * (link_rekey: the old session serves until the new one is online). */
    struct session *session;
    struct session *retiring;
    uv_timer_t retry_timer;
    struct backoff bo;
    uint64_t online_since_ms;
    /* For the metrics (agentmetrics.c) and `linkagent status` (status.c):
     * control sessions that came up; the plaintext bytes of closed streams,
     * [0] sent to the peer and [1] delivered to the local socket (counted in
     * stream_ops.gone); streams spliced whose end-to-end handshake never
     * finished. */
    uint64_t sessions_up;
    uint64_t closed_bytes[2];
    uint64_t e2e_failures;
    uint64_t peer_keys_refused; /* PEER_KEYs without a valid endorsement */
    bool online, peer_online;
    bool moving;       /* re-dialling after GOING_AWAY: OPENs wait for the new session (D25) */
    uint64_t moved_ms; /* loop time of the last GOING_AWAY, 0: none */
    uint16_t max_streams;
    /* Relay addresses: configured ones first, then learned ones. */
    size_t n_learned;
    struct addr_spec learned[AGENTCFG_MAX_ADDRS];
    size_t addr_idx;
    struct redirect redir; /* REDIRECT's home addresses, dialled before the list (D34) */
    /* Local listeners. */
    size_t n_lsn;
    struct link_listener *lsn[LINK_MAX_LISTEN];
    /* Streams: the list, the relay's address and the leg timers they use. */
    struct stream_owner so;
    uint32_t next_req;
    /* Immediate policy. */
    struct stream *cable;
    uv_timer_t cable_timer;
    struct backoff cable_bo;
    uint64_t cable_since_ms;
    /* What `linkagent status` reads (agent/status.c); times are wall-clock
     * ms since the epoch. state_since: the session started, came up or went
     * down. The last failure: its cause as logged, the relay address. */
    uint64_t state_since_ms;
    bool revoked;             /* the last session ended with the link revoked */
    uint64_t sessions_failed; /* sessions_up is above, with the metrics' */
    uint64_t last_error_ms;
    char last_error[LINK_CAUSE_MAX];
    char last_error_relay[ADDR_TEXT_SIZE];
};

/*
 * Creates a link from its configuration (copied), binds its listeners and
 * starts dialling. Returns 0 and *out, or a negative libuv error (a listener
 * could not bind: the message names the address) with nothing left behind.
 */
int link_new(const struct link_env *env, const struct agentcfg_link *cfg, struct link **out);
/*
 * A reload changed only the link's keys or relays (a rotation, D21): takes
 * cfg (copied) and dials a new control session at once, keeping the current
 * one, if online, until the new one is online (make-before-break: the relay
 * replaces the old session without telling the peer it went offline). Open
 * streams carry on: their end-to-end sessions are keyed already; new streams
 * use the new key.
 */
void link_rekey(struct link *lk, const struct agentcfg_link *cfg);
/* Stops everything of the link; frees it once its handles are closed. Open
 * streams get RESET `shutdown` before their legs close (stream_abort). */
void link_close(struct link *lk);

#endif
