/* SPDX-License-Identifier: MIT */
#include "enrollgate.h"

#include <sodium.h>
#include <string.h>

#include <inttypes.h>

#include "acct.h"
#include "enroll.h"
#include "log.h"
#include "stats.h"
#include "sync.h"
#include "wallclock.h"

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

enum enrollgate_result enrollgate_enroll(const struct enrollgate_env *env, struct index_link *l,
                                         int side, const uint8_t verifier[STORE_ENROLL_HASH_LEN],
                                         const uint8_t key[STORE_KEY_LEN], bool src_ok,
                                         uint64_t conn_id, const char *peer, bool *enrolled)
{
    uint8_t hash[STORE_ENROLL_HASH_LEN];
    int64_t now = (int64_t)wallclock_ms();
    enum enrollgate_result r = enrollgate_check(l, side, verifier, now, hash);

    *enrolled = false;
    /* "ok" counts enrollments made; a good code refused for its source
     * (counted there) or a full queue (logged) is not one. */
    if (r != ENROLLGATE_OK)
        env->stats->enroll[r]++;
    if (r == ENROLLGATE_OK && !src_ok)
        return r;
    if (r == ENROLLGATE_OK && env->sync != NULL &&
        sync_enroll(env->sync, l->id, side, key, hash, now) == 0) {
        enrollgate_spend(l, side, key, now);
        env->stats->enroll[r]++;
        *enrolled = true;
        log_info("conn %" PRIu64 " %s: link %s side %c enrolled (%u use%s left)", conn_id, peer,
                 l->name, 'a' + side, l->enroll[side].uses_left,
                 l->enroll[side].uses_left == 1 ? "" : "s");
        return r;
    }
    stats_log_refusal(env->stats, (uint64_t)now, "%s: enrollment refused: %s", peer,
                      r == ENROLLGATE_OK ? "registry queue full" : enrollgate_name(r));
    if (l != NULL)
        acct_event(env->acct, "enroll_refused", l->id, peer,
                   r == ENROLLGATE_OK ? "busy" : enrollgate_name(r), 1);
    return r;
}
