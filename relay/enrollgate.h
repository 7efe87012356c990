/* SPDX-License-Identifier: MIT */
/*
 * enrollgate — the relay's check of an enrollment (AUTH flags bit 3,
 * docs/protocol.md §4.1, design.md D30) against a side's code in the index:
 * the hash of the verifier compared in constant time, then uses and expiry.
 * Spending updates the index at once (the sync worker writes the registry
 * after, sync_enroll); the index keeps the spent state across a load taken
 * before that write (index.c). No I/O.
 */
#ifndef LR_ENROLLGATE_H
#define LR_ENROLLGATE_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"

/* UNKNOWN..SPENT in the order of CLOSE enroll_unknown..enroll_spent. */
enum enrollgate_result {
    ENROLLGATE_OK = 0,
    ENROLLGATE_UNKNOWN, /* no link, no code for the side, or another code */
    ENROLLGATE_EXPIRED,
    ENROLLGATE_SPENT,
    ENROLLGATE_COUNT
};

/* "ok", "unknown", "expired", "spent". */
const char *enrollgate_name(int r);
/* The verdict for verifier on side of l (NULL: no such link) at now_ms
 * (wall clock); hash gets the verifier's hash either way. */
enum enrollgate_result enrollgate_check(const struct index_link *l, int side,
                                        const uint8_t verifier[STORE_ENROLL_HASH_LEN],
                                        int64_t now_ms, uint8_t hash[STORE_ENROLL_HASH_LEN]);
/* Spends one use (after ENROLLGATE_OK) and makes key side's only key. */
void enrollgate_spend(struct index_link *l, int side, const uint8_t key[STORE_KEY_LEN],
                      int64_t now_ms);
struct stats;
struct acct;
struct sync;
/* What an enrollment touches: counters, events, the registry writer. */
struct enrollgate_env {
    struct stats *stats;
    struct acct *acct;
    struct sync *sync;
};
/* AUTH flags bit 3 on a connection from peer (conn id): the verdict, and on
 * ENROLLGATE_OK with src_ok the spend (index at once, registry through
 * sync_enroll), counted, logged and, refused, written as an event (when the
 * link exists). *enrolled says whether key is now side's key: not when the
 * source is not allowed (src_ok false: nothing spent, nothing logged here)
 * or the registry queue is full. */
enum enrollgate_result enrollgate_enroll(const struct enrollgate_env *env, struct index_link *l,
                                         int side, const uint8_t verifier[STORE_ENROLL_HASH_LEN],
                                         const uint8_t key[STORE_KEY_LEN], bool src_ok,
                                         uint64_t conn_id, const char *peer, bool *enrolled);
/* True if pub is side's enrollment anchor: never a session key (D30). */
bool enrollgate_is_anchor(const struct index_link *l, int side, const uint8_t pub[STORE_KEY_LEN]);

#endif
