/* SPDX-License-Identifier: MIT */
/*
 * ctl_relay — `linkctl relay info`: the relay's key, addresses and the
 * addresses new tokens would carry; `linkctl relay rotate-key`: a next relay
 * key with an overlap (design.md D21); `linkctl relay drain`: the running
 * relay drains (D25). See docs/linkctl.md.
 */
#include "ctl.h"

#include "adminc.h"
#include "cfgparse.h"
#include "keys.h"
#include "relaykey.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char relay_help[] =
    "usage: linkctl relay info [--json]\n"
    "       linkctl relay rotate-key [--overlap DURATION] [--json]\n"
    "\n"
    "The relay's public key and key id (from the key file, created if missing),\n"
    "listen and advertised addresses (from the config), linkctl's version, the\n"
    "running relay's live values when it runs, and the relay addresses new tokens\n"
    "would carry with where they come from (--json: token_addrs,\n"
    "token_addrs_source: relay_addr, live_advertise, live_listen,\n"
    "config_advertise, config_listen, or null when there are none).\n";

static const char rotate_key_help[] =
    "usage: linkctl relay rotate-key [--overlap DURATION] [--json]\n"
    "\n"
    "Adds a next relay key (a new key id) to the key file, with an overlap\n"
    "(default 24h; 1s..720h; 0 replaces the key at once, and every agent then\n"
    "needs a new token). The running relay is told at once (admin socket): it\n"
    "accepts both keys and tells every connected linkagent the new one, which the\n"
    "agent keeps and uses for its next connections; when the overlap ends the old\n"
    "key is retired. New tokens carry the new key. One rotation at a time: while\n"
    "a next key waits, rotate-key fails.\n";

#define ROTATE_KEY_DEFAULT_OVERLAP "24h"

