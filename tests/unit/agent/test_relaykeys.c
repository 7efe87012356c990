/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/relaykeys.c: the relay keys linkagent learned (D21).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lrcheck.h"
#include "relaykeys.h"

static void pub(uint8_t out[KEY_LEN])
{
    uint8_t priv[KEY_LEN];
    key_keypair_new(priv, out);
}

/* Follows old → new → newer; a key the map does not name stays. */
START_TEST(test_add_and_apply)
{
    struct relaykeys k;
    uint8_t k1[KEY_LEN], k2[KEY_LEN], k3[KEY_LEN], other[KEY_LEN], cur[KEY_LEN];
    uint8_t id = 1;

    memset(&k, 0, sizeof(k));
    pub(k1);
    pub(k2);
    pub(k3);
    pub(other);
    relaykeys_add(&k, k1, 2, k2);
    relaykeys_add(&k, k2, 3, k3);
    memcpy(cur, k1, KEY_LEN);
    relaykeys_apply(&k, &id, cur);
    ck_assert_uint_eq(id, 3);
    ck_assert_mem_eq(cur, k3, KEY_LEN);
    id = 9;
    memcpy(cur, other, KEY_LEN);
    relaykeys_apply(&k, &id, cur);
    ck_assert_uint_eq(id, 9);
    ck_assert_mem_eq(cur, other, KEY_LEN);
    /* The same old key again replaces its entry. */
    relaykeys_add(&k, k1, 7, other);
    ck_assert_uint_eq(k.n, 2);
    id = 1;
    memcpy(cur, k1, KEY_LEN);
    relaykeys_apply(&k, &id, cur);
    ck_assert_uint_eq(id, 7);
    ck_assert_mem_eq(cur, other, KEY_LEN);
    /* A cycle (hand-edited) ends. */
    relaykeys_add(&k, other, 1, k1);
    relaykeys_apply(&k, &id, cur);
}
END_TEST

/* At the limit the oldest entry goes. */
START_TEST(test_limit)
{
    struct relaykeys k;
    uint8_t first[KEY_LEN], a[KEY_LEN], b[KEY_LEN];

    memset(&k, 0, sizeof(k));
    pub(first);
    pub(b);
    relaykeys_add(&k, first, 1, b);
    for (size_t i = 1; i < RELAYKEYS_MAX; i++) {
        pub(a);
        relaykeys_add(&k, a, 1, b);
    }
    ck_assert_uint_eq(k.n, RELAYKEYS_MAX);
    ck_assert_mem_eq(k.e[0].old_pub, first, KEY_LEN);
    pub(a);
    relaykeys_add(&k, a, 1, b);
    ck_assert_uint_eq(k.n, RELAYKEYS_MAX);
    ck_assert(memcmp(k.e[0].old_pub, first, KEY_LEN) != 0);
    ck_assert_mem_eq(k.e[RELAYKEYS_MAX - 1].old_pub, a, KEY_LEN);
}
END_TEST

START_TEST(test_write_read_and_bad_files)
{
    char dir[] = "/tmp/test_relaykeys.XXXXXX", path[64], text[512], err[200];
    char t1[KEY_TEXT_SIZE], t2[KEY_TEXT_SIZE];
    struct relaykeys k, got;
    uint8_t k1[KEY_LEN], k2[KEY_LEN];
    struct stat sb;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.conf.relaykeys", dir);
    ck_assert_int_eq(relaykeys_read(path, &got, err, sizeof(err)), 0); /* missing: empty */
    ck_assert_uint_eq(got.n, 0);
    memset(&k, 0, sizeof(k));
    pub(k1);
    pub(k2);
    relaykeys_add(&k, k1, 255, k2);
    ck_assert_int_eq(relaykeys_write(path, &k, "test"), 0);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(relaykeys_read(path, &got, err, sizeof(err)), 0);
    ck_assert_uint_eq(got.n, 1);
    ck_assert_mem_eq(&got.e[0], &k.e[0], sizeof(k.e[0]));

    key_pub_encode(k1, t1);
    key_pub_encode(k2, t2);
    snprintf(text, sizeof(text), "# c\n\n%s 2 %s\r\n", t1, t2);
    ck_assert_int_eq(relaykeys_parse(text, &got, err, sizeof(err)), 0);
    ck_assert_uint_eq(got.n, 1);
    ck_assert_uint_eq(got.e[0].id, 2);
    snprintf(text, sizeof(text), "%s 256 %s\n", t1, t2);
    ck_assert_int_eq(relaykeys_parse(text, &got, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "line 1"));
    snprintf(text, sizeof(text), "# c\n%s 2\n", t1);
    ck_assert_int_eq(relaykeys_parse(text, &got, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "line 2"));
    snprintf(text, sizeof(text), "%s 2 %s x\n", t1, t2);
    ck_assert_int_eq(relaykeys_parse(text, &got, err, sizeof(err)), -EINVAL);
    snprintf(text, sizeof(text), "%s -1 %s\n", t1, t2);
    ck_assert_int_eq(relaykeys_parse(text, &got, err, sizeof(err)), -EINVAL);
    t2[10] = t2[10] == 'a' ? 'b' : 'a'; /* a typo: the checksum catches it */
    snprintf(text, sizeof(text), "%s 2 %s\n", t1, t2);
    ck_assert_int_eq(relaykeys_parse(text, &got, err, sizeof(err)), -EINVAL);
    /* Over the size limit. */
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < RELAYKEYS_MAX_SIZE + 1; i++)
        fputc('#', f);
    fclose(f);
    ck_assert_int_eq(relaykeys_read(path, &got, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "larger than"));
    unlink(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("relaykeys");
    TCase *tc = tcase_create("core");

    if (sodium_init() < 0)
        return 1;
    tcase_add_test(tc, test_add_and_apply);
    tcase_add_test(tc, test_limit);
    tcase_add_test(tc, test_write_read_and_bad_files);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
