/* SPDX-License-Identifier: MIT */
/*
 * ctl_cmds — `linkctl status`, `linkctl events`, `linkctl relay info` and the
 * hidden `linkctl debug decode-token` (for tests). See docs/linkctl.md.
 */
#include "ctl.h"

#include "adminc.h"
#include "json.h"
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

static void print_addr_list(const char *label, const struct json_val *arr)
{
    printf("%-15s", label);
    if (arr == NULL || arr->type != JSON_ARR || arr->n == 0) {
        printf("-\n");
        return;
    }
    for (size_t i = 0; i < arr->n; i++) {
        printf("%s%s", i ? ", " : "", arr->items[i].type == JSON_STR ? arr->items[i].str : "?");
    }
    printf("\n");
}

static void status_human(const struct json_val *v)
{
    char up[64];
    ctl_fmt_duration(json_get_int(v, "uptime_s", 0), up, sizeof(up));
    printf("relay:         running, version %s, up %s\n", json_get_str(v, "version", "?"), up);
    printf("agents:        %lld connected, %lld pending\n", (long long)json_get_int(v, "agents", 0),
           (long long)json_get_int(v, "pending", 0));
    printf("streams:       %lld open (%lld zero-copy), %lld total\n",
           (long long)json_get_int(v, "streams_open", 0),
           (long long)json_get_int(v, "streams_zero_copy", 0),
           (long long)json_get_int(v, "streams_total", 0));
    printf("bytes:         a->b %lld, b->a %lld\n", (long long)json_get_int(v, "bytes_a_to_b", 0),
           (long long)json_get_int(v, "bytes_b_to_a", 0));
    printf("queued:        %lld bytes (peak %lld), zero-copy pipes %lld (peak %lld)\n",
           (long long)json_get_int(v, "queued_bytes", 0),
           (long long)json_get_int(v, "queued_bytes_peak", 0),
           (long long)json_get_int(v, "zero_copy_queued_bytes", 0),
           (long long)json_get_int(v, "zero_copy_queued_bytes_peak", 0));
    printf("auth failures: %lld\n", (long long)json_get_int(v, "auth_failures", 0));
    const struct json_val *lim = json_get(v, "limits_hit");
    printf("limits hit:    ");
    int any = 0;
    for (size_t i = 0; lim != NULL && lim->type == JSON_OBJ && i < lim->n; i++) {
        if (lim->items[i].type == JSON_NUM && lim->items[i].i > 0) {
            printf("%s%s %lld", any ? ", " : "", lim->keys[i], (long long)lim->items[i].i);
            any = 1;
        }
    }
    printf("%s\n", any ? "" : "none");
    print_addr_list("listen:", json_get(v, "listen"));
    print_addr_list("advertise:", json_get(v, "advertise"));
    printf("relay key:     %s (id %lld)\n", json_get_str(v, "relay_key", "?"),
           (long long)json_get_int(v, "relay_key_id", 0));
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
    struct json_val *v = NULL;
    int r = simple_args(c, "status", status_help, argc, argv, NULL, NULL, pos, 0);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    r = ctl_admin(c, "status", &v);
    if (r < 0) {
        return admin_failed(c, r);
    }
    if (json_get(v, "error") != NULL) {
        r = ctl_fail("relay: %s", json_get_str(v, "error", "error"));
        json_free(v);
        return r;
    }
    if (c->json) {
        struct json_w w;
        json_w_init(&w, stdout);
        json_val_write(&w, v);
        fputc('\n', stdout);
    } else {
        status_human(v);
    }
    json_free(v);
    return CTL_EXIT_OK;
}

/* ---- events ---- */

struct events_ctx {
    struct ctl *c;
    struct json_w w;
    int n;
};

