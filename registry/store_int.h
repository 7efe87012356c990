/* SPDX-License-Identifier: MIT */
/*
 * store_int — what the files of the store module share, and nothing else
 * includes: store.c owns the handle (struct store: the connection, its
 * statement cache and its last error), opening, migrations, transactions and
 * the links; store_acct.c keeps the accounting (stream rows, totals, close
 * causes) and the event log on the same handle through these helpers. The
 * arrow runs one way: store_acct.c calls store.c, never the reverse.
 *
 * Every helper follows store.h's rules: 0 or a negative errno, with the
 * reason left in store_errmsg(st).
 */
#ifndef LR_STORE_INT_H
#define LR_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "store.h"

/* Every statement the store runs, prepared once per handle on first use. */
enum stmt_id {
    S_LINKS_ALL,
    S_LINK_BY_ID,
    S_LINK_BY_NAME,
    S_LINK_INSERT,
    S_LINK_SET_ENABLED,
    S_LINK_DELETE,
    S_LINK_ROTATE_A,
    S_LINK_ROTATE_B,
    S_LINK_NEXT_A,
    S_LINK_NEXT_B,
    S_LINK_PROMOTE_A,
    S_LINK_PROMOTE_B,
    S_LINK_DUE,
    S_LINK_ENDORSE_A,
    S_LINK_ENDORSE_B,
    S_LINK_EXISTS,
    S_LINK_SET_RATE,
    S_TOTALS_GET,
    S_STREAM_INSERT,
    S_TOTALS_ADD,
    S_EVENT_INSERT,
    S_EVENTS_LIST,
    S_ALLOW_ALL,
    S_ALLOW_LINK,
    S_ALLOW_CLEAR,
    S_ALLOW_INSERT,
    S_QUOTA_LINK,
    S_LINKS_BY_IDS,  /* STORE_LOOKUP_BATCH ids at once (D42), */
    S_QUOTAS_BY_IDS, /* their quotas */
    S_ALLOWS_BY_IDS, /* and their allowlists */
    S_COUNT
};

/* Milliseconds since the epoch (wall clock), for timestamps in rows. */
int64_t store_now_ms(void);
/* Sets the message store_errmsg returns. */
void store_set_err(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records the database layer's reason for its failure r (a negative errno,
 * db.h) as "database: WHAT: REASON"; returns r. */
int store_db_fail(struct store *st, int r, const char *what);
/* The prepared statement id (prepared on first use), reset and with its
 * bindings cleared. Valid until the handle closes. */
int store_stmt_get(struct store *st, enum stmt_id id, struct db_stmt **out);
/* The SQL text of statement id (store_lookup_explain shows its plan). */
const char *store_stmt_text(enum stmt_id id);
/* A row of a link SELECT (LINK_SELECT's columns) into l. */
void store_row_to_link(struct db_stmt *s, struct store_link *l);
/* A link_quota row's limit_bytes, period, used_bytes, period_start_ms,
 * from column col on, into q. */
void store_quota_row(struct db_stmt *s, int col, struct store_quota *q);
/* A link_allow row (link_id, side, cidr) into a: its side's list, or the
 * side marked invalid. */
void store_allow_row(struct db_stmt *s, struct store_allow *a);
/* The database layer under st (its kind decides the EXPLAIN syntax). */
struct db *store_db(struct store *st);
/* Prepares sql once, for a statement outside the cache (the caller
 * finalizes it): the feature files' own statements (store_quota.c). */
int store_prepare(struct store *st, const char *sql, struct db_stmt **out);
/* Runs a statement that returns no rows (or whose rows are ignored). */
int store_stmt_done(struct store *st, struct db_stmt *s, const char *what);
/* Begins a write transaction (db_begin: writers one at a time). */
int store_tx_begin(struct store *st);
/* Commits; on failure rolls back so the handle is usable again. */
int store_tx_commit(struct store *st);
/* Rolls back after a failure r, keeping the failure's message; returns r. */
int store_tx_fail(struct store *st, int r);
/* Copies a blob column of exactly len bytes into dst (zeros otherwise);
 * *present (if not NULL) says which. */
void store_col_blob(struct db_stmt *s, int col, uint8_t *dst, size_t len, int *present);
/* Copies a text column into dst ("" for NULL), truncated to cap. */
void store_col_text(struct db_stmt *s, int col, char *dst, size_t cap);
/* Inserts one event row; part of the caller's transaction. count 0 means 1. */
int store_event_insert(struct store *st, int64_t ts, const char *kind, const uint8_t *link_id,
                       const char *addr, const char *detail, uint32_t count);
/* *exists = whether link id is in the links table. */
int store_link_exists(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int *exists);
/* The connection, for a file of the store that prepares statements of its
 * own (store_retain.c: run rarely, prepared per call). */
struct db *store_handle(struct store *st);

/* Binds key (STORE_KEY_LEN bytes) to col, or NULL when !present. */
void store_bind_key_or_null(struct db_stmt *s, int col, int present, const uint8_t *key);
/* Runs an UPDATE/DELETE of one link by id (already bound as ?1) plus an
 * event of kind with detail, in one transaction; -ENOENT if no row changed. */
int store_link_change(struct store *st, struct db_stmt *s, const uint8_t id[STORE_LINK_ID_LEN],
                      const char *kind, const char *detail);

#endif
