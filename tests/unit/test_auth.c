/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/auth: the AUTH payload at every boundary. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "lrcheck.h"

/* version 1, side b, link 0x11.., flags 0, resume "", agent "ab" */
static size_t sample(uint8_t *p)
{
    size_t n = 0;

    p[n++] = 1;
    p[n++] = 1;
    memset(p + n, 0x11, 16);
    n += 16;
    p[n++] = 0;
    p[n++] = 0;
    p[n++] = 2;
    p[n++] = 'a';
    p[n++] = 'b';
    return n;
}

START_TEST(test_decode_exact)
{
    uint8_t p[AUTH_MAX_LEN + 8];
    size_t n = sample(p);
    struct auth a;

    ck_assert_int_eq(auth_decode(p, n, &a), 0);
    ck_assert_int_eq(a.side, 1);
    ck_assert_int_eq(a.link_id[15], 0x11);
    ck_assert_str_eq(a.agent_version, "ab");
}
END_TEST

START_TEST(test_decode_every_short_length_and_one_over)
{
    uint8_t p[AUTH_MAX_LEN + 8];
    size_t n = sample(p);
    struct auth a;

    memset(&a, 0x5a, sizeof(a));
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(auth_decode(p, k, &a), -EBADMSG);
    p[n] = 0;
    ck_assert_int_eq(auth_decode(p, n + 1, &a), -EBADMSG);
    /* Out-parameter untouched on failure. */
    ck_assert_int_eq(a.side, 0x5a5a5a5a);
}
END_TEST

START_TEST(test_decode_field_ranges)
{
    uint8_t p[AUTH_MAX_LEN + 8], q[AUTH_MAX_LEN + 8];
    size_t n = sample(p);
    struct auth a;

    memcpy(q, p, n);
    q[0] = 2; /* version */
    ck_assert_int_eq(auth_decode(q, n, &a), -EBADMSG);
    memcpy(q, p, n);
    q[1] = 2; /* side */
    ck_assert_int_eq(auth_decode(q, n, &a), -EBADMSG);
    memcpy(q, p, n);
    q[18] = 0x40; /* flags: only bits 0..5 are defined */
    ck_assert_int_eq(auth_decode(q, n, &a), -EBADMSG);
    q[18] = AUTH_FLAG_ENROLL; /* enrollment: the verifier must follow */
    ck_assert_int_eq(auth_decode(q, n, &a), -EBADMSG);
    q[18] = 0x80;
    ck_assert_int_eq(auth_decode(q, n, &a), -EBADMSG);
    q[18] = 0x01;
    ck_assert_int_eq(auth_decode(q, n, &a), 0);
    ck_assert_int_eq(a.flags, 1);
    q[18] = AUTH_FLAG_PEER_KEY; /* PEER_KEY support (D21) */
    ck_assert_int_eq(auth_decode(q, n, &a), 0);
    ck_assert_int_eq(a.flags, AUTH_FLAG_PEER_KEY);
    q[18] = AUTH_FLAG_PEER_KEY | AUTH_FLAG_RELAY_KEY;
    ck_assert_int_eq(auth_decode(q, n, &a), 0);
    ck_assert_int_eq(AUTH_FLAG_QUOTA, 0x10); /* bit 4: bit 3 is enrollment's (D30) */
    q[18] = AUTH_FLAG_QUOTA;                 /* OPEN_FAIL quota_exceeded (D29) */
    ck_assert_int_eq(auth_decode(q, n, &a), 0);
    ck_assert_int_eq(a.flags, AUTH_FLAG_QUOTA);
    ck_assert_int_eq(AUTH_FLAG_STREAM_ACK, 0x20); /* bit 5: STREAM_ACK (D43) */
    q[18] = AUTH_FLAG_RESUME | AUTH_FLAG_STREAM_ACK;
    ck_assert_int_eq(auth_decode(q, n, &a), 0);
    ck_assert_int_eq(a.flags, AUTH_FLAG_RESUME | AUTH_FLAG_STREAM_ACK);
    a.flags = 0x40;
    ck_assert_int_eq(auth_encode(&a, q, sizeof(q), &n), -EINVAL);
}
END_TEST

