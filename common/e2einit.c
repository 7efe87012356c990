/* SPDX-License-Identifier: MIT */
/*
 * e2einit — e2e's starters that offer ChaCha20-Poly1305 only (the agents'
 * behaviour before D37, kept for tests and tools) and the suite accessor;
 * see e2e.h.
 */
#include "e2e.h"
#include "suite.h"

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
