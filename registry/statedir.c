/* SPDX-License-Identifier: MIT */
#include "statedir.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

/* 0 when path is a directory, -ENOTDIR when it is something else, or the
 * negative errno of stat (-ENOENT: missing). */
static int statedir_is_dir(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) != 0)
        return -errno;
    return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

/* Creates every missing parent of buf (a writable copy of the path). */
static int statedir_parents(char *buf)
{
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -errno;
        *p = '/';
        if (rc != 0)
            return rc;
    }
    return 0;
}

int statedir_ensure(const char *path, int *created)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    int rc;

    /* "" is no directory; walking its parents would read past the end. */
    if (n == 0)
        return -EINVAL;
    rc = statedir_is_dir(path);

    if (rc != -ENOENT) {
        if (rc == 0)
            *created = 0;
        return rc;
    }
    if (n >= sizeof(buf))
        return -ENAMETOOLONG;
    /* Without trailing slashes the last mkdir is the one that gets 0700. */
    while (n > 1 && path[n - 1] == '/')
        n--;
    memcpy(buf, path, n);
    buf[n] = '\0';
    rc = statedir_parents(buf);
    if (rc != 0)
        return rc;
    if (mkdir(buf, 0700) != 0) {
        /* Someone else made it meanwhile: fine if it is a directory. */
        rc = errno == EEXIST ? statedir_is_dir(buf) : -errno;
        if (rc == 0)
            *created = 0;
        return rc;
    }
    *created = 1;
    return 0;
}
