/* SPDX-License-Identifier: MIT */
/*
 * sync — keeps the links the index holds equal to the registry: a worker
 * polls PRAGMA data_version every SYNC_POLL_MS through sync's own store
 * handle and, when another connection (linkctl) committed a change to the
 * links (schema 008's links version moved: not for a pool heartbeat or
 * accounting, D34), reads again, by id, the links the index held when the
 * work was queued (docs/design.md D42: never the whole registry); the loop
 * thread then applies them with index_apply_some. The same work reads the
 * links that waiting AUTHs name (sync_lookup). The admin command `sync`
 * forces a load and answers once it is applied.
 *
 * The same worker ends key rotation overlaps (docs/design.md D21): it
 * promotes a side's next key when the session code reports that the side's
 * agent authenticated with it (sync_promote), and every next key whose
 * deadline has passed (store_links_expire: on the first run, so a deadline
 * that passed while the relay was down is enforced before the first poll
 * ends, and whenever the earliest deadline of the last snapshot is due). Each
 * write is followed by a load, whose index_apply reports INDEX_KEY_PROMOTED. SQLite never runs on
 * the loop thread except in sync_load_now (start-up, before the loop runs).
 *
 * Owned by struct relay; sync_stop closes its timer, sync_free (after the
 * loop ended) the store handle.
 */
#ifndef LR_SYNC_H
#define LR_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "index.h"

#define SYNC_POLL_MS     300
#define SYNC_MAX_PROMOTE 64
#define SYNC_MAX_LOOKUPS 256 /* AUTHs waiting for their link at once (D42) */

struct sync;

/* Called on the loop after a forced load was applied: rc 0 or negative,
 * n the number of links in the index. */
typedef void (*sync_done_cb)(void *arg, int rc, size_t n);

/* timeout_ms: registry_timeout, read on every check (SIGHUP may change it). */
int sync_new(uv_loop_t *loop, const char *db_path, const uint32_t *timeout_ms, struct index *ix,
             const struct index_ops *ops, void *ops_arg, struct sync **out);
/* Loads and applies synchronously (start-up only). */
int sync_load_now(struct sync *s);
/* Starts polling. */
void sync_start(struct sync *s);
/* Asks the worker to promote side's next key of link id, if it still is key
 * (store_link_promote), then to load. At most SYNC_MAX_PROMOTE wait at once;
 * beyond that -EAGAIN (the agent's next connection asks again, and the
 * deadline ends the overlap anyway). */
int sync_promote(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], int side,
                 const uint8_t key[STORE_KEY_LEN]);
/* Asks the worker to store e (key ‖ old key ‖ mac) as side's endorsement
 * (store_link_endorse), then to load; shares sync_promote's queue and its
 * -EAGAIN. */
int sync_endorse(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], int side,
                 const uint8_t e[STORE_ENDORSE_LEN]);
/* Asks the worker to spend the code whose hash is given for side of link id
 * and make key the side's key (store_enroll_spend, as of at_ms, the time the
 * loop accepted it), then to load; shares sync_promote's queue, in order, so
 * an endorsement queued after it finds the key stored. */
int sync_enroll(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], int side,
                const uint8_t key[STORE_KEY_LEN], const uint8_t hash[STORE_ENROLL_HASH_LEN],
                int64_t at_ms);
/* AUTH of a link the index does not hold (docs/design.md D42): the worker
 * reads link id by its primary key (store_link_lookup) and the loop puts it
 * into the index; then cb(arg, rc) runs on the loop, rc 0 (the link is in
 * the index, or the registry has no such link) or the read's error. Lookups
 * queued together share one work. -EAGAIN when SYNC_MAX_LOOKUPS wait or the
 * sync stopped. */
typedef void (*sync_lookup_cb)(void *arg, int rc);
int sync_lookup(struct sync *s, const uint8_t id[STORE_LINK_ID_LEN], sync_lookup_cb cb, void *arg);
/* Forgets every waiting lookup of arg (its connection closed); NULL s ok. */
void sync_lookup_cancel(struct sync *s, void *arg);
/* Link ids read for AUTHs since start. */
uint64_t sync_lookups(const struct sync *s);
/* Forces a load; cb runs once it is applied (or failed). -ENOMEM. */
int sync_request(struct sync *s, sync_done_cb cb, void *arg);
/* Loop time (uv_now) when a poll last read the registry without error:
 * how current the index is (the metrics' registry sync age). */
uint64_t sync_last_ok_ms(const struct sync *s);
/* Registry health (docs/design.md D38): true, and counted, when no poll
 * has read the registry for registry_timeout: the caller refuses the AUTH.
 * The state is logged once when it begins and once when a read succeeds
 * again. */
bool sync_refuse_auth(struct sync *s);
/* Whether new AUTHs are being refused now, and how many were since start. */
bool sync_degraded(const struct sync *s);
uint64_t sync_refused(const struct sync *s);
/* Snapshots loaded by the worker since start (sync_load_now not counted). */
uint64_t sync_loads(const struct sync *s);
void sync_stop(struct sync *s);
void sync_free(struct sync *s);

#endif
