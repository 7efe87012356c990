/* SPDX-License-Identifier: MIT */
/*
 * e2ekeep — a stream whose leg is kept for the next stream of the link
 * (e2e.h "Kept legs", docs/protocol.md §7.5, docs/design.md D48).
 */
#include "e2e.h"

#include "e2epriv.h"

bool e2e_peer_done(const struct e2e *s)
{
    if (!s->keep || s->state != ST_OPEN)
        return false;
    if (!s->resumable)
        return s->peer_final;
    return s->role == E2E_INITIATOR ? s->peer_finished : s->finished_sent;
}

bool e2e_keep(const struct e2e *s)
{
    return s->keep;
}

bool e2e_share(const struct e2e *s)
{
    return s->share;
}

const uint8_t *e2e_in_rest(const struct e2e *s, size_t *len)
{
    return bq_peek(&s->in, len);
}
