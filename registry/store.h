/* SPDX-License-Identifier: MIT */
/*
 * store — the link registry in SQLite or PostgreSQL (docs/internals/registry.md,
 * docs/design.md D33). One API for one handle; store.c implements the handle,
 * opening and the links, store_acct.c the accounting and the event log
 * (store_int.h), all through the database layer db.h.
 *
 * store_open's path is an SQLite file, or a postgresql:// (postgres://) URL
 * of an existing PostgreSQL database (db.h; STORE_OPEN_CREATE then creates
 * the tables, not the database). What follows says SQLite; on PostgreSQL the
 * schema version is the table lr_meta, writers take an advisory lock with a
 * 5000 ms lock_timeout, and durability is the server's.
 *
 * One struct store is one SQLite connection. A handle is used by one thread at
 * a time (the relay opens its own handle on its worker thread; linkctl opens
 * one per run). The database is opened in WAL mode with synchronous=FULL,
 * busy_timeout 5000 ms and foreign keys on; the schema is migrated on open
 * from the SQL files in schema/ (embedded at build time), in order, by
 * PRAGMA user_version. A database whose user_version is newer than this build
 * knows is refused (-ENOTSUP, with the message "database schema version N is
 * newer than this linkrelay knows (M)").
 *
 * Only public keys and hashes are stored; never a private key or a token.
 *
 * Every function returns 0 or a negative errno:
 *   -ENOENT   no such link
 *   -EEXIST   a link with that name (or id) already exists
 *   -EINVAL   bad argument (bad name, bad side, bad cause ...)
 *   -ENOTSUP  database schema newer than this build
 *   -EBUSY    the database stayed locked past the busy timeout
 *   -EIO      any other database error (a lost PostgreSQL connection too)
 *   -ENOMEM   out of memory
 * and leaves a one-line human-readable reason in store_errmsg(st). Every
 * change that touches more than one row runs in one transaction; when a
 * change function returns 0 the change is committed and durable
 * (synchronous=FULL). Out-parameters are written only on success.
 */
#ifndef LR_STORE_H
#define LR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "keys.h"

#define STORE_LINK_ID_LEN LINKID_LEN
#define STORE_KEY_LEN     32
#define STORE_ENDORSE_LEN 96  /* key ‖ old key ‖ mac (D21) */
#define STORE_NAME_MAX    64  /* bytes, [A-Za-z0-9._-], 1..64 */
#define STORE_KIND_MAX    32  /* event kind, bytes */
#define STORE_ADDR_MAX    64  /* event source address text, bytes */
#define STORE_DETAIL_MAX  256 /* event detail text, bytes */

/* The schema version this build migrates to (the highest schema/NNN_*.sql). */
int store_schema_latest(void);

enum store_side {
    STORE_SIDE_A = 0,
    STORE_SIDE_B = 1,
};

/* Stream close causes, as in docs/protocol.md and the streams table. */
enum store_cause {
    STORE_CAUSE_NONE = -1, /* only in store_totals: no stream closed yet */
    STORE_CAUSE_FIN = 0,
    STORE_CAUSE_RESET = 1,
    STORE_CAUSE_TIMEOUT = 2,
    STORE_CAUSE_REVOKED = 3,
    STORE_CAUSE_LIMIT = 4,
    STORE_CAUSE_ERROR = 5,
    STORE_CAUSE_QUOTA = 6, /* the link went past its byte quota (D29) */
};
#define STORE_CAUSE_COUNT 7
/* "fin", "reset", ...; "none" for STORE_CAUSE_NONE; NULL for unknown values. */
const char *store_cause_name(int cause);
/* Parses a cause name; returns 0 or -EINVAL. */
int store_cause_parse(const char *s, enum store_cause *out);

/* A link's byte quota (link_quota, D29): at most limit bytes (both
 * directions summed) per period, a UTC day or a UTC calendar month. used
 * counts the period that starts at start_ms (0: not counted yet). */
