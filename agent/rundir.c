/* SPDX-License-Identifier: MIT */
/*
 * rundir — see rundir.h.
 */
#include "rundir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int put(size_t cap, int n)
{
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int rundir_path(char *out, size_t cap)
{
    const char *env = getenv(RUNDIR_ENV), *xdg = getenv("XDG_RUNTIME_DIR");

    if (env != NULL && env[0] != '\0')
        return put(cap, snprintf(out, cap, "%s", env));
    if (geteuid() == 0)
        return put(cap, snprintf(out, cap, "/run/linkagent"));
    if (xdg != NULL && xdg[0] == '/')
        return put(cap, snprintf(out, cap, "%s/linkagent", xdg));
    return put(cap, snprintf(out, cap, "/tmp/linkagent-%u", (unsigned)geteuid()));
}

int rundir_ensure(const char *dir)
{
    struct stat sb;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    /* lstat: a symlink planted in /tmp in our name is refused, not followed. */
    if (lstat(dir, &sb) != 0)
        return -errno;
    if (!S_ISDIR(sb.st_mode))
        return -ENOTDIR;
    if (sb.st_uid != geteuid() || (sb.st_mode & 0022) != 0)
        return -EPERM;
    return 0;
}

int rundir_socket(const char *dir, pid_t pid, char *out, size_t cap)
{
    return put(cap, snprintf(out, cap, "%s/%ld.sock", dir, (long)pid));
}

bool rundir_is_socket_name(const char *name, pid_t *pid)
{
    char *end;
    long v;

    if (name[0] < '1' || name[0] > '9')
        return false;
    errno = 0;
    v = strtol(name, &end, 10);
    if (errno != 0 || v <= 0 || v > INT_MAX || strcmp(end, ".sock") != 0)
        return false;
    *pid = (pid_t)v;
    return true;
}
