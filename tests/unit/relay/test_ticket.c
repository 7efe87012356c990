/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/ticket: single use, expiry, capacity, revocation. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ticket.h"
#include "lrcheck.h"

static struct ticket_table *tt;

static void setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    ck_assert_int_eq(ticket_table_new(4, &tt), 0);
}

static void teardown(void)
{
    ticket_table_free(tt);
    tt = NULL;
}

START_TEST(test_issue_take_once)
{
    uint8_t tk[TICKET_LEN];
    int owner_obj, leg = -1;
    void *owner = NULL;

    ck_assert_int_eq(ticket_issue(tt, &owner_obj, 1, 1000, tk), 0);
    ck_assert_uint_eq(ticket_count(tt), 1);
    ck_assert_int_eq(ticket_take(tt, tk, 999, &owner, &leg), 0);
    ck_assert_ptr_eq(owner, &owner_obj);
    ck_assert_int_eq(leg, 1);
    ck_assert_uint_eq(ticket_count(tt), 0);
    /* Replay: the same ticket a second time is unknown, out-params untouched. */
    owner = NULL;
    leg = -1;
    ck_assert_int_eq(ticket_take(tt, tk, 999, &owner, &leg), -ENOENT);
    ck_assert_ptr_null(owner);
    ck_assert_int_eq(leg, -1);
}
END_TEST

START_TEST(test_expiry_boundary)
{
    uint8_t a[TICKET_LEN], b[TICKET_LEN];
    void *owner;
    int leg;

    ck_assert_int_eq(ticket_issue(tt, NULL, 0, 1000, a), 0);
    ck_assert_int_eq(ticket_issue(tt, NULL, 0, 1000, b), 0);
    /* One millisecond before expiry is valid, at expiry it is not. */
    ck_assert_int_eq(ticket_take(tt, a, 999, &owner, &leg), 0);
    ck_assert_int_eq(ticket_take(tt, b, 1000, &owner, &leg), -ETIMEDOUT);
    /* An expired ticket is consumed too. */
    ck_assert_int_eq(ticket_take(tt, b, 0, &owner, &leg), -ENOENT);
    ck_assert_uint_eq(ticket_count(tt), 0);
}
END_TEST

/* ticket_live looks without taking: live up to one ms before expiry, not at
 * it, not once taken, not a near miss; the table is unchanged. */
START_TEST(test_live)
{
    uint8_t a[TICKET_LEN], x[TICKET_LEN];
    void *owner;
    int leg;

    ck_assert_int_eq(ticket_issue(tt, NULL, 0, 1000, a), 0);
    ck_assert(ticket_live(tt, a, 0));
    ck_assert(ticket_live(tt, a, 999));
    ck_assert(!ticket_live(tt, a, 1000));
    ck_assert_uint_eq(ticket_count(tt), 1);
    memcpy(x, a, TICKET_LEN);
    x[TICKET_LEN - 1] ^= 1;
    ck_assert(!ticket_live(tt, x, 0));
    ck_assert_int_eq(ticket_take(tt, a, 999, &owner, &leg), 0);
    ck_assert(!ticket_live(tt, a, 0));
}
END_TEST

