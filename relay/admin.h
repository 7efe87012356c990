/* SPDX-License-Identifier: MIT */
/*
 * admin — the relay's admin Unix socket (docs/internals/relay.md "Admin socket"):
 * one request line (`status`, `links`, `sync`, `relay-key`), one line of JSON
 * back, then close. The socket itself (bounds, mode, stale files) is
 * service/adminsrv.c, which the agent's admin socket shares; this module
 * answers the requests.
 *
 * Owned by struct relay; admin_stop closes the server and every client.
 * `links` is read from the link index and `sync` asks sync.c; `status` is
 * written by the owner through struct admin_ops (admin sees no struct relay).
 * Nothing here closes a relay connection.
 */
#ifndef LR_ADMIN_H
#define LR_ADMIN_H

#include <jansson.h>
#include <uv.h>

#include "index.h"
#include "sync.h"

struct admin;

/* What the owner answers (arg: the owner's pointer given to admin_start). */
struct admin_ops {
    /* The one JSON object that `status` answers, as a new reference the
     * admin socket releases; NULL (out of memory) closes without a reply. */
    json_t *(*status)(void *arg);
    /* `relay-key`: re-read the relay key file (linkctl relay rotate-key);
     * the reply object, as for status. */
    json_t *(*relay_key)(void *arg);
};

/* Binds path (a stale socket file there is replaced) with mode, on loop.
 * index and sync stay valid until admin_stop. 0 or -errno. */
int admin_start(uv_loop_t *loop, const char *path, unsigned mode, struct index *index,
                struct sync *sync, const struct admin_ops *ops, void *arg, struct admin **out);
/* What `links` answers: {"links":[...]} from the link index (also the status
 * page's, statusjson.c); NULL when out of memory. */
json_t *admin_links_json(const struct index *index);
/* Closes the server and clients (their memory is freed once every handle is
 * closed). Accepts NULL. */
void admin_stop(struct admin *a);

#endif
