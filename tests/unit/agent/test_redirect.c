/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/redirect.c: following REDIRECT to a link's home relay,
 * going back to the configured list when the home fails, and the bound on
 * redirect loops (docs/design.md D34).
 */
#include <check.h>
#include <string.h>

#include "lrcheck.h"
#include "redirect.h"

static struct msg_redirect two(void)
{
    struct msg_redirect m;

    memset(&m, 0, sizeof(m));
    m.reason = MSG_REDIRECT_HOME;
    m.n = 2;
    m.addr[0] = (struct msg_str){(const uint8_t *)"127.0.0.3:7700", 14};
    m.addr[1] = (struct msg_str){(const uint8_t *)"127.0.0.4:7701", 14};
    return m;
}

START_TEST(test_follow_then_list)
{
    struct redirect rd = {0};
    struct msg_redirect m = two();

    ck_assert_ptr_null(redirect_next(&rd));
    ck_assert(redirect_take(&rd, &m, "t"));
    ck_assert(redirect_down(&rd, false)); /* at once */
    ck_assert_str_eq(redirect_next(&rd)->host, "127.0.0.3");
    ck_assert_uint_eq(redirect_next(&rd)->port, 7700);
    /* The first home address fails: the second, then the list. */
    ck_assert(!redirect_down(&rd, false));
    ck_assert_uint_eq(redirect_next(&rd)->port, 7701);
    ck_assert(!redirect_down(&rd, false));
    ck_assert_ptr_null(redirect_next(&rd));
    ck_assert_uint_eq(rd.followed, 1);
}
END_TEST

START_TEST(test_home_fails_after_online)
{
    struct redirect rd = {0};
    struct msg_redirect m = two();

    ck_assert(redirect_take(&rd, &m, "t"));
    ck_assert(redirect_down(&rd, false));
    redirect_online(&rd);
    ck_assert_ptr_nonnull(redirect_next(&rd)); /* reconnects go home while it is up */
    ck_assert(!redirect_down(&rd, true));      /* the home went: the list */
    ck_assert_ptr_null(redirect_next(&rd));
}
END_TEST

START_TEST(test_loop_bound)
{
    struct redirect rd = {0};
    struct msg_redirect m = two();

    for (int i = 0; i < 4; i++) { /* the documented bound (protocol.md §5) */
        ck_assert(redirect_take(&rd, &m, "t"));
        ck_assert(redirect_down(&rd, false));
    }
    /* One more without coming online: refused, the list with a backoff. */
    ck_assert(!redirect_take(&rd, &m, "t"));
    ck_assert(!redirect_down(&rd, false));
    ck_assert_ptr_null(redirect_next(&rd));
    ck_assert_uint_eq(rd.refused, 1);
    ck_assert_uint_eq(rd.followed, 4);
    /* After that backoff the count has started over. */
    ck_assert(redirect_take(&rd, &m, "t"));
    /* Online resets it too. */
    redirect_online(&rd);
    ck_assert_uint_eq(rd.in_row, 0);
}
END_TEST

START_TEST(test_unusable)
{
    struct redirect rd = {0};
    struct msg_redirect m = two();

    m.n = 1;
    m.addr[0] = (struct msg_str){(const uint8_t *)"no-port", 7};
    ck_assert(!redirect_take(&rd, &m, "t"));
    ck_assert(!redirect_down(&rd, false));
    ck_assert_ptr_null(redirect_next(&rd));
    /* An unusable address among usable ones is skipped. */
    m = two();
    m.addr[0] = (struct msg_str){(const uint8_t *)"no-port", 7};
    ck_assert(redirect_take(&rd, &m, "t"));
    ck_assert_uint_eq(rd.n, 1);
    ck_assert_uint_eq(redirect_next(&rd)->port, 7701);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("redirect");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_follow_then_list);
    tcase_add_test(tc, test_home_fails_after_online);
    tcase_add_test(tc, test_loop_bound);
    tcase_add_test(tc, test_unusable);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
