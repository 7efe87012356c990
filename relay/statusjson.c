/* SPDX-License-Identifier: MIT */
#include "statusjson.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acct.h"
#include "admin.h"
#include "admit.h"
#include "history.h"
#include "index.h"
#include "keys.h"
#include "lrjson.h"
#include "relay.h"
#include "stats.h"

struct statusjson_events {
    const struct relay *r;
    json_t *arr;
    bool failed;
};

static json_t *statusjson_counters(const uint64_t *n, int count, const char *(*name)(int))
{
    json_t *o = json_object();

    for (int i = 0; o != NULL && i < count; i++) {
        if (json_object_set_new(o, name(i), json_integer(lrjson_u64(n[i]))) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

static const char *statusjson_fail_name(int i)
{
    return stats_fail_name((enum stats_fail)i);
}

static const char *statusjson_admit_name(int i)
{
    return admit_name((enum admit_kind)i);
}

json_t *statusjson_failures(const uint64_t *fail)
{
    return statusjson_counters(fail, STATS_FAIL_COUNT, statusjson_fail_name);
}

json_t *statusjson_limits_hit(const uint64_t *hit)
{
    return statusjson_counters(hit, ADMIT_COUNT, statusjson_admit_name);
}

static void statusjson_event(void *arg, const struct store_event *e)
{
    struct statusjson_events *x = arg;
    const struct index_link *l = e->has_link ? index_find(x->r->index, e->link_id) : NULL;
    char id[LINKID_TEXT_SIZE] = "";
    json_t *v;

    if (e->has_link)
        linkid_encode(e->link_id, id);
    v = json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:I}", "t_ms", (json_int_t)e->ts_ms, "kind",
                  e->kind, "link", id, "link_name", lrjson_str(l != NULL ? l->name : ""), "addr",
                  lrjson_str(e->addr), "detail", lrjson_str(e->detail), "count",
                  (json_int_t)e->count);
    if (v == NULL || json_array_append_new(x->arr, v) != 0)
        x->failed = true;
}

static json_t *statusjson_events(const struct relay *r)
{
    struct statusjson_events x = {r, json_array(), false};

    if (x.arr == NULL)
        return NULL;
    acct_recent_foreach(r->acct, statusjson_event, &x);
    if (x.failed) {
        json_decref(x.arr);
        return NULL;
    }
    return x.arr;
}

static bool statusjson_online(const json_t *l, const char *side)
{
    return json_is_true(json_object_get(json_object_get(l, side), "online"));
}

/* Online (either side) before offline, then by name. */
static int statusjson_cmp(const void *x, const void *y)
{
    const json_t *a = *(const json_t *const *)x, *b = *(const json_t *const *)y;
    int ona = statusjson_online(a, "a") || statusjson_online(a, "b");
    int onb = statusjson_online(b, "a") || statusjson_online(b, "b");
    const char *na = json_string_value(json_object_get(a, "name"));
    const char *nb = json_string_value(json_object_get(b, "name"));

    if (ona != onb)
        return onb - ona;
    return strcmp(na != NULL ? na : "", nb != NULL ? nb : "");
}

size_t statusjson_cap_links(json_t *links, size_t max, size_t *up)
{
    size_t n = json_array_size(links), i;
    json_t **v;

    *up = 0;
    for (i = 0; i < n; i++) {
        const json_t *l = json_array_get(links, i);
        *up += statusjson_online(l, "a") && statusjson_online(l, "b");
    }
    if (n <= max)
        return 0;
    v = malloc(n * sizeof(*v));
    if (v == NULL) {
        /* Out of memory: cut without choosing. */
        while (json_array_size(links) > max)
            json_array_remove(links, json_array_size(links) - 1);
        return n - max;
    }
    for (i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(links, i));
    qsort(v, n, sizeof(*v), statusjson_cmp);
    json_array_clear(links);
    for (i = 0; i < n; i++) {
        if (i < max)
            json_array_append(links, v[i]);
        json_decref(v[i]);
    }
    free(v);
    return n - max;
}

char *statusjson_render(const struct relay *r, json_t *status, size_t *len)
{
    json_t *links = admin_links_json(r->index), *arr = json_object_get(links, "links");
    size_t total = json_array_size(arr), up = 0, omitted;
    struct timespec ts;
    char *text = NULL;
    json_t *v;

    omitted = statusjson_cap_links(arr, STATUSJSON_MAX_LINKS, &up);
    clock_gettime(CLOCK_REALTIME, &ts);
    v = json_pack("{s:I, s:o, s:I, s:I, s:I, s:O, s:o, s:o}", "now_ms",
                  (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, "status", status,
                  "links_total", (json_int_t)total, "links_up", (json_int_t)up, "links_omitted",
                  (json_int_t)omitted, "links", arr, "history", history_json(&r->history), "events",
                  statusjson_events(r));
    json_decref(links);
    if (v != NULL)
        text = json_dumps(v, LRJSON_DUMP_FLAGS);
    json_decref(v);
    if (text != NULL)
        *len = strlen(text);
    return text;
}
