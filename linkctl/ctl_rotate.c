/* SPDX-License-Identifier: MIT */
/*
 * ctl_rotate — `linkctl link rotate`: a new key for one side of a link, at
 * once or with an overlap during which the relay accepts the old key beside
 * the new one (docs/linkctl.md, docs/design.md D21).
 */
#include "ctl.h"

#include "keys.h"
#include "relaykey.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char rotate_help[] =
    "usage: linkctl link rotate NAME|ID --side a|b [--key PUB] [--overlap DURATION] [--json]\n"
    "\n"
    "Gives one side a new key. Without --key a new key pair is generated and a new\n"
    "token for that side is printed (a secret); with --key the agent's own public\n"
    "key (linkagent keygen) is stored and no token is printed.\n"
    "\n"
    "Without --overlap, or with --overlap 0, the new key replaces the current one\n"
    "at once: the old key stops working, the relay closes that side's session\n"
    "(CLOSE key_rotated) and resets the link's streams.\n"
    "\n"
    "With --overlap DURATION (1s..720h: digits with ms, s, m or h) the new key is\n"
    "accepted beside the current one until the side's agent connects with it (give\n"
    "it the new token or key and reload it: SIGHUP) or the overlap ends, whichever\n"
    "comes first; then the old key stops working. Streams carry on, and agents\n"
    "that take PEER_KEY learn the new key of their peer from the relay.\n"
    "The new token's relay addresses are chosen as for `link add`; when there are\n"
    "none it fails before the key changes.\n";

struct rotate_state {
    uint8_t priv[KEY_LEN];
    struct relaykey rk;
    char tok[TOKEN_TEXT_SIZE];
};

/* until_ms 0: replaced at once; else the end of the overlap. */
static int rotate_print(struct ctl *c, const struct store_link *l, int side, const uint8_t *pub,
                        int64_t until_ms, const char *tok, const struct ctl_addrs *addrs)
{
    char id[LINKID_TEXT_SIZE], k[KEY_TEXT_SIZE], when[40];
    linkid_encode(l->id, id);
    key_pub_encode(pub, k);
    if (c->json) {
        json_t *v = json_pack("{s:s, s:o, s:s, s:s, s:I, s:s?, s:I}", "id", id, "name",
                              lrjson_str(l->name), "side", ctl_side_name(side), "key", k,
                              "generation", (json_int_t)(l->key_gen[side] + 1u), "token", tok,
                              "overlap_until_ms", (json_int_t)until_ms);
        if (v != NULL && tok != NULL && ctl_addrs_json(v, addrs) != 0) {
            json_decref(v);
            v = NULL;
        }
        return ctl_json_print(v);
    }
    if (until_ms == 0) {
        printf("link %s (%s): side %s key replaced (generation %u)\n", l->name, id,
               ctl_side_name(side), l->key_gen[side] + 1);
    } else {
        ctl_fmt_time(until_ms, when, sizeof(when));
        printf("link %s (%s): side %s has a next key (generation %u)\n", l->name, id,
               ctl_side_name(side), l->key_gen[side] + 1);
        printf("the current key works until the agent connects with the new one, at most "
               "until %s\n",
               when);
    }
    printf("new public key of side %s: %s\n", ctl_side_name(side), k);
    printf("the agent of side %s needs this key as its peer key (linkagent learns it from the "
           "relay)\n",
           ctl_side_name(1 - side));
    if (tok != NULL) {
        ctl_addrs_print("token addrs:", addrs);
        printf("\nnew token for side %s (SECRET, contains the private key):\n%s\n",
               ctl_side_name(side), tok);
    }
    return CTL_EXIT_OK;
}

