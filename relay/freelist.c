/* SPDX-License-Identifier: MIT */
#include "freelist.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void freelist_init(struct freelist *fl, size_t size, size_t max)
{
    memset(fl, 0, sizeof(*fl));
    fl->size = size < sizeof(void *) ? sizeof(void *) : size;
    fl->max = max;
}

void *freelist_get(struct freelist *fl)
{
    void *p = fl->head;

    if (p == NULL)
        return calloc(1, fl->size);
    memcpy(&fl->head, p, sizeof(void *));
    memset(p, 0, sizeof(void *)); /* the rest was wiped by freelist_put */
    fl->n--;
    fl->hits++;
    return p;
}

void freelist_put(struct freelist *fl, void *p)
{
    if (p == NULL)
        return;
    sodium_memzero(p, fl->size);
    if (fl->n >= fl->max) {
        free(p);
        return;
    }
    memcpy(p, &fl->head, sizeof(void *));
    fl->head = p;
    fl->n++;
}

void freelist_resize(struct freelist *fl, size_t size)
{
    if (size < sizeof(void *))
        size = sizeof(void *);
    if (size == fl->size)
        return;
    freelist_done(fl);
    fl->size = size;
}

void freelist_done(struct freelist *fl)
{
    while (fl->head != NULL) {
        void *p = fl->head;
        memcpy(&fl->head, p, sizeof(void *));
        free(p);
    }
    fl->n = 0;
}
