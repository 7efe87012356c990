/* SPDX-License-Identifier: MIT */
#include "ctl_policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgparse.h"
#include "cidr.h"
#include "keys.h"
#include "lrjson.h"

static const char set_help[] =
    "usage: linkctl link set NAME|ID [--allow CIDR|none]... [--allow-a CIDR|none]...\n"
    "                        [--allow-b CIDR|none]... [--rate R] [--rate-a-to-b R]\n"
    "                        [--rate-b-to-a R] [--quota BYTES/PERIOD|none] [--json]\n"
    "\n"
    "Changes a link's policy; a running relay applies it within a second.\n"
    "\n"
    "--allow CIDR (both sides), --allow-a CIDR, --allow-b CIDR: the source\n"
    "addresses the side's agent may connect from (control session and stream\n"
    "legs), as an IPv4 or IPv6 prefix (198.18.0.0/15, fd00::/8; an address alone\n"
    "is one address). Repeat for more, at most 16 per side. The lists of the\n"
    "sides named replace their old lists; 'none' empties them (every source is\n"
    "accepted again). Sessions and streams from a source no longer allowed are\n"
    "closed.\n"
    "\n"
    "--rate R (both directions), --rate-a-to-b R, --rate-b-to-a R (one direction,\n"
    "wins over --rate): bandwidth limits, applied to open streams too.\n"
    "R: bytes per second, plain or with K, M, G (powers of 1024: 64K = 65536),\n"
    "or bits per second with bit, kbit, Mbit, Gbit (powers of 1000: 100Mbit =\n"
    "12500000 bytes/s); an optional /s; 'none' removes the limit. From 1000\n"
    "bytes/s (8kbit) to 1099511627776 bytes/s (1024G). The relay shapes: it reads\n"
    "the sender no faster, so the sending application is slowed; nothing is\n"
    "dropped or reset.\n"
    "\n"
    "--quota BYTES/PERIOD: at most BYTES relayed per PERIOD (day or month, UTC),\n"
    "both directions together. BYTES is digits with an optional unit: kB, MB, GB,\n"
    "TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024). Past it, the\n"
    "link's streams are reset and new ones refused until the period ends.\n"
    "Changing the quota keeps what was used; 'none' removes the quota and its\n"
    "counter.\n";

/* The option at argv[i] if it is one of ours: the side mask it names, or 0. */
static unsigned allow_opt_sides(const char *arg)
{
    if (strcmp(arg, "--allow") == 0)
        return 3u;
    if (strcmp(arg, "--allow-a") == 0)
        return 1u;
    if (strcmp(arg, "--allow-b") == 0)
        return 2u;
    return 0;
}

/* Adds value to the sides in mask; none[] records 'none'. */
static int allow_add(const char *cmd, const char *opt, const char *value, unsigned mask,
                     struct ctl_allow_opt *o, bool none[2])
{
    struct cidr c;
    int r;

    if (strcmp(value, "none") == 0) {
        for (int side = 0; side < 2; side++) {
            if (mask & (1u << side))
                none[side] = true;
        }
        return CTL_EXIT_OK;
    }
    r = cidr_parse(value, &c);
    if (r != 0)
        return ctl_usage_error(cmd, "%s '%s': %s", opt, value, cidr_strerror(r));
    for (int side = 0; side < 2; side++) {
        bool dup = false;
        if (!(mask & (1u << side)))
            continue;
        for (uint32_t i = 0; i < o->lists.n[side]; i++)
            dup = dup || cidr_equal(&o->lists.cidr[side][i], &c);
        if (dup)
            continue;
        if (o->lists.n[side] == STORE_ALLOW_MAX)
            return ctl_usage_error(cmd, "%s '%s': side %s would have more than %d prefixes", opt,
                                   value, ctl_side_name(side), STORE_ALLOW_MAX);
        o->lists.cidr[side][o->lists.n[side]++] = c;
    }
    return CTL_EXIT_OK;
}

