/* SPDX-License-Identifier: MIT */
/*
 * ctl_probe — `linkctl probe NAME|ID`: why a link does or does not come up,
 * in plain words, and what to change (docs/linkctl.md "probe"). It reads the
 * registry (the link, its events, its accounting), asks the running relay
 * (`status`, `links`) and tries a TCP connection to every address the
 * tokens and the relay's advertise list point at. It changes nothing.
 */
#include "ctl.h"

#include "adminc.h"
#include "fmt.h"
#include "keys.h"
#include "reach.h"
#include "relaykey.h"
#include "store.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBE_EVENTS_LINK 500  /* newest events of the link read */
#define PROBE_EVENTS_ALL  2000 /* newest events read for address-level failures */
#define PROBE_FAILS_MAX   8    /* address-level failure kinds shown per side */
#define PROBE_ADDRS_MAX   (2 * TOKEN_MAX_ADDRS)
#define PROBE_ROTATED_MAX 16 /* keys rotated out remembered per side */

static const char probe_help[] =
    "usage: linkctl probe NAME|ID [--json]\n"
    "\n"
    "Says why a link does or does not come up, and what to change: the relay\n"
    "running and listening where the tokens point, the link enabled or revoked,\n"
    "each side connected now (from where, since when) or last seen, the relay's\n"
    "last refusal of a side's key and why (a wrong key, the other side's, one\n"
    "rotated out), handshake failures (a wrong relay key), an unknown relay key id\n"
    "and admission refusals from the sides' addresses, whether the advertised\n"
    "addresses accept a TCP connection from here, and the last accounting row.\n"
    "Exit 0 when both sides are online, 1 otherwise, 2 on a usage error.\n";

/* Pre-authentication failures from one address (events "auth_fail"). */
struct probe_fail {
    char addr[STORE_ADDR_MAX + 1];
    char cause[STORE_DETAIL_MAX + 1];
    uint64_t count;
    int64_t last_ms;
};

struct probe_side {
    /* Live, from the relay's `links`. */
    int online;
    int64_t since_ms;
    char addr[STORE_ADDR_MAX + 1];
    const json_t *authfail; /* borrowed from the live reply, or NULL */
    /* From the event log. */
    int64_t connect_ms, disconnect_ms, refused_revoked_ms, keyfail_ms;
    char connect_addr[STORE_ADDR_MAX + 1];
    char keyfail[STORE_DETAIL_MAX + 1], keyfail_addr[STORE_ADDR_MAX + 1];
    uint64_t keyfails;
    /* Refused sources (events "source_not_allowed", D27): the last one. */
    int64_t srcfail_ms;
    char srcfail_addr[STORE_ADDR_MAX + 1];
    uint64_t srcfails;
    /* Keys the side's "rotated" events retired: fingerprint and time. */
    struct {
        char fp[STORE_KEY_FP_SIZE];
        int64_t ms;
    } rotated[PROBE_ROTATED_MAX];
    size_t n_rotated;
    struct probe_fail fails[PROBE_FAILS_MAX];
    size_t n_fails;
};

struct probe_addr {
    char addr[TOKEN_ADDR_MAX + 1];
    int rc;
    char why[96];
};