/* The new key (given or made) and its token; then the registry change. */
static int rotate_apply(struct ctl *c, struct store *st, struct store_link *l, int side,
                        const char *keytext, uint64_t overlap_ms, const struct ctl_addrs *addrs)
{
    uint8_t pub[KEY_LEN];
    char detail[128], what[48];
    int64_t until = 0;
    int r = CTL_EXIT_FAIL;
    struct rotate_state *s = sodium_malloc(sizeof(*s));
    if (s == NULL) {
        return ctl_fail("out of memory");
    }
    memset(s, 0, sizeof(*s));
    if (keytext != NULL) {
        if (ctl_decode_pub("--key", keytext, pub) != 0) {
            goto out;
        }
        if (sodium_memcmp(pub, l->key[1 - side], KEY_LEN) == 0) {
            ctl_fail("--key: this is side %s's key; each side needs its own",
                     ctl_side_name(1 - side));
            goto out;
        }
        if (overlap_ms > 0 && sodium_memcmp(pub, l->key[side], KEY_LEN) == 0) {
            ctl_fail("--key: this is side %s's current key already", ctl_side_name(side));
            goto out;
        }
    } else {
        key_keypair_new(s->priv, pub);
        struct store_link nl = *l;
        memcpy(nl.key[side], pub, KEY_LEN);
        if (ctl_relay_key(c, 1, &s->rk) < 0 ||
            ctl_make_token(&nl, side, s->priv, &s->rk, addrs, s->tok, sizeof(s->tok)) != 0) {
            goto out;
        }
    }
    if (overlap_ms == 0) {
        snprintf(what, sizeof(what), "side %s key rotated", ctl_side_name(side));
        ctl_event_detail(what, detail, sizeof(detail));
        r = store_link_rotate(st, l->id, side, pub, detail);
    } else {
        until = ctl_now_ms() + (int64_t)overlap_ms;
        snprintf(what, sizeof(what), "side %s next key, overlap %llus", ctl_side_name(side),
                 (unsigned long long)(overlap_ms / 1000));
        ctl_event_detail(what, detail, sizeof(detail));
        r = store_link_set_next(st, l->id, side, pub, until, detail);
    }
    if (r < 0) {
        r = ctl_fail("%s", store_errmsg(st));
        goto out;
    }
    r = rotate_print(c, l, side, pub, until, keytext == NULL ? s->tok : NULL, addrs);
out:
    sodium_free(s);
    return r;
}

int ctl_link_rotate(struct ctl *c, int argc, char **argv)
{
    static const char *const names[] = {"--side", "--key", "--overlap", NULL};
    const char *vals[3] = {NULL, NULL, NULL}, *pos[1] = {NULL};
    struct store *st = NULL;
    struct store_link l;
    struct ctl_addrs addrs = {0};
    uint64_t overlap_ms = 0;
    int side;
    const struct ctl_argspec spec = {"link rotate",    rotate_help, names, vals, pos, 1,
                                     "link name or id"};
    int r = ctl_args(c, &spec, argc, argv);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (vals[0] == NULL) {
        return ctl_usage_error("link rotate", "missing --side a|b");
    }
    if (ctl_side_parse(vals[0], &side) != 0) {
        return ctl_usage_error("link rotate", "--side must be a or b, not '%s'", vals[0]);
    }
    if (vals[2] != NULL && (r = ctl_parse_overlap("link rotate", vals[2], &overlap_ms)) != 0) {
        return r;
    }
    if (ctl_open_link(c, pos[0], 0, &st, &l) < 0) {
        return CTL_EXIT_FAIL;
    }
    /* A new token needs addresses (in a pool, in the link's order): settle
     * that before the key changes. */
    if (vals[1] == NULL && ctl_token_addrs(c, l.id, &addrs) != CTL_EXIT_OK) {
        store_close(st);
        return CTL_EXIT_FAIL;
    }
    r = rotate_apply(c, st, &l, side, vals[1], overlap_ms, &addrs);
    store_close(st);
    if (r == CTL_EXIT_OK) {
        fflush(stdout);
        ctl_admin_sync(c);
    }
    return r;
}
