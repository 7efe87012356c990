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
    if (!uv_is_closing((uv_handle_t *)&k->leg->tcp))
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

struct streamkeep *streamkeep_leg(struct stream *st, streamkeep_next_fn *on_next)
{
    struct streamkeep *k = NULL;
    const uint8_t *rest;
    size_t n = 0;
    int rc;

    if (st->own == NULL || st->revived || st->io.leg_eof || !st->leg_inited || st->io.e2e == NULL ||
        st->leg_gen != st->own->ls.gen)
        return NULL; /* a leg begun before the sessions' last wipe: another relay, say */
    rest = e2e_in_rest(st->io.e2e, &n);
    rc = streamkeep_add(st->own, st->io.leg, st->role, st->leg_id, st->leg_ticket, st->keepalive_ms,
                        st->dead_ms, rest, n, on_next, &k);
    if (rc == 0) {
        st->io.leg = NULL;
        st->leg_inited = false;
    } else {
        log_debug("link %s: stream %u: its leg is not kept: %s", st->name, st->id,
                  rc == -ENOSPC ? "twice its bound of idle legs already" : uv_strerror(rc));
    }
    return rc == 0 ? k : NULL;
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

struct streamkeep *streamkeep_take(struct stream_owner *own, uint64_t now)
{
    struct streamkeep *k;

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

void streamkeep_tick(struct stream_owner *own, uint64_t now)
{
    struct streamkeep_list *l = &own->keep;

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
    for (int r = 0; r < 2; r++)
        while (own->keep.head[r] != NULL)
            streamkeep_close(own->keep.head[r]);
}
