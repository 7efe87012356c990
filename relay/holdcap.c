/* SPDX-License-Identifier: MIT */
#include "holdcap.h"

void holdcap_init(struct holdcap *hc, uint64_t cap, uint64_t floor)
{
    *hc = (struct holdcap){.cap = cap, .floor = floor};
}

void holdcap_cancel(struct holdcap *hc, struct holdcap_dir *d)
{
    if (!d->waiting)
        return;
    if (d->prev != NULL)
        d->prev->next = d->next;
    else
        hc->head = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
    else
        hc->tail = d->prev;
    d->prev = d->next = NULL;
    d->waiting = false;
}

/* Wakes every waiter that may read now. Each is unlinked before its wake,
 * which does not touch the list, so the walk goes on from the next one. */
static void holdcap_wake(struct holdcap *hc)
{
    struct holdcap_dir *d = hc->head, *next;

    for (; d != NULL; d = next) {
        next = d->next;
        if (hc->held < hc->cap || d->held < hc->floor) {
            holdcap_cancel(hc, d);
            d->wake(d);
        }
    }
}

void holdcap_limits(struct holdcap *hc, uint64_t cap, uint64_t floor)
{
    hc->cap = cap;
    hc->floor = floor;
    holdcap_wake(hc);
}

size_t holdcap_budget(struct holdcap *hc, struct holdcap_dir *d, size_t want)
{
    uint64_t room = hc->held < hc->cap ? hc->cap - hc->held : 0;

    if (d->held < hc->floor && hc->floor - d->held > room)
        room = hc->floor - d->held;
    d->capped = room == 0;
    if (room >= want)
        return want;
    hc->holds++;
    return (size_t)room;
}

void holdcap_set(struct holdcap *hc, struct holdcap_dir *d, uint64_t now)
{
    bool less = now < d->held;

    hc->held = hc->held - d->held + now;
    d->held = now;
    if (hc->held > hc->peak)
        hc->peak = hc->held;
    if (less && hc->head != NULL)
        holdcap_wake(hc);
}

bool holdcap_wait(struct holdcap *hc, struct holdcap_dir *d)
{
    if (!d->capped)
        return false;
    d->capped = false;
    if (d->waiting)
        return true;
    d->waiting = true;
    d->next = NULL;
    d->prev = hc->tail;
    if (hc->tail != NULL)
        hc->tail->next = d;
    else
        hc->head = d;
    hc->tail = d;
    return true;
}
