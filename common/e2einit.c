/* SPDX-License-Identifier: MIT */
/*
 * e2einit — e2e's starters that offer ChaCha20-Poly1305 only (the agents'
 * behaviour before D37, kept for tests and tools), the suite accessor,
 * the accessors that e2e.c itself does not use and e2e_strerror;
 * see e2e.h.
 */
#include "e2e.h"
#include "e2epriv.h"
#include "suite.h"

int e2e_init_suites(struct e2e *s, enum e2e_role role, const uint8_t priv[E2E_KEY_LEN],
                    const uint8_t *pub, const uint8_t *ss, const uint8_t peer_pub[E2E_KEY_LEN],
                    const uint8_t link_id[E2E_LINK_ID_LEN], uint64_t stream_id, uint64_t resume_cap,
                    unsigned offer)
{
    return e2e_init_ls(s, role, priv, pub, ss, peer_pub, link_id, stream_id, resume_cap, offer,
                       NULL);
}

void e2e_ls_detach(struct e2e *s)
{
    s->ls_store = NULL;
}

void e2e_ls_abandon(struct e2e *s)
{
    if (s->state == ST_HS && s->role == E2E_INITIATOR)
        e2els_failed(&s->ls, s->ls_store);
}

bool e2e_ls_keyed(const struct e2e *s)
{
    return s->ls.mode == E2ELS_KEYED;
}

int e2e_init(struct e2e *s, enum e2e_role role, const uint8_t priv[E2E_KEY_LEN],
             const uint8_t peer_pub[E2E_KEY_LEN], const uint8_t link_id[E2E_LINK_ID_LEN],
             uint64_t stream_id)
{
    return e2e_init_suites(s, role, priv, NULL, NULL, peer_pub, link_id, stream_id, 0,
                           SUITE_OFFER_CHACHA);
}

int e2e_init_resumable(struct e2e *s, enum e2e_role role, const uint8_t priv[E2E_KEY_LEN],
                       const uint8_t peer_pub[E2E_KEY_LEN], const uint8_t link_id[E2E_LINK_ID_LEN],
                       uint64_t stream_id, uint64_t resume_cap)
{
    return e2e_init_suites(s, role, priv, NULL, NULL, peer_pub, link_id, stream_id, resume_cap,
                           SUITE_OFFER_CHACHA);
}

int e2e_record_suite(const struct e2e *s)
{
    return s->suite;
}

bool e2e_handshake_done(const struct e2e *s)
{
    return s->tx_ready;
}

bool e2e_dead(const struct e2e *s)
{
    return s->state == ST_DEAD;
}

bool e2e_resumable(const struct e2e *s)
{
    return s->resumable;
}

bool e2e_suspended(const struct e2e *s)
{
    return s->state == ST_SUSPENDED;
}

bool e2e_peer_final(const struct e2e *s)
{
    return s->peer_final_told && s->state != ST_DEAD;
}

bool e2e_final_sent(const struct e2e *s)
{
    return s->final_sent;
}

uint64_t e2e_bytes_sent(const struct e2e *s)
{
    if (s->resumable)
        return s->rt.sealed_max;
    return s->tx_ready ? rec_tx_offset(&s->tx) : 0;
}

uint64_t e2e_bytes_delivered(const struct e2e *s)
{
    return s->delivered;
}

const char *e2e_strerror(int err)
{
    /* Indexed by err - E2E_E_ARG, in the order of enum e2e_error. */
    static const char *const msg[] = {
        "invalid argument",
        "end-to-end handshake failed (wrong peer key or tampered)",
        "stream ended during the end-to-end handshake",
        "bad record frame length",
        "record rejected",
        "stream truncated (ended before FINAL)",
        "handshake not finished",
        "local side already ended the stream",
        "stream already failed or reset",
        "resumption refused",
        "STREAM_ACK refused (wrong mac or offset)",
        ("link session refused (unknown to the responder, or the leg ended before its answer; "
         "the next stream runs the full handshake)"),
    };

    if (err == 0)
        return "success";
    if (err < E2E_E_ARG || err > E2E_E_SESSION)
        return "unknown e2e error";
    return msg[err - E2E_E_ARG];
}

int e2e_set_rekey_interval(struct e2e *s, uint32_t n)
{
    if (n == 0)
        return E2E_E_ARG;
    if (s->tx_ready && rec_tx_set_rekey_interval(&s->tx, n) != 0)
        return E2E_E_ARG;
    if (s->state == ST_OPEN && rec_rx_set_rekey_interval(&s->rx, n) != 0)
        return E2E_E_ARG;
    return 0;
}
