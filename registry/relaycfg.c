/* SPDX-License-Identifier: MIT */
#include "relaycfg.h"

#include "db.h"
#include "store.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000ULL
#define MIB (1024ULL * 1024)

enum kind {
    K_LISTEN,
    K_ADVERTISE,
    K_PATH,
    K_MODE,
    K_LOGLEVEL,
    K_DURATION,
    K_SIZE,
    K_COUNT,
    K_RATE,
    K_MAXCONNS, /* "auto" or a count */
    K_METRICS,  /* "off" or a numeric HOST:PORT */
    K_ONOFF,    /* "on" or "off", stored as a uint32_t 1 or 0 */
    K_BYTERATE, /* "none" or bytes per second (D28), stored as a uint64_t */
    K_DAYS,     /* whole days, "90d" or "90"; 0 = for ever */
    K_MEMBER,   /* "off" or a member id: 1..64 of [A-Za-z0-9._-] */
};

/* One key of the file: where it goes in struct relaycfg and its range. */
struct keydef {
    const char *section;
    const char *name;
    enum kind kind;
    size_t off;
    uint64_t min, max;
};

#define LIM(f) (offsetof(struct relaycfg, limits) + offsetof(struct relaycfg_limits, f))
#define RET(f) (offsetof(struct relaycfg, retention) + offsetof(struct relaycfg_retention, f))
#define POL(f) (offsetof(struct relaycfg, pool) + offsetof(struct relaycfg_pool, f))

