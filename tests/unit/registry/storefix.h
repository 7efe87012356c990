/* SPDX-License-Identifier: MIT */
/*
 * storefix — the fixture the registry's unit suites share: a database of its
 * own per test on SQLite or PostgreSQL (dbfix.h: setup/teardown, and
 * dbfix_main to run a suite on both), opening it, raw SQL on it beside the
 * store, and adding a link with random keys. Each suite defines
 * STOREFIX_NAME (its name) before including this header.
 * Header-only, with static functions: each suite is its own program.
 */
#ifndef LR_TEST_STOREFIX_H
#define LR_TEST_STOREFIX_H

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "store.h"

#ifndef STOREFIX_NAME
#error "define STOREFIX_NAME before including storefix.h"
#endif
#define DBFIX_NAME STOREFIX_NAME
#include "dbfix.h"

/* Runs sql on a connection of its own, with ?1 (if id) bound to the link
 * id; the first column of the first row into out (when not NULL). Returns
 * db_step's result: DB_ROW, DB_DONE or a negative errno. */
static inline int storefix_raw(const char *sql, const uint8_t *id, char *out, size_t cap)
{
    struct db *db;
    struct db_stmt *s;
    char err[512];
    ck_assert_msg(db_open(dbfix_target, 0, &db, err, sizeof(err)) == 0, "%s", err);
    if (db_kind(db) == DB_SQLITE) {
        ck_assert_int_eq(db_exec(db, "PRAGMA foreign_keys = ON"), 0);
    }
    ck_assert_msg(db_prepare(db, sql, &s) == 0, "%s: %s", sql, db_errmsg(db));
    if (id != NULL) {
        db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    }
    int r = db_step(s);
    if (out != NULL) {
        const char *t = r == DB_ROW ? db_col_text(s, 0) : NULL;
        snprintf(out, cap, "%s", t != NULL ? t : "");
    }
    db_finalize(s);
    db_close(db);
    return r;
}

/* Opens (creating and migrating) the test's database; fails the test if not. */
static inline struct store *storefix_open(void)
{
    struct store *st = NULL;
    char err[256];
    int r = store_open(dbfix_target, STORE_OPEN_CREATE, &st, err, sizeof(err));
    ck_assert_msg(r == 0, "store_open: %d %s", r, err);
    return st;
}

/* Adds an enabled link called name with random id and keys, into *l. */
static inline void storefix_add_link(struct store *st, struct store_link *l, const char *name)
{
    memset(l, 0, sizeof(*l));
    randombytes_buf(l->id, sizeof(l->id));
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->enabled = 1;
    randombytes_buf(l->key[0], STORE_KEY_LEN);
    randombytes_buf(l->key[1], STORE_KEY_LEN);
    ck_assert_int_eq(store_link_add(st, l, "test"), 0);
}

#endif
