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
    stream_abort_sources(l);
}
