/* SPDX-License-Identifier: MIT */
/* Unit tests for service/sdnotify: the datagrams a service manager would
 * receive on $NOTIFY_SOCKET (a socket bound here), nothing at all without
 * it, a status line cut at its newline and at SDNOTIFY_STATUS_MAX - 1
 * bytes, STATUS= sent only when the line changed, nothing after STOPPING=1
 * but STOPPING itself, the $WATCHDOG_PID rule, and no handle left open. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <uv.h>

#include "lrcheck.h"
#include "sdnotify.h"

/* The manager's end: a datagram socket in a temporary directory. */
struct mgr {
    char dir[64];
    char path[108];
    int fd;
    int pings; /* WATCHDOG=1 received (watchdog_pings) */
};

static void mgr_open(struct mgr *m)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    m->pings = 0;
    snprintf(m->dir, sizeof(m->dir), "/tmp/lr_sdnotify.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(m->dir));
    snprintf(m->path, sizeof(m->path), "%s/notify", m->dir);
    m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(m->fd, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->path);
    ck_assert_int_eq(bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(setenv("NOTIFY_SOCKET", m->path, 1), 0);
}

static void mgr_close(struct mgr *m)
{
    close(m->fd);
    unlink(m->path);
    rmdir(m->dir);
    unsetenv("NOTIFY_SOCKET");
}

/* The next datagram as a string, or NULL when none is queued. */
static const char *mgr_next(struct mgr *m)
{
    static char buf[1024];
    ssize_t n = recv(m->fd, buf, sizeof(buf) - 1, 0);

    if (n < 0) {
        ck_assert_int_eq(errno, EAGAIN);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The owner: a status line the test sets. */
static char status_text[512] = "one";

static void status_cb(void *arg, char *buf, size_t len)
{
    (void)arg;
    snprintf(buf, len, "%s", status_text);
}

static const struct sdnotify_ops ops = {status_cb};

static void stop_cb(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Runs the loop for ms (the module's timers are unreferenced: a referenced
 * timer of ours keeps the loop turning). */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;

    uv_timer_init(loop, &t);
    uv_timer_start(&t, stop_cb, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void count_handle(uv_handle_t *h, void *arg)
{
    (void)h;
    (*(int *)arg)++;
}

static void finish(uv_loop_t *loop, struct sdnotify *sd)
{
    sdnotify_close(sd);
    sdnotify_close(sd); /* idempotent */
    uv_run(loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* Without $NOTIFY_SOCKET: no handle, and nothing reaches a socket that
 * exists (the manager's, known to the test only). */
START_TEST(test_no_socket)
{
    struct mgr m;
    struct sdnotify sd;
    uv_loop_t loop;
    int handles = 0;

    mgr_open(&m);
    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "20000", 1);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    sdnotify_init(&sd, &loop, &ops, NULL);
    uv_walk(&loop, count_handle, &handles);
    ck_assert_int_eq(handles, 0);
    sdnotify_ready(&sd);
    sdnotify_reloading(&sd);
    sdnotify_stopping(&sd);
    ck_assert_ptr_null(mgr_next(&m));
    finish(&loop, &sd);
    unsetenv("WATCHDOG_USEC");
    mgr_close(&m);
}
END_TEST

/* A zeroed struct (the owner failed before sdnotify_init) closes cleanly. */
START_TEST(test_close_zeroed)
{
    struct sdnotify sd;
    uv_loop_t loop;

    memset(&sd, 0, sizeof(sd));
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    finish(&loop, &sd);
}
END_TEST

START_TEST(test_ready_status_stopping)
{
    struct mgr m;
    struct sdnotify sd;
    uv_loop_t loop;
    const char *msg;

    mgr_open(&m);
    unsetenv("WATCHDOG_USEC");
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    snprintf(status_text, sizeof(status_text), "one");
    sdnotify_init(&sd, &loop, &ops, NULL);
    ck_assert_ptr_null(mgr_next(&m));
    sdnotify_ready(&sd);
    ck_assert_str_eq(mgr_next(&m), "READY=1\nSTATUS=one");
    ck_assert_ptr_null(mgr_next(&m));
    /* Unchanged over a status tick: nothing. */
    run_for(&loop, SDNOTIFY_STATUS_PERIOD_MS + 200);
    ck_assert_ptr_null(mgr_next(&m));
    /* Changed: one STATUS= at the next tick, then nothing again. */
    snprintf(status_text, sizeof(status_text), "two");
    run_for(&loop, SDNOTIFY_STATUS_PERIOD_MS + 200);
    ck_assert_str_eq(mgr_next(&m), "STATUS=two");
    ck_assert_ptr_null(mgr_next(&m));
    /* Reload: RELOADING=1 with the monotonic clock in µs, then READY=1. */
    {
        struct timespec a, b;
        uint64_t before, after, got;
        char *end;
        clock_gettime(CLOCK_MONOTONIC, &a);
        sdnotify_reloading(&sd);
        clock_gettime(CLOCK_MONOTONIC, &b);
        before = (uint64_t)a.tv_sec * 1000000u + (uint64_t)a.tv_nsec / 1000u;
        after = (uint64_t)b.tv_sec * 1000000u + (uint64_t)b.tv_nsec / 1000u;
        msg = mgr_next(&m);
        ck_assert_ptr_nonnull(msg);
        ck_assert_int_eq(strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27), 0);
        got = strtoull(msg + 27, &end, 10);
        ck_assert_int_eq(*end, '\0');
        ck_assert_uint_ge(got, before);
        ck_assert_uint_le(got, after);
    }
    sdnotify_ready(&sd);
    ck_assert_str_eq(mgr_next(&m), "READY=1\nSTATUS=two");
    /* Stopping: once, with the status; then no READY or RELOADING. */
    snprintf(status_text, sizeof(status_text), "draining");
    sdnotify_stopping(&sd);
    ck_assert_str_eq(mgr_next(&m), "STOPPING=1\nSTATUS=draining");
    sdnotify_stopping(&sd);
    sdnotify_ready(&sd);
    sdnotify_reloading(&sd);
    ck_assert_ptr_null(mgr_next(&m));
    finish(&loop, &sd);
    mgr_close(&m);
}
END_TEST

/* A status line cannot add an assignment (cut at the newline) and is at
 * most SDNOTIFY_STATUS_MAX - 1 bytes. */
START_TEST(test_status_line_bounds)
{
    struct mgr m;
    struct sdnotify sd;
    uv_loop_t loop;
    char want[SDNOTIFY_STATUS_MAX + 16];
    const char *msg;

    mgr_open(&m);
    unsetenv("WATCHDOG_USEC");
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    snprintf(status_text, sizeof(status_text), "up\nREADY=1");
    sdnotify_init(&sd, &loop, &ops, NULL);
    sdnotify_stopping(&sd);
    ck_assert_str_eq(mgr_next(&m), "STOPPING=1\nSTATUS=up");
    finish(&loop, &sd);

    ck_assert_int_eq(uv_loop_init(&loop), 0);
    memset(status_text, 'x', 300);
    status_text[300] = '\0';
    sdnotify_init(&sd, &loop, &ops, NULL);
    sdnotify_ready(&sd);
    msg = mgr_next(&m);
    ck_assert_ptr_nonnull(msg);
    snprintf(want, sizeof(want), "READY=1\nSTATUS=%.*s", SDNOTIFY_STATUS_MAX - 1, status_text);
    ck_assert_uint_eq(strlen(msg), strlen("READY=1\nSTATUS=") + SDNOTIFY_STATUS_MAX - 1);
    ck_assert_str_eq(msg, want);
    finish(&loop, &sd);
    mgr_close(&m);
}
END_TEST

/* Reads the manager's socket on the loop (its queue holds only
 * net.unix.max_dgram_qlen datagrams, 10 by default, and sd_notify blocks on
 * a full one), counting WATCHDOG=1. */
static void on_mgr_readable(uv_poll_t *p, int status, int events)
{
    struct mgr *m = p->data;
    const char *msg;

    (void)events;
    ck_assert_int_eq(status, 0);
    while ((msg = mgr_next(m)) != NULL) {
        ck_assert_str_eq(msg, "WATCHDOG=1");
        m->pings++;
    }
}

/* Counts WATCHDOG=1 over ms with WATCHDOG_USEC=usec and WATCHDOG_PID=pid
 * (0: unset). */
static int watchdog_pings(const char *usec, long pid, uint64_t ms)
{
    struct mgr m;
    struct sdnotify sd;
    uv_loop_t loop;
    uv_poll_t poll;
    char pidtext[32];

    mgr_open(&m);
    setenv("WATCHDOG_USEC", usec, 1);
    unsetenv("WATCHDOG_PID");
    if (pid != 0) {
        snprintf(pidtext, sizeof(pidtext), "%ld", pid);
        setenv("WATCHDOG_PID", pidtext, 1);
    }
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(uv_poll_init(&loop, &poll, m.fd), 0);
    poll.data = &m;
    ck_assert_int_eq(uv_poll_start(&poll, UV_READABLE, on_mgr_readable), 0);
    sdnotify_init(&sd, &loop, &ops, NULL);
    run_for(&loop, ms);
    on_mgr_readable(&poll, 0, UV_READABLE);
    uv_close((uv_handle_t *)&poll, NULL);
    finish(&loop, &sd);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    mgr_close(&m);
    return m.pings;
}

/* 40 ms → a ping every 20 ms: over 300 ms at most 15 (the timer cannot fire
 * sooner), at least one. */
START_TEST(test_watchdog_own_pid)
{
    int n = watchdog_pings("40000", (long)getpid(), 300);

    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, 15);
    n = watchdog_pings("40000", 0, 300);
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, 15);
}
END_TEST

/* WATCHDOG_PID of another process (a parent's, inherited): no pings; the
 * period is half the interval; an interval under 2 ms pings every 1 ms, the
 * loop clock's step. */
START_TEST(test_watchdog_other_pid_and_tiny)
{
    struct sdnotify sd;
    uv_loop_t loop;
    struct mgr m;

    ck_assert_int_eq(watchdog_pings("40000", (long)getpid() + 1, 300), 0);
    mgr_open(&m);
    /* WatchdogSec=30s: a ping every 15 s. */
    setenv("WATCHDOG_USEC", "30000000", 1);
    unsetenv("WATCHDOG_PID");
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    sdnotify_init(&sd, &loop, &ops, NULL);
    ck_assert_uint_eq(sd.wd_ms, 15000);
    finish(&loop, &sd);
    setenv("WATCHDOG_USEC", "1", 1);
    unsetenv("WATCHDOG_PID");
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    sdnotify_init(&sd, &loop, &ops, NULL);
    ck_assert_uint_eq(sd.wd_ms, 1);
    finish(&loop, &sd);
    unsetenv("WATCHDOG_USEC");
    mgr_close(&m);
}
END_TEST

static Suite *sdnotify_suite(void)
{
    Suite *s = suite_create("sdnotify");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_no_socket);
    tcase_add_test(tc, test_close_zeroed);
    tcase_add_test(tc, test_ready_status_stopping);
    tcase_add_test(tc, test_status_line_bounds);
    tcase_add_test(tc, test_watchdog_own_pid);
    tcase_add_test(tc, test_watchdog_other_pid_and_tiny);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(sdnotify_suite());
}