static const struct keydef keys[] = {
    {"relay", "listen", K_LISTEN, 0, 0, 0},
    {"relay", "advertise", K_ADVERTISE, 0, 0, 0},
    {"relay", "advertise_check_interval", K_DURATION,
     offsetof(struct relaycfg, advertise_check_interval_ms), 0, 86400 * SEC},
    {"relay", "advertise_check_timeout", K_DURATION,
     offsetof(struct relaycfg, advertise_check_timeout_ms), 100, 300 * SEC},
    {"relay", "state_dir", K_PATH, offsetof(struct relaycfg, state_dir), 0, 0},
    {"relay", "key_file", K_PATH, offsetof(struct relaycfg, key_file), 0, 0},
    {"relay", "database", K_PATH, offsetof(struct relaycfg, database), 0, 0},
    {"relay", "registry_timeout", K_DURATION, offsetof(struct relaycfg, registry_timeout_ms),
     1 * SEC, 3600 * SEC},
    {"relay", "link_linger", K_DURATION, offsetof(struct relaycfg, link_linger_ms), 1 * SEC,
     86400 * SEC},
    {"relay", "admin_socket", K_PATH, offsetof(struct relaycfg, admin_socket), 0, 0},
    {"relay", "admin_socket_mode", K_MODE, 0, 0, 0},
    {"relay", "log_level", K_LOGLEVEL, 0, 0, 0},
    {"relay", "metrics_listen", K_METRICS, 0, 0, 0},
    {"relay", "metrics_per_link", K_ONOFF, offsetof(struct relaycfg, metrics_per_link), 0, 1},
    {"relay", "metrics_max_links", K_COUNT, offsetof(struct relaycfg, metrics_max_links), 1, 10000},
    {"limits", "handshake_timeout", K_DURATION, LIM(handshake_timeout_ms), 100, 300 * SEC},
    {"limits", "preauth_bytes", K_SIZE, LIM(preauth_bytes), 256, MIB},
    {"limits", "max_pending", K_COUNT, LIM(max_pending), 1, 1000000},
    {"limits", "max_pending_per_ip", K_COUNT, LIM(max_pending_per_ip), 1, 1000000},
    {"limits", "conn_rate_per_ip", K_RATE, LIM(conn_rate_per_ip), 1, 1000000},
    {"limits", "conn_burst_per_ip", K_COUNT, LIM(conn_burst_per_ip), 1, 10000000},
    {"limits", "max_conns_per_ip", K_COUNT, LIM(max_conns_per_ip), 1, 10000000},
    {"limits", "max_conns", K_MAXCONNS, LIM(max_conns), 1, 10000000},
    {"limits", "max_streams_per_link", K_COUNT, LIM(max_streams_per_link), 1, 65535},
    {"limits", "open_rate_per_link", K_RATE, LIM(open_rate_per_link), 0, 1000000},
    {"limits", "open_burst_per_link", K_COUNT, LIM(open_burst_per_link), 1, 10000000},
    {"limits", "keepalive", K_DURATION, LIM(keepalive_ms), 1 * SEC, 3600 * SEC},
    {"limits", "dead_after", K_DURATION, LIM(dead_after_ms), 2 * SEC, 65535 * SEC},
    {"limits", "ticket_expiry", K_DURATION, LIM(ticket_expiry_ms), 100, 600 * SEC},
    {"limits", "splice_buffer", K_SIZE, LIM(splice_buffer), 4096, 64 * MIB},
    {"limits", "halfclose_timeout", K_DURATION, LIM(halfclose_timeout_ms), 1 * SEC, 86400 * SEC},
    {"limits", "write_stall_timeout", K_DURATION, LIM(write_stall_timeout_ms), 1 * SEC,
     86400 * SEC},
    {"limits", "zero_copy_streams", K_COUNT, LIM(zero_copy_streams), 0, 65536},
    {"limits", "zero_copy_buffer", K_SIZE, LIM(zero_copy_buffer), 256 * 1024, 64 * MIB},
    {"limits", "drain_timeout", K_DURATION, LIM(drain_timeout_ms), 0, 3600 * SEC},
    {"limits", "max_rate", K_BYTERATE, LIM(max_rate), STORE_RATE_MIN, STORE_RATE_MAX},
    {"limits", "held_total", K_SIZE, LIM(held_total), MIB, 2048 * MIB},
    {"limits", "held_floor", K_SIZE, LIM(held_floor), 4096, 64 * MIB},
    {"accounting", "accounting_retention", K_DAYS, RET(accounting_days), 0,
     RELAYCFG_RETENTION_DAYS_MAX},
    {"accounting", "events_retention", K_DAYS, RET(events_days), 0, RELAYCFG_RETENTION_DAYS_MAX},
    {"pool", "member_id", K_MEMBER, 0, 0, 0},
    {"pool", "member_timeout", K_DURATION, POL(member_timeout_ms), 300, 600 * SEC},
    {"pool", "heartbeat", K_DURATION, POL(heartbeat_ms), 50, 200 * SEC},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct parse_ctx {
    struct relaycfg cfg;
    int line[NKEYS]; /* where each key was last set; 0 = default */
    int seen_relay, seen_limits, seen_accounting, seen_pool;
};

void relaycfg_defaults(struct relaycfg *cfg)
{
    struct relaycfg_limits *l = &cfg->limits;

    memset(cfg, 0, sizeof(*cfg));
    cfg->n_listen = 2;
    (void)!addr_parse("0.0.0.0:7700", 0, &cfg->listen[0]);
    (void)!addr_parse("[::]:7700", 0, &cfg->listen[1]);
    snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/linkrelay");
    snprintf(cfg->admin_socket, sizeof(cfg->admin_socket), "%s", RELAYCFG_ADMIN_SOCKET_UNSET);
    cfg->admin_socket_mode = 0600;
    cfg->log_level = LOG_LEVEL_INFO;
    cfg->metrics_max_links = 100;
    cfg->advertise_check_interval_ms = 60000;
    cfg->registry_timeout_ms = 10000;
    cfg->link_linger_ms = 10000;
    cfg->advertise_check_timeout_ms = 5000;
    l->handshake_timeout_ms = 10000;
    l->preauth_bytes = 4096;
    l->max_pending = 1024;
    l->max_pending_per_ip = 64;
    l->conn_rate_per_ip = 200;
    l->conn_burst_per_ip = 400;
    l->max_conns_per_ip = 4096;
    l->max_conns = 0;
    l->max_streams_per_link = 256;
    l->open_rate_per_link = 5000;
    l->open_burst_per_link = 10000;
    l->keepalive_ms = 25000;
    l->dead_after_ms = 90000;
    l->ticket_expiry_ms = 10000;
    l->splice_buffer = 256 * 1024;
    l->halfclose_timeout_ms = 60000;
    l->write_stall_timeout_ms = 30000;
    l->zero_copy_streams = 256;
    l->zero_copy_buffer = 1024 * 1024;
    l->drain_timeout_ms = 30000;
    l->held_total = 256 * 1024 * 1024;
    l->held_floor = 64 * 1024;
    cfg->retention.accounting_days = 90;
    cfg->retention.events_days = 90;
    cfg->pool.member_timeout_ms = 2000;
    cfg->pool.heartbeat_ms = 500;
    /* key_file and database default to files in state_dir (see finish()). */
}

static int on_section(void *user, const char *section, int line, struct cfgparse_error *err)
{
    struct parse_ctx *c = user;
    int *seen = strcmp(section, "relay") == 0        ? &c->seen_relay
                : strcmp(section, "limits") == 0     ? &c->seen_limits
                : strcmp(section, "accounting") == 0 ? &c->seen_accounting
                : strcmp(section, "pool") == 0       ? &c->seen_pool
                                                     : NULL;

    if (seen == NULL)
        return cfgparse_fail(err, line, "unknown section [%s]", section);
    if (*seen)
        return cfgparse_fail(err, line, "duplicate section [%s]", section);
    *seen = line;
    return 0;
}

static int set_addr(struct parse_ctx *c, const struct keydef *k, const char *value, int first,
                    int line, struct cfgparse_error *err)
{
    int listen = k->kind == K_LISTEN;
    size_t *n = listen ? &c->cfg.n_listen : &c->cfg.n_advertise;
    struct addr_spec *v = listen ? c->cfg.listen : c->cfg.advertise;
    struct addr_spec a;
    int rc;

    if (first)
        *n = 0; /* the first listen replaces the defaults */
    if (*n == RELAYCFG_MAX_ADDRS)
        return cfgparse_fail(err, line, "too many %s addresses (max %d)", k->name,
                             RELAYCFG_MAX_ADDRS);
    /* Listen addresses are bound without a resolver; advertised ones are
     * sent to agents as str8 and may be names. */
    rc = addr_parse(value, listen ? ADDR_PORT0_OK | ADDR_NUMERIC_ONLY : 0, &a);
    if (rc != 0)
        return cfgparse_fail(err, line, "%s '%.80s': %s", k->name, value, addr_strerror(rc));
    if (!listen && strlen(value) > 255)
        return cfgparse_fail(err, line, "advertise address longer than 255 bytes");
    for (size_t i = 0; i < *n; i++)
        if (v[i].port == a.port && strcmp(v[i].host, a.host) == 0)
            return cfgparse_fail(err, line, "duplicate %s address '%.80s'", k->name, value);
    v[(*n)++] = a;
    return 0;
}

/* "off" (no pool) or 1..64 of [A-Za-z0-9._-]. */
static int set_member(char *dst, const char *value, int line, struct cfgparse_error *err)
{
    size_t n = strlen(value);

    if (strcmp(value, "off") == 0) {
        dst[0] = '\0';
        return 0;
    }
    if (n == 0 || n > RELAYCFG_MEMBER_ID_MAX ||
        strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return cfgparse_fail(err, line, "member_id '%.80s': use off or 1..%d of A-Z a-z 0-9 . _ -",
                             value, RELAYCFG_MEMBER_ID_MAX);
    memcpy(dst, value, n + 1);
    return 0;
}

static int set_path(char *dst, const char *name, const char *value, int line,
                    struct cfgparse_error *err)
{
    size_t n = strlen(value);

    if (n == 0)
        return cfgparse_fail(err, line, "%s must not be empty", name);
    if (n >= RELAYCFG_PATH_MAX)
        return cfgparse_fail(err, line, "%s too long (max %d bytes)", name, RELAYCFG_PATH_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return cfgparse_fail(err, line, "%s contains a control character", name);
    memcpy(dst, value, n + 1);
    return 0;
}

static int range_fail(const struct keydef *k, const char *value, int rc, int line,
                      struct cfgparse_error *err)
{
    static const char *const syntax[] = {
        [K_DURATION] = "a duration like 500ms, 10s, 2m, 1h (plain numbers are seconds)",
        [K_SIZE] = "a size like 4096, 64K, 1M",
        [K_COUNT] = "a whole number",
        [K_RATE] = "a rate like 200/s",
        [K_BYTERATE] = "none or a byte rate like 12500000, 64K, 100Mbit",
        [K_MAXCONNS] = "'auto' or a whole number",
        [K_DAYS] = "a number of days like 90d or 90 (0 = for ever)",
    };
    char lo[32], hi[32];

    if (rc == -EINVAL)
        return cfgparse_fail(err, line, "%s: '%.40s' is not %s", k->name, value, syntax[k->kind]);
    if (k->kind == K_DURATION) {
        cfgparse_fmt_duration(k->min, lo, sizeof(lo));
        cfgparse_fmt_duration(k->max, hi, sizeof(hi));
    } else {
        snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
        snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
    }
    return cfgparse_fail(err, line, "%s: '%.40s' is out of range (%s..%s)", k->name, value, lo, hi);
}

/* Whole days: digits, optionally followed by one 'd'. */
static int set_days(const char *value, const struct keydef *k, uint64_t *v)
{
    char digits[24];
    size_t n = strlen(value);

    if (n > 0 && value[n - 1] == 'd')
        n--;
    if (n == 0 || n >= sizeof(digits))
        return -EINVAL;
    memcpy(digits, value, n);
    digits[n] = '\0';
    return cfgparse_count(digits, k->min, k->max, v);
}

static int set_number(struct parse_ctx *c, const struct keydef *k, const char *value, int line,
                      struct cfgparse_error *err)
{
    uint64_t v = 0;
    int rc;

    switch (k->kind) {
    case K_DURATION:
        rc = cfgparse_duration(value, k->min, k->max, &v);
        break;
    case K_SIZE:
        rc = cfgparse_size(value, k->min, k->max, &v);
        break;
    case K_RATE:
        rc = cfgparse_rate(value, k->min, k->max, &v);
        break;
    case K_MAXCONNS:
        rc = strcmp(value, "auto") == 0 ? 0 : cfgparse_count(value, k->min, k->max, &v);
        break;
    case K_DAYS:
        rc = set_days(value, k, &v);
        break;
    default:
        rc = cfgparse_count(value, k->min, k->max, &v);
        break;
    }
    if (rc != 0)
        return range_fail(k, value, rc, line, err);
    memcpy((char *)&c->cfg + k->off, &(uint32_t){(uint32_t)v}, sizeof(uint32_t));
    return 0;
}

int relaycfg_set_metrics_listen(struct relaycfg *cfg, const char *value)
{
    return addr_parse_listen_or_off(value, &cfg->has_metrics_listen, &cfg->metrics_listen);
}

static int on_key(void *user, const char *section, const char *name, const char *value, int line,
                  struct cfgparse_error *err)
{
    struct parse_ctx *c = user;
    const struct keydef *k = NULL;
    size_t i;
    int rc;

    if (section[0] == '\0')
        return cfgparse_fail(err, line, "key '%.40s' outside any section", name);
    for (i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) {
            k = &keys[i];
            break;
        }
    }
    if (k == NULL)
        return cfgparse_fail(err, line, "unknown key '%.40s' in [%s]", name, section);
    if (c->line[i] != 0 && k->kind != K_LISTEN && k->kind != K_ADVERTISE)
        return cfgparse_fail(err, line, "duplicate key '%s' (first set on line %d)", name,
                             c->line[i]);
    switch (k->kind) {
    case K_LISTEN:
    case K_ADVERTISE:
        rc = set_addr(c, k, value, c->line[i] == 0, line, err);
        break;
    case K_PATH:
        rc = set_path((char *)&c->cfg + k->off, name, value, line, err);
        break;
    case K_MODE:
        rc = cfgparse_mode(value, &c->cfg.admin_socket_mode);
        if (rc != 0)
            rc = cfgparse_fail(err, line, "admin_socket_mode: '%.20s' is not an octal mode", value);
        else if (c->cfg.admin_socket_mode & 07)
            rc = cfgparse_fail(err, line,
                               "admin_socket_mode %04o gives others access; use "
                               "0600 or 0660",
                               c->cfg.admin_socket_mode);
        break;
    case K_METRICS:
        rc = relaycfg_set_metrics_listen(&c->cfg, value);
        if (rc != 0)
            rc = cfgparse_fail(err, line, "metrics_listen '%.80s': %s (use off or HOST:PORT)",
                               value, addr_strerror(rc));
        break;
    case K_ONOFF:
        rc = 0;
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
            rc = cfgparse_fail(err, line, "%s: '%.20s' is not on or off", name, value);
        else
            memcpy((char *)&c->cfg + k->off, &(uint32_t){value[1] == 'n'}, sizeof(uint32_t));
        break;
    case K_BYTERATE: {
        uint64_t v = 0;
        rc = strcmp(value, "none") == 0 ? 0 : cfgparse_byterate(value, k->min, k->max, &v);
        if (rc != 0)
            rc = range_fail(k, value, rc, line, err);
        else
            memcpy((char *)&c->cfg + k->off, &v, sizeof(v));
        break;
    }
    case K_MEMBER:
        rc = set_member(c->cfg.pool.member_id, value, line, err);
        break;
    case K_LOGLEVEL:
        rc = log_level_parse(value, &c->cfg.log_level);
        if (rc != 0)
            rc = cfgparse_fail(err, line, "log_level: '%.20s' is not error, warn, info or debug",
                               value);
        break;
    default:
        rc = set_number(c, k, value, line, err);
        break;
    }
    c->line[i] = line;
    return rc;
}

static int key_line(const struct parse_ctx *c, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return c->line[i];
    return 0;
}

/* Whole-file rules, once every key is known. */
static int finish(struct parse_ctx *c, struct cfgparse_error *err)
{
    struct relaycfg *cfg = &c->cfg;
    struct relaycfg_limits *l = &cfg->limits;
    int ka = key_line(c, "keepalive"), da = key_line(c, "dead_after");

    if (l->keepalive_ms % 1000 != 0)
        return cfgparse_fail(err, ka, "keepalive must be whole seconds (agents get it in seconds)");
    if (l->dead_after_ms % 1000 != 0)
        return cfgparse_fail(err, da,
                             "dead_after must be whole seconds (agents get it in seconds)");
    if (l->keepalive_ms >= l->dead_after_ms)
        return cfgparse_fail(err, da > ka ? da : ka,
                             "keepalive (%us) must be less than "
                             "dead_after (%us)",
                             l->keepalive_ms / 1000, l->dead_after_ms / 1000);
    if (l->max_pending_per_ip > l->max_pending)
        return cfgparse_fail(err,
                             key_line(c, "max_pending_per_ip") ? key_line(c, "max_pending_per_ip")
                                                               : key_line(c, "max_pending"),
                             "max_pending_per_ip (%u) must not exceed max_pending (%u)",
                             l->max_pending_per_ip, l->max_pending);
    if (l->max_conns != 0 && l->max_conns_per_ip > l->max_conns && key_line(c, "max_conns_per_ip"))
        return cfgparse_fail(err, key_line(c, "max_conns_per_ip"),
                             "max_conns_per_ip (%u) must not exceed max_conns (%u)",
                             l->max_conns_per_ip, l->max_conns);
    if (cfg->pool.heartbeat_ms * 3 > cfg->pool.member_timeout_ms)
        return cfgparse_fail(err,
                             key_line(c, "heartbeat") ? key_line(c, "heartbeat")
                                                      : key_line(c, "member_timeout"),
                             "heartbeat (%ums) must be at most a third of member_timeout (%ums)",
                             cfg->pool.heartbeat_ms, cfg->pool.member_timeout_ms);
    if (cfg->key_file[0] == '\0' &&
        (size_t)snprintf(cfg->key_file, sizeof(cfg->key_file), "%s/relay.key", cfg->state_dir) >=
            sizeof(cfg->key_file))
        return cfgparse_fail(err, key_line(c, "state_dir"), "state_dir too long");
    if (cfg->database[0] == '\0' &&
        (size_t)snprintf(cfg->database, sizeof(cfg->database), "%s/linkrelay.db", cfg->state_dir) >=
            sizeof(cfg->database))
        return cfgparse_fail(err, key_line(c, "state_dir"), "state_dir too long");
    return 0;
}

int relaycfg_parse(const char *text, struct relaycfg *cfg, struct cfgparse_error *err)
{
    static const struct cfgparse_ops ops = {on_section, on_key};
    struct parse_ctx *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL) {
        cfgparse_fail(err, 0, "out of memory");
        return -ENOMEM;
    }
    relaycfg_defaults(&c->cfg);
    rc = cfgparse_ini(text, &ops, c, err);
    if (rc == 0)
        rc = finish(c, err);
    if (rc == 0)
        memcpy(cfg, &c->cfg, sizeof(*cfg));
    free(c);
    return rc;
}

static void fmt_addrs(struct cfgparse_buf *b, const char *name, const struct addr_spec *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char a[ADDR_TEXT_SIZE];
        if (addr_format(&v[i], a, sizeof(a)) == 0)
            cfgparse_buf_printf(b, "%s = %s\n", name, a);
    }
}

