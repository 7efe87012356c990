/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/frame.c: the preamble (§3) at every length and with
 * every invalid byte, and frame parsing at every boundary (§3.1, §9).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "lrcheck.h"

static const uint8_t ctl_pre[8] = {'L', 'R', 'L', 'Y', 1, 1, 7, 0};
static const uint8_t ctl0_pre[8] = {'L', 'R', 'L', 'Y', 1, 1, 0, 0};
static const uint8_t str_pre[8] = {'L', 'R', 'L', 'Y', 1, 2, 0, 0};

START_TEST(test_preamble_limits)
{
    /* The protocol-level limits of §9, spelled out. */
    ck_assert_uint_eq(FRAME_MAX_CONTROL, 4112);
    ck_assert_uint_eq(FRAME_MAX_HANDSHAKE, 256);
    ck_assert_uint_eq(FRAME_MAX_RECORD, 16410);
    ck_assert_uint_eq(FRAME_PREAUTH_BYTES_DEFAULT, 4096);
    ck_assert_uint_eq(FRAME_PREAMBLE_LEN, 8);
}
END_TEST

START_TEST(test_preamble_decode_valid)
{
    struct frame_preamble pre = {0, 0};
    uint8_t longer[9];

    ck_assert_int_eq(frame_preamble_decode(ctl_pre, 8, &pre), 0);
    ck_assert_int_eq(pre.kind, FRAME_KIND_CONTROL);
    ck_assert_uint_eq(pre.key_id, 7);
    ck_assert_int_eq(frame_preamble_decode(str_pre, 8, &pre), 0);
    ck_assert_int_eq(pre.kind, FRAME_KIND_STREAM);
    ck_assert_uint_eq(pre.key_id, 0);
    /* What follows the preamble belongs to the first frame. */
    memcpy(longer, ctl_pre, 8);
    longer[8] = 0xff;
    ck_assert_int_eq(frame_preamble_decode(longer, 9, &pre), 0);
    ck_assert_int_eq(pre.kind, FRAME_KIND_CONTROL);
}
END_TEST

START_TEST(test_preamble_every_prefix_needs_more)
{
    struct frame_preamble pre = {0, 99};

    for (size_t n = 0; n < 8; n++) {
        ck_assert_int_eq(frame_preamble_decode(ctl_pre, n, &pre), -EAGAIN);
        ck_assert_int_eq(frame_preamble_decode(str_pre, n, &pre), -EAGAIN);
    }
    ck_assert_int_eq(frame_preamble_decode(NULL, 0, &pre), -EAGAIN);
    ck_assert_uint_eq(pre.key_id, 99);
}
END_TEST

/* For each byte position, every wrong value gives the right error, already
 * when that byte is the last one received. */
START_TEST(test_preamble_every_bad_byte)
{
    struct frame_preamble pre = {0, 99};
    uint8_t p[8];
    int want;

    for (size_t pos = 0; pos < 8; pos++) {
        for (int v = 0; v < 256; v++) {
            const uint8_t *base = pos == 6 ? str_pre : ctl0_pre;
            memcpy(p, base, 8);
            if (v == base[pos])
                continue;
            p[pos] = (uint8_t)v;
            if (pos < 4)
                want = FRAME_E_MAGIC;
            else if (pos == 4)
                want = FRAME_E_VERSION;
            else if (pos == 5)
                want = (v == 1 || v == 2) ? 1 : FRAME_E_KIND;
            else if (pos == 6)
                want = FRAME_E_KEY_ID;
            else
                want = FRAME_E_RESERVED;
            if (want == 1)
                continue; /* the other valid kind */
            ck_assert_int_eq(frame_preamble_decode(p, 8, &pre), want);
            ck_assert_int_eq(frame_preamble_decode(p, pos + 1, &pre), want);
            ck_assert_str_ne(frame_strerror(want), "unknown frame error");
        }
    }
    ck_assert_uint_eq(pre.key_id, 99);
    /* A control preamble takes any key id. */
    memcpy(p, ctl_pre, 8);
    for (int v = 0; v < 256; v++) {
        p[6] = (uint8_t)v;
        ck_assert_int_eq(frame_preamble_decode(p, 8, &pre), 0);
        ck_assert_uint_eq(pre.key_id, v);
    }
}
END_TEST

