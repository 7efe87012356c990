/* SPDX-License-Identifier: MIT */
#include "sync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "wallclock.h"

#define SYNC_MAX_WAITERS 64

struct sync_waiter {
    sync_done_cb cb;
    void *arg;
};

/* A promotion of key, (endorse) the storing of side's endorsement e, or
 * (enroll) the spending of the code whose hash is e[0..32) for key at at_ms. */
struct sync_promotion {
    uint8_t id[STORE_LINK_ID_LEN];
    int side;
    uint8_t key[STORE_KEY_LEN];
    bool endorse, enroll;
    uint8_t e[STORE_ENDORSE_LEN];
    int64_t at_ms;
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
    /* Schema 008's links version of the snapshot, and the snapshots loaded
     * (the metrics: heartbeats cause none, D34). */
    int64_t links_version;
    uint64_t loads;
    uint64_t last_ok_ms; /* loop time of the last poll that read the registry */
    /* Registry health (D38): registry_timeout (the config's, updated in
     * place on SIGHUP); degraded while the last read is older than that:
     * new AUTHs refused, counted. */
    const uint32_t *timeout_ms;
    bool degraded;
    uint64_t refused;
    /* Results of the worker. */
    int rc;
    bool loaded;
    struct store_link *recs;
    size_t n, cap;
    struct index_allow_rec *allows; /* the snapshot's allowlists (D27) */
    size_t n_allow, cap_allow;
    char err[256];
    char last_err[256]; /* the last failure logged, "" after a success */
    /* Admin requests waiting for the running (or next) forced load. */
    struct sync_waiter wait[SYNC_MAX_WAITERS], running[SYNC_MAX_WAITERS];
    size_t n_wait, n_running;
    /* Promotions asked for (loop thread) and being written (worker). */
    struct sync_promotion promote[SYNC_MAX_PROMOTE], promoting[SYNC_MAX_PROMOTE];
    size_t n_promote, n_promoting;
    /* Worker only: the earliest overlap deadline of the last snapshot (0:
     * none; 1 before the first load, so the first run expires). */
    int64_t next_due_ms;
    size_t n_expired, n_promoted; /* the last run's writes, for its log line */
    int write_rc;
    char write_err[256];
};