enum store_quota_period {
    STORE_QUOTA_DAY = 0,
    STORE_QUOTA_MONTH = 1,
};
struct store_quota {
    uint64_t limit;
    int period; /* enum store_quota_period */
    uint64_t used;
    int64_t start_ms;
};

/* A side's enrollment code (D30), when has: the hash of its verifier, the
 * anchor key derived from it, when it expires, how many enrollments it
 * allows and how many are left, and when it was last used (0: never). */
#define STORE_ENROLL_HASH_LEN 32
#define STORE_ENROLL_USES_MAX 100
struct store_enroll {
    int has;
    uint8_t hash[STORE_ENROLL_HASH_LEN];
    uint8_t anchor[STORE_KEY_LEN];
    int64_t created_ms, expires_ms, last_ms;
    uint32_t uses, uses_left;
};

/* One link as stored. key[side] is the current public key of that side;
 * next_key[side] is valid when has_next[side] (rotation overlap: the relay
 * accepts either). next_until_ms[side] is when the overlap ends (the relay
 * then promotes the next key and the current one stops working; 0: no
 * deadline, or no next key). key_gen[side] counts rotations of that side
 * (1 at add). endorse[side], when has_endorse[side], is the endorsement the
 * side's agent sent for one of its keys: key[32] ‖ old key[32] ‖ mac[32]
 * (protocol §5.1; the relay only passes it on). */
struct store_link {
    uint8_t id[STORE_LINK_ID_LEN];
    char name[STORE_NAME_MAX + 1];
    int enabled;
    int64_t created_ms;
    int64_t updated_ms;
    uint8_t key[2][STORE_KEY_LEN];
    uint8_t next_key[2][STORE_KEY_LEN];
    int has_next[2];
    int64_t next_until_ms[2];
    uint32_t key_gen[2];
    uint8_t endorse[2][STORE_ENDORSE_LEN];
    int has_endorse[2];
    uint64_t rate[2]; /* bytes/s a->b ([0]) and b->a ([1]); 0 = none (D28) */
    struct store_enroll enroll[2];
    int has_quota; /* quota is valid (a link_quota row, store_quota.c) */
    struct store_quota quota;
};

/* Persisted per-link accounting totals (all streams ever closed). */
struct store_totals {
    uint64_t streams;
    uint64_t bytes_a_to_b;
    uint64_t bytes_b_to_a;
    int last_cause;         /* enum store_cause, STORE_CAUSE_NONE if no stream yet */
    int64_t last_closed_ms; /* 0 if no stream yet */
};

/* One closed stream, as the relay accounts it. */
struct store_stream {
    uint8_t link_id[STORE_LINK_ID_LEN];
    uint64_t stream_id;
    int opener; /* enum store_side: the side that sent OPEN */
    int64_t started_ms;
    int64_t ended_ms;
    int64_t wait_ms; /* time from STREAM handout to splice (0 if never paired) */
    uint64_t bytes_a_to_b;
    uint64_t bytes_b_to_a;
    int cause; /* enum store_cause, not NONE */
};

/* One event-log row. kind is a short word: "link_added", "revoked", "enabled",
 * "removed", "rotated", "connect", "disconnect", "auth_fail", "limit", ...
 * (free text, at most STORE_KIND_MAX bytes). count > 1 means an aggregated
 * row (e.g. 37 auth failures from addr in one interval). For store_events_add
 * id is ignored and ts_ms 0 means "now". */
struct store_event {
    int64_t id;
    int64_t ts_ms;
    char kind[STORE_KIND_MAX + 1];
    int has_link;
    uint8_t link_id[STORE_LINK_ID_LEN];
    char link_name[STORE_NAME_MAX + 1]; /* list only: "" if the link is gone */
    char addr[STORE_ADDR_MAX + 1];      /* "" if none */
    char detail[STORE_DETAIL_MAX + 1];
    uint32_t count;
};

struct store;

enum store_open_flags {
    STORE_OPEN_CREATE = 1 << 0,   /* create the file if missing (else -ENOENT) */
    STORE_OPEN_READONLY = 1 << 1, /* no migration; refuses an old schema too */
};

