/* SPDX-License-Identifier: MIT */
/*
 * sdnotify — see sdnotify.h.
 */
#include "sdnotify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"

/* Sends one message; a failure is logged the first time only (the service
 * manager may be gone during shutdown, and a line per tick helps nobody). */
static void sdnotify_send(struct sdnotify *sd, const char *msg)
{
    int rc = sd_notify(0, msg);

    if (rc < 0 && !sd->warned) {
        sd->warned = true;
        log_warnx("sd_notify: %s (further failures are not logged)", strerror(-rc));
    }
}

/* The owner's status line, remembered as the last one sent. */
static void sdnotify_take_status(struct sdnotify *sd)
{
    char line[SDNOTIFY_STATUS_MAX] = "";

    sd->ops->status(sd->arg, line, sizeof(line));
    /* One line: a newline would start a second assignment. */
    line[strcspn(line, "\n")] = '\0';
    memcpy(sd->last, line, sizeof(line));
}

/* "PREFIX\nSTATUS=line" with the current line. */
static void sdnotify_send_with_status(struct sdnotify *sd, const char *prefix)
{
    char msg[SDNOTIFY_STATUS_MAX + 64];

    sdnotify_take_status(sd);
    snprintf(msg, sizeof(msg), "%s\nSTATUS=%s", prefix, sd->last);
    sdnotify_send(sd, msg);
}

static void sdnotify_on_status(uv_timer_t *t)
{
    struct sdnotify *sd = t->data;
    char before[SDNOTIFY_STATUS_MAX], msg[SDNOTIFY_STATUS_MAX + 16];

    memcpy(before, sd->last, sizeof(before));
    sdnotify_take_status(sd);
    if (strcmp(before, sd->last) == 0)
        return;
    snprintf(msg, sizeof(msg), "STATUS=%s", sd->last);
    sdnotify_send(sd, msg);
}

static void sdnotify_on_watchdog(uv_timer_t *t)
{
    sdnotify_send(t->data, "WATCHDOG=1");
}

static void sdnotify_timer(struct sdnotify *sd, uv_timer_t *t, uv_timer_cb cb, uint64_t period)
{
    uv_timer_init(sd->loop, t);
    t->data = sd;
    uv_timer_start(t, cb, period, period);
    uv_unref((uv_handle_t *)t);
}

void sdnotify_init(struct sdnotify *sd, uv_loop_t *loop, const struct sdnotify_ops *ops, void *arg)
{
    uint64_t usec = 0;
    int wd;

    memset(sd, 0, sizeof(*sd));
    sd->loop = loop;
    sd->ops = ops;
    sd->arg = arg;
    sd->on = getenv("NOTIFY_SOCKET") != NULL;
    if (!sd->on)
        return;
    sdnotify_timer(sd, &sd->status_timer, sdnotify_on_status, SDNOTIFY_STATUS_PERIOD_MS);
    sd->status_timer_on = true;
    /* > 0 only when $WATCHDOG_USEC is set and $WATCHDOG_PID, if set, is us. */
    wd = sd_watchdog_enabled(0, &usec);
    if (wd < 0)
        log_warnx("sd_watchdog_enabled: %s; no watchdog pings", strerror(-wd));
    if (wd > 0 && usec > 0) {
        /* Half the interval, as sd_watchdog_enabled(3) advises; at least
         * the loop clock's 1 ms. */
        sd->wd_ms = usec / 2000 > 0 ? usec / 2000 : 1;
        sdnotify_timer(sd, &sd->wd_timer, sdnotify_on_watchdog, sd->wd_ms);
        sd->wd_timer_on = true;
        log_info("systemd watchdog: %" PRIu64 " ms, pinging every %" PRIu64 " ms", usec / 1000,
                 sd->wd_ms);
    }
}

void sdnotify_ready(struct sdnotify *sd)
{
    if (sd->on && !sd->stopping)
        sdnotify_send_with_status(sd, "READY=1");
}

void sdnotify_reloading(struct sdnotify *sd)
{
    struct timespec ts;
    char msg[64];

    if (!sd->on || sd->stopping)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
             (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
    sdnotify_send(sd, msg);
}

void sdnotify_stopping(struct sdnotify *sd)
{
    if (!sd->on || sd->stopping)
        return;
    sd->stopping = true;
    sdnotify_send_with_status(sd, "STOPPING=1");
}

void sdnotify_close(struct sdnotify *sd)
{
    if (sd->status_timer_on)
        uv_close((uv_handle_t *)&sd->status_timer, NULL);
    if (sd->wd_timer_on)
        uv_close((uv_handle_t *)&sd->wd_timer, NULL);
    sd->status_timer_on = sd->wd_timer_on = false;
}
