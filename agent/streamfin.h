/* SPDX-License-Identifier: MIT */
/*
 * streamfin — the finished streams a link keeps for resume_timeout so that
 * their initiator can still resume them (docs/protocol.md §7.3, "A finished
 * stream"; docs/design.md D24).
 *
 * The responder of a resumable stream that ended cleanly keeps its struct
 * e2e_fin (common/e2eresume.h: the resume key, the last epoch, two totals;
 * no buffers, no record keys) in its owner's list: if the leg died before
 * its FINISHED record reached the initiator, the initiator's RESUMED finds
 * it here (agent/streamrevive.h) and gets a leg that carries only
 * the RESUME records and FINISHED. Entries leave the list when taken, at
 * their deadline (looked at whenever the list is used, and every second by
 * the agent's timer: streamfin_expire), and with
 * the owner (streamfin_clear). At most STREAMFIN_MAX per owner, and each
 * costs STREAMFIN_COST bytes against the agent-wide resume_buffer_total
 * (stream_env.resume_held): when either is full the owner's oldest entries
 * make room, and a stream that still finds
 * none is not kept (its initiator, if it lacks FINISHED, ends by its
 * resume_timeout as before). Calls nothing of the agent.
 */
#ifndef LR_AGENT_STREAMFIN_H
#define LR_AGENT_STREAMFIN_H

#include <stdint.h>

#include "e2eresume.h"

struct stream_owner;
struct stream_env;

struct streamfin {
    struct streamfin *next;
    struct e2e_fin fin;
    uint64_t stream_id; /* the first leg's, for logs */
    uint64_t until_ms;  /* kept until then (uv_now) */
};

#define STREAMFIN_COST ((uint64_t)sizeof(struct streamfin))
/* Kept per owner at most (the oldest go first): a RESUMED no running stream
 * matches is tried against every entry, RESUME_WINDOW ids each, so this
 * bounds that work (docs/design.md D24). The entries that matter are the
 * newest: streams that ended within a round trip of their leg's death. */
#define STREAMFIN_MAX 1024u

/* Drops the owner's entries whose deadline has passed (the agent calls it
 * every second for every link, so the gauges and resume_held follow the
 * deadlines even when no resume comes). */
void streamfin_expire(struct stream_owner *own, uint64_t now);

/* The bytes of env->resume_held that are replay data: without the kept
 * finished streams' STREAMFIN_COST each (what linkagent_resume_buffer_bytes
 * and `linkagent status` buffer_bytes show). */
uint64_t streamfin_replay_bytes(const struct stream_env *env);

/* Keeps f (copied; the caller wipes its own) for the owner until until_ms.
 * Returns 0, or -ENOBUFS when resume_buffer_total has no room for it. */
int streamfin_keep(struct stream_owner *own, const struct e2e_fin *f, uint64_t stream_id,
                   uint64_t now, uint64_t until_ms);
/* The kept stream a RESUMED's resume id belongs to, taken out of the list
 * into *out with the id's epoch; -ENOENT when none (or only expired ones). */
int streamfin_take(struct stream_owner *own, const uint8_t id[RESUME_ID_LEN], uint64_t now,
                   struct streamfin *out, uint32_t *epoch);
/* Drops every entry (the owner goes away). */
void streamfin_clear(struct stream_owner *own);

#endif
