/* SPDX-License-Identifier: MIT */
/*
 * acct — accounting and the event log, off the loop.
 *
 * Closed streams (struct store_stream) and events are queued in memory on the
 * loop thread and written in batches, at most once a second, by the module's
 * own writer thread (D50: ACCT_NICE below the loop's priority, so a batch
 * does not delay the loop on busy CPUs) through its own store handle:
 * never a SQLite call per packet or per stream on the loop. Queues are
 * bounded (ACCT_MAX_QUEUED each); overflow is dropped and counted. A batch
 * part (streams or events) whose write fails is put back in front of the queue
 * and written again with the next batch; a committed part never is. acct_free
 * writes what is still queued synchronously (shutdown, after the loop ended).
 */
#ifndef LR_ACCT_H
#define LR_ACCT_H

#include <stdint.h>

#include <uv.h>

#include "store.h"

#define ACCT_MAX_QUEUED 65536
#define ACCT_FLUSH_MS   1000
#define ACCT_RECENT     64 /* events kept in memory for the status page */
#define ACCT_NICE       10 /* the writer thread's nice value above the process's */

struct acct;

/* Opens its own handle on the database at path; starts the flush timer. */
int acct_new(uv_loop_t *loop, const char *db_path, struct acct **out);
/* Queues one closed stream (copied). */
void acct_stream(struct acct *a, const struct store_stream *rec);
/* Queues a link's byte quota counter (D29), written after the stream rows
 * of the same batch; bounded and counted as the others. */
void acct_quota(struct acct *a, const struct store_quota_use *u);
/* Queues one event; link_id may be NULL, addr/detail may be NULL. */
void acct_event(struct acct *a, const char *kind, const uint8_t *link_id, const char *addr,
                const char *detail, uint32_t count);
/* Calls fn for the newest ACCT_RECENT events, oldest first (the status
 * page's; kept in memory whether or not the queue had room for them). */
void acct_recent_foreach(const struct acct *a, void (*fn)(void *arg, const struct store_event *e),
                         void *arg);
/* Starts a batch write now if none is running (e.g. before a sync). */
void acct_flush(struct acct *a);
/* Stops the timer and the writer's wake-up (closes both handles; the writer
 * starts no batch after this); queued data stays for acct_free. */
void acct_stop(struct acct *a);
/* Rows queued or being written, not yet committed. */
uint64_t acct_backlog(const struct acct *a);
/* Rows dropped because a queue was full, since start. */
uint64_t acct_dropped(const struct acct *a);
/* Joins the writer thread (waiting for a batch it is writing), writes what is
 * still queued synchronously, closes the store, frees. After acct_stop and
 * the uv_run that closes its handles. NULL is fine. */
void acct_free(struct acct *a);

#endif
