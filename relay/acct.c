/* SPDX-License-Identifier: MIT */
#include "acct.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

struct acct_batch {
    struct store_stream *streams;
    size_t n_streams, cap_streams;
    struct store_event *events;
    size_t n_events, cap_events;
    struct store_quota_use *quotas; /* byte quota counters (D29) */
    size_t n_quotas, cap_quotas;
};

struct acct {
    uv_loop_t *loop;
    struct store *st;
    uv_timer_t timer;
    /* The writer thread (D50): job and quit under mu; done wakes the loop
     * when a batch is written, never after acct_stop (quit is set first). */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    uv_async_t done;
    bool job, quit, thread_up;
    bool busy; /* a batch is being written */
    bool stopped;
    struct acct_batch q;   /* filled on the loop */
    struct acct_batch out; /* being written by the worker */
    int out_rc;
    char out_err[256];
    uint64_t dropped;
    size_t inflight;                        /* rows in out when the running batch started */
    uint64_t failures;                      /* batch writes failed in a row */
    struct store_event recent[ACCT_RECENT]; /* the newest events, a ring */
    size_t recent_head, n_recent;
};

static void acct_thread(void *arg);
static void acct_done_cb(uv_async_t *h);

static void acct_timer_cb(uv_timer_t *t)
{
    acct_flush(t->data);
}

int acct_new(uv_loop_t *loop, const char *db_path, struct acct **out)
{
    struct acct *a = calloc(1, sizeof(*a));
    char err[256];
    int rc;

    if (a == NULL)
        return -ENOMEM;
    rc = store_open(db_path, 0, &a->st, err, sizeof(err));
    if (rc != 0) {
        char shown[1024]; /* no password in the log */

        db_target_shown(db_path, shown, sizeof(shown));
        log_error("accounting: cannot open %s: %s", shown, err);
        free(a);
        return rc;
    }
    a->loop = loop;
    if (uv_mutex_init(&a->mu) != 0 || uv_cond_init(&a->cv) != 0) {
        log_error("accounting: cannot set up the writer thread's lock");
        store_close(a->st);
        free(a);
        return -ENOMEM;
    }
    rc = uv_thread_create(&a->thread, acct_thread, a);
    if (rc != 0) {
        log_error("accounting: cannot start the writer thread: %s", uv_strerror(rc));
        uv_cond_destroy(&a->cv);
        uv_mutex_destroy(&a->mu);
        store_close(a->st);
        free(a);
        return rc;
    }
    a->thread_up = true;
    uv_async_init(loop, &a->done, acct_done_cb);
    a->done.data = a;
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, acct_timer_cb, ACCT_FLUSH_MS, ACCT_FLUSH_MS);
    *out = a;
    return 0;
}

static void *acct_grow(void *p, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *np;

    if (n < *cap)
        return p;
    ncap = *cap == 0 ? 64 : *cap * 2;
    np = realloc(p, ncap * elem);
    if (np == NULL)
        return NULL;
    *cap = ncap;
    return np;
}

void acct_stream(struct acct *a, const struct store_stream *rec)
{
    struct store_stream *p;

    if (a == NULL)
        return;
    if (a->q.n_streams >= ACCT_MAX_QUEUED) {
        a->dropped++;
        return;
    }
    p = acct_grow(a->q.streams, &a->q.cap_streams, a->q.n_streams, sizeof(*p));
    if (p == NULL) {
        a->dropped++;
        return;
    }
    a->q.streams = p;
    p[a->q.n_streams++] = *rec;
}

void acct_quota(struct acct *a, const struct store_quota_use *u)
{
    struct store_quota_use *p;

    if (a == NULL)
        return;
    if (a->q.n_quotas >= ACCT_MAX_QUEUED) {
        a->dropped++;
        return;
    }
    p = acct_grow(a->q.quotas, &a->q.cap_quotas, a->q.n_quotas, sizeof(*p));
    if (p == NULL) {
        a->dropped++;
        return;
    }
    a->q.quotas = p;
    p[a->q.n_quotas++] = *u;
}

