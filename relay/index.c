/* SPDX-License-Identifier: MIT */
#include "index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define INDEX_BUCKETS 4096u /* power of two; chains grow beyond it gracefully */

struct index {
    struct index_link *bucket[INDEX_BUCKETS];
    size_t count;
};

int index_new(struct index **out)
{
    struct index *ix = calloc(1, sizeof(*ix));

    if (ix == NULL)
        return -ENOMEM;
    *out = ix;
    return 0;
}

void index_free(struct index *ix)
{
    if (ix == NULL)
        return;
    for (size_t i = 0; i < INDEX_BUCKETS; i++) {
        struct index_link *l = ix->bucket[i];
        while (l != NULL) {
            struct index_link *next = l->hnext;
            free(l->allow);
            free(l);
            l = next;
        }
    }
    free(ix);
}

size_t index_count(const struct index *ix)
{
    return ix->count;
}

/* Link ids are random (the registry draws them), so their bytes are a hash. */
static size_t index_slot(const uint8_t id[STORE_LINK_ID_LEN])
{
    uint32_t h;

    memcpy(&h, id, sizeof(h));
    return h & (INDEX_BUCKETS - 1);
}

struct index_link *index_find(const struct index *ix, const uint8_t id[STORE_LINK_ID_LEN])
{
    for (struct index_link *l = ix->bucket[index_slot(id)]; l != NULL; l = l->hnext) {
        if (memcmp(l->id, id, STORE_LINK_ID_LEN) == 0)
            return l;
    }
    return NULL;
}

void index_foreach(const struct index *ix, void (*fn)(void *arg, struct index_link *l), void *arg)
{
    for (size_t i = 0; i < INDEX_BUCKETS; i++) {
        for (struct index_link *l = ix->bucket[i]; l != NULL; l = l->hnext)
            fn(arg, l);
    }
}

bool index_key_ok(const struct index_link *l, int side, const uint8_t pub[STORE_KEY_LEN])
{
    bool ok = false;

    if (side < 0 || side > 1)
        return false;
    /* Both comparisons always run: no timing difference between the keys. */
    if (sodium_memcmp(l->key[side], pub, STORE_KEY_LEN) == 0)
        ok = true;
    if (l->has_next[side] && sodium_memcmp(l->next_key[side], pub, STORE_KEY_LEN) == 0)
        ok = true;
    return ok;
}

bool index_auth_fail(struct index_link *l, int side, const uint8_t pub[STORE_KEY_LEN],
                     const char *addr, uint64_t now_ms)
{
    struct index_authfail *f;
    bool first;

    if (side < 0 || side > 1)
        return false;
    f = &l->authfail[side];
    f->count++;
    f->at_ms = now_ms;
    f->cause = index_key_ok(l, 1 - side, pub) ? "wrong_side" : "bad_key";
    snprintf(f->addr, sizeof(f->addr), "%s", addr);
    store_key_fp(pub, f->key_fp);
    first = f->window_ms == 0 || now_ms - f->window_ms >= INDEX_AUTHFAIL_WINDOW_MS;
    if (first)
        f->window_ms = now_ms;
    return first;
}

/* True if a key accepted for side under old is not accepted under rec. */
static bool index_key_dropped(const struct index_link *old, const struct store_link *rec, int side)
{
    struct index_link tmp;

    memset(&tmp, 0, sizeof(tmp));
    memcpy(tmp.key[side], rec->key[side], STORE_KEY_LEN);
    memcpy(tmp.next_key[side], rec->next_key[side], STORE_KEY_LEN);
    tmp.has_next[side] = rec->has_next[side] != 0;
    if (!index_key_ok(&tmp, side, old->key[side]))
        return true;
    return old->has_next[side] && !index_key_ok(&tmp, side, old->next_key[side]);
}

/* The quota's setting follows the registry; its counter is taken from the
 * registry only when the quota appears (struct index_quota). */
static void index_copy_quota(struct index_quota *q, const struct store_link *rec)
{
    if (!rec->has_quota) {
        memset(q, 0, sizeof(*q));
        return;
    }
    if (!q->on) {
        q->used = rec->quota.used;
        q->start_ms = rec->quota.start_ms;
        q->dirty = false;
    }
    q->on = true;
    q->limit = rec->quota.limit;
    q->period = rec->quota.period;
}

