/* SPDX-License-Identifier: MIT */
#include "sync.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SYNC_MAX_WAITERS 64

struct sync_waiter {
    sync_done_cb cb;
    void *arg;
};

struct sync {
    uv_loop_t *loop;
    struct store *st;
    struct index *ix;
    const struct index_ops *ops;
    void *ops_arg;
    uv_timer_t timer;
    uv_work_t work;
    bool busy, stopped, have_version;
    bool force;      /* the next work loads even without a version change */
    bool work_force; /* the running work was forced */
    int64_t version;
    uint64_t last_ok_ms; /* loop time of the last poll that read the registry */
    /* Results of the worker. */
    int rc;
    bool loaded;
    struct store_link *recs;
    size_t n, cap;
    char err[256];
    /* Admin requests waiting for the running (or next) forced load. */
    struct sync_waiter wait[SYNC_MAX_WAITERS], running[SYNC_MAX_WAITERS];
    size_t n_wait, n_running;
};

int sync_new(uv_loop_t *loop, const char *db_path, struct index *ix, const struct index_ops *ops,
             void *ops_arg, struct sync **out)
{
    struct sync *s = calloc(1, sizeof(*s));
    char err[256];
    int rc;

    if (s == NULL)
        return -ENOMEM;
    rc = store_open(db_path, 0, &s->st, err, sizeof(err));
    if (rc != 0) {
        log_error("registry: cannot open %s: %s", db_path, err);
        free(s);
        return rc;
    }
    s->loop = loop;
    s->ix = ix;
    s->ops = ops;
    s->ops_arg = ops_arg;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->work.data = s;
    *out = s;
    return 0;
}

static int sync_collect(void *arg, const struct store_link *l)
{
    struct sync *s = arg;

    if (s->n == s->cap) {
        size_t ncap = s->cap == 0 ? 64 : s->cap * 2;
        struct store_link *p = realloc(s->recs, ncap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        s->recs = p;
        s->cap = ncap;
    }
    s->recs[s->n++] = *l;
    return 0;
}

/* Worker side: check the version, load when it changed (or forced). */
static void sync_work_cb(uv_work_t *w)
{
    struct sync *s = w->data;
    int64_t v;

    s->loaded = false;
    s->rc = store_data_version(s->st, &v);
    if (s->rc != 0)
        goto fail;
    if (!s->work_force && s->have_version && v == s->version)
        return;
    s->n = 0;
    s->rc = store_links_load(s->st, sync_collect, s);
    if (s->rc != 0)
        goto fail;
    s->version = v;
    s->have_version = true;
    s->loaded = true;
    return;
fail:
    memcpy(s->err, store_errmsg(s->st), sizeof(s->err) - 1);
    s->err[sizeof(s->err) - 1] = '\0';
}

static void sync_kick(struct sync *s);

static void sync_after_cb(uv_work_t *w, int status)
{
    struct sync *s = w->data;
    int rc = status != 0 ? status : s->rc;

    s->busy = false;
    if (rc != 0)
        log_warnx("registry: reading links failed: %s", status != 0 ? uv_strerror(status) : s->err);
    else if (s->loaded)
        rc = index_apply(s->ix, s->recs, s->n, s->ops, s->ops_arg);
    if (rc == 0)
        s->last_ok_ms = uv_now(s->loop);
    for (size_t i = 0; i < s->n_running; i++)
        s->running[i].cb(s->running[i].arg, rc, index_count(s->ix));
    s->n_running = 0;
    if (s->force && !s->stopped)
        sync_kick(s);
}

static void sync_kick(struct sync *s)
{
    if (s->busy || s->stopped)
        return;
    s->work_force = s->force;
    s->force = false;
    memcpy(s->running, s->wait, s->n_wait * sizeof(s->wait[0]));
    s->n_running = s->n_wait;
    s->n_wait = 0;
    s->busy = true;
    if (uv_queue_work(s->loop, &s->work, sync_work_cb, sync_after_cb) != 0) {
        s->busy = false;
        for (size_t i = 0; i < s->n_running; i++)
            s->running[i].cb(s->running[i].arg, -EIO, index_count(s->ix));
        s->n_running = 0;
    }
}

static void sync_timer_cb(uv_timer_t *t)
{
    sync_kick(t->data);
}

int sync_load_now(struct sync *s)
{
    s->work_force = true;
    sync_work_cb(&s->work);
    if (s->rc != 0) {
        log_error("registry: reading links failed: %s", s->err);
        return s->rc;
    }
    s->last_ok_ms = uv_now(s->loop);
    return index_apply(s->ix, s->recs, s->n, s->ops, s->ops_arg);
}

void sync_start(struct sync *s)
{
    uv_timer_start(&s->timer, sync_timer_cb, SYNC_POLL_MS, SYNC_POLL_MS);
}

int sync_request(struct sync *s, sync_done_cb cb, void *arg)
{
    if (s->stopped || s->n_wait >= SYNC_MAX_WAITERS)
        return -EAGAIN;
    s->wait[s->n_wait].cb = cb;
    s->wait[s->n_wait].arg = arg;
    s->n_wait++;
    s->force = true;
    sync_kick(s);
    return 0;
}

uint64_t sync_last_ok_ms(const struct sync *s)
{
    return s->last_ok_ms;
}

void sync_stop(struct sync *s)
{
    if (s == NULL || s->stopped)
        return;
    s->stopped = true;
    for (size_t i = 0; i < s->n_wait; i++)
        s->wait[i].cb(s->wait[i].arg, -ECANCELED, index_count(s->ix));
    s->n_wait = 0;
    uv_close((uv_handle_t *)&s->timer, NULL);
}

void sync_free(struct sync *s)
{
    if (s == NULL)
        return;
    store_close(s->st);
    free(s->recs);
    free(s);
}
