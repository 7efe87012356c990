/* SPDX-License-Identifier: MIT */
/*
 * sdlisten — listening sockets a service manager passed at start (socket
 * activation: $LISTEN_FDS, $LISTEN_PID, $LISTEN_FDNAMES, read through
 * libsystemd's sd_listen_fds; docs/design.md D26).
 *
 * sdlisten_take reads the variables once and unsets them (a child the
 * daemon might start does not inherit them). The fds it returns are the
 * caller's; each is checked to be a listening TCP socket (IPv4 or IPv6).
 * Nothing here runs on a loop; it is called before the loop runs.
 */
#ifndef LR_SDLISTEN_H
#define LR_SDLISTEN_H

#include <stddef.h>

/* Fills fds with the passed listening sockets, *n of them (0 when the
 * process was not socket-activated, or the variables name another
 * process). Returns 0, or -1 with a one-line message in err when the
 * variables are malformed, more than cap were passed, or one of them is
 * not a listening TCP socket (then every passed fd is closed). */
int sdlisten_take(int *fds, size_t cap, size_t *n, char *err, size_t errlen);

#endif