/* Opens (and migrates) the database at path. On failure *out is untouched
 * and, when errbuf is not NULL, a one-line reason is written into it. */
int store_open(const char *path, unsigned flags, struct store **out, char *errbuf, size_t errlen);
/* Closes the handle; accepts NULL. */
void store_close(struct store *st);
/* The reason for the last failure on this handle ("" if none). Valid until
 * the next call on the handle. */
const char *store_errmsg(const struct store *st);
/* The schema version of the open database (PRAGMA user_version). */
int store_schema_version(struct store *st, int *out);
/* PRAGMA data_version: changes when another connection commits. */
int store_data_version(struct store *st, int64_t *out);

/* Name rules: 1..STORE_NAME_MAX bytes of [A-Za-z0-9._-]. Returns 0/-EINVAL. */
int store_name_valid(const char *name);

/* Calls cb for every link, ordered by name. The link pointer is valid only
 * during the call. A non-zero return from cb stops the walk and is returned. */
typedef int (*store_link_cb)(void *arg, const struct store_link *link);
int store_links_load(struct store *st, store_link_cb cb, void *arg);
/* Finds a link by name, or by id given as 32 hex digits. */
int store_link_find(struct store *st, const char *name_or_id, struct store_link *out);
int store_link_get(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], struct store_link *out);

/* Inserts link (id, name, enabled, key[], has_next[]/next_key[], rate[] are used;
 * created/updated are set to now, key_gen to 1) and an event "link_added"
 * with detail, in one transaction. -EEXIST on a duplicate name or id. */
int store_link_add(struct store *st, const struct store_link *link, const char *detail);
/* Enables or revokes; writes event "enabled" or "revoked" with detail. */
int store_link_set_enabled(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int enabled,
                           const char *detail);
/* Deletes the link with its stream rows and totals; the event log keeps its
 * rows (with the link id) and gains a "removed" event with detail. */
int store_link_remove(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], const char *detail);
/* Replaces the current key of side with key, clears that side's next key,
 * bumps key_gen; writes event "rotated" with "DETAIL; old key FP"
 * (store_key_fp of the key replaced; "old key FP" when detail is NULL). The old key stops
 * working as soon as the relay re-reads the registry. */
int store_link_rotate(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                      const uint8_t key[STORE_KEY_LEN], const char *detail);
/* Sets (key != NULL) or clears (key == NULL) the next key of side: during an
 * overlap the relay accepts the current and the next key, until until_ms
 * (wall clock; 0 = no deadline: until the agent switches). Event "next_key". */
int store_link_set_next(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                        const uint8_t *key, int64_t until_ms, const char *detail);
/* A key's fingerprint: its first STORE_KEY_FP_BYTES bytes in hex. Public
 * (a part of a public key): "rotated" events carry the old key's, the
 * relay's refusals the refused key's, and `linkctl probe` compares them. */
#define STORE_KEY_FP_BYTES 8
#define STORE_KEY_FP_SIZE  (2 * STORE_KEY_FP_BYTES + 1)
void store_key_fp(const uint8_t key[STORE_KEY_LEN], char out[STORE_KEY_FP_SIZE]);
/* Promotes the next key of side to current (the old current key stops
 * working), clears the deadline and bumps key_gen, but only while the next
 * key still equals key (it may have changed since the caller saw it): -ENOENT
 * when the link is gone or its next key is not key. Event "rotated", detail
 * "side X: DETAIL; old key FP" (store_key_fp of the key retired; without
 * "DETAIL; " when detail is NULL). Store
 * functions in store_rotate.c. */
int store_link_promote(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                       const uint8_t key[STORE_KEY_LEN], const char *detail);
/* Promotes, as store_link_promote, every next key whose deadline is at or
 * before now_ms, in one transaction; *n (may be NULL) is how many. Event
 * "rotated" per side with detail "overlap ended". */
