/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/streamfin.c: the finished streams a link keeps for a
 * resume (docs/protocol.md §7.3 "A finished stream"): found by a resume id
 * of their window, taken once, gone at their deadline, at most
 * STREAMFIN_MAX per link and within resume_buffer_total, the oldest first.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "lrcheck.h"
#include "resume.h"
#include "stream.h"
#include "streamfin.h"

static struct stream_env env;
static struct stream_owner own;

static void setup(uint64_t cap)
{
    memset(&env, 0, sizeof(env));
    memset(&own, 0, sizeof(own));
    env.resume_total_cap = cap;
    own.env = &env;
}

static void fin_make(struct e2e_fin *f, uint32_t epoch)
{
    memset(f, 0, sizeof(*f));
    randombytes_buf(f->rk, sizeof(f->rk));
    f->epoch = epoch;
    f->sent = 10;
    f->received = 20;
    f->cap = E2E_RESUME_MIN;
}

/* Whether the kept stream of rk answers the id of epoch e (and is taken). */
static int take(const struct e2e_fin *f, uint32_t e, uint64_t now)
{
    uint8_t id[RESUME_ID_LEN];
    struct streamfin out;
    uint32_t got = 0;
    int rc;

    resume_id(f->rk, e, id);
    rc = streamfin_take(&own, id, now, &out, &got);
    if (rc == 0) {
        ck_assert_uint_eq(got, e);
        ck_assert(memcmp(out.fin.rk, f->rk, sizeof(f->rk)) == 0);
        ck_assert_uint_eq(out.fin.sent, 10);
        ck_assert_uint_eq(out.fin.received, 20);
    }
    return rc;
}

START_TEST(test_keep_take_expire)
{
    struct e2e_fin a, b;

    setup(1u << 20);
    fin_make(&a, 3);
    fin_make(&b, 0);
    ck_assert_int_eq(streamfin_keep(&own, &a, 7, 1000, 5000), 0);
    ck_assert_int_eq(streamfin_keep(&own, &b, 8, 1000, 6000), 0);
    ck_assert_uint_eq(own.n_fins, 2);
    ck_assert_uint_eq(env.fins_kept, 2);
    ck_assert_uint_eq(env.resume_held, 2 * STREAMFIN_COST);
    /* Spent and out-of-window epochs do not match; the window's do. */
    ck_assert_int_eq(take(&a, 3, 1000), -ENOENT);
    ck_assert_int_eq(take(&a, 3 + RESUME_WINDOW + 1, 1000), -ENOENT);
    ck_assert_int_eq(take(&a, 3 + RESUME_WINDOW, 1000), 0);
    ck_assert_int_eq(take(&a, 4, 1000), -ENOENT); /* taken: gone */
    ck_assert_uint_eq(own.n_fins, 1);
    ck_assert_uint_eq(env.resume_held, STREAMFIN_COST);
    /* At its deadline it is gone too. */
    ck_assert_int_eq(take(&b, 1, 6000), -ENOENT);
    ck_assert_uint_eq(own.n_fins, 0);
    ck_assert_uint_eq(env.fins_kept, 0);
    ck_assert_uint_eq(env.resume_held, 0);
    ck_assert_int_eq(streamfin_keep(&own, &b, 8, 6000, 6000), -ENOBUFS); /* no time left */
    ck_assert_uint_eq(own.n_fins, 0);
}
END_TEST

START_TEST(test_limits)
{
    struct e2e_fin first, second, f;

    /* STREAMFIN_MAX per link: one more drops the oldest. */
    setup(UINT64_MAX);
    fin_make(&first, 0);
    fin_make(&second, 0);
    ck_assert_int_eq(streamfin_keep(&own, &first, 1, 0, 10000), 0);
    ck_assert_int_eq(streamfin_keep(&own, &second, 2, 0, 10000), 0);
    for (uint32_t i = 2; i < STREAMFIN_MAX; i++) {
        fin_make(&f, 0);
        ck_assert_int_eq(streamfin_keep(&own, &f, i + 1, 0, 10000), 0);
    }
    ck_assert_uint_eq(own.n_fins, STREAMFIN_MAX);
    fin_make(&f, 0);
    ck_assert_int_eq(streamfin_keep(&own, &f, 9999, 0, 10000), 0);
    ck_assert_uint_eq(own.n_fins, STREAMFIN_MAX);
    ck_assert_uint_eq(env.resume_held, STREAMFIN_MAX * STREAMFIN_COST);
    ck_assert_int_eq(take(&first, 1, 0), -ENOENT);
    ck_assert_int_eq(take(&second, 1, 0), 0);
    ck_assert_int_eq(take(&f, 1, 0), 0);
    streamfin_clear(&own);
    ck_assert_uint_eq(own.n_fins, 0);
    ck_assert_ptr_null(own.fins);
    ck_assert_ptr_null(own.fins_tail);
    ck_assert_uint_eq(env.resume_held, 0);
    ck_assert_uint_eq(env.fins_kept, 0);

    /* resume_buffer_total: room for exactly two; a third drops the oldest;
     * with data held by streams filling it, none is kept. */
    setup(2 * STREAMFIN_COST);
    fin_make(&first, 0);
    fin_make(&second, 0);
    fin_make(&f, 0);
    ck_assert_int_eq(streamfin_keep(&own, &first, 1, 0, 10000), 0);
    ck_assert_int_eq(streamfin_keep(&own, &second, 2, 0, 10000), 0);
    ck_assert_int_eq(streamfin_keep(&own, &f, 3, 0, 10000), 0);
    ck_assert_uint_eq(own.n_fins, 2);
    ck_assert_int_eq(take(&first, 1, 0), -ENOENT);
    streamfin_clear(&own);
    env.resume_held = 2 * STREAMFIN_COST - 1; /* replay data of running streams */
    ck_assert_int_eq(streamfin_keep(&own, &f, 3, 0, 10000), -ENOBUFS);
    ck_assert_uint_eq(own.n_fins, 0);
    ck_assert_uint_eq(env.resume_held, 2 * STREAMFIN_COST - 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("streamfin");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_keep_take_expire);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
