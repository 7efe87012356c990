/* SPDX-License-Identifier: MIT */
/*
 * e2eack — the ACK of a resumable stream that went quiet (docs/protocol.md
 * §7.3, docs/design.md D32). Part of the e2e module (e2e.h), in a file of its
 * own: e2e.c seals ACKs at the cadence the peer's HELLO asked for, this adds
 * the one its timer asks for.
 */
#include "e2e.h"

int e2e_ack_idle(struct e2e *s)
{
    if (s == NULL || !e2e_resumable(s) || !e2e_handshake_done(s) || e2e_dead(s) ||
        e2e_suspended(s) || s->peer_final_told || s->ack_due || s->delivered <= s->acked)
        return 0;
    s->ack_due = true;
    /* Consuming nothing seals what is due (the ACK) while the output has
     * room; otherwise it goes with the next output taken, as any ACK. */
    return e2e_out_consume(s, 0) == 0 ? 1 : 0;
}
