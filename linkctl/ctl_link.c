/* SPDX-License-Identifier: MIT */
/*
 * ctl_link — `linkctl link ...`: add, list, show, revoke, enable, rm, rotate
 * (set: ctl_policy.c).
 * See docs/linkctl.md.
 */
#include "ctl.h"
#include "ctl_enroll.h"
#include "ctl_policy.h"

#include "adminc.h"
#include "keys.h"
#include "relaykey.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char link_help[] =
    "usage: linkctl [global options] link <command> [options]\n"
    "\n"
    "commands:\n"
    "  add NAME [--a-key PUB] [--b-key PUB] [--enroll a|b [--expires D] [--uses N]]\n"
    "                                        create a link, print one token per side\n"
    "  list                                  all links with totals and live state\n"
    "  show NAME|ID                          one link in detail\n"
    "  revoke NAME|ID                        stop the link (agents are disconnected)\n"
    "  enable NAME|ID                        allow a revoked link again\n"
    "  rm NAME|ID                            delete the link and its accounting\n"
    "  rotate NAME|ID --side a|b [--overlap D] a new key for one side\n"
    "  set NAME|ID [--allow CIDR ...] [--rate R ...] [--quota BYTES/PERIOD|none]\n"
    "                                        change the link's policy\n"
    "  days NAME|ID [--days N]               streams and bytes per day\n"
    "\n"
    "Each command takes --help and --json.\n";

static const char add_help[] =
    "usage: linkctl link add NAME [--a-key PUB] [--b-key PUB] [--allow CIDR|--allow-a CIDR|\n"
    "                        --allow-b CIDR]... [--rate R] [--rate-a-to-b R]\n"
    "                        [--rate-b-to-a R] [--quota BYTES/PERIOD]\n"
    "                        [--enroll a|b [--expires DURATION] [--uses N]] [--json]\n"
    "\n"
    "Creates a link with a new random id. For each side without --X-key a key pair\n"
    "is generated; only public keys are stored. Prints one enrollment token per\n"
    "side: a secret when it carries the generated private key (give it only to that\n"
    "side's agent); without a private key when the agent brought its own key.\n"
    "NAME: 1..64 characters of A-Z a-z 0-9 . _ -, unique.\n"
    "The tokens carry the relay addresses from --relay-addr (a global option), else\n"
    "the running relay's advertise, else its listen addresses, else the config's\n"
    "advertise, else its listen addresses; wildcards never. When that leaves\n"
    "nothing it fails (exit 1) before anything is written.\n"
    "--allow, --allow-a, --allow-b: the source addresses each side's agent may\n"
    "connect from, as for `link set` (linkctl link set --help).\n"
    "--rate R limits both directions, --rate-a-to-b and --rate-b-to-a one each\n"
    "(see `linkctl link set --help` for R).\n"
    "--quota BYTES/PERIOD sets a byte quota (see `linkctl link set --help`).\n"
    "--json prints {\"id\":...,\"name\":...,\"tokens\":{\"a\":...,\"b\":...},...,\n"
    "\"token_addrs\":[...],\"token_addrs_source\":\"live_listen\"}.\n"
    "--enroll SIDE gives that side an enrollment code instead of a private key: the\n"
    "side's agent makes its own key and presents the code once (`linkagent enroll`).\n"
    "The code expires after --expires (default 24h, 1s..720h) and allows --uses\n"
    "enrollments (default 1, 1..100); the registry keeps only a hash of it. --json\n"
    "adds \"enroll\":{\"side\",\"code\",\"expires_ms\",\"uses\"}.\n";

static const char list_help[] = "usage: linkctl link list [--json]\n"
                                "\n"
                                "Lists every link: state, persisted totals, and whether each "
                                "side is online\n"
                                "(when the relay runs).\n";

static const char show_help[] =
    "usage: linkctl link show NAME|ID [--json]\n"
    "\n"
    "Shows one link: state, public keys, created, persisted totals (streams, bytes\n"
    "each way, last close cause) and live state from the relay (sides online,\n"
    "since when, from which address, streams open), or \"relay not running\".\n";

