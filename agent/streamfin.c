/* SPDX-License-Identifier: MIT */
/*
 * streamfin — see streamfin.h and docs/internals/agent.md "Resumption".
 */
#include "agent/streamfin.h"

#include <errno.h>
#include <stdlib.h>

#include <sodium.h>

#include "agent/stream.h"

static void fin_free(struct stream_owner *own, struct streamfin *f)
{
    own->n_fins--;
    own->env->fins_kept--;
    own->env->resume_held -= STREAMFIN_COST;
    e2e_fin_wipe(&f->fin);
    free(f);
}

/* Drops the oldest entry (the list runs oldest first). */
static void drop_head(struct stream_owner *own)
{
    struct streamfin *f = own->fins;

    own->fins = f->next;
    if (own->fins == NULL)
        own->fins_tail = NULL;
    fin_free(own, f);
}

/* Entries past their deadline leave. Every entry of an owner had the same
 * resume_timeout unless a reload changed it, so the oldest expire first;
 * one that outlives a younger one by a reload waits for it. */
void streamfin_expire(struct stream_owner *own, uint64_t now)
{
    while (own->fins != NULL && own->fins->until_ms <= now)
        drop_head(own);
}

int streamfin_keep(struct stream_owner *own, const struct e2e_fin *f, uint64_t stream_id,
                   uint64_t now, uint64_t until_ms)
{
    struct stream_env *env = own->env;
    struct streamfin *n;

    streamfin_expire(own, now);
    while (own->fins != NULL && (own->n_fins >= STREAMFIN_MAX ||
                                 env->resume_held + STREAMFIN_COST > env->resume_total_cap))
        drop_head(own);
    if (env->resume_held + STREAMFIN_COST > env->resume_total_cap || until_ms <= now)
        return -ENOBUFS;
    if ((n = calloc(1, sizeof(*n))) == NULL)
        return -ENOBUFS;
    n->fin = *f;
    n->stream_id = stream_id;
    n->until_ms = until_ms;
    if (own->fins_tail != NULL)
        own->fins_tail->next = n;
    else
        own->fins = n;
    own->fins_tail = n;
    own->n_fins++;
    env->fins_kept++;
    env->resume_held += STREAMFIN_COST;
    return 0;
}

int streamfin_take(struct stream_owner *own, const uint8_t id[RESUME_ID_LEN], uint64_t now,
                   struct streamfin *out, uint32_t *epoch)
{
    struct streamfin *prev = NULL;

    streamfin_expire(own, now);
    for (struct streamfin *f = own->fins; f != NULL; prev = f, f = f->next) {
        if (e2e_fin_match(&f->fin, id, epoch) != 0)
            continue;
        if (prev != NULL)
            prev->next = f->next;
        else
            own->fins = f->next;
        if (own->fins_tail == f)
            own->fins_tail = prev;
        *out = *f;
        out->next = NULL;
        fin_free(own, f);
        return 0;
    }
    return -ENOENT;
}

void streamfin_clear(struct stream_owner *own)
{
    while (own->fins != NULL)
        drop_head(own);
}

uint64_t streamfin_replay_bytes(const struct stream_env *env)
{
    return env->resume_held - env->fins_kept * STREAMFIN_COST;
}
