/* SPDX-License-Identifier: MIT */
/*
 * dbfix — a database of its own per test, on either backend of the registry
 * (docs/design.md D33). dbfix_main runs a suite once on SQLite (a file in a
 * new temporary directory) and, when the environment variable LR_TEST_PG
 * holds a PostgreSQL URL (ctest sets it for the registry's suites, with the
 * server tests/pgfix.sh started as the fixture "pg"), once more on
 * PostgreSQL, each test with a database of its own (CREATE DATABASE in
 * setup, DROP DATABASE in teardown; what a failed test leaves goes with the
 * server's directory at the fixture's cleanup). Suites point their checked
 * fixture at dbfix_setup/dbfix_teardown and open dbfix_target.
 * Header-only, with static functions: each suite is its own program.
 */
#ifndef LR_TEST_DBFIX_H
#define LR_TEST_DBFIX_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "lrcheck.h"

#ifndef DBFIX_NAME
#error "define DBFIX_NAME before including dbfix.h"
#endif

static int dbfix_pg;            /* this run's backend: 0 SQLite, 1 PostgreSQL */
static char dbfix_tmpdir[256];  /* SQLite: the test's directory */
static char dbfix_dbname[64];   /* PostgreSQL: the test's database */
static char dbfix_target[1024]; /* what the test opens: a path or a URL */

/* The URL of database name on the server of url (url's path replaced). */
static void dbfix_url(const char *url, const char *name, char *out, size_t cap)
{
    const char *q = strchr(url, '?');
    const char *end = q ? q : url + strlen(url);
    const char *slash = end;
    while (slash > url && slash[-1] != '/') {
        slash--;
    }
    snprintf(out, cap, "%.*s%s%s", (int)(slash - url), url, name, q ? q : "");
}

/* Runs sql on the server's maintenance database (the URL of LR_TEST_PG). */
static void dbfix_admin(const char *sql)
{
    struct db *db = NULL;
    char err[512];
    int r = db_open(getenv("LR_TEST_PG"), 0, &db, err, sizeof(err));
    ck_assert_msg(r == 0, "dbfix: %s", err);
    r = db_exec(db, sql);
    ck_assert_msg(r == 0, "dbfix: %s: %s", sql, db_errmsg(db));
    db_close(db);
}

static void dbfix_setup(void)
{
    if (dbfix_pg) {
        static unsigned n;
        char sql[128];
        snprintf(dbfix_dbname, sizeof(dbfix_dbname), "lrt_%ld_%u", (long)getpid(), n++);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbfix_dbname);
        dbfix_admin(sql);
        dbfix_url(getenv("LR_TEST_PG"), dbfix_dbname, dbfix_target, sizeof(dbfix_target));
        return;
    }
    snprintf(dbfix_tmpdir, sizeof(dbfix_tmpdir), "/tmp/%s.XXXXXX", DBFIX_NAME);
    ck_assert_ptr_nonnull(mkdtemp(dbfix_tmpdir));
    snprintf(dbfix_target, sizeof(dbfix_target), "%s/linkrelay.db", dbfix_tmpdir);
}

static void dbfix_teardown(void)
{
    if (dbfix_pg) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbfix_dbname);
        dbfix_admin(sql);
        return;
    }
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[1100];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", dbfix_target, suffix[i]);
        unlink(p);
    }
    rmdir(dbfix_tmpdir);
}

/* Runs the suite make() builds on SQLite, then on PostgreSQL when
 * LR_TEST_PG is set (make() may look at dbfix_pg to leave out what only
 * one backend has); the exit status for main. */
static int dbfix_main(Suite *(*make)(void))
{
    int failed = 0;
    const char *pg = getenv("LR_TEST_PG");
    for (dbfix_pg = 0; dbfix_pg < 2; dbfix_pg++) {
        if (dbfix_pg && (pg == NULL || pg[0] == '\0')) {
            printf("%s: LR_TEST_PG not set: PostgreSQL not tested\n", DBFIX_NAME);
            break;
        }
        printf("%s on %s\n", DBFIX_NAME, dbfix_pg ? "PostgreSQL" : "SQLite");
        fflush(stdout);
        failed += lrcheck_run(make()) != EXIT_SUCCESS;
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
