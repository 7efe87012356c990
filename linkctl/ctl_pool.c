/* SPDX-License-Identifier: MIT */
/*
 * ctl_pool — `linkctl pool [--json]` and `linkctl pool forget ID`: the
 * members of the relay pool sharing this registry (docs/design.md D34),
 * read from the registry's members table. A member is alive while its last
 * heartbeat is within member_timeout of this linkctl's config. See
 * docs/linkctl.md.
 */
#include "ctl.h"

#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char pool_help[] =
    "usage: linkctl pool [--json]\n"
    "       linkctl pool forget ID\n"
    "\n"
    "The relays of the pool that share this registry (linkrelay.conf(5) [pool]):\n"
    "each member's id, whether it is alive (its last heartbeat within\n"
    "member_timeout), the age of that heartbeat, its load (control sessions,\n"
    "streams), its advertised addresses, and each address that failed the\n"
    "member's last self-check with the reason. A dead member's links have moved\n"
    "to the live ones. `forget` removes the row of a member that is dead.\n";

struct pool_ctx {
    struct ctl *c;
    json_t *arr; /* --json */
    size_t n, alive;
    int64_t now;
};

static json_t *pool_addrs_json(const char *addrs)
{
    json_t *a = json_array();
    char one[STORE_MEMBER_ADDRS_MAX + 1];

    for (const char *s = addrs; a != NULL && *s != '\0';) {
        size_t len = strcspn(s, " ");
        if (len > 0) {
            memcpy(one, s, len);
            one[len] = '\0';
            json_array_append_new(a, lrjson_str(one));
        }
        s += len + (s[len] == ' ');
    }
    return a;
}

/* The next entry of a member's addrs_failing ("host:port=reason", space
 * separated) into addr and reason; false at the end. A reason is after the
 * last '=' ("unknown" without one). */
static bool pool_next_failing(const char **s, char *addr, size_t acap, char *reason, size_t rcap)
{
    const char *eq = NULL;
    size_t len;

    while (**s == ' ')
        (*s)++;
    if (**s == '\0')
        return false;
    len = strcspn(*s, " ");
    for (const char *q = *s; q < *s + len; q++)
        if (*q == '=')
            eq = q;
    if (eq != NULL) {
        snprintf(addr, acap, "%.*s", (int)(eq - *s), *s);
        snprintf(reason, rcap, "%.*s", (int)(*s + len - eq - 1), eq + 1);
    } else {
        snprintf(addr, acap, "%.*s", (int)len, *s);
        snprintf(reason, rcap, "unknown");
    }
    *s += len;
    return true;
}

static json_t *pool_failing_json(const char *failing)
{
    json_t *a = json_array();
    char addr[STORE_MEMBER_FAILING_MAX + 1], reason[STORE_MEMBER_FAILING_MAX + 1];

    for (const char *s = failing;
         a != NULL && pool_next_failing(&s, addr, sizeof(addr), reason, sizeof(reason));)
        json_array_append_new(
            a, json_pack("{s:o, s:o}", "addr", lrjson_str(addr), "reason", lrjson_str(reason)));
    return a;
}