static int event_one(void *arg, const struct store_event *e)
{
    struct events_ctx *x = arg;
    char when[40], id[LINKID_TEXT_SIZE] = "";
    ctl_fmt_time(e->ts_ms, when, sizeof(when));
    if (e->has_link) {
        linkid_encode(e->link_id, id);
    }
    if (x->c->json) {
        struct json_w *w = &x->w;
        json_obj_begin(w);
        json_kv_int(w, "id", e->id);
        json_kv_int(w, "ts_ms", e->ts_ms);
        json_kv_str(w, "time", when);
        json_kv_str(w, "kind", e->kind);
        json_key(w, "link_id");
        if (e->has_link) {
            json_str(w, id);
        } else {
            json_null(w);
        }
        json_key(w, "link");
        if (e->link_name[0] != '\0') {
            json_str(w, e->link_name);
        } else {
            json_null(w);
        }
        json_kv_str(w, "addr", e->addr);
        json_kv_uint(w, "count", e->count);
        json_kv_str(w, "detail", e->detail);
        json_obj_end(w);
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
    json_w_init(&x.w, stdout);
    if (c->json) {
        json_obj_begin(&x.w);
        json_key(&x.w, "events");
        json_arr_begin(&x.w);
    }
    r = CTL_EXIT_OK;
    if (st != NULL && store_events_list(st, vals[0] ? id : NULL, limit, event_one, &x) < 0) {
        r = ctl_fail("%s", store_errmsg(st));
    }
    if (c->json) {
        json_arr_end(&x.w);
        json_obj_end(&x.w);
        fputc('\n', stdout);
    } else if (r == CTL_EXIT_OK && x.n == 0) {
        printf("no events\n");
    }
    store_close(st);
    return r;
}

/* ---- relay info ---- */

static void cfg_addrs_json(struct json_w *w, const struct addr_spec *a, size_t n)
{
    char t[ADDR_TEXT_SIZE];
    json_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        if (addr_format(&a[i], t, sizeof(t)) == 0) {
            json_str(w, t);
        }
    }
    json_arr_end(w);
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

static void info_json(struct ctl *c, const struct relaykey *rk, const struct json_val *live,
                      const struct ctl_addrs *ta)
{
    char k[KEY_TEXT_SIZE];
    struct json_w w;
    json_w_init(&w, stdout);
    json_obj_begin(&w);
    key_pub_encode(rk->current.pub, k);
    json_kv_str(&w, "relay_key", k);
    json_kv_int(&w, "relay_key_id", rk->current.id);
    json_key(&w, "next_key");
    if (rk->has_next) {
        key_pub_encode(rk->next.pub, k);
        json_str(&w, k);
        json_kv_int(&w, "next_key_id", rk->next.id);
    } else {
        json_null(&w);
    }
    json_key(&w, "listen");
    cfg_addrs_json(&w, c->cfg.listen, c->cfg.n_listen);
    json_key(&w, "advertise");
    cfg_addrs_json(&w, c->cfg.advertise, c->cfg.n_advertise);
    json_kv_str(&w, "version", LINKRELAY_VERSION);
    json_kv_str(&w, "state_dir", c->state_dir);
    json_kv_str(&w, "database", c->database);
    json_kv_str(&w, "key_file", c->key_file);
    json_kv_str(&w, "admin_socket", c->admin_socket);
    json_key(&w, "config");
    if (c->have_config) {
        json_str(&w, c->config);
    } else {
        json_null(&w);
    }
    json_kv_bool(&w, "relay_running", live != NULL);
    json_key(&w, "live");
    if (live != NULL) {
        json_val_write(&w, live);
    } else {
        json_null(&w);
    }
    ctl_addrs_json(&w, ta);
    json_obj_end(&w);
    fputc('\n', stdout);
}

static void info_human(struct ctl *c, const struct relaykey *rk, const struct json_val *live,
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
    ctl_fmt_duration(json_get_int(live, "uptime_s", 0), up, sizeof(up));
    printf("relay:         running, version %s, up %s\n", json_get_str(live, "version", "?"), up);
    print_addr_list("live listen:", json_get(live, "listen"));
    print_addr_list("live advert.:", json_get(live, "advertise"));
    const char *lk = json_get_str(live, "relay_key", NULL);
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
    struct json_val *live = ctl_relay_status(c);
    ctl_addrs_pick(c, live, &ta);
    if (c->json) {
        info_json(c, &rk, live, &ta);
    } else {
        info_human(c, &rk, live, &ta);
    }
    relaykey_wipe(&rk);
    json_free(live);
    return CTL_EXIT_OK;
}

/* ---- debug ---- */

static void token_json(const struct token *t)
{
    char id[LINKID_TEXT_SIZE], k[KEY_TEXT_SIZE];
    struct json_w w;
    json_w_init(&w, stdout);
    json_obj_begin(&w);
    linkid_encode(t->link_id, id);
    json_kv_str(&w, "link_id", id);
    json_kv_str(&w, "side", ctl_side_name(t->side));
    json_kv_str(&w, "name", t->name);
    json_kv_int(&w, "relay_key_id", t->relay_key_id);
    key_pub_encode(t->relay_pub, k);
    json_kv_str(&w, "relay_key", k);
    key_pub_encode(t->peer_pub, k);
    json_kv_str(&w, "peer_key", k);
    json_key(&w, "addrs");
    json_arr_begin(&w);
    for (size_t i = 0; i < t->n_addrs; i++) {
        json_str(&w, t->addrs[i]);
    }
    json_arr_end(&w);
    json_key(&w, "private_key");
    if (t->flags & TOKEN_FLAG_PRIV) {
        uint8_t pub[KEY_LEN];
        key_priv_encode(t->priv, k);
        json_str(&w, k);
        sodium_memzero(k, sizeof(k));
        if (token_own_pub(t, pub) == 0) {
            key_pub_encode(pub, k);
            json_kv_str(&w, "own_key", k);
        }
    } else {
        json_null(&w);
    }
    json_obj_end(&w);
    fputc('\n', stdout);
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
    token_json(t);
    token_wipe(t);
    sodium_free(t);
    return CTL_EXIT_OK;
}
