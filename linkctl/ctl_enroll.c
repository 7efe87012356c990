/* SPDX-License-Identifier: MIT */
#include "ctl_enroll.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfgparse.h"
#include "ctl.h"

int ctl_enroll_parse(const char *cmd, const char *side, const char *expires, const char *uses,
                     struct ctl_enroll *e)
{
    memset(e, 0, sizeof(*e));
    e->side = -1;
    e->expires_ms = CTL_ENROLL_EXPIRES_DEFAULT_MS;
    e->uses = 1;
    if (side == NULL) {
        if (expires != NULL || uses != NULL)
            return ctl_usage_error(cmd, "--expires and --uses go with --enroll a|b");
        return 0;
    }
    if (ctl_side_parse(side, &e->side) != 0)
        return ctl_usage_error(cmd, "--enroll: '%s' is not a side (a or b)", side);
    if (expires != NULL) {
        int r = cfgparse_duration(expires, 1000, CTL_ENROLL_EXPIRES_MAX_MS, &e->expires_ms);
        if (r == -EINVAL)
            return ctl_usage_error(
                cmd, "--expires: '%s' is not a duration (digits with ms, s, m or h)", expires);
        if (r != 0)
            return ctl_usage_error(cmd, "--expires: '%s' is out of range: 1s..720h", expires);
    }
    if (uses != NULL) {
        char *end = NULL;
        unsigned long n;
        errno = 0;
        n = strtoul(uses, &end, 10);
        if (uses[0] < '0' || uses[0] > '9' || errno != 0 || end == uses || *end != '\0' || n < 1 ||
            n > STORE_ENROLL_USES_MAX)
            return ctl_usage_error(cmd, "--uses: '%s' is not a number in 1..%d", uses,
                                   STORE_ENROLL_USES_MAX);
        e->uses = (uint32_t)n;
    }
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_enroll_prepare(struct ctl_enroll *e, const uint8_t id[STORE_LINK_ID_LEN],
                       uint8_t anchor[STORE_KEY_LEN])
{
    uint8_t priv[KEY_LEN], verifier[ENROLL_HASH_LEN];
    int r;

    enroll_secret_new(e->secret);
    r = enroll_anchor(e->secret, id, e->side, priv, anchor);
    sodium_memzero(priv, sizeof(priv));
    if (r != 0)
        return ctl_fail("the enrollment code gave an unusable key; run the command again"), -1;
    enroll_verifier(e->secret, id, e->side, verifier);
    enroll_hash(verifier, e->hash);
    sodium_memzero(verifier, sizeof(verifier));
    enroll_code_encode(e->secret, e->code);
    e->until_ms = wall_ms() + (int64_t)e->expires_ms;
    return 0;
}

int ctl_enroll_store(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                     const struct ctl_enroll *e, const uint8_t anchor[STORE_KEY_LEN])
{
    if (store_enroll_set(st, id, e->side, e->hash, anchor, e->until_ms, e->uses) < 0) {
        ctl_fail("%s", store_errmsg(st));
        return -1;
    }
    return 0;
}

void ctl_enroll_print(const struct ctl_enroll *e, const char *token)
{
    char when[40];

    ctl_fmt_time(e->until_ms, when, sizeof(when));
    printf("\nenrollment code for side %s (SECRET until spent: %u use%s, expires %s):\n%s\n",
           ctl_side_name(e->side), e->uses, e->uses == 1 ? "" : "s", when, e->code);
    printf("token for side %s (no private key, not secret; put it in the agent's config with "
           "key_file, then run `linkagent enroll`):\n%s\n",
           ctl_side_name(e->side), token);
}

json_t *ctl_enroll_json(const struct ctl_enroll *e)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "side", ctl_side_name(e->side), "code", e->code,
                     "expires_ms", (json_int_t)e->until_ms, "uses", (json_int_t)e->uses);
}

const char *ctl_enroll_state(const struct store_enroll *e, int64_t now_ms)
{
    if (e->uses_left == 0)
        return "spent";
    if (now_ms >= e->expires_ms)
        return "expired";
    return "pending";
}

void ctl_enroll_show(const struct store_link *l)
{
    char when[40];

    for (int side = 0; side < 2; side++) {
        const struct store_enroll *e = &l->enroll[side];
        if (!e->has)
            continue;
        ctl_fmt_time(e->expires_ms, when, sizeof(when));
        printf("enroll %s:      %s, %u of %u use%s left, expires %s\n", ctl_side_name(side),
               ctl_enroll_state(e, wall_ms()), e->uses_left, e->uses, e->uses == 1 ? "" : "s",
               when);
    }
}

json_t *ctl_enroll_show_json(const struct store_enroll *e)
{
    if (!e->has)
        return json_null();
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "state", ctl_enroll_state(e, wall_ms()),
                     "uses", (json_int_t)e->uses, "uses_left", (json_int_t)e->uses_left,
                     "created_ms", (json_int_t)e->created_ms, "expires_ms",
                     (json_int_t)e->expires_ms, "last_ms", (json_int_t)e->last_ms);
}

void ctl_enroll_wipe(struct ctl_enroll *e)
{
    sodium_memzero(e, sizeof(*e));
}