static int pool_one(void *arg, const struct store_member *m)
{
    struct pool_ctx *x = arg;
    int64_t age = x->now - m->beat_ms;
    bool alive = age <= (int64_t)x->c->cfg.pool.member_timeout_ms;
    char agetext[32], addr[STORE_MEMBER_FAILING_MAX + 1], reason[STORE_MEMBER_FAILING_MAX + 1];

    x->n++;
    x->alive += alive;
    if (x->arr != NULL)
        return json_array_append_new(
                   x->arr,
                   json_pack("{s:o, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "id",
                             lrjson_str(m->id), "alive", alive, "addrs_ok", m->addrs_ok != 0,
                             "beat_ms", (json_int_t)m->beat_ms, "beat_age_ms",
                             (json_int_t)(age < 0 ? 0 : age), "started_ms",
                             (json_int_t)m->started_ms, "sessions", (json_int_t)m->sessions,
                             "streams", (json_int_t)m->streams, "addrs", pool_addrs_json(m->addrs),
                             "addrs_failing", pool_failing_json(m->addrs_failing))) == 0
                   ? 0
                   : -ENOMEM;
    if (x->n == 1)
        printf("%-20s  %-5s  %9s  %8s  %8s  %s\n", "member", "state", "heartbeat", "sessions",
               "streams", "addresses");
    snprintf(agetext, sizeof(agetext), "%.1fs ago", (double)(age < 0 ? 0 : age) / 1000.0);
    printf("%-20s  %-5s  %9s  %8llu  %8llu  %s%s\n", m->id, alive ? "alive" : "dead", agetext,
           (unsigned long long)m->sessions, (unsigned long long)m->streams, m->addrs,
           m->addrs_ok ? "" : " (every address failing: takes no links)");
    for (const char *s = m->addrs_failing;
         pool_next_failing(&s, addr, sizeof(addr), reason, sizeof(reason));)
        printf("%-20s  address %s fails its self-check: %s\n", "", addr, reason);
    return 0;
}

struct pool_find {
    const char *id;
    struct store_member m;
    bool found;
};

static int pool_find_one(void *arg, const struct store_member *m)
{
    struct pool_find *f = arg;

    if (strcmp(m->id, f->id) == 0) {
        f->m = *m;
        f->found = true;
    }
    return 0;
}

/* Removes a dead member's row; an alive one is refused (it would write its
 * row again at its next heartbeat anyway). */
static int pool_forget(struct ctl *c, struct store *st, const char *id)
{
    struct pool_find f = {.id = id};
    int64_t age;
    int r = store_members_load(st, pool_find_one, &f);

    if (r < 0)
        return ctl_fail("%s", store_errmsg(st));
    if (!f.found)
        return ctl_fail("no such member: %s", id);
    age = ctl_now_ms() - f.m.beat_ms;
    if (age <= (int64_t)c->cfg.pool.member_timeout_ms)
        return ctl_fail("member %s is alive (heartbeat %.1fs ago); stop it first", id,
                        (double)(age < 0 ? 0 : age) / 1000.0);
    r = store_member_forget(st, id);
    if (r < 0)
        return ctl_fail("%s", store_errmsg(st));
    if (c->json)
        return ctl_json_print(json_pack("{s:o, s:b}", "id", lrjson_str(id), "forgotten", 1));
    printf("member %s forgotten\n", id);
    return CTL_EXIT_OK;
}

int ctl_pool_main(struct ctl *c, int argc, char **argv)
{
    const char *pos[1] = {NULL};
    struct pool_ctx x = {c, NULL, 0, 0, ctl_now_ms()};
    struct store *st = NULL;
    bool forget = argc >= 2 && strcmp(argv[1], "forget") == 0;
    int r = forget ? ctl_simple_args(c, "pool forget", pool_help, argc - 1, argv + 1, NULL, NULL,
                                     pos, 1)
                   : ctl_simple_args(c, "pool", pool_help, argc, argv, NULL, NULL, pos, 0);

    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    r = ctl_store_open(c, 0, &st);
    if (r < 0 && r != -ENOENT)
        return CTL_EXIT_FAIL;
    if (forget) {
        r = st != NULL ? pool_forget(c, st, pos[0]) : ctl_fail("no such member: %s", pos[0]);
        store_close(st);
        return r;
    }
    if (c->json && (x.arr = json_array()) == NULL) {
        store_close(st);
        return ctl_fail("out of memory");
    }
    if (st != NULL && store_members_load(st, pool_one, &x) < 0) {
        r = ctl_fail("%s", store_errmsg(st));
        json_decref(x.arr);
        store_close(st);
        return r;
    }
    store_close(st);
    if (c->json)
        return ctl_json_print(json_pack("{s:I, s:I, s:o}", "member_timeout_ms",
                                        (json_int_t)c->cfg.pool.member_timeout_ms, "alive",
                                        (json_int_t)x.alive, "members", x.arr));
    if (x.n == 0)
        printf("no pool members (no relay with [pool] member_id uses this registry)\n");
    return CTL_EXIT_OK;
}
