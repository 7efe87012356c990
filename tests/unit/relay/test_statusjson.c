/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/statusjson's cut of the links list (at most
 * STATUSJSON_MAX_LINKS on the status page): at the cap nothing is left out;
 * one over, the offline link last by name goes; links with a side online are
 * kept first, then by name; links_up counts both sides online, before the
 * cut. */
#include <check.h>
#include <string.h>

#include <jansson.h>

#include "lrcheck.h"
#include "statusjson.h"

static json_t *link_(const char *name, int a, int b)
{
    return json_pack("{s:s, s:{s:b}, s:{s:b}}", "name", name, "a", "online", a, "b", "online", b);
}

static json_t *links(void)
{
    json_t *v = json_array();

    json_array_append_new(v, link_("d", 0, 0));
    json_array_append_new(v, link_("c", 1, 1));
    json_array_append_new(v, link_("a", 0, 0));
    json_array_append_new(v, link_("b", 0, 1));
    json_array_append_new(v, link_("e", 1, 1));
    return v;
}

static const char *name_at(const json_t *v, size_t i)
{
    return json_string_value(json_object_get(json_array_get(v, i), "name"));
}

START_TEST(test_at_cap)
{
    json_t *v = links();
    size_t up = 99;

    ck_assert_uint_eq(statusjson_cap_links(v, 5, &up), 0);
    ck_assert_uint_eq(up, 2);
    ck_assert_uint_eq(json_array_size(v), 5);
    ck_assert_str_eq(name_at(v, 0), "d"); /* untouched: in the index's order */
    json_decref(v);
}
END_TEST

START_TEST(test_over_cap)
{
    json_t *v = links();
    size_t up = 0;

    ck_assert_uint_eq(statusjson_cap_links(v, 4, &up), 1);
    ck_assert_uint_eq(up, 2);
    ck_assert_uint_eq(json_array_size(v), 4);
    ck_assert_str_eq(name_at(v, 0), "b");
    ck_assert_str_eq(name_at(v, 1), "c");
    ck_assert_str_eq(name_at(v, 2), "e");
    ck_assert_str_eq(name_at(v, 3), "a"); /* d, offline and last by name, went */
    ck_assert_uint_eq(statusjson_cap_links(v, 0, &up), 4);
    ck_assert_uint_eq(json_array_size(v), 0);
    json_decref(v);
}
END_TEST

static Suite *statusjson_suite(void)
{
    Suite *s = suite_create("statusjson");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_at_cap);
    tcase_add_test(tc, test_over_cap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(statusjson_suite());
}
