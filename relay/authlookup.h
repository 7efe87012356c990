/* SPDX-License-Identifier: MIT */
/*
 * authlookup — an AUTH that names a link the index does not hold waits for
 * the registry's answer (docs/design.md D42): the link is read by its id on
 * sync's worker (sync_lookup), put into the index, and the AUTH is resumed
 * on the loop. The event loop never waits for the database (D33).
 *
 * One per control session at most, owned by the session (its slot):
 * authlookup_wait starts it, the resume callback runs once, and
 * authlookup_free (at the session's close) forgets a lookup still under way.
 */
#ifndef LR_AUTHLOOKUP_H
#define LR_AUTHLOOKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "conn.h"
#include "sync.h"

struct authlookup;

/* Runs on the loop once the link was read (rc 0: the index holds it, or the
 * registry has no such link) or could not be (rc < 0); a and spub are the
 * AUTH's, copies valid for the call. */
typedef void (*authlookup_resume_fn)(struct conn *c, const struct auth *a, const uint8_t *spub);

/* True when the AUTH a (static key spub) of c now waits: resume runs later.
 * False when it was already answered (then authlookup_failed tells how), s
 * is NULL, or it cannot wait: the registry is being refused (D38,
 * sync_degraded) or SYNC_MAX_LOOKUPS wait already; those count as failed. */
bool authlookup_wait(struct authlookup **slot, struct sync *s, struct conn *c, const struct auth *a,
                     const uint8_t *spub, authlookup_resume_fn resume);
/* True while a lookup of the slot is under way (the session reads no more
 * input until it is resumed). */
bool authlookup_pending(const struct authlookup *al);
/* True when the lookup of the slot ended without reading the registry. */
bool authlookup_failed(const struct authlookup *al);
/* Forgets the slot's lookup (under way or not) and frees it; NULL ok. */
void authlookup_free(struct authlookup **slot);

#endif
