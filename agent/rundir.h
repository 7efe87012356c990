/* SPDX-License-Identifier: MIT */
/*
 * rundir — where running agents keep their admin sockets, so that
 * `linkagent status` finds every agent of this host without being told
 * (docs/linkagent.md "ADMIN SOCKET", docs/design.md D23).
 *
 * The directory is, first that applies: $LINKAGENT_RUNTIME_DIR;
 * /run/linkagent for root; $XDG_RUNTIME_DIR/linkagent; /tmp/linkagent-UID.
 * Each agent's socket in it is named by its process id, PID.sock: two agents
 * never share a name, and a socket left by a killed agent either answers
 * nobody (status skips it) or is replaced by a later agent that got the same
 * process id (adminsrv.c replaces stale files).
 */
#ifndef LR_RUNDIR_H
#define LR_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNDIR_ENV "LINKAGENT_RUNTIME_DIR"

/* The directory's path for this user (see above) into out. 0 or
 * -ENAMETOOLONG. */
int rundir_path(char *out, size_t cap);
/* Creates dir (mode 0700; the parents must exist) unless it is there, and
 * checks that it is a directory of this user that nobody else may write to.
 * 0 or a negative errno (-EPERM: owned by someone else or writable by
 * others). */
int rundir_ensure(const char *dir);
/* "DIR/PID.sock" into out. 0 or -ENAMETOOLONG. */
int rundir_socket(const char *dir, pid_t pid, char *out, size_t cap);
/* True for a file name an agent's socket has ("123.sock"); *pid is set. */
bool rundir_is_socket_name(const char *name, pid_t *pid);

#endif