static void acct_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = src != NULL ? strnlen(src, cap - 1) : 0;

    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void acct_event(struct acct *a, const char *kind, const uint8_t *link_id, const char *addr,
                const char *detail, uint32_t count)
{
    struct store_event *p, *e;
    struct timespec ts;

    if (a == NULL)
        return;
    /* The ring keeps it whether or not the queue has room. */
    e = &a->recent[a->recent_head];
    a->recent_head = (a->recent_head + 1) % ACCT_RECENT;
    if (a->n_recent < ACCT_RECENT)
        a->n_recent++;
    memset(e, 0, sizeof(*e));
    clock_gettime(CLOCK_REALTIME, &ts);
    e->ts_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000; /* when it happened */
    acct_strlcpy(e->kind, kind, sizeof(e->kind));
    if (link_id != NULL) {
        e->has_link = 1;
        memcpy(e->link_id, link_id, sizeof(e->link_id));
    }
    acct_strlcpy(e->addr, addr, sizeof(e->addr));
    acct_strlcpy(e->detail, detail, sizeof(e->detail));
    e->count = count > 0 ? count : 1;
    if (a->q.n_events >= ACCT_MAX_QUEUED) {
        a->dropped++;
        return;
    }
    p = acct_grow(a->q.events, &a->q.cap_events, a->q.n_events, sizeof(*p));
    if (p == NULL) {
        a->dropped++;
        return;
    }
    a->q.events = p;
    p[a->q.n_events++] = *e;
}

/* Runs on a worker thread (or on the caller's thread in acct_free). Streams and
 * events are separate transactions; the part that was written is emptied from
 * b, so what is left in b is exactly what failed and may be written again
 * without counting anything twice. */
static int acct_write(struct store *st, struct acct_batch *b, char *err, size_t errlen)
{
    int rc = 0;

    if (b->n_streams > 0) {
        rc = store_streams_record(st, b->streams, b->n_streams);
        if (rc == 0)
            b->n_streams = 0;
    }
    if (rc == 0 && b->n_quotas > 0) {
        rc = store_quota_save(st, b->quotas, b->n_quotas);
        if (rc == 0)
            b->n_quotas = 0;
    }
    if (rc == 0 && b->n_events > 0) {
        rc = store_events_add(st, b->events, b->n_events);
        if (rc == 0)
            b->n_events = 0;
    }
    if (rc != 0)
        acct_strlcpy(err, store_errmsg(st), errlen);
    return rc;
}

/* The writer thread: one batch at a time, at a lower priority than the
 * loop (ACCT_NICE, D50), so a second's batch does not delay a pairing on a
 * machine whose CPUs are busy. A batch still waiting when acct_stop comes is
 * left in out for acct_free, which writes it after the join. */
static void acct_thread(void *arg)
{
    struct acct *a = arg;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int nice_now;

    errno = 0;
    nice_now = getpriority(PRIO_PROCESS, (id_t)tid);
    if (errno == 0 && setpriority(PRIO_PROCESS, (id_t)tid, nice_now + ACCT_NICE) != 0)
        log_debug("accounting: cannot lower the writer's priority: %s", strerror(errno));
    uv_mutex_lock(&a->mu);
    for (;;) {
        while (!a->job && !a->quit)
            uv_cond_wait(&a->cv, &a->mu);
        if (a->quit)
            break;
        uv_mutex_unlock(&a->mu);
        a->out_rc = acct_write(a->st, &a->out, a->out_err, sizeof(a->out_err));
        uv_mutex_lock(&a->mu);
        a->job = false;
        if (!a->quit)
            uv_async_send(&a->done);
    }
    uv_mutex_unlock(&a->mu);
}

static void acct_batch_clear(struct acct_batch *b)
{
    b->n_streams = 0;
    b->n_events = 0;
    b->n_quotas = 0;
}

/* Appends n elements of size elem from src behind the n_dst in *dst
 * (capacity *cap), keeping order; what would take the total over
 * ACCT_MAX_QUEUED, or cannot be allocated, is dropped (the newest) and
 * counted. */
static void acct_append(struct acct *a, void **dst, size_t *n_dst, size_t *cap, const void *src,
                        size_t n, size_t elem)
{
    size_t room = *n_dst < ACCT_MAX_QUEUED ? ACCT_MAX_QUEUED - *n_dst : 0;
    uint8_t *p = *dst;

    if (n > room) {
        a->dropped += n - room;
        n = room;
    }
    if (n == 0)
        return;
    if (*n_dst + n > *cap) {
        p = realloc(*dst, (*n_dst + n) * elem);
        if (p == NULL) {
            a->dropped += n;
            return;
        }
        *dst = p;
        *cap = *n_dst + n;
    }
    memcpy(p + *n_dst * elem, src, n * elem);
    *n_dst += n;
}

/* Moves what was queued on the loop behind what out still holds. */
static void acct_append_queue(struct acct *a)
{
    acct_append(a, (void **)&a->out.streams, &a->out.n_streams, &a->out.cap_streams, a->q.streams,
                a->q.n_streams, sizeof(*a->q.streams));
    acct_append(a, (void **)&a->out.events, &a->out.n_events, &a->out.cap_events, a->q.events,
                a->q.n_events, sizeof(*a->q.events));
    acct_append(a, (void **)&a->out.quotas, &a->out.n_quotas, &a->out.cap_quotas, a->q.quotas,
                a->q.n_quotas, sizeof(*a->q.quotas));
    acct_batch_clear(&a->q);
}

