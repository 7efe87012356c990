/* SPDX-License-Identifier: MIT */
/*
 * agentcli — see agentcli.h.
 */
#include "agentcli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "token.h"

void agentcli_safe_name(const char *in, char *out, size_t cap)
{
    size_t n = 0;

    if (cap == 0)
        return;
    for (; *in != '\0' && n + 1 < cap && n < AGENTCFG_NAME_MAX; in++) {
        char c = *in;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "link");
}

static int addr_opt(const char *what, const char *text, unsigned flags, struct addr_spec *out,
                    char *err, size_t errlen)
{
    int rc = addr_parse(text, flags, out);

    if (rc != 0) {
        snprintf(err, errlen, "%s '%s': %s", what, text, addr_strerror(rc));
        return -EINVAL;
    }
    return 0;
}

/* Identity, relay key and relay list from the token; the key text for a
 * token without a private key. */
static int from_token(const struct agentcli_opts *o, struct agentcfg_link *l, char *err,
                      size_t errlen)
{
    char msg[128];
    struct token t;
    size_t pos = 0;
    int rc;

    rc = token_decode(o->token, &t, &pos);
    if (rc != 0) {
        token_format_error(rc, pos, msg, sizeof(msg));
        snprintf(err, errlen, "invalid token: %s", msg);
        return -EINVAL;
    }
    agentcli_safe_name(t.name, l->name, sizeof(l->name));
    agentcfg_link_take_token(l, &t);
    rc = 0;
    for (size_t i = 0; i < t.n_addrs && o->n_relay == 0 && rc == 0; i++) {
        rc = addr_opt("token relay address", t.addrs[i], 0, &l->relays[l->n_relays], err, errlen);
        l->n_relays += rc == 0;
    }
    token_wipe(&t);
    return rc;
}

static int own_key(const struct agentcli_opts *o, struct agentcfg_link *l, char *err, size_t errlen)
{
    char msg[128];
    uint8_t own[KEY_LEN];
    size_t pos = 0;
    int rc;

    if (l->has_priv && o->key_text != NULL) {
        snprintf(err, errlen, "the token already holds the private key; drop --key-file");
        return -EINVAL;
    }
    if (!l->has_priv) {
        if (o->key_text == NULL) {
            snprintf(err, errlen,
                     "this token carries no private key: give --key-file "
                     "(made with `linkagent keygen`)");
            return -EINVAL;
        }
        rc = agentcfg_link_set_key(l, o->key_text, &pos);
        if (rc != 0) {
            key_format_error(rc, pos, msg, sizeof(msg));
            snprintf(err, errlen, "key file: %s", msg);
            return -EINVAL;
        }
    }
    if (key_pub_from_priv(l->priv, own) != 0 || sodium_memcmp(own, l->peer_pub, KEY_LEN) == 0) {
        snprintf(err, errlen, "the key is the peer side's key, not this side's: wrong key file?");
        return -EINVAL;
    }
    return 0;
}

static int roles(const struct agentcli_opts *o, struct agentcfg_link *l, char *err, size_t errlen)
{
    if (o->n_relay > AGENTCFG_MAX_ADDRS || o->n_listen > AGENTCFG_MAX_ADDRS) {
        snprintf(err, errlen, "at most %d --relay and %d --listen", AGENTCFG_MAX_ADDRS,
                 AGENTCFG_MAX_ADDRS);
        return -EINVAL;
    }
    for (size_t i = 0; i < o->n_relay; i++) {
        if (addr_opt("--relay", o->relay[i], 0, &l->relays[i], err, errlen) != 0)
            return -EINVAL;
    }
    if (o->n_relay > 0)
        l->n_relays = o->n_relay;
    for (size_t i = 0; i < o->n_listen; i++) {
        if (addr_opt("--listen", o->listen[i], ADDR_PORT0_OK | ADDR_NUMERIC_ONLY, &l->listen[i],
                     err, errlen) != 0)
            return -EINVAL;
    }
    l->n_listen = o->n_listen;
    if (o->connect != NULL) {
        if (addr_opt("--connect", o->connect, 0, &l->connect, err, errlen) != 0)
            return -EINVAL;
        l->has_connect = 1;
    }
    if (l->n_listen == 0 && !l->has_connect) {
        snprintf(err, errlen, "nothing to do: give --listen and/or --connect");
        return -EINVAL;
    }
    l->policy = AGENTCFG_ON_DEMAND;
    if (o->policy != NULL && strcmp(o->policy, "immediate") == 0) {
        l->policy = AGENTCFG_IMMEDIATE;
    } else if (o->policy != NULL && strcmp(o->policy, "on-demand") != 0) {
        snprintf(err, errlen, "--policy must be on-demand or immediate, not '%s'", o->policy);
        return -EINVAL;
    }
    return 0;
}

int agentcli_config(const struct agentcli_opts *o, struct agentcfg **out, char *err, size_t errlen)
{
    struct agentcfg *cfg;
    int rc;

    if (o->token == NULL) {
        snprintf(err, errlen, "no token");
        return -EINVAL;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    agentcfg_defaults(cfg, AGENTCFG_FROM_CLI);
    cfg->n_links = 1;
    rc = from_token(o, &cfg->links[0], err, errlen);
    if (rc == 0)
        rc = own_key(o, &cfg->links[0], err, errlen);
    if (rc == 0)
        rc = roles(o, &cfg->links[0], err, errlen);
    if (rc != 0) {
        agentcfg_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}
