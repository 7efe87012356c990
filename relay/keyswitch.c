/* SPDX-License-Identifier: MIT */
#include "keyswitch.h"

#include <inttypes.h>

#include <sodium.h>

#include "log.h"

void keyswitch_check(struct sync *sync, const struct conn *c, const struct index_link *l, int side,
                     const uint8_t pub[32])
{
    if (!l->has_next[side] || sodium_memcmp(l->next_key[side], pub, 32) != 0)
        return;
    log_info("conn %" PRIu64 " %s: link %s side %c authenticated with its next key", c->id, c->peer,
             l->name, 'a' + side);
    if (sync == NULL || sync_promote(sync, l->id, side, pub) != 0)
        log_warnx("link %s: side %c: the next key is not promoted now (queue full); the overlap "
                  "ends at its deadline or the agent's next connection",
                  l->name, 'a' + side);
}
