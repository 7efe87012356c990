/* SPDX-License-Identifier: MIT */
/*
 * admin — the relay's admin Unix socket (docs/internals/relay.md "Admin socket"):
 * one request line (`status`, `links`, `sync`, `relay-key`, `drain [MS]`,
 * `takeover`), one line of JSON back, then close (`takeover` waits for one
 * more line, D25). The socket itself (bounds, mode, stale files) is
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    /* `drain [MS]` (D25): begin a drain of timeout_ms (UINT32_MAX: the
     * configured drain_timeout). 0, or -EALREADY (draining or stopping). */
    int (*drain)(void *arg, uint32_t timeout_ms);
    /* `takeover` (D25): the listening sockets to hand to a successor (at
     * most cap, left open; the owner frees what the successor binds anew,
     * the metrics endpoint). 0, -EBUSY (a takeover is under way) or
     * -EALREADY (draining or stopping: they are closed). Once the successor
     * answers `ready` on the same connection, the admin socket lets go of
     * its path (the successor binds it) and calls drain(UINT32_MAX); if it
     * closes, or says nothing within TAKEOVER_CONFIRM_MS, takeover_failed. */
    int (*listeners)(void *arg, int *fds, size_t cap, size_t *n);
    /* The successor of a takeover failed: the owner serves on as before
     * (takes back what listeners gave up). */
    void (*takeover_failed)(void *arg);
};

/* Binds path (a stale socket file there is replaced; with replace, also
 * one a running relay answers on: the predecessor of a takeover) with mode,
 * on loop. index and sync stay valid until admin_stop. 0 or -errno. */
int admin_start(uv_loop_t *loop, const char *path, unsigned mode, bool replace, struct index *index,
                struct sync *sync, const struct admin_ops *ops, void *arg, struct admin **out);
/* What `links` answers: {"links":[...]} from the link index (also the status
 * page's, statusjson.c); NULL when out of memory. */
json_t *admin_links_json(const struct index *index);
/* Closes the server and clients (their memory is freed once every handle is
 * closed). Accepts NULL. */
void admin_stop(struct admin *a);

#endif
