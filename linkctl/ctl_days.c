/* SPDX-License-Identifier: MIT */
/*
 * ctl_days — `linkctl link days NAME|ID [--days N]`: a link's streams and
 * bytes per UTC day, from the rows retention rolled up (stream_days) and the
 * stream rows still kept (docs/design.md D31). See docs/linkctl.md.
 */
#include "ctl.h"

#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAYS_DEFAULT 30
#define DAYS_MAX     36500

static const char days_help[] =
    "usage: linkctl link days NAME|ID [--days N] [--json]\n"
    "\n"
    "Streams and bytes of the link per UTC day, for the last N days (default 30,\n"
    "1..36500, today included), oldest first; days without streams are left out.\n"
    "Days older than accounting_retention come from the per-day sums retention\n"
    "keeps (linkrelay.conf(5) [accounting]), younger ones from the stream rows.\n";

struct days_ctx {
    json_t *arr; /* --json */
    size_t n;
};

static void day_text(int64_t day, char *out, size_t cap)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d", &tm) == 0)
        snprintf(out, cap, "day %lld", (long long)day);
}

static int days_one(void *arg, const struct store_day *d)
{
    struct days_ctx *x = arg;
    char date[32];

    day_text(d->day, date, sizeof(date));
    x->n++;
    if (x->arr != NULL)
        return json_array_append_new(x->arr,
                                     json_pack("{s:s, s:I, s:I, s:I}", "date", date, "streams",
                                               (json_int_t)d->streams, "bytes_a_to_b",
                                               (json_int_t)d->bytes_a_to_b, "bytes_b_to_a",
                                               (json_int_t)d->bytes_b_to_a)) == 0
                   ? 0
                   : -ENOMEM;
    if (x->n == 1)
        printf("%-10s  %10s  %16s  %16s\n", "date", "streams", "bytes a->b", "bytes b->a");
    printf("%-10s  %10llu  %16llu  %16llu\n", date, (unsigned long long)d->streams,
           (unsigned long long)d->bytes_a_to_b, (unsigned long long)d->bytes_b_to_a);
    return 0;
}

static int days_parse(const char *s, int64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > DAYS_MAX)
        return -EINVAL;
    *out = (int64_t)v;
    return 0;
}

int ctl_link_days(struct ctl *c, int argc, char **argv)
{
    static const char *const names[] = {"--days", NULL};
    const char *vals[1] = {NULL};
    const char *pos[1] = {NULL};
    struct days_ctx x = {NULL, 0};
    struct store *st = NULL;
    struct store_link l;
    int64_t days = DAYS_DEFAULT;
    int r = ctl_simple_args(c, "link days", days_help, argc, argv, names, vals, pos, 1);

    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (pos[0] == NULL)
        return ctl_usage_error("link days", "missing link name or id");
    if (vals[0] != NULL && days_parse(vals[0], &days) != 0)
        return ctl_usage_error("link days", "--days needs 1..%d, not '%s'", DAYS_MAX, vals[0]);
    if (ctl_open_link(c, pos[0], 0, &st, &l) < 0)
        return CTL_EXIT_FAIL;
    if (c->json && (x.arr = json_array()) == NULL) {
        store_close(st);
        return ctl_fail("out of memory");
    }
    r = store_link_days(st, l.id, (int64_t)time(NULL) / 86400 - (days - 1), days_one, &x);
    if (r < 0) {
        r = ctl_fail("%s", r == -ENOMEM ? "out of memory" : store_errmsg(st));
        json_decref(x.arr);
        store_close(st);
        return r;
    }
    store_close(st);
    if (c->json)
        return ctl_json_print(json_pack("{s:s, s:I, s:o}", "name", l.name, "days", (json_int_t)days,
                                        "per_day", x.arr));
    if (x.n == 0)
        printf("no streams in the last %lld days\n", (long long)days);
    return CTL_EXIT_OK;
}