/* Flags bit 3: exactly 32 verifier bytes after agent_version (D30). */
START_TEST(test_enroll_verifier)
{
    uint8_t p[AUTH_MAX_LEN + 8], out[AUTH_MAX_LEN];
    size_t n = sample(p), m;
    struct auth a, b;

    p[18] = AUTH_FLAG_ENROLL | AUTH_FLAG_PEER_KEY;
    for (size_t i = 0; i < AUTH_VERIFIER_LEN; i++)
        p[n + i] = (uint8_t)(0xa0 + i);
    for (size_t k = 0; k < AUTH_VERIFIER_LEN; k++)
        ck_assert_int_eq(auth_decode(p, n + k, &a), -EBADMSG);
    ck_assert_int_eq(auth_decode(p, n + AUTH_VERIFIER_LEN + 1, &a), -EBADMSG);
    ck_assert_int_eq(auth_decode(p, n + AUTH_VERIFIER_LEN, &a), 0);
    ck_assert_int_eq(a.flags, AUTH_FLAG_ENROLL | AUTH_FLAG_PEER_KEY);
    ck_assert_int_eq(a.verifier[0], 0xa0);
    ck_assert_int_eq(a.verifier[31], 0xa0 + 31);
    ck_assert_int_eq(auth_encode(&a, out, sizeof(out), &m), 0);
    ck_assert_uint_eq(m, n + AUTH_VERIFIER_LEN);
    ck_assert_mem_eq(out, p, m);
    ck_assert_int_eq(auth_decode(out, m, &b), 0);
    ck_assert_mem_eq(b.verifier, a.verifier, AUTH_VERIFIER_LEN);
    /* Without the flag the same bytes are trailing garbage. */
    p[18] = AUTH_FLAG_PEER_KEY;
    ck_assert_int_eq(auth_decode(p, n + AUTH_VERIFIER_LEN, &a), -EBADMSG);
    /* The longest AUTH: 32-byte resume ticket, 32-byte agent, verifier. */
    ck_assert_uint_eq(AUTH_MAX_LEN, 1 + 1 + 16 + 1 + 1 + 32 + 1 + 32 + 32);
}
END_TEST

START_TEST(test_resume_ticket_lengths)
{
    uint8_t p[128];
    struct auth a;
    size_t lens[] = {0, 1, 31, 32, 33};

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = 0;
        p[n++] = 1;
        p[n++] = 0;
        memset(p + n, 0, 16);
        n += 16;
        p[n++] = 0;
        p[n++] = (uint8_t)lens[i];
        memset(p + n, 7, lens[i]);
        n += lens[i];
        p[n++] = 0;
        ck_assert_int_eq(auth_decode(p, n, &a), (lens[i] == 0 || lens[i] == 32) ? 0 : -EBADMSG);
    }
}
END_TEST

START_TEST(test_agent_version_limit_and_sanitised)
{
    uint8_t p[128];
    struct auth a;

    for (size_t len = 31; len <= 33; len++) {
        size_t n = 0;
        p[n++] = 1;
        p[n++] = 0;
        memset(p + n, 0, 16);
        n += 16;
        p[n++] = 0;
        p[n++] = 0;
        p[n++] = (uint8_t)len;
        memset(p + n, 'v', len);
        p[n] = '\n'; /* not printable: replaced */
        n += len;
        ck_assert_int_eq(auth_decode(p, n, &a), len <= 32 ? 0 : -EBADMSG);
        if (len <= 32) {
            ck_assert_uint_eq(strlen(a.agent_version), len);
            ck_assert_int_eq(a.agent_version[0], '?');
        }
    }
}
END_TEST

START_TEST(test_encode_roundtrip)
{
    struct auth a, b;
    uint8_t out[AUTH_MAX_LEN];
    size_t n;

    memset(&a, 0, sizeof(a));
    a.side = 1;
    memset(a.link_id, 0xee, sizeof(a.link_id));
    snprintf(a.agent_version, sizeof(a.agent_version), "linkagent 0.1.0");
    ck_assert_int_eq(auth_encode(&a, out, sizeof(out), &n), 0);
    ck_assert_int_eq(auth_decode(out, n, &b), 0);
    ck_assert_int_eq(b.side, 1);
    ck_assert_mem_eq(b.link_id, a.link_id, 16);
    ck_assert_str_eq(b.agent_version, "linkagent 0.1.0");
    ck_assert_int_eq(auth_encode(&a, out, n - 1, &n), -ENOSPC);
    a.side = 2;
    ck_assert_int_eq(auth_encode(&a, out, sizeof(out), &n), -EINVAL);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_decode_exact);
    tcase_add_test(tc, test_decode_every_short_length_and_one_over);
    tcase_add_test(tc, test_decode_field_ranges);
    tcase_add_test(tc, test_resume_ticket_lengths);
    tcase_add_test(tc, test_agent_version_limit_and_sanitised);
    tcase_add_test(tc, test_encode_roundtrip);
    tcase_add_test(tc, test_enroll_verifier);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(auth_suite());
}
