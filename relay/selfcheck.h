/* SPDX-License-Identifier: MIT */
/*
 * selfcheck — the advertised-address self-check (docs/design.md D35): on
 * start and every advertise_check_interval, each advertised address is
 * dialled on the loop and the control handshake is run to message 2, which
 * only the holder of this relay's current static private key can produce
 * (docs/protocol.md §4.1: Noise XK, the initiator knows the responder's key).
 * Then the probe closes. Each address keeps its last result, when it was
 * checked and when it last passed; a change of result is logged once.
 *
 * The probe's own message 1 is recognised by the relay's session code
 * (selfcheck_answered): the relay answers message 2 and closes the
 * connection itself, quietly, so its checks are not counted or logged as
 * pre-authentication failures.
 *
 * struct selfcheck is embedded by its owner (struct relay). It owns one
 * timer and the probes in flight (each with its own handles, freed in their
 * close callbacks); selfcheck_stop closes all of them, after which the loop
 * can end. Nothing here calls the relay's other modules but conn_close (on
 * the relay's side of a probe) and the log.
 */
#ifndef LR_RELAY_SELFCHECK_H
#define LR_RELAY_SELFCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "addr.h"
#include "relaycfg.h"
#include "relaykey.h"

struct conn;
struct selfcheck_probe;

/* An address's last result. NONE: no check has finished since the address
 * was configured (or checks are off). */
enum selfcheck_result {
    SELFCHECK_NONE = 0,
    SELFCHECK_OK,        /* a valid message 2: the far end holds this relay's key */
    SELFCHECK_REFUSED,   /* connect() refused */
    SELFCHECK_TIMEOUT,   /* no valid message 2 within advertise_check_timeout */
    SELFCHECK_WRONG_KEY, /* connected, but the far end closed or answered without the key */
    SELFCHECK_ERROR,     /* anything else: unreachable, name not resolved, local errors */
    SELFCHECK_COUNT
};
/* "none", "ok", "refused", "timeout", "wrong_key", "error". */
const char *selfcheck_result_name(int r);

struct selfcheck_addr {
    struct addr_spec addr;
    char text[ADDR_TEXT_SIZE]; /* addr as host:port */
    enum selfcheck_result state;
    char detail[96];        /* the last result in words ("" when ok) */
    uint64_t last_check_ms; /* wall clock of the last finished check; 0: never */
    uint64_t last_ok_ms;    /* wall clock of the last check that passed; 0: never */
    uint64_t since_ms;      /* wall clock state has held since; 0: never checked */
};

struct selfcheck {
    uv_loop_t *loop;
    const struct relaykey *key; /* the key a probe must see proven (current) */
    uint32_t interval_ms;       /* 0: checks off */
    uint32_t timeout_ms;
    size_t n;
    struct selfcheck_addr addr[RELAYCFG_MAX_ADDRS];
    uv_timer_t timer; /* the next round */
    bool running;     /* started and not stopped: timer open */
    uint64_t gen;     /* bumped when the list changes: older probes' results are dropped */
    struct selfcheck_probe *probes; /* in flight */
    size_t in_flight;
    size_t lookups;                   /* name lookups running: at most one (selfcheck.c) */
    bool was_usable;                  /* selfcheck_usable at the last change, for its log line */
    uint64_t checks[SELFCHECK_COUNT]; /* finished checks by result (NONE unused) */
    uint64_t answered;                /* probes this relay's sessions recognised and answered */
    bool pool; /* a pool member (D34): every member holds this key, so an answer
                * from another process is another member's (D44) */
};

/* Copies the advertise list and the two durations from cfg into sc; no I/O.
 * key stays borrowed until the loop ends. */
void selfcheck_init(struct selfcheck *sc, uv_loop_t *loop, const struct relaykey *key,
                    const struct relaycfg *cfg);
/* Starts the checks (the listeners must be up): the first round at the next
 * turn of the loop, unless the interval is 0 or no address is advertised. */
void selfcheck_start(struct selfcheck *sc);
/* A new configuration (SIGHUP): a changed advertise list starts a round at
 * once (addresses kept keep their results); a changed interval or timeout
 * applies from the next round. */
void selfcheck_configure(struct selfcheck *sc, const struct relaycfg *cfg);
/* Stops checking: closes the timer and every probe in flight (their results
 * are dropped). Idempotent; the results stay readable. */
void selfcheck_stop(struct selfcheck *sc);

/* Whether the relay may take links as far as its addresses go: true when at
 * least one advertised address passed its last check, or has not finished a
 * check yet (start-up, a new address), and when no address is advertised or
 * checks are off. False only when every advertised address failed its last
 * check. */
bool selfcheck_usable(const struct selfcheck *sc);

/* The addresses that failed their last check, for the pool's heartbeat row
 * (D34): "host:port=reason" separated by single spaces, reason one of
 * refused, timeout, wrong_key, other_member (a wrong_key answered by another
 * member of the pool, D44), error; "" when none failed (none checked yet,
 * all passed, checks off). The whole list fits SELFCHECK_FAILING_SIZE; a
 * smaller cap keeps the entries that fit whole. */
#define SELFCHECK_FAILING_SIZE (RELAYCFG_MAX_ADDRS * (ADDR_TEXT_SIZE + sizeof("=other_member")))
void selfcheck_failing(const struct selfcheck *sc, char *out, size_t cap);

/* The relay's side of a probe (session.c, after message 2 is written): when
 * e, the ephemeral key of message 1, is that of a probe in flight not yet
 * answered, the connection is closed once message 2 is flushed, with a debug
 * line only. Each probe is recognised once. May close c. */
void selfcheck_answered(struct selfcheck *sc, struct conn *c, const uint8_t e[32]);

/* The status object (admin `status` "advertise_check"), a new reference;
 * NULL when out of memory. */
json_t *selfcheck_json(const struct selfcheck *sc);

#endif