int ctl_allow_take(const char *cmd, int *argc, char **argv, struct ctl_allow_opt *o)
{
    bool none[2] = {false, false};
    int out = 1;

    memset(o, 0, sizeof(*o));
    for (int i = 1; i < *argc; i++) {
        unsigned mask = allow_opt_sides(argv[i]);
        int r;
        if (mask == 0) {
            argv[out++] = argv[i];
            continue;
        }
        if (i + 1 >= *argc)
            return ctl_usage_error(cmd, "option %s needs a value (a prefix, or none)", argv[i]);
        r = allow_add(cmd, argv[i], argv[i + 1], mask, o, none);
        if (r != CTL_EXIT_OK)
            return r;
        o->sides |= mask;
        i++;
    }
    *argc = out;
    argv[out] = NULL;
    for (int side = 0; side < 2; side++) {
        if (none[side] && o->lists.n[side] > 0)
            return ctl_usage_error(cmd, "side %s: 'none' and prefixes given together",
                                   ctl_side_name(side));
    }
    return CTL_EXIT_OK;
}

int ctl_allow_store(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                    const struct ctl_allow_opt *o)
{
    char detail[128];

    if (o->sides == 0)
        return CTL_EXIT_OK;
    ctl_event_detail("allowlist set", detail, sizeof(detail));
    if (store_allow_set(st, id, o->sides, &o->lists, detail) < 0)
        return ctl_fail("%s", store_errmsg(st));
    return CTL_EXIT_OK;
}

json_t *ctl_allow_json(const struct store_allow *a)
{
    json_t *v = json_object();

    for (int side = 0; v != NULL && side < 2; side++) {
        json_t *arr = json_array();
        char key[16];
        for (uint32_t i = 0; arr != NULL && i < a->n[side]; i++) {
            char t[CIDR_TEXT_SIZE];
            if (cidr_format(&a->cidr[side][i], t, sizeof(t)) == 0)
                json_array_append_new(arr, json_string(t));
        }
        if (arr == NULL || json_object_set_new(v, ctl_side_name(side), arr) != 0) {
            json_decref(v);
            return NULL;
        }
        if (a->invalid[side]) {
            snprintf(key, sizeof(key), "%s_invalid", ctl_side_name(side));
            json_object_set_new(v, key, json_true());
        }
    }
    return v;
}

void ctl_allow_print(const struct store_allow *a)
{
    for (int side = 0; side < 2; side++) {
        printf("allow %s:       ", ctl_side_name(side));
        if (!store_allow_limited(a, side))
            printf("any");
        for (uint32_t i = 0; i < a->n[side]; i++) {
            char t[CIDR_TEXT_SIZE];
            if (cidr_format(&a->cidr[side][i], t, sizeof(t)) == 0)
                printf("%s%s", i > 0 ? " " : "", t);
        }
        if (a->invalid[side])
            printf("%s(invalid rows in the registry: nothing else is allowed)",
                   a->n[side] > 0 ? " " : "");
        printf("\n");
    }
}

/* ---- the byte quota ---- */

