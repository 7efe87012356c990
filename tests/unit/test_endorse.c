/* SPDX-License-Identifier: MIT */
/* Unit tests for common/endorse.c: an old key endorsing its successor for
 * the peer, and every way a forged or misplaced endorsement is refused. */
#include <check.h>
#include <sodium.h>
#include <string.h>

#include "endorse.h"
#include "keys.h"
#include "lrcheck.h"

struct fx {
    uint8_t a_old_priv[32], a_old_pub[32], a_new_priv[32], a_new_pub[32];
    uint8_t b_priv[32], b_pub[32];
    uint8_t link[16];
    uint8_t mac[ENDORSE_MAC_LEN];
};

static void fx_init(struct fx *f)
{
    key_keypair_new(f->a_old_priv, f->a_old_pub);
    key_keypair_new(f->a_new_priv, f->a_new_pub);
    key_keypair_new(f->b_priv, f->b_pub);
    randombytes_buf(f->link, sizeof(f->link));
    ck_assert_int_eq(endorse_make(f->a_old_priv, f->b_pub, f->link, 0, f->a_new_pub, f->mac), 0);
}

START_TEST(test_roundtrip)
{
    struct fx f;
    uint8_t again[ENDORSE_MAC_LEN];

    fx_init(&f);
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, f.a_old_pub, f.a_new_pub, f.mac), 0);
    /* Deterministic: the same inputs give the same mac. */
    ck_assert_int_eq(endorse_make(f.a_old_priv, f.b_pub, f.link, 0, f.a_new_pub, again), 0);
    ck_assert_mem_eq(again, f.mac, ENDORSE_MAC_LEN);
}
END_TEST

START_TEST(test_wrong_checker_key)
{
    struct fx f;
    uint8_t other_priv[32], other_pub[32];

    fx_init(&f);
    key_keypair_new(other_priv, other_pub);
    ck_assert_int_eq(endorse_check(other_priv, f.link, 0, f.a_old_pub, f.a_new_pub, f.mac), -1);
    /* The new key's own holder cannot check it as if it were the peer. */
    ck_assert_int_eq(endorse_check(f.a_new_priv, f.link, 0, f.a_old_pub, f.a_new_pub, f.mac), -1);
}
END_TEST

START_TEST(test_wrong_endorser)
{
    struct fx f;
    uint8_t x_priv[32], x_pub[32], mac[ENDORSE_MAC_LEN];

    fx_init(&f);
    /* A key the peer does not trust endorses a key of its own (a relay that
     * names a substitute): fine by itself, but not from a_old_pub. */
    key_keypair_new(x_priv, x_pub);
    ck_assert_int_eq(endorse_make(x_priv, f.b_pub, f.link, 0, f.a_new_pub, mac), 0);
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, f.a_old_pub, f.a_new_pub, mac), -1);
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, x_pub, f.a_new_pub, mac), 0);
    /* The real endorsement, claimed to come from another key. */
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, x_pub, f.a_new_pub, f.mac), -1);
}
END_TEST

START_TEST(test_wrong_link_and_side)
{
    struct fx f;
    uint8_t link2[16];

    fx_init(&f);
    memcpy(link2, f.link, sizeof(link2));
    link2[15] ^= 1;
    ck_assert_int_eq(endorse_check(f.b_priv, link2, 0, f.a_old_pub, f.a_new_pub, f.mac), -1);
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 1, f.a_old_pub, f.a_new_pub, f.mac), -1);
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 2, f.a_old_pub, f.a_new_pub, f.mac), -1);
    ck_assert_int_eq(endorse_make(f.a_old_priv, f.b_pub, f.link, -1, f.a_new_pub, f.mac), -1);
}
END_TEST

START_TEST(test_swapped)
{
    struct fx f;
    uint8_t back[ENDORSE_MAC_LEN];

    fx_init(&f);
    /* old and new swapped: a rollback the mac does not cover. */
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, f.a_new_pub, f.a_old_pub, f.mac), -1);
    ck_assert_int_eq(endorse_make(f.a_new_priv, f.b_pub, f.link, 0, f.a_old_pub, back), 0);
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, f.a_old_pub, f.a_new_pub, back), -1);
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, f.a_new_pub, f.a_old_pub, back), 0);
}
END_TEST

START_TEST(test_tampered)
{
    struct fx f;
    uint8_t x[32];

    fx_init(&f);
    for (int i = 0; i < ENDORSE_MAC_LEN * 8; i++) {
        f.mac[i / 8] ^= (uint8_t)(1u << (i % 8));
        ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, f.a_old_pub, f.a_new_pub, f.mac), -1);
        f.mac[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    memcpy(x, f.a_new_pub, sizeof(x));
    x[0] ^= 0x40;
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, f.a_old_pub, x, f.mac), -1);
    memset(x, 0, sizeof(x));
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, f.a_old_pub, f.a_new_pub, x), -1);
}
END_TEST

START_TEST(test_bad_keys)
{
    struct fx f;
    uint8_t zero[32] = {0};

    fx_init(&f);
    /* A small-order endorser or peer key gives no shared secret. */
    ck_assert_int_eq(endorse_check(f.b_priv, f.link, 0, zero, f.a_new_pub, f.mac), -1);
    ck_assert_int_eq(endorse_make(f.a_old_priv, zero, f.link, 0, f.a_new_pub, f.mac), -1);
    /* A key does not endorse itself. */
    ck_assert_int_eq(endorse_make(f.a_old_priv, f.b_pub, f.link, 0, f.a_old_pub, f.mac), -1);
}
END_TEST

static Suite *endorse_suite(void)
{
    Suite *s = suite_create("endorse");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_wrong_checker_key);
    tcase_add_test(tc, test_wrong_endorser);
    tcase_add_test(tc, test_wrong_link_and_side);
    tcase_add_test(tc, test_swapped);
    tcase_add_test(tc, test_tampered);
    tcase_add_test(tc, test_bad_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(endorse_suite());
}