static const char revoke_help[] =
    "usage: linkctl link revoke NAME|ID [--json]\n"
    "\n"
    "Revokes the link: the relay closes its control sessions (CLOSE revoked) and\n"
    "resets its streams within a second; agents are refused until `link enable`.\n";

static const char enable_help[] = "usage: linkctl link enable NAME|ID [--json]\n"
                                  "\n"
                                  "Enables a revoked link again (same keys).\n";

static const char rm_help[] =
    "usage: linkctl link rm NAME|ID [--json]\n"
    "\n"
    "Deletes the link, its per-stream accounting and its totals. The event log\n"
    "keeps the link's history (by link id) and records the removal. The relay\n"
    "disconnects the link's agents as for a revocation.\n";

/* Options common to every link command: --json and --help. */
struct link_args {
    const char *pos[2];
    const char *a_key, *b_key, *side, *key, *rate, *rate_ab, *rate_ba, *enroll, *expires, *uses,
        *quota;
};

/* Parses argv after the command word. allowed: which value options the
 * command takes ("a" a-key, "b" b-key, "s" side, "k" key, "r" rates, "e" "x" "u"
 * enrollment, "q" quota). */
static int parse_args(struct ctl *c, const char *cmd, const char *help, const char *allowed,
                      int maxpos, int argc, char **argv, struct link_args *a)
{
    static const struct {
        char flag;
        const char *name;
    } opts[] = {{'a', "--a-key"},       {'b', "--b-key"},  {'s', "--side"},
                {'k', "--key"},         {'r', "--rate"},   {'r', "--rate-a-to-b"},
                {'r', "--rate-b-to-a"}, {'e', "--enroll"}, {'x', "--expires"},
                {'u', "--uses"},        {'q', "--quota"}};
#define LINK_OPTS (sizeof(opts) / sizeof(opts[0]))
    const char *names[LINK_OPTS + 1], *vals[LINK_OPTS] = {NULL};
    const char **dst[LINK_OPTS];
    char cmdname[32];
    int n = 0;
    memset(a, 0, sizeof(*a));
    const char **all[LINK_OPTS] = {&a->a_key,   &a->b_key,   &a->side,    &a->key,
                                   &a->rate,    &a->rate_ab, &a->rate_ba, &a->enroll,
                                   &a->expires, &a->uses,    &a->quota};
    for (size_t k = 0; k < LINK_OPTS; k++) {
        if (strchr(allowed, opts[k].flag) != NULL) {
            names[n] = opts[k].name;
            dst[n++] = all[k];
        }
    }
    names[n] = NULL;
    snprintf(cmdname, sizeof(cmdname), "link %s", cmd);
    const struct ctl_argspec spec = {cmdname,
                                     help,
                                     names,
                                     vals,
                                     a->pos,
                                     maxpos,
                                     strcmp(cmd, "add") == 0 ? "link name" : "link name or id"};
    int r = ctl_args(c, &spec, argc, argv);
    if (r != 0) {
        return r;
    }
    for (int k = 0; k < n; k++) {
        *dst[k] = vals[k];
    }
    return 0;
#undef LINK_OPTS
}

struct add_state {
    struct store_link l;
    uint8_t priv[2][KEY_LEN];
    int made[2];
    struct relaykey rk;
    struct ctl_addrs addrs;
    char tok[2][TOKEN_TEXT_SIZE];
    struct ctl_enroll en;
};

