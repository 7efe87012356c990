/* SPDX-License-Identifier: MIT */
/*
 * e2eack — the acknowledgments of a resumable stream beyond the in-band ACK
 * record of e2e.c (docs/protocol.md §7.3): the ACK of a stream that went
 * quiet (docs/design.md D32), and STREAM_ACK, the ACK that goes on the
 * control sessions (D43). Part of the e2e module (e2e.h), in a file of its
 * own.
 */
#include "e2e.h"

#include <sodium.h>

#include "suite.h"

#define ACK_LABEL "linkrelay/1 stream ack"

int e2e_ack_idle(struct e2e *s)
{
    if (s == NULL || !e2e_resumable(s) || !e2e_handshake_done(s) || e2e_dead(s) || e2e_suspended(s))
        return 0;
    if (s->oob && s->delivered > s->oob_acked)
        s->oob_idle = true;
    if (s->ack_lazy) /* the ACK of the peer's FINAL found nothing to ride with */
        s->ack_lazy = false;
    else if (s->peer_final_told || s->ack_due || s->delivered <= s->acked)
        return 0;
    s->ack_due = true;
    /* Consuming nothing seals what is due (the ACK) while the output has
     * room; otherwise it goes with the next output taken, as any ACK. */
    return e2e_out_consume(s, 0) == 0 ? 1 : 0;
}

/* BLAKE2b-128(key rk, label ‖ role u8 ‖ offset u64). */
static void ack_mac(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, uint64_t offset,
                    uint8_t mac[E2E_ACK_MAC_LEN])
{
    crypto_generichash_blake2b_state st;
    uint8_t tail[1 + 8];

    tail[0] = role;
    for (int i = 0; i < 8; i++)
        tail[1 + i] = (uint8_t)(offset >> (56 - 8 * i));
    crypto_generichash_blake2b_init(&st, rk, RESUME_KEY_LEN, E2E_ACK_MAC_LEN);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)ACK_LABEL, sizeof(ACK_LABEL) - 1);
    crypto_generichash_blake2b_update(&st, tail, sizeof(tail));
    crypto_generichash_blake2b_final(&st, mac, E2E_ACK_MAC_LEN);
    sodium_memzero(&st, sizeof(st));
}

bool e2e_oob(const struct e2e *s)
{
    return s != NULL && s->oob;
}

int e2e_oob_ack_take(struct e2e *s, uint64_t *offset, uint8_t mac[E2E_ACK_MAC_LEN])
{
    if (s == NULL || !s->oob || e2e_dead(s) || s->delivered <= s->oob_acked)
        return 0;
    if (s->delivered - s->oob_acked < s->peer_ack_every && !s->oob_idle)
        return 0;
    s->oob_idle = false;
    s->oob_acked = s->delivered;
    *offset = s->delivered;
    ack_mac(s->rk, s->role, s->delivered, mac);
    return 1;
}

int e2e_oob_ack_in(struct e2e *s, uint64_t offset, const uint8_t mac[E2E_ACK_MAC_LEN])
{
    uint8_t want[E2E_ACK_MAC_LEN];
    uint64_t before;
    int ok;

    if (s == NULL || mac == NULL || !s->oob)
        return E2E_E_ARG;
    ack_mac(s->rk, (uint8_t)(1 - s->role), offset, want);
    ok = sodium_memcmp(want, mac, sizeof(want)) == 0;
    sodium_memzero(want, sizeof(want));
    /* Data bytes only: never past what was sealed (the FINAL's + 1 is the
     * in-band ACK's alone, §7.3). */
    if (!ok || offset > s->rt.sealed_max)
        return E2E_E_ACK;
    before = replay_held(&s->rt.rp);
    resume_tx_ack(&s->rt, offset);
    return replay_held(&s->rt.rp) < before ? 1 : 0;
}