/* Every key of section, from keys[] (the numeric kinds). */
static void fmt_section(struct cfgparse_buf *b, const struct relaycfg *cfg, const char *section)
{
    cfgparse_buf_printf(b, "\n[%s]\n", section);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct keydef *k = &keys[i];
        uint32_t v;
        char s[32];
        if (strcmp(k->section, section) != 0)
            continue;
        if (k->kind == K_MEMBER) {
            cfgparse_buf_printf(b, "%s = %s\n", k->name,
                                cfg->pool.member_id[0] ? cfg->pool.member_id : "off");
            continue;
        }
        if (k->kind == K_BYTERATE) {
            uint64_t r;
            memcpy(&r, (const char *)cfg + k->off, sizeof(r));
            if (r == 0)
                snprintf(s, sizeof(s), "none");
            else
                cfgparse_fmt_size(r, s, sizeof(s));
            cfgparse_buf_printf(b, "%s = %s\n", k->name, s);
            continue;
        }
        memcpy(&v, (const char *)cfg + k->off, sizeof(v));
        if (k->kind == K_DURATION)
            cfgparse_fmt_duration(v, s, sizeof(s));
        else if (k->kind == K_SIZE)
            cfgparse_fmt_size(v, s, sizeof(s));
        else if (k->kind == K_RATE)
            snprintf(s, sizeof(s), "%u/s", v);
        else if (k->kind == K_MAXCONNS && v == 0)
            snprintf(s, sizeof(s), "auto");
        else if (k->kind == K_DAYS)
            snprintf(s, sizeof(s), "%ud", v);
        else
            snprintf(s, sizeof(s), "%u", v);
        cfgparse_buf_printf(b, "%s = %s\n", k->name, s);
    }
}