START_TEST(test_unknown_and_near_miss)
{
    uint8_t tk[TICKET_LEN], other[TICKET_LEN];
    void *owner;
    int leg;

    ck_assert_int_eq(ticket_issue(tt, NULL, 0, 1000, tk), 0);
    /* Every single-bit flip of a valid ticket is unknown. */
    for (size_t bit = 0; bit < TICKET_LEN * 8; bit++) {
        memcpy(other, tk, TICKET_LEN);
        other[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_int_eq(ticket_take(tt, other, 0, &owner, &leg), -ENOENT);
    }
    ck_assert_uint_eq(ticket_count(tt), 1);
    ck_assert_int_eq(ticket_take(tt, tk, 0, &owner, &leg), 0);
}
END_TEST

/* A ticket vouches for one connection at a time: a second claim is refused
 * until the first is dropped; only the claimer drops it; the claim goes with
 * the entry when the ticket is taken; unknown and expired tickets are not
 * claimed. */
START_TEST(test_claim)
{
    uint8_t a[TICKET_LEN], x[TICKET_LEN];
    void *owner;
    int leg;

    ck_assert_int_eq(ticket_issue(tt, NULL, 0, 1000, a), 0);
    ck_assert_int_eq(ticket_claim(tt, a, 0, 7), 0);
    ck_assert_int_eq(ticket_claim(tt, a, 0, 8), -EBUSY);
    ck_assert_int_eq(ticket_claim(tt, a, 0, 7), -EBUSY);
    ticket_unclaim(tt, a, 8); /* not its claim: nothing */
    ck_assert_int_eq(ticket_claim(tt, a, 0, 8), -EBUSY);
    ticket_unclaim(tt, a, 7);
    ck_assert_int_eq(ticket_claim(tt, a, 0, 8), 0);
    ck_assert(ticket_live(tt, a, 0)); /* claimed is still live */
    ck_assert_int_eq(ticket_claim(tt, a, 1000, 9), -ETIMEDOUT);
    ck_assert_int_eq(ticket_claim(tt, a, 0, 0), -EINVAL);
    memset(x, 0x11, sizeof(x));
    ck_assert_int_eq(ticket_claim(tt, x, 0, 9), -ENOENT);
    ticket_unclaim(tt, x, 9);
    /* Taken (by anyone): gone with its claim; the claimer's late release is
     * harmless. */
    ck_assert_int_eq(ticket_take(tt, a, 1, &owner, &leg), 0);
    ticket_unclaim(tt, a, 8);
    ck_assert_int_eq(ticket_claim(tt, a, 1, 8), -ENOENT);
    ck_assert_uint_eq(ticket_count(tt), 0);
    /* Revoked while claimed: the same. */
    ck_assert_int_eq(ticket_issue(tt, NULL, 1, 1000, a), 0);
    ck_assert_int_eq(ticket_claim(tt, a, 0, 3), 0);
    ck_assert_int_eq(ticket_revoke(tt, a), 0);
    ticket_unclaim(tt, a, 3);
    ck_assert_uint_eq(ticket_count(tt), 0);
}
END_TEST

START_TEST(test_capacity_at_limit)
{
    uint8_t tk[5][TICKET_LEN];

    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ticket_issue(tt, NULL, 0, 1000, tk[i]), 0);
    ck_assert_int_eq(ticket_issue(tt, NULL, 0, 1000, tk[4]), -ENOSPC);
    ck_assert_int_eq(ticket_revoke(tt, tk[0]), 0);
    ck_assert_int_eq(ticket_revoke(tt, tk[0]), -ENOENT);
    ck_assert_int_eq(ticket_issue(tt, NULL, 0, 1000, tk[4]), 0);
    ck_assert_uint_eq(ticket_count(tt), 4);
}
END_TEST

START_TEST(test_insert_duplicate_and_same_bucket)
{
    uint8_t a[TICKET_LEN] = {0}, b[TICKET_LEN] = {0};
    void *owner;
    int leg;

    /* Same first 8 bytes: same bucket, different tickets. */
    b[31] = 1;
    ck_assert_int_eq(ticket_insert(tt, a, (void *)&a, 0, 10), 0);
    ck_assert_int_eq(ticket_insert(tt, a, NULL, 0, 10), -EEXIST);
    ck_assert_int_eq(ticket_insert(tt, b, (void *)&b, 1, 10), 0);
    ck_assert_int_eq(ticket_take(tt, b, 0, &owner, &leg), 0);
    ck_assert_ptr_eq(owner, &b);
    ck_assert_int_eq(ticket_take(tt, a, 0, &owner, &leg), 0);
    ck_assert_ptr_eq(owner, &a);
    ck_assert_int_eq(leg, 0);
}
END_TEST

