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
#include <string.h>

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

/* What to set, said once for linkctl's message and relay info. */
#define CTL_ADDRS_HINT                                                                             \
    "set one of: --relay-addr HOST:PORT (linkctl), advertise = HOST:PORT in [relay] of the "       \
    "config (or linkrelay --advertise), a specific listen address (not 0.0.0.0, [::] or port 0)"

int ctl_token_addrs(struct ctl *c, struct ctl_addrs *out)
{
    json_t *live = c->n_relay_addr > 0 ? NULL : ctl_relay_status(c);
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
