/* SPDX-License-Identifier: MIT */
/*
 * relay — the linkrelay daemon's context and its lifetime: configuration,
 * keys, listeners, the connection list, the ticket table, limits, the link
 * index, accounting and the admin socket, all on one libuv loop.
 *
 * One struct relay per process (no global state besides the log sink). It is
 * the top of relay/: it calls down into admin, conn, session, stream and the
 * leaves, and nothing below calls it or sees struct relay; each module gets
 * its own context (struct conn_ctx, session_ctx, stream_ctx, zerocopy_ctx,
 * stats) embedded here and wired up by relay_start. See
 * docs/internals/relay.md.
 */
#ifndef LR_RELAY_H
#define LR_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "admit.h"
#include "conn.h"
#include "history.h"
#include "holdcap.h"
#include "relaycfg.h"
#include "relaykey.h"
#include "sdnotify.h"
#include "relay/session.h"
#include "selfcheck.h"
#include "shape.h"
#include "stats.h"
#include "relay/stream.h"
#include "zerocopy.h"

struct index;
struct acct;
struct prune;
struct admin;
struct metrics;
struct sync;
struct ticket_table;
struct rconf_cli;

#define RELAY_MAX_LISTENERS (RELAYCFG_MAX_ADDRS * 2)

struct relay_listener {
    uv_tcp_t tcp;
    struct relay *r;
    char name[ADDR_TEXT_SIZE]; /* bound address, port resolved */
};

struct relay {
    uv_loop_t *loop;
    bool stopping;
    /* Draining (D25): listeners closed, GOING_AWAY sent, streams spliced on
     * until they end or drain_deadline_ms; then relay_stop. */
    bool draining;
    bool listeners_closed;
    bool handing_over;      /* sockets given to a successor that is not ready yet */
    bool has_takeover_conn; /* --takeover: the connection to the predecessor */
    bool activated;         /* the listening sockets came from systemd (D26) */
    bool handoff;           /* SIGTERM when activated: a drain that ends once no
                               accepted connection is arriving (D26) */
    int takeover_conn;
    uint64_t drain_deadline_ms;
    uv_timer_t drain_timer;

    /* Configuration and identity. */
    struct relaycfg cfg;
    char config_path[RELAYCFG_PATH_MAX]; /* "" when no config file */
    char ready_file[RELAYCFG_PATH_MAX];  /* "" or where to write bound addresses */
    struct rconf_cli *cli;               /* how to rebuild the configuration on SIGHUP */
    struct relaykey key;
    char key_pub_text[80]; /* lrpub1 text of the current key */
    uint32_t max_conns;    /* effective (cfg or fd limit - 64 - zc.reserved * 4) */

    struct relay_listener listener[RELAY_MAX_LISTENERS];
    size_t n_listeners;

    /* The modules' shared state, each handed to its module by pointer (the
     * modules below never see struct relay). */
    struct stats stats;
    struct admit admit;
    struct conn_ctx conn;       /* connections: list, ids, owners by kind */
    struct session_ctx session; /* control sessions */
    struct stream_ctx stream;   /* streams: ids, the shared read buffer */
    struct zerocopy_ctx zc;     /* zero-copy slots */
    struct shape shape;         /* bandwidth limits (D28) */
    struct holdcap hold;        /* the relay-wide cap on held bytes (D40) */
    struct selfcheck selfcheck; /* the advertised addresses reach this relay (D35) */
    struct ticket_table *tickets;
    struct index *index;
    struct acct *acct;
    struct prune *prune; /* retention (D31) */
    struct admin *admin;
    struct metrics *metrics; /* NULL unless metrics_listen */
    struct history history;  /* the status page's last hour (D22) */
    struct sync *sync;
    struct pool *pool; /* NULL unless [pool] member_id is set (D34) */

    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t tick;    /* housekeeping, once a second */
    struct sdnotify sd; /* systemd: READY, STATUS, watchdog (D20) */
    uint64_t start_ms;
};

/*
 * Starts everything on loop: loads the key, opens the database, binds the
 * listeners and the admin socket, installs signal handlers, then tells
 * systemd READY=1 (under systemd). cfg is copied. Returns 0, or a negative
 * errno after logging why (nothing left open).
 */
int relay_start(struct relay *r, uv_loop_t *loop, const struct relaycfg *cfg, struct rconf_cli *cli,
                const char *config_path, const char *ready_file);
/* Begins a clean shutdown: tells systemd STOPPING=1, stops listening, resets
 * streams, sends CLOSE shutdown to control sessions, flushes accounting; the
 * loop then ends. */
void relay_stop(struct relay *r);
/* Begins a drain (D25): tells systemd STOPPING=1, stops listening, sends
 * GOING_AWAY to every control session and keeps splicing the streams; stops
 * (relay_stop) once no stream is left or after timeout_ms (0: at the next
 * loop iteration, without GOING_AWAY). 0, or -EALREADY when the relay
 * already drains or stops. */
int relay_drain(struct relay *r, uint32_t timeout_ms);
/* Milliseconds until the drain ends (0 when not draining). */
uint64_t relay_drain_left(const struct relay *r);
/* After uv_run returned: final flush and release of what is not a handle. */
void relay_done(struct relay *r);

/* Applies a new configuration (SIGHUP): limits and timers; listeners and paths
 * need a restart (a warning says so). */
void relay_apply_config(struct relay *r, const struct relaycfg *cfg);

#endif