int relaycfg_format(const struct relaycfg *cfg, char **out)
{
    struct cfgparse_buf b = {0};
    char d[2][32], shown[RELAYCFG_PATH_MAX];

    cfgparse_buf_printf(&b, "[relay]\n");
    fmt_addrs(&b, "listen", cfg->listen, cfg->n_listen);
    fmt_addrs(&b, "advertise", cfg->advertise, cfg->n_advertise);
    cfgparse_fmt_duration(cfg->advertise_check_interval_ms, d[0], sizeof(d[0]));
    cfgparse_fmt_duration(cfg->advertise_check_timeout_ms, d[1], sizeof(d[1]));
    cfgparse_buf_printf(&b, "advertise_check_interval = %s\nadvertise_check_timeout = %s\n", d[0],
                        d[1]);
    /* A PostgreSQL URL's password is shown as *** (D38). */
    db_target_shown(cfg->database, shown, sizeof(shown));
    cfgparse_fmt_duration(cfg->registry_timeout_ms, d[0], sizeof(d[0]));
    cfgparse_fmt_duration(cfg->link_linger_ms, d[1], sizeof(d[1]));
    cfgparse_buf_printf(&b, "state_dir = %s\nkey_file = %s\ndatabase = %s\nregistry_timeout = %s\n",
                        cfg->state_dir, cfg->key_file, shown, d[0]);
    cfgparse_buf_printf(&b, "link_linger = %s\n", d[1]);
    cfgparse_buf_printf(&b, "admin_socket = %s\nadmin_socket_mode = %04o\nlog_level = %s\n",
                        cfg->admin_socket, cfg->admin_socket_mode,
                        cfgparse_log_level_name((int)cfg->log_level));
    if (cfg->has_metrics_listen) {
        char a[ADDR_TEXT_SIZE];
        if (addr_format(&cfg->metrics_listen, a, sizeof(a)) == 0)
            cfgparse_buf_printf(&b, "metrics_listen = %s\n", a);
    } else {
        cfgparse_buf_printf(&b, "metrics_listen = off\n");
    }
    cfgparse_buf_printf(&b, "metrics_per_link = %s\nmetrics_max_links = %u\n",
                        cfg->metrics_per_link ? "on" : "off", cfg->metrics_max_links);
    fmt_section(&b, cfg, "limits");
    fmt_section(&b, cfg, "accounting");
    fmt_section(&b, cfg, "pool");
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    return 0;
}
