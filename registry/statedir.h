/* SPDX-License-Identifier: MIT */
/*
 * statedir — creating the relay's state directory, shared by linkrelay and
 * linkctl so both make it the same way: missing parents as `mkdir -p` would
 * (mode 0755 before the umask), the directory itself mode 0700 (it holds the
 * relay's private key). An existing directory is left as it is.
 */
#ifndef LR_STATEDIR_H
#define LR_STATEDIR_H

/* Makes sure path is a directory. Returns 0 or a negative errno (-EINVAL
 * for "", -ENOTDIR when path or a parent is something else). *created is
 * set on success: 1 when this call made the directory itself, 0 when it
 * existed. */
int statedir_ensure(const char *path, int *created);

#endif
