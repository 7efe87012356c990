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

struct sync_lookup_waiter {
    bool used, running;
    uint8_t id[STORE_LINK_ID_LEN];
    sync_lookup_cb cb;
    void *arg;
};

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
    int rc;      /* reading the versions or the held links */
    int look_rc; /* reading the links AUTHs wait for (then none is applied) */
    bool loaded;
    bool look_expired; /* a lookup ended overlaps: the held links are read again */
    /* D42: the ids of the links the index held when the work was queued
     * (a load reads these, by id), and what the load read. */
    uint8_t (*ids)[STORE_LINK_ID_LEN];
    size_t n_ids, cap_ids;
    struct store_link *recs;
    struct store_allow *allows; /* the allowlists of recs[i] (D27) */
    size_t n, cap;
    /* AUTHs waiting for their link (sync_lookup): the loop's list; the ids
     * the running work looks up (unique) and what it found. */
    struct sync_lookup_waiter look[SYNC_MAX_LOOKUPS];
    uint8_t look_ids[SYNC_MAX_LOOKUPS][STORE_LINK_ID_LEN];
    size_t n_look_ids;
    struct store_link look_recs[SYNC_MAX_LOOKUPS];
    struct store_allow look_allows[SYNC_MAX_LOOKUPS];
    size_t n_look_recs;
    uint64_t lookups; /* links read for AUTHs since start (metrics) */
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

/* Worker side: the earliest overlap deadline (D21) of what was read goes
 * into next_due_ms. */
static void sync_note_due(struct sync *s, const struct store_link *l)
{
    for (int side = 0; side < 2; side++) {
        int64_t t = l->has_next[side] ? l->next_until_ms[side] : 0;
        if (t > 0 && (s->next_due_ms == 0 || t < s->next_due_ms))
            s->next_due_ms = t;
    }
}

/* Worker side: reads link id into recs[*n] and allows[*n] (n < cap) if it
 * exists; the earliest overlap deadline (D21) of what was read goes into
 * next_due_ms. */
static int sync_read_one(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN],
                         struct store_link *recs, struct store_allow *allows, size_t *n)
{
    int rc = store_link_lookup(s->st, id, &recs[*n], &allows[*n]);

    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    sync_note_due(s, &recs[*n]);
    (*n)++;
    return 0;
}

/* Worker side: the links the index held, again, by id (D42). */
static int sync_reload(struct sync *s)
{
    if (s->n_ids > s->cap) {
        struct store_link *r = realloc(s->recs, s->n_ids * sizeof(*r));
        if (r == NULL)
            return -ENOMEM;
        s->recs = r;
        struct store_allow *a = realloc(s->allows, s->n_ids * sizeof(*a));
        if (a == NULL)
            return -ENOMEM;
        s->allows = a;
        s->cap = s->n_ids;
    }
    s->n = 0;
    s->next_due_ms = 0;
    /* In batches: three statements per STORE_LOOKUP_BATCH links, not per
     * link (with a thousand links held on PostgreSQL a revoke took 0.5-0.9 s
     * to arrive one by one). */
    int rc = store_links_lookup_many(s->st, (const uint8_t(*)[STORE_LINK_ID_LEN])s->ids, s->n_ids,
                                     s->recs, s->allows, &s->n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < s->n; i++)
        sync_note_due(s, &s->recs[i]);
    return 0;
}

/* Worker side: the links AUTHs wait for. A looked-up link whose overlap
 * deadline has passed has it ended first (as the relay did at start-up when
 * it loaded every link), then is read again. */
