/* SPDX-License-Identifier: MIT */
/* Unit tests for httpd/metrics: the HTTP listener against a fake owner —
 * a loop that does not answer gives 503 after METRICS_LOOP_WAIT_MS, an owner
 * that is not ready gives /readyz 503 (and /healthz 200), an exposition over
 * METRICS_MAX_TEXT gives 500, a request waiting while the listener stops is
 * not left hanging, snapshots are reused for METRICS_FRESH_MS, the status
 * page and /status.json are served only for an owner that has one, and
 * every handle is closed afterwards (uv_loop_close() == 0). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "lrcheck.h"
#include "metrics.h"

struct fake {
    bool ready;
    bool huge;
    int renders;
};

static void fake_render(void *arg, struct promtext *pt)
{
    struct fake *f = arg;

    f->renders++;
    promtext_family(pt, "fake_renders_total", "counter", "Renders.");
    promtext_u64(pt, "fake_renders_total", NULL, 0, (uint64_t)f->renders);
    if (f->huge)
        for (int i = 0; i < METRICS_MAX_TEXT / 16 + 1; i++)
            promtext_u64(pt, "fake_big_series", NULL, 0, 1000000);
}

static bool fake_ready(void *arg)
{
    return ((struct fake *)arg)->ready;
}

static char *fake_status(void *arg, size_t *len)
{
    char *text = malloc(32);

    if (text != NULL)
        *len = (size_t)snprintf(text, 32, "{\"renders\":%d}", ((struct fake *)arg)->renders);
    return text;
}

static const struct metrics_ops fake_ops = {fake_render, fake_ready, NULL};
static const struct metrics_ops page_ops = {fake_render, fake_ready, fake_status};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request from a thread of its own: the status (0 when the connection
 * closed without an answer), the body's first bytes and how long it took. */
struct req {
    int port;
    const char *path;
    int status;
    char body[227];              /* the first bytes of the body */
    double secs, t_start, t_end; /* duration; start and end on CLOCK_MONOTONIC */
    pthread_t th;
    uv_async_t *done; /* sent when finished, if set */
};

static void *req_main(void *arg)
{
    struct req *q = arg;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)q->port)};
    char buf[1 << 16], line[256];
    size_t len = 0;
    ssize_t n;
    double t0 = now_s();
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    q->status = -1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", q->path);
        if (write(fd, line, strlen(line)) == (ssize_t)strlen(line)) {
            while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t)n;
            buf[len] = '\0';
            q->status = 0;
            if (len > 12 && strncmp(buf, "HTTP/1.1 ", 9) == 0)
                q->status = atoi(buf + 9);
            char *body = strstr(buf, "\r\n\r\n");
            snprintf(q->body, sizeof(q->body), "%s", body != NULL ? body + 4 : "");
        }
    }
    if (fd >= 0)
        close(fd);
    q->t_start = t0;
    q->t_end = now_s();
    q->secs = q->t_end - t0;
    if (q->done != NULL)
        uv_async_send(q->done);
    return NULL;
}

static void req_start(struct req *q, int port, const char *path, uv_async_t *done)
{
    memset(q, 0, sizeof(*q));
    q->port = port;
    q->path = path;
    q->done = done;
    ck_assert_int_eq(pthread_create(&q->th, NULL, req_main, q), 0);
}

static struct metrics *start_ops(uv_loop_t *loop, const struct metrics_ops *ops, struct fake *f,
                                 int *port)
{
    struct addr_spec a;
    struct metrics *m = NULL;
    const char *name;

    ck_assert_int_eq(addr_parse("127.0.0.1:0", ADDR_PORT0_OK | ADDR_NUMERIC_ONLY, &a), 0);
    ck_assert_int_eq(metrics_start(loop, &a, ops, f, &m), 0);
    name = metrics_name(m);
    ck_assert_ptr_nonnull(strrchr(name, ':'));
    *port = atoi(strrchr(name, ':') + 1);
    ck_assert_int_gt(*port, 0);
    return m;
}

static struct metrics *start(uv_loop_t *loop, struct fake *f, int *port)
{
    return start_ops(loop, &fake_ops, f, port);
}

