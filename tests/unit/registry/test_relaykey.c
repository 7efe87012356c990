/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of registry/relaykey.c: create (0600, never overwrites), load,
 * refusal of group/other-readable files, malformed files, next key.
 */
#include "keys.h"
#include "relaykey.h"

#include <check.h>
#include <errno.h>
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lrcheck.h"

static char tmpdir[256];
static char keypath[320];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_relaykey.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(keypath, sizeof(keypath), "%s/relay.key", tmpdir);
}

static void teardown(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[600];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(tmpdir);
}

static int count_files(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void write_file(const char *text, mode_t mode)
{
    FILE *f = fopen(keypath, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(keypath, mode), 0);
}

START_TEST(create_and_load)
{
    struct relaykey k, k2;
    struct stat sb;
    char err[256];
    uint8_t pub[32];
    ck_assert_int_eq(relaykey_create(keypath, &k, err, sizeof(err)), 0);
    ck_assert_int_eq(stat(keypath, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 07777, 0600);
    ck_assert_int_eq(count_files(), 1); /* no temp file left */
    ck_assert_uint_eq(k.current.id, RELAYKEY_DEFAULT_ID);
    ck_assert_int_eq(k.has_next, 0);
    ck_assert_int_eq(key_pub_from_priv(k.current.priv, pub), 0);
    ck_assert_mem_eq(pub, k.current.pub, 32);
    ck_assert_int_eq(relaykey_load(keypath, &k2, err, sizeof(err)), 0);
    ck_assert_mem_eq(k2.current.priv, k.current.priv, 32);
    ck_assert_mem_eq(k2.current.pub, k.current.pub, 32);
    /* Never overwrites. */
    ck_assert_int_eq(relaykey_create(keypath, &k2, err, sizeof(err)), -EEXIST);
    ck_assert_int_eq(relaykey_load(keypath, &k2, err, sizeof(err)), 0);
    ck_assert_mem_eq(k2.current.priv, k.current.priv, 32);
    ck_assert_int_eq(count_files(), 1);
    relaykey_wipe(&k);
    relaykey_wipe(&k2);
}
END_TEST

START_TEST(load_or_create)
{
    struct relaykey k, k2;
    int created = -1;
    char err[256];
    ck_assert_int_eq(relaykey_load_or_create(keypath, &k, &created, err, sizeof(err)), 0);
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(relaykey_load_or_create(keypath, &k2, &created, err, sizeof(err)), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_mem_eq(k.current.pub, k2.current.pub, 32);
    ck_assert_int_eq(relaykey_load_or_create(keypath, &k2, NULL, err, sizeof(err)), 0);
}
END_TEST

START_TEST(missing)
{
    struct relaykey k;
    char err[256] = "";
    ck_assert_int_eq(relaykey_load(keypath, &k, err, sizeof(err)), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, keypath));
}
END_TEST

START_TEST(refuses_readable_by_others)
{
    struct relaykey k;
    char err[256] = "";
    ck_assert_int_eq(relaykey_create(keypath, &k, err, sizeof(err)), 0);
    ck_assert_int_eq(chmod(keypath, 0640), 0);
    ck_assert_int_eq(relaykey_load(keypath, &k, err, sizeof(err)), -EPERM);
    ck_assert_ptr_nonnull(strstr(err, "mode 0640"));
    ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
    ck_assert_int_eq(chmod(keypath, 0604), 0);
    ck_assert_int_eq(relaykey_load(keypath, &k, err, sizeof(err)), -EPERM);
    ck_assert_int_eq(chmod(keypath, 0400), 0);
    ck_assert_int_eq(relaykey_load(keypath, &k, err, sizeof(err)), 0);
}
END_TEST

START_TEST(next_key_and_comments)
{
    struct relaykey k;
    uint8_t p1[32], s1[32], p2[32], s2[32];
    char t1[KEY_TEXT_SIZE], t2[KEY_TEXT_SIZE], text[512], err[256] = "";
    key_keypair_new(s1, p1);
    key_keypair_new(s2, p2);
    key_priv_encode(s1, t1);
    key_priv_encode(s2, t2);
    snprintf(text, sizeof(text), "# comment\n\n  current 7 %s\r\n\tnext 255 %s\n", t1, t2);
    write_file(text, 0600);
    ck_assert_int_eq(relaykey_load(keypath, &k, err, sizeof(err)), 0);
    ck_assert_uint_eq(k.current.id, 7);
    ck_assert_mem_eq(k.current.pub, p1, 32);
    ck_assert_int_eq(k.has_next, 1);
    ck_assert_uint_eq(k.next.id, 255);
    ck_assert_mem_eq(k.next.pub, p2, 32);
    ck_assert_ptr_eq(relaykey_by_id(&k, 7), &k.current);
    ck_assert_ptr_eq(relaykey_by_id(&k, 255), &k.next);
    ck_assert_ptr_null(relaykey_by_id(&k, 1));
    /* save + load round trip keeps both. */
    ck_assert_int_eq(relaykey_save(keypath, &k, err, sizeof(err)), 0);
    struct relaykey k2;
    ck_assert_int_eq(relaykey_load(keypath, &k2, err, sizeof(err)), 0);
    ck_assert_mem_eq(&k2, &k, sizeof(k));
    ck_assert_int_eq(count_files(), 1);
}
END_TEST

/* The overlap's end (D21): kept through save and load, and settle makes the
 * next key current at the deadline, not a ms before. */
START_TEST(next_key_until_and_settle)
{
    struct relaykey k, k2;
    uint8_t p1[32], s1[32], p2[32], s2[32];
    char t1[KEY_TEXT_SIZE], t2[KEY_TEXT_SIZE], text[512], err[256] = "";
    key_keypair_new(s1, p1);
    key_keypair_new(s2, p2);
    key_priv_encode(s1, t1);
    key_priv_encode(s2, t2);
    snprintf(text, sizeof(text), "current 1 %s\nnext 2 %s until 5000\n", t1, t2);
    write_file(text, 0600);
    ck_assert_int_eq(relaykey_load(keypath, &k, err, sizeof(err)), 0);
    ck_assert_int_eq(k.next_until_ms, 5000);
    ck_assert_int_eq(relaykey_save(keypath, &k, err, sizeof(err)), 0);
    ck_assert_int_eq(relaykey_load(keypath, &k2, err, sizeof(err)), 0);
    ck_assert_mem_eq(&k2, &k, sizeof(k));
    ck_assert_int_eq(relaykey_settle(&k, 4999), 0);
    ck_assert_int_eq(k.has_next, 1);
    ck_assert_int_eq(relaykey_settle(&k, 5000), 1);
    ck_assert_int_eq(k.has_next, 0);
    ck_assert_uint_eq(k.current.id, 2);
    ck_assert_mem_eq(k.current.pub, p2, 32);
    ck_assert_ptr_null(relaykey_by_id(&k, 1));
    ck_assert_int_eq(relaykey_settle(&k, 1000000), 0);
    /* A next key without until never settles. */
    snprintf(text, sizeof(text), "current 1 %s\nnext 2 %s\n", t1, t2);
    write_file(text, 0600);
    ck_assert_int_eq(relaykey_load(keypath, &k, err, sizeof(err)), 0);
    ck_assert_int_eq(relaykey_settle(&k, INT64_MAX), 0);
    ck_assert_int_eq(k.has_next, 1);
}
END_TEST

static void expect_bad(const char *text, const char *want)
{
    struct relaykey k;
    char err[256] = "";
    write_file(text, 0600);
    ck_assert_int_eq(relaykey_load(keypath, &k, err, sizeof(err)), -EINVAL);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

START_TEST(malformed)
{
    uint8_t p[32], s[32];
    char t[KEY_TEXT_SIZE], text[512];
    key_keypair_new(s, p);
    key_priv_encode(s, t);
    expect_bad("", "no 'current' key");
    expect_bad("# only a comment\n", "no 'current' key");
    snprintf(text, sizeof(text), "next 2 %s\n", t);
    expect_bad(text, "no 'current' key");
    snprintf(text, sizeof(text), "\ncurrent 1 %s\ncurrent 2 %s\n", t, t);
    expect_bad(text, "line 3: second 'current' key");
    snprintf(text, sizeof(text), "current 1 %s\nnext 1 %s\n", t, t);
    expect_bad(text, "same id 1");
    snprintf(text, sizeof(text), "current 256 %s\n", t);
    expect_bad(text, "line 1: key id must be 0..255");
    snprintf(text, sizeof(text), "current 01 %s\n", t);
    expect_bad(text, "key id must be 0..255");
    snprintf(text, sizeof(text), "current 1 %s extra\n", t);
    expect_bad(text, "line 1: expected");
    expect_bad("current 1\n", "line 1: expected");
    snprintf(text, sizeof(text), "current 1 %s until 5\n", t);
    expect_bad(text, "line 1: expected");
    snprintf(text, sizeof(text), "current 1 %s\nnext 2 %s until\n", t, t);
    expect_bad(text, "line 2: expected");
    snprintf(text, sizeof(text), "current 1 %s\nnext 2 %s after 5\n", t, t);
    expect_bad(text, "line 2: expected");
    snprintf(text, sizeof(text), "current 1 %s\nnext 2 %s until 0\n", t, t);
    expect_bad(text, "line 2: until");
    snprintf(text, sizeof(text), "current 1 %s\nnext 2 %s until 12x\n", t, t);
    expect_bad(text, "line 2: until");
    snprintf(text, sizeof(text), "current 1 %s\nnext 2 %s until 5 6\n", t, t);
    expect_bad(text, "line 2: expected");
    snprintf(text, sizeof(text), "previous 1 %s\n", t);
    expect_bad(text, "unknown entry 'previous'");
    /* A public key where the private key belongs. */
    key_pub_encode(p, t);
    snprintf(text, sizeof(text), "current 1 %s\n", t);
    expect_bad(text, "line 1: private key: ");
    /* A typo. */
    key_priv_encode(s, t);
    t[20] = t[20] == 'a' ? 'b' : 'a';
    snprintf(text, sizeof(text), "current 1 %s\n", t);
    expect_bad(text, "private key: ");
    /* Larger than the limit. */
    char big[5000];
    memset(big, '#', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_bad(big, "larger than");
}
END_TEST

static Suite *relaykey_suite(void)
{
    Suite *s = suite_create("relaykey");
    TCase *tc = tcase_create("relaykey");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_and_load);
    tcase_add_test(tc, load_or_create);
    tcase_add_test(tc, missing);
    tcase_add_test(tc, refuses_readable_by_others);
    tcase_add_test(tc, next_key_and_comments);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, next_key_until_and_settle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(relaykey_suite());
}
