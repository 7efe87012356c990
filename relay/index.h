/* SPDX-License-Identifier: MIT */
/*
 * index — the in-memory link index the relay serves from: one struct index_link per
 * registry row the relay holds (docs/design.md D42: the links it serves),
 * with its live state (control sessions, streams, counters).
 *
 * The registry (store.c) is the truth; index_apply replaces the index's view
 * with a fresh snapshot of every link (index_apply_some: of the links it
 * names) and reports what changed through
 * callbacks, so the caller can act (close sessions, reset streams) before a
 * removed link's memory goes away. struct index_link pointers stay valid across
 * index_apply for links that still exist (they are updated in place); a
 * removed link is freed right after its on_change(INDEX_REMOVED) callback.
 *
 * No I/O here: loading the snapshot from SQLite happens elsewhere (sync.c).
 */
#ifndef LR_INDEX_H
#define LR_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bbucket.h"
#include "store.h"
#include "tbucket.h"

struct conn;
struct stream;

/* A side's refused authentications since relay start: AUTH named this link,
 * but the static key was not the side's current or next key (`linkctl
 * probe`, docs/internals/relay.md "Admin socket"). */
#define INDEX_AUTHFAIL_WINDOW_MS 10000 /* one event row per window and side */
struct index_authfail {
    uint64_t count;
    uint64_t at_ms;                 /* wall clock of the last one */
    uint64_t window_ms;             /* start of the current event window (wall clock) */
    const char *cause;              /* static: "bad_key" or "wrong_side"; NULL: none yet */
    char addr[64];                  /* source "addr:port" of the last one */
    char key_fp[STORE_KEY_FP_SIZE]; /* store_key_fp of the last refused key */
};

/* A link's byte quota at the relay (docs/design.md D29, relay/quota.h). The
 * limit and period come from the registry on every load; used and start_ms
 * are loaded once, when the quota appears (at start-up, or when it is set),
 * and the relay owns them from then on: they count the bytes read from the
 * link's stream legs, both directions, and go back to the registry
 * (quota_save) every second while they change and at every stream's end. */
struct index_quota {
    bool on; /* the registry holds a quota for this link */
    uint64_t limit;
    int period;       /* enum store_quota_period */
    uint64_t used;    /* bytes in the period starting at start_ms */
    int64_t start_ms; /* 0: not placed in a period yet */
    bool dirty;       /* used or start_ms changed since they were last queued */
    uint64_t refused; /* OPENs refused with quota_exceeded, since relay start */
    uint64_t resets;  /* times the quota was crossed and the streams reset */
};

/* A side's refused sources since relay start: its control sessions or stream
 * legs came from an address its allowlist does not allow (D27; `linkctl
 * probe`). One event row per INDEX_AUTHFAIL_WINDOW_MS window and side. */
struct index_srcfail {
    uint64_t count;
    uint64_t at_ms;     /* wall clock of the last one */
    uint64_t window_ms; /* start of the current event window (wall clock) */
    char addr[64];      /* source "addr:port" of the last one */
};

struct index_link {
    struct index_link *hnext;
    uint8_t id[STORE_LINK_ID_LEN];
    char name[STORE_NAME_MAX + 1];
    bool enabled;
    uint8_t key[2][STORE_KEY_LEN];
    uint8_t next_key[2][STORE_KEY_LEN];
    bool has_next[2];
    int64_t next_until_ms[2]; /* the overlap's end (wall clock), 0: none */
    /* Per side, the endorsement its agent sent for one of its keys (key ‖
     * old key ‖ mac, passed on in PEER_KEY, D21), when has_endorse. */
    uint8_t endorse[2][STORE_ENDORSE_LEN];
    bool has_endorse[2];
    uint64_t rate[2]; /* bytes/s a->b, b->a; 0 = none (D28) */
    /* Per side, its enrollment code (D30); enrollgate.c spends it. */
    struct store_enroll enroll[2];

    /* Live state, owned by the relay's connection code. */
    struct conn *session[2]; /* control session per side, or NULL */
    uint64_t since_ms[2];    /* wall time the session came up */
    bool resumable[2];       /* that session set AUTH flags bit 0 (a pool move, D41) */
    struct stream *streams;  /* pending and spliced streams of this link */
    uint32_t n_streams;
    struct tbucket opens;       /* open_rate_per_link, both sides (D13); zeroed = full */
    struct bbucket rate_bkt[2]; /* rate[], shared by the link's streams (shape.c) */
    uint64_t streams_total;     /* since relay start */
    uint64_t bytes[2];          /* a→b, b→a since relay start */
    struct index_authfail authfail[2];
    struct index_quota quota;
    /* The source allowlists (D27): NULL when neither side has one. Owned
     * here; set by index_apply_allow. */
    struct store_allow *allow;
    struct index_srcfail srcfail[2];
    bool seen;              /* index_apply bookkeeping */
    uint64_t idle_since_ms; /* index_evict: loop time it was first seen idle, 0: not idle */
};