/* Closes the listener and runs the loop until every handle is closed. */
static void finish(uv_loop_t *loop, struct metrics *m)
{
    metrics_stop(m);
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* A sequence of requests, run by one thread while the loop runs. */
struct seq {
    int port;
    struct fake *f;
    struct req r[6];
    uv_async_t done;
    pthread_t th;
};

static void seq_done(uv_async_t *h)
{
    uv_close((uv_handle_t *)h, NULL);
}

static void *seq_main(void *arg)
{
    struct seq *s = arg;
    static const char *const paths[6] = {"/metrics", "/metrics", "/healthz",
                                         "/readyz",  "/nope",    "/metrics"};

    for (int i = 0; i < 6; i++) {
        if (i == 5)
            usleep((METRICS_FRESH_MS + 50) * 1000);
        s->r[i].port = s->port;
        s->r[i].path = paths[i];
        req_main(&s->r[i]);
    }
    uv_async_send(&s->done);
    return NULL;
}

static void run_seq(uv_loop_t *loop, struct seq *s)
{
    uv_async_init(loop, &s->done, seq_done);
    ck_assert_int_eq(pthread_create(&s->th, NULL, seq_main, s), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    pthread_join(s->th, NULL);
}

START_TEST(test_serves_and_reuses)
{
    uv_loop_t loop;
    struct fake f = {.ready = true};
    struct seq s = {.f = &f};
    struct metrics *m;
    char want[64];

    uv_loop_init(&loop);
    m = start(&loop, &f, &s.port);
    run_seq(&loop, &s);
    ck_assert_int_eq(s.r[0].status, 200);
    /* The owner's text, then the process figures metrics.c adds itself. */
    ck_assert_str_eq(s.r[0].body, "# HELP fake_renders_total Renders.\n"
                                  "# TYPE fake_renders_total counter\nfake_renders_total 1\n"
                                  "# HELP process_cpu_seconds_total User and system CPU time "
                                  "spent, in seconds.\n"
                                  "# TYPE process_cpu_seconds_total counter\nprocess_cpu_second");
    /* Within METRICS_FRESH_MS the same snapshot serves (checked when the
     * second request ended that soon after the first began: its snapshot
     * was younger); METRICS_FRESH_MS later, a new one. */
    ck_assert_int_eq(s.r[1].status, 200);
    if (s.r[1].t_end - s.r[0].t_start < METRICS_FRESH_MS / 1000.0)
        ck_assert_ptr_nonnull(strstr(s.r[1].body, "fake_renders_total 1\n"));
    ck_assert_int_eq(s.r[2].status, 200);
    ck_assert_str_eq(s.r[2].body, "ok\n");
    ck_assert_int_eq(s.r[3].status, 200);
    ck_assert_str_eq(s.r[3].body, "ready\n");
    ck_assert_int_eq(s.r[4].status, 404);
    ck_assert_int_eq(s.r[5].status, 200);
    snprintf(want, sizeof(want), "fake_renders_total %d\n", f.renders);
    ck_assert_msg(f.renders >= 2 && strstr(s.r[5].body, want) != NULL, "%d renders: %s", f.renders,
                  s.r[5].body);
    finish(&loop, m);
}
END_TEST

START_TEST(test_not_ready_and_too_large)
{
    uv_loop_t loop;
    struct fake f = {.ready = false, .huge = true};
    struct seq s = {.f = &f};
    struct metrics *m;

    uv_loop_init(&loop);
    m = start(&loop, &f, &s.port);
    run_seq(&loop, &s);
    ck_assert_int_eq(s.r[0].status, 500);
    ck_assert_ptr_nonnull(strstr(s.r[0].body, "too large"));
    ck_assert_int_eq(s.r[2].status, 200);
    ck_assert_int_eq(s.r[3].status, 503);
    ck_assert_str_eq(s.r[3].body, "not ready\n");
    finish(&loop, m);
}
END_TEST

/* The loop never runs: the request gives up after METRICS_LOOP_WAIT_MS. */
START_TEST(test_loop_not_answering)
{
    uv_loop_t loop;
    struct fake f = {.ready = true};
    struct req q;
    struct metrics *m;
    int port;

    uv_loop_init(&loop);
    m = start(&loop, &f, &port);
    req_start(&q, port, "/healthz", NULL);
    pthread_join(q.th, NULL);
    ck_assert_int_eq(q.status, 503);
    ck_assert_str_eq(q.body, "event loop not answering, or stopping\n");
    ck_assert_msg(q.secs >= METRICS_LOOP_WAIT_MS / 1000.0 - 0.05 && q.secs < 10, "%.3f s", q.secs);
    ck_assert_int_eq(f.renders, 0);
    finish(&loop, m);
}
END_TEST

/* A request waiting for the loop when the listener stops: answered 503 or
 * closed at once, and metrics_stop returns. */
START_TEST(test_stop_while_waiting)
{
    uv_loop_t loop;
    struct fake f = {.ready = true};
    struct req q;
    struct metrics *m;
    int port;
    double t0;

    uv_loop_init(&loop);
    m = start(&loop, &f, &port);
    /* A request would wait 60 s for the loop (which never runs here): both
     * bounds below are half of that, whatever the machine's load, and a
     * stop that waited for the request would take the whole 60 s. */
    metrics_set_loop_wait(m, 60000);
    req_start(&q, port, "/metrics", NULL);
    usleep(300 * 1000); /* the request is in, waiting for a snapshot */
    t0 = now_s();
    metrics_stop(m);
    ck_assert_msg(now_s() - t0 < 30.0, "metrics_stop took %.3f s", now_s() - t0);
    pthread_join(q.th, NULL);
    /* 503 or closed (0); -1, the connection refused, only if this machine
     * was too slow to get the request in within 300 ms. */
    ck_assert_msg(q.status == 503 || q.status == 0 || q.status == -1, "status %d", q.status);
    ck_assert_msg(q.secs < 30.0, "%.3f s", q.secs);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_bind_error)
{
    uv_loop_t loop;
    struct fake f = {.ready = true};
    struct addr_spec a;
    struct metrics *m, *m2 = NULL;
    char text[64];
    int port;

    uv_loop_init(&loop);
    m = start(&loop, &f, &port);
    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    ck_assert_int_eq(addr_parse(text, 0, &a), 0);
    ck_assert_int_eq(metrics_start(&loop, &a, &fake_ops, &f, &m2), -EADDRINUSE);
    ck_assert_ptr_null(m2);
    finish(&loop, m);
}
END_TEST

static void req_done(uv_async_t *h)
{
    uv_close((uv_handle_t *)h, NULL);
}

/* One request answered while the loop runs. */
static void one(uv_loop_t *loop, int port, const char *path, struct req *q)
{
    uv_async_t done;

    uv_async_init(loop, &done, req_done);
    req_start(q, port, path, &done);
    uv_run(loop, UV_RUN_DEFAULT);
    pthread_join(q->th, NULL);
}

/* With metrics_ops.status: the page's files from the binary and the
 * owner's JSON; without: both 404, /metrics unchanged. */
START_TEST(test_status_page)
{
    uv_loop_t loop;
    struct fake f = {.ready = true};
    struct metrics *m;
    struct req q;
    int port;

    uv_loop_init(&loop);
    m = start_ops(&loop, &page_ops, &f, &port);
    one(&loop, port, "/", &q);
    ck_assert_int_eq(q.status, 200);
    ck_assert_msg(strncmp(q.body, "<!DOCTYPE html>", 15) == 0, "%s", q.body);
    one(&loop, port, "/page.js", &q);
    ck_assert_int_eq(q.status, 200);
    one(&loop, port, "/page.css", &q);
    ck_assert_int_eq(q.status, 200);
    one(&loop, port, "/status.json", &q);
    ck_assert_int_eq(q.status, 200);
    ck_assert_str_eq(q.body, "{\"renders\":0}");
    one(&loop, port, "/index.html", &q);
    ck_assert_int_eq(q.status, 404);
    finish(&loop, m);

    uv_loop_init(&loop);
    m = start(&loop, &f, &port);
    one(&loop, port, "/", &q);
    ck_assert_int_eq(q.status, 404);
    one(&loop, port, "/status.json", &q);
    ck_assert_int_eq(q.status, 404);
    one(&loop, port, "/metrics", &q);
    ck_assert_int_eq(q.status, 200);
    finish(&loop, m);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_serves_and_reuses);
    tcase_add_test(tc, test_not_ready_and_too_large);
    tcase_add_test(tc, test_loop_not_answering);
    tcase_add_test(tc, test_stop_while_waiting);
    tcase_add_test(tc, test_bind_error);
    tcase_add_test(tc, test_status_page);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(metrics_suite());
}