static void acct_done_cb(uv_async_t *h)
{
    struct acct *a = h->data;

    a->busy = false;
    if (a->out_rc != 0) {
        /* Not lost: acct_write left exactly the unwritten rows in out, which
         * stays as it is; the next flush (a second later, or at shutdown)
         * appends what was queued since and writes them again, oldest first. */
        a->failures++;
        if (a->failures == 1 || a->failures % 60 == 0)
            log_warnx("accounting: writing %zu streams and %zu events failed (%llu times so "
                      "far), will retry: %s",
                      a->out.n_streams, a->out.n_events, (unsigned long long)a->failures,
                      a->out_err);
    } else if (a->failures > 0) {
        log_info("accounting: writing works again after %llu failed attempts",
                 (unsigned long long)a->failures);
        a->failures = 0;
    }
}

void acct_flush(struct acct *a)
{
    struct acct_batch tmp;

    if (a == NULL || a->busy)
        return;
    if (a->out.n_streams == 0 && a->out.n_events == 0 && a->out.n_quotas == 0) {
        if (a->q.n_streams == 0 && a->q.n_events == 0 && a->q.n_quotas == 0)
            return;
        /* Swap: the loop keeps filling q while the worker writes out. */
        tmp = a->out;
        a->out = a->q;
        a->q = tmp;
    } else {
        /* A batch that failed: only what came since is copied, behind it. */
        acct_append_queue(a);
    }
    a->busy = true;
    a->inflight = a->out.n_streams + a->out.n_events + a->out.n_quotas;
    uv_mutex_lock(&a->mu);
    a->job = true;
    uv_cond_signal(&a->cv);
    uv_mutex_unlock(&a->mu);
}

void acct_stop(struct acct *a)
{
    if (a == NULL || a->stopped)
        return;
    a->stopped = true;
    uv_mutex_lock(&a->mu);
    a->quit = true; /* no uv_async_send from here on */
    uv_cond_signal(&a->cv);
    uv_mutex_unlock(&a->mu);
    uv_close((uv_handle_t *)&a->timer, NULL);
    uv_close((uv_handle_t *)&a->done, NULL);
}

uint64_t acct_backlog(const struct acct *a)
{
    if (a == NULL)
        return 0;
    /* While a batch runs, out belongs to the worker: its size is read from
     * what it was when the batch started. A failed batch stays in out. */
    return a->q.n_streams + a->q.n_events + a->q.n_quotas +
           (a->busy ? a->inflight : a->out.n_streams + a->out.n_events + a->out.n_quotas);
}

uint64_t acct_dropped(const struct acct *a)
{
    return a != NULL ? a->dropped : 0;
}

void acct_free(struct acct *a)
{
    char err[256];

    if (a == NULL)
        return;
    if (a->thread_up) {
        uv_mutex_lock(&a->mu);
        a->quit = true;
        uv_cond_signal(&a->cv);
        uv_mutex_unlock(&a->mu);
        uv_thread_join(&a->thread); /* a batch it was writing is done: out holds what failed */
        uv_cond_destroy(&a->cv);
        uv_mutex_destroy(&a->mu);
    }
    acct_append_queue(a);
    if (a->out.n_streams > 0 || a->out.n_events > 0 || a->out.n_quotas > 0) {
        if (acct_write(a->st, &a->out, err, sizeof(err)) != 0)
            log_warnx("accounting: final write of %zu streams and %zu events failed: %s",
                      a->out.n_streams, a->out.n_events, err);
    }
    if (a->dropped > 0)
        log_warnx("accounting: %llu rows were dropped (queue full)",
                  (unsigned long long)a->dropped);
    store_close(a->st);
    free(a->q.streams);
    free(a->q.events);
    free(a->out.streams);
    free(a->out.events);
    free(a->q.quotas);
    free(a->out.quotas);
    free(a);
}

void acct_recent_foreach(const struct acct *a, void (*fn)(void *arg, const struct store_event *e),
                         void *arg)
{
    size_t first;

    if (a == NULL)
        return;
    first = (a->recent_head + ACCT_RECENT - a->n_recent) % ACCT_RECENT;
    for (size_t i = 0; i < a->n_recent; i++)
        fn(arg, &a->recent[(first + i) % ACCT_RECENT]);
}
