/* SPDX-License-Identifier: MIT */
/*
 * takeover — hands the listening sockets of a running relay to its successor
 * over the admin socket (SCM_RIGHTS; docs/design.md D25). The successor
 * (`linkrelay --takeover`) sends the request line `takeover`; the running
 * relay answers one JSON line carrying its listening sockets as ancillary
 * data; both accept on them until the successor, started, writes `ready`
 * on the same connection; then the old one drains. The sockets are never
 * closed in between, so nothing queued in their accept backlog is lost and
 * no connection is refused; a successor that fails to start changes
 * nothing.
 *
 * A leaf module: plain blocking socket calls, used by the successor before
 * its loop runs (takeover_fetch) and by the admin socket for one small reply
 * (takeover_send). Calls nothing of relay/.
 */
#ifndef LR_TAKEOVER_H
#define LR_TAKEOVER_H

#include <stddef.h>

#define TAKEOVER_MAX_FDS    32
#define TAKEOVER_TIMEOUT_MS 5000
#define TAKEOVER_REPLY_MAX  4096
#define TAKEOVER_CONFIRM_MS 30000 /* successor: sockets received -> `ready` */

/*
 * The successor's side: connects to the admin socket at path, asks for the
 * listening sockets and receives them. Returns 0 with *n (1..cap) fds in fds
 * (the caller owns them) and in *conn the open connection for takeover_confirm,
 * or a negative errno with a one-line reason in err:
 * no relay answers, it refused (its error text), or the reply was malformed.
 * Blocking, bounded by TAKEOVER_TIMEOUT_MS per read.
 */
int takeover_fetch(const char *path, int *fds, size_t cap, size_t *n, int *conn, char *err,
                   size_t errlen);
/*
 * The successor serves (everything that can fail at its start has been
 * done): writes `ready` on conn (from takeover_fetch), waits until the
 * predecessor closed it (it has let go of the admin path then, and drains),
 * and closes it. Closing conn without `ready` (or the process exiting)
 * tells the predecessor to serve on. 0, -ETIMEDOUT (no close within
 * TAKEOVER_TIMEOUT_MS) or -errno.
 */
int takeover_confirm(int conn);

/*
 * The running relay's side: writes text (one line, with its newline) to the
 * connected Unix socket fd with fds attached (SCM_RIGHTS). The fds stay open
 * here too (the kernel passes references). 0, or -errno (also -EAGAIN when
 * the socket does not take the whole line at once).
 */
int takeover_send(int fd, const char *text, size_t len, const int *fds, size_t n);

#endif
