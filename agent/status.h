/* SPDX-License-Identifier: MIT */
/*
 * status — the agent's admin socket: answers `status` with one JSON object
 * that says, per link, where its session is, since when, its last failure,
 * its peer, streams and bytes, and the addresses the relay advertised
 * (docs/linkagent.md "ADMIN SOCKET"). The socket itself (bounds, mode 0600,
 * stale files) is service/adminsrv.c, shared with the relay.
 *
 * Ownership: the agent (agent.c) starts and stops it. status only reads the
 * agent's list of links (through the pointer to its head, valid until
 * status_stop) and never changes a link: a bad request gets an error line
 * and nothing else happens.
 */
#ifndef LR_AGENT_STATUS_H
#define LR_AGENT_STATUS_H

#include <stdint.h>

#include <uv.h>

struct link;
struct status;

/* What the reply says about the agent itself; read at every request. */
struct status_src {
    struct link *const *links; /* the head of the agent's list */
    const char *config_path;   /* NULL in command-line (token) mode */
    uint64_t started_ms;       /* wall clock, ms since the epoch */
};

/* Serves path (mode 0600) on loop. 0 or a negative errno (logged). */
int status_start(uv_loop_t *loop, const char *path, const struct status_src *src,
                 struct status **out);
/* Closes the socket and its clients and removes the file. Accepts NULL. */
void status_stop(struct status *s);

#endif
