/* SPDX-License-Identifier: MIT */
/*
 * replay — see replay.h and docs/internals/e2e.md.
 */
#include "replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct replay_chunk {
    struct replay_chunk *next;
    uint8_t data[REPLAY_CHUNK];
};

void replay_init(struct replay *r, uint64_t start)
{
    memset(r, 0, sizeof(*r));
    r->base = start;
    r->end = start;
}

/* Released blocks, wiped, for the next append of any stream (replay.h). */
static struct replay_chunk *pool;
static size_t pool_n;

/* A block for an append: from the pool if it has one. */
static struct replay_chunk *chunk_get(void)
{
    struct replay_chunk *c = pool;

    if (c == NULL)
        return malloc(sizeof(*c));
    pool = c->next;
    pool_n--;
    return c;
}

/* A block given back: wiped, then pooled while the pool has room. */
static void chunk_put(struct replay_chunk *c)
{
    sodium_memzero(c->data, sizeof(c->data));
    if (pool_n >= REPLAY_POOL) {
        free(c);
        return;
    }
    c->next = pool;
    pool = c;
    pool_n++;
}

static void put_list(struct replay_chunk *c)
{
    struct replay_chunk *next;

    for (; c != NULL; c = next) {
        next = c->next;
        chunk_put(c);
    }
}

size_t replay_pool_blocks(void)
{
    return pool_n;
}

void replay_pool_free(void)
{
    struct replay_chunk *c;

    while ((c = pool) != NULL) {
        pool = c->next;
        free(c);
    }
    pool_n = 0;
}

void replay_done(struct replay *r)
{
    if (r == NULL)
        return;
    put_list(r->head);
    memset(r, 0, sizeof(*r));
}

int replay_append(struct replay *r, const uint8_t *p, size_t n)
{
    size_t need = n, k;
    struct replay_chunk *c, *first = NULL, *last = NULL;

    /* Allocate every chunk first, so a failure appends nothing. */
    if (r->tail != NULL)
        need = n > REPLAY_CHUNK - r->tail_len ? n - (REPLAY_CHUNK - r->tail_len) : 0;
    while (need > 0) {
        c = chunk_get();
        if (c == NULL) {
            put_list(first);
            return -ENOMEM;
        }
        c->next = NULL;
        if (last != NULL)
            last->next = c;
        else
            first = c;
        last = c;
        need = need > REPLAY_CHUNK ? need - REPLAY_CHUNK : 0;
    }
    if (r->tail == NULL && first != NULL) {
        r->head = r->tail = first;
        r->head_off = r->tail_len = 0;
        first = first->next;
    }
    while (n > 0) {
        if (r->tail_len == REPLAY_CHUNK) {
            r->tail->next = first;
            r->tail = first;
            first = first->next;
            r->tail->next = NULL;
            r->tail_len = 0;
        }
        k = REPLAY_CHUNK - r->tail_len;
        if (k > n)
            k = n;
        memcpy(r->tail->data + r->tail_len, p, k);
        r->tail_len += k;
        r->end += k;
        p += k;
        n -= k;
    }
    return 0;
}

void replay_release(struct replay *r, uint64_t upto)
{
    struct replay_chunk *c;
    uint64_t drop;
    size_t in_head;

    if (upto > r->end)
        upto = r->end;
    if (upto <= r->base)
        return;
    drop = upto - r->base;
    while (drop > 0 && r->head != NULL) {
        in_head = (r->head == r->tail ? r->tail_len : REPLAY_CHUNK) - r->head_off;
        if (drop < in_head) {
            r->head_off += (size_t)drop;
            r->base += drop;
            break;
        }
        drop -= in_head;
        r->base += in_head;
        c = r->head;
        r->head = c->next;
        r->head_off = 0;
        if (c == r->tail) {
            r->tail = NULL;
            r->tail_len = 0;
        }
        if (c == r->hint)
            r->hint = NULL;
        chunk_put(c);
    }
}

const uint8_t *replay_peek(struct replay *r, uint64_t at, size_t *len)
{
    struct replay_chunk *c = r->head;
    uint64_t skip, start = r->base - r->head_off; /* offset of head's first byte */
    size_t off, avail;

    *len = 0;
    if (at < r->base || at >= r->end)
        return NULL;
    if (r->hint != NULL && at >= r->hint_start) {
        c = r->hint;
        start = r->hint_start;
    }
    skip = at - start;
    while (skip >= REPLAY_CHUNK) {
        c = c->next;
        skip -= REPLAY_CHUNK;
        start += REPLAY_CHUNK;
    }
    r->hint = c;
    r->hint_start = start;
    off = (size_t)skip;
    avail = (c == r->tail ? r->tail_len : REPLAY_CHUNK) - off;
    *len = avail;
    return c->data + off;
}

uint64_t replay_held(const struct replay *r)
{
    return r->end - r->base;
}