int store_links_expire(struct store *st, int64_t now_ms, size_t *n);
/* Stores e (key[32] ‖ old key[32] ‖ mac[32]) as side's endorsement, if its
 * key is still the side's current or next key: -ENOENT when the link is gone
 * or the key is neither. Nothing checks the mac (the relay cannot). */
int store_link_endorse(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                       const uint8_t e[STORE_ENDORSE_LEN]);
/*
 * Enrollment (D30, store_enroll.c). store_enroll_set gives side of link id a
 * code: hash, anchor, expires_ms (wall clock), uses 1..STORE_ENROLL_USES_MAX;
 * it replaces an earlier code of the side and writes an event. The side's
 * key is not touched (store_link_add registered the anchor).
 * store_enroll_spend spends one use of the code whose hash is given, if it is
 * the side's, not expired at now_ms and not spent, and makes key the side's
 * current key (ending any overlap), with an event, in one transaction;
 * -ENOENT when the code is not (any more) usable.
 */
int store_enroll_set(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                     const uint8_t hash[STORE_ENROLL_HASH_LEN], const uint8_t anchor[STORE_KEY_LEN],
                     int64_t expires_ms, uint32_t uses);
int store_enroll_spend(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                       const uint8_t hash[STORE_ENROLL_HASH_LEN], const uint8_t key[STORE_KEY_LEN],
                       int64_t now_ms);

/* Bandwidth limits (docs/design.md D28): bytes per second per direction,
 * STORE_RATE_MIN..STORE_RATE_MAX, or 0 for none. */
#define STORE_RATE_MIN 1000ULL      /* 8 kbit/s */
#define STORE_RATE_MAX (1ULL << 40) /* 1 TiB/s */
/* Sets both directions' rate (rate[0] a->b, rate[1] b->a; 0 = none); event
 * "rate" with detail. -EINVAL (nothing changed) for a rate outside the
 * bounds, -ENOENT for no such link. In store_rate.c. */
int store_link_set_rate(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                        const uint64_t rate[2], const char *detail);
/* True if r is 0 or within STORE_RATE_MIN..STORE_RATE_MAX. */
#define STORE_RATE_VALID(r) ((r) == 0 || ((r) >= STORE_RATE_MIN && (r) <= STORE_RATE_MAX))

/* Persisted totals of one link (zeros and STORE_CAUSE_NONE if none). */
int store_link_totals(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                      struct store_totals *out);

/* Inserts n stream rows and adds them to link_totals, in one transaction.
 * Rows of links that no longer exist are skipped (the link was removed while
 * the stream ran). -EINVAL (nothing written) on a bad side or cause. */
int store_streams_record(struct store *st, const struct store_stream *s, size_t n);
/* Appends n events in one transaction. */
int store_events_add(struct store *st, const struct store_event *ev, size_t n);
/* Calls cb for the newest `limit` events (all if limit == 0), oldest first,
 * optionally only those of one link. The event pointer is valid only during
 * the call; a non-zero return from cb stops and is returned. */
typedef int (*store_event_cb)(void *arg, const struct store_event *ev);
int store_events_list(struct store *st, const uint8_t *link_id, size_t limit, store_event_cb cb,
                      void *arg);

/* ---- byte quotas (store_quota.c, D29) ---- */
/* "day", "month"; NULL for other values. */
const char *store_quota_period_name(int period);
/* Parses a period name; 0 or -EINVAL. */
int store_quota_period_parse(const char *s, enum store_quota_period *out);
/* The start of the period (enum store_quota_period) that now_ms (wall
 * clock, ms since the epoch) falls in: 00:00 UTC of its day, or of the first
 * day of its month; and the start of the period after the one of start_ms. */
int64_t store_quota_period_start(int period, int64_t now_ms);
int64_t store_quota_period_next(int period, int64_t start_ms);
/* The largest limit a quota may have (fits SQLite's signed INTEGER). */
#define STORE_QUOTA_MAX ((uint64_t)INT64_MAX)
/* Sets the quota of link id to limit bytes per period, keeping the bytes
 * used so far (a new row starts at 0); event "quota" with detail. -ENOENT
 * when there is no such link, -EINVAL on a bad period or a limit above
 * STORE_QUOTA_MAX. */
