/* SPDX-License-Identifier: MIT */
/*
 * prune — retention of the registry's stream rows and events, off the loop
 * (docs/design.md D31).
 *
 * At start and every PRUNE_INTERVAL_MS a libuv worker (uv_queue_work), on a
 * store handle of its own, deletes stream rows older than
 * accounting_retention (rolling them into per-link, per-day sums in the same
 * transaction) and events older than events_retention, PRUNE_BATCH rows per
 * transaction with a PRUNE_PAUSE_MS sleep between transactions, so the
 * accounting writer and linkctl wait at most one batch for the write lock. No
 * SQLite call of the prune runs on the loop thread. The retention is read
 * from the relay's configuration when a run starts (SIGHUP applies at the
 * next run). prune_stop makes a running run end after its current batch.
 */
#ifndef LR_PRUNE_H
#define LR_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "relaycfg.h"

#define PRUNE_BATCH       1000
#define PRUNE_PAUSE_MS    10
#define PRUNE_INTERVAL_MS (3600 * 1000)

struct prune;

struct prune_counts {
    uint64_t streams;  /* stream rows pruned (rolled into per-day sums) */
    uint64_t events;   /* event rows pruned */
    uint64_t batches;  /* transactions that pruned */
    uint64_t runs;     /* runs finished */
    uint64_t failures; /* runs that ended on a database error */
    bool running;      /* a run is in progress */
};

/* Opens its own handle on path and starts the timer (first run at once).
 * ret is read at the start of every run; it must outlive the prune. */
int prune_new(uv_loop_t *loop, const char *db_path, const struct relaycfg_retention *ret,
              struct prune **out);
/* Stops the timer and asks a running run to end after its batch. */
void prune_stop(struct prune *p);
/* After uv_run returned: closes the handle, frees. NULL is fine. */
void prune_free(struct prune *p);
/* The counters since start (read on the loop thread). */
void prune_counts_get(const struct prune *p, struct prune_counts *out);

#endif
