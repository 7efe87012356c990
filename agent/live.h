/* SPDX-License-Identifier: MIT */
/*
 * live — liveness of a TCP leg whose path may silently die (a NAT router
 * that forgot its mapping drops every later packet of the connection), as
 * pure arithmetic: the agent (and the relay) set the socket options and read
 * TCP_INFO; this module decides. docs/internals/agent.md "Stream leg
 * liveness" says why it is built this way.
 *
 * Two checks cover the two ways a leg can sit on a dead path:
 *
 *  - Idle (nothing to send): TCP keepalive. live_keepalive() derives
 *    TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT from the session's keepalive and
 *    dead_after so the kernel gives up at about dead_after. The probes also
 *    keep a NAT mapping of an idle leg warm, like PING does for the control
 *    connection.
 *  - Data outstanding: the kernel's keepalive does not probe while data is
 *    in flight, and retransmissions go on for ~15 minutes. live_ack_dead()
 *    declares the leg dead when data stayed unacknowledged with no ACK at
 *    all for dead_after. A peer that is alive but advertises a zero window
 *    (backpressure) answers the window probes, so its ACK age stays small and
 *    it is never mistaken for a dead path — which is why TCP_USER_TIMEOUT
 *    (which aborts a zero-window connection too) is not used.
 */
#ifndef LR_LIVE_H
#define LR_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#define LIVE_KA_PROBES     4u     /* keepalive probes after the idle time, at most */
#define LIVE_KA_MAX_S      32767u /* Linux's limit for TCP_KEEPIDLE and TCP_KEEPINTVL */
#define LIVE_PERIOD_MIN_MS 250u
#define LIVE_PERIOD_MAX_MS 5000u

struct live_keepalive {
    uint32_t idle_s;  /* TCP_KEEPIDLE: the session's keepalive, >= 1 */
    uint32_t intvl_s; /* TCP_KEEPINTVL, >= 1 */
    uint32_t cnt;     /* TCP_KEEPCNT, 1..LIVE_KA_PROBES */
};

/*
 * Keepalive parameters from the session's keepalive and dead_after (ms).
 * idle = keepalive (whole seconds, at least 1); the probes share what is
 * left until dead_after, so idle + intvl * cnt <= dead_after whenever
 * dead_after exceeds idle by a second or more; otherwise one probe 1 s after
 * idle. 0 for either input counts as 1 s.
 */
void live_keepalive(uint32_t keepalive_ms, uint32_t dead_ms, struct live_keepalive *out);

/* How often to run live_ack_dead(): dead_after / 4, within
 * LIVE_PERIOD_MIN_MS..LIVE_PERIOD_MAX_MS. A dead leg is found within
 * dead_after plus one period. */
uint32_t live_period_ms(uint32_t dead_ms);

/* Per-leg state of the ACK check; zero-initialise. */
struct live_ack {
    bool outstanding;  /* unacknowledged data at the last observation */
    uint64_t since_ms; /* first observation of the current outstanding spell */
};

/*
 * One observation of a leg at now_ms (a monotonic clock): unacked is
 * TCP_INFO's tcpi_unacked (segments in flight), ack_age_ms its
 * tcpi_last_ack_recv (ms since any ACK arrived). Returns true when data has
 * been outstanding, with no ACK, for at least dead_ms: the outstanding time
 * is counted from this module's first observation of it, so a leg that was
 * idle (no ACK for long, nothing to acknowledge) and has just sent is not
 * judged by its idle time.
 */
bool live_ack_dead(struct live_ack *a, uint64_t now_ms, uint32_t unacked, uint32_t ack_age_ms,
                   uint32_t dead_ms);

#endif