static int sync_lookup_read(struct sync *s)
{
    int64_t now = (int64_t)wallclock_ms();
    size_t expired;
    int rc = 0;

    for (int pass = 0; pass < 2; pass++) {
        int64_t due = s->next_due_ms;
        s->n_look_recs = 0;
        for (size_t i = 0; i < s->n_look_ids && rc == 0; i++)
            rc = sync_read_one(s, s->look_ids[i], s->look_recs, s->look_allows, &s->n_look_recs);
        if (rc != 0 || pass == 1 || s->next_due_ms == 0 || s->next_due_ms > now ||
            s->next_due_ms == due)
            break;
        rc = store_links_expire(s->st, now, &expired);
        if (rc != 0)
            break;
        s->n_expired += expired;
        s->next_due_ms = due;   /* the second pass reads the deadlines left */
        s->look_expired = true; /* the links held see the end at the next run */
    }
    s->lookups += s->n_look_ids;
    return rc;
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

/* Worker side: write, check the version, read the held links again when it
 * changed (or forced), then the links AUTHs wait for. */
static void sync_work_cb(uv_work_t *w)
{
    struct sync *s = w->data;
    int64_t v, lv;

    s->loaded = false;
    s->look_expired = false;
    s->look_rc = 0;
    s->n_look_recs = 0;
    sync_write(s);
    s->rc = store_data_version(s->st, &v);
    if (s->rc != 0)
        goto fail;
    if (!s->work_force && s->have_version && v == s->version)
        goto lookups;
    /* Another connection committed: a link change, or only a heartbeat or
     * accounting (D34), which leaves the links version alone. */
    s->rc = store_links_version(s->st, &lv);
    if (s->rc != 0)
        goto fail;
    if (!s->work_force && s->have_version && lv == s->links_version) {
        s->version = v;
        goto lookups;
    }
    s->rc = sync_reload(s);
    if (s->rc != 0)
        goto fail;
    s->version = v;
    s->links_version = lv;
    s->have_version = true;
    s->loaded = true;
lookups:
    /* After the version: a change committed from here on moves it, and the
     * next poll reads these links again, held by then. */
    s->look_rc = sync_lookup_read(s);
    if (s->look_rc == 0)
        return;
    s->n_look_recs = 0;
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

/* What the work read into the index: the held links again (a link gone
 * from the registry is removed), then the links AUTHs waited for. */
static int sync_apply(struct sync *s)
{
    int rc = 0;

    if (s->loaded)
        rc = index_apply_some(s->ix, (const uint8_t(*)[STORE_LINK_ID_LEN])s->ids, s->n_ids, s->recs,
                              s->allows, s->n, s->ops, s->ops_arg);
    if (rc == 0 && s->look_rc == 0) /* a failed read names no link to remove */
        rc =
            index_apply_some(s->ix, (const uint8_t(*)[STORE_LINK_ID_LEN])s->look_ids, s->n_look_ids,
                             s->look_recs, s->look_allows, s->n_look_recs, s->ops, s->ops_arg);
    return rc;
}

/* The waiting AUTHs of the ids the work looked up, told rc. A callback may
 * cancel other waiters (sync_lookup_cancel clears their slots). */
static void sync_lookups_done(struct sync *s, int rc)
{
    for (size_t i = 0; i < SYNC_MAX_LOOKUPS; i++) {
        struct sync_lookup_waiter *w = &s->look[i];
        if (!w->used || !w->running)
            continue;
        w->used = false;
        w->cb(w->arg, rc);
    }
    s->n_look_ids = 0;
}

static bool sync_lookups_queued(const struct sync *s)
{
    for (size_t i = 0; i < SYNC_MAX_LOOKUPS; i++) {
        if (s->look[i].used && !s->look[i].running)
            return true;
    }
    return false;
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
    if (rc != 0 || s->look_rc != 0) {
        /* Once per error text: a database down for minutes is not a line
         * every poll (the degraded state has its own line, D38). */
        const char *e = status != 0 ? uv_strerror(status) : s->err;
        if (strcmp(e, s->last_err) != 0)
            log_warnx("registry: reading links failed: %s", e);
        snprintf(s->last_err, sizeof(s->last_err), "%s", e);
    }
    if (rc == 0) { /* also when only the lookups failed: the held links' changes */
        if (s->loaded)
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
    sync_lookups_done(s, rc != 0 ? rc : s->look_rc);
    if (s->look_expired)
        s->force = true;
    if ((s->force || sync_lookups_queued(s)) && !s->stopped)
        sync_kick(s);
}

/* The ids of the links held now, for the work to read again (D42). */
static int sync_snapshot_ids(struct sync *s)
{
    size_t n = index_count(s->ix);

    if (n > s->cap_ids) {
        uint8_t(*p)[STORE_LINK_ID_LEN] = realloc(s->ids, n * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        s->ids = p;
        s->cap_ids = n;
    }
    s->n_ids = index_ids(s->ix, s->ids, s->cap_ids);
    return 0;
}

/* The queued lookups become the running work's, one read per link id. */
static void sync_take_lookups(struct sync *s)
{
    s->n_look_ids = 0;
    for (size_t i = 0; i < SYNC_MAX_LOOKUPS; i++) {
        struct sync_lookup_waiter *w = &s->look[i];
        size_t j;
        if (!w->used || w->running)
            continue;
        w->running = true;
        for (j = 0; j < s->n_look_ids; j++) {
            if (memcmp(s->look_ids[j], w->id, STORE_LINK_ID_LEN) == 0)
                break;
        }
        if (j == s->n_look_ids)
            memcpy(s->look_ids[s->n_look_ids++], w->id, STORE_LINK_ID_LEN);
    }
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
    if (sync_snapshot_ids(s) != 0) {
        s->force = true; /* read them at the next poll */
        return;
    }
    sync_take_lookups(s);
    s->busy = true;
    if (uv_queue_work(s->loop, &s->work, sync_work_cb, sync_after_cb) != 0) {
        s->busy = false;
        for (size_t i = 0; i < s->n_running; i++)
            s->running[i].cb(s->running[i].arg, -EIO, index_count(s->ix));
        s->n_running = 0;
        sync_lookups_done(s, -EIO);
    }
}

static void sync_timer_cb(uv_timer_t *t)
{
    sync_health(t->data);
    sync_kick(t->data);
}

int sync_load_now(struct sync *s)
{
    /* The index is empty: this reads the versions and ends the overlaps
     * whose deadline passed while the relay was down (D21), nothing per
     * link (D42). */
    s->work_force = true;
    s->n_ids = 0;
    sync_work_cb(&s->work);
    if (s->write_rc != 0)
        log_warnx("registry: ending a key overlap failed: %s", s->write_err);
    if (s->rc != 0) {
        log_error("registry: reading links failed: %s", s->err);
        return s->rc;
    }
    s->last_ok_ms = uv_now(s->loop);
    return sync_apply(s);
}

int sync_lookup(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], sync_lookup_cb cb, void *arg)
{
    if (s->stopped)
        return -EAGAIN;
    for (size_t i = 0; i < SYNC_MAX_LOOKUPS; i++) {
        struct sync_lookup_waiter *w = &s->look[i];
        if (w->used)
            continue;
        w->used = true;
        w->running = false;
        memcpy(w->id, id, STORE_LINK_ID_LEN);
        w->cb = cb;
        w->arg = arg;
        sync_kick(s);
        return 0;
    }
    return -EAGAIN;
}

void sync_lookup_cancel(struct sync *s, void *arg)
{
    for (size_t i = 0; s != NULL && i < SYNC_MAX_LOOKUPS; i++) {
        if (s->look[i].used && s->look[i].arg == arg)
            s->look[i].used = false;
    }
}

uint64_t sync_lookups(const struct sync *s)
{
    return s->lookups;
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
    for (size_t i = 0; i < SYNC_MAX_LOOKUPS; i++) {
        if (s->look[i].used && !s->look[i].running) {
            s->look[i].used = false;
            s->look[i].cb(s->look[i].arg, -ECANCELED);
        }
    }
    uv_close((uv_handle_t *)&s->timer, NULL);
}

void sync_free(struct sync *s)
{
    if (s == NULL)
        return;
    store_close(s->st);
    free(s->recs);
    free(s->allows);
    free(s->ids);
    free(s);
}
