/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/buf.c: writers at their capacity exactly, readers at
 * every boundary length, and the input FIFO at its capacity.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lrcheck.h"

#define SENTINEL 0xa5

/* Writes one integer of width w (1, 2, 4, 8) through the matching writer. */
static int put_int(struct buf *b, size_t w, uint64_t v)
{
    switch (w) {
    case 1:
        return buf_put_u8(b, (uint8_t)v);
    case 2:
        return buf_put_u16(b, (uint16_t)v);
    case 4:
        return buf_put_u32(b, (uint32_t)v);
    default:
        return buf_put_u64(b, v);
    }
}

static int get_int(struct cur *c, size_t w, uint64_t *v)
{
    uint8_t v8;
    uint16_t v16;
    uint32_t v32;
    int rc;

    switch (w) {
    case 1:
        rc = cur_u8(c, &v8);
        if (rc == 0)
            *v = v8;
        return rc;
    case 2:
        rc = cur_u16(c, &v16);
        if (rc == 0)
            *v = v16;
        return rc;
    case 4:
        rc = cur_u32(c, &v32);
        if (rc == 0)
            *v = v32;
        return rc;
    default:
        return cur_u64(c, v);
    }
}

static const size_t widths[] = {1, 2, 4, 8};
static const uint64_t value = 0x0102030405060708ull;

START_TEST(test_put_int_big_endian_at_exact_cap)
{
    size_t w = widths[_i];
    uint8_t mem[16];
    struct buf b;

    /* A prefix byte first, so the write ends exactly at cap. */
    memset(mem, SENTINEL, sizeof(mem));
    buf_init(&b, mem, 1 + w);
    ck_assert_int_eq(buf_put_u8(&b, 0xee), 0);
    ck_assert_int_eq(put_int(&b, w, value), 0);
    ck_assert_uint_eq(b.len, 1 + w);
    ck_assert_uint_eq(buf_avail(&b), 0);
    ck_assert_uint_eq(mem[0], 0xee);
    for (size_t i = 0; i < w; i++)
        ck_assert_uint_eq(mem[1 + i], (uint8_t)(value >> (8 * (w - 1 - i))));
    ck_assert_uint_eq(mem[1 + w], SENTINEL);
}
END_TEST

START_TEST(test_put_int_fails_at_cap_minus_one)
{
    size_t w = widths[_i];
    uint8_t mem[16];
    struct buf b;

    memset(mem, SENTINEL, sizeof(mem));
    buf_init(&b, mem, w); /* one byte already used below: cap - 1 left */
    ck_assert_int_eq(buf_put_u8(&b, 0xee), 0);
    ck_assert_int_eq(put_int(&b, w, value), -ENOSPC);
    ck_assert_uint_eq(b.len, 1);
    for (size_t i = 1; i < sizeof(mem); i++)
        ck_assert_uint_eq(mem[i], SENTINEL);
}
END_TEST