int ctl_policy_quota_parse(const char *cmd, const char *text, struct ctl_quota *out)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"kB", 1000ULL},
                 {"MB", 1000000ULL},
                 {"GB", 1000000000ULL},
                 {"TB", 1000000000000ULL},
                 {"KiB", 1ULL << 10},
                 {"MiB", 1ULL << 20},
                 {"GiB", 1ULL << 30},
                 {"TiB", 1ULL << 40}};
    struct ctl_quota q = {0, 0, STORE_QUOTA_DAY};
    const char *slash = strchr(text, '/');
    char num[32], *end;
    enum store_quota_period p;
    size_t k, n;

    if (strcmp(text, "none") == 0) {
        q.clear = 1;
        *out = q;
        return 0;
    }
    n = slash != NULL ? (size_t)(slash - text) : 0;
    if (slash == NULL || n == 0 || n >= sizeof(num) || store_quota_period_parse(slash + 1, &p)) {
        return ctl_usage_error(cmd,
                               "invalid --quota '%s': use BYTES/day, BYTES/month or none "
                               "(e.g. 10GB/month)",
                               text);
    }
    memcpy(num, text, n);
    num[n] = '\0';
    errno = 0;
    unsigned long long v = num[0] >= '0' && num[0] <= '9' ? strtoull(num, &end, 10) : 0;
    if (num[0] < '0' || num[0] > '9') {
        return ctl_usage_error(cmd, "invalid --quota '%s': BYTES must start with digits", text);
    }
    if (errno != 0) {
        return ctl_usage_error(cmd, "invalid --quota '%s': more than %" PRIu64 " bytes", text,
                               STORE_QUOTA_MAX);
    }
    for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (strcmp(end, units[k].name) == 0) {
            break;
        }
    }
    if (k == sizeof(units) / sizeof(units[0])) {
        return ctl_usage_error(cmd,
                               "invalid --quota '%s': unknown unit '%s' (kB, MB, GB, TB, KiB, "
                               "MiB, GiB, TiB)",
                               text, end);
    }
    if (v > STORE_QUOTA_MAX / units[k].mult) {
        return ctl_usage_error(cmd, "invalid --quota '%s': more than %" PRIu64 " bytes", text,
                               STORE_QUOTA_MAX);
    }
    q.limit = (uint64_t)v * units[k].mult;
    q.period = p;
    *out = q;
    return 0;
}

int ctl_policy_quota_store(struct store *st, const uint8_t *id, const struct ctl_quota *q)
{
    char detail[160], what[96];
    int r;

    if (q->clear) {
        ctl_event_detail("quota removed", detail, sizeof(detail));
        r = store_quota_clear(st, id, detail);
    } else {
        snprintf(what, sizeof(what), "quota %" PRIu64 " bytes per %s", q->limit,
                 store_quota_period_name(q->period));
        ctl_event_detail(what, detail, sizeof(detail));
        r = store_quota_set(st, id, q->limit, q->period, detail);
    }
    if (r < 0) {
        return ctl_fail("%s", store_errmsg(st));
    }
    return CTL_EXIT_OK;
}

/* What the registry holds, as of now_ms: a counter of a period that is over
 * counts 0 in the current one (the relay rolls it within a second). */
static void quota_view(const struct store_quota *q, int64_t now_ms, uint64_t *used, int64_t *start,
                       int64_t *resets)
{
    int64_t cur = store_quota_period_start(q->period, now_ms);

    *used = q->used;
    *start = q->start_ms;
    if (q->start_ms == 0 || store_quota_period_next(q->period, q->start_ms) <= now_ms) {
        *used = 0;
        *start = cur;
    }
    *resets = store_quota_period_next(q->period, *start);
}

json_t *ctl_policy_quota_json(const struct store_link *l)
{
    uint64_t used;
    int64_t start, resets;

    if (!l->has_quota) {
        return json_null();
    }
    quota_view(&l->quota, ctl_now_ms(), &used, &start, &resets);
    return json_pack("{s:I, s:s, s:I, s:I, s:I}", "limit_bytes", lrjson_u64(l->quota.limit),
                     "period", store_quota_period_name(l->quota.period), "used_bytes",
                     lrjson_u64(used), "period_start_ms", (json_int_t)start, "resets_ms",
                     (json_int_t)resets);
}

void ctl_policy_quota_print(const struct store_link *l)
{
    char when[40];
    uint64_t used;
    int64_t start, resets;

    if (!l->has_quota) {
        printf("quota:         none\n");
        return;
    }
    quota_view(&l->quota, ctl_now_ms(), &used, &start, &resets);
    ctl_fmt_time(resets, when, sizeof(when));
    printf("quota:         %" PRIu64 " of %" PRIu64 " bytes per %s used%s; resets at %s\n", used,
           l->quota.limit, store_quota_period_name(l->quota.period),
           used >= l->quota.limit ? " (exceeded: streams refused)" : "", when);
}

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

