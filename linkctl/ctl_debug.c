/* SPDX-License-Identifier: MIT */
/*
 * ctl_debug — the hidden `linkctl debug decode-token` (for tests).
 */
#include "ctl.h"

#include "adminc.h"
#include "keys.h"
#include "relaykey.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The token's name is UTF-8 without control characters (token_decode checks
 * it); its addresses are ASCII. */
static int token_json(const struct token *t)
{
    char id[LINKID_TEXT_SIZE], rk[KEY_TEXT_SIZE], pk[KEY_TEXT_SIZE], k[KEY_TEXT_SIZE];
    linkid_encode(t->link_id, id);
    key_pub_encode(t->relay_pub, rk);
    key_pub_encode(t->peer_pub, pk);
    json_t *addrs = json_array();
    for (size_t i = 0; addrs != NULL && i < t->n_addrs; i++) {
        if (json_array_append_new(addrs, json_string(t->addrs[i])) != 0) {
            json_decref(addrs);
            addrs = NULL;
        }
    }
    json_t *v =
        json_pack("{s:s, s:s, s:o, s:I, s:s, s:s, s:o}", "link_id", id, "side",
                  ctl_side_name(t->side), "name", lrjson_str(t->name), "relay_key_id",
                  (json_int_t)t->relay_key_id, "relay_key", rk, "peer_key", pk, "addrs", addrs);
    if (v != NULL && (t->flags & TOKEN_FLAG_PRIV)) {
        uint8_t pub[KEY_LEN];
        key_priv_encode(t->priv, k);
        json_object_set_new(v, "private_key", json_string(k));
        sodium_memzero(k, sizeof(k));
        if (token_own_pub(t, pub) == 0) {
            key_pub_encode(pub, k);
            json_object_set_new(v, "own_key", json_string(k));
        }
    } else {
        json_object_set_new(v, "private_key", json_null());
    }
    return ctl_json_print(v);
}

int ctl_debug_main(struct ctl *c, int argc, char **argv)
{
    (void)c;
    if (argc != 3 || strcmp(argv[1], "decode-token") != 0) {
        return ctl_usage_error("", "usage: linkctl debug decode-token TOKEN");
    }
    struct token *t = sodium_malloc(sizeof(*t));
    size_t pos = 0;
    char why[128];
    if (t == NULL) {
        return ctl_fail("out of memory");
    }
    int r = token_decode(argv[2], t, &pos);
    if (r != 0) {
        token_format_error(r, pos, why, sizeof(why));
        sodium_free(t);
        return ctl_fail("token: %s", why);
    }
    r = token_json(t);
    token_wipe(t);
    sodium_free(t);
    return r;
}
