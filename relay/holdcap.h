/* SPDX-License-Identifier: MIT */
/*
 * holdcap — the relay-wide cap on bytes held for stream readers
 * (docs/design.md D40): bytes read from one leg that the other leg's socket
 * has not taken yet, in user-space write queues (the copying path, D12) and
 * in kernel pipes (the zero-copy path, D14). Each direction of a spliced
 * stream reports what it holds (holdcap_set) and asks how much it may read
 * (holdcap_budget): up to the floor whatever the others hold, above it only
 * what keeps the relay-wide sum at or under the cap. So the sum never exceeds
 * cap + directions x floor (D40), and a direction whose reader takes its
 * bytes (held back under the floor) is never starved by stalled ones.
 *
 * No I/O. A struct holdcap is owned by struct relay; a struct holdcap_dir by
 * its stream direction, which sets its held count to 0 and cancels it
 * (holdcap_cancel) before its memory goes. A waiting direction's wake is
 * called from holdcap_set or holdcap_limits once it may read again (the sum
 * under the cap, or its own count under the floor), after it was removed
 * from the list; wake must not call holdcap_set or holdcap_limits.
 */
#ifndef LR_RELAY_HOLDCAP_H
#define LR_RELAY_HOLDCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One direction of a stream (embedded in its source leg). */
struct holdcap_dir {
    struct holdcap_dir *prev, *next;
    uint64_t held; /* bytes it holds now (holdcap_set) */
    bool capped;   /* its last budget was 0 because of the cap */
    bool waiting;  /* in the list, woken once it may read */
    void (*wake)(struct holdcap_dir *d);
};

struct holdcap {
    uint64_t cap;   /* limits.held_total */
    uint64_t floor; /* limits.held_floor: what a direction may always hold */
    uint64_t held;  /* bytes held now, all directions */
    uint64_t peak;  /* the most held at once since start */
    uint64_t holds; /* budgets the cap cut below what was asked (0 included) */
    struct holdcap_dir *head, *tail;
};

void holdcap_init(struct holdcap *hc, uint64_t cap, uint64_t floor);
/* New limits (SIGHUP); wakes whoever may read under them. */
void holdcap_limits(struct holdcap *hc, uint64_t cap, uint64_t floor);
/* Bytes d may read now, at most want: its room under the floor or the room
 * under the cap, whichever is larger. A cut counts in holds; 0 marks d as
 * capped (holdcap_wait then waits). */
size_t holdcap_budget(struct holdcap *hc, struct holdcap_dir *d, size_t want);
/* d holds now bytes (the sum moves by the difference, the peak follows);
 * wakes the waiters that may read now. */
void holdcap_set(struct holdcap *hc, struct holdcap_dir *d, uint64_t now);
/* After a budget of 0: true if the cap made it 0, and then d waits (until
 * holdcap_set or holdcap_limits wakes it); false if the cap did not (another
 * limit did: the caller waits on that one). */
bool holdcap_wait(struct holdcap *hc, struct holdcap_dir *d);
/* d no longer waits (fine if it does not). */
void holdcap_cancel(struct holdcap *hc, struct holdcap_dir *d);

#endif
