// SPDX-License-Identifier: MIT
#include "leglost.h"

#include <inttypes.h>
#include <stdio.h>

#include <sodium.h>

#include "log.h"
#include "stats.h"
#include "relay/stream.h"

/* Only the stream of this link whose ticket of this side is the one named
 * (that side could close its leg anyway; ids restart with the relay process,
 * so an old id may name a new stream). */
static struct stream *leglost_find(struct index_link *l, int side, const struct msg_leg_lost *m)
{
    uint8_t tk[TICKET_LEN];
    struct stream *s;

    for (s = l->streams; s != NULL; s = stream_next(s)) {
        if (stream_wire_id(s) != m->stream_id)
            continue;
        stream_ticket_copy(s, side, tk);
        if (sodium_memcmp(tk, m->ticket, TICKET_LEN) == 0)
            break;
    }
    sodium_memzero(tk, sizeof(tk));
    return s;
}

bool leglost_end(const struct session_ctx *sx, struct index_link *l, int side,
                 const struct msg_leg_lost *m)
{
    struct stream *s = leglost_find(l, side, m);
    char why[96];

    sx->stats->leg_lost[s != NULL]++;
    if (s == NULL) {
        log_debug("link %s: LEG_LOST from side %c for no stream of this link (%" PRIu64 ")",
                  l->name, 'a' + side, m->stream_id);
        return false;
    }
    snprintf(why, sizeof(why), "side %c reported its leg lost (LEG_LOST)", 'a' + side);
    stream_finish(s, STORE_CAUSE_RESET, why);
    return true;
}
