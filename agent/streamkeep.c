/* SPDX-License-Identifier: MIT */
/*
 * streamkeep — see streamkeep.h and docs/internals/agent.md "Kept legs".
 */
#include "agent/streamkeep.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "agent/stream.h"

/* How many idle legs the owner keeps in role r (streamkeep.h). */
static uint64_t keep_max(const struct stream_owner *own, int r)
{
    uint64_t max = own->env->keep_legs;

    if (own->keep.relay_max != 0 && max > own->keep.relay_max / STREAMKEEP_RELAY_SHARE)
        max = own->keep.relay_max / STREAMKEEP_RELAY_SHARE;
    return max * (r == E2E_INITIATOR ? 1u : STREAMKEEP_RESPONDER_FACTOR);
}

static void keep_free(struct streamkeep *k)
{
    sodium_memzero(k->leg_ticket, sizeof(k->leg_ticket));
    free(k);
}

static void on_keep_closed(uv_handle_t *h) /* the leg frees itself after */
{
    keep_free(h->data);
}

static void unlist(struct streamkeep *k)
{
    struct streamkeep_list *l;

    if (k->own == NULL)
        return;
    l = &k->own->keep;
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        l->head[k->role] = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
    l->n[k->role]--;
    k->own = NULL;
}

void streamkeep_close(struct streamkeep *k)
{
    if (k->own != NULL)
        k->own->keep.closed++;
    unlist(k);
    if (!leg_is_closing(k->leg))
        leg_close(k->leg, false, on_keep_closed);
}

static void on_keep_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct streamkeep *k = h->data;

    (void)suggested;
    *buf = uv_buf_init((char *)k->rest + k->rest_len, (unsigned)(sizeof(k->rest) - k->rest_len));
}

/* An idle leg read something: the next stream (responder), or its end. */
static void on_keep_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct streamkeep *k = s->data;
    struct stream_owner *own;

    (void)buf;
    if (nread == 0 || k->own == NULL)
        return;
    if (nread < 0 || k->role == E2E_INITIATOR) {
        log_debug("link %s: idle kept stream leg %s; closing it", k->own->cfg->name,
                  nread < 0 ? uv_strerror((int)nread) : "sent bytes to its opener");
        streamkeep_close(k);
        return;
    }
    k->rest_len += (size_t)nread;
    own = k->own;
    unlist(k);
    k->on_next(own, k); /* owns k now; the leg reads on into its stream */
}

int streamkeep_add(struct stream_owner *own, struct leg *leg, enum e2e_role role, uint64_t leg_id,
                   const uint8_t ticket[MSG_TICKET_LEN], uint32_t keepalive_ms, uint32_t dead_ms,
                   const uint8_t *rest, size_t rest_len, streamkeep_next_fn *on_next,
                   struct streamkeep **out)
{
    struct streamkeep_list *l = &own->keep;
    uint64_t max = keep_max(own, (int)role);
    struct streamkeep *k;
    void *holder = leg->tcp.data;
    int rc;

    if (l->n[role] >= max * STREAMKEEP_BURST_FACTOR)
        return -ENOSPC; /* over max only until the tick (streamkeep.h) */
    if (rest_len > sizeof(k->rest) || (role == E2E_INITIATOR && rest_len > 0))
        return -EPROTO;
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return -ENOMEM;
    /* Read while idle: the initiator for its end (or bytes that must not
     * come), the responder for the next stream's first frame. A responder
     * whose rest holds that already goes to on_next (streamkeep_kick) before
     * the loop reads again, reading on into its next stream. */
    leg->tcp.data = k;
    rc = leg_read(leg, on_keep_alloc, on_keep_read);
    if (rc != 0) {
        leg->tcp.data = holder;
        free(k);
        return rc;
    }
    k->leg = leg;
    k->role = role;
    k->leg_id = leg_id;
    memcpy(k->leg_ticket, ticket, MSG_TICKET_LEN);
    k->keepalive_ms = keepalive_ms;
    k->dead_ms = dead_ms;
    k->gen = own->ls.gen;
    k->idle_since_ms = uv_now(leg->tcp.loop);
    if (rest_len > 0)
        memcpy(k->rest, rest, rest_len);
    k->rest_len = rest_len;
    k->on_next = on_next;
    k->own = own;
    k->next = l->head[role];
    if (k->next != NULL)
        k->next->prev = k;
    l->head[role] = k;
    l->n[role]++;
    *out = k;
    return 0;
}

void streamkeep_kick(struct streamkeep *k)
{
    struct stream_owner *own = k->own;

    if (own == NULL || k->role != E2E_RESPONDER || k->rest_len == 0)
        return;
    unlist(k);
    k->on_next(own, k);
}

static int keepmux_add(struct stream *st, const uint8_t *rest, size_t n,
                       streamkeep_next_fn *on_next, struct mux **out);

bool streamkeep_leg(struct stream *st, streamkeep_next_fn *on_next, struct streamkeep **k,
                    struct mux **km)
{
    const uint8_t *rest;
    size_t n = 0;
    int rc;