static int add_print(struct ctl *c, struct add_state *s)
{
    char id[LINKID_TEXT_SIZE], pub[2][KEY_TEXT_SIZE], rpub[KEY_TEXT_SIZE];
    linkid_encode(s->l.id, id);
    key_pub_encode(s->l.key[0], pub[0]);
    key_pub_encode(s->l.key[1], pub[1]);
    key_pub_encode(s->rk.current.pub, rpub);
    if (c->json) {
        json_t *v =
            json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:I}", "id", id, "name",
                      s->l.name, "tokens", "a", s->tok[0], "b", s->tok[1], "keys", "a", pub[0], "b",
                      pub[1], "relay_key", rpub, "relay_key_id", (json_int_t)s->rk.current.id);
        if (v != NULL && ctl_addrs_json(v, &s->addrs) != 0) {
            json_decref(v);
            v = NULL;
        }
        if (v != NULL && s->en.side >= 0 &&
            json_object_set_new(v, "enroll", ctl_enroll_json(&s->en)) != 0) {
            json_decref(v);
            v = NULL;
        }
        return ctl_json_print(v);
    }
    printf("link %s created (id %s)\n", s->l.name, id);
    ctl_addrs_print("token addrs:", &s->addrs);
    for (int side = 0; side < 2; side++) {
        if (side == s->en.side) {
            ctl_enroll_print(&s->en, s->tok[side]);
            continue;
        }
        printf("\ntoken for side %s (%s):\n%s\n", ctl_side_name(side),
               s->made[side] ? "SECRET, contains the side's private key: give it only to that "
                               "agent"
                             : "no private key: the agent brought its own",
               s->tok[side]);
    }
    return CTL_EXIT_OK;
}

/* Loads (or creates) the relay key and builds both tokens. */
static int add_tokens(struct ctl *c, struct add_state *s)
{
    if (ctl_relay_key(c, 1, &s->rk) < 0) {
        return -1;
    }
    for (int side = 0; side < 2; side++) {
        if (ctl_make_token(&s->l, side, s->made[side] ? s->priv[side] : NULL, &s->rk, &s->addrs,
                           s->tok[side], sizeof(s->tok[side])) != 0) {
            return -1;
        }
    }
    return 0;
}

static int link_add(struct ctl *c, int argc, char **argv)
{
    struct link_args a;
    struct ctl_allow_opt allow;
    char detail[128];
    struct ctl_quota quota;
    int r = ctl_allow_take("link add", &argc, argv, &allow);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    r = parse_args(c, "add", add_help, "abrexuq", 1, argc, argv, &a);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (a.quota != NULL && (r = ctl_policy_quota_parse("link add", a.quota, &quota)) != 0) {
        return r;
    }
    struct ctl_enroll en;
    r = ctl_enroll_parse("link add", a.enroll, a.expires, a.uses, &en);
    if (r != 0) {
        return r;
    }
    if (en.side >= 0 && (en.side == 0 ? a.a_key : a.b_key) != NULL) {
        return ctl_usage_error("link add",
                               "--enroll %s and --%s-key: the side gets one or the "
                               "other",
                               ctl_side_name(en.side), ctl_side_name(en.side));
    }
    struct add_state *s = sodium_malloc(sizeof(*s));
    if (s == NULL) {
        return ctl_fail("out of memory");
    }
    memset(s, 0, sizeof(*s));
    s->en = en;
    ctl_enroll_wipe(&en);
    r = CTL_EXIT_FAIL;
    if (store_name_valid(a.pos[0]) != 0) {
        ctl_fail("invalid link name '%s': use 1..%d characters of A-Z a-z 0-9 . _ -", a.pos[0],
                 STORE_NAME_MAX);
        goto out;
    }
    if ((a.a_key && ctl_decode_pub("--a-key", a.a_key, s->l.key[0]) != 0) ||
        (a.b_key && ctl_decode_pub("--b-key", a.b_key, s->l.key[1]) != 0)) {
        goto out;
    }
    if (a.a_key && a.b_key && sodium_memcmp(s->l.key[0], s->l.key[1], KEY_LEN) == 0) {
        ctl_fail("--a-key and --b-key are the same key; each side needs its own");
        goto out;
    }
    if (ctl_rate_opts_parse(a.rate, a.rate_ab, a.rate_ba, s->l.rate) != 0) {
        r = CTL_EXIT_USAGE;
        goto out;
    }
    snprintf(s->l.name, sizeof(s->l.name), "%s", a.pos[0]);
    s->l.enabled = 1;
    linkid_new(s->l.id);
    for (int side = 0; side < 2; side++) {
        if (side == s->en.side) {
            if (ctl_enroll_prepare(&s->en, s->l.id, s->l.key[side]) != 0) {
                goto out;
            }
        } else if ((side == 0 ? a.a_key : a.b_key) == NULL) {
            key_keypair_new(s->priv[side], s->l.key[side]);
            s->made[side] = 1;
        }
    }
    /* Without addresses no token can be made: find out before anything is
     * written (the registry, the state directory, the relay key). */
    if (ctl_token_addrs(c, s->l.id, &s->addrs) != CTL_EXIT_OK) {
        goto out;
    }
    /* A duplicate name fails before any work or warning; the insert checks
     * again inside its transaction. */
    struct store *st = NULL;
    struct store_link existing;
    if (ctl_store_open(c, 1, &st) < 0) {
        goto out;
    }
    if (store_link_find(st, s->l.name, &existing) == 0) {
        ctl_fail("a link named '%s' already exists", s->l.name);
    } else if (add_tokens(c, s) == 0) {
        ctl_event_detail("added", detail, sizeof(detail));
        if (store_link_add(st, &s->l, detail) < 0) {
            ctl_fail("%s", store_errmsg(st));
        } else if (ctl_allow_store(st, s->l.id, &allow) != CTL_EXIT_OK) {
            /* No tokens for a link without the policy asked for. */
            (void)store_link_remove(st, s->l.id, "allowlist could not be stored");
        } else if (s->en.side >= 0 &&
                   ctl_enroll_store(st, s->l.id, &s->en, s->l.key[s->en.side]) != 0) {
            /* A link whose side has neither a key nor a code is of no use. */
            (void)store_link_remove(st, s->l.id, "enrollment code not stored");
        } else if (a.quota != NULL && ctl_policy_quota_store(st, s->l.id, &quota) != CTL_EXIT_OK) {
            (void)store_link_remove(st, s->l.id, "quota could not be stored");
        } else {
            r = CTL_EXIT_OK;
        }
    }
    store_close(st);
    if (r == CTL_EXIT_OK) {
        /* The link exists now whatever printing it gives: sync regardless. */
        r = add_print(c, s);
        fflush(stdout);
        ctl_admin_sync(c);
    }
out:
    sodium_free(s);
    return r;
}

