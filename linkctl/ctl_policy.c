// SPDX-License-Identifier: MIT
/*
 * ctl_policy — per-link policy (issue 18): `linkctl link set NAME|ID
 * [options]` and the policy options of `link add`, each feature's parsing,
 * validation and store call in functions named after it. Here: bandwidth
 * limits (--rate, --rate-a-to-b, --rate-b-to-a; docs/design.md D28).
 */
#include "ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cfgparse.h"
#include "token.h"
#include "lrjson.h"
#include "store.h"

static const char set_help[] =
    "usage: linkctl link set NAME|ID [--rate R] [--rate-a-to-b R] [--rate-b-to-a R] [--json]\n"
    "\n"
    "Changes a link's policy; the running relay applies it within a second, to\n"
    "streams already open too.\n"
    "  --rate R          bandwidth limit of both directions\n"
    "  --rate-a-to-b R   of the direction a -> b only (wins over --rate)\n"
    "  --rate-b-to-a R   of the direction b -> a only (wins over --rate)\n"
    "R: bytes per second, plain or with K, M, G (powers of 1024: 64K = 65536),\n"
    "or bits per second with bit, kbit, Mbit, Gbit (powers of 1000: 100Mbit =\n"
    "12500000 bytes/s); an optional /s; 'none' removes the limit. From 1000\n"
    "bytes/s (8kbit) to 1099511627776 bytes/s (1024G). The relay shapes: it reads\n"
    "the sender no faster, so the sending application is slowed; nothing is\n"
    "dropped or reset.\n";

/* The three rate options' values, NULL when absent. */
struct ctl_rate_opts {
    const char *both, *a_to_b, *b_to_a;
};

/* R of a rate option: 0 for none. Prints the error and returns -1 when bad. */
static int ctl_rate_parse(const char *cmd, const char *opt, const char *text, uint64_t *out)
{
    int rc;

    if (strcmp(text, "none") == 0) {
        *out = 0;
        return 0;
    }
    rc = cfgparse_byterate(text, STORE_RATE_MIN, STORE_RATE_MAX, out);
    if (rc == -ERANGE) {
        ctl_usage_error(cmd, "%s %s: out of range: %llu..%llu bytes/s (8kbit..1024G), or none", opt,
                        text, STORE_RATE_MIN, STORE_RATE_MAX);
        return -1;
    }
    if (rc != 0) {
        ctl_usage_error(cmd,
                        "%s %s: not a rate: use bytes/s (12500000, 64K, 12M), bits/s (100Mbit, "
                        "1Gbit) or none",
                        opt, text);
        return -1;
    }
    return 0;
}

/* The new rates: cur (the link's) changed by the options given. 0, or -1
 * after printing why (nothing to be changed then). */
static int ctl_rate_apply(const char *cmd, const struct ctl_rate_opts *o, const uint64_t cur[2],
                          uint64_t out[2])
{
    uint64_t v;

    out[0] = cur[0];
    out[1] = cur[1];
    if (o->both != NULL) {
        if (ctl_rate_parse(cmd, "--rate", o->both, &v) != 0)
            return -1;
        out[0] = out[1] = v;
    }
    if (o->a_to_b != NULL && ctl_rate_parse(cmd, "--rate-a-to-b", o->a_to_b, &out[0]) != 0)
        return -1;
    if (o->b_to_a != NULL && ctl_rate_parse(cmd, "--rate-b-to-a", o->b_to_a, &out[1]) != 0)
        return -1;
    return 0;
}

int ctl_rate_opts_parse(const char *both, const char *a_to_b, const char *b_to_a, uint64_t out[2])
{
    static const uint64_t none[2] = {0, 0};
    const struct ctl_rate_opts o = {both, a_to_b, b_to_a};

    return ctl_rate_apply("link add", &o, none, out);
}

void ctl_rate_text(uint64_t rate, char *out, size_t cap)
{
    char bits[32];

    if (rate == 0) {
        snprintf(out, cap, "none");
        return;
    }
    cfgparse_fmt_bitrate(rate, bits, sizeof(bits));
    snprintf(out, cap, "%" PRIu64 " bytes/s (%s)", rate, bits);
}

int ctl_rate_json(json_t *obj, const uint64_t rate[2])
{
    json_t *r = json_object();

    for (int dir = 0; r != NULL && dir < 2; dir++) {
        json_t *v = rate[dir] != 0 ? json_integer((json_int_t)rate[dir]) : json_null();
        if (json_object_set_new(r, dir == 0 ? "a_to_b" : "b_to_a", v) != 0) {
            json_decref(r);
            r = NULL;
        }
    }

    return r != NULL ? json_object_set_new(obj, "rate", r) : -1;
}

/* The store call of --rate: the new rates and an event "rate". */
static int ctl_rate_store(struct store *st, const struct store_link *l, const uint64_t rate[2])
{
    char detail[STORE_DETAIL_MAX + 1], a[CTL_RATE_TEXT], b[CTL_RATE_TEXT], by[64];

    ctl_rate_text(rate[0], a, sizeof(a));
    ctl_rate_text(rate[1], b, sizeof(b));
    ctl_event_detail("set", by, sizeof(by));
    snprintf(detail, sizeof(detail), "a->b %s, b->a %s; %s", a, b, by);
    if (store_link_set_rate(st, l->id, rate, detail) < 0)
        return ctl_fail("%s", store_errmsg(st));
    return CTL_EXIT_OK;
}

static int ctl_set_print(struct ctl *c, const struct store_link *l, const uint64_t rate[2])
{
    char id[LINKID_TEXT_SIZE], a[CTL_RATE_TEXT], b[CTL_RATE_TEXT];

    linkid_encode(l->id, id);
    if (c->json) {
        json_t *v =
            json_pack("{s:s, s:o, s:s}", "id", id, "name", lrjson_str(l->name), "result", "set");
        if (v != NULL && ctl_rate_json(v, rate) != 0) {
            json_decref(v);
            v = NULL;
        }
        return ctl_json_print(v);
    }
    ctl_rate_text(rate[0], a, sizeof(a));
    ctl_rate_text(rate[1], b, sizeof(b));
    printf("link %s (%s): rate a->b %s, b->a %s\n", l->name, id, a, b);
    return CTL_EXIT_OK;
}

int ctl_link_set(struct ctl *c, int argc, char **argv)
{
    static const char *const names[] = {"--rate", "--rate-a-to-b", "--rate-b-to-a", NULL};
    const char *vals[3] = {NULL, NULL, NULL}, *pos[1] = {NULL};
    const struct ctl_argspec spec = {"link set", set_help, names, vals, pos, 1, "link name or id"};
    struct ctl_rate_opts o;
    struct store *st = NULL;
    struct store_link l;
    uint64_t rate[2];
    int r = ctl_args(c, &spec, argc, argv);

    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    o = (struct ctl_rate_opts){vals[0], vals[1], vals[2]};
    if (o.both == NULL && o.a_to_b == NULL && o.b_to_a == NULL)
        return ctl_usage_error("link set", "nothing to set (--rate, --rate-a-to-b, --rate-b-to-a)");
    if (ctl_open_link(c, pos[0], 0, &st, &l) < 0)
        return CTL_EXIT_FAIL;
    if (ctl_rate_apply("link set", &o, l.rate, rate) != 0) {
        store_close(st);
        return CTL_EXIT_USAGE;
    }
    r = ctl_rate_store(st, &l, rate);
    store_close(st);
    if (r != CTL_EXIT_OK)
        return r;
    r = ctl_set_print(c, &l, rate);
    fflush(stdout);
    ctl_admin_sync(c);
    return r;
}
