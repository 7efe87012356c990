/* SPDX-License-Identifier: MIT */
#include "enrollgate.h"

#include <sodium.h>
#include <string.h>

#include "enroll.h"

const char *enrollgate_name(int r)
{
    static const char *const names[ENROLLGATE_COUNT] = {"ok", "unknown", "expired", "spent"};

    return r >= 0 && r < ENROLLGATE_COUNT ? names[r] : "unknown";
}

enum enrollgate_result enrollgate_check(const struct index_link *l, int side,
                                        const uint8_t verifier[STORE_ENROLL_HASH_LEN],
                                        int64_t now_ms, uint8_t hash[STORE_ENROLL_HASH_LEN])
{
    static const uint8_t none[STORE_ENROLL_HASH_LEN];
    const struct store_enroll *e = l != NULL ? &l->enroll[side] : NULL;
    /* Compared whatever the row says, so an unknown link or side costs the
     * same as a wrong code. */
    bool match;

    enroll_hash(verifier, hash);
    match = sodium_memcmp(hash, e != NULL && e->has ? e->hash : none, STORE_ENROLL_HASH_LEN) == 0;
    if (e == NULL || !e->has || !match)
        return ENROLLGATE_UNKNOWN;
    if (e->uses_left == 0)
        return ENROLLGATE_SPENT;
    if (now_ms >= e->expires_ms)
        return ENROLLGATE_EXPIRED;
    return ENROLLGATE_OK;
}

void enrollgate_spend(struct index_link *l, int side, const uint8_t key[STORE_KEY_LEN],
                      int64_t now_ms)
{
    struct store_enroll *e = &l->enroll[side];

    if (e->uses_left > 0)
        e->uses_left--;
    e->last_ms = now_ms;
    memcpy(l->key[side], key, STORE_KEY_LEN);
    l->has_next[side] = false;
    l->next_until_ms[side] = 0;
}

bool enrollgate_is_anchor(const struct index_link *l, int side, const uint8_t pub[STORE_KEY_LEN])
{
    return l->enroll[side].has && sodium_memcmp(l->enroll[side].anchor, pub, STORE_KEY_LEN) == 0;
}