    *k = NULL;
    *km = NULL;
    if (st->own == NULL || st->revived || st->io.leg_eof || !st->leg_inited || st->io.e2e == NULL ||
        st->leg_gen != st->own->ls.gen || leg_is_channel(st->io.leg))
        return false; /* a leg begun before the sessions' last wipe: another relay, say */
    rest = e2e_in_rest(st->io.e2e, &n);
    if (e2e_share(st->io.e2e))
        rc = keepmux_add(st, rest, n, on_next, km);
    else
        rc = streamkeep_add(st->own, st->io.leg, st->role, st->leg_id, st->leg_ticket,
                            st->keepalive_ms, st->dead_ms, rest, n, on_next, k);
    if (rc == 0) {
        st->io.leg = NULL;
        st->leg_inited = false;
    } else {
        log_debug("link %s: stream %u: its leg is not kept: %s", st->name, st->id,
                  rc == -ENOSPC ? "twice its bound of idle legs already" : uv_strerror(rc));
    }
    return rc == 0;
}

/* Whether a kept leg may still carry a stream: the link sessions were not
 * wiped since (no key, peer or control-session change) and it is not past
 * keep_idle (the initiator's). */
static bool keep_good(const struct streamkeep *k, uint64_t now)
{
    const struct stream_env *env = k->own->env;

    return k->gen == k->own->ls.gen && env->keep_legs > 0 &&
           (k->role == E2E_RESPONDER || now - k->idle_since_ms < env->keep_idle_ms);
}

static struct streamkeep *mux_take(struct stream_owner *own, uint64_t now);

struct streamkeep *streamkeep_take(struct stream_owner *own, uint64_t now)
{
    struct streamkeep *k = mux_take(own, now);

    if (k != NULL)
        return k;

    while ((k = own->keep.head[E2E_INITIATOR]) != NULL && !keep_good(k, now))
        streamkeep_close(k);
    if (k != NULL)
        unlist(k);
    return k;
}

struct leg *streamkeep_move(struct streamkeep *k, uint8_t rest[STREAMKEEP_REST_MAX],
                            size_t *rest_len)
{
    struct leg *leg = k->leg;

    if (k->rest_len > 0)
        memcpy(rest, k->rest, k->rest_len);
    *rest_len = k->rest_len;
    unlist(k);
    keep_free(k);
    return leg;
}

static void mux_tick(struct stream_owner *own, uint64_t now);

void streamkeep_tick(struct stream_owner *own, uint64_t now)
{
    struct streamkeep_list *l = &own->keep;

    mux_tick(own, now);

    for (int r = 0; r < 2; r++) {
        uint64_t max = keep_max(own, r);
        size_t i = 0;

        /* Most recent first: the legs over the bound are the oldest. */
        for (struct streamkeep *k = l->head[r], *nx; k != NULL; k = nx) {
            nx = k->next;
            i++;
            if (!keep_good(k, now) || (i > max && now >= k->idle_since_ms + STREAMKEEP_TRIM_MS))
                streamkeep_close(k);
        }
    }
}

void streamkeep_clear(struct stream_owner *own)
{
    for (int r = 0; r < 2; r++) {
        while (own->keep.head[r] != NULL)
            streamkeep_close(own->keep.head[r]);
        while (own->keep.mux_head[r] != NULL)
            mux_close(own->keep.mux_head[r]->mux); /* unlists it (on_mux_down) */
    }
}

/* ---- shared legs (mux.h, D58) ---- */

void streamkeep_chan_dead(struct leg *leg, bool unless_heard, const char *why)
{
    if (leg_is_channel(leg))
        mux_chan_fail(leg, unless_heard, why);
}

static void mux_unlist(struct keepmux *km)
{
    struct streamkeep_list *l;

    if (km->own == NULL)
        return;
    l = &km->own->keep;
    if (km->prev != NULL)
        km->prev->next = km->next;
    else
        l->mux_head[km->role] = km->next;
    if (km->next != NULL)
        km->next->prev = km->prev;
    km->prev = km->next = NULL;
    l->n_mux[km->role]--;
    km->own = NULL;
}

static void on_mux_down(void *arg, struct mux *m, const char *why, bool dead)
{
    struct keepmux *km = arg;
    struct stream_owner *own = km->own;
    uint64_t told = 0;

    (void)m;
    if (own != NULL)
        log_debug("link %s: shared stream leg %s: %s", own->cfg->name,
                  km->role == E2E_INITIATOR ? "(opener)" : "(answerer)", why);
    /* A path that died may have left the relay and the peer's side up: the
     * relay ends the leg pair, so the peer's streams on it move too (they
     * resume when the opener's ask; an answerer's wait for that). Once: a
     * control session that is down loses it (the opener's streams' own
     * RESUMEs still reach the peer's streams, D58). */
    if (own != NULL && dead)
        (void)own->ops->send_leg_lost(own->arg, km->leg_id, km->leg_ticket, &told);
    mux_unlist(km);
    sodium_memzero(km->leg_ticket, sizeof(km->leg_ticket));
    free(km);
}

