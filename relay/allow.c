/* SPDX-License-Identifier: MIT */
#include "allow.h"

#include <inttypes.h>
#include <stdio.h>

#include "acct.h"
#include "conn.h"
#include "log.h"
#include "msg.h"
#include "session.h"
#include "stream.h"

/* Resets (cause limit) every stream of l with a leg from a source its side's
 * allowlist no longer allows (D27). Closes connections. */
static void allow_abort_streams(struct index_link *l)
{
    for (struct stream *s = l->streams, *next; s != NULL; s = next) {
        bool bad = false;
        next = stream_next(s);
        for (int side = 0; side < 2; side++) {
            const struct conn *c = stream_leg_conn(s, side);
            if (c != NULL && !index_source_ok(l, side, c->addr_key))
                bad = true;
        }
        if (bad)
            stream_finish(s, STORE_CAUSE_LIMIT, "a leg's source is no longer allowed");
    }
}

void allow_enforce(struct index_link *l, struct acct *acct)
{
    char lists[STORE_DETAIL_MAX + 1];
    struct store_allow none = {0};

    store_allow_text(l->allow != NULL ? l->allow : &none, lists, sizeof(lists));
    log_info("link %s: source allowlist now %s", l->name, lists);
    for (int side = 0; side < 2; side++) {
        struct conn *c = l->session[side];
        char text[ADDR_TEXT_SIZE + STORE_NAME_MAX + 64];
        if (c == NULL || index_source_ok(l, side, c->addr_key))
            continue;
        log_warnx("conn %" PRIu64 " %s: link %s side %c: source no longer allowed", c->id, c->peer,
                  l->name, 'a' + side);
        acct_event(acct, "source_not_allowed", l->id, c->peer,
                   side == 0 ? "side a: live session closed" : "side b: live session closed", 1);
        snprintf(text, sizeof(text), "source %s is no longer allowed for link %s side %c", c->peer,
                 l->name, 'a' + side);
        session_close_with(c, MSG_CLOSE_SOURCE_NOT_ALLOWED, text);
    }
    allow_abort_streams(l);
}
