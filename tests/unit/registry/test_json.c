/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of registry/json.c: writer escaping and commas, parser acceptance
 * and rejection, limits.
 */
#include "json.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lrcheck.h"

/* Runs fn over a json_w writing to memory; returns the text (static). */
static char out[4096];
static FILE *mem_open(void)
{
    FILE *f = fmemopen(out, sizeof(out), "w");
    ck_assert_ptr_nonnull(f);
    return f;
}

START_TEST(writer_shapes)
{
    FILE *f = mem_open();
    struct json_w w;
    json_w_init(&w, f);
    json_obj_begin(&w);
    json_key(&w, "id");
    json_str(&w, "abc");
    json_key(&w, "n");
    json_int(&w, -5);
    json_key(&w, "u");
    json_uint(&w, 18446744073709551615ULL);
    json_key(&w, "t");
    json_obj_begin(&w);
    json_key(&w, "a");
    json_bool(&w, 1);
    json_key(&w, "b");
    json_null(&w);
    json_obj_end(&w);
    json_key(&w, "l");
    json_arr_begin(&w);
    json_int(&w, 1);
    json_arr_begin(&w);
    json_arr_end(&w);
    json_obj_begin(&w);
    json_obj_end(&w);
    json_arr_end(&w);
    json_obj_end(&w);
    fclose(f);
    ck_assert_str_eq(out, "{\"id\":\"abc\",\"n\":-5,\"u\":18446744073709551615,\"t\":{\"a\":true,"
                          "\"b\":null},\"l\":[1,[],{}]}");
}
END_TEST

START_TEST(writer_key_values)
{
    FILE *f = mem_open();
    struct json_w w;
    json_w_init(&w, f);
    json_obj_begin(&w);
    json_kv_str(&w, "s", "x\"y");
    json_kv_int(&w, "i", -9223372036854775807LL - 1);
    json_kv_uint(&w, "u", 0);
    json_kv_bool(&w, "t", 7);
    json_kv_bool(&w, "f", 0);
    json_obj_end(&w);
    fclose(f);
    ck_assert_str_eq(out, "{\"s\":\"x\\\"y\",\"i\":-9223372036854775808,\"u\":0,\"t\":true,"
                          "\"f\":false}");
}
END_TEST

START_TEST(writer_escapes)
{
    FILE *f = mem_open();
    json_write_string(f, "q\"b\\n\n\r\t\x01\x1f\x7f"
                         "\xc3\xa4"
                         "\xff"
                         "\xc3"
                         "x\xed\xa0\x80");
    fclose(f);
    ck_assert_str_eq(out, "\"q\\\"b\\\\n\\n\\r\\t\\u0001\\u001f\x7f"
                          "\xc3\xa4"
                          "\\ufffd\\ufffdx\\ufffd\\ufffd\\ufffd\"");
}
END_TEST

START_TEST(parse_roundtrip)
{
    const char *text = " {\"a\":[1,-2,3.5,true,false,null,\"x\\u00e4\\ud83d\\ude00\\n\"],"
                       "\"b\":{\"c\":\"\"},\"big\":9223372036854775807} ";
    struct json_val *v = NULL;
    ck_assert_int_eq(json_parse(text, strlen(text), &v), 0);
    const struct json_val *a = json_get(v, "a");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->type, JSON_ARR);
    ck_assert_uint_eq(a->n, 7);
    ck_assert_int_eq(a->items[1].i, -2);
    ck_assert(a->items[2].is_int == 0 && a->items[2].num == 3.5);
    ck_assert_str_eq(a->items[6].str, "x\xc3\xa4\xf0\x9f\x98\x80\n");
    ck_assert_int_eq(json_get_int(v, "big", 0), INT64_MAX);
    ck_assert_str_eq(json_get_str(json_get(v, "b"), "c", "dflt"), "");
    ck_assert_str_eq(json_get_str(v, "missing", "dflt"), "dflt");
    ck_assert_int_eq(json_get_bool(v, "a", 7), 7);
    FILE *f = mem_open();
    struct json_w w;
    json_w_init(&w, f);
    json_val_write(&w, v);
    fclose(f);
    ck_assert_str_eq(out, "{\"a\":[1,-2,3.5,true,false,null,\"x\xc3\xa4\xf0\x9f\x98\x80\\n\"],"
                          "\"b\":{\"c\":\"\"},\"big\":9223372036854775807}");
    json_free(v);
    json_free(NULL);
}
END_TEST

START_TEST(parse_rejects)
{
    const char *bad[] = {
        "",        "{",         "}",           "[1,]",        "{\"a\" 1}",    "{\"a\":}",
        "{1:2}",   "01",        "-",           "tru",         "nul",          "\"abc",
        "\"\\x\"", "\"\\u00\"", "\"\\u0000\"", "\"\\udc00\"", "\"\\ud800x\"", "1 2",
        "[1] x",   "\"a\nb\"",  "+1",          "1e",          "{\"a\":1,}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_val *v = (struct json_val *)0x1;
        ck_assert_msg(json_parse(bad[i], strlen(bad[i]), &v) == -EINVAL, "accepted '%s'", bad[i]);
        ck_assert_ptr_eq(v, (struct json_val *)0x1);
    }
}
END_TEST

START_TEST(parse_depth_limit)
{
    char text[2 * (JSON_MAX_DEPTH + 2) + 1];
    struct json_val *v;
    for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
        /* depth nested arrays around one value: [[...[1]...]] */
        size_t n = 0;
        for (int i = 0; i < depth; i++) {
            text[n++] = '[';
        }
        text[n++] = '1';
        for (int i = 0; i < depth; i++) {
            text[n++] = ']';
        }
        int r = json_parse(text, n, &v);
        if (depth == JSON_MAX_DEPTH) {
            ck_assert_int_eq(r, 0);
            json_free(v);
        } else {
            ck_assert_int_eq(r, -EINVAL);
        }
    }
    ck_assert_int_eq(json_parse("1", JSON_MAX_INPUT + 1, &v), -EINVAL);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, writer_shapes);
    tcase_add_test(tc, writer_key_values);
    tcase_add_test(tc, writer_escapes);
    tcase_add_test(tc, parse_roundtrip);
    tcase_add_test(tc, parse_rejects);
    tcase_add_test(tc, parse_depth_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(json_suite());
}