static void index_copy_rec(struct index_link *l, const struct store_link *rec)
{
    index_copy_quota(&l->quota, rec);
    memcpy(l->id, rec->id, STORE_LINK_ID_LEN);
    memcpy(l->name, rec->name, sizeof(l->name));
    l->name[STORE_NAME_MAX] = '\0';
    l->enabled = rec->enabled != 0;
    memcpy(l->key, rec->key, sizeof(l->key));
    memcpy(l->next_key, rec->next_key, sizeof(l->next_key));
    l->has_next[0] = rec->has_next[0] != 0;
    l->has_next[1] = rec->has_next[1] != 0;
    l->next_until_ms[0] = rec->next_until_ms[0];
    l->next_until_ms[1] = rec->next_until_ms[1];
    l->rate[0] = rec->rate[0];
    l->rate[1] = rec->rate[1];
    for (int side = 0; side < 2; side++) {
        /* An endorsement the loop just took from the agent outlives a load
         * made before the worker stored it. */
        if (!rec->has_endorse[side])
            continue;
        memcpy(l->endorse[side], rec->endorse[side], STORE_ENDORSE_LEN);
        l->has_endorse[side] = true;
    }
    memcpy(l->enroll, rec->enroll, sizeof(l->enroll));
}

/* A load taken before the worker stored an enrollment the loop made
 * (enrollgate_spend) still shows the code with the use unspent and the
 * anchor as the key: keep what the loop decided for that side (the same
 * code, fewer uses left), so the enrolled session is not dropped. */
static void index_keep_enrolled(const struct index_link *l, struct store_link *rec)
{
    for (int side = 0; side < 2; side++) {
        const struct store_enroll *mine = &l->enroll[side];
        struct store_enroll *e = &rec->enroll[side];
        if (!mine->has || !e->has || e->uses_left <= mine->uses_left ||
            memcmp(e->hash, mine->hash, sizeof(e->hash)) != 0)
            continue;
        *e = *mine;
        memcpy(rec->key[side], l->key[side], STORE_KEY_LEN);
        rec->has_next[side] = 0;
        rec->next_until_ms[side] = 0;
    }
}

/* True if the change of side from old to rec is the end of an overlap: the
 * old next key is the new current key and there is no next key any more. */
static bool index_key_promoted(const struct index_link *old, const struct store_link *rec, int side)
{
    return old->has_next[side] && rec->has_next[side] == 0 &&
           sodium_memcmp(old->next_key[side], rec->key[side], STORE_KEY_LEN) == 0;
}

static void index_notify(const struct index_ops *ops, void *arg, struct index_link *l,
                         enum index_change what, int side)
{
    if (ops != NULL && ops->on_change != NULL)
        ops->on_change(arg, l, what, side);
}

static int index_update_one(struct index *ix, const struct store_link *fresh,
                            const struct index_ops *ops, void *arg, bool quiet_add)
{
    struct index_link *l = index_find(ix, fresh->id);
    struct store_link kept = *fresh;
    const struct store_link *rec = &kept;
    bool dropped[2], promoted[2], was_enabled;
    size_t slot;

    if (l == NULL) {
        l = calloc(1, sizeof(*l));
        if (l == NULL)
            return -ENOMEM;
        index_copy_rec(l, rec);
        slot = index_slot(rec->id);
        l->hnext = ix->bucket[slot];
        ix->bucket[slot] = l;
        ix->count++;
        l->seen = true;
        if (!quiet_add)
            index_notify(ops, arg, l, INDEX_ADDED, -1);
        return 0;
    }
    l->seen = true;
    index_keep_enrolled(l, &kept);
    dropped[0] = index_key_dropped(l, rec, 0);
    dropped[1] = index_key_dropped(l, rec, 1);
    promoted[0] = index_key_promoted(l, rec, 0);
    promoted[1] = index_key_promoted(l, rec, 1);
    was_enabled = l->enabled;
    index_copy_rec(l, rec);
    if (was_enabled && !l->enabled)
        index_notify(ops, arg, l, INDEX_REVOKED, -1);
    else if (!was_enabled && l->enabled)
        index_notify(ops, arg, l, INDEX_ENABLED, -1);
    for (int side = 0; side < 2; side++) {
        if (dropped[side])
            index_notify(ops, arg, l, promoted[side] ? INDEX_KEY_PROMOTED : INDEX_KEY_DROPPED,
                         side);
    }
    return 0;
}

