/* SPDX-License-Identifier: MIT */
/*
 * endorse — see endorse.h.
 */
#include "endorse.h"

#include <sodium.h>
#include <string.h>

static const char DOMAIN_KEY[] = "linkrelay/1 endorse key";
static const char DOMAIN_MAC[] = "linkrelay/1 endorse";

/* The mac from the shared secret dh; the secrets are wiped. */
static void mac_of(uint8_t dh[crypto_scalarmult_BYTES], const uint8_t link_id[16], int side,
                   const uint8_t old_pub[32], const uint8_t new_pub[32],
                   uint8_t mac[ENDORSE_MAC_LEN])
{
    uint8_t k[32], s = (uint8_t)side;
    crypto_generichash_state h;

    crypto_generichash(k, sizeof(k), (const uint8_t *)DOMAIN_KEY, sizeof(DOMAIN_KEY) - 1, dh,
                       crypto_scalarmult_BYTES);
    crypto_generichash_init(&h, k, sizeof(k), ENDORSE_MAC_LEN);
    crypto_generichash_update(&h, (const uint8_t *)DOMAIN_MAC, sizeof(DOMAIN_MAC) - 1);
    crypto_generichash_update(&h, link_id, 16);
    crypto_generichash_update(&h, &s, 1);
    crypto_generichash_update(&h, old_pub, 32);
    crypto_generichash_update(&h, new_pub, 32);
    crypto_generichash_final(&h, mac, ENDORSE_MAC_LEN);
    sodium_memzero(&h, sizeof(h));
    sodium_memzero(k, sizeof(k));
    sodium_memzero(dh, crypto_scalarmult_BYTES);
}

int endorse_make(const uint8_t old_priv[32], const uint8_t peer_pub[32], const uint8_t link_id[16],
                 int side, const uint8_t new_pub[32], uint8_t mac[ENDORSE_MAC_LEN])
{
    uint8_t old_pub[32], dh[crypto_scalarmult_BYTES];

    if ((side != 0 && side != 1) || crypto_scalarmult_base(old_pub, old_priv) != 0 ||
        sodium_memcmp(old_pub, new_pub, 32) == 0 || crypto_scalarmult(dh, old_priv, peer_pub) != 0)
        return -1;
    mac_of(dh, link_id, side, old_pub, new_pub, mac);
    return 0;
}

int endorse_check(const uint8_t own_priv[32], const uint8_t link_id[16], int side,
                  const uint8_t old_pub[32], const uint8_t new_pub[32],
                  const uint8_t mac[ENDORSE_MAC_LEN])
{
    uint8_t dh[crypto_scalarmult_BYTES], want[ENDORSE_MAC_LEN];
    int r;

    if ((side != 0 && side != 1) || sodium_memcmp(old_pub, new_pub, 32) == 0 ||
        crypto_scalarmult(dh, own_priv, old_pub) != 0)
        return -1;
    mac_of(dh, link_id, side, old_pub, new_pub, want);
    r = sodium_memcmp(want, mac, ENDORSE_MAC_LEN) == 0 ? 0 : -1;
    sodium_memzero(want, sizeof(want));
    return r;
}
