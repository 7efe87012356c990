/* SPDX-License-Identifier: MIT */
/*
 * metrics — the metrics listener of linkrelay and linkagent (docs/design.md
 * D22): an HTTP server (libmicrohttpd) on metrics_listen that answers GET or
 * HEAD on /metrics (the Prometheus text exposition), /healthz (the loop
 * answers) and /readyz (the owner says it is ready), and, when the owner has
 * a status page (metrics_ops.status, the relay), / with its files (embedded
 * in the binary from httpd/page/, page_assets.h) and /status.json, which
 * the page polls; any other path is 404, any other method 405. Every answer
 * carries Content-Security-Policy: default-src 'self' (METRICS_CSP).
 *
 * The server runs in libmicrohttpd's own thread and never touches the
 * owner's state; it adds the process figures (process_*: CPU, memory, fds,
 * start time) itself, read from /proc there, off the loop. The loop renders:
 * a request that finds no snapshot younger than METRICS_FRESH_MS wakes the
 * loop with a uv_async, the loop asks the owner (struct metrics_ops) for the
 * text (or the status JSON: one snapshot of each kind, each made only when
 * asked for) and its readiness, and hands the finished, immutable snapshot
 * over under a mutex held for a pointer swap; the HTTP thread waits for it at
 * most METRICS_LOOP_WAIT_MS (503 after). The loop never waits for the HTTP
 * thread, and nothing on the data path takes a lock.
 *
 * Bounded: METRICS_MAX_CONNS connections, METRICS_MAX_CONNS_PER_IP per
 * address, METRICS_MEMORY per connection (request line and headers; more is
 * answered 431 by libmicrohttpd), METRICS_TIMEOUT_S idle per connection.
 *
 * Owned by the program's top (struct relay, struct agent); metrics_stop (on
 * the loop) stops the thread, waiting for a request being answered, and
 * frees once its handle is closed. The callbacks run on the loop and must
 * not close anything.
 */
#ifndef LR_METRICS_H
#define LR_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "addr.h"
#include "promtext.h"

#define METRICS_MAX_CONNS        16
#define METRICS_MAX_CONNS_PER_IP 4
#define METRICS_MEMORY           (16 * 1024)
#define METRICS_TIMEOUT_S        5
#define METRICS_FRESH_MS         100
#define METRICS_LOOP_WAIT_MS     2000
#define METRICS_MAX_TEXT         (16 * 1024 * 1024)
#define METRICS_MAX_PROCESS_TEXT (64 * 1024)
#define METRICS_CSP              "default-src 'self'"

struct metrics;

struct metrics_ops {
    /* Writes the whole exposition into pt (promtext.h). */
    void (*render)(void *arg, struct promtext *pt);
    /* True when the owner serves (for /readyz). */
    bool (*ready)(void *arg);
    /* The status page's JSON (/status.json), malloc'd, *len set; NULL when
     * out of memory. NULL: no status page (/ and /status.json are 404). */
    char *(*status)(void *arg, size_t *len);
};

/* Resolves listen (numeric only), binds it and starts the server thread.
 * ops and arg stay valid until metrics_stop. Before the loop runs (start-up):
 * 0, or a negative errno after logging why. */
int metrics_start(uv_loop_t *loop, const struct addr_spec *listen, const struct metrics_ops *ops,
                  void *arg, struct metrics **out);
/* The bound address ("127.0.0.1:9100", the port resolved). */
const char *metrics_name(const struct metrics *m);
/* Test hook: how long a request waits for the loop's snapshot (default
 * METRICS_LOOP_WAIT_MS), so a test can tell "answered at once" from "waited
 * it out" with any margin. */
void metrics_set_loop_wait(struct metrics *m, uint32_t ms);
/* Stops the server thread (requests waiting for a snapshot get 503) and
 * closes the handle; NULL is fine. On the loop. */
void metrics_stop(struct metrics *m);

#endif
