/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/logagg.c: the first line of a key is said, the rest of
 * its window counted; one summary per window with the exact count; a quiet
 * window frees the key; the slot limit; the final flush; key truncation.
 */
#include "logagg.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "lrcheck.h"

struct said {
    int calls;
    char key[LOGAGG_KEY_MAX];
    uint32_t n;
    uint64_t window_ms;
    uint32_t total;
};

static void say(void *arg, const char *key, uint32_t n, uint64_t window_ms)
{
    struct said *s = arg;
    s->calls++;
    snprintf(s->key, sizeof(s->key), "%s", key);
    s->n = n;
    s->window_ms = window_ms;
    s->total += n;
}

START_TEST(first_said_rest_counted)
{
    struct logagg a;
    struct said s = {0};
    logagg_init(&a);
    ck_assert(logagg_admit(&a, "link x: refused", 1000));
    for (int i = 0; i < 99; i++) {
        ck_assert(!logagg_admit(&a, "link x: refused", 1000 + (uint64_t)i));
    }
    /* Another key is independent. */
    ck_assert(logagg_admit(&a, "link y: refused", 1500));
    /* One millisecond before the window ends: nothing due. */
    logagg_expire(&a, 1000 + LOGAGG_WINDOW_MS - 1, false, say, &s);
    ck_assert_int_eq(s.calls, 0);
    logagg_expire(&a, 1000 + LOGAGG_WINDOW_MS, false, say, &s);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_str_eq(s.key, "link x: refused");
    ck_assert_uint_eq(s.n, 99);
    ck_assert_uint_eq(s.window_ms, LOGAGG_WINDOW_MS);
}
END_TEST

START_TEST(flood_one_summary_per_window)
{
    struct logagg a;
    struct said s = {0};
    uint64_t t = 0;
    int said_now = 0;
    logagg_init(&a);
    /* 10 lines a second for 35 s, with the expiry tick every second. */
    for (int sec = 0; sec < 35; sec++) {
        for (int i = 0; i < 10; i++) {
            said_now += logagg_admit(&a, "k", t + (uint64_t)i * 100);
        }
        t += 1000;
        logagg_expire(&a, t, false, say, &s);
    }
    logagg_expire(&a, t, true, say, &s);
    ck_assert_int_eq(said_now, 1);
    ck_assert_int_eq(s.calls, 4); /* 3 full windows and the final flush */
    ck_assert_uint_eq(s.total + (uint32_t)said_now, 350);
}
END_TEST

START_TEST(quiet_window_frees_key)
{
    struct logagg a;
    struct said s = {0};
    logagg_init(&a);
    ck_assert(logagg_admit(&a, "k", 0));
    logagg_expire(&a, LOGAGG_WINDOW_MS, false, say, &s);
    ck_assert_int_eq(s.calls, 0);
    /* Freed: the next line of the key is said again. */
    ck_assert(logagg_admit(&a, "k", LOGAGG_WINDOW_MS + 1));
    ck_assert(!logagg_admit(&a, "k", LOGAGG_WINDOW_MS + 2));
}
END_TEST

START_TEST(after_window_before_expire_counted)
{
    struct logagg a;
    struct said s = {0};
    logagg_init(&a);
    ck_assert(logagg_admit(&a, "k", 0));
    /* The window is over but the tick has not run: counted, and reported. */
    ck_assert(!logagg_admit(&a, "k", 3 * LOGAGG_WINDOW_MS));
    logagg_expire(&a, 3 * LOGAGG_WINDOW_MS, false, say, &s);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.n, 1);
}
END_TEST

START_TEST(slot_limit)
{
    struct logagg a;
    char key[32];
    logagg_init(&a);
    for (int i = 0; i < LOGAGG_SLOTS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert(logagg_admit(&a, key, 0));
        ck_assert(!logagg_admit(&a, key, 0));
    }
    /* One key more than tracked: always said, never held. */
    ck_assert(logagg_admit(&a, "extra", 0));
    ck_assert(logagg_admit(&a, "extra", 0));
    /* The tracked ones still aggregate. */
    ck_assert(!logagg_admit(&a, "k0", 1));
}
END_TEST

START_TEST(flush_all)
{
    struct logagg a;
    struct said s = {0};
    logagg_init(&a);
    ck_assert(logagg_admit(&a, "k", 100));
    ck_assert(!logagg_admit(&a, "k", 200));
    ck_assert(!logagg_admit(&a, "k", 300));
    ck_assert(logagg_admit(&a, "quiet", 300));
    logagg_expire(&a, 2100, true, say, &s);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_uint_eq(s.window_ms, 2000);
    /* Everything freed. */
    ck_assert(logagg_admit(&a, "k", 2200));
    ck_assert(logagg_admit(&a, "quiet", 2200));
}
END_TEST

START_TEST(long_keys_truncated)
{
    struct logagg a;
    char k1[LOGAGG_KEY_MAX + 50], k2[LOGAGG_KEY_MAX + 50];
    struct said s = {0};
    logagg_init(&a);
    memset(k1, 'a', sizeof(k1) - 1);
    k1[sizeof(k1) - 1] = '\0';
    memcpy(k2, k1, sizeof(k2));
    k2[LOGAGG_KEY_MAX + 10] = 'b'; /* differs only past the stored length */
    ck_assert(logagg_admit(&a, k1, 0));
    ck_assert(!logagg_admit(&a, k2, 0));
    /* Exactly LOGAGG_KEY_MAX - 1 bytes are compared: one byte inside differs. */
    k2[LOGAGG_KEY_MAX - 2] = 'c';
    ck_assert(logagg_admit(&a, k2, 0));
    logagg_expire(&a, LOGAGG_WINDOW_MS, false, say, &s);
    ck_assert_uint_eq(strlen(s.key), LOGAGG_KEY_MAX - 1);
}
END_TEST

static Suite *logagg_suite(void)
{
    Suite *s = suite_create("logagg");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, first_said_rest_counted);
    tcase_add_test(tc, flood_one_summary_per_window);
    tcase_add_test(tc, quiet_window_frees_key);
    tcase_add_test(tc, after_window_before_expire_counted);
    tcase_add_test(tc, slot_limit);
    tcase_add_test(tc, flush_all);
    tcase_add_test(tc, long_keys_truncated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(logagg_suite());
}