int index_apply(struct index *ix, const struct store_link *recs, size_t n,
                const struct index_ops *ops, void *arg)
{
    for (size_t i = 0; i < INDEX_BUCKETS; i++) {
        for (struct index_link *l = ix->bucket[i]; l != NULL; l = l->hnext)
            l->seen = false;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = index_update_one(ix, &recs[i], ops, arg, false);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < INDEX_BUCKETS; i++) {
        struct index_link **pp = &ix->bucket[i];
        while (*pp != NULL) {
            struct index_link *l = *pp;
            if (l->seen) {
                pp = &l->hnext;
                continue;
            }
            index_notify(ops, arg, l, INDEX_REMOVED, -1);
            *pp = l->hnext;
            ix->count--;
            free(l->allow);
            free(l);
        }
    }
    return 0;
}

bool index_source_ok(const struct index_link *l, int side, const uint8_t addr[16])
{
    const struct store_allow *a = l->allow;

    if (side < 0 || side > 1)
        return false;
    if (a == NULL || !store_allow_limited(a, side))
        return true;
    for (uint32_t i = 0; i < a->n[side] && i < STORE_ALLOW_MAX; i++) {
        if (cidr_match(&a->cidr[side][i], addr))
            return true;
    }
    return false;
}

bool index_source_fail(struct index_link *l, int side, const char *addr, uint64_t now_ms)
{
    struct index_srcfail *f;
    bool first;

    if (side < 0 || side > 1)
        return false;
    f = &l->srcfail[side];
    f->count++;
    f->at_ms = now_ms;
    snprintf(f->addr, sizeof(f->addr), "%s", addr);
    first = f->window_ms == 0 || now_ms - f->window_ms >= INDEX_AUTHFAIL_WINDOW_MS;
    if (first)
        f->window_ms = now_ms;
    return first;
}

/* True when a and b (NULL: no lists) allow the same sources. */
static bool index_allow_same(const struct store_allow *a, const struct store_allow *b)
{
    for (int side = 0; side < 2; side++) {
        bool la = a != NULL && store_allow_limited(a, side);
        bool lb = b != NULL && store_allow_limited(b, side);
        if (la != lb)
            return false;
        if (!la)
            continue;
        if (a->n[side] != b->n[side] || a->invalid[side] != b->invalid[side])
            return false;
        for (uint32_t i = 0; i < a->n[side] && i < STORE_ALLOW_MAX; i++) {
            if (!cidr_equal(&a->cidr[side][i], &b->cidr[side][i]))
                return false;
        }
    }
    return true;
}

static int index_allow_cmp(const void *key, const void *rec)
{
    return memcmp(key, ((const struct index_allow_rec *)rec)->id, STORE_LINK_ID_LEN);
}

struct index_allow_walk {
    const struct index_allow_rec *recs;
    size_t n;
    const struct index_ops *ops;
    void *arg;
    int rc;
};

/* Makes l's allowlists want (NULL: none), reporting a change. */
static int index_set_allow(struct index_link *l, const struct store_allow *want,
                           const struct index_ops *ops, void *arg)
{
    if (index_allow_same(l->allow, want))
        return 0;
    if (want == NULL) {
        free(l->allow);
        l->allow = NULL;
    } else {
        if (l->allow == NULL && (l->allow = malloc(sizeof(*l->allow))) == NULL)
            return -ENOMEM;
        *l->allow = *want;
    }
    index_notify(ops, arg, l, INDEX_ALLOW_CHANGED, -1);
    return 0;
}

static void index_allow_one(void *arg, struct index_link *l)
{
    struct index_allow_walk *w = arg;
    const struct index_allow_rec *r =
        w->n > 0 ? bsearch(l->id, w->recs, w->n, sizeof(w->recs[0]), index_allow_cmp) : NULL;
    int rc = index_set_allow(l, r != NULL ? &r->allow : NULL, w->ops, w->arg);

    if (rc != 0)
        w->rc = rc;
}

