/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of opening the store (dbfix.h, D33): on PostgreSQL, several
 * processes opening a new database at once migrate it once (the migration
 * holds the advisory write lock; the others find it done); on both, a
 * read-only handle reads but refuses every change.
 */
#include "store.h"

#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "lrcheck.h"
#define STOREFIX_NAME "test_store_open"
#include "storefix.h"

#define OPENERS 4

START_TEST(concurrent_first_open)
{
    pid_t pid[OPENERS];
    char buf[32];
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    for (int i = 0; i < OPENERS; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            struct store *st = NULL;
            char err[256], c;
            close(fds[1]);
            /* all start together: when the parent closes the pipe */
            (void)read(fds[0], &c, 1);
            int r = store_open(dbfix_target, STORE_OPEN_CREATE, &st, err, sizeof(err));
            if (r != 0) {
                fprintf(stderr, "opener %d: %d %s\n", i, r, err);
            }
            store_close(st);
            _exit(r == 0 ? 0 : 1);
        }
    }
    close(fds[0]);
    close(fds[1]);
    for (int i = 0; i < OPENERS; i++) {
        int status = -1;
        ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "opener %d failed", i);
    }
    struct store *st = storefix_open();
    int v = 0;
    ck_assert_int_eq(store_schema_version(st, &v), 0);
    ck_assert_int_eq(v, store_schema_latest());
    store_close(st);
    /* Each table once (a second migration run would have failed on it). */
    storefix_raw("SELECT count(*) FROM links", NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
}
END_TEST

START_TEST(read_only)
{
    struct store *st = storefix_open(), *ro = NULL;
    struct store_link l, got, more;
    char err[256];
    storefix_add_link(st, &l, "ro");
    store_close(st);
    ck_assert_int_eq(store_open(dbfix_target, STORE_OPEN_READONLY, &ro, err, sizeof(err)), 0);
    ck_assert_int_eq(store_link_find(ro, "ro", &got), 0);
    ck_assert_mem_eq(got.key[1], l.key[1], STORE_KEY_LEN);
    memset(&more, 0, sizeof(more));
    memset(more.id, 7, sizeof(more.id));
    snprintf(more.name, sizeof(more.name), "more");
    ck_assert_int_eq(store_link_add(ro, &more, NULL), -EIO);
    ck_assert_str_ne(store_errmsg(ro), "");
    ck_assert_int_eq(store_link_set_enabled(ro, l.id, 0, NULL), -EIO);
    /* The handle still reads after the refusals. */
    ck_assert_int_eq(store_link_get(ro, l.id, &got), 0);
    ck_assert_int_eq(got.enabled, 1);
    store_close(ro);
    st = storefix_open();
    ck_assert_int_eq(store_link_find(st, "more", &got), -ENOENT);
    store_close(st);
}
END_TEST

static Suite *store_open_suite(void)
{
    Suite *s = suite_create("store_open");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    /* PostgreSQL only: on SQLite a first open beside another one may fail
     * with -EBUSY at PRAGMA journal_mode = WAL, which does not wait for the
     * busy timeout (store.c's configure, as before D33). */
    if (dbfix_pg) {
        tcase_add_test(tc, concurrent_first_open);
    }
    tcase_add_test(tc, read_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(store_open_suite);
}
