/* SPDX-License-Identifier: MIT */
#include "ticket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "freelist.h"

/* Entries kept for reuse (freelist.h): the tickets of this many streams. */
#define TICKET_FREE_MAX 1024

struct ticket_ent {
    struct ticket_ent *next;
    void *owner;
    uint64_t expires_ms;
    uint64_t claimer; /* id of the connection it vouches for, 0 = none */
    int leg;
    uint8_t tk[TICKET_LEN];
};

struct ticket_table {
    struct ticket_ent **bucket;
    size_t nbuckets; /* power of two */
    size_t count;
    size_t max;
    struct freelist ents; /* freed entries, handed out again */
    /* Random bytes drawn ahead, TICKET_POOL_DRAW tickets' worth per draw:
     * one getrandom() for that many tickets instead of one each. The next
     * unused bytes are the last pool_left; each is wiped as it is taken. */
    uint8_t pool[TICKET_POOL_DRAW * TICKET_LEN];
    size_t pool_left;
    uint64_t pool_draws;
};

int ticket_table_new(size_t max_entries, struct ticket_table **out)
{
    struct ticket_table *t;
    size_t n = 16;

    if (max_entries == 0)
        return -EINVAL;
    while (n < max_entries && n < ((size_t)1 << 24))
        n <<= 1;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->bucket = calloc(n, sizeof(*t->bucket));
    if (t->bucket == NULL) {
        free(t);
        return -ENOMEM;
    }
    t->nbuckets = n;
    t->max = max_entries;
    freelist_init(&t->ents, sizeof(struct ticket_ent), TICKET_FREE_MAX);
    *out = t;
    return 0;
}

static void ticket_ent_free(struct ticket_table *t, struct ticket_ent *e)
{
    freelist_put(&t->ents, e); /* wiped there */
}

void ticket_table_free(struct ticket_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct ticket_ent *e = t->bucket[i];
        while (e != NULL) {
            struct ticket_ent *next = e->next;
            ticket_ent_free(t, e);
            e = next;
        }
    }
    freelist_done(&t->ents);
    sodium_memzero(t->pool, sizeof(t->pool));
    free(t->bucket);
    free(t);
}

size_t ticket_count(const struct ticket_table *t)
{
    return t->count;
}

uint64_t ticket_random_draws(const struct ticket_table *t)
{
    return t->pool_draws;
}

/* TICKET_LEN fresh random bytes from the pool (refilled when it runs out);
 * they are wiped from the pool. */
static void ticket_random(struct ticket_table *t, uint8_t out[TICKET_LEN])
{
    uint8_t *p;

    if (t->pool_left < TICKET_LEN) {
        /* One 32-byte seed from the system, expanded with ChaCha20
         * (randombytes_buf_deterministic) and wiped: one getrandom() per
         * pool, where randombytes_buf itself asks for 256 bytes per call. */
        uint8_t seed[randombytes_SEEDBYTES];
        randombytes_buf(seed, sizeof(seed));
        randombytes_buf_deterministic(t->pool, sizeof(t->pool), seed);
        sodium_memzero(seed, sizeof(seed));
        t->pool_left = sizeof(t->pool);
        t->pool_draws++;
    }
    p = t->pool + sizeof(t->pool) - t->pool_left;
    memcpy(out, p, TICKET_LEN);
    sodium_memzero(p, TICKET_LEN);
    t->pool_left -= TICKET_LEN;
}

static size_t ticket_slot(const struct ticket_table *t, const uint8_t tk[TICKET_LEN])
{
    uint64_t h;

    memcpy(&h, tk, sizeof(h));
    return (size_t)(h & (t->nbuckets - 1));
}

/* The link pointing at the entry holding tk, or NULL. */
static struct ticket_ent **ticket_find(struct ticket_table *t, const uint8_t tk[TICKET_LEN])
{
    struct ticket_ent **pp = &t->bucket[ticket_slot(t, tk)];

    for (; *pp != NULL; pp = &(*pp)->next) {
        if (sodium_memcmp((*pp)->tk, tk, TICKET_LEN) == 0)
            return pp;
    }
    return NULL;
}

int ticket_insert(struct ticket_table *t, const uint8_t tk[TICKET_LEN], void *owner, int leg,
                  uint64_t expires_ms)
{
    struct ticket_ent *e;
    size_t slot;

    if (t->count >= t->max)
        return -ENOSPC;
    if (ticket_find(t, tk) != NULL)
        return -EEXIST;
    e = freelist_get(&t->ents);
    if (e == NULL)
        return -ENOMEM;
    memcpy(e->tk, tk, TICKET_LEN);
    e->owner = owner;
    e->leg = leg;
    e->expires_ms = expires_ms;
    slot = ticket_slot(t, tk);
    e->next = t->bucket[slot];
    t->bucket[slot] = e;
    t->count++;
    return 0;
}

int ticket_issue(struct ticket_table *t, void *owner, int leg, uint64_t expires_ms,
                 uint8_t out[TICKET_LEN])
{
    uint8_t tk[TICKET_LEN];
    int rc;

    /* A collision of 256 random bits does not happen; the loop only keeps the
     * table's no-duplicates invariant true by construction. */
    do {
        ticket_random(t, tk);
        rc = ticket_insert(t, tk, owner, leg, expires_ms);
    } while (rc == -EEXIST);
    if (rc == 0)
        memcpy(out, tk, TICKET_LEN);
    sodium_memzero(tk, sizeof(tk));
    return rc;
}

static void ticket_unlink(struct ticket_table *t, struct ticket_ent **pp)
{
    struct ticket_ent *e = *pp;

    *pp = e->next;
    t->count--;
    ticket_ent_free(t, e);
}

int ticket_take(struct ticket_table *t, const uint8_t tk[TICKET_LEN], uint64_t now_ms, void **owner,
                int *leg)
{
    struct ticket_ent **pp = ticket_find(t, tk);
    void *o;
    int l;

    if (pp == NULL)
        return -ENOENT;
    if (now_ms >= (*pp)->expires_ms) {
        ticket_unlink(t, pp);
        return -ETIMEDOUT;
    }
    o = (*pp)->owner;
    l = (*pp)->leg;
    ticket_unlink(t, pp);
    *owner = o;
    *leg = l;
    return 0;
}

bool ticket_live(struct ticket_table *t, const uint8_t tk[TICKET_LEN], uint64_t now_ms)
{
    struct ticket_ent **pp = ticket_find(t, tk);

    return pp != NULL && now_ms < (*pp)->expires_ms;
}

int ticket_claim(struct ticket_table *t, const uint8_t tk[TICKET_LEN], uint64_t now_ms,
                 uint64_t claimer)
{
    struct ticket_ent **pp = ticket_find(t, tk);

    if (claimer == 0)
        return -EINVAL;
    if (pp == NULL)
        return -ENOENT;
    if (now_ms >= (*pp)->expires_ms)
        return -ETIMEDOUT;
    if ((*pp)->claimer != 0)
        return -EBUSY;
    (*pp)->claimer = claimer;
    return 0;
}

void ticket_unclaim(struct ticket_table *t, const uint8_t tk[TICKET_LEN], uint64_t claimer)
{
    struct ticket_ent **pp = ticket_find(t, tk);

    if (pp != NULL && claimer != 0 && (*pp)->claimer == claimer)
        (*pp)->claimer = 0;
}

int ticket_revoke(struct ticket_table *t, const uint8_t tk[TICKET_LEN])
{
    struct ticket_ent **pp = ticket_find(t, tk);

    if (pp == NULL)
        return -ENOENT;
    ticket_unlink(t, pp);
    return 0;
}
