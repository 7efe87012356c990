/* SPDX-License-Identifier: MIT */
/*
 * quota — byte quotas per link at the relay (docs/design.md D29): the
 * period a wall-clock time falls in (a UTC day, a UTC calendar month), how
 * many bytes a stream leg may read before its link goes past its quota, the
 * counting, and the counters' way back to the registry.
 *
 * The state is struct index_quota in each struct index_link (index.h). What
 * counts is every byte the relay reads from a spliced stream leg of the
 * link, both directions summed. A read is never larger than the quota's
 * remainder plus one byte (quota_budget), so the read that crosses the limit
 * takes used to at most limit + 1 on the copying path; the caller does not
 * forward it and resets the link's streams. Nothing here does I/O or closes
 * a connection; times are passed in (wall-clock ms, relay/wallclock.h).
 */
#ifndef LR_QUOTA_H
#define LR_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"

struct acct;
struct stats;

/* Places the counter in the period of now_ms: a counter of an earlier
 * period starts again at 0 (one of a later period, the wall clock having
 * stepped back, stays). True when it did (a new period began). */
bool quota_roll(struct index_quota *q, int64_t now_ms);
/* How many of want bytes a leg of the link may read now: want without a
 * quota, else at most the remainder + 1 (at least 1). */
size_t quota_budget(const struct index_quota *q, size_t want);
/* Counts n bytes read; true when they take used past the limit. */
bool quota_count(struct index_quota *q, uint64_t n);
/* True when the link has a quota and has used all of it: an OPEN is refused. */
bool quota_exhausted(const struct index_quota *q);
/* An OPEN of link l: the period rolled to now_ms; true when the quota is
 * used up, then the refusal is counted and logged (aggregated; loop_ms is
 * the loop's time) and the caller refuses the OPEN. */
bool quota_refuse(struct index_link *l, struct stats *stats, int64_t now_ms, uint64_t loop_ms);
/* Link l went past its quota: counted (link and relay), logged once at
 * warning and written as an event "quota_exceeded"; the caller resets the
 * link's streams. */
void quota_crossed(struct index_link *l, struct stats *stats, struct acct *acct);
/* Queues the counter of link l for the registry (acct_quota) if it changed. */
void quota_save(struct acct *acct, struct index_link *l);
/* Once a second: every link's period rolled to now_ms and its counter queued
 * if it changed. */
void quota_tick(struct index *ix, struct acct *acct, int64_t now_ms);

#endif
