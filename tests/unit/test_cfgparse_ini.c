/* SPDX-License-Identifier: MIT */
/*
 * cfgparse_ini gives the same result whatever options inih was built with.
 *
 * Upstream inih sets its options (INI_ALLOW_MULTILINE and friends) when it
 * is compiled. Debian's libinih turns them into process-wide variables with
 * upstream's defaults; where the library has them (LR_INIH_RUNTIME_OPTIONS,
 * found by CMake), this test runs every case under each combination of the
 * options that change how a line is read, standing in for the upstream
 * builds we cannot compile here. Elsewhere it runs the cases once, on the
 * library as built. common/ never touches these variables.
 */
#include <check.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgparse.h"
#include "lrcheck.h"

struct rec {
    char log[1024];
};

static int rec_section(void *user, const char *section, int line, struct cfgparse_error *err)
{
    struct rec *r = user;
    size_t n = strlen(r->log);

    (void)err;
    snprintf(r->log + n, sizeof(r->log) - n, "S%d[%s]", line, section);
    return 0;
}

static int rec_key(void *user, const char *section, const char *name, const char *value, int line,
                   struct cfgparse_error *err)
{
    struct rec *r = user;
    size_t n = strlen(r->log);

    (void)err;
    if (strlen(value) > 40) /* long values: their length and ends */
        snprintf(r->log + n, sizeof(r->log) - n, "K%d[%s]%s=%.3s..%zu..%s;", line, section, name,
                 value, strlen(value), value + strlen(value) - 3);
    else
        snprintf(r->log + n, sizeof(r->log) - n, "K%d[%s]%s=%s;", line, section, name, value);
    return 0;
}

static const struct cfgparse_ops rec_ops = {rec_section, rec_key};

/* One input and what cfgparse_ini must make of it: the callbacks in order,
 * then "E<line>:<message>" when it fails. */
struct ini_case {
    const char *text;
    const char *want;
};

static const struct ini_case cases[] = {
    /* Inline comments are not a thing: ';' and '#' belong to the value, the
     * name or the section name. */
    {"a = 1 ;c\nb=2 #d\n", "K1[]a=1 ;c;K2[]b=2 #d;"},
    {"[s ;x]\nk ;y # v = 2\n", "S1[s ;x]K2[s ;x]k ;y # v=2;"},
    {"k = a;b\nk=;\n", "K1[]k=a;b;K2[]k=;;"},
    /* Whole-line comments, also indented; blank lines. */
    {"; c\n# c\n  ;c\n\t#c = 1\n\n \r\n", ""},
    /* No continuation: an indented line is a line like any other. */
    {"[s]\nk=1\n  j=2\n", "S1[s]K2[s]k=1;K3[s]j=2;"},
    {"[s]\nk=1\n  more\n", "S1[s]K2[s]k=1;E3:syntax error: expected 'key = value' or '[section]'"},
    /* No value-less names. */
    {"novalue\n", "E1:syntax error: expected 'key = value' or '[section]'"},
    /* A BOM on the first line only. */
    {"\xef\xbb\xbf[s]\n", "S1[s]"},
    {"[s]\n\xef\xbb\xbf# c\n", "S1[s]E2:syntax error: expected 'key = value' or '[section]'"},
    /* Sections, also ones named like ours, and the empty one. */
    {"[a]\n[b]\n[ab]\n[]\n[a]x\n", "S1[a]S2[b]S3[ab]S4[]S5[a]"},
    {"[ a b ]\nk=v\n", "S1[ a b ]K2[ a b ]k=v;"},
    {"[a\n", "E1:missing ']' in section header"},
    /* Pairs that look like our sentinel. */
    {"x=x\n[a]\nx=x\nx = x\n", "K1[]x=x;S2[a]K3[a]x=x;K4[a]x=x;"},
    /* Separators, empty names and values, CRLF. */
    {"k:v=w\nk=v:w\n= v\nk=\r\nk =  \n", "K1[]k=v=w;K2[]k=v:w;K3[]=v;K4[]k=;K5[]k=;"},
    {" \t k \t = \t v  v \t \r\n", "K1[]k=v  v;"},
    /* Lines longer than inih's default line buffer (200 bytes). */
    {"k = "
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
     "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv ;end  \n",
     "K1[]k=vvv..227..end;"},
    {"k =                                                                                        "
     "                                                                                            "
     "                    v ; w\n",
     "K1[]k=v ; w;"},
    {"k =                                                                                        "
     "                                                                                            "
     "                    \n",
     "K1[]k=;"},
    {"[ssssssssssssssssssssssssssssssssssssssssssssssss]\n",
     "S1[ssssssssssssssssssssssssssssssssssssssssssssssss]"},
    {"[sssssssssssssssssssssssssssssssssssssssssssssssss]\n",
     "E1:section name too long (max 48 characters)"},
    {"[ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"
     "sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"
     "ssssssssssssssssssssssssssssss]\n",
     "E1:section name too long (max 48 characters)"},
    {"[ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"
     "sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"
     "ssssssssssssssssssssssssssssss\n",
     "E1:missing ']' in section header"},
    {"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnnnnnnnnn = v\n",
     "E1:key name too long (max 189 characters)"},
};

static void check_case(const struct ini_case *c, const char *options)
{
    struct rec r;
    struct cfgparse_error err;
    char got[1400];
    int rc;

    memset(&r, 0, sizeof(r));
    rc = cfgparse_ini(c->text, &rec_ops, &r, &err);
    if (rc != 0)
        snprintf(got, sizeof(got), "%sE%d:%s", r.log, err.line, err.msg);
    else
        snprintf(got, sizeof(got), "%s", r.log);
    ck_assert_msg(strcmp(got, c->want) == 0, "%s\ninput  %.60s\nwant   %s\ngot    %s", options,
                  c->text, c->want, got);
    if (rc != 0)
        ck_assert_int_eq(rc, -EINVAL);
}

static void check_all(const char *options)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_case(&cases[i], options);
}

#ifdef LR_INIH_RUNTIME_OPTIONS
/* Bit i of m turns option i away from upstream's default. */
static void set_options(unsigned m, char *desc, size_t cap)
{
    ini_allow_multiline = !(m & 1);
    ini_allow_bom = !(m & 2);
    ini_allow_inline_comments = !(m & 4);
    ini_allow_no_value = (m & 8) != 0;
    ini_stop_on_first_error = (m & 16) != 0;
    ini_use_stack = !(m & 32);
    ini_allow_realloc = (m & 64) != 0;
    ini_max_line = 200;
    snprintf(desc, cap,
             "multiline=%d bom=%d inline_comments=%d no_value=%d stop_on_first_error=%d "
             "use_stack=%d allow_realloc=%d",
             ini_allow_multiline, ini_allow_bom, ini_allow_inline_comments, ini_allow_no_value,
             ini_stop_on_first_error, ini_use_stack, ini_allow_realloc);
}
#endif

START_TEST(test_ini_every_build)
{
#ifdef LR_INIH_RUNTIME_OPTIONS
    char desc[256];

    for (unsigned m = 0; m < 128; m++) {
        if ((m & 64) && !(m & 32))
            continue; /* realloc applies to the heap buffer only */
        set_options(m, desc, sizeof(desc));
        check_all(desc);
    }
    set_options(0, desc, sizeof(desc));
#else
    check_all("inih as built");
#endif
}
END_TEST

static Suite *cfgparse_ini_suite(void)
{
    Suite *s = suite_create("cfgparse_ini");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_ini_every_build);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(cfgparse_ini_suite());
}