enum index_change {
    INDEX_ADDED = 1,     /* new link */
    INDEX_REVOKED,       /* enabled → disabled */
    INDEX_ENABLED,       /* disabled → enabled */
    INDEX_KEY_DROPPED,   /* a key that was accepted for a side no longer is */
    INDEX_REMOVED,       /* the link is gone; freed after the callback returns */
    INDEX_KEY_PROMOTED,  /* a side's next key became its current key, the old
                            current key is dropped (the overlap ended, D21) */
    INDEX_ALLOW_CHANGED, /* a side's source allowlist changed (D27) */
};

struct index_ops {
    /* side is 0/1 for INDEX_KEY_DROPPED and INDEX_KEY_PROMOTED (called once
     * per affected side, one of the two), else -1. */
    void (*on_change)(void *arg, struct index_link *l, enum index_change what, int side);
};

struct index;

int index_new(struct index **out);
/* Frees every link (live state must already be detached); NULL is fine. */
void index_free(struct index *ix);
size_t index_count(const struct index *ix);
struct index_link *index_find(const struct index *ix, const uint8_t id[STORE_LINK_ID_LEN]);
/* Calls fn for every link; fn must not add or remove links. */
void index_foreach(const struct index *ix, void (*fn)(void *arg, struct index_link *l), void *arg);
/* True if pub is the current or the next key of side (sodium_memcmp). */
bool index_key_ok(const struct index_link *l, int side, const uint8_t pub[STORE_KEY_LEN]);
/* Records a refused key for side (see struct index_authfail): "wrong_side"
 * when pub is the other side's key, else "bad_key"; and pub's fingerprint. Returns true when this
 * is the first of a new INDEX_AUTHFAIL_WINDOW_MS window (the caller writes
 * one event row then). */
bool index_auth_fail(struct index_link *l, int side, const uint8_t pub[STORE_KEY_LEN],
                     const char *addr, uint64_t now_ms);
/* True when addr (16 bytes, IPv4 mapped: conn's addr_key) may carry side's
 * control session and stream legs: the side has no allowlist, or addr is in
 * one of its prefixes (D27). */
bool index_source_ok(const struct index_link *l, int side, const uint8_t addr[16]);
/* Records a refused source for side (struct index_srcfail). Returns true when
 * this is the first of a new INDEX_AUTHFAIL_WINDOW_MS window (the caller logs
 * and writes one event row then). */
bool index_source_fail(struct index_link *l, int side, const char *addr, uint64_t now_ms);
/* One link's allowlists in a snapshot (store_allow_load). */
struct index_allow_rec {
    uint8_t id[STORE_LINK_ID_LEN];
    struct store_allow allow;
};
/* Makes every link's allowlists those of recs[0..n) (sorted by id, as the
 * registry returns them; a link not in recs has none) and reports
 * INDEX_ALLOW_CHANGED (side -1) for each link whose lists changed, after the
 * new lists are in place. Call after index_apply with the same snapshot.
 * -ENOMEM leaves the lists so far in place (a later apply completes the job). */
int index_apply_allow(struct index *ix, const struct index_allow_rec *recs, size_t n,
                      const struct index_ops *ops, void *arg);

/*
 * Makes the index equal to the snapshot recs[0..n) and reports each change.
 * Callbacks run after the link's fields hold the new values. -ENOMEM leaves
 * links added so far in place (a later apply completes the job).
 */
int index_apply(struct index *ix, const struct store_link *recs, size_t n,
                const struct index_ops *ops, void *arg);

/*
 * The index holds only the links the relay serves (docs/design.md D42): a
 * link comes in when an AUTH names it (sync's lookup) and goes out when it
 * has been idle for the linger (index_evict).
 *
 * index_apply_some: makes the links named by ids[0..n_ids) and recs[0..n)
 * those of recs (allows[i] the allowlists of recs[i]): each rec's link is
 * updated in place (changes reported as by index_apply, INDEX_ALLOW_CHANGED
 * for its lists) or added without a report; a link named in ids with no rec
 * (gone from the registry) is reported INDEX_REMOVED and freed; every other
 * link is left alone. -ENOMEM as index_apply.
 */
int index_apply_some(struct index *ix, const uint8_t (*ids)[STORE_LINK_ID_LEN], size_t n_ids,
                     const struct store_link *recs, const struct store_allow *allows, size_t n,
                     const struct index_ops *ops, void *arg);
/* A link with a refusal recorded within this long stays (linkctl probe). */
#define INDEX_KEEP_FAIL_MS 60000
/* Frees the links idle (no session, no stream, no unsaved quota count, no
 * recent refusal) for linger_ms by now_ms (loop time; each call sees which
 * are idle), without a report; wall_ms dates the refusals. Returns how many. */
size_t index_evict(struct index *ix, uint64_t now_ms, uint64_t wall_ms, uint64_t linger_ms);
/* Copies the ids of the index's links into out (at most cap); returns the
 * count of links (more than cap: out holds the first cap). */
size_t index_ids(const struct index *ix, uint8_t (*out)[STORE_LINK_ID_LEN], size_t cap);

#endif