int index_apply_allow(struct index *ix, const struct index_allow_rec *recs, size_t n,
                      const struct index_ops *ops, void *arg)
{
    struct index_allow_walk w = {recs, n, ops, arg, 0};

    index_foreach(ix, index_allow_one, &w);
    return w.rc;
}

/* Unlinks l from its chain and frees it. */
static void index_drop(struct index *ix, struct index_link *l)
{
    struct index_link **pp = &ix->bucket[index_slot(l->id)];

    while (*pp != l)
        pp = &(*pp)->hnext;
    *pp = l->hnext;
    ix->count--;
    free(l->allow);
    free(l);
}

int index_apply_some(struct index *ix, const uint8_t (*ids)[STORE_LINK_ID_LEN], size_t n_ids,
                     const struct store_link *recs, const struct store_allow *allows, size_t n,
                     const struct index_ops *ops, void *arg)
{
    for (size_t i = 0; i < n_ids; i++) {
        struct index_link *l = index_find(ix, ids[i]);
        if (l != NULL)
            l->seen = false;
    }
    for (size_t i = 0; i < n; i++) {
        struct index_link *l;
        bool had = index_find(ix, recs[i].id) != NULL;
        int rc = index_update_one(ix, &recs[i], ops, arg, true);
        if (rc < 0)
            return rc;
        l = index_find(ix, recs[i].id);
        const struct store_allow *want =
            store_allow_limited(&allows[i], 0) || store_allow_limited(&allows[i], 1) ? &allows[i]
                                                                                     : NULL;
        /* A link just taken in gets its lists without a report: it has no
         * session or stream yet for the report to act on. */
        rc = index_set_allow(l, want, had ? ops : NULL, arg);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < n_ids; i++) {
        struct index_link *l = index_find(ix, ids[i]);
        if (l == NULL || l->seen)
            continue;
        index_notify(ops, arg, l, INDEX_REMOVED, -1);
        index_drop(ix, l);
    }
    return 0;
}

/* True when nothing of l is live: no session, no stream, no quota counts
 * still to be queued, no refusal within INDEX_KEEP_FAIL_MS (linkctl probe
 * reads those from the relay). */
static bool index_idle(const struct index_link *l, uint64_t wall_ms)
{
    if (l->session[0] != NULL || l->session[1] != NULL || l->streams != NULL || l->n_streams > 0 ||
        l->quota.dirty)
        return false;
    for (int side = 0; side < 2; side++) {
        if ((l->authfail[side].count > 0 &&
             wall_ms - l->authfail[side].at_ms < INDEX_KEEP_FAIL_MS) ||
            (l->srcfail[side].count > 0 && wall_ms - l->srcfail[side].at_ms < INDEX_KEEP_FAIL_MS))
            return false;
    }
    return true;
}

size_t index_evict(struct index *ix, uint64_t now_ms, uint64_t wall_ms, uint64_t linger_ms)
{
    size_t n = 0;

    for (size_t i = 0; i < INDEX_BUCKETS; i++) {
        struct index_link **pp = &ix->bucket[i];
        while (*pp != NULL) {
            struct index_link *l = *pp;
            if (!index_idle(l, wall_ms)) {
                l->idle_since_ms = 0;
                pp = &l->hnext;
                continue;
            }
            if (l->idle_since_ms == 0)
                l->idle_since_ms = now_ms;
            if (now_ms - l->idle_since_ms < linger_ms) {
                pp = &l->hnext;
                continue;
            }
            *pp = l->hnext;
            ix->count--;
            free(l->allow);
            free(l);
            n++;
        }
    }
    return n;
}

size_t index_ids(const struct index *ix, uint8_t (*out)[STORE_LINK_ID_LEN], size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < INDEX_BUCKETS; i++) {
        for (const struct index_link *l = ix->bucket[i]; l != NULL; l = l->hnext) {
            if (n < cap)
                memcpy(out[n], l->id, STORE_LINK_ID_LEN);
            n++;
        }
    }
    return n;
}
