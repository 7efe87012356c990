/* SPDX-License-Identifier: MIT */
/*
 * relay — the linkrelay daemon's context and its lifetime: configuration,
 * keys, listeners, the connection list, the ticket table, limits, the link
 * index, accounting and the admin socket, all on one libuv loop.
 *
 * One struct relay per process (no global state besides the log sink). Every
 * module takes it as its context. See docs/internals/relay.md.
 */
#ifndef LR_RELAY_H
#define LR_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "admit.h"
#include "logagg.h"
#include "relaycfg.h"
#include "relaykey.h"

struct conn;
struct index;
struct acct;
struct admin;
struct sync;
struct ticket_table;
struct rconf_cli;

/* Why a connection was refused before authentication or pairing (§8): all
 * look the same from outside, each is counted and logged (aggregated). */
enum relay_fail {
    RELAY_FAIL_PREAMBLE = 0,   /* bad magic, version, kind or reserved byte */
    RELAY_FAIL_KEY_ID,         /* control preamble names an unknown relay key id */
    RELAY_FAIL_HANDSHAKE,      /* a handshake message did not decrypt or was malformed */
    RELAY_FAIL_AUTH,           /* AUTH payload did not decode */
    RELAY_FAIL_UNKNOWN_LINK,   /* AUTH names no link */
    RELAY_FAIL_BAD_KEY,        /* static key is not that side's current or next key */
    RELAY_FAIL_TICKET,         /* unknown or already used ticket */
    RELAY_FAIL_TICKET_EXPIRED, /* ticket presented after expiry */
    RELAY_FAIL_TIMEOUT,        /* handshake_timeout */
    RELAY_FAIL_PREAUTH_BYTES,  /* more than preauth_bytes before authentication */
    RELAY_FAIL_EOF,            /* the peer closed before finishing */
    RELAY_FAIL_LIMIT,          /* refused by an admission limit */
    RELAY_FAIL_COUNT
};
const char *relay_fail_name(enum relay_fail f);

struct relay_stats {
    uint64_t streams_total;
    uint64_t bytes[2]; /* [0] a→b, [1] b→a, of closed and open streams */
    uint64_t auth_failures;
    uint64_t fail[RELAY_FAIL_COUNT];
    uint32_t agents;       /* control sessions up */
    uint32_t streams_open; /* streams pending or spliced */
    uint64_t zc_total;     /* streams ever moved to zero-copy forwarding */
    /* Bytes read from one stream leg and held for the other: copies in write
     * requests the kernel did not take (conn_send, freed by conn_send_done),
     * and bytes in zero-copy pipes (stream.c). Now and the most at once since
     * start; status reports them (docs/internals/relay.md). */
    uint64_t queued, queued_peak;
    uint64_t zc_queued, zc_queued_peak;
};

/* Pre-auth failures of the current aggregation window, one per cause and
 * source address: logged and written to the event log once per window. */
#define RELAY_FAIL_WINDOW_MS 10000
#define RELAY_FAIL_SLOTS     64
struct relay_failagg {
    enum relay_fail why;
    char addr[48]; /* source address without port */
    uint32_t count;
};

/* Size of relay.splice_rbuf; a read is also capped by splice_buffer. */
#define RELAY_SPLICE_RBUF (256u * 1024u)

#define RELAY_MAX_LISTENERS (RELAYCFG_MAX_ADDRS * 2)

struct relay_listener {
    uv_tcp_t tcp;
    struct relay *r;
    char name[ADDR_TEXT_SIZE]; /* bound address, port resolved */
};

struct relay {
    uv_loop_t *loop;
    struct relaycfg cfg;
    char config_path[RELAYCFG_PATH_MAX]; /* "" when no config file */
    char ready_file[RELAYCFG_PATH_MAX];  /* "" or where to write bound addresses */
    struct rconf_cli *cli;               /* how to rebuild the configuration on SIGHUP */
    struct relaykey key;
    char key_pub_text[80]; /* lrpub1 text of the current key */
    uint32_t max_conns;    /* effective (cfg or fd limit - 64 - zc_reserved * 4) */
    uint32_t zc_reserved;  /* zero-copy streams whose pipe fds are reserved */
    uint32_t zc_max;       /* zero_copy_streams in effect (<= zc_reserved) */
    uint32_t zc_streams;   /* streams forwarding with splice(2) now */
    bool zc_small_logged;  /* warned once that pipes come out small or not at all */

    struct relay_listener listener[RELAY_MAX_LISTENERS];
    size_t n_listeners;

    struct conn *conns; /* every open connection (list through conn.prev/next) */
    struct ticket_table *tickets;
    struct admit admit;
    struct index *index;
    struct acct *acct;
    struct admin *admin;
    struct sync *sync;
    /* The one read buffer of every spliced leg: libuv calls a handle's
     * alloc_cb and read_cb back to back on this single thread, and the read
     * callback is done with the bytes (written or copied) before it returns. */
    uint8_t *splice_rbuf;

    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t tick; /* housekeeping, once a second */
    uint64_t next_conn_id;
    uint64_t next_stream_id;
    uint64_t start_ms;
    struct relay_stats st;
    struct relay_failagg fails[RELAY_FAIL_SLOTS];
    size_t n_fails;
    uint64_t fail_window_ms; /* start of the aggregation window */
    uint64_t fails_other;    /* failures that found no free slot this window */
    struct logagg refusals;  /* refusals after authentication (relay_log_refusal) */
    bool stopping;
};

/* Wall-clock milliseconds since the epoch (for accounting rows). */
uint64_t relay_wall_ms(void);
/* The loop's monotonic milliseconds. */
uint64_t relay_now(const struct relay *r);

/*
 * Starts everything on loop: loads the key, opens the database, binds the
 * listeners and the admin socket, installs signal handlers. cfg is copied.
 * Returns 0, or a negative errno after logging why (nothing left open).
 */
int relay_start(struct relay *r, uv_loop_t *loop, const struct relaycfg *cfg, struct rconf_cli *cli,
                const char *config_path, const char *ready_file);
/* Begins a clean shutdown: stops listening, resets streams, sends CLOSE
 * shutdown to control sessions, flushes accounting; the loop then ends. */
void relay_stop(struct relay *r);
/* After uv_run returned: final flush and release of what is not a handle. */
void relay_done(struct relay *r);

/* Records a pre-authentication failure from addr (counted, logged aggregated). */
void relay_count_fail(struct relay *r, enum relay_fail f, const char *addr);
/* Logs a refusal of an authenticated agent's request (an OPEN over a per-link
 * limit), aggregated by common/logagg: the first line of a text is said at
 * once (info), the rest of its LOGAGG_WINDOW_MS (10 s) window as one summary
 * with their count (warn) when the window ends, or at relay_stop. The text is
 * the aggregation key, so it must not carry what varies per request (req_id,
 * side). */
void relay_log_refusal(struct relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Applies a new configuration (SIGHUP): limits and timers; listeners and paths
 * need a restart (a warning says so). */
void relay_apply_config(struct relay *r, const struct relaycfg *cfg);

#endif
