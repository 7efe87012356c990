/* SPDX-License-Identifier: MIT */
/*
 * endorse — a link side's old key vouching for its new key, end to end
 * (docs/design.md D21, docs/protocol.md §5.1).
 *
 * When side s of a link switches from key old to key new, its agent (holding
 * old's private key) computes
 *
 *   K   = X25519(old_priv, peer_pub)           (= X25519(peer_priv, old_pub))
 *   k   = BLAKE2b-256(key = K, "linkrelay/1 endorse key")
 *   mac = BLAKE2b-256(key = k, "linkrelay/1 endorse" ‖ link_id[16] ‖ s u8 ‖
 *                     old_pub[32] ‖ new_pub[32])
 *
 * The peer, holding peer_priv, recomputes it; the relay, which has neither
 * private key, cannot. Pure functions (no I/O); sodium_init() must have run.
 */
#ifndef LR_ENDORSE_H
#define LR_ENDORSE_H

#include <stdint.h>

#define ENDORSE_MAC_LEN 32

/* mac for side's switch from old to new_pub, told to the peer whose public
 * key is peer_pub. old_priv is the old private key; its public key is
 * derived. Returns 0, or -1 if a key is unusable (small order, new_pub equal
 * to the old public key). */
int endorse_make(const uint8_t old_priv[32], const uint8_t peer_pub[32], const uint8_t link_id[16],
                 int side, const uint8_t new_pub[32], uint8_t mac[ENDORSE_MAC_LEN]);

/* 0 if mac is old_pub's endorsement of new_pub for side of link_id, checked
 * by the peer with its private key own_priv (constant-time compare), else
 * -1. */
int endorse_check(const uint8_t own_priv[32], const uint8_t link_id[16], int side,
                  const uint8_t old_pub[32], const uint8_t new_pub[32],
                  const uint8_t mac[ENDORSE_MAC_LEN]) __attribute__((warn_unused_result));

#endif
