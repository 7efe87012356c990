/* SPDX-License-Identifier: MIT */
/*
 * stats — the relay's counters (status on the admin socket) and the
 * aggregated log of refusals: pre-authentication failures per cause and
 * source address (docs/protocol.md §8), and refusals of an authenticated
 * agent's requests (common/logagg).
 *
 * A leaf: it calls nothing of the relay's other modules back, only the log
 * and the accounting queue (acct_event, for the auth_fail rows). struct stats
 * is embedded by its owner (struct relay) and handed by pointer to every
 * module that counts; nothing here closes a connection. Times are the loop's
 * monotonic milliseconds, passed in by the caller.
 */
#ifndef LR_STATS_H
#define LR_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logagg.h"
#include "store.h"

struct acct;

/* Why a connection was refused before authentication or pairing (§8): all
 * look the same from outside, each is counted and logged (aggregated). */
enum stats_fail {
    STATS_FAIL_PREAMBLE = 0,   /* bad magic, version, kind or reserved byte */
    STATS_FAIL_KEY_ID,         /* control preamble names an unknown relay key id */
    STATS_FAIL_HANDSHAKE,      /* a handshake message did not decrypt or was malformed */
    STATS_FAIL_AUTH,           /* AUTH payload did not decode */
    STATS_FAIL_UNKNOWN_LINK,   /* AUTH names no link */
    STATS_FAIL_BAD_KEY,        /* static key is not that side's current or next key */
    STATS_FAIL_TICKET,         /* unknown or already used ticket */
    STATS_FAIL_TICKET_EXPIRED, /* ticket presented after expiry */
    STATS_FAIL_TIMEOUT,        /* handshake_timeout */
    STATS_FAIL_PREAUTH_BYTES,  /* more than preauth_bytes before authentication */
    STATS_FAIL_EOF,            /* the peer closed before finishing */
    STATS_FAIL_LIMIT,          /* refused by an admission limit */
    STATS_FAIL_SOURCE,         /* the link side's allowlist does not allow the source (D27) */
    STATS_FAIL_COUNT
};
/* Static name of a cause for logs, events and status ("closed_early"). */
const char *stats_fail_name(enum stats_fail f);

/* Pre-auth failures of the current aggregation window, one per cause and
 * source address: logged and written to the event log once per window. */
#define STATS_FAIL_WINDOW_MS 10000
#define STATS_FAIL_SLOTS     64
struct stats_failagg {
    enum stats_fail why;
    char addr[48]; /* source address without port */
    uint32_t count;
};

struct stats {
    uint64_t streams_total;                     /* spliced */
    uint64_t streams_opened[2];                 /* made (pending), by the side that asked */
    uint64_t streams_closed[STORE_CAUSE_COUNT]; /* by enum store_cause (registry/store.h) */
    uint64_t quota_refused;                     /* OPENs refused: quota_exceeded (D29) */
    uint64_t quota_resets; /* links that went past their quota, streams reset */
    uint64_t bytes[2];     /* [0] a→b, [1] b→a, of closed and open streams */
    uint64_t auth_failures;
    uint64_t fail[STATS_FAIL_COUNT];
    uint64_t enroll[4];    /* enrollments by enum enrollgate_result (D30) */
    uint32_t agents;       /* control sessions up */
    uint32_t streams_open; /* streams pending or spliced */
    uint64_t zc_total;     /* streams ever moved to zero-copy forwarding */
    /* RESUME (§7.3): asked (a pending stream made for it), its two legs
     * spliced, or a leg that never came (the ticket expired). */
    uint64_t resume_asked, resume_paired, resume_unmatched;
    uint64_t leg_lost[2]; /* LEG_LOST (§7.3): [0] named no stream, [1] ended one */
    /* STREAM_ACK (D43): [0] dropped (the other side offline or without AUTH
     * flags bit 5, or the sender without it), [1] passed on */
    uint64_t stream_acks[2];
    /* Bytes read from one stream leg and held for the other: copies in write
     * requests the kernel did not take (conn_send, freed by conn_send_done),
     * and bytes in zero-copy pipes (zerocopy.c). Now and the most at once
     * since start; status reports them (docs/internals/relay.md). */
    uint64_t queued, queued_peak;
    uint64_t zc_queued, zc_queued_peak;

    /* The aggregation of pre-auth failures and of refusals. */
    struct acct *acct; /* where each window's auth_fail events go */
    struct stats_failagg fails[STATS_FAIL_SLOTS];
    size_t n_fails;
    uint64_t fail_window_ms; /* start of the aggregation window */
    uint64_t fails_other;    /* failures that found no free slot this window */
    struct logagg refusals;  /* refusals after authentication (stats_log_refusal) */
};

/* Zeroes st; the first failure window starts at now_ms. acct may be set
 * later (st->acct), before the first stats_tick. */
void stats_init(struct stats *st, uint64_t now_ms);
/* Adds n to a held-bytes count (queued or zc_queued) and its peak. */
void stats_hold(uint64_t *count, uint64_t *peak, uint64_t n);
/* Records a pre-authentication failure from peer ("addr:port"): counted,
 * the first of its cause and address in a window logged at once, the rest
 * summed up when the window ends. */
void stats_count_fail(struct stats *st, enum stats_fail f, const char *peer);
/* Logs a refusal of an authenticated agent's request (an OPEN over a per-link
 * limit), aggregated by common/logagg: the first line of a text is said at
 * once (info), the rest of its LOGAGG_WINDOW_MS (10 s) window as one summary
 * with their count (warn) when the window ends, or at stats_flush. The text is
 * the aggregation key, so it must not carry what varies per request (req_id,
 * side). */
void stats_log_refusal(struct stats *st, uint64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The once-a-second housekeeping: ends the windows that are over. */
void stats_tick(struct stats *st, uint64_t now_ms);
/* Ends every window now (relay stop): nothing counted is left unsaid. */
void stats_flush(struct stats *st, uint64_t now_ms);

#endif
