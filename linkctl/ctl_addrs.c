/* SPDX-License-Identifier: MIT */
/*
 * ctl_addrs — which relay addresses linkctl writes into enrollment tokens.
 * See ctl.h and docs/linkctl.md "Relay addresses in tokens".
 *
 * The rule exists because the config's defaults (0.0.0.0:7700) say nothing
 * about where agents can reach the relay: a token must carry an address
 * somebody chose (--relay-addr, advertise) or one the relay is bound to, and
 * linkctl refuses to make a token rather than guess.
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hrw.h"
#include "store.h"

static const struct {
    const char *name; /* JSON */
    const char *text; /* human output */
} ctl_addrs_sources[] = {
    [CTL_ADDRS_NONE] = {NULL, "nowhere"},
    [CTL_ADDRS_FLAG] = {"relay_addr", "--relay-addr"},
    [CTL_ADDRS_LIVE_ADVERTISE] = {"live_advertise", "the running relay's advertise addresses"},
    [CTL_ADDRS_LIVE_LISTEN] = {"live_listen", "the running relay's listen addresses"},
    [CTL_ADDRS_CONFIG_ADVERTISE] = {"config_advertise", "advertise in the config"},
    [CTL_ADDRS_CONFIG_LISTEN] = {"config_listen", "listen in the config"},
    [CTL_ADDRS_POOL] = {"pool", "the pool's live members, in this link's rendezvous order"},
};

const char *ctl_addrs_source_name(enum ctl_addrs_source s)
{
    return ctl_addrs_sources[s].name;
}

/* Appends a when an agent can connect to it: a specific host, a real port,
 * short enough for a token. */
static void ctl_addrs_add(struct ctl_addrs *out, const struct addr_spec *a)
{
    if (out->n == TOKEN_MAX_ADDRS || a->port == 0 || addr_is_unspecified(a)) {
        return;
    }
    if (addr_format(a, out->addr[out->n], sizeof(out->addr[0])) == 0) {
        out->n++;
    }
}

static void ctl_addrs_from_specs(struct ctl_addrs *out, const struct addr_spec *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ctl_addrs_add(out, &a[i]);
    }
}

/* The strings of an address array of the relay's `status` reply, parsed
 * again: the reply is input like any other. */
static void ctl_addrs_from_json(struct ctl_addrs *out, const json_t *arr)
{
    size_t i;
    const json_t *item;
    json_array_foreach(arr, i, item)
    {
        struct addr_spec a;
        if (json_is_string(item) && addr_parse(json_string_value(item), ADDR_PORT0_OK, &a) == 0) {
            ctl_addrs_add(out, &a);
        }
    }
}

void ctl_addrs_pick(const struct ctl *c, const json_t *live, struct ctl_addrs *out)
{
    memset(out, 0, sizeof(*out));
    out->relay_running = live != NULL;
    if (c->n_relay_addr > 0) {
        out->source = CTL_ADDRS_FLAG;
        ctl_addrs_from_specs(out, c->relay_addr, c->n_relay_addr);
    } else if (live != NULL) {
        out->source = CTL_ADDRS_LIVE_ADVERTISE;
        ctl_addrs_from_json(out, json_object_get(live, "advertise"));
        if (out->n == 0) {
            out->source = CTL_ADDRS_LIVE_LISTEN;
            ctl_addrs_from_json(out, json_object_get(live, "listen"));
        }
    } else {
        out->source = CTL_ADDRS_CONFIG_ADVERTISE;
        ctl_addrs_from_specs(out, c->cfg.advertise, c->cfg.n_advertise);
        if (out->n == 0) {
            out->source = CTL_ADDRS_CONFIG_LISTEN;
            ctl_addrs_from_specs(out, c->cfg.listen, c->cfg.n_listen);
        }
    }
    if (out->n == 0) {
        out->source = CTL_ADDRS_NONE;
    }
}

/* The live members of a pool (D39): rows of the registry's members table
 * whose heartbeat is within member_timeout and whose addresses are usable,
 * the rule the relays home links by (pool_eligible, D34). */
struct ctl_pool_rows {
    int64_t now, timeout_ms;
    size_t n;
    struct store_member m[CTL_POOL_MAX_MEMBERS];
    uint64_t w[CTL_POOL_MAX_MEMBERS]; /* the link's weight of each */
};

static int ctl_pool_collect(void *arg, const struct store_member *m)
{
    struct ctl_pool_rows *p = arg;

    if (p->n < CTL_POOL_MAX_MEMBERS && m->addrs_ok && p->now - m->beat_ms <= p->timeout_ms)
        p->m[p->n++] = *m;
    return 0;
}

/* The k-th address (from 0) of a member's space-separated list, into out;
 * false when it has fewer. */
static bool ctl_pool_addr(const char *addrs, size_t k, char *out, size_t cap)
{
    for (const char *s = addrs; *s != '\0';) {
        size_t len = strcspn(s, " ");
        if (len > 0 && k-- == 0) {
            if (len >= cap)
                return false;
            memcpy(out, s, len);
            out[len] = '\0';
            return true;
        }
        s += len + (s[len] == ' ');
    }
    return false;
}