static json_t *cfg_addrs_json(const struct addr_spec *a, size_t n)
{
    char t[ADDR_TEXT_SIZE];
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (addr_format(&a[i], t, sizeof(t)) == 0 &&
            json_array_append_new(arr, json_string(t)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static void cfg_addrs_human(const char *label, const struct addr_spec *a, size_t n)
{
    char t[ADDR_TEXT_SIZE];
    printf("%-15s", label);
    for (size_t i = 0; i < n; i++) {
        if (addr_format(&a[i], t, sizeof(t)) == 0) {
            printf("%s%s", i ? ", " : "", t);
        }
    }
    printf("%s\n", n == 0 ? "-" : "");
}

/* The paths are the user's (flags, environment, config): lrjson_str. */
static int info_json(struct ctl *c, const struct relaykey *rk, json_t *live,
                     const struct ctl_addrs *ta)
{
    char k[KEY_TEXT_SIZE], nk[KEY_TEXT_SIZE];
    key_pub_encode(rk->current.pub, k);
    json_t *v = json_pack("{s:s, s:I}", "relay_key", k, "relay_key_id", (json_int_t)rk->current.id);
    if (v != NULL && rk->has_next) {
        key_pub_encode(rk->next.pub, nk);
        json_object_set_new(v, "next_key", json_string(nk));
        json_object_set_new(v, "next_key_id", json_integer(rk->next.id));
        json_object_set_new(v, "next_until_ms", json_integer(rk->next_until_ms));
    } else {
        json_object_set_new(v, "next_key", json_null());
    }
    json_t *rest = json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:O?}", "listen",
                             cfg_addrs_json(c->cfg.listen, c->cfg.n_listen), "advertise",
                             cfg_addrs_json(c->cfg.advertise, c->cfg.n_advertise), "version",
                             LINKRELAY_VERSION, "state_dir", lrjson_str(c->state_dir), "database",
                             lrjson_str(c->database), "key_file", lrjson_str(c->key_file),
                             "admin_socket", lrjson_str(c->admin_socket), "config",
                             c->have_config ? lrjson_str(c->config) : json_null(), "relay_running",
                             live != NULL, "live", live);
    if (v == NULL || rest == NULL || json_object_update(v, rest) != 0 ||
        ctl_addrs_json(v, ta) != 0) {
        json_decref(v);
        v = NULL;
    }
    json_decref(rest);
    return ctl_json_print(v);
}

static void info_human(struct ctl *c, const struct relaykey *rk, const json_t *live,
                       const struct ctl_addrs *ta)
{
    char k[KEY_TEXT_SIZE];
    key_pub_encode(rk->current.pub, k);
    printf("relay key:     %s (id %u)\n", k, rk->current.id);
    if (rk->has_next) {
        char when[40];
        key_pub_encode(rk->next.pub, k);
        ctl_fmt_time(rk->next_until_ms, when, sizeof(when));
        printf("next key:      %s (id %u), the current key retires at %s\n", k, rk->next.id, when);
    }
    cfg_addrs_human("listen:", c->cfg.listen, c->cfg.n_listen);
    cfg_addrs_human("advertise:", c->cfg.advertise, c->cfg.n_advertise);
    printf("version:       linkctl %s\n", LINKRELAY_VERSION);
    printf("state dir:     %s\n", c->state_dir);
    printf("database:      %s\n", c->database);
    printf("key file:      %s\n", c->key_file);
    printf("admin socket:  %s\n", c->admin_socket);
    printf("config:        %s\n", c->have_config ? c->config : "(none, defaults)");
    if (live == NULL) {
        printf("relay:         not running\n");
        ctl_addrs_print("token addrs:", ta);
        return;
    }
    char up[64];
    ctl_fmt_duration(ctl_json_int(live, "uptime_s"), up, sizeof(up));
    printf("relay:         running, version %s, up %s\n", ctl_json_str(live, "version", "?"), up);
    ctl_print_addr_list("live listen:", json_object_get(live, "listen"));
    ctl_print_addr_list("live advert.:", json_object_get(live, "advertise"));
    const char *lk = ctl_json_str(live, "relay_key", NULL);
    key_pub_encode(rk->current.pub, k);
    if (lk != NULL && strcmp(lk, k) != 0) {
        printf("warning:       the running relay serves key %s (restart it to use the key file)\n",
               lk);
    }
    ctl_addrs_print("token addrs:", ta);
}

static const char drain_help[] =
    "usage: linkctl relay drain [--timeout D] [--json]\n"
    "\n"
    "Asks the running relay to drain, as SIGTERM does: it tells every agent\n"
    "GOING_AWAY, stops accepting, splices its open streams on and exits when they\n"
    "have ended, at the latest after D (a duration like 30s, 2m; 0 stops at once;\n"
    "default: the relay's drain_timeout). Fails when the relay is not running or\n"
    "already drains.\n";

static int relay_drain_main(struct ctl *c, int argc, char **argv)
{
    static const char *const names[] = {"--timeout", NULL};
    const char *vals[1] = {NULL}, *pos[1];
    char req[32], left[64];
    uint64_t ms = 0;
    json_t *v = NULL;
    int r = ctl_simple_args(c, "relay drain", drain_help, argc, argv, names, vals, pos, 0);

    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (vals[0] != NULL && cfgparse_duration(vals[0], 0, 3600000, &ms) != 0) {
        return ctl_usage_error(
            "relay drain", "--timeout '%s': not a duration within 0..1h (like 30s, 2m)", vals[0]);
    }
    if (vals[0] != NULL) {
        snprintf(req, sizeof(req), "drain %llu", (unsigned long long)ms);
    } else {
        snprintf(req, sizeof(req), "drain");
    }
    r = ctl_admin(c, req, &v);
    if (r < 0) {
        if (adminc_not_running(r)) {
            return ctl_fail("relay not running (no relay answers on %s): nothing to drain",
                            c->admin_socket);
        }
        return ctl_fail("admin socket %s: %s", c->admin_socket,
                        r == -EPROTO ? "malformed reply" : strerror(-r));
    }
    if (json_object_get(v, "error") != NULL) {
        r = ctl_fail("relay: %s", ctl_json_str(v, "error", "error"));
        json_decref(v);
        return r;
    }
    if (c->json) {
        return ctl_json_print(v);
    }
    ctl_fmt_duration((ctl_json_int(v, "drain_left_ms") + 999) / 1000, left, sizeof(left));
    printf("relay draining: %lld streams open, %lld agents told to reconnect; it exits when the "
           "streams have ended, at the latest in %s\n",
           ctl_json_int(v, "streams_open"), ctl_json_int(v, "agents"), left);
    json_decref(v);
    return CTL_EXIT_OK;
}

/* Tells the running relay; returns 1 reloaded, 0 not running, -1 failed. */
static int rotate_key_tell(struct ctl *c)
{
    json_t *reply = NULL;
    int r = ctl_admin(c, "relay-key", &reply);
    if (r < 0) {
        if (!adminc_not_running(r)) {
            fprintf(stderr,
                    "linkctl: warning: the relay did not answer: %s; it reads the key "
                    "file at its next start\n",
                    strerror(-r));
            return -1;
        }
        return 0;
    }
    int ok = json_is_true(json_object_get(reply, "ok"));
    if (!ok) {
        fprintf(stderr, "linkctl: warning: the relay did not take the key file: %s\n",
                ctl_json_str(reply, "error", "?"));
    }
    json_decref(reply);
    return ok ? 1 : -1;
}

static int rotate_key_print(struct ctl *c, const struct relaykey *k, int told)
{
    char cur[KEY_TEXT_SIZE], nxt[KEY_TEXT_SIZE], when[40];
    key_pub_encode(k->current.pub, cur);
    if (k->has_next) {
        key_pub_encode(k->next.pub, nxt);
    }
    if (c->json) {
        return ctl_json_print(
            json_pack("{s:s, s:I, s:s?, s:o, s:I, s:b, s:b}", "relay_key", cur, "relay_key_id",
                      (json_int_t)k->current.id, "next_key", k->has_next ? nxt : NULL,
                      "next_key_id", k->has_next ? json_integer(k->next.id) : json_null(),
                      "overlap_until_ms", (json_int_t)(k->has_next ? k->next_until_ms : 0),
                      "relay_running", told != 0, "relay_reloaded", told == 1));
    }
    if (!k->has_next) {
        printf("relay key replaced at once: %s (id %u)\n", cur, k->current.id);
        printf("every agent needs a new token (linkctl link rotate)\n");
    } else {
        ctl_fmt_time(k->next_until_ms, when, sizeof(when));
        printf("next relay key: %s (id %u)\n", nxt, k->next.id);
        printf("current key %s (id %u) retires at %s\n", cur, k->current.id, when);
        printf("new tokens carry the new key; connected agents learn it from the relay\n");
    }
    printf("%s\n", told == 1   ? "the running relay serves the new key now"
                   : told == 0 ? "the relay is not running: it reads the key file at its start"
                               : "the running relay still serves the old key file");
    return CTL_EXIT_OK;
}

static int relay_rotate_key(struct ctl *c, int argc, char **argv)
{
    static const char *const names[] = {"--overlap", NULL};
    const char *vals[1] = {NULL}, *pos[1];
    struct relaykey *k;
    uint64_t overlap_ms = 0;
    char err[512];
    int r =
        ctl_simple_args(c, "relay rotate-key", rotate_key_help, argc, argv, names, vals, pos, 0);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    r = ctl_parse_overlap("relay rotate-key", vals[0] ? vals[0] : ROTATE_KEY_DEFAULT_OVERLAP,
                          &overlap_ms);
    if (r != 0) {
        return r;
    }
    k = sodium_malloc(sizeof(*k));
    if (k == NULL) {
        return ctl_fail("out of memory");
    }
    if (ctl_relay_key(c, 0, k) < 0) {
        sodium_free(k);
        return CTL_EXIT_FAIL;
    }
    r = CTL_EXIT_FAIL;
    if (k->has_next) {
        char when[40];
        ctl_fmt_time(k->next_until_ms, when, sizeof(when));
        ctl_fail("a relay key rotation is under way: next key id %u, the current key retires "
                 "%s%s; rotate again after that",
                 k->next.id, k->next_until_ms ? "at " : "never (no deadline)",
                 k->next_until_ms ? when : "");
        goto out;
    }
    /* Ids run 1..255 and never repeat the current one. */
    struct relaykey_entry *e = overlap_ms > 0 ? &k->next : &k->current;
    uint8_t id = k->current.id >= 255 ? 1 : (uint8_t)(k->current.id + 1);
    key_keypair_new(e->priv, e->pub);
    e->id = id;
    if (overlap_ms > 0) {
        k->has_next = 1;
        k->next_until_ms = ctl_now_ms() + (int64_t)overlap_ms;
    }
    if (relaykey_save(c->key_file, k, err, sizeof(err)) != 0) {
        ctl_fail("%s", err);
        goto out;
    }
    r = rotate_key_print(c, k, rotate_key_tell(c));
out:
    relaykey_wipe(k);
    sodium_free(k);
    return r;
}

int ctl_relay_main(struct ctl *c, int argc, char **argv)
{
    struct relaykey rk;
    struct ctl_addrs ta;
    if (argc < 2 || ctl_is_help(argv[1])) {
        if (argc < 2) {
            return ctl_usage_error("relay", "missing command (info, rotate-key, drain)");
        }
        fputs(relay_help, stdout);
        fputs(drain_help, stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "rotate-key") == 0) {
        return relay_rotate_key(c, argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "drain") == 0) {
        return relay_drain_main(c, argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "info") != 0) {
        return ctl_usage_error("relay", "unknown command 'relay %s'", argv[1]);
    }
    const char *pos[1];
    int r = ctl_simple_args(c, "relay info", relay_help, argc - 1, argv + 1, NULL, NULL, pos, 0);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (ctl_relay_key(c, 1, &rk) < 0) {
        return CTL_EXIT_FAIL;
    }
    json_t *live = ctl_relay_status(c);
    ctl_addrs_pick(c, live, &ta);
    r = CTL_EXIT_OK;
    if (c->json) {
        r = info_json(c, &rk, live, &ta);
    } else {
        info_human(c, &rk, live, &ta);
    }
    relaykey_wipe(&rk);
    json_decref(live);
    return r;
}
