/* SPDX-License-Identifier: MIT */
/*
 * adminc — the client side of the relay's admin socket (used by linkctl).
 *
 * Protocol (agreed with relay/admin.c, see docs/linkctl.md): connect to the
 * Unix stream socket, send one request line ("status", "links", "sync"),
 * read one line of JSON until the server closes. Blocking, with a deadline.
 */
#ifndef LR_ADMINC_H
#define LR_ADMINC_H

#include <stddef.h>

#define ADMINC_REPLY_MAX  (1024 * 1024) /* bytes of one reply line */
#define ADMINC_TIMEOUT_MS 3000

/*
 * Sends `request` (without the newline) to the socket at path and returns the
 * reply line without its newline as a heap string in *reply (the caller
 * free()s it). Returns 0, or:
 *   -ENOENT        no socket at path (the relay is not running)
 *   -ECONNREFUSED  a stale socket: nobody accepts (the relay is not running)
 *   -ETIMEDOUT     no complete reply within timeout_ms
 *   -EPROTO        reply too long or closed without a newline
 *   -ENAMETOOLONG  path does not fit a sockaddr_un
 *   other -errno   from the socket calls
 */
int adminc_request(const char *path, const char *request, int timeout_ms, char **reply);

/* True for the errors that mean "the relay is not running". */
int adminc_not_running(int err);

#endif
