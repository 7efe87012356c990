/* SPDX-License-Identifier: MIT */
#include "statusjson.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "acct.h"
#include "admin.h"
#include "history.h"
#include "index.h"
#include "keys.h"
#include "lrjson.h"
#include "relay.h"

struct statusjson_events {
    const struct relay *r;
    json_t *arr;
    bool failed;
};

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

char *statusjson_render(const struct relay *r, json_t *status, size_t *len)
{
    json_t *links = admin_links_json(r->index);
    struct timespec ts;
    char *text = NULL;
    json_t *v;

    clock_gettime(CLOCK_REALTIME, &ts);
    v = json_pack("{s:I, s:o, s:o, s:o, s:o}", "now_ms",
                  (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, "status", status, "links",
                  json_incref(json_object_get(links, "links")), "history",
                  history_json(&r->history), "events", statusjson_events(r));
    json_decref(links);
    if (v != NULL)
        text = json_dumps(v, LRJSON_DUMP_FLAGS);
    json_decref(v);
    if (text != NULL)
        *len = strlen(text);
    return text;
}
