/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of registry/lrjson.c: the shape of the JSON text linkrelay writes
 * (admin replies, linkctl --json) with LRJSON_DUMP_FLAGS, unsigned counters
 * above INT64_MAX, and text that is not valid UTF-8.
 */
#include "lrjson.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "lrcheck.h"

/* Dumps v with our flags, compares with want, drops v. */
static void dumps_eq(json_t *v, const char *want)
{
    ck_assert_ptr_nonnull(v);
    char *text = json_dumps(v, LRJSON_DUMP_FLAGS);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, want);
    free(text);
    json_decref(v);
}

/* Compact, members in the order they were added, nested empties, integers
 * as %lld: what scripts reading --json and the admin socket have always got. */
START_TEST(dump_shape)
{
    json_t *v =
        json_pack("{s:s, s:I, s:{s:b, s:n}, s:[i, [], {}], s:b, s:I}", "id", "abc", "n",
                  (json_int_t)-5, "t", "a", 1, "b", "l", 1, "f", 0, "min", (json_int_t)INT64_MIN);
    dumps_eq(v, "{\"id\":\"abc\",\"n\":-5,\"t\":{\"a\":true,\"b\":null},\"l\":[1,[],{}],"
                "\"f\":false,\"min\":-9223372036854775808}");
    /* Keys added in reverse alphabetical order stay in that order. */
    v = json_object();
    json_object_set_new(v, "zeta", json_integer(1));
    json_object_set_new(v, "alpha", json_integer(2));
    dumps_eq(v, "{\"zeta\":1,\"alpha\":2}");
}
END_TEST

/* '"', '\\' and control characters are escaped; UTF-8 and DEL pass as is. */
START_TEST(dump_escapes)
{
    dumps_eq(json_string("q\"b\\n\n\r\t\x7f"
                         "\xc3\xa4/"),
             "\"q\\\"b\\\\n\\n\\r\\t\x7f"
             "\xc3\xa4/\"");
}
END_TEST

START_TEST(u64_clamps)
{
    ck_assert(lrjson_u64(0) == 0);
    ck_assert(lrjson_u64(1796582992715ULL) == 1796582992715LL);
    ck_assert(lrjson_u64((uint64_t)INT64_MAX) == INT64_MAX);
    ck_assert(lrjson_u64((uint64_t)INT64_MAX + 1) == INT64_MAX);
    ck_assert(lrjson_u64(UINT64_MAX) == INT64_MAX);
    dumps_eq(json_pack("{s:I}", "bytes", lrjson_u64(UINT64_MAX)),
             "{\"bytes\":9223372036854775807}");
}
END_TEST

/* Bytes that are not UTF-8 (a stray byte, a truncated sequence, an encoded
 * surrogate, an overlong form) each become U+FFFD; valid text is kept. */
START_TEST(str_repairs_utf8)
{
    json_t *v = lrjson_str("ok \xc3\xa4");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(v), "ok \xc3\xa4");
    json_decref(v);
    v = lrjson_str("\xff"
                   "a\xc3"
                   "x\xed\xa0\x80"
                   "\xc0\xaf"
                   "\xf0\x9f\x98");
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(v), "\xef\xbf\xbd"
                                           "a\xef\xbf\xbd"
                                           "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                           "\xef\xbf\xbd\xef\xbf\xbd"
                                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(v);
    v = lrjson_str("");
    ck_assert_str_eq(json_string_value(v), "");
    json_decref(v);
}
END_TEST

static Suite *lrjson_suite(void)
{
    Suite *s = suite_create("lrjson");
    TCase *tc = tcase_create("lrjson");
    tcase_add_test(tc, dump_shape);
    tcase_add_test(tc, dump_escapes);
    tcase_add_test(tc, u64_clamps);
    tcase_add_test(tc, str_repairs_utf8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(lrjson_suite());
}