struct probe {
    struct ctl *c;
    struct store_link l;
    char id[LINKID_TEXT_SIZE];
    json_t *status, *links; /* the relay's replies, NULL when it is not running */
    struct ctl_addrs tok;
    struct probe_addr addrs[PROBE_ADDRS_MAX]; /* every address tried once */
    size_t n_addrs;
    struct probe_side side[2];
    int64_t revoked_ms, last_acct_ms;
    json_t *problems; /* [{code, side, text, fix}] */
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2026-12-06 22:00:00Z (3m04s ago)" */
static void when(int64_t ms, char *out, size_t cap)
{
    char t[32], d[32];

    fmt_time(ms, t, sizeof(t));
    fmt_duration((now_ms() - ms) / 1000, d, sizeof(d));
    snprintf(out, cap, "%s (%s ago)", t, d);
}

/* The side an event's detail names ("side a", "side b: bad_key"), or -1. */
static int event_side(const char *detail)
{
    if (strncmp(detail, "side ", 5) != 0 || (detail[5] != 'a' && detail[5] != 'b'))
        return -1;
    return detail[5] - 'a';
}

static int link_event(void *arg, const struct store_event *e)
{
    struct probe *p = arg;
    int s = event_side(e->detail);
    struct probe_side *sd = s >= 0 ? &p->side[s] : NULL;

    if (strcmp(e->kind, "revoked") == 0)
        p->revoked_ms = e->ts_ms;
    if (sd == NULL)
        return 0;
    if (strcmp(e->kind, "connect") == 0) {
        sd->connect_ms = e->ts_ms;
        snprintf(sd->connect_addr, sizeof(sd->connect_addr), "%s", e->addr);
    } else if (strcmp(e->kind, "disconnect") == 0) {
        sd->disconnect_ms = e->ts_ms;
    } else if (strcmp(e->kind, "refused_revoked") == 0) {
        sd->refused_revoked_ms = e->ts_ms;
    } else if (strcmp(e->kind, "source_not_allowed") == 0) {
        sd->srcfail_ms = e->ts_ms;
        sd->srcfails += e->count;
        snprintf(sd->srcfail_addr, sizeof(sd->srcfail_addr), "%s", e->addr);
    } else if (strcmp(e->kind, "rotated") == 0) {
        /* "side b key rotated by ...; old key 0123456789abcdef" */
        const char *fp = strstr(e->detail, "; old key ");
        if (fp != NULL && sd->n_rotated < PROBE_ROTATED_MAX) {
            snprintf(sd->rotated[sd->n_rotated].fp, STORE_KEY_FP_SIZE, "%s", fp + 10);
            sd->rotated[sd->n_rotated++].ms = e->ts_ms;
        }
    } else if (strcmp(e->kind, "auth_fail") == 0) {
        sd->keyfail_ms = e->ts_ms;
        sd->keyfails += e->count;
        /* "side b: bad_key" */
        snprintf(sd->keyfail, sizeof(sd->keyfail), "%s",
                 e->detail + 6 + strspn(e->detail + 6, ": "));
        snprintf(sd->keyfail_addr, sizeof(sd->keyfail_addr), "%s", e->addr);
    }
    return 0;
}

/* "127.0.0.1:5555" / "[::1]:5555" -> the host alone, as auth_fail rows
 * carry it. */
static void host_of(const char *addr, char *out, size_t cap)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon != NULL ? (size_t)(colon - addr) : strlen(addr);

    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    snprintf(out, cap, "%.*s", (int)n, addr);
}

/* Address-level refusals (no link named yet): a wrong relay key fails the
 * handshake, an unknown key id the preamble, an admission limit the
 * connection. Counted for an offline side when they come from the host it
 * last connected from (any host if it never did) after that connect. */
static int all_event(void *arg, const struct store_event *e)
{
    /* Not closed_early: probe's own reachability check is one. */
    static const char *const causes[] = {"handshake", "key_id", "limit", "timeout", "preamble"};
    struct probe *p = arg;
    bool known = false;

    if (strcmp(e->kind, "auth_fail") != 0 || e->has_link)
        return 0;
    for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++)
        known = known || strcmp(e->detail, causes[i]) == 0;
    for (int s = 0; known && s < 2; s++) {
        struct probe_side *sd = &p->side[s];
        char host[STORE_ADDR_MAX + 1];
        size_t i;

        host_of(sd->connect_addr, host, sizeof(host));
        if (sd->online || e->ts_ms < sd->connect_ms ||
            (sd->connect_addr[0] != '\0' && strcmp(host, e->addr) != 0))
            continue;
        for (i = 0; i < sd->n_fails; i++) {
            if (strcmp(sd->fails[i].addr, e->addr) == 0 &&
                strcmp(sd->fails[i].cause, e->detail) == 0)
                break;
        }
        if (i == sd->n_fails) {
            if (sd->n_fails == PROBE_FAILS_MAX)
                continue;
            sd->n_fails++;
            snprintf(sd->fails[i].addr, sizeof(sd->fails[i].addr), "%s", e->addr);
            snprintf(sd->fails[i].cause, sizeof(sd->fails[i].cause), "%s", e->detail);
        }
        sd->fails[i].count += e->count;
        sd->fails[i].last_ms = e->ts_ms;
    }
    return 0;
}

