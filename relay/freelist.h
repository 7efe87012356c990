/* SPDX-License-Identifier: MIT */
/*
 * freelist — a bounded list of freed blocks of one size, handed out again
 * instead of a malloc (docs/design.md D36): what the relay allocates and frees
 * once per stream leg or stream (struct conn, a leg's input buffer, ticket
 * entries) goes back here and comes out again for the next one.
 *
 * Holds at most max blocks (the rest is freed), so what it keeps while the
 * relay is quiet is bounded by max * size. A block comes out zeroed
 * (freelist_get, like calloc) and is wiped when it goes back
 * (freelist_put: it may have held a ticket or early bytes of a stream). The
 * size is fixed per list; freelist_resize frees what is kept when it changes
 * (a reload of preauth_bytes changes the input buffers' size).
 *
 * Not thread-safe: one list per owner, used on the owner's thread. The list
 * owns the blocks it holds; a block given out is the caller's until put back
 * or freed with free().
 */
#ifndef LR_FREELIST_H
#define LR_FREELIST_H

#include <stddef.h>
#include <stdint.h>

struct freelist {
    void *head;    /* the blocks kept, linked through their first bytes */
    size_t n;      /* blocks kept */
    size_t max;    /* at most this many are kept */
    size_t size;   /* bytes per block (at least a pointer's) */
    uint64_t hits; /* freelist_get calls served from the list */
};

/* Empty list of blocks of size bytes, keeping at most max of them. */
void freelist_init(struct freelist *fl, size_t size, size_t max);
/* A zeroed block of fl->size bytes: from the list, or calloc'ed. NULL when
 * out of memory. */
void *freelist_get(struct freelist *fl);
/* Gives p (from freelist_get or of fl->size bytes from malloc) back: wiped
 * and kept, or freed when max are kept. NULL is fine. */
void freelist_put(struct freelist *fl, void *p);
/* A new block size: what is kept is freed (it has the old size). Nothing
 * when size is the same. */
void freelist_resize(struct freelist *fl, size_t size);
/* Frees every block kept; the list is empty (and usable) after. */
void freelist_done(struct freelist *fl);

#endif