int store_quota_set(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], uint64_t limit,
                    int period, const char *detail);
/* Removes the quota of link id (and its counter); event "quota" with detail.
 * 0 also when it had none; -ENOENT when there is no such link. */
int store_quota_clear(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], const char *detail);
/* Fills link->quota and has_quota from the registry (has_quota 0: none). */
int store_quota_get(struct store *st, struct store_link *link);
/* Calls cb for every quota row (the id and the quota). */
typedef int (*store_quota_cb)(void *arg, const uint8_t id[STORE_LINK_ID_LEN],
                              const struct store_quota *q);
int store_quotas_load(struct store *st, store_quota_cb cb, void *arg);
/* The relay's counters: for each of n rows, the bytes used in the period
 * starting at start_ms, in one transaction. A row never lowers a stored
 * count of the same period and never goes back to an older period (two
 * relays at once during a takeover, D25); rows of links without a quota are
 * skipped. */
struct store_quota_use {
    uint8_t link_id[STORE_LINK_ID_LEN];
    uint64_t used;
    int64_t start_ms;
};
int store_quota_save(struct store *st, const struct store_quota_use *u, size_t n);
/* Source allowlists (docs/design.md D27; store_allow.c). Per side, the
 * address prefixes its control sessions and stream legs may come from; an
 * empty list accepts every source. At most STORE_ALLOW_MAX per side. */
#define STORE_ALLOW_MAX 16
struct store_allow {
    uint32_t n[2];
    struct cidr cidr[2][STORE_ALLOW_MAX];
    /* Read back only: the side has a row that does not parse, or more than
     * STORE_ALLOW_MAX rows (the database was edited by hand). The relay then
     * accepts only what the valid rows allow, nothing if there are none. */
    bool invalid[2];
};
/* True when side accepts sources from a restricted list (n or invalid). */
bool store_allow_limited(const struct store_allow *a, int side);
/* The lists of link id (both empty when it has none). */
int store_allow_get(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], struct store_allow *out);
/* Replaces the list of every side in sides (bit 0: side a, bit 1: side b)
 * with a's, in one transaction, and writes event "allow" with detail (the
 * new lists). -EINVAL (nothing changed) for a list longer than
 * STORE_ALLOW_MAX or no side; -ENOENT when the link is gone. */
int store_allow_set(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], unsigned sides,
                    const struct store_allow *a, const char *detail);
/* Calls cb for every link that has a list, in link id order (a link without
 * rows is not named). The pointers are valid only during the call; a
 * non-zero return from cb stops the walk and is returned. */
typedef int (*store_allow_cb)(void *arg, const uint8_t id[STORE_LINK_ID_LEN],
                              const struct store_allow *a);
int store_allow_load(struct store *st, store_allow_cb cb, void *arg);
/* "a: 198.18.0.0/15 100.64.0.1/32; b: any" (both sides; "any" for an
 * unrestricted side), for events and linkctl's text output. */
void store_allow_text(const struct store_allow *a, char *out, size_t cap);

/* Retention (docs/design.md D31; store_retain.c). Both prunes are one
 * transaction of at most limit rows, oldest first; *pruned is how many went
 * (fewer than limit: nothing older is left). A stream row is added to
 * stream_days (its link, UTC day of ended_ms) in the transaction that deletes
 * it; link_totals is not touched. */
#define STORE_DAY_MS 86400000LL
int store_streams_prune(struct store *st, int64_t cutoff_ms, unsigned limit, size_t *pruned);
int store_events_prune(struct store *st, int64_t cutoff_ms, unsigned limit, size_t *pruned);
/* Per UTC day (day = ms since the epoch / STORE_DAY_MS) figures of one link:
 * rolled-up days and stream rows still kept, summed; days from since_day on,
 * oldest first. A non-zero return from cb stops the walk and is returned. */
