/* SPDX-License-Identifier: MIT */
/*
 * storefix — the fixture the registry's unit suites share: a database in a
 * directory of its own per test (setup/teardown, removed with its WAL files),
 * opening it, and adding a link with random keys. Each suite defines
 * STOREFIX_NAME (its name, for the directory) before including this header.
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

#include "store.h"

#ifndef STOREFIX_NAME
#error "define STOREFIX_NAME before including storefix.h"
#endif

static char tmpdir[256];
static char dbpath[320];

static void setup(void)
{
    /* mkdtemp(3) replaces the six Xs with a unique name. */
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s.XXXXXX", STOREFIX_NAME);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof(dbpath), "%s/linkrelay.db", tmpdir);
}

static void teardown(void)
{
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[400];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", dbpath, suffix[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

/* Opens (creating and migrating) the test's database; fails the test if not. */
static inline struct store *storefix_open(void)
{
    struct store *st = NULL;
    char err[256];
    int r = store_open(dbpath, STORE_OPEN_CREATE, &st, err, sizeof(err));
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