START_TEST(test_put_bytes_cap)
{
    uint8_t mem[8], src[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct buf b;

    memset(mem, SENTINEL, sizeof(mem));
    buf_init(&b, mem, 7);
    ck_assert_int_eq(buf_put_bytes(&b, src, 8), -ENOSPC);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(mem[0], SENTINEL);
    ck_assert_int_eq(buf_put_bytes(&b, NULL, 0), 0);
    ck_assert_int_eq(buf_put_bytes(&b, src, 7), 0);
    ck_assert_mem_eq(mem, src, 7);
    ck_assert_uint_eq(mem[7], SENTINEL);
    ck_assert_int_eq(buf_put_bytes(&b, src, 1), -ENOSPC);
    ck_assert_int_eq(buf_put_bytes(&b, NULL, 0), 0);
    ck_assert_uint_eq(b.len, 7);
}
END_TEST

START_TEST(test_put_str8)
{
    uint8_t mem[300], src[256];
    struct buf b;

    memset(src, 'x', sizeof(src));
    memset(mem, SENTINEL, sizeof(mem));
    buf_init(&b, mem, sizeof(mem));
    ck_assert_int_eq(buf_put_str8(&b, src, 256), -EINVAL);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(buf_put_str8(&b, src, 255), 0);
    ck_assert_uint_eq(b.len, 256);
    ck_assert_uint_eq(mem[0], 255);
    ck_assert_mem_eq(mem + 1, src, 255);

    /* 1 + n bytes fit exactly; with one byte less nothing is written. */
    memset(mem, SENTINEL, sizeof(mem));
    buf_init(&b, mem, 4);
    ck_assert_int_eq(buf_put_str8(&b, "abcd", 4), -ENOSPC);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(mem[0], SENTINEL);
    buf_init(&b, mem, 5);
    ck_assert_int_eq(buf_put_str8(&b, "abcd", 4), 0);
    ck_assert_mem_eq(mem,
                     "\x04"
                     "abcd",
                     5);
    /* An empty string is just the length byte, and needs that one byte. */
    buf_init(&b, mem, 0);
    ck_assert_int_eq(buf_put_str8(&b, NULL, 0), -ENOSPC);
    buf_init(&b, mem, 1);
    ck_assert_int_eq(buf_put_str8(&b, NULL, 0), 0);
    ck_assert_uint_eq(mem[0], 0);
}
END_TEST

START_TEST(test_cur_int_boundaries)
{
    size_t w = widths[_i];
    uint8_t in[10] = {0xee, 1, 2, 3, 4, 5, 6, 7, 8, 0x99};
    uint64_t v = 77;
    struct cur c;

    /* One short: fails, cursor and output untouched. */
    cur_init(&c, in, w);
    ck_assert_int_eq(cur_u8(&c, &(uint8_t){0}), 0);
    ck_assert_int_eq(get_int(&c, w, &v), -EBADMSG);
    ck_assert_uint_eq(v, 77);
    ck_assert_uint_eq(cur_remaining(&c), w - 1);
    /* Exact: reads the big-endian value and ends. */
    cur_init(&c, in, 1 + w);
    ck_assert_int_eq(cur_u8(&c, &(uint8_t){0}), 0);
    ck_assert_int_eq(get_int(&c, w, &v), 0);
    ck_assert_uint_eq(v, value >> (8 * (8 - w)));
    ck_assert_int_eq(cur_end_ok(&c), 0);
    /* One over: reads the same value and reports the byte left. */
    v = 77;
    cur_init(&c, in + 1, w + 1);
    ck_assert_int_eq(get_int(&c, w, &v), 0);
    ck_assert_uint_eq(v, value >> (8 * (8 - w)));
    ck_assert_int_eq(cur_end_ok(&c), -EBADMSG);
    ck_assert_uint_eq(cur_remaining(&c), 1);
}
END_TEST

START_TEST(test_cur_end_and_remaining)
{
    uint8_t in[3] = {1, 2, 3};
    uint8_t v;
    struct cur c;

    cur_init(&c, in, 3);
    ck_assert_uint_eq(cur_remaining(&c), 3);
    ck_assert_int_eq(cur_end_ok(&c), -EBADMSG);
    ck_assert_int_eq(cur_u8(&c, &v), 0);
    ck_assert_int_eq(cur_u8(&c, &v), 0);
    ck_assert_int_eq(cur_end_ok(&c), -EBADMSG);
    ck_assert_int_eq(cur_u8(&c, &v), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(cur_end_ok(&c), 0);
    ck_assert_int_eq(cur_u8(&c, &v), -EBADMSG);
    cur_init(&c, NULL, 5);
    ck_assert_uint_eq(cur_remaining(&c), 0);
    ck_assert_int_eq(cur_u8(&c, &v), -EBADMSG);
}
END_TEST

START_TEST(test_cur_bytes_and_copy)
{
    uint8_t in[4] = {9, 8, 7, 6}, out[4] = {0};
    const uint8_t *p = NULL;
    struct cur c;

    cur_init(&c, in, 4);
    ck_assert_int_eq(cur_bytes(&c, 5, &p), -EBADMSG);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(cur_bytes(&c, 1, &p), 0);
    ck_assert_ptr_eq(p, in);
    ck_assert_int_eq(cur_copy(&c, out, 4), -EBADMSG);
    ck_assert_uint_eq(out[0], 0);
    ck_assert_int_eq(cur_copy(&c, out, 3), 0);
    ck_assert_mem_eq(out, in + 1, 3);
    ck_assert_int_eq(cur_end_ok(&c), 0);
    ck_assert_int_eq(cur_bytes(&c, 0, &p), 0);
    ck_assert_ptr_eq(p, in + 4);
}
END_TEST

START_TEST(test_cur_str8)
{
    const uint8_t in[] = {3, 'a', 'b', 'c', 0};
    const uint8_t *p = NULL;
    size_t n = 99;
    struct cur c;

    for (size_t len = 0; len < 4; len++) {
        cur_init(&c, in, len);
        ck_assert_int_eq(cur_str8(&c, &p, &n), -EBADMSG);
        ck_assert_uint_eq(cur_remaining(&c), len);
        ck_assert_ptr_null(p);
        ck_assert_uint_eq(n, 99);
    }
    cur_init(&c, in, 4);
    ck_assert_int_eq(cur_str8(&c, &p, &n), 0);
    ck_assert_ptr_eq(p, in + 1);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(cur_end_ok(&c), 0);
    cur_init(&c, in, 5);
    ck_assert_int_eq(cur_str8(&c, &p, &n), 0);
    ck_assert_int_eq(cur_end_ok(&c), -EBADMSG);
    /* The empty string. */
    cur_init(&c, in + 4, 1);
    ck_assert_int_eq(cur_str8(&c, &p, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(cur_end_ok(&c), 0);
}
END_TEST

START_TEST(test_roundtrip_writer_reader)
{
    uint8_t mem[32];
    struct buf b;
    struct cur c;
    uint8_t a;
    uint16_t w;
    uint32_t d;
    uint64_t q;
    const uint8_t *s;
    size_t sl;

    buf_init(&b, mem, sizeof(mem));
    ck_assert_int_eq(buf_put_u8(&b, 0xff), 0);
    ck_assert_int_eq(buf_put_u16(&b, 0xfedc), 0);
    ck_assert_int_eq(buf_put_u32(&b, 0x80000001u), 0);
    ck_assert_int_eq(buf_put_u64(&b, 0xffffffffffffff00ull), 0);
    ck_assert_int_eq(buf_put_str8(&b, "hi", 2), 0);
    cur_init(&c, mem, b.len);
    ck_assert_int_eq(cur_u8(&c, &a), 0);
    ck_assert_int_eq(cur_u16(&c, &w), 0);
    ck_assert_int_eq(cur_u32(&c, &d), 0);
    ck_assert_int_eq(cur_u64(&c, &q), 0);
    ck_assert_int_eq(cur_str8(&c, &s, &sl), 0);
    ck_assert_uint_eq(a, 0xff);
    ck_assert_uint_eq(w, 0xfedc);
    ck_assert_uint_eq(d, 0x80000001u);
    ck_assert_uint_eq(q, 0xffffffffffffff00ull);
    ck_assert_uint_eq(sl, 2);
    ck_assert_mem_eq(s, "hi", 2);
    ck_assert_int_eq(cur_end_ok(&c), 0);
}
END_TEST

/* bq_top: how far into its memory the FIFO was ever written (what a wipe
 * covers, D45), through appends, reserve/commit and compaction, not lowered
 * by consuming. */
START_TEST(test_bq_top)
{
    uint8_t mem[64], src[64];
    struct bq q;
    size_t n;

    memset(src, 7, sizeof(src));
    bq_init(&q, mem, sizeof(mem));
    ck_assert_uint_eq(bq_top(&q), 0);
    ck_assert_int_eq(bq_append(&q, src, 10), 0);
    ck_assert_uint_eq(bq_top(&q), 10);
    ck_assert_int_eq(bq_consume(&q, 4), 0);
    ck_assert_int_eq(bq_append(&q, src, 20), 0); /* written at 10..30 */
    ck_assert_uint_eq(bq_top(&q), 30);
    ck_assert_int_eq(bq_consume(&q, 26), 0); /* empty: starts at the front again */
    ck_assert_int_eq(bq_append(&q, src, 5), 0);
    ck_assert_uint_eq(bq_top(&q), 30);
    ck_assert_ptr_nonnull(bq_reserve(&q, &n));
    ck_assert_uint_eq(n, 59);
    ck_assert_int_eq(bq_commit(&q, 40), 0); /* 0..45 */
    ck_assert_uint_eq(bq_top(&q), 45);
    ck_assert_int_eq(bq_append(&q, src, 19), 0);
    ck_assert_uint_eq(bq_top(&q), 64);
    ck_assert_int_eq(bq_append(&q, src, 1), -ENOBUFS);
    ck_assert_uint_eq(bq_top(&q), 64);
    bq_init(&q, mem, sizeof(mem));
    ck_assert_uint_eq(bq_top(&q), 0);
}
END_TEST

START_TEST(test_bq_capacity)
{
    uint8_t mem[16], src[17];
    struct bq q;
    size_t n;
    const uint8_t *p;

    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)i;
    bq_init(&q, mem, sizeof(mem));
    ck_assert_ptr_null(bq_peek(&q, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bq_append(&q, src, 17), -ENOBUFS);
    ck_assert_uint_eq(bq_len(&q), 0);
    ck_assert_int_eq(bq_append(&q, src, 15), 0);
    ck_assert_int_eq(bq_append(&q, src + 15, 2), -ENOBUFS);
    ck_assert_uint_eq(bq_len(&q), 15);
    ck_assert_int_eq(bq_append(&q, src + 15, 1), 0);
    ck_assert_uint_eq(bq_space(&q), 0);
    ck_assert_int_eq(bq_append(&q, src, 1), -ENOBUFS);
    ck_assert_int_eq(bq_append(&q, src, 0), 0);
    p = bq_peek(&q, &n);
    ck_assert_uint_eq(n, 16);
    ck_assert_mem_eq(p, src, 16);
}
END_TEST

START_TEST(test_bq_consume_and_compact)
{
    uint8_t mem[8];
    struct bq q;
    size_t n;
    const uint8_t *p;

    bq_init(&q, mem, sizeof(mem));
    ck_assert_int_eq(bq_append(&q, "abcdef", 6), 0);
    ck_assert_int_eq(bq_consume(&q, 7), -EINVAL);
    ck_assert_uint_eq(bq_len(&q), 6);
    ck_assert_int_eq(bq_consume(&q, 4), 0);
    p = bq_peek(&q, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_mem_eq(p, "ef", 2);
    /* 6 more fit only after the two left are moved to the front. */
    ck_assert_uint_eq(bq_space(&q), 6);
    ck_assert_int_eq(bq_append(&q, "ghijkl", 6), 0);
    p = bq_peek(&q, &n);
    ck_assert_uint_eq(n, 8);
    ck_assert_mem_eq(p, "efghijkl", 8);
    ck_assert_int_eq(bq_consume(&q, 8), 0);
    ck_assert_uint_eq(bq_len(&q), 0);
    ck_assert_uint_eq(bq_space(&q), 8);
    ck_assert_int_eq(bq_consume(&q, 1), -EINVAL);
}
END_TEST

START_TEST(test_bq_reserve_commit)
{
    uint8_t mem[8];
    struct bq q;
    size_t n;
    uint8_t *t;
    const uint8_t *p;

    bq_init(&q, mem, sizeof(mem));
    ck_assert_int_eq(bq_append(&q, "abc", 3), 0);
    ck_assert_int_eq(bq_consume(&q, 2), 0);
    t = bq_reserve(&q, &n);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(n, 7);
    memcpy(t, "1234567", 7);
    ck_assert_int_eq(bq_commit(&q, 8), -ENOBUFS);
    ck_assert_uint_eq(bq_len(&q), 1);
    ck_assert_int_eq(bq_commit(&q, 7), 0);
    p = bq_peek(&q, &n);
    ck_assert_uint_eq(n, 8);
    ck_assert_mem_eq(p, "c1234567", 8);
    t = bq_reserve(&q, &n);
    ck_assert_ptr_null(t);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bq_commit(&q, 1), -ENOBUFS);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_put_int_big_endian_at_exact_cap, 0, 4);
    tcase_add_loop_test(tc, test_put_int_fails_at_cap_minus_one, 0, 4);
    tcase_add_test(tc, test_put_bytes_cap);
    tcase_add_test(tc, test_put_str8);
    tcase_add_loop_test(tc, test_cur_int_boundaries, 0, 4);
    tcase_add_test(tc, test_cur_end_and_remaining);
    tcase_add_test(tc, test_cur_bytes_and_copy);
    tcase_add_test(tc, test_cur_str8);
    tcase_add_test(tc, test_roundtrip_writer_reader);
    tcase_add_test(tc, test_bq_capacity);
    tcase_add_test(tc, test_bq_consume_and_compact);
    tcase_add_test(tc, test_bq_reserve_commit);
    tcase_add_test(tc, test_bq_top);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(buf_suite());
}