/* Tries addr once per run (a token address is often also advertised). */
static const struct probe_addr *reach(struct probe *p, const char *addr)
{
    struct probe_addr *a;

    for (size_t i = 0; i < p->n_addrs; i++) {
        if (strcmp(p->addrs[i].addr, addr) == 0)
            return &p->addrs[i];
    }
    if (p->n_addrs == PROBE_ADDRS_MAX)
        return NULL;
    a = &p->addrs[p->n_addrs++];
    snprintf(a->addr, sizeof(a->addr), "%s", addr);
    a->rc = reach_tcp(addr, REACH_TIMEOUT_MS, a->why, sizeof(a->why));
    return a;
}

static void live_side(struct probe *p, const json_t *entry, int s)
{
    const json_t *v = json_object_get(entry, s == 0 ? "a" : "b");
    struct probe_side *sd = &p->side[s];

    sd->online = json_is_true(json_object_get(v, "online"));
    sd->since_ms = ctl_json_int(v, "since_ms");
    snprintf(sd->addr, sizeof(sd->addr), "%s", ctl_json_str(v, "addr", ""));
    if (json_is_object(json_object_get(v, "auth_fail")))
        sd->authfail = json_object_get(v, "auth_fail");
}

/* Everything probe looks at, before any judgement. */
static int probe_gather(struct probe *p, struct store *st)
{
    json_t *item;
    size_t i;
    struct store_totals t;

    linkid_encode(p->l.id, p->id);
    p->status = ctl_relay_status(p->c);
    if (p->status != NULL && ctl_admin(p->c, "links", &p->links) != 0)
        p->links = NULL;
    json_array_foreach(json_object_get(p->links, "links"), i, item)
    {
        if (strcmp(ctl_json_str(item, "id", ""), p->id) == 0) {
            live_side(p, item, 0);
            live_side(p, item, 1);
        }
    }
    if (store_events_list(st, p->l.id, PROBE_EVENTS_LINK, link_event, p) < 0 ||
        store_events_list(st, NULL, PROBE_EVENTS_ALL, all_event, p) < 0 ||
        store_link_totals(st, p->l.id, &t) < 0)
        return ctl_fail("%s", store_errmsg(st));
    p->last_acct_ms = t.last_closed_ms;
    ctl_addrs_pick(p->c, p->status, &p->tok);
    for (i = 0; i < p->tok.n; i++)
        reach(p, p->tok.addr[i]);
    json_array_foreach(json_object_get(p->status, "advertise"), i, item)
    {
        if (json_is_string(item))
            reach(p, json_string_value(item));
    }
    return CTL_EXIT_OK;
}

/* The relay's current public key (lrpub1 text) and its id, for a fix that
 * names them: from the running relay, else from its key file (a relay that
 * is down still has one); "(see linkctl relay info)" and -1 when neither. */
static void relay_key_text(const struct probe *p, char *pub, size_t cap, long long *id)
{
    struct relaykey *k;
    char err[256], text[KEY_TEXT_SIZE];

    snprintf(pub, cap, "%s", "(see linkctl relay info)");
    *id = -1;
    if (p->status != NULL) {
        snprintf(pub, cap, "%s", ctl_json_str(p->status, "relay_key", pub));
        *id = ctl_json_int(p->status, "relay_key_id");
        return;
    }
    k = sodium_malloc(sizeof(*k));
    if (k == NULL)
        return;
    if (relaykey_load(p->c->key_file, k, err, sizeof(err)) == 0) {
        (void)relaykey_settle(k, now_ms());
        key_pub_encode(k->current.pub, text);
        snprintf(pub, cap, "%s", text);
        *id = k->current.id;
    }
    sodium_free(k);
}

/* "s" after a count that is not one: "1 connection", "2 connections". */
static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

/* Adds one finding: code (a stable word for scripts), side (-1: none), a
 * sentence saying what is wrong and one saying what to change. */
