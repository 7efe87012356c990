/* SPDX-License-Identifier: MIT */
/*
 * admin — the relay's admin Unix socket (docs/internals/relay.md "Admin socket"):
 * one request line (`status`, `links`, `sync`, at
 * most ADMIN_MAX_REQUEST bytes with its newline), one line of JSON back, then
 * close. The socket is created with admin_socket_mode (0600 by default) and
 * removed on stop. Clients are bounded in number and time.
 *
 * Owned by struct relay; admin_stop closes the server and every client.
 */
#ifndef LR_ADMIN_H
#define LR_ADMIN_H

#include "relay.h"

#define ADMIN_MAX_REQUEST 1024
#define ADMIN_MAX_CLIENTS 32
#define ADMIN_TIMEOUT_MS  5000

struct admin;

/* Binds path (a stale socket file there is replaced) with mode. 0 or -errno. */
int admin_start(struct relay *r, const char *path, unsigned mode, struct admin **out);
/* Closes the server and clients; frees once every handle is closed. */
void admin_stop(struct admin *a);

#endif