static int set_print(struct ctl *c, const struct store_link *l, const struct store_allow *a,
                     const uint64_t rate[2])
{
    char id[LINKID_TEXT_SIZE], ra[CTL_RATE_TEXT], rb[CTL_RATE_TEXT];

    linkid_encode(l->id, id);
    if (c->json) {
        json_t *v = json_pack("{s:s, s:o, s:o, s:o}", "id", id, "name", lrjson_str(l->name),
                              "allow", ctl_allow_json(a), "quota", ctl_policy_quota_json(l));
        if (v != NULL && ctl_rate_json(v, rate) != 0) {
            json_decref(v);
            v = NULL;
        }
        return ctl_json_print(v);
    }
    printf("link %s updated\n", l->name);
    ctl_allow_print(a);
    ctl_rate_text(rate[0], ra, sizeof(ra));
    ctl_rate_text(rate[1], rb, sizeof(rb));
    printf("rate a->b:     %s\nrate b->a:     %s\n", ra, rb);
    ctl_policy_quota_print(l);
    return CTL_EXIT_OK;
}

int ctl_link_set(struct ctl *c, int argc, char **argv)
{
    static const char *const names[] = {"--rate", "--rate-a-to-b", "--rate-b-to-a", "--quota",
                                        NULL};
    const char *vals[4] = {NULL, NULL, NULL, NULL};
    struct ctl_allow_opt allow;
    struct ctl_rate_opts ro;
    struct store_allow now;
    struct store *st = NULL;
    struct store_link l;
    const char *pos[1] = {NULL};
    uint64_t rate[2];
    bool rate_given;
    struct ctl_quota quota;
    int r = ctl_allow_take("link set", &argc, argv, &allow);

    if (r != CTL_EXIT_OK)
        return r;
    r = ctl_simple_args(c, "link set", set_help, argc, argv, names, vals, pos, 1);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (pos[0] == NULL)
        return ctl_usage_error("link set", "missing link name or id");
    ro = (struct ctl_rate_opts){vals[0], vals[1], vals[2]};
    rate_given = ro.both != NULL || ro.a_to_b != NULL || ro.b_to_a != NULL;
    if (allow.sides == 0 && !rate_given && vals[3] == NULL)
        return ctl_usage_error("link set", "nothing to set (--allow, --allow-a, --allow-b, "
                                           "--rate, --rate-a-to-b, --rate-b-to-a, --quota)");
    if (vals[3] != NULL && (r = ctl_policy_quota_parse("link set", vals[3], &quota)) != 0)
        return r;
    if (ctl_open_link(c, pos[0], 0, &st, &l) < 0)
        return CTL_EXIT_FAIL;
    /* Every value is checked before anything is written. */
    if (ctl_rate_apply("link set", &ro, l.rate, rate) != 0) {
        store_close(st);
        return CTL_EXIT_USAGE;
    }
    r = ctl_allow_store(st, l.id, &allow);
    if (r == CTL_EXIT_OK && rate_given)
        r = ctl_rate_store(st, &l, rate);
    if (r == CTL_EXIT_OK && vals[3] != NULL)
        r = ctl_policy_quota_store(st, l.id, &quota);
    if (r == CTL_EXIT_OK && (store_allow_get(st, l.id, &now) < 0 || store_quota_get(st, &l) < 0))
        r = ctl_fail("%s", store_errmsg(st));
    store_close(st);
    if (r != CTL_EXIT_OK)
        return r;
    r = set_print(c, &l, &now, rate);
    fflush(stdout);
    ctl_admin_sync(c);
    return r;
}
