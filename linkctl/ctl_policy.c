// SPDX-License-Identifier: MIT
/*
 * ctl_policy — per-link policy (issue 18): `linkctl link set NAME|ID
 * [options]`, the same options on `link add`, and what `link show` prints of
 * them. One group of functions per setting, named after it: the byte quota
 * (--quota BYTES/PERIOD, docs/design.md D29). A setting is parsed and checked
 * in full before anything is written; a bad value changes nothing.
 */
#include "ctl.h"

#include "lrjson.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char set_help[] =
    "usage: linkctl link set NAME|ID [--quota BYTES/PERIOD|none] [--json]\n"
    "\n"
    "Changes a link's policy; a running relay applies it within a second.\n"
    "\n"
    "--quota BYTES/PERIOD  at most BYTES relayed per PERIOD (day or month, UTC),\n"
    "                      both directions together. BYTES is digits with an\n"
    "                      optional unit: kB, MB, GB, TB (powers of 1000) or KiB,\n"
    "                      MiB, GiB, TiB (powers of 1024). Past it, the link's\n"
    "                      streams are reset and new ones refused until the\n"
    "                      period ends. Changing the quota keeps what was used.\n"
    "--quota none          removes the quota and its counter.\n";

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

/* ---- link set ---- */

int ctl_link_set(struct ctl *c, int argc, char **argv)
{
    static const char *const names[] = {"--quota", NULL};
    const char *vals[1] = {NULL}, *pos[1] = {NULL};
    const struct ctl_argspec spec = {"link set", set_help, names, vals, pos, 1, "link name or id"};
    struct store *st = NULL;
    struct store_link l;
    struct ctl_quota quota;
    char id[LINKID_TEXT_SIZE];
    int r = ctl_args(c, &spec, argc, argv);

    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (vals[0] == NULL) {
        return ctl_usage_error("link set", "nothing to set (--quota)");
    }
    r = ctl_policy_quota_parse("link set", vals[0], &quota);
    if (r != 0) {
        return r;
    }
    if (ctl_open_link(c, pos[0], 0, &st, &l) < 0) {
        return CTL_EXIT_FAIL;
    }
    r = ctl_policy_quota_store(st, l.id, &quota);
    if (r == CTL_EXIT_OK) {
        r = store_quota_get(st, &l) < 0 ? ctl_fail("%s", store_errmsg(st)) : CTL_EXIT_OK;
    }
    store_close(st);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    linkid_encode(l.id, id);
    if (c->json) {
        r = ctl_json_print(json_pack("{s:s, s:o, s:o}", "id", id, "name", lrjson_str(l.name),
                                     "quota", ctl_policy_quota_json(&l)));
    } else {
        printf("link %s (%s): policy set\n", l.name, id);
        ctl_policy_quota_print(&l);
    }
    fflush(stdout);
    ctl_admin_sync(c);
    return r;
}
