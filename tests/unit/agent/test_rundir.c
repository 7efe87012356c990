/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/rundir.c: the runtime directory's path, its checks, and
 * the PID.sock names `linkagent status` looks for (design.md D23).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lrcheck.h"
#include "rundir.h"

START_TEST(test_socket_names)
{
    pid_t pid = 0;
    char path[64];

    ck_assert(rundir_is_socket_name("123.sock", &pid));
    ck_assert_int_eq(pid, 123);
    ck_assert(rundir_is_socket_name("2147483647.sock", &pid));
    ck_assert(!rundir_is_socket_name("0.sock", &pid));
    ck_assert(!rundir_is_socket_name("012.sock", &pid));
    ck_assert(!rundir_is_socket_name("-1.sock", &pid));
    ck_assert(!rundir_is_socket_name("12.sock.old", &pid));
    ck_assert(!rundir_is_socket_name("12", &pid));
    ck_assert(!rundir_is_socket_name("a12.sock", &pid));
    ck_assert(!rundir_is_socket_name(".sock", &pid));
    ck_assert(!rundir_is_socket_name("99999999999999999999.sock", &pid));
    ck_assert(!rundir_is_socket_name("2147483648.sock", &pid));
    ck_assert_int_eq(rundir_socket("/run/linkagent", 42, path, sizeof(path)), 0);
    ck_assert_str_eq(path, "/run/linkagent/42.sock");
    ck_assert_int_eq(rundir_socket("/run/linkagent", 42, path, 22), -ENAMETOOLONG);
    ck_assert_int_eq(rundir_socket("/run/linkagent", 42, path, 23), 0);
}
END_TEST

START_TEST(test_path_order)
{
    char p[64];

    setenv(RUNDIR_ENV, "/x/agents", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    ck_assert_int_eq(rundir_path(p, sizeof(p)), 0);
    ck_assert_str_eq(p, "/x/agents");
    ck_assert_int_eq(rundir_path(p, 5), -ENAMETOOLONG);
    unsetenv(RUNDIR_ENV);
    ck_assert_int_eq(rundir_path(p, sizeof(p)), 0);
    if (geteuid() == 0) {
        ck_assert_str_eq(p, "/run/linkagent");
    } else {
        ck_assert_str_eq(p, "/run/user/1000/linkagent");
        unsetenv("XDG_RUNTIME_DIR");
        ck_assert_int_eq(rundir_path(p, sizeof(p)), 0);
        ck_assert(strncmp(p, "/tmp/linkagent-", 15) == 0);
    }
}
END_TEST

START_TEST(test_ensure)
{
    char top[] = "/tmp/lrrundir.XXXXXX", dir[64], file[80];
    struct stat sb;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(top));
    snprintf(dir, sizeof(dir), "%s/run", top);
    ck_assert_int_eq(rundir_ensure(dir), 0);
    ck_assert_int_eq(stat(dir, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0700);
    ck_assert_int_eq(rundir_ensure(dir), 0); /* there already */
    ck_assert_int_eq(chmod(dir, 0777), 0);
    ck_assert_int_eq(rundir_ensure(dir), -EPERM); /* others may write */
    ck_assert_int_eq(rmdir(dir), 0);
    ck_assert_int_eq(symlink(top, dir), 0);
    ck_assert_int_eq(rundir_ensure(dir), -ENOTDIR); /* a symlink is not followed */
    ck_assert_int_eq(unlink(dir), 0);
    snprintf(file, sizeof(file), "%s/file", top);
    f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(rundir_ensure(file), -ENOTDIR);
    ck_assert_int_eq(unlink(file), 0);
    snprintf(dir, sizeof(dir), "%s/no/such", top);
    ck_assert_int_eq(rundir_ensure(dir), -ENOENT); /* parents are not made */
    ck_assert_int_eq(rmdir(top), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rundir");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_socket_names);
    tcase_add_test(tc, test_path_order);
    tcase_add_test(tc, test_ensure);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
