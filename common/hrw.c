/* SPDX-License-Identifier: MIT */
#include "hrw.h"

#include <string.h>

#include <sodium.h>

/* A fixed key: domain separation from every other BLAKE2b use. */
static const uint8_t hrw_key[] = "linkrelay/1 pool home";

uint64_t hrw_weight(const char *member, const uint8_t *id, size_t idlen)
{
    crypto_generichash_blake2b_state st;
    size_t n = strlen(member);
    uint8_t len = (uint8_t)(n > 255 ? 255 : n), out[8];
    uint64_t w = 0;

    crypto_generichash_blake2b_init(&st, hrw_key, sizeof(hrw_key) - 1, sizeof(out));
    crypto_generichash_blake2b_update(&st, &len, 1);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)member, len);
    crypto_generichash_blake2b_update(&st, id, idlen);
    crypto_generichash_blake2b_final(&st, out, sizeof(out));
    for (size_t i = 0; i < sizeof(out); i++)
        w = (w << 8) | out[i];
    return w;
}

int hrw_pick(const char *const *members, size_t n, const uint8_t *id, size_t idlen)
{
    int best = -1;
    uint64_t best_w = 0;

    for (size_t i = 0; i < n; i++) {
        uint64_t w;
        if (members[i] == NULL)
            continue;
        w = hrw_weight(members[i], id, idlen);
        if (best < 0 || w > best_w || (w == best_w && strcmp(members[i], members[best]) < 0)) {
            best = (int)i;
            best_w = w;
        }
    }
    return best;
}
