/* SPDX-License-Identifier: MIT */
/*
 * ticket — the one-time stream tickets of docs/protocol.md §6.1.
 *
 * A ticket is 32 random bytes bound to an owner (the relay's struct stream)
 * and a leg (0 = side a, 1 = side b), valid until an absolute expiry time. The
 * table is a fixed-size chained hash table keyed by the ticket itself (tickets
 * are uniformly random, so their first 8 bytes are already a good hash and an
 * attacker presenting tickets cannot choose what is stored). Lookups compare
 * with sodium_memcmp.
 *
 * Pure and loop-free: time is passed in by the caller, nothing here logs or
 * touches a socket. Ownership: the table owns its entries (freed and wiped on
 * take, revoke and ticket_table_free); the owner pointer is only stored, never
 * dereferenced. Freed entries are kept for reuse (freelist.h, wiped).
 */
#ifndef LR_TICKET_H
#define LR_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TICKET_LEN 32
/* Tickets' worth of random bytes drawn from the system at once (D36). */
#define TICKET_POOL_DRAW 64

struct ticket_table;

/* A table holding at most max_entries live tickets. -ENOMEM, -EINVAL (0). */
int ticket_table_new(size_t max_entries, struct ticket_table **out);
/* Frees every entry (wiped) and the table; NULL is fine. */
void ticket_table_free(struct ticket_table *t);
/* Live tickets in the table. */
size_t ticket_count(const struct ticket_table *t);
/* How often the table drew random bytes from the system (a 32-byte seed,
 * expanded with ChaCha20 into TICKET_POOL_DRAW tickets' worth): once per
 * TICKET_POOL_DRAW tickets issued, not once per ticket. Tickets drawn ahead
 * stay in the table's memory, as live tickets do, each wiped there when it
 * is handed out (docs/design.md D36). */
uint64_t ticket_random_draws(const struct ticket_table *t);

/*
 * Draws a fresh random ticket for (owner, leg) valid until expires_ms and
 * copies it to out. -ENOSPC when the table is full, -ENOMEM.
 */
int ticket_issue(struct ticket_table *t, void *owner, int leg, uint64_t expires_ms,
                 uint8_t out[TICKET_LEN]);
/* As ticket_issue with caller-chosen bytes (tests); -EEXIST if present. */
int ticket_insert(struct ticket_table *t, const uint8_t tk[TICKET_LEN], void *owner, int leg,
                  uint64_t expires_ms);
/*
 * Presents a ticket: on success removes it (single use) and writes its owner
 * and leg. -ENOENT when unknown or already used; -ETIMEDOUT when expired
 * (removed as well, so a second try says -ENOENT).
 */
int ticket_take(struct ticket_table *t, const uint8_t tk[TICKET_LEN], uint64_t now_ms, void **owner,
                int *leg) __attribute__((warn_unused_result));
/* True if tk is a ticket of the table that has not expired at now_ms; the
 * table is not changed (ticket_take still decides). */
bool ticket_live(struct ticket_table *t, const uint8_t tk[TICKET_LEN], uint64_t now_ms);
/*
 * Marks a live ticket as vouching for connection claimer (its id, not 0) past
 * its address's limits before a byte of it was read (docs/design.md D16): one
 * connection at a time per ticket. -ENOENT when unknown, -ETIMEDOUT when
 * expired, -EBUSY when another connection holds the claim. Only the id is
 * stored: the claim goes with the entry (take, revoke), and a connection that
 * closes without taking the ticket drops it with ticket_unclaim.
 */
int ticket_claim(struct ticket_table *t, const uint8_t tk[TICKET_LEN], uint64_t now_ms,
                 uint64_t claimer) __attribute__((warn_unused_result));
/* Drops claimer's claim on tk; nothing if tk is gone or claimed by another. */
void ticket_unclaim(struct ticket_table *t, const uint8_t tk[TICKET_LEN], uint64_t claimer);
/* Removes a ticket if present (its stream went away); 0 or -ENOENT. */
int ticket_revoke(struct ticket_table *t, const uint8_t tk[TICKET_LEN]);

#endif