/* ---- list / show ---- */

/* The relay's live entry for link id (from the `links` reply), or NULL. */
static json_t *live_entry(const json_t *links, const uint8_t *id)
{
    char hex[LINKID_TEXT_SIZE];
    size_t i;
    json_t *item;
    linkid_encode(id, hex);
    json_array_foreach(json_object_get(links, "links"), i, item)
    {
        if (strcmp(ctl_json_str(item, "id", ""), hex) == 0) {
            return item;
        }
    }
    return NULL;
}

/* The JSON of one link (link show, an item of link list); live is the
 * relay's entry (may be NULL), referenced, not taken. */
static json_t *link_json(const struct store_link *l, const struct store_totals *t, int running,
                         json_t *live)
{
    char id[LINKID_TEXT_SIZE], k[2][KEY_TEXT_SIZE], nk[2][KEY_TEXT_SIZE];
    linkid_encode(l->id, id);
    for (int side = 0; side < 2; side++) {
        key_pub_encode(l->key[side], k[side]);
        key_pub_encode(l->next_key[side], nk[side]);
    }
    /* Totals come from SQLite's signed 64-bit integers: they fit. */
    json_t *v = json_pack(
        "{s:s, s:o, s:b, s:I, s:I, s:{s:{s:s, s:s?, s:I, s:I}, s:{s:s, s:s?, s:I, s:I}},"
        " s:{s:I, s:I, s:I, s:s?, s:I}, s:b, s:O?}",
        "id", id, "name", lrjson_str(l->name), "enabled", l->enabled, "created_ms",
        (json_int_t)l->created_ms, "updated_ms", (json_int_t)l->updated_ms, "keys", "a", "current",
        k[0], "next", l->has_next[0] ? nk[0] : NULL, "generation", (json_int_t)l->key_gen[0],
        "next_until_ms", (json_int_t)l->next_until_ms[0], "b", "current", k[1], "next",
        l->has_next[1] ? nk[1] : NULL, "generation", (json_int_t)l->key_gen[1], "next_until_ms",
        (json_int_t)l->next_until_ms[1], "totals", "streams", lrjson_u64(t->streams),
        "bytes_a_to_b", lrjson_u64(t->bytes_a_to_b), "bytes_b_to_a", lrjson_u64(t->bytes_b_to_a),
        "last_cause", t->last_cause == STORE_CAUSE_NONE ? NULL : store_cause_name(t->last_cause),
        "last_closed_ms", (json_int_t)t->last_closed_ms, "relay_running", running, "live", live);
    if (v != NULL &&
        (ctl_rate_json(v, l->rate) != 0 ||
         json_object_set_new(v, "enroll_a", ctl_enroll_show_json(&l->enroll[0])) != 0 ||
         json_object_set_new(v, "enroll_b", ctl_enroll_show_json(&l->enroll[1])) != 0)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* "online"/"offline" for a side of a live entry; "-" without the relay. */
static const char *side_state(int running, const json_t *live, int side)
{
    if (!running) {
        return "-";
    }
    return json_is_true(json_object_get(json_object_get(live, ctl_side_name(side)), "online"))
               ? "online"
               : "offline";
}

struct list_ctx {
    struct ctl *c;
    struct store *st;
    json_t *links; /* --json: the array being filled */
    int running;
    json_t *live;
    int n;
    int err;
};

static int list_one(void *arg, const struct store_link *l)
{
    struct list_ctx *x = arg;
    struct store_totals t;
    char id[LINKID_TEXT_SIZE];
    int r = store_link_totals(x->st, l->id, &t);
    if (r < 0) {
        x->err = r;
        return r;
    }
    json_t *live = live_entry(x->live, l->id);
    if (x->c->json) {
        if (json_array_append_new(x->links, link_json(l, &t, x->running, live)) != 0) {
            x->err = -ENOMEM;
            return x->err;
        }
    } else {
        if (x->n == 0) {
            printf("%-20s %-32s %-8s %-7s %-7s %8s %14s %14s %s\n", "NAME", "ID", "STATE", "A", "B",
                   "STREAMS", "BYTES_A_TO_B", "BYTES_B_TO_A", "LAST");
        }
        linkid_encode(l->id, id);
        printf("%-20s %-32s %-8s %-7s %-7s %8llu %14llu %14llu %s\n", l->name, id,
               l->enabled ? "enabled" : "revoked", side_state(x->running, live, 0),
               side_state(x->running, live, 1), (unsigned long long)t.streams,
               (unsigned long long)t.bytes_a_to_b, (unsigned long long)t.bytes_b_to_a,
               t.last_cause == STORE_CAUSE_NONE ? "-" : store_cause_name(t.last_cause));
    }
    x->n++;
    return 0;
}

/* Fetches the relay's live `links` reply; *running says whether it answered. */
static json_t *fetch_live(struct ctl *c, int *running)
{
    json_t *v = NULL;
    int r = ctl_admin(c, "links", &v);
    *running = r == 0;
    if (r < 0 && !adminc_not_running(r)) {
        ctl_warn("admin socket %s: %s; live state unavailable", c->admin_socket, strerror(-r));
    }
    return v;
}

static int link_list(struct ctl *c, int argc, char **argv)
{
    struct link_args a;
    struct list_ctx x;
    int r = parse_args(c, "list", list_help, "", 0, argc, argv, &a);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    memset(&x, 0, sizeof(x));
    x.c = c;
    r = ctl_store_open(c, 0, &x.st);
    if (r < 0 && r != -ENOENT) {
        return CTL_EXIT_FAIL;
    }
    x.live = fetch_live(c, &x.running);
    x.links = c->json ? json_array() : NULL;
    if (c->json && x.links == NULL) {
        r = ctl_fail("out of memory");
    } else if (x.st != NULL && store_links_load(x.st, list_one, &x) < 0) {
        r = x.err == -ENOMEM ? ctl_fail("out of memory") : ctl_fail("%s", store_errmsg(x.st));
    } else {
        r = CTL_EXIT_OK;
    }
    if (c->json) {
        /* As before, the links read so far are printed even after a failure. */
        int pr =
            ctl_json_print(json_pack("{s:b, s:O?}", "relay_running", x.running, "links", x.links));
        r = r == CTL_EXIT_OK ? pr : r;
    } else if (r == CTL_EXIT_OK) {
        if (x.n == 0) {
            printf("no links (add one with 'linkctl link add NAME')\n");
        }
        if (!x.running) {
            printf("relay not running: live state unavailable\n");
        }
    }
    json_decref(x.links);
    json_decref(x.live);
    store_close(x.st);
    return r;
}

static void show_live_side(const json_t *live, int side)
{
    const json_t *s = json_object_get(live, ctl_side_name(side));
    char when[40];
    if (!json_is_true(json_object_get(s, "online"))) {
        printf("side %s:        offline\n", ctl_side_name(side));
        return;
    }
    ctl_fmt_time(json_integer_value(json_object_get(s, "since_ms")), when, sizeof(when));
    printf("side %s:        online since %s from %s\n", ctl_side_name(side), when,
           ctl_json_str(s, "addr", "?"));
}

static void show_human(const struct store_link *l, const struct store_totals *t, int running,
                       const json_t *live)
{
    char id[LINKID_TEXT_SIZE], k[KEY_TEXT_SIZE], when[40];
    linkid_encode(l->id, id);
    printf("name:          %s\n", l->name);
    printf("id:            %s\n", id);
    printf("state:         %s\n", l->enabled ? "enabled" : "revoked");
    ctl_fmt_time(l->created_ms, when, sizeof(when));
    printf("created:       %s\n", when);
    ctl_fmt_time(l->updated_ms, when, sizeof(when));
    printf("updated:       %s\n", when);
    for (int side = 0; side < 2; side++) {
        key_pub_encode(l->key[side], k);
        printf("key %s:         %s (generation %u)\n", ctl_side_name(side), k, l->key_gen[side]);
        if (l->has_next[side]) {
            key_pub_encode(l->next_key[side], k);
            ctl_fmt_time(l->next_until_ms[side], when, sizeof(when));
            printf("next key %s:    %s (old key accepted until the agent switches%s%s)\n",
                   ctl_side_name(side), k, l->next_until_ms[side] != 0 ? ", at most until " : "",
                   l->next_until_ms[side] != 0 ? when : "");
        }
    }
    {
        char rate[CTL_RATE_TEXT];
        ctl_rate_text(l->rate[0], rate, sizeof(rate));
        printf("rate a->b:     %s\n", rate);
        ctl_rate_text(l->rate[1], rate, sizeof(rate));
        printf("rate b->a:     %s\n", rate);
    }
    ctl_enroll_show(l);
    printf("streams:       %llu\n", (unsigned long long)t->streams);
    printf("bytes a->b:    %llu\n", (unsigned long long)t->bytes_a_to_b);
    printf("bytes b->a:    %llu\n", (unsigned long long)t->bytes_b_to_a);
    ctl_fmt_time(t->last_closed_ms, when, sizeof(when));
    if (t->last_cause == STORE_CAUSE_NONE) {
        printf("last close:    -\n");
    } else {
        printf("last close:    %s at %s\n", store_cause_name(t->last_cause), when);
    }
    ctl_policy_quota_print(l);
    if (!running) {
        printf("live:          relay not running\n");
        return;
    }
    if (live == NULL) {
        printf("live:          not held by the relay (no agent of it recently)\n");
        return;
    }
    show_live_side(live, 0);
    show_live_side(live, 1);
    printf("streams open:  %lld\n",
           (long long)json_integer_value(json_object_get(live, "streams_open")));
    printf("live bytes:    a->b %lld, b->a %lld (since relay start)\n",
           (long long)json_integer_value(json_object_get(live, "bytes_a_to_b")),
           (long long)json_integer_value(json_object_get(live, "bytes_b_to_a")));
}

static int link_show(struct ctl *c, int argc, char **argv)
{
    struct link_args a;
    struct store *st = NULL;
    struct store_link l;
    struct store_totals t;
    struct store_allow al;
    int running;
    int r = parse_args(c, "show", show_help, "", 1, argc, argv, &a);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (ctl_open_link(c, a.pos[0], 0, &st, &l) < 0) {
        return CTL_EXIT_FAIL;
    }
    if (store_link_totals(st, l.id, &t) < 0 || store_allow_get(st, l.id, &al) < 0 ||
        store_quota_get(st, &l) < 0) {
        r = ctl_fail("%s", store_errmsg(st));
        store_close(st);
        return r;
    }
    store_close(st);
    json_t *live = fetch_live(c, &running);
    json_t *entry = live_entry(live, l.id);
    r = CTL_EXIT_OK;
    if (c->json) {
        json_t *v = link_json(&l, &t, running, entry);
        if (v != NULL && (json_object_set_new(v, "allow", ctl_allow_json(&al)) != 0 ||
                          json_object_set_new(v, "quota", ctl_policy_quota_json(&l)) != 0)) {
            json_decref(v);
            v = NULL;
        }
        r = ctl_json_print(v);
    } else {
        show_human(&l, &t, running, entry);
        ctl_allow_print(&al);
    }
    json_decref(live);
    return r;
}

/* ---- changes ---- */

static int print_change(struct ctl *c, const struct store_link *l, const char *what)
{
    char id[LINKID_TEXT_SIZE];
    linkid_encode(l->id, id);
    if (c->json) {
        return ctl_json_print(
            json_pack("{s:s, s:o, s:s}", "id", id, "name", lrjson_str(l->name), "result", what));
    }
    printf("link %s (%s): %s\n", l->name, id, what);
    return CTL_EXIT_OK;
}

/* revoke (enabled = 0), enable (1) and rm (-1). */
static int link_state(struct ctl *c, int argc, char **argv, int enabled)
{
    const char *cmd = enabled < 0 ? "rm" : enabled ? "enable" : "revoke";
    const char *help = enabled < 0 ? rm_help : enabled ? enable_help : revoke_help;
    struct link_args a;
    struct store *st = NULL;
    struct store_link l;
    char detail[128];
    int r = parse_args(c, cmd, help, "", 1, argc, argv, &a);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (ctl_open_link(c, a.pos[0], 0, &st, &l) < 0) {
        return CTL_EXIT_FAIL;
    }
    if (enabled >= 0 && l.enabled == enabled) {
        store_close(st);
        return print_change(c, &l, enabled ? "already enabled" : "already revoked");
    }
    if (enabled < 0) {
        ctl_event_detail("removed", detail, sizeof(detail));
        r = store_link_remove(st, l.id, detail);
    } else {
        ctl_event_detail(enabled ? "enabled" : "revoked", detail, sizeof(detail));
        r = store_link_set_enabled(st, l.id, enabled, detail);
    }
    if (r < 0) {
        r = ctl_fail("%s", store_errmsg(st));
        store_close(st);
        return r;
    }
    store_close(st);
    r = print_change(c, &l, enabled < 0 ? "removed" : enabled ? "enabled" : "revoked");
    fflush(stdout);
    ctl_admin_sync(c);
    return r;
}

int ctl_link_main(struct ctl *c, int argc, char **argv)
{
    if (argc < 2) {
        return ctl_usage_error("link", "missing command (add, list, show, revoke, enable, rm, "
                                       "rotate, set, days)");
    }
    const char *cmd = argv[1];
    if (ctl_is_help(cmd)) {
        fputs(link_help, stdout);
        return CTL_EXIT_OK;
    }
    argc--;
    argv++;
    if (strcmp(cmd, "add") == 0) {
        return link_add(c, argc, argv);
    }
    if (strcmp(cmd, "list") == 0 || strcmp(cmd, "ls") == 0) {
        return link_list(c, argc, argv);
    }
    if (strcmp(cmd, "show") == 0) {
        return link_show(c, argc, argv);
    }
    if (strcmp(cmd, "revoke") == 0) {
        return link_state(c, argc, argv, 0);
    }
    if (strcmp(cmd, "enable") == 0) {
        return link_state(c, argc, argv, 1);
    }
    if (strcmp(cmd, "rm") == 0) {
        return link_state(c, argc, argv, -1);
    }
    if (strcmp(cmd, "rotate") == 0) {
        return ctl_link_rotate(c, argc, argv);
    }
    if (strcmp(cmd, "set") == 0) {
        return ctl_link_set(c, argc, argv);
    }
    if (strcmp(cmd, "days") == 0) {
        return ctl_link_days(c, argc, argv);
    }
    return ctl_usage_error("link", "unknown command 'link %s'", cmd);
}
