/* SPDX-License-Identifier: MIT */
/*
 * ctl_cmds — `linkctl status`, `linkctl events`, `linkctl relay info` and the
 * hidden `linkctl debug decode-token` (for tests). See docs/linkctl.md.
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

static const char status_help[] =
    "usage: linkctl status [--json]\n"
    "\n"
    "Relay-wide live state from the admin socket: version, uptime, agents\n"
    "connected, pending handshakes, streams open and total, bytes each way, auth\n"
    "failures, limits hit. Exits 1 with \"relay not running\" when no relay answers.\n";

static const char events_help[] =
    "usage: linkctl events [--link NAME|ID] [-n N] [--json]\n"
    "\n"
    "The event log from the registry, oldest first: the newest N events (default\n"
    "50; 0 = all), optionally of one link (also of a removed link, by id).\n";

static const char relay_help[] =
    "usage: linkctl relay info [--json]\n"
    "\n"
    "The relay's public key and key id (from the key file, created if missing),\n"
    "listen and advertised addresses (from the config), linkctl's version, the\n"
    "running relay's live values when it runs, and the relay addresses new tokens\n"
    "would carry with where they come from (--json: token_addrs,\n"
    "token_addrs_source: relay_addr, live_advertise, live_listen,\n"
    "config_advertise, config_listen, or null when there are none).\n";

/* Parses the options every command here takes: --help, --json, and the
 * value options listed in names (NULL-terminated) into vals. */
static int simple_args(struct ctl *c, const char *cmd, const char *help, int argc, char **argv,
                       const char *const *names, const char **vals, const char **pos, int maxpos)
{
    const struct ctl_argspec spec = {cmd, help, names, vals, pos, maxpos, "argument"};
    return ctl_args(c, &spec, argc, argv);
}

static void print_addr_list(const char *label, const json_t *arr)
{
    size_t i;
    const json_t *item;
    printf("%-15s", label);
    if (json_array_size(arr) == 0) {
        printf("-\n");
        return;
    }
    json_array_foreach(arr, i, item)
    {
        printf("%s%s", i ? ", " : "", json_is_string(item) ? json_string_value(item) : "?");
    }
    printf("\n");
}

/* Integer member key of v; 0 when missing or not an integer. */
static long long int_of(const json_t *v, const char *key)
{
    return json_integer_value(json_object_get(v, key));
}

static void status_human(const json_t *v)
{
    char up[64];
    ctl_fmt_duration(int_of(v, "uptime_s"), up, sizeof(up));
    printf("relay:         running, version %s, up %s\n", ctl_json_str(v, "version", "?"), up);
    printf("agents:        %lld connected, %lld pending\n", int_of(v, "agents"),
           int_of(v, "pending"));
    printf("streams:       %lld open (%lld zero-copy), %lld total\n", int_of(v, "streams_open"),
           int_of(v, "streams_zero_copy"), int_of(v, "streams_total"));
    printf("bytes:         a->b %lld, b->a %lld\n", int_of(v, "bytes_a_to_b"),
           int_of(v, "bytes_b_to_a"));
    printf("queued:        %lld bytes (peak %lld), zero-copy pipes %lld (peak %lld)\n",
           int_of(v, "queued_bytes"), int_of(v, "queued_bytes_peak"),
           int_of(v, "zero_copy_queued_bytes"), int_of(v, "zero_copy_queued_bytes_peak"));
    printf("auth failures: %lld\n", int_of(v, "auth_failures"));
    printf("limits hit:    ");
    int any = 0;
    const char *name;
    const json_t *n;
    json_object_foreach((json_t *)json_object_get(v, "limits_hit"), name, n)
    {
        if (json_is_integer(n) && json_integer_value(n) > 0) {
            printf("%s%s %lld", any ? ", " : "", name, (long long)json_integer_value(n));
            any = 1;
        }
    }
    printf("%s\n", any ? "" : "none");
    print_addr_list("listen:", json_object_get(v, "listen"));
    print_addr_list("advertise:", json_object_get(v, "advertise"));
    printf("relay key:     %s (id %lld)\n", ctl_json_str(v, "relay_key", "?"),
           int_of(v, "relay_key_id"));
}

/* Reports a failed admin request: "relay not running" or the error. */
static int admin_failed(struct ctl *c, int r)
{
    if (adminc_not_running(r)) {
        return ctl_fail("relay not running (no relay answers on %s)", c->admin_socket);
    }
    if (r == -EPROTO) {
        return ctl_fail("admin socket %s: malformed reply", c->admin_socket);
    }
    return ctl_fail("admin socket %s: %s", c->admin_socket, strerror(-r));
}

int ctl_status_main(struct ctl *c, int argc, char **argv)
{
    const char *pos[1];
    json_t *v = NULL;
    int r = simple_args(c, "status", status_help, argc, argv, NULL, NULL, pos, 0);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    r = ctl_admin(c, "status", &v);
    if (r < 0) {
        return admin_failed(c, r);
    }
    if (json_object_get(v, "error") != NULL) {
        r = ctl_fail("relay: %s", ctl_json_str(v, "error", "error"));
        json_decref(v);
        return r;
    }
    if (c->json) {
        return ctl_json_print(v);
    }
    status_human(v);
    json_decref(v);
    return CTL_EXIT_OK;
}

/* ---- events ---- */

struct events_ctx {
    struct ctl *c;
    int n;
    int err; /* an event could not be written (--json) */
};

