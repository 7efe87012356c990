// SPDX-License-Identifier: MIT
/*
 * shape — bandwidth limits (docs/design.md D28): a link's byte bucket per
 * direction (struct index_link.rate_bkt, at the link's rate from the
 * registry) and one relay-wide bucket (max_rate, both directions of every
 * link together). A stream leg asks how many bytes it may read now
 * (shape_budget), reads at most that, and pays for what it read
 * (shape_take). When a budget is 0 the leg stops reading its sender and waits
 * (shape_wait): one timer for the whole relay calls the waiters back once the
 * buckets have refilled a little (SHAPE_WAKE_DIV), or after at most
 * SHAPE_WAIT_MAX_MS, when the leg asks again (so a rate changed or removed
 * meanwhile applies at once). Nothing is queued and nothing is dropped: the
 * sender's kernel buffer and TCP window hold the rest.
 *
 * struct shape is owned by struct relay (shape_init .. shape_close). A
 * waiter is owned by whoever embeds it (a stream leg) and must be cancelled
 * (shape_cancel) before its memory goes. shape calls its waiters back
 * through their wake pointer, never by name.
 */
#ifndef LR_SHAPE_H
#define LR_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "bbucket.h"
#include "index.h"
#include "relaycfg.h"

/* A waiter asks again after at most this long. */
#define SHAPE_WAIT_MAX_MS 100u
/* A waiter wakes when a 1/SHAPE_WAKE_DIV s of the rate (20 ms) is back, so
 * reads stay big and the timer fires at most 50 times a second per
 * bucket. */
#define SHAPE_WAKE_DIV 50u

struct shape_waiter {
    struct shape_waiter *prev, *next;
    uint64_t due_ms;
    bool queued;
    void (*wake)(struct shape_waiter *w); /* called once per shape_wait */
};

struct shape {
    uv_loop_t *loop;
    const struct relaycfg_limits *lim; /* max_rate; updated in place on SIGHUP */
    const uint32_t *streams;           /* streams open in the relay (stats) */
    uv_timer_t timer;
    bool timer_armed;
    uint64_t timer_due;
    struct bbucket relay_bkt;     /* max_rate, both directions */
    struct shape_waiter *waiters; /* unsorted; few */
    uint64_t held;                /* times a direction was stopped for rate */
};

void shape_init(struct shape *sh, uv_loop_t *loop, const struct relaycfg_limits *lim,
                const uint32_t *streams);
/* Closes the timer; every waiter must have been cancelled. */
void shape_close(struct shape *sh);
/* Bytes leg dir (0: a->b, 1: b->a) of link l may read now, at most want:
 * what both buckets hold, and of each at most a 1/n share of what a waiter
 * wakes for (n: the link's streams, or the relay's for max_rate), so streams
 * woken together each get a turn. want if neither limit is set. A leg given
 * less than it asked for yields (reads again after the others, D28). */
size_t shape_budget(struct shape *sh, struct index_link *l, int dir, size_t want);
/* n bytes were read in direction dir of link l. */
void shape_take(struct shape *sh, struct index_link *l, int dir, size_t n);
/* The budget was 0: calls w->wake once there is some again (or after
 * SHAPE_WAIT_MAX_MS). Waiting already: the due time is recomputed. */
void shape_wait(struct shape *sh, struct index_link *l, int dir, struct shape_waiter *w);
/* w will not be called; fine if it is not waiting. */
void shape_cancel(struct shape *sh, struct shape_waiter *w);

#endif