int sync_new(uv_loop_t *loop, const char *db_path, const uint32_t *timeout_ms, struct index *ix,
             const struct index_ops *ops, void *ops_arg, struct sync **out)
{
    struct sync *s = calloc(1, sizeof(*s));
    char err[256];
    int rc;

    if (s == NULL)
        return -ENOMEM;
    rc = store_open(db_path, 0, &s->st, err, sizeof(err));
    if (rc != 0) {
        char shown[1024]; /* no password in the log */

        db_target_shown(db_path, shown, sizeof(shown));
        log_error("registry: cannot open %s: %s", shown, err);
        free(s);
        return rc;
    }
    s->loop = loop;
    s->timeout_ms = timeout_ms;
    s->ix = ix;
    s->ops = ops;
    s->ops_arg = ops_arg;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->work.data = s;
    s->next_due_ms = 1;
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

/* A quota row onto its link of the snapshot (D29); a row whose link is not
 * in the snapshot (removed since) is skipped. A linear search: the links
 * with a quota are few, and a load happens only when the registry changed. */
static int sync_collect_quota(void *arg, const uint8_t id[STORE_LINK_ID_LEN],
                              const struct store_quota *q)
{
    struct sync *s = arg;

    for (size_t i = 0; i < s->n; i++) {
        if (memcmp(s->recs[i].id, id, STORE_LINK_ID_LEN) == 0) {
            s->recs[i].has_quota = 1;
            s->recs[i].quota = *q;
            break;
        }
    }
    return 0;
}

static int sync_collect_allow(void *arg, const uint8_t id[STORE_LINK_ID_LEN],
                              const struct store_allow *a)
{
    struct sync *s = arg;

    if (s->n_allow == s->cap_allow) {
        size_t ncap = s->cap_allow == 0 ? 16 : s->cap_allow * 2;
        struct index_allow_rec *p = realloc(s->allows, ncap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        s->allows = p;
        s->cap_allow = ncap;
    }
    memcpy(s->allows[s->n_allow].id, id, STORE_LINK_ID_LEN);
    s->allows[s->n_allow].allow = *a;
    s->n_allow++;
    return 0;
}

/* Worker side: the promotions asked for and the due overlaps. Our own
 * commits do not change our data_version, so a write forces the load. */
static void sync_write(struct sync *s)
{
    int64_t now = (int64_t)wallclock_ms();
    int rc;

    s->n_expired = s->n_promoted = 0;
    s->write_rc = 0;
    for (size_t i = 0; i < s->n_promoting; i++) {
        const struct sync_promotion *p = &s->promoting[i];
        if (p->enroll)
            rc = store_enroll_spend(s->st, p->id, p->side, p->e, p->key, p->at_ms);
        else if (p->endorse)
            rc = store_link_endorse(s->st, p->id, p->side, p->e);
        else
            rc = store_link_promote(s->st, p->id, p->side, p->key, "agent switched to its new key");
        if (rc == 0)
            s->n_promoted++;
        else if (rc != -ENOENT && s->write_rc == 0)
            s->write_rc = rc; /* -ENOENT: promoted or changed meanwhile */
    }
    if (s->next_due_ms != 0 && now >= s->next_due_ms) {
        rc = store_links_expire(s->st, now, &s->n_expired);
        if (rc != 0 && s->write_rc == 0)
            s->write_rc = rc;
    }
    if (s->write_rc != 0)
        snprintf(s->write_err, sizeof(s->write_err), "%s", store_errmsg(s->st));
    if (s->n_promoted + s->n_expired > 0 || s->next_due_ms == 1)
        s->work_force = true;
}

/* The earliest deadline of the loaded snapshot, 0 if none. */
static int64_t sync_next_due(const struct sync *s)
{
    int64_t due = 0;

    for (size_t i = 0; i < s->n; i++) {
        for (int side = 0; side < 2; side++) {
            int64_t t = s->recs[i].has_next[side] ? s->recs[i].next_until_ms[side] : 0;
            if (t > 0 && (due == 0 || t < due))
                due = t;
        }
    }
    return due;
}

/* Worker side: write, check the version, load when it changed (or forced). */
static void sync_work_cb(uv_work_t *w)
{
    struct sync *s = w->data;
    int64_t v, lv;

    s->loaded = false;
    sync_write(s);
    s->rc = store_data_version(s->st, &v);
    if (s->rc != 0)
        goto fail;
    if (!s->work_force && s->have_version && v == s->version)
        return;
    /* Another connection committed: a link change, or only a heartbeat or
     * accounting (D34), which leaves the links version alone. */
    s->rc = store_links_version(s->st, &lv);
    if (s->rc != 0)
        goto fail;
    if (!s->work_force && s->have_version && lv == s->links_version) {
        s->version = v;
        return;
    }
    s->n = 0;
    s->rc = store_links_load(s->st, sync_collect, s);
    if (s->rc == 0)
        s->rc = store_quotas_load(s->st, sync_collect_quota, s);
    if (s->rc != 0)
        goto fail;
    s->n_allow = 0;
    s->rc = store_allow_load(s->st, sync_collect_allow, s);
    if (s->rc != 0)
        goto fail;
    s->next_due_ms = sync_next_due(s);
    s->version = v;
    s->links_version = lv;
    s->have_version = true;
    s->loaded = true;
    return;
fail:
    memcpy(s->err, store_errmsg(s->st), sizeof(s->err) - 1);
    s->err[sizeof(s->err) - 1] = '\0';
}

static void sync_kick(struct sync *s);

/* Enters or leaves the degraded state (D38), with one log line each way:
 * on every poll tick (also while a worker hangs on the database, since the
 * tick runs on the loop) and on every AUTH. */
static void sync_health(struct sync *s)
{
    uint64_t age = uv_now(s->loop) - s->last_ok_ms;

    if (!s->degraded && age > *s->timeout_ms) {
        s->degraded = true;
        log_warnx("registry: not read for %" PRIu64 " ms (registry_timeout %" PRIu32
                  " ms): refusing new AUTHs; live sessions and streams go on",
                  age, *s->timeout_ms);
    } else if (s->degraded && age <= *s->timeout_ms) {
        s->degraded = false;
        log_info("registry: read again after %" PRIu64 " refused AUTH(s): accepting new AUTHs",
                 s->refused);
    }
}

bool sync_refuse_auth(struct sync *s)
{
    sync_health(s);
    if (s->degraded)
        s->refused++;
    return s->degraded;
}

bool sync_degraded(const struct sync *s)
{
    return s->degraded;
}

uint64_t sync_refused(const struct sync *s)
{
    return s->refused;
}

/* The loaded snapshot into the index: the links, then their allowlists. */
static int sync_apply(struct sync *s)
{
    int rc = index_apply(s->ix, s->recs, s->n, s->ops, s->ops_arg);

    if (rc == 0)
        rc = index_apply_allow(s->ix, s->allows, s->n_allow, s->ops, s->ops_arg);
    return rc;
}

static void sync_after_cb(uv_work_t *w, int status)
{
    struct sync *s = w->data;
    int rc = status != 0 ? status : s->rc;

    s->busy = false;
    s->n_promoting = 0;
    if (s->write_rc != 0)
        log_warnx("registry: ending a key overlap failed: %s", s->write_err);
    if (s->n_expired > 0)
        log_info("registry: %zu key overlap(s) ended at their deadline", s->n_expired);
    if (rc != 0) {
        /* Once per error text: a database down for minutes is not a line
         * every poll (the degraded state has its own line, D38). */
        const char *e = status != 0 ? uv_strerror(status) : s->err;
        if (strcmp(e, s->last_err) != 0)
            log_warnx("registry: reading links failed: %s", e);
        snprintf(s->last_err, sizeof(s->last_err), "%s", e);
    } else if (s->loaded) {
        s->loads++;
        rc = sync_apply(s);
    }
    if (rc == 0) {
        s->last_ok_ms = uv_now(s->loop);
        s->last_err[0] = '\0';
    }
    sync_health(s);
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
    memcpy(s->promoting, s->promote, s->n_promote * sizeof(s->promote[0]));
    s->n_promoting = s->n_promote;
    s->n_promote = 0;
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
    sync_health(t->data);
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
    return sync_apply(s);
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

uint64_t sync_loads(const struct sync *s)
{
    return s->loads;
}

uint64_t sync_last_ok_ms(const struct sync *s)
{
    return s->last_ok_ms;
}

static int sync_queue(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], int side,
                      const uint8_t key[STORE_KEY_LEN], const uint8_t *e, int64_t enroll_at)
{
    struct sync_promotion *p;

    if (s->stopped || s->n_promote >= SYNC_MAX_PROMOTE)
        return -EAGAIN;
    p = &s->promote[s->n_promote++];
    memset(p, 0, sizeof(*p));
    memcpy(p->id, id, STORE_LINK_ID_LEN);
    p->side = side;
    memcpy(p->key, key, STORE_KEY_LEN);
    if (e != NULL && enroll_at != 0) {
        p->enroll = true;
        p->at_ms = enroll_at;
        memcpy(p->e, e, STORE_ENROLL_HASH_LEN);
    } else if (e != NULL) {
        p->endorse = true;
        memcpy(p->e, e, STORE_ENDORSE_LEN);
    }
    s->force = true;
    sync_kick(s);
    return 0;
}

int sync_promote(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], int side,
                 const uint8_t key[STORE_KEY_LEN])
{
    return sync_queue(s, id, side, key, NULL, 0);
}

int sync_endorse(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], int side,
                 const uint8_t e[STORE_ENDORSE_LEN])
{
    return sync_queue(s, id, side, e, e, 0);
}

int sync_enroll(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], int side,
                const uint8_t key[STORE_KEY_LEN], const uint8_t hash[STORE_ENROLL_HASH_LEN],
                int64_t at_ms)
{
    return sync_queue(s, id, side, key, hash, at_ms);
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
    free(s->allows);
    free(s);
}
