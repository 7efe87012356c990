/* SPDX-License-Identifier: MIT */
/*
 * sdnotify — what a daemon tells its service manager (systemd, Type=notify)
 * through libsystemd's sd_notify: READY=1 once it serves, STATUS= one line of
 * state, WATCHDOG=1 from a timer on the daemon's own loop, RELOADING=1 and
 * READY=1 around a reload, STOPPING=1 when shutdown begins
 * (docs/design.md D20).
 *
 * Without $NOTIFY_SOCKET (not started by systemd) every call does nothing
 * and no handle is opened. With it, sdnotify_init opens two timers on the
 * loop, both unreferenced (they never keep the loop alive):
 *   - the status tick, once a second: asks the owner for its status line
 *     (struct sdnotify_ops) and sends STATUS= when the line changed;
 *   - the watchdog tick, when $WATCHDOG_USEC is set for this process
 *     (sd_watchdog_enabled): WATCHDOG=1 every half of that interval. It runs
 *     on the loop, so a loop that is stuck stops the pings and systemd
 *     restarts the daemon.
 *
 * Ownership: the owner embeds struct sdnotify (zeroed), and calls
 * sdnotify_close before the loop's last run; the status callback is not
 * called after that. Nothing here closes anything of the owner's. A failed
 * send is logged once; the daemon goes on.
 */
#ifndef LR_SDNOTIFY_H
#define LR_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define SDNOTIFY_STATUS_MAX       256  /* one STATUS= line, with its NUL */
#define SDNOTIFY_STATUS_PERIOD_MS 1000 /* how often the status line is compared */

struct sdnotify_ops {
    /* Writes one line of state (no newline) into buf, NUL-terminated. */
    void (*status)(void *arg, char *buf, size_t len);
};

struct sdnotify {
    uv_loop_t *loop;
    const struct sdnotify_ops *ops;
    void *arg;
    bool on;        /* $NOTIFY_SOCKET was set at sdnotify_init */
    bool stopping;  /* STOPPING=1 sent: no more READY=1 */
    bool warned;    /* a failed send was logged */
    uint64_t wd_ms; /* watchdog ping period (half of $WATCHDOG_USEC), 0: none */
    uv_timer_t status_timer, wd_timer;
    bool status_timer_on, wd_timer_on;
    char last[SDNOTIFY_STATUS_MAX]; /* the STATUS= last sent */
};

/* Reads the environment and starts the timers (see above). ops and arg
 * outlive sd. */
void sdnotify_init(struct sdnotify *sd, uv_loop_t *loop, const struct sdnotify_ops *ops, void *arg);
/* READY=1 with the current STATUS=: the daemon serves (start-up done, or a
 * reload finished, whether or not it applied). */
void sdnotify_ready(struct sdnotify *sd);
/* RELOADING=1 with MONOTONIC_USEC= (the clock systemd compares it with). */
void sdnotify_reloading(struct sdnotify *sd);
/* STOPPING=1 with the current STATUS=; the timers go on until
 * sdnotify_close, so a long drain is still watched. */
void sdnotify_stopping(struct sdnotify *sd);
/* Closes the timers (idempotent; safe on a zeroed struct). */
void sdnotify_close(struct sdnotify *sd);

#endif
