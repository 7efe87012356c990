/* SPDX-License-Identifier: MIT */
/*
 * ctl_events — `linkctl events`: the event log from the registry. See
 * docs/linkctl.md.
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

static const char events_help[] =
    "usage: linkctl events [--link NAME|ID] [-n N] [--json]\n"
    "\n"
    "The event log from the registry, oldest first: the newest N events (default\n"
    "50; 0 = all), optionally of one link (also of a removed link, by id).\n";

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
    int r = ctl_simple_args(c, "events", events_help, argc, argv, names, vals, pos, 0);
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
