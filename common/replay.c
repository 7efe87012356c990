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

static void chunk_free(struct replay_chunk *c)
{
    sodium_memzero(c->data, sizeof(c->data));
    free(c);
}

void replay_done(struct replay *r)
{
    struct replay_chunk *c, *next;

    if (r == NULL)
        return;
    for (c = r->head; c != NULL; c = next) {
        next = c->next;
        chunk_free(c);
    }
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
        c = malloc(sizeof(*c));
        if (c == NULL) {
            while (first != NULL) {
                c = first->next;
                free(first);
                first = c;
            }
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
        chunk_free(c);
    }
}

const uint8_t *replay_peek(const struct replay *r, uint64_t at, size_t *len)
{
    const struct replay_chunk *c = r->head;
    uint64_t skip;
    size_t off, avail;

    *len = 0;
    if (at < r->base || at >= r->end)
        return NULL;
    skip = at - r->base + r->head_off;
    while (skip >= REPLAY_CHUNK) {
        c = c->next;
        skip -= REPLAY_CHUNK;
    }
    off = (size_t)skip;
    avail = (c == r->tail ? r->tail_len : REPLAY_CHUNK) - off;
    *len = avail;
    return c->data + off;
}

uint64_t replay_held(const struct replay *r)
{
    return r->end - r->base;
}