/* Orders p's members by their weight for the link, highest first (ties to
 * the lower id, as hrw_pick): the first is the link's home, the next is its
 * home should the first leave, and so on. n is at most 64: a plain
 * insertion sort. */
static void ctl_pool_order(struct ctl_pool_rows *p, const uint8_t id[LINKID_LEN])
{
    for (size_t i = 0; i < p->n; i++)
        p->w[i] = hrw_weight(p->m[i].id, id, LINKID_LEN);
    for (size_t i = 1; i < p->n; i++) {
        for (size_t j = i; j > 0; j--) {
            bool before = p->w[j] > p->w[j - 1] ||
                          (p->w[j] == p->w[j - 1] && strcmp(p->m[j].id, p->m[j - 1].id) < 0);
            struct store_member tm;
            uint64_t tw;
            if (!before)
                break;
            tm = p->m[j], p->m[j] = p->m[j - 1], p->m[j - 1] = tm;
            tw = p->w[j], p->w[j] = p->w[j - 1], p->w[j - 1] = tw;
        }
    }
}

/* Tokens of a pool carry the live members' advertised addresses (D39):
 * the first address of each member in the link's rendezvous order, then
 * the second of each, and so on, up to TOKEN_MAX_ADDRS. So an agent's i-th
 * dial goes to the i-th member of its link's order, and a full token keeps
 * the members most likely to home the link. out->n stays 0 when the
 * registry has no live member (not a pool); -1 on a registry error
 * (reported). */
static int ctl_addrs_pool(struct ctl *c, const uint8_t id[LINKID_LEN], struct ctl_addrs *out)
{
    struct ctl_pool_rows *p = calloc(1, sizeof(*p));
    struct store *st = NULL;
    int r;

    if (p == NULL) {
        ctl_fail("out of memory");
        return -1;
    }
    r = ctl_store_open(c, 0, &st);
    if (r == -ENOENT) {
        free(p);
        return 0;
    }
    p->now = ctl_now_ms();
    p->timeout_ms = (int64_t)c->cfg.pool.member_timeout_ms;
    if (r == 0 && (r = store_members_load(st, ctl_pool_collect, p)) < 0)
        ctl_fail("pool members: %s", store_errmsg(st));
    store_close(st);
    if (r < 0) {
        free(p);
        return -1;
    }
    ctl_pool_order(p, id);
    for (size_t k = 0, more = 1; more && out->n < TOKEN_MAX_ADDRS; k++) {
        more = 0;
        for (size_t i = 0; i < p->n && out->n < TOKEN_MAX_ADDRS; i++) {
            char text[TOKEN_ADDR_MAX + 1];
            struct addr_spec a;
            if (!ctl_pool_addr(p->m[i].addrs, k, text, sizeof(text)))
                continue;
            more = 1;
            if (addr_parse(text, 0, &a) == 0)
                ctl_addrs_add(out, &a);
        }
    }
    if (out->n > 0)
        out->source = CTL_ADDRS_POOL;
    free(p);
    return 0;
}

/* What to set, said once for linkctl's message and relay info. */
#define CTL_ADDRS_HINT                                                                             \
    "set one of: --relay-addr HOST:PORT (linkctl), advertise = HOST:PORT in [relay] of the "       \
    "config (or linkrelay --advertise), a specific listen address (not 0.0.0.0, [::] or port 0)"

int ctl_token_addrs(struct ctl *c, const uint8_t link_id[LINKID_LEN], struct ctl_addrs *out)
{
    json_t *live;

    memset(out, 0, sizeof(*out));
    if (c->n_relay_addr == 0) {
        if (ctl_addrs_pool(c, link_id, out) != 0)
            return CTL_EXIT_FAIL;
        if (out->n > 0)
            return CTL_EXIT_OK;
    }
    live = c->n_relay_addr > 0 ? NULL : ctl_relay_status(c);
    ctl_addrs_pick(c, live, out);
    json_decref(live);
    if (out->n > 0) {
        return CTL_EXIT_OK;
    }
    if (out->relay_running) {
        return ctl_fail("no relay address for the tokens: the running relay advertises none and "
                        "listens only on wildcard addresses; " CTL_ADDRS_HINT);
    }
    return ctl_fail(
        "no relay address for the tokens: the relay is not running and the config "
        "(%s) has no advertise address and only wildcard listen addresses; " CTL_ADDRS_HINT,
        c->have_config ? c->config : "none, defaults");
}

int ctl_addrs_json(json_t *obj, const struct ctl_addrs *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < a->n; i++) {
        if (json_array_append_new(arr, json_string(a->addr[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (json_object_set_new(obj, "token_addrs", arr) != 0 ||
        json_object_set_new(obj, "token_addrs_source",
                            a->n > 0 ? json_string(ctl_addrs_source_name(a->source))
                                     : json_null()) != 0) {
        return -ENOMEM;
    }
    return 0;
}

void ctl_addrs_print(const char *label, const struct ctl_addrs *a)
{
    printf("%-15s", label);
    if (a->n == 0) {
        printf("none: " CTL_ADDRS_HINT "\n");
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        printf("%s%s", i ? ", " : "", a->addr[i]);
    }
    printf(" (from %s)\n", ctl_addrs_sources[a->source].text);
}