/* An entry for channel ch of km, in no list: the stream that takes it
 * frees it (streamkeep_move), or its close does (streamkeep_close). */
static struct streamkeep *chan_entry(struct keepmux *km, struct leg *ch)
{
    struct streamkeep *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return NULL;
    k->leg = ch;
    ch->tcp.data = k;
    k->role = km->role;
    k->leg_id = km->leg_id;
    memcpy(k->leg_ticket, km->leg_ticket, MSG_TICKET_LEN);
    k->keepalive_ms = km->keepalive_ms;
    k->dead_ms = km->dead_ms;
    k->gen = km->gen;
    k->idle_since_ms = uv_now(ch->tcp.loop);
    k->on_next = km->on_next;
    return k;
}

/* Whether a shared leg may carry a new stream (keep_good's rules). */
static bool mux_good(const struct keepmux *km, uint64_t now)
{
    const struct stream_env *env = km->own->env;

    return km->gen == km->own->ls.gen && env->keep_legs > 0 &&
           (env->suites & SUITE_OFFER_SHARE_LEG) != 0 && /* share_legs, after a reload too */
           (km->role == E2E_RESPONDER || mux_channels(km->mux) > 0 ||
            now - mux_idle_since(km->mux) < env->keep_idle_ms);
}

/* The responder's side of a new channel: a stream as on an idle kept leg. */
static void on_mux_channel(void *arg, struct mux *m, struct leg *ch)
{
    struct keepmux *km = arg;
    struct stream_owner *own = km->own;
    struct streamkeep *k = NULL;

    (void)m;
    if (own == NULL || !mux_good(km, uv_now(ch->tcp.loop)) || (k = chan_entry(km, ch)) == NULL) {
        leg_close(ch, true, NULL); /* the opener's stream takes a leg of its own */
        return;
    }
    k->rest_len = mux_take_first(ch, k->rest, sizeof(k->rest));
    km->on_next(own, k);
}

static const struct mux_ops keepmux_ops = {.channel = on_mux_channel, .down = on_mux_down};

static int keepmux_add(struct stream *st, const uint8_t *rest, size_t n,
                       streamkeep_next_fn *on_next, struct mux **out)
{
    struct stream_owner *own = st->own;
    struct streamkeep_list *l = &own->keep;
    enum e2e_role r = st->role;
    struct keepmux *km;
    uint64_t idle = 0;
    int rc = 0;

    for (km = l->mux_head[r]; km != NULL; km = km->next)
        idle += mux_channels(km->mux) == 0;
    if (idle >= keep_max(own, (int)r) * STREAMKEEP_BURST_FACTOR)
        return -ENOSPC;
    if (r == E2E_INITIATOR && n > 0)
        return -EPROTO;
    km = calloc(1, sizeof(*km));
    if (km == NULL)
        return -ENOMEM;
    km->role = r;
    km->leg_id = st->leg_id;
    memcpy(km->leg_ticket, st->leg_ticket, MSG_TICKET_LEN);
    km->keepalive_ms = st->keepalive_ms;
    km->dead_ms = st->dead_ms;
    km->gen = own->ls.gen;
    km->on_next = on_next;
    km->mux = mux_new(st->io.leg, r == E2E_INITIATOR, rest, n, &keepmux_ops, km, &l->mux, &rc);
    if (km->mux == NULL) {
        free(km);
        return rc;
    }
    km->own = own;
    km->next = l->mux_head[r];
    if (km->next != NULL)
        km->next->prev = km;
    l->mux_head[r] = km;
    l->n_mux[r]++;
    *out = km->mux;
    return 0;
}

/* A new channel of the busiest good shared leg with room: the load's
 * streams gather on one leg pair, whose writes they share. */
static struct streamkeep *mux_take(struct stream_owner *own, uint64_t now)
{
    struct keepmux *best = NULL;
    struct streamkeep *k;
    struct leg *ch;

    for (struct keepmux *km = own->keep.mux_head[E2E_INITIATOR]; km != NULL; km = km->next)
        if (mux_good(km, now) && mux_can_open(km->mux) &&
            (best == NULL || mux_channels(km->mux) > mux_channels(best->mux)))
            best = km;
    if (best == NULL || (ch = mux_open(best->mux)) == NULL)
        return NULL;
    k = chan_entry(best, ch);
    if (k == NULL)
        leg_close(ch, false, NULL);
    return k;
}

/* The tick for shared legs: those with no channel go as idle kept legs do. */
static void mux_tick(struct stream_owner *own, uint64_t now)
{
    for (int r = 0; r < 2; r++) {
        uint64_t max = keep_max(own, r);
        size_t i = 0;

        for (struct keepmux *km = own->keep.mux_head[r], *nx; km != NULL; km = nx) {
            nx = km->next;
            if (mux_channels(km->mux) > 0)
                continue;
            i++;
            if (!mux_good(km, now) ||
                (i > max && now >= mux_idle_since(km->mux) + STREAMKEEP_TRIM_MS))
                mux_close(km->mux); /* unlists km (on_mux_down) */
        }
    }
}
