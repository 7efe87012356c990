/* SPDX-License-Identifier: MIT */
/*
 * pool — this relay as a member of a pool sharing one registry (docs/design.md
 * D34): its heartbeat row, the members it sees, and each link's home.
 *
 * A timer on the loop every `heartbeat` queues a libuv worker that, through
 * the pool's own store handle, writes this member's row (advertised
 * addresses, load, wall clock) and reads every member's row; the loop then
 * keeps that list. SQLite never runs on the loop thread except at start
 * (pool_new writes the first beat before the relay listens). A link's home is
 * the rendezvous hash (common/hrw.c) of its id over the eligible members
 * (pool_eligible, the single place that decides it). When the home is
 * another member, the session code asks pool_redirect to answer the AUTH with
 * REDIRECT (the home's advertised addresses, nothing else) instead of
 * WELCOME, after a TCP connect to the home found something listening there
 * (poolprobe.c, D41: a home whose every address refuses is dead at once in
 * this member's view, until its row shows a new beat). When the members
 * change (one dies or joins), the sessions of every link here whose home is
 * now another member get REDIRECT (reason draining: a hand-over) and
 * close, so both sides meet on the new home; the links go in batches spread
 * evenly over member_timeout, and a link whose two sessions resume has its
 * spliced streams reset here to resume at the home (D41). The session
 * module passes its sender with every pool_redirect (every AUTH goes
 * through it), so a relay that has sessions to move has it. Without [pool] member_id there is no
 * struct pool (NULL), and every function here is a no-op on NULL.
 *
 * Owned by struct relay: pool_stop closes its timer, pool_free (after the
 * loop ended) the store handle.
 */
#ifndef LR_POOL_H
#define LR_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "conn.h"
#include "index.h"
#include "msg.h"
#include "relaycfg.h"
#include "stats.h"
#include "store.h"

#define POOL_MAX_MEMBERS 64 /* rows read per beat; more are ignored (logged) */

struct pool;

/* Sends one control message on an authenticated session (the session
 * module's encoder); 0 or negative. */
typedef int (*pool_send_fn)(struct conn *c, const struct msg *m);
/* Goes on with an authenticated AUTH of link l on this relay (the session
 * module's WELCOME path), after pool_redirect held it. */
typedef void (*pool_serve_fn)(struct conn *c, struct index_link *l);

/* Opens the pool's store handle and writes the first beat. cfg is read at
 * every beat (updated in place on SIGHUP); stats gives the load. 0, or
 * -EINVAL (no advertise addresses, or a list that does not fit a REDIRECT)
 * or a store error, logged. */
int pool_new(uv_loop_t *loop, const struct relaycfg *cfg, const struct stats *stats,
             struct index *index, struct pool **out);
void pool_start(struct pool *p);
struct selfcheck;
/* From now on each beat writes addrs_ok = selfcheck_usable(sc) (D35);
 * before, and with p NULL, nothing changes (addresses taken as usable). */
void pool_set_selfcheck(struct pool *p, const struct selfcheck *sc);
/* If link id's home is another eligible member: returns true and holds c
 * while a TCP connect checks that something listens at the home (D41,
 * poolprobe.c; at most `heartbeat`); then either sends REDIRECT (reason
 * home) with send, counts it, and closes c after it is written
 * (CONN_END_FLUSH: c is not attached to its link yet), or, when every
 * address of the home refused, takes the home out of this member's view
 * until it beats again and, if the link's home is now this relay, calls
 * serve(c, l) (the link looked up again; c closed if it is gone).
 * False (c untouched) when this relay is the home, when no member is
 * eligible (the relay serves the link itself), or p is NULL. serve NULL:
 * REDIRECT at once. */
bool pool_redirect(struct pool *p, struct conn *c, const uint8_t id[STORE_LINK_ID_LEN],
                   pool_send_fn send, pool_serve_fn serve);
/* c closes: an AUTH held for a check is dropped (the session module's close
 * path). */
void pool_forget(struct pool *p, const struct conn *c);
/* Whether member m may home links at wall clock now_ms: its last beat is
 * within member_timeout and its addresses are usable (addrs_ok; see D34). */
bool pool_eligible(const struct pool *p, const struct store_member *m, int64_t now_ms);
/* Leaving the pool (D39, a drain that no successor takes over): from now
 * on this member homes no link and stops beating; a worker removes its row,
 * and once every live member has beaten since (or member_timeout passed),
 * every session here gets REDIRECT (reason draining) to its link's next
 * home, or GOING_AWAY (seconds until drain_deadline, loop time) when there
 * is none. False (nothing done) when p is NULL, stopped or already leaving:
 * the caller sends GOING_AWAY itself. */
bool pool_leave(struct pool *p, uint64_t drain_deadline);
/* True while a leave has not moved the links out yet: the drain waits. */
bool pool_leaving(const struct pool *p);
/* The metrics: REDIRECTs sent, members seen alive at the last beat (0 when
 * p is NULL). */
uint64_t pool_redirects(const struct pool *p);
/* Checks of a home before a REDIRECT started, and members found dead by
 * them (D41). */
uint64_t pool_checks(const struct pool *p);
uint64_t pool_found_dead_total(const struct pool *p);
unsigned pool_alive(const struct pool *p);
void pool_stop(struct pool *p);
void pool_free(struct pool *p);

#endif
