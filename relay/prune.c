/* SPDX-License-Identifier: MIT */
#include "prune.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "store.h"

struct prune {
    uv_loop_t *loop;
    struct store *st; /* used by the worker only while busy */
    const struct relaycfg_retention *ret;
    uv_timer_t timer;
    uv_work_t work;
    bool busy, stopped;
    /* The run's input, set on the loop before it is queued. */
    int64_t cutoff_streams, cutoff_events; /* ms; 0 = keep */
    /* Written by the worker, read on the loop. */
    atomic_bool stop;
    _Atomic uint64_t streams, events, batches;
    /* Loop side. */
    uint64_t runs, failures;
    uint64_t run_streams, run_events; /* the counters when the run started */
    uint64_t run_start_ms;
    int run_rc;
    char run_err[256];
};

static int64_t prune_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void prune_pause(void)
{
    struct timespec ts = {0, PRUNE_PAUSE_MS * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

typedef int (*prune_fn)(struct store *st, int64_t cutoff_ms, unsigned limit, size_t *pruned);

/* Batches of one table until one is short (nothing older left), a stop, or
 * an error. Worker thread. */
static int prune_table(struct prune *p, prune_fn fn, int64_t cutoff, _Atomic uint64_t *count)
{
    size_t n = PRUNE_BATCH;
    int r = 0;

    while (n == PRUNE_BATCH && !atomic_load(&p->stop)) {
        r = fn(p->st, cutoff, PRUNE_BATCH, &n);
        if (r < 0)
            return r;
        if (n == 0)
            break;
        atomic_fetch_add(count, n);
        atomic_fetch_add(&p->batches, 1);
        if (n == PRUNE_BATCH)
            prune_pause();
    }
    return r;
}

static void prune_work_cb(uv_work_t *w)
{
    struct prune *p = w->data;
    int r = 0;

    if (p->cutoff_streams > 0)
        r = prune_table(p, store_streams_prune, p->cutoff_streams, &p->streams);
    if (r == 0 && p->cutoff_events > 0)
        r = prune_table(p, store_events_prune, p->cutoff_events, &p->events);
    p->run_rc = r;
    if (r < 0)
        snprintf(p->run_err, sizeof(p->run_err), "%s", store_errmsg(p->st));
}

static void prune_after_cb(uv_work_t *w, int status)
{
    struct prune *p = w->data;
    uint64_t ns = atomic_load(&p->streams) - p->run_streams;
    uint64_t ne = atomic_load(&p->events) - p->run_events;

    p->busy = false;
    p->runs++;
    if (status != 0 || p->run_rc != 0) {
        p->failures++;
        log_warnx("retention: pruning stopped after %llu stream rows and %llu events, will try "
                  "again in an hour: %s",
                  (unsigned long long)ns, (unsigned long long)ne,
                  status != 0 ? uv_strerror(status) : p->run_err);
    } else if (ns > 0 || ne > 0) {
        log_info("retention: pruned %llu stream rows (kept as per-day sums) and %llu events in "
                 "%llu ms",
                 (unsigned long long)ns, (unsigned long long)ne,
                 (unsigned long long)(uv_now(p->loop) - p->run_start_ms));
    }
}

static void prune_timer_cb(uv_timer_t *t)
{
    struct prune *p = t->data;
    int64_t now = prune_now_ms();

    if (p->busy || p->stopped)
        return;
    p->cutoff_streams =
        p->ret->accounting_days > 0 ? now - (int64_t)p->ret->accounting_days * STORE_DAY_MS : 0;
    p->cutoff_events =
        p->ret->events_days > 0 ? now - (int64_t)p->ret->events_days * STORE_DAY_MS : 0;
    if (p->cutoff_streams == 0 && p->cutoff_events == 0)
        return;
    p->run_streams = atomic_load(&p->streams);
    p->run_events = atomic_load(&p->events);
    p->run_start_ms = uv_now(p->loop);
    p->run_rc = 0;
    if (uv_queue_work(p->loop, &p->work, prune_work_cb, prune_after_cb) == 0)
        p->busy = true;
}

int prune_new(uv_loop_t *loop, const char *db_path, const struct relaycfg_retention *ret,
              struct prune **out)
{
    struct prune *p = calloc(1, sizeof(*p));
    char err[256];
    int rc;

    if (p == NULL)
        return -ENOMEM;
    rc = store_open(db_path, 0, &p->st, err, sizeof(err));
    if (rc != 0) {
        char shown[1024]; /* no password in the log */

        db_target_shown(db_path, shown, sizeof(shown));
        log_error("retention: cannot open %s: %s", shown, err);
        free(p);
        return rc;
    }
    p->loop = loop;
    p->ret = ret;
    atomic_init(&p->stop, false);
    atomic_init(&p->streams, 0);
    atomic_init(&p->events, 0);
    atomic_init(&p->batches, 0);
    p->work.data = p;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, prune_timer_cb, 0, PRUNE_INTERVAL_MS);
    *out = p;
    return 0;
}

void prune_stop(struct prune *p)
{
    if (p == NULL || p->stopped)
        return;
    p->stopped = true;
    atomic_store(&p->stop, true);
    uv_close((uv_handle_t *)&p->timer, NULL);
}

void prune_free(struct prune *p)
{
    if (p == NULL)
        return;
    store_close(p->st);
    free(p);
}

void prune_counts_get(const struct prune *p, struct prune_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (p == NULL)
        return;
    out->streams = atomic_load(&p->streams);
    out->events = atomic_load(&p->events);
    out->batches = atomic_load(&p->batches);
    out->runs = p->runs;
    out->failures = p->failures;
    out->running = p->busy;
}