struct store_day {
    int64_t day;
    uint64_t streams, bytes_a_to_b, bytes_b_to_a;
};
typedef int (*store_day_cb)(void *arg, const struct store_day *d);
int store_link_days(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int64_t since_day,
                    store_day_cb cb, void *arg);

/* Pool membership (docs/design.md D34; store_pool.c, schemas 008, 010). A
 * member row is upserted by its relay's heartbeat; addrs is the
 * space-separated advertise list; addrs_failing the addresses whose last
 * self-check failed, "host:port=reason" separated by single spaces (D35),
 * "" when none. */
#define STORE_MEMBER_ID_MAX      64
#define STORE_MEMBER_ADDRS_MAX   4096
#define STORE_MEMBER_FAILING_MAX 4608
struct store_member {
    char id[STORE_MEMBER_ID_MAX + 1];
    char addrs[STORE_MEMBER_ADDRS_MAX + 1];
    char addrs_failing[STORE_MEMBER_FAILING_MAX + 1];
    uint64_t sessions, streams;
    int64_t beat_ms, started_ms; /* wall clock, ms since the epoch */
    int addrs_ok;                /* 0/1: may home links (D34) */
};
/* For a handle that only writes heartbeats: commits are not synced to disk
 * (WAL with synchronous = NORMAL; a crash may lose the last beats, never
 * the database), so a beat costs no fsync. */
int store_pool_relaxed(struct store *st);
/* Writes m's row (insert or replace). -EINVAL for an id, addrs or
 * addrs_failing out of range. */
int store_member_beat(struct store *st, const struct store_member *m);
/* Calls cb for every member, in id order; a non-zero return stops the walk
 * and is returned. */
typedef int (*store_member_cb)(void *arg, const struct store_member *m);
int store_members_load(struct store *st, store_member_cb cb, void *arg);
/* Removes member id's row; -ENOENT if there is none. */
int store_member_forget(struct store *st, const char *id);
/* A member leaving the pool (D39): removes the row of id written by the
 * process that started at started_ms, and nothing else (a newer process
 * with the same id keeps its row). 0 also when there was no such row. */
int store_member_leave(struct store *st, const char *id, int64_t started_ms);
/* The links version (schema 008): changes with every commit that changes
 * links, enrollments, link_allow or link_quota, and with no other. */
int store_links_version(struct store *st, int64_t *out);

/* One link as a relay serves it (docs/design.md D42): its row with its
 * enrollments (store_link_get), its quota (has_quota, quota) and its
 * allowlists, by three primary-key lookups. -ENOENT: no such link. */
int store_link_lookup(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], struct store_link *out,
                      struct store_allow *allow);
/* The same for n links at once, STORE_LOOKUP_BATCH per statement (three
 * statements per batch instead of three per link: a relay re-reads every
 * link it holds on a change, D42): the links that exist go into
 * recs[0..*found) and allows[0..*found) (in no particular order; each
 * array has room for n). ids must not repeat. */
#define STORE_LOOKUP_BATCH 32
int store_links_lookup_many(struct store *st, const uint8_t (*ids)[STORE_LINK_ID_LEN], size_t n,
                            struct store_link *recs, struct store_allow *allows, size_t *found);
/* The query plans of store_link_lookup's statements, store_links_lookup_many's
 * and (the last) the one store_links_expire finds the due overlaps with
 * (0..STORE_LOOKUP_STMTS),
 * one call of cb per plan line: EXPLAIN QUERY PLAN's detail on SQLite,
 * EXPLAIN's line on PostgreSQL (sequential scans priced out for it). A
 * non-zero return of cb stops and is returned. */
#define STORE_LOOKUP_STMTS 7
typedef int (*store_plan_cb)(void *arg, int stmt, const char *line);
int store_lookup_explain(struct store *st, store_plan_cb cb, void *arg);
/* The query plan of one statement, as store_lookup_explain (stmt 0); a ?1 in
 * it is bound to a link id. */
int store_plan_of(struct store *st, const char *query, store_plan_cb cb, void *arg);

#endif
