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

/* store_links_lookup_many reads exactly what store_link_lookup reads, for
 * 70 links (three batches, the last short; quotas and allowlists on some)
 * and ids of no link among them, which it leaves out. */
START_TEST(lookup_many_equals_one_by_one)
{
    enum { N = 70, ASK = N + 5 };
    struct store *st = storefix_open();
    static struct store_link l[N], recs[ASK], one;
    static struct store_allow allows[ASK], a1, a;
    static uint8_t ids[ASK][STORE_LINK_ID_LEN];
    size_t found = 99;
    char name[32];

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "m%02d", i);
        storefix_add_link(st, &l[i], name);
        if (i % 3 == 0)
            ck_assert_int_eq(
                store_quota_set(st, l[i].id, 1000 + (uint64_t)i, STORE_QUOTA_DAY, NULL), 0);
        if (i % 4 == 0) {
            memset(&a, 0, sizeof(a));
            ck_assert_int_eq(cidr_parse("198.18.0.0/15", &a.cidr[i % 8 == 0][0]), 0);
            ck_assert_int_eq(cidr_parse("100.64.0.0/10", &a.cidr[i % 8 == 0][1]), 0);
            a.n[i % 8 == 0] = 2;
            ck_assert_int_eq(store_allow_set(st, l[i].id, i % 8 == 0 ? 2 : 1, &a, NULL), 0);
        }
        memcpy(ids[ASK - 1 - i], l[i].id, STORE_LINK_ID_LEN); /* not in the table's order */
    }
    for (int i = 0; i < ASK - N; i++) {
        memcpy(ids[i], l[i].id, STORE_LINK_ID_LEN);
        ids[i][0] ^= 0x80; /* no such link */
    }
    ck_assert_int_eq(store_links_lookup_many(st, (const uint8_t(*)[STORE_LINK_ID_LEN])ids, ASK,
                                             recs, allows, &found),
                     0);
    ck_assert_uint_eq(found, N);
    for (size_t k = 0; k < found; k++) {
        ck_assert_int_eq(store_link_lookup(st, recs[k].id, &one, &a1), 0);
        ck_assert_str_eq(recs[k].name, one.name);
        ck_assert(memcmp(recs[k].key[0], one.key[0], sizeof(one.key[0])) == 0);
        ck_assert_int_eq(recs[k].has_quota, one.has_quota);
        ck_assert_uint_eq(recs[k].quota.limit, one.quota.limit);
        for (int side = 0; side < 2; side++) {
            ck_assert_uint_eq(allows[k].n[side], a1.n[side]);
            for (uint32_t c = 0; c < a1.n[side]; c++)
                ck_assert(memcmp(&allows[k].cidr[side][c], &a1.cidr[side][c],
                                 sizeof(a1.cidr[side][c])) == 0);
        }
        for (size_t j = 0; j < k; j++)
            ck_assert(memcmp(recs[j].id, recs[k].id, STORE_LINK_ID_LEN) != 0);
    }
    ck_assert_int_eq(store_links_lookup_many(st, (const uint8_t(*)[STORE_LINK_ID_LEN])ids, 0, recs,
                                             allows, &found),
                     0);
    ck_assert_uint_eq(found, 0);
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
    tcase_add_test(tc, lookup_many_equals_one_by_one);
    tcase_add_test(tc, lookup_uses_indexes);
    tcase_add_test(tc, unindexed_read_is_seen);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return dbfix_main(store_lookup_suite);
}
