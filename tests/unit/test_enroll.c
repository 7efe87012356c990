/* SPDX-License-Identifier: MIT */
/* Unit tests for common/enroll: the code text and the derivations (D30). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "enroll.h"
#include "lrcheck.h"

static const uint8_t secret16[ENROLL_SECRET_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
                                                    9, 10, 11, 12, 13, 14, 15, 16};

START_TEST(test_roundtrip_and_case)
{
    char text[ENROLL_TEXT_SIZE], up[ENROLL_TEXT_SIZE];
    uint8_t got[ENROLL_SECRET_LEN];

    enroll_code_encode(secret16, text);
    ck_assert_uint_eq(strlen(text), ENROLL_TEXT_LEN);
    ck_assert_int_eq(strncmp(text, "lrenr1", 6), 0);
    ck_assert_int_eq(enroll_code_decode(text, got, NULL), 0);
    ck_assert_mem_eq(got, secret16, sizeof(got));
    for (size_t i = 0; i <= ENROLL_TEXT_LEN; i++)
        up[i] = (text[i] >= 'a' && text[i] <= 'z') ? (char)(text[i] - 32) : text[i];
    memset(got, 0, sizeof(got));
    ck_assert_int_eq(enroll_code_decode(up, got, NULL), 0);
    ck_assert_mem_eq(got, secret16, sizeof(got));
}
END_TEST

/* Every single changed character is caught: checksum, or a bad character. */
START_TEST(test_every_changed_character)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";
    char text[ENROLL_TEXT_SIZE], bad[ENROLL_TEXT_SIZE];
    uint8_t got[ENROLL_SECRET_LEN];
    size_t pos;

    enroll_code_encode(secret16, text);
    for (size_t i = 6; i < ENROLL_TEXT_LEN; i++) {
        for (size_t k = 0; k < 32; k++) {
            if (alpha[k] == text[i])
                continue;
            memcpy(bad, text, sizeof(bad));
            bad[i] = alpha[k];
            ck_assert_int_eq(enroll_code_decode(bad, got, NULL), ENROLL_ERR_CHECKSUM);
        }
        memcpy(bad, text, sizeof(bad));
        bad[i] = '1';
        pos = 0;
        ck_assert_int_eq(enroll_code_decode(bad, got, &pos), ENROLL_ERR_BAD_CHAR);
        ck_assert_uint_eq(pos, i + 1);
    }
}
END_TEST

START_TEST(test_lengths_and_kinds)
{
    char text[ENROLL_TEXT_SIZE + 2], msg[80];
    uint8_t got[ENROLL_SECRET_LEN];

    enroll_code_encode(secret16, text);
    for (size_t n = 0; n < ENROLL_TEXT_LEN; n++) {
        char cut[ENROLL_TEXT_SIZE];
        memcpy(cut, text, n);
        cut[n] = '\0';
        ck_assert_int_eq(enroll_code_decode(cut, got, NULL), ENROLL_ERR_TRUNCATED);
    }
    strcat(text, "a");
    ck_assert_int_eq(enroll_code_decode(text, got, NULL), ENROLL_ERR_TOO_LONG);
    ck_assert_int_eq(enroll_code_decode("lrpub1aaaa", got, NULL), ENROLL_ERR_KIND);
    ck_assert_int_eq(enroll_code_decode("lrkey1aaaa", got, NULL), ENROLL_ERR_KIND);
    ck_assert_int_eq(enroll_code_decode("LRTOK1aaaa", got, NULL), ENROLL_ERR_KIND);
    ck_assert_int_eq(enroll_code_decode("hello world", got, NULL), ENROLL_ERR_PREFIX);
    enroll_format_error(ENROLL_ERR_BAD_CHAR, 9, msg, sizeof(msg));
    ck_assert_str_eq(msg, "bad character at position 9");
    enroll_format_error(ENROLL_ERR_CHECKSUM, 0, msg, sizeof(msg));
    ck_assert_str_eq(msg, "checksum mismatch (likely a typo)");
}
END_TEST

/* The derivations are bound to the link and the side, and the relay's hash
 * of the verifier is not the verifier. */
START_TEST(test_derivations_bound)
{
    uint8_t id[LINKID_LEN], id2[LINKID_LEN], v[4][32], h[32], priv[32], pub[32], pub2[32];

    memset(id, 0x42, sizeof(id));
    memcpy(id2, id, sizeof(id2));
    id2[15] ^= 1;
    enroll_verifier(secret16, id, 0, v[0]);
    enroll_verifier(secret16, id, 1, v[1]);
    enroll_verifier(secret16, id2, 0, v[2]);
    enroll_verifier(secret16, id, 0, v[3]);
    ck_assert_mem_eq(v[0], v[3], 32);
    ck_assert(memcmp(v[0], v[1], 32) != 0);
    ck_assert(memcmp(v[0], v[2], 32) != 0);
    enroll_hash(v[0], h);
    ck_assert(memcmp(h, v[0], 32) != 0);
    ck_assert_int_eq(enroll_anchor(secret16, id, 0, priv, pub), 0);
    ck_assert(memcmp(priv, v[0], 32) != 0);
    ck_assert_int_eq(enroll_anchor(secret16, id, 1, priv, pub2), 0);
    ck_assert(memcmp(pub, pub2, 32) != 0);
    ck_assert_int_eq(key_pub_check(pub), 0);
}
END_TEST

/* The anchor as any other implementation derives it: BLAKE2b-256 keyed with
 * the secret over the domain, link id and side (protocol §2.2). */
START_TEST(test_anchor_definition)
{
    static const char dom[] = "linkrelay/1 enroll anchor";
    uint8_t id[LINKID_LEN], msg[sizeof(dom) - 1 + LINKID_LEN + 1], want[32], priv[32], pub[32];

    memset(id, 7, sizeof(id));
    memcpy(msg, dom, sizeof(dom) - 1);
    memcpy(msg + sizeof(dom) - 1, id, LINKID_LEN);
    msg[sizeof(msg) - 1] = 1;
    crypto_generichash(want, 32, msg, sizeof(msg), secret16, sizeof(secret16));
    ck_assert_int_eq(enroll_anchor(secret16, id, 1, priv, pub), 0);
    ck_assert_mem_eq(priv, want, 32);
}
END_TEST

static Suite *enroll_suite(void)
{
    Suite *s = suite_create("enroll");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_roundtrip_and_case);
    tcase_add_test(tc, test_every_changed_character);
    tcase_add_test(tc, test_lengths_and_kinds);
    tcase_add_test(tc, test_derivations_bound);
    tcase_add_test(tc, test_anchor_definition);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(enroll_suite());
}
