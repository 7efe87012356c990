/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of registry/store_lookup.c (docs/design.md D42): a link read by
 * its id with its quota and allowlists, -ENOENT for an unknown id, and every
 * statement of the lookup, and the search for due key overlaps a relay runs
 * at start (migration 009), served by an index (EXPLAIN QUERY PLAN on
 * SQLite, EXPLAIN on PostgreSQL), so an AUTH and a start cost the same with
 * ten links or a million.
 */
#include "store.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lrcheck.h"
#define STOREFIX_NAME "test_store_lookup"
#include "storefix.h"

START_TEST(lookup_reads_link_quota_allow)
{
    struct store *st = storefix_open();
    struct store_link l, got;
    struct store_allow a, ga;
    uint8_t unknown[STORE_LINK_ID_LEN];

    storefix_add_link(st, &l, "one");
    ck_assert_int_eq(store_link_lookup(st, l.id, &got, &ga), 0);
    ck_assert_str_eq(got.name, "one");
    ck_assert(!got.has_quota);
    ck_assert(!store_allow_limited(&ga, 0) && !store_allow_limited(&ga, 1));
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(cidr_parse("198.18.0.0/15", &a.cidr[1][0]), 0);
    a.n[1] = 1;
    ck_assert_int_eq(store_allow_set(st, l.id, 2, &a, NULL), 0);
    ck_assert_int_eq(store_quota_set(st, l.id, 1000, STORE_QUOTA_DAY, NULL), 0);
    ck_assert_int_eq(store_link_lookup(st, l.id, &got, &ga), 0);
    ck_assert(got.has_quota);
    ck_assert_uint_eq(got.quota.limit, 1000);
    ck_assert(!store_allow_limited(&ga, 0) && store_allow_limited(&ga, 1));
    memcpy(unknown, l.id, sizeof(unknown));
    unknown[0] ^= 1;
    ck_assert_int_eq(store_link_lookup(st, unknown, &got, &ga), -ENOENT);
    store_close(st);
}
END_TEST

struct plans {
    int lines[STORE_LOOKUP_STMTS];
    int indexed[STORE_LOOKUP_STMTS];
    int scans[STORE_LOOKUP_STMTS];
    char text[STORE_LOOKUP_STMTS][2048];
};

static int plan_line(void *arg, int stmt, const char *line)
{
    struct plans *p = arg;
    size_t used = strlen(p->text[stmt]);

    snprintf(p->text[stmt] + used, sizeof(p->text[stmt]) - used, "%s\n", line);
    p->lines[stmt]++;
    /* SQLite: "SEARCH links USING PRIMARY KEY (id=?)" / "... USING INDEX";
     * a whole-table read is "SCAN links". PostgreSQL: "Index Scan" or
     * "Index Only Scan"; a whole-table read is "Seq Scan". */
    if (strstr(line, "USING PRIMARY KEY") != NULL || strstr(line, "USING INDEX") != NULL ||
        strstr(line, "USING COVERING INDEX") != NULL || strstr(line, "Index Scan") != NULL ||
        strstr(line, "Index Only Scan") != NULL)
        p->indexed[stmt]++;
    if (strncmp(line, "SCAN ", 5) == 0 || strstr(line, "Seq Scan") != NULL)
        p->scans[stmt]++;
    return 0;
}

START_TEST(lookup_uses_indexes)
{
    struct store *st = storefix_open();
    struct plans p;

    memset(&p, 0, sizeof(p));
    ck_assert_int_eq(store_lookup_explain(st, plan_line, &p), 0);
    for (int i = 0; i < STORE_LOOKUP_STMTS; i++) {
        ck_assert_msg(p.lines[i] > 0, "statement %d: no plan", i);
        ck_assert_msg(p.indexed[i] > 0 && p.scans[i] == 0, "statement %d reads a whole table:\n%s",
                      i, p.text[i]);
    }
    /* The row, then the two enrollments joined: three index reads. */
    ck_assert_msg(p.indexed[0] >= 3, "link row:\n%s", p.text[0]);
    store_close(st);
}
END_TEST

/* The check above can fail: a statement on a column without an index
 * (events.count) is a whole-table read in the same terms. */
static int plan_scan(void *arg, int stmt, const char *line)
{
    (void)stmt;
    if (strncmp(line, "SCAN ", 5) == 0 || strstr(line, "Seq Scan") != NULL)
        (*(int *)arg)++;
    return 0;
}

START_TEST(unindexed_read_is_seen)
{
    struct store *st = storefix_open();
    int scans = 0;

    ck_assert_int_eq(store_plan_of(st, "SELECT id FROM events WHERE count = 5", plan_scan, &scans),
                     0);
    ck_assert_int_gt(scans, 0);
    store_close(st);
}
END_TEST

static Suite *store_lookup_suite(void)
{
    Suite *s = suite_create("store_lookup");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, dbfix_setup, dbfix_teardown);
    tcase_add_test(tc, lookup_reads_link_quota_allow);
    tcase_add_test(tc, lookup_uses_indexes);
    tcase_add_test(tc, unindexed_read_is_seen);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(store_lookup_suite);
}