START_TEST(test_many)
{
    enum { N = 5000 };
    struct ticket_table *big;
    uint8_t(*tk)[TICKET_LEN] = calloc(N, TICKET_LEN);
    void *owner;
    int leg;

    ck_assert_ptr_nonnull(tk);
    ck_assert_int_eq(ticket_table_new(N, &big), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(ticket_issue(big, (void *)(intptr_t)(i + 1), i & 1, 100, tk[i]), 0);
    for (int i = N - 1; i >= 0; i--) {
        ck_assert_int_eq(ticket_take(big, tk[i], 5, &owner, &leg), 0);
        ck_assert_ptr_eq(owner, (void *)(intptr_t)(i + 1));
        ck_assert_int_eq(leg, i & 1);
    }
    ck_assert_uint_eq(ticket_count(big), 0);
    ticket_table_free(big);
    free(tk);
}
END_TEST

/* Random bytes come from the system once per TICKET_POOL_DRAW tickets (D36),
 * and every ticket of two pools' worth is new: none handed out twice. */
START_TEST(test_random_pool)
{
    enum { N = 2 * TICKET_POOL_DRAW + 1 };
    struct ticket_table *big;
    uint8_t(*tk)[TICKET_LEN] = calloc(N, TICKET_LEN);
    static const uint8_t zero[TICKET_LEN];

    ck_assert_ptr_nonnull(tk);
    ck_assert_int_eq(ticket_table_new(N, &big), 0);
    ck_assert_uint_eq(ticket_random_draws(big), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(ticket_issue(big, NULL, 0, 100, tk[i]), 0);
        /* One draw serves the first TICKET_POOL_DRAW, then one per pool. */
        ck_assert_uint_eq(ticket_random_draws(big), (uint64_t)i / TICKET_POOL_DRAW + 1);
        ck_assert_mem_ne(tk[i], zero, TICKET_LEN);
        for (int j = 0; j < i; j++)
            ck_assert_mem_ne(tk[i], tk[j], TICKET_LEN);
    }
    ck_assert_uint_eq(ticket_count(big), N);
    ticket_table_free(big);
    free(tk);
}
END_TEST

/* Entries taken or revoked are reused for later tickets, which still take
 * and revoke as fresh ones (the reused entry carries nothing over). */
START_TEST(test_entries_reused)
{
    uint8_t a[TICKET_LEN], b[TICKET_LEN];
    int o1, o2;
    void *owner;
    int leg;

    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(ticket_issue(tt, &o1, 0, 1000, a), 0);
        ck_assert_int_eq(ticket_claim(tt, a, 1, 7), 0);
        ck_assert_int_eq(ticket_take(tt, a, 1, &owner, &leg), 0);
        ck_assert_int_eq(ticket_issue(tt, &o2, 1, 1000, b), 0);
        /* Not claimed by the entry's previous holder (claimer 7). */
        ck_assert_int_eq(ticket_claim(tt, b, 1, 8), 0);
        ck_assert_int_eq(ticket_take(tt, a, 1, &owner, &leg), -ENOENT);
        ck_assert_int_eq(ticket_take(tt, b, 1, &owner, &leg), 0);
        ck_assert_ptr_eq(owner, &o2);
        ck_assert_int_eq(leg, 1);
        ck_assert_uint_eq(ticket_count(tt), 0);
    }
}
END_TEST

static Suite *ticket_suite(void)
{
    Suite *s = suite_create("ticket");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_issue_take_once);
    tcase_add_test(tc, test_expiry_boundary);
    tcase_add_test(tc, test_unknown_and_near_miss);
    tcase_add_test(tc, test_live);
    tcase_add_test(tc, test_claim);
    tcase_add_test(tc, test_capacity_at_limit);
    tcase_add_test(tc, test_insert_duplicate_and_same_bucket);
    tcase_add_test(tc, test_many);
    tcase_add_test(tc, test_random_pool);
    tcase_add_test(tc, test_entries_reused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(ticket_suite());
}
