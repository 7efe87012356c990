/* SPDX-License-Identifier: MIT */
/*
 * e2eresume — see e2eresume.h, docs/protocol.md §7.3 and docs/internals/e2e.md.
 */
#include "e2eresume.h"

#include <string.h>

#include <sodium.h>

#include "e2epriv.h"

int e2e_resume_next(const struct e2e *s, uint8_t id[RESUME_ID_LEN], uint32_t *epoch)
{
    if (!s->resumable || s->state == ST_DEAD || s->epoch == UINT32_MAX)
        return E2E_E_RESUME;
    resume_id(s->rk, s->epoch + 1, id);
    *epoch = s->epoch + 1;
    return 0;
}

int e2e_resume_match(const struct e2e *s, const uint8_t id[RESUME_ID_LEN], uint32_t *epoch)
{
    if (!s->resumable || s->state == ST_DEAD)
        return E2E_E_RESUME;
    return resume_match(s->rk, s->epoch, id, epoch) == 0 ? 0 : E2E_E_RESUME;
}

uint64_t e2e_resume_held(const struct e2e *s)
{
    return replay_held(&s->rt.rp);
}

int e2e_fin_save(const struct e2e *s, struct e2e_fin *f)
{
    if (!s->resumable || s->role != E2E_RESPONDER || s->state == ST_DEAD || s->state == ST_HS ||
        !s->rt.final_ever || !s->rt.peer_got_final || !s->peer_final_told || s->ack_due ||
        s->acked != s->delivered + 1 || replay_held(&s->rt.rp) != 0 ||
        s->rt.sealed_max != s->rt.rp.end)
        return E2E_E_RESUME;
    memcpy(f->rk, s->rk, sizeof(f->rk));
    f->epoch = s->epoch;
    f->sent = s->rt.sealed_max;
    f->received = s->delivered;
    f->cap = s->resume_cap;
    f->suite = s->suite;
    return 0;
}

int e2e_fin_restore(struct e2e *s, const struct e2e_fin *f)
{
    if (s == NULL || f == NULL || f->cap < E2E_RESUME_MIN || f->received == UINT64_MAX ||
        f->sent == UINT64_MAX)
        return E2E_E_ARG;
    e2e_clear(s);
    bq_init(&s->in, s->in_mem, sizeof(s->in_mem));
    bq_init(&s->plain, s->plain_mem, sizeof(s->plain_mem));
    bq_init(&s->out, s->out_mem, sizeof(s->out_mem));
    rec_tx_done(&s->tx); /* as after a lost leg: the next epoch keys them */
    rec_rx_done(&s->rx);
    s->role = E2E_RESPONDER;
    s->resume_cap = f->cap;
    s->peer_offer = s->resumable = s->tx_ready = true;
    memcpy(s->rk, f->rk, sizeof(s->rk));
    s->epoch = f->epoch;
    s->suite = f->suite; /* every epoch keys the suite the handshake chose */
    /* Our direction: everything sent and acknowledged, FINAL included. */
    resume_tx_init(&s->rt, f->cap);
    replay_init(&s->rt.rp, f->sent);
    s->rt.cur = s->rt.sealed_max = f->sent;
    s->rt.final_ever = s->rt.peer_got_final = s->final_sent = true;
    /* The peer's: everything delivered, its FINAL acknowledged (total + 1). */
    s->delivered = s->rx_recv = f->received;
    s->acked = f->received + 1;
    s->rx_acked = f->sent + 1;
    s->peer_final = s->peer_final_told = true;
    s->state = ST_SUSPENDED;
    return 0;
}

int e2e_fin_match(const struct e2e_fin *f, const uint8_t id[RESUME_ID_LEN], uint32_t *epoch)
{
    return resume_match(f->rk, f->epoch, id, epoch) == 0 ? 0 : E2E_E_RESUME;
}

void e2e_fin_wipe(struct e2e_fin *f)
{
    sodium_memzero(f, sizeof(*f));
}