__attribute__((format(printf, 5, 6))) static void
problem(struct probe *p, const char *code, int side, const char *fix, const char *fmt, ...)
{
    char text[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_array_append_new(p->problems, json_pack("{s:s, s:s?, s:s, s:s}", "code", code, "side",
                                                 side < 0 ? NULL : ctl_side_name(side), "text",
                                                 text, "fix", fix));
}

/* The relay's key refusal for side s (live, else the newest event) after
 * the side's last connect: cause, count, time, address, and when the
 * refused key was one the side's "rotated" events retired, that time (else
 * 0; the relay names the refused key live only); false if none. */
static bool key_refused(const struct probe_side *sd, const char **cause, uint64_t *count,
                        int64_t *at, const char **addr, int64_t *rotated_ms)
{
    *rotated_ms = 0;
    if (sd->authfail != NULL) {
        const char *fp = ctl_json_str(sd->authfail, "key_fp", "");
        *cause = ctl_json_str(sd->authfail, "cause", "bad_key");
        *count = (uint64_t)ctl_json_int(sd->authfail, "count");
        *at = ctl_json_int(sd->authfail, "at_ms");
        *addr = ctl_json_str(sd->authfail, "addr", "?");
        /* Newest first: the last time that key was retired. */
        for (size_t i = 0; *rotated_ms == 0 && fp[0] != '\0' && i < sd->n_rotated; i++) {
            if (strcmp(sd->rotated[i].fp, fp) == 0)
                *rotated_ms = sd->rotated[i].ms;
        }
    } else if (sd->keyfails > 0) {
        *cause = sd->keyfail;
        *count = sd->keyfails;
        *at = sd->keyfail_ms;
        *addr = sd->keyfail_addr;
    } else {
        return false;
    }
    return *at >= sd->connect_ms;
}

static void why_fails(struct probe *p, int s)
{
    const struct probe_side *sd = &p->side[s];
    char t[80], fix[256];

    for (size_t i = 0; i < sd->n_fails; i++) {
        const struct probe_fail *f = &sd->fails[i];
        when(f->last_ms, t, sizeof(t));
        if (strcmp(f->cause, "handshake") == 0) {
            char pub[KEY_TEXT_SIZE + 32];
            long long id;
            relay_key_text(p, pub, sizeof(pub), &id);
            if (id >= 0)
                snprintf(fix, sizeof(fix),
                         "give the agent the relay's current key %s (key id %lld): a token "
                         "from linkctl carries it",
                         pub, id);
            else
                snprintf(fix, sizeof(fix),
                         "give the agent the relay's current key %s: a token from linkctl "
                         "carries it",
                         pub);
            problem(p, "relay_key_mismatch", s, fix,
                    "%llu handshake%s from %s failed, the last at %s: an agent with a wrong "
                    "relay key looks like this",
                    (unsigned long long)f->count, plural(f->count), f->addr, t);
        } else if (strcmp(f->cause, "key_id") == 0) {
            problem(p, "relay_key_id_unknown", s,
                    "give the agent a token made now (the relay's key id changed)",
                    "%llu connection%s from %s named a relay key id this relay does not have, "
                    "the last at %s",
                    (unsigned long long)f->count, plural(f->count), f->addr, t);
        } else if (strcmp(f->cause, "limit") == 0) {
            problem(p, "rate_limited", s,
                    "see `linkctl status` (limits hit); raise the limit in [limits] of "
                    "linkrelay.conf, or find what else connects from that address",
                    "%llu connection%s from %s %s refused by an admission limit, the last at %s",
                    (unsigned long long)f->count, plural(f->count), f->addr,
                    f->count == 1 ? "was" : "were", t);
        } else {
            problem(p, "handshake_incomplete", s,
                    "check that this address runs linkagent against this relay and that "
                    "nothing on the way cuts the connection",
                    "%llu connection%s from %s did not finish the handshake (%s), the last at %s",
                    (unsigned long long)f->count, plural(f->count), f->addr, f->cause, t);
        }
    }
}

static void why_side(struct probe *p, int s)
{
    const struct probe_side *sd = &p->side[s];
    const char *name = ctl_side_name(s), *cause, *addr;
    char t[80], t2[80], fix[256];
    uint64_t count;
    int64_t at, rotated_ms;

    if (sd->online)
        return;
    if (!p->l.enabled && sd->refused_revoked_ms > 0) {
        when(sd->refused_revoked_ms, t, sizeof(t));
        snprintf(fix, sizeof(fix), "linkctl link enable %s", p->l.name);
        problem(p, "refused_revoked", s, fix,
                "the relay refused side %s because the link is revoked, the last time at %s", name,
                t);
    }
    if (sd->srcfail_ms > 0 && sd->srcfail_ms >= sd->connect_ms) {
        when(sd->srcfail_ms, t, sizeof(t));
        snprintf(fix, sizeof(fix),
                 "let the agent connect from an allowed network, or allow its address: "
                 "`linkctl link set %s --allow-%s PREFIX` (`linkctl link show` lists them)",
                 p->l.name, name);
        problem(p, "source_not_allowed", s, fix,
                "the relay refused side %s's source address (source not allowed), the last "
                "time at %s from %s (%llu refusals recorded)",
                name, t, sd->srcfail_addr, (unsigned long long)sd->srcfails);
    }
    if (key_refused(sd, &cause, &count, &at, &addr, &rotated_ms)) {
        when(at, t, sizeof(t));
        if (strcmp(cause, "wrong_side") == 0) {
            snprintf(fix, sizeof(fix), "give that agent side %s's token, not side %s's", name,
                     ctl_side_name(1 - s));
            problem(p, "wrong_side", s, fix,
                    "the relay refused side %s %llu times, the last at %s from %s: the agent "
                    "presents side %s's key as side %s",
                    name, (unsigned long long)count, t, addr, ctl_side_name(1 - s), name);
        } else if (strcmp(cause, "bad_key") == 0 && rotated_ms > 0) {
            when(rotated_ms, t2, sizeof(t2));
            snprintf(fix, sizeof(fix),
                     "give that agent the token made when side %s's key was rotated (or a new "
                     "one: `linkctl link rotate %s --side %s`)",
                     name, p->l.name, name);
            problem(p, "key_rotated_out", s, fix,
                    "the relay refused side %s's key %llu times, the last at %s from %s: the "
                    "agent holds a key that was rotated out (at %s)",
                    name, (unsigned long long)count, t, addr, t2);
        } else {
            snprintf(fix, sizeof(fix),
                     "give that agent side %s's current key: its token (or key file) is old "
                     "or wrong; `linkctl link rotate %s --side %s` makes a new token",
                     name, p->l.name, name);
            problem(p, "key_refused", s, fix,
                    "the relay refused side %s's key %llu times, the last at %s from %s: the "
                    "agent holds a wrong link key, or one rotated out",
                    name, (unsigned long long)count, t, addr);
        }
    }
    why_fails(p, s);
    if (sd->connect_ms == 0) {
        problem(p, "side_offline", s,
                "start the agent for this side with its token; `linkagent status` on its host "
                "says what it sees",
                "side %s is offline and has never connected", name);
        return;
    }
    when(sd->connect_ms, t, sizeof(t));
    when(sd->disconnect_ms, t2, sizeof(t2));
    problem(p, "side_offline", s,
            "check that the agent on that host runs and reaches the relay "
            "(`linkagent status` there)",
            "side %s is offline; it was last connected at %s from %s%s%s", name, t,
            sd->connect_addr, sd->disconnect_ms >= sd->connect_ms ? ", gone at " : "",
            sd->disconnect_ms >= sd->connect_ms ? t2 : "");
}

static void why_addrs(struct probe *p)
{
    const json_t *adv = json_object_get(p->status, "advertise"), *a;
    size_t i;

    for (size_t k = 0; k < p->n_addrs; k++) {
        const struct probe_addr *pa = &p->addrs[k];
        bool advertised = false;
        if (pa->rc == 0)
            continue;
        json_array_foreach(adv, i, a)
        {
            advertised =
                advertised || (json_is_string(a) && strcmp(json_string_value(a), pa->addr) == 0);
        }
        if (advertised)
            problem(p, "advertised_unreachable", -1,
                    "correct `advertise` in linkrelay.conf: agents fail over to these addresses",
                    "the relay advertises %s to agents, but it does not accept a TCP connection "
                    "from here (%s)",
                    pa->addr, pa->why);
        else
            problem(p, "token_addr_unreachable", -1,
                    "make the relay listen there, or set `advertise` (or --relay-addr) to where "
                    "it listens",
                    "tokens point at %s, but it does not accept a TCP connection from here (%s)",
                    pa->addr, pa->why);
    }
}

static void probe_judge(struct probe *p)
{
    char t[80], fix[128];

    if (p->status == NULL)
        problem(p, "relay_not_running", -1,
                "start linkrelay (systemctl start linkrelay) and read its log",
                "the relay is not running: nothing answers on %s", p->c->admin_socket);
    else if (p->tok.n == 0)
        problem(p, "no_token_addrs", -1, "set `advertise` in linkrelay.conf",
                "the relay gives tokens no address: it advertises none and listens only on "
                "wildcard addresses");
    if (!p->l.enabled) {
        when(p->revoked_ms, t, sizeof(t));
        snprintf(fix, sizeof(fix), "linkctl link enable %s (if it was revoked by mistake)",
                 p->l.name);
        problem(p, "link_revoked", -1, fix, "the link is revoked%s%s: the relay refuses both sides",
                p->revoked_ms > 0 ? " since " : "", p->revoked_ms > 0 ? t : "");
    }
    why_addrs(p);
    why_side(p, 0);
    why_side(p, 1);
}

static json_t *ms_or_null(int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

static json_t *addrs_json(const struct probe *p, const json_t *list, const struct ctl_addrs *tok)
{
    json_t *arr = json_array();
    size_t n = tok != NULL ? tok->n : json_array_size(list);

    for (size_t i = 0; arr != NULL && i < n; i++) {
        const char *a = tok != NULL ? tok->addr[i] : json_string_value(json_array_get(list, i));
        for (size_t k = 0; a != NULL && k < p->n_addrs; k++) {
            if (strcmp(p->addrs[k].addr, a) == 0)
                json_array_append_new(arr, json_pack("{s:s, s:b, s:s}", "addr", a, "reachable",
                                                     p->addrs[k].rc == 0, "why", p->addrs[k].why));
        }
    }
    return arr;
}

static json_t *side_json(const struct probe_side *sd)
{
    json_t *fails = json_array();
    const char *cause, *addr;
    uint64_t count;
    int64_t at, rotated_ms;
    json_t *kr = json_null();

    for (size_t i = 0; fails != NULL && i < sd->n_fails; i++)
        json_array_append_new(fails,
                              json_pack("{s:s, s:s, s:I, s:I}", "addr", sd->fails[i].addr, "cause",
                                        sd->fails[i].cause, "count", (json_int_t)sd->fails[i].count,
                                        "last_ms", (json_int_t)sd->fails[i].last_ms));
    if (key_refused(sd, &cause, &count, &at, &addr, &rotated_ms))
        kr = json_pack("{s:s, s:I, s:I, s:s, s:s?, s:o}", "cause", cause, "count",
                       (json_int_t)count, "at_ms", (json_int_t)at, "addr", addr, "key_fp",
                       sd->authfail != NULL ? ctl_json_str(sd->authfail, "key_fp", NULL) : NULL,
                       "rotated_out_ms", ms_or_null(rotated_ms));
    return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "online", sd->online, "since_ms",
                     sd->online ? json_integer(sd->since_ms) : json_null(), "addr",
                     sd->online ? lrjson_str(sd->addr) : json_null(), "last_connect_ms",
                     ms_or_null(sd->connect_ms), "last_connect_addr",
                     sd->connect_ms > 0 ? lrjson_str(sd->connect_addr) : json_null(),
                     "last_disconnect_ms", ms_or_null(sd->disconnect_ms), "key_refused", kr,
                     "address_failures", fails);
}

static int probe_json(struct probe *p, bool up)
{
    const json_t *st = p->status;
    json_t *relay = st == NULL ? json_pack("{s:b}", "running", 0)
                               : json_pack("{s:b, s:s, s:O, s:O, s:s, s:I}", "running", 1,
                                           "version", ctl_json_str(st, "version", "?"), "listen",
                                           json_object_get(st, "listen"), "advertise",
                                           json_object_get(st, "advertise"), "relay_key",
                                           ctl_json_str(st, "relay_key", "?"), "relay_key_id",
                                           (json_int_t)ctl_json_int(st, "relay_key_id"));

    return ctl_json_print(json_pack(
        "{s:{s:s, s:o, s:b}, s:b, s:o, s:{s:s?, s:o}, s:o, s:{s:o, s:o}, s:o, s:O}", "link", "id",
        p->id, "name", lrjson_str(p->l.name), "enabled", p->l.enabled, "up", up, "relay", relay,
        "token_addrs", "source", p->tok.n > 0 ? ctl_addrs_source_name(p->tok.source) : NULL,
        "addrs", addrs_json(p, NULL, &p->tok), "advertised",
        addrs_json(p, json_object_get(st, "advertise"), NULL), "sides", "a", side_json(&p->side[0]),
        "b", side_json(&p->side[1]), "last_accounting_ms", ms_or_null(p->last_acct_ms), "problems",
        p->problems));
}

static void print_addrs(const char *label, const json_t *arr)
{
    const json_t *a;
    size_t i;

    printf("%-15s", label);
    if (json_array_size(arr) == 0)
        printf("-");
    json_array_foreach(arr, i, a)
    {
        printf("%s%s %s", i > 0 ? ", " : "", ctl_json_str(a, "addr", "?"),
               json_is_true(json_object_get(a, "reachable")) ? "reachable"
                                                             : ctl_json_str(a, "why", "?"));
    }
    printf("\n");
}

static void print_side(const struct probe *p, int s)
{
    const struct probe_side *sd = &p->side[s];
    char t[80], t2[80];

    printf("side %s:        ", ctl_side_name(s));
    if (sd->online) {
        when(sd->since_ms, t, sizeof(t));
        printf("online since %s from %s\n", t, sd->addr);
    } else if (sd->connect_ms == 0) {
        printf("offline, never connected\n");
    } else {
        when(sd->connect_ms, t, sizeof(t));
        when(sd->disconnect_ms, t2, sizeof(t2));
        printf("offline; last connected %s from %s%s%s\n", t, sd->connect_addr,
               sd->disconnect_ms >= sd->connect_ms ? ", gone " : "",
               sd->disconnect_ms >= sd->connect_ms ? t2 : "");
    }
}

static void probe_text(struct probe *p, bool up)
{
    const json_t *st = p->status, *pr;
    json_t *tok = addrs_json(p, NULL, &p->tok);
    json_t *adv = addrs_json(p, json_object_get(st, "advertise"), NULL);
    char t[80];
    size_t i;

    printf("link %s (%s): %s\n", p->l.name, p->id,
           up ? "up, both sides online" : "DOWN, not both sides online");
    if (st == NULL)
        printf("relay:         not running (nothing answers on %s)\n", p->c->admin_socket);
    else
        printf("relay:         running, version %s, relay key id %lld\n",
               ctl_json_str(st, "version", "?"), ctl_json_int(st, "relay_key_id"));
    ctl_print_addr_list("listen:", json_object_get(st, "listen"));
    print_addrs("token addrs:", tok);
    print_addrs("advertised:", adv);
    when(p->revoked_ms, t, sizeof(t));
    printf("link:          %s%s%s\n", p->l.enabled ? "enabled" : "revoked",
           !p->l.enabled && p->revoked_ms > 0 ? " since " : "",
           !p->l.enabled && p->revoked_ms > 0 ? t : "");
    print_side(p, 0);
    print_side(p, 1);
    when(p->last_acct_ms, t, sizeof(t));
    printf("accounting:    %s%s\n", p->last_acct_ms > 0 ? "last stream row " : "no stream yet",
           p->last_acct_ms > 0 ? t : "");
    if (json_array_size(p->problems) == 0) {
        printf("\nno problems found\n");
    } else {
        printf("\nproblems:\n");
        json_array_foreach(p->problems, i, pr)
        {
            printf("  - %s\n    fix: %s\n", ctl_json_str(pr, "text", "?"),
                   ctl_json_str(pr, "fix", "?"));
        }
    }
    json_decref(tok);
    json_decref(adv);
}

int ctl_probe_main(struct ctl *c, int argc, char **argv)
{
    const char *pos[1] = {NULL};
    struct store *st = NULL;
    struct probe *p;
    bool up;
    int r = ctl_simple_args(c, "probe", probe_help, argc, argv, NULL, NULL, pos, 1);

    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (pos[0] == NULL)
        return ctl_usage_error("probe", "missing the link: NAME or ID");
    r = ctl_store_open(c, 0, &st);
    if (r == -ENOENT)
        return ctl_fail("no such link: %s (no registry yet)", pos[0]);
    if (r < 0)
        return CTL_EXIT_FAIL;
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->problems = json_array()) == NULL) {
        free(p);
        store_close(st);
        return ctl_fail("out of memory");
    }
    p->c = c;
    r = store_link_find(st, pos[0], &p->l);
    if (r < 0)
        r = ctl_fail("%s", store_errmsg(st));
    else
        r = probe_gather(p, st);
    store_close(st);
    if (r == CTL_EXIT_OK) {
        probe_judge(p);
        up = p->side[0].online && p->side[1].online;
        if (c->json)
            r = probe_json(p, up);
        else
            probe_text(p, up);
        if (r == CTL_EXIT_OK && !up)
            r = CTL_EXIT_FAIL;
    }
    json_decref(p->problems);
    json_decref(p->status);
    json_decref(p->links);
    free(p);
    return r;
}