START_TEST(test_preamble_encode)
{
    struct frame_preamble ctl = {FRAME_KIND_CONTROL, 7}, str = {FRAME_KIND_STREAM, 0};
    struct frame_preamble bad_key = {FRAME_KIND_STREAM, 1}, bad_kind = {3, 0};
    uint8_t mem[8];
    struct buf b;

    buf_init(&b, mem, 8);
    ck_assert_int_eq(frame_preamble_encode(&ctl, &b), 0);
    ck_assert_mem_eq(mem, ctl_pre, 8);
    buf_init(&b, mem, 8);
    ck_assert_int_eq(frame_preamble_encode(&str, &b), 0);
    ck_assert_mem_eq(mem, str_pre, 8);
    buf_init(&b, mem, 8);
    ck_assert_int_eq(frame_preamble_encode(&bad_key, &b), -EINVAL);
    ck_assert_int_eq(frame_preamble_encode(&bad_kind, &b), -EINVAL);
    ck_assert_uint_eq(b.len, 0);
    buf_init(&b, mem, 7);
    ck_assert_int_eq(frame_preamble_encode(&ctl, &b), -ENOSPC);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(test_parse_every_prefix)
{
    uint8_t in[2 + 300];
    struct frame f = {NULL, 0, 0};
    size_t need;

    in[0] = 0x01;
    in[1] = 0x2c; /* 300 */
    for (size_t i = 0; i < 300; i++)
        in[2 + i] = (uint8_t)i;
    for (size_t n = 0; n < sizeof(in); n++) {
        need = 0;
        ck_assert_int_eq(frame_parse(in, n, 300, &f, &need), -EAGAIN);
        ck_assert_uint_eq(need, n < 2 ? 2 - n : sizeof(in) - n);
        ck_assert_ptr_null(f.body);
        ck_assert_int_eq(frame_parse(in, n, 300, &f, NULL), -EAGAIN);
    }
    ck_assert_int_eq(frame_parse(in, sizeof(in), 300, &f, &need), 0);
    ck_assert_ptr_eq(f.body, in + 2);
    ck_assert_uint_eq(f.len, 300);
    ck_assert_uint_eq(f.consumed, 302);
}
END_TEST

START_TEST(test_parse_followed_by_more)
{
    const uint8_t in[] = {0, 1, 'a', 0, 2, 'b', 'c', 0};
    struct frame f;

    ck_assert_int_eq(frame_parse(in, sizeof(in), 16, &f, NULL), 0);
    ck_assert_uint_eq(f.len, 1);
    ck_assert_uint_eq(f.consumed, 3);
    ck_assert_uint_eq(f.body[0], 'a');
    ck_assert_int_eq(frame_parse(in + 3, sizeof(in) - 3, 16, &f, NULL), 0);
    ck_assert_uint_eq(f.len, 2);
    ck_assert_mem_eq(f.body, "bc", 2);
    ck_assert_int_eq(frame_parse(in + 7, 1, 16, &f, NULL), -EAGAIN);
}
END_TEST

START_TEST(test_parse_zero_length)
{
    const uint8_t in[] = {0, 0, 1, 2};
    struct frame f = {NULL, 0, 0};
    size_t need = 42;

    ck_assert_int_eq(frame_parse(in, 2, 100, &f, &need), -EBADMSG);
    ck_assert_int_eq(frame_parse(in, 4, 100, &f, &need), -EBADMSG);
    ck_assert_uint_eq(need, 42);
    ck_assert_ptr_null(f.body);
}
END_TEST

/* Each limit of §9: the maximum passes, one more is refused from the header
 * alone (no body present), one less passes. */
START_TEST(test_parse_max_body)
{
    static const size_t limits[] = {FRAME_MAX_HANDSHAKE, FRAME_MAX_CONTROL, FRAME_MAX_RECORD,
                                    FRAME_MAX_LEN, 1};
    static uint8_t in[2 + 65535];
    size_t max = limits[_i];
    struct frame f;
    size_t need = 0;

    memset(in, 0x5a, sizeof(in));
    in[0] = (uint8_t)(max >> 8);
    in[1] = (uint8_t)max;
    ck_assert_int_eq(frame_parse(in, 2 + max, max, &f, &need), 0);
    ck_assert_uint_eq(f.len, max);
    ck_assert_int_eq(frame_parse(in, 2, max, &f, &need), -EAGAIN);
    ck_assert_uint_eq(need, max);
    if (max < FRAME_MAX_LEN) {
        in[0] = (uint8_t)((max + 1) >> 8);
        in[1] = (uint8_t)(max + 1);
        ck_assert_int_eq(frame_parse(in, 2, max, &f, &need), -EMSGSIZE);
        ck_assert_int_eq(frame_parse(in, 2 + max + 1, max, &f, &need), -EMSGSIZE);
        ck_assert_int_eq(frame_parse(in, 2 + max + 1, max + 1, &f, &need), 0);
    }
    if (max > 1) {
        in[0] = (uint8_t)((max - 1) >> 8);
        in[1] = (uint8_t)(max - 1);
        ck_assert_int_eq(frame_parse(in, 2 + max - 1, max, &f, &need), 0);
        ck_assert_uint_eq(f.len, max - 1);
    }
}
END_TEST

START_TEST(test_parse_max_above_u16)
{
    uint8_t in[2] = {0xff, 0xff};
    struct frame f;
    size_t need = 0;

    ck_assert_int_eq(frame_parse(in, 2, (size_t)-1, &f, &need), -EAGAIN);
    ck_assert_uint_eq(need, 65535);
    ck_assert_int_eq(frame_parse(in, 2, 0, &f, &need), -EMSGSIZE);
}
END_TEST

START_TEST(test_encode)
{
    static uint8_t body[65536], mem[2 + 65536];
    struct buf b;
    struct frame f;

    memset(body, 0x33, sizeof(body));
    buf_init(&b, mem, sizeof(mem));
    ck_assert_int_eq(frame_header_encode(0, &b), -EINVAL);
    ck_assert_int_eq(frame_header_encode(65536, &b), -EINVAL);
    ck_assert_int_eq(frame_encode(body, 0, &b), -EINVAL);
    ck_assert_int_eq(frame_encode(body, 65536, &b), -EINVAL);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(frame_encode(body, 65535, &b), 0);
    ck_assert_uint_eq(mem[0], 0xff);
    ck_assert_uint_eq(mem[1], 0xff);
    ck_assert_int_eq(frame_parse(mem, b.len, FRAME_MAX_LEN, &f, NULL), 0);
    ck_assert_uint_eq(f.len, 65535);

    /* Header plus body fit exactly; one byte less writes nothing. */
    buf_init(&b, mem, 6);
    ck_assert_int_eq(frame_encode(body, 5, &b), -ENOSPC);
    ck_assert_uint_eq(b.len, 0);
    buf_init(&b, mem, 7);
    ck_assert_int_eq(frame_encode((const uint8_t *)"hello", 5, &b), 0);
    ck_assert_mem_eq(mem, "\x00\x05hello", 7);
    buf_init(&b, mem, 1);
    ck_assert_int_eq(frame_header_encode(1, &b), -ENOSPC);
    buf_init(&b, mem, 2);
    ck_assert_int_eq(frame_header_encode(0x1234, &b), 0);
    ck_assert_mem_eq(mem, "\x12\x34", 2);
}
END_TEST

START_TEST(test_strerror)
{
    const int errs[] = {FRAME_E_MAGIC,    FRAME_E_VERSION, FRAME_E_KIND, FRAME_E_KEY_ID,
                        FRAME_E_RESERVED, -EAGAIN,         -EBADMSG,     -EMSGSIZE};

    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        ck_assert_str_ne(frame_strerror(errs[i]), "unknown frame error");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(frame_strerror(errs[i]), frame_strerror(errs[j]));
    }
    ck_assert_str_eq(frame_strerror(-1), "unknown frame error");
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_preamble_limits);
    tcase_add_test(tc, test_preamble_decode_valid);
    tcase_add_test(tc, test_preamble_every_prefix_needs_more);
    tcase_add_test(tc, test_preamble_every_bad_byte);
    tcase_add_test(tc, test_preamble_encode);
    tcase_add_test(tc, test_parse_every_prefix);
    tcase_add_test(tc, test_parse_followed_by_more);
    tcase_add_test(tc, test_parse_zero_length);
    tcase_add_loop_test(tc, test_parse_max_body, 0, 5);
    tcase_add_test(tc, test_parse_max_above_u16);
    tcase_add_test(tc, test_encode);
    tcase_add_test(tc, test_strerror);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(frame_suite());
}