/* One event as JSON. Text from the database goes through lrjson_str. */
static json_t *event_json(const struct store_event *e, const char *when, const char *id)
{
    return json_pack("{s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:I, s:o}", "id", (json_int_t)e->id,
                     "ts_ms", (json_int_t)e->ts_ms, "time", when, "kind", lrjson_str(e->kind),
                     "link_id", e->has_link ? json_string(id) : json_null(), "link",
                     e->link_name[0] != '\0' ? lrjson_str(e->link_name) : json_null(), "addr",
                     lrjson_str(e->addr), "count", (json_int_t)e->count, "detail",
                     lrjson_str(e->detail));
}

static int event_one(void *arg, const struct store_event *e)
{
    struct events_ctx *x = arg;
    char when[40], id[LINKID_TEXT_SIZE] = "";
    ctl_fmt_time(e->ts_ms, when, sizeof(when));
    if (e->has_link) {
        linkid_encode(e->link_id, id);
    }
    if (x->c->json) {
        /* Streamed one event at a time (-n 0 lists the whole log): the
         * envelope {"events":[...]} is written around them by the caller. */
        json_t *v = event_json(e, when, id);
        if (v == NULL || (x->n > 0 && fputc(',', stdout) == EOF) ||
            json_dumpf(v, stdout, LRJSON_DUMP_FLAGS) != 0) {
            json_decref(v);
            x->err = -ENOMEM;
            return x->err;
        }
        json_decref(v);
    } else {
        if (x->n == 0) {
            printf("%-20s %-12s %-20s %-21s %5s %s\n", "TIME", "KIND", "LINK", "ADDR", "COUNT",
                   "DETAIL");
        }
        /* A removed link shows by id. */
        const char *link = e->link_name[0] ? e->link_name : e->has_link ? id : "-";
        printf("%-20s %-12s %-20s %-21s %5u %s\n", when, e->kind, link, e->addr[0] ? e->addr : "-",
               e->count, e->detail);
    }
    x->n++;
    return 0;
}

static int parse_count(const char *s, size_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9') {
        return -EINVAL;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > 1000000000ULL) {
        return -EINVAL;
    }
    *out = (size_t)v;
    return 0;
}

/* Resolves --link: a link by name or id, or the id of a removed link. */
static int events_link(struct store *st, const char *what, uint8_t id[LINKID_LEN])
{
    struct store_link l;
    int r = store_link_find(st, what, &l);
    if (r == 0) {
        memcpy(id, l.id, LINKID_LEN);
        return 0;
    }
    if (r == -ENOENT && linkid_decode(what, id, NULL) == 0) {
        return 0;
    }
    return ctl_fail("%s", store_errmsg(st));
}

int ctl_events_main(struct ctl *c, int argc, char **argv)
{
    static const char *const names[] = {"--link", "-n", NULL};
    const char *vals[2] = {NULL, NULL};
    const char *pos[1];
    size_t limit = 50;
    uint8_t id[LINKID_LEN];
    struct store *st = NULL;
    struct events_ctx x;
    int r = simple_args(c, "events", events_help, argc, argv, names, vals, pos, 0);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (vals[1] != NULL && parse_count(vals[1], &limit) != 0) {
        return ctl_usage_error("events", "-n needs a count (0 = all), not '%s'", vals[1]);
    }
    r = ctl_store_open(c, 0, &st);
    if (r < 0 && r != -ENOENT) {
        return CTL_EXIT_FAIL;
    }
    if (st == NULL && vals[0] != NULL) {
        return ctl_fail("no such link: %s", vals[0]);
    }
    if (st != NULL && vals[0] != NULL && events_link(st, vals[0], id) != 0) {
        store_close(st);
        return CTL_EXIT_FAIL;
    }
    memset(&x, 0, sizeof(x));
    x.c = c;
    if (c->json) {
        fputs("{\"events\":[", stdout);
    }
    r = CTL_EXIT_OK;
    if (st != NULL && store_events_list(st, vals[0] ? id : NULL, limit, event_one, &x) < 0) {
        r = x.err != 0 ? ctl_fail("cannot write the JSON output")
                       : ctl_fail("%s", store_errmsg(st));
    }
    if (c->json) {
        fputs("]}\n", stdout);
    } else if (r == CTL_EXIT_OK && x.n == 0) {
        printf("no events\n");
    }
    store_close(st);
    return r;
}

/* ---- relay info ---- */

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
        key_pub_encode(rk->next.pub, k);
        printf("next key:      %s (id %u)\n", k, rk->next.id);
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
    ctl_fmt_duration(int_of(live, "uptime_s"), up, sizeof(up));
    printf("relay:         running, version %s, up %s\n", ctl_json_str(live, "version", "?"), up);
    print_addr_list("live listen:", json_object_get(live, "listen"));
    print_addr_list("live advert.:", json_object_get(live, "advertise"));
    const char *lk = ctl_json_str(live, "relay_key", NULL);
    key_pub_encode(rk->current.pub, k);
    if (lk != NULL && strcmp(lk, k) != 0) {
        printf("warning:       the running relay serves key %s (restart it to use the key file)\n",
               lk);
    }
    ctl_addrs_print("token addrs:", ta);
}

int ctl_relay_main(struct ctl *c, int argc, char **argv)
{
    struct relaykey rk;
    struct ctl_addrs ta;
    if (argc < 2 || ctl_is_help(argv[1])) {
        if (argc < 2) {
            return ctl_usage_error("relay", "missing command (info)");
        }
        fputs(relay_help, stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "info") != 0) {
        return ctl_usage_error("relay", "unknown command 'relay %s'", argv[1]);
    }
    const char *pos[1];
    int r = simple_args(c, "relay info", relay_help, argc - 1, argv + 1, NULL, NULL, pos, 0);
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

/* ---- debug ---- */

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
