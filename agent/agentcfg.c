/* SPDX-License-Identifier: MIT */
#include "agentcfg.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "token.h"

#define SEC 1000ULL

/* Keys of a [link NAME] section, for duplicate detection and messages. */
enum link_key {
    LK_TOKEN,
    LK_KEY,
    LK_KEY_FILE,
    LK_LINK_ID,
    LK_SIDE,
    LK_PEER_KEY,
    LK_LISTEN,
    LK_CONNECT,
    LK_POLICY,
    LK_COUNT
};
static const char *const link_keys[LK_COUNT] = {
    "token", "key", "key_file", "link_id", "side", "peer_key", "listen", "connect", "policy",
};

enum agent_key {
    AK_RELAY,
    AK_RELAY_KEY,
    AK_RELAY_KEY_ID,
    AK_LOG_LEVEL,
    AK_KEEPALIVE,
    AK_BACKOFF_MIN,
    AK_BACKOFF_MAX,
    AK_OPEN_QUEUE,
    AK_OPEN_WAIT,
    AK_METRICS_LISTEN,
    AK_RESUME_TIMEOUT,
    AK_RESUME_BUFFER,
    AK_RESUME_BUFFER_TOTAL,
    AK_CIPHER,
    AK_KEEP_LEGS,
    AK_KEEP_IDLE,
    AK_SHARE_LEGS,
    AK_COUNT
};
static const char *const agent_keys[AK_COUNT] = {
    "relay",          "relay_key",     "relay_key_id",        "log_level", "keepalive",
    "backoff_min",    "backoff_max",   "open_queue",          "open_wait", "metrics_listen",
    "resume_timeout", "resume_buffer", "resume_buffer_total", "cipher",    "keep_legs",
    "keep_idle",      "share_legs",
};

struct link_state {
    int header_line;
    int line[LK_COUNT];
    int token_has_priv;
};

struct parse_ctx {
    struct agentcfg *cfg;
    int seen_agent;
    int aline[AK_COUNT];
    struct link_state ls[AGENTCFG_MAX_LINKS];
};

static int valid_link_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > AGENTCFG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static struct agentcfg_link *find_link(struct parse_ctx *c, const char *name, size_t *idx)
{
    for (size_t i = 0; i < c->cfg->n_links; i++) {
        if (strcmp(c->cfg->links[i].name, name) == 0) {
            *idx = i;
            return &c->cfg->links[i];
        }
    }
    return NULL;
}

static int on_section(void *user, const char *section, int line, struct cfgparse_error *err)
{
    struct parse_ctx *c = user;
    struct agentcfg_link *l;
    const char *name;
    size_t idx;

    if (strcmp(section, "agent") == 0) {
        if (c->seen_agent)
            return cfgparse_fail(err, line, "duplicate section [agent]");
        c->seen_agent = line;
        return 0;
    }
    if (strcmp(section, "link") == 0)
        return cfgparse_fail(err, line, "a link section needs a name: [link NAME]");
    if (strncmp(section, "link ", 5) != 0)
        return cfgparse_fail(err, line, "unknown section [%s]", section);
    name = section + 5;
    if (!valid_link_name(name))
        return cfgparse_fail(err, line, "bad link name '%s' (1..%d of A-Z a-z 0-9 . _ -)", name,
                             AGENTCFG_NAME_MAX);
    if (find_link(c, name, &idx) != NULL)
        return cfgparse_fail(err, line, "duplicate section [link %s] (first on line %d)", name,
                             c->ls[idx].header_line);
    if (c->cfg->n_links == AGENTCFG_MAX_LINKS)
        return cfgparse_fail(err, line, "too many links (max %d)", AGENTCFG_MAX_LINKS);
    l = &c->cfg->links[c->cfg->n_links];
    c->ls[c->cfg->n_links].header_line = line;
    c->cfg->n_links++;
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->policy = AGENTCFG_ON_DEMAND;
    return 0;
}

static int parse_pub(const char *what, const char *value, uint8_t pub[KEY_LEN], int line,
                     struct cfgparse_error *err)
{
    size_t pos = 0;
    int rc = key_pub_decode(value, pub, &pos);
    char msg[80];

    if (rc == 0)
        return 0;
    key_format_error(rc, pos, msg, sizeof(msg));
    return cfgparse_fail(err, line, "%s: %s", what, msg);
}

static int add_addr(struct addr_spec *v, size_t *n, const char *what, const char *value,
                    unsigned flags, int line, struct cfgparse_error *err)
{
    struct addr_spec a;
    int rc;

    if (*n == AGENTCFG_MAX_ADDRS)
        return cfgparse_fail(err, line, "too many %s addresses (max %d)", what, AGENTCFG_MAX_ADDRS);
    rc = addr_parse(value, flags, &a);
    if (rc != 0)
        return cfgparse_fail(err, line, "%s '%.80s': %s", what, value, addr_strerror(rc));
    for (size_t i = 0; i < *n; i++)
        if (v[i].port == a.port && strcmp(v[i].host, a.host) == 0)
            return cfgparse_fail(err, line, "duplicate %s address '%.80s'", what, value);
    v[(*n)++] = a;
    return 0;
}

int agentcfg_set_metrics_listen(struct agentcfg *cfg, const char *value)
{
    return addr_parse_listen_or_off(value, &cfg->has_metrics_listen, &cfg->metrics_listen);
}

static int agent_key(struct parse_ctx *c, const char *name, const char *value, int line,
                     struct cfgparse_error *err)
{
    struct agentcfg *cfg = c->cfg;
    uint64_t v = 0;
    int k, rc = 0;

    for (k = 0; k < AK_COUNT; k++)
        if (strcmp(agent_keys[k], name) == 0)
            break;
    if (k == AK_COUNT)
        return cfgparse_fail(err, line, "unknown key '%.40s' in [agent]", name);
    if (c->aline[k] != 0 && k != AK_RELAY)
        return cfgparse_fail(err, line, "duplicate key '%s' (first set on line %d)", name,
                             c->aline[k]);
    c->aline[k] = line;
    switch (k) {
    case AK_RELAY:
        return add_addr(cfg->relays, &cfg->n_relays, "relay", value, 0, line, err);
    case AK_RELAY_KEY:
        cfg->has_relay_key = 1;
        return parse_pub("relay_key", value, cfg->relay_pub, line, err);
    case AK_RELAY_KEY_ID:
        rc = cfgparse_count(value, 0, 255, &v);
        cfg->relay_key_id = (uint8_t)v;
        break;
    case AK_LOG_LEVEL:
        if (log_level_parse(value, &cfg->log_level) != 0)
            return cfgparse_fail(err, line, "log_level: '%.20s' is not error, warn, info or debug",
                                 value);
        return 0;
    case AK_KEEPALIVE:
        rc = cfgparse_duration(value, 1 * SEC, 3600 * SEC, &v);
        cfg->keepalive_ms = (uint32_t)v;
        break;
    case AK_BACKOFF_MIN:
        rc = cfgparse_duration(value, 100, 3600 * SEC, &v);
        cfg->backoff_min_ms = (uint32_t)v;
        break;
    case AK_OPEN_QUEUE:
        rc = cfgparse_count(value, 0, AGENTCFG_OPEN_QUEUE_MAX, &v);
        cfg->open_queue = (uint32_t)v;
        break;
    case AK_OPEN_WAIT:
        rc = cfgparse_duration(value, 0, AGENTCFG_OPEN_WAIT_MAX, &v);
        cfg->open_wait_ms = (uint32_t)v;
        break;
    case AK_RESUME_TIMEOUT:
        rc = cfgparse_duration(value, 0, AGENTCFG_RESUME_TIMEOUT_MAX, &v);
        cfg->resume_timeout_ms = (uint32_t)v;
        break;
    case AK_RESUME_BUFFER:
        rc = cfgparse_size(value, AGENTCFG_RESUME_BUFFER_MIN, AGENTCFG_RESUME_BUFFER_MAX, &v);
        cfg->resume_buffer = v;
        break;
    case AK_RESUME_BUFFER_TOTAL:
        rc = cfgparse_size(value, AGENTCFG_RESUME_BUFFER_MIN, AGENTCFG_RESUME_TOTAL_MAX, &v);
        cfg->resume_buffer_total = v;
        break;
    case AK_KEEP_LEGS:
        rc = cfgparse_count(value, 0, AGENTCFG_KEEP_LEGS_MAX, &v);
        cfg->keep_legs = (uint32_t)v;
        break;
    case AK_KEEP_IDLE:
        rc = cfgparse_duration(value, 1 * SEC, AGENTCFG_KEEP_IDLE_MAX, &v);
        cfg->keep_idle_ms = (uint32_t)v;
        break;
    case AK_SHARE_LEGS:
        if (agentcfg_parse_yesno(value, &cfg->share_legs) != 0)
            return cfgparse_fail(err, line, "share_legs: '%.40s' is not yes or no", value);
        return 0;
    case AK_CIPHER:
        if (suite_cfg_parse(value, &cfg->cipher) != 0)
            return cfgparse_fail(
                err, line, "cipher: '%.40s' is not auto, chacha20-poly1305 or aes-256-gcm", value);
        return 0;
    case AK_METRICS_LISTEN:
        rc = agentcfg_set_metrics_listen(cfg, value);
        if (rc != 0)
            return cfgparse_fail(err, line, "metrics_listen '%.80s': %s (use off or HOST:PORT)",
                                 value, addr_strerror(rc));
        return 0;
    default:
        rc = cfgparse_duration(value, 1 * SEC, 86400 * SEC, &v);
        cfg->backoff_max_ms = (uint32_t)v;
        break;
    }
    if (rc == -EINVAL)
        return cfgparse_fail(err, line, "%s: '%.40s' is not %s", name, value,
                             k == AK_RELAY_KEY_ID || k == AK_OPEN_QUEUE || k == AK_KEEP_LEGS
                                 ? "a whole number"
                             : k == AK_RESUME_BUFFER || k == AK_RESUME_BUFFER_TOTAL
                                 ? "a size like 4096, 64KiB, 4MiB, 1GiB"
                                 : "a duration like 500ms, 10s, 2m, 1h");
    if (rc != 0)
        return cfgparse_fail(err, line, "%s: '%.40s' is out of range (%s)", name, value,
                             k == AK_RELAY_KEY_ID          ? "0..255"
                             : k == AK_KEEPALIVE           ? "1s..1h"
                             : k == AK_BACKOFF_MIN         ? "100ms..1h"
                             : k == AK_OPEN_QUEUE          ? "0..4096"
                             : k == AK_OPEN_WAIT           ? "0..60s"
                             : k == AK_RESUME_TIMEOUT      ? "0..1h"
                             : k == AK_RESUME_BUFFER       ? "128KiB..1GiB"
                             : k == AK_RESUME_BUFFER_TOTAL ? "128KiB..64GiB"
                             : k == AK_KEEP_LEGS           ? "0..1024"
                             : k == AK_KEEP_IDLE           ? "1s..1h"
                                                           : "1s..24h");
    return 0;
}

/* priv was just set: its public key too, for every handshake (D45). A key
 * whose public key would be the zero point gets an all-zero pub, which no
 * peer or relay key matches, so its handshakes fail. */
static void priv_set(struct agentcfg_link *l)
{
    if (key_pub_from_priv(l->priv, l->pub) != 0)
        memset(l->pub, 0, sizeof(l->pub));
    l->has_priv = 1;
}

void agentcfg_link_take_token(struct agentcfg_link *l, const struct token *t)
{
    l->from_token = 1;
    memcpy(l->link_id, t->link_id, LINKID_LEN);
    l->side = t->side;
    memcpy(l->peer_pub, t->peer_pub, KEY_LEN);
    memcpy(l->relay_pub, t->relay_pub, KEY_LEN);
    l->relay_key_id = t->relay_key_id;
    if (t->flags & TOKEN_FLAG_PRIV) {
        memcpy(l->priv, t->priv, KEY_LEN);
        priv_set(l);
    }
}

static int link_token(struct agentcfg_link *l, struct link_state *ls, const char *value, int line,
                      struct cfgparse_error *err)
{
    struct token t;
    size_t pos = 0;
    char msg[128];
    int rc = token_decode(value, &t, &pos);

    if (rc != 0) {
        token_format_error(rc, pos, msg, sizeof(msg));
        return cfgparse_fail(err, line, "token: %s", msg);
    }
    agentcfg_link_take_token(l, &t);
    if (t.flags & TOKEN_FLAG_PRIV)
        ls->token_has_priv = 1;
    l->n_relays = 0;
    for (size_t i = 0; i < t.n_addrs && rc == 0; i++)
        rc = add_addr(l->relays, &l->n_relays, "token relay", t.addrs[i], 0, line, err);
    token_wipe(&t);
    return rc;
}

static int link_key(struct parse_ctx *c, size_t idx, const char *name, const char *value, int line,
                    struct cfgparse_error *err)
{
    struct agentcfg_link *l = &c->cfg->links[idx];
    struct link_state *ls = &c->ls[idx];
    size_t pos = 0;
    char msg[80];
    int k, rc;

    for (k = 0; k < LK_COUNT; k++)
        if (strcmp(link_keys[k], name) == 0)
            break;
    if (k == LK_COUNT)
        return cfgparse_fail(err, line, "unknown key '%.40s' in [link %s]", name, l->name);
    if (ls->line[k] != 0 && k != LK_LISTEN)
        return cfgparse_fail(err, line, "duplicate key '%s' (first set on line %d)", name,
                             ls->line[k]);
    ls->line[k] = line;
    switch (k) {
    case LK_TOKEN:
        return link_token(l, ls, value, line, err);
    case LK_KEY:
        rc = key_priv_decode(value, l->priv, &pos);
        if (rc != 0) {
            key_format_error(rc, pos, msg, sizeof(msg));
            return cfgparse_fail(err, line, "key: %s", msg);
        }
        priv_set(l);
        return 0;
    case LK_KEY_FILE:
        if (value[0] == '\0' || strlen(value) >= sizeof(l->key_file))
            return cfgparse_fail(err, line, "key_file: empty or too long (max %d bytes)",
                                 AGENTCFG_PATH_MAX - 1);
        snprintf(l->key_file, sizeof(l->key_file), "%s", value);
        return 0;
    case LK_LINK_ID:
        rc = linkid_decode(value, l->link_id, &pos);
        if (rc != 0) {
            key_format_error(rc, pos, msg, sizeof(msg));
            return cfgparse_fail(err, line, "link_id (32 hex digits): %s", msg);
        }
        return 0;
    case LK_SIDE:
        if (strcmp(value, "a") != 0 && strcmp(value, "b") != 0)
            return cfgparse_fail(err, line, "side: '%.20s' is not a or b", value);
        l->side = value[0] == 'b';
        return 0;
    case LK_PEER_KEY:
        return parse_pub("peer_key", value, l->peer_pub, line, err);
    case LK_LISTEN:
        return add_addr(l->listen, &l->n_listen, "listen", value, ADDR_PORT0_OK | ADDR_NUMERIC_ONLY,
                        line, err);
    case LK_CONNECT:
        rc = add_addr(&l->connect, &(size_t){0}, "connect", value, 0, line, err);
        l->has_connect = rc == 0;
        return rc;
    default:
        if (strcmp(value, "on-demand") == 0)
            l->policy = AGENTCFG_ON_DEMAND;
        else if (strcmp(value, "immediate") == 0)
            l->policy = AGENTCFG_IMMEDIATE;
        else
            return cfgparse_fail(err, line, "policy: '%.20s' is not on-demand or immediate", value);
        return 0;
    }
}

static int on_key(void *user, const char *section, const char *name, const char *value, int line,
                  struct cfgparse_error *err)
{
    struct parse_ctx *c = user;
    size_t idx;

    if (section[0] == '\0')
        return cfgparse_fail(err, line, "key '%.40s' outside any section", name);
    if (strcmp(section, "agent") == 0)
        return agent_key(c, name, value, line, err);
    /* on_section() accepted every other section that reaches here. */
    if (find_link(c, section + 5, &idx) == NULL)
        return cfgparse_fail(err, line, "internal error: unknown section");
    return link_key(c, idx, name, value, line, err);
}

/* A link's identity rules: token, or key + link_id + side + peer_key. */
static int finish_identity(struct parse_ctx *c, size_t idx, struct cfgparse_error *err)
{
    struct agentcfg *cfg = c->cfg;
    struct agentcfg_link *l = &cfg->links[idx];
    struct link_state *ls = &c->ls[idx];
    int key = ls->line[LK_KEY], file = ls->line[LK_KEY_FILE];

    if (key && file)
        return cfgparse_fail(err, file, "link '%s': set key or key_file, not both", l->name);
    if (ls->line[LK_TOKEN]) {
        static const enum link_key set_by_token[] = {LK_LINK_ID, LK_SIDE, LK_PEER_KEY};
        for (size_t i = 0; i < 3; i++)
            if (ls->line[set_by_token[i]])
                return cfgparse_fail(err, ls->line[set_by_token[i]],
                                     "link '%s': %s is set by the token", l->name,
                                     link_keys[set_by_token[i]]);
        if (ls->token_has_priv && (key || file))
            return cfgparse_fail(err, key ? key : file,
                                 "link '%s': the token already holds the private key", l->name);
        if (!ls->token_has_priv && !key && !file)
            return cfgparse_fail(err, ls->header_line,
                                 "link '%s': the token has no private key; set key or key_file",
                                 l->name);
        return 0;
    }
    for (enum link_key k = LK_LINK_ID; k <= LK_PEER_KEY; k++)
        if (!ls->line[k])
            return cfgparse_fail(err, ls->header_line, "link '%s': missing %s (or a token)",
                                 l->name, link_keys[k]);
    if (!key && !file)
        return cfgparse_fail(err, ls->header_line, "link '%s': missing key or key_file", l->name);
    if (cfg->n_relays == 0 || !cfg->has_relay_key)
        return cfgparse_fail(err, ls->header_line,
                             "link '%s' has no token, so [agent] needs relay and relay_key",
                             l->name);
    l->n_relays = cfg->n_relays;
    memcpy(l->relays, cfg->relays, sizeof(l->relays));
    memcpy(l->relay_pub, cfg->relay_pub, KEY_LEN);
    l->relay_key_id = cfg->relay_key_id;
    return 0;
}

static int finish_link(struct parse_ctx *c, size_t idx, struct cfgparse_error *err)
{
    struct agentcfg_link *l = &c->cfg->links[idx];
    struct link_state *ls = &c->ls[idx];
    int rc = finish_identity(c, idx, err);

    if (rc != 0)
        return rc;
    if (l->n_listen == 0 && !l->has_connect)
        return cfgparse_fail(err, ls->header_line, "link '%s' needs listen or connect (or both)",
                             l->name);
    if (l->has_priv) {
        if (sodium_memcmp(l->pub, l->peer_pub, KEY_LEN) == 0)
            return cfgparse_fail(err, ls->header_line,
                                 "link '%s': peer_key is this side's own public key", l->name);
    }
    /* Two links cannot listen on the same local address. */
    for (size_t j = 0; j < idx; j++) {
        const struct agentcfg_link *o = &c->cfg->links[j];
        for (size_t a = 0; a < l->n_listen; a++)
            for (size_t b = 0; b < o->n_listen; b++)
                if (l->listen[a].port != 0 && l->listen[a].port == o->listen[b].port &&
                    strcmp(l->listen[a].host, o->listen[b].host) == 0)
                    return cfgparse_fail(err, ls->line[LK_LISTEN],
                                         "link '%s' listens on an address of link '%s'", l->name,
                                         o->name);
    }
    return 0;
}

static int finish(struct parse_ctx *c, struct cfgparse_error *err)
{
    struct agentcfg *cfg = c->cfg;

    if (cfg->backoff_min_ms > cfg->backoff_max_ms)
        return cfgparse_fail(err,
                             c->aline[AK_BACKOFF_MIN] > c->aline[AK_BACKOFF_MAX]
                                 ? c->aline[AK_BACKOFF_MIN]
                                 : c->aline[AK_BACKOFF_MAX],
                             "backoff_min must not exceed backoff_max");
    if (cfg->n_links == 0)
        return cfgparse_fail(err, 0, "no links: add a [link NAME] section");
    for (size_t i = 0; i < cfg->n_links; i++) {
        int rc = finish_link(c, i, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void agentcfg_defaults(struct agentcfg *cfg, enum agentcfg_origin origin)
{
    bool cli = origin == AGENTCFG_FROM_CLI;

    cfg->log_level = LOG_LEVEL_INFO;
    cfg->keepalive_ms = 25000;
    cfg->backoff_min_ms = cli ? 500 : 1000;
    cfg->backoff_max_ms = cli ? 30000 : 60000;
    cfg->open_queue = AGENTCFG_OPEN_QUEUE_DEFAULT;
    cfg->open_wait_ms = AGENTCFG_OPEN_WAIT_DEFAULT;
    cfg->resume_timeout_ms = AGENTCFG_RESUME_TIMEOUT_DEFAULT;
    cfg->resume_buffer = AGENTCFG_RESUME_BUFFER_DEFAULT;
    cfg->resume_buffer_total = AGENTCFG_RESUME_TOTAL_DEFAULT;
    cfg->cipher = SUITE_CFG_AUTO;
    cfg->keep_legs = AGENTCFG_KEEP_LEGS_DEFAULT;
    cfg->keep_idle_ms = AGENTCFG_KEEP_IDLE_DEFAULT;
    cfg->share_legs = true;
}

int agentcfg_parse_yesno(const char *s, bool *out)
{
    if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "on") == 0)
        *out = true;
    else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "off") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

int agentcfg_parse(const char *text, struct agentcfg **out, struct cfgparse_error *err)
{
    static const struct cfgparse_ops ops = {on_section, on_key};
    struct parse_ctx *c = calloc(1, sizeof(*c));
    struct agentcfg *cfg = calloc(1, sizeof(*cfg));
    int rc;

    if (c == NULL || cfg == NULL) {
        free(c);
        free(cfg);
        cfgparse_fail(err, 0, "out of memory");
        return -ENOMEM;
    }
    agentcfg_defaults(cfg, AGENTCFG_FROM_FILE);
    c->cfg = cfg;
    rc = cfgparse_ini(text, &ops, c, err);
    if (rc == 0)
        rc = finish(c, err);
    free(c);
    if (rc != 0) {
        agentcfg_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int agentcfg_link_set_key(struct agentcfg_link *l, const char *text, size_t *errpos)
{
    char buf[KEY_TEXT_SIZE + 1];
    size_t n, lead = 0;
    uint8_t k[KEY_LEN];
    int rc;

    /* No isspace(): its table lookup would be indexed by secret text. */
    while (is_ws(text[lead]))
        lead++;
    n = strnlen(text + lead, sizeof(buf));
    while (n > 0 && is_ws(text[lead + n - 1]))
        n--;
    if (n >= sizeof(buf))
        return KEY_ERR_TOO_LONG;
    memcpy(buf, text + lead, n);
    buf[n] = '\0';
    rc = key_priv_decode(buf, k, errpos);
    if (rc == 0) {
        memcpy(l->priv, k, KEY_LEN);
        priv_set(l);
    } else if (rc == KEY_ERR_BAD_CHAR && errpos != NULL) {
        *errpos += lead;
    }
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(k, sizeof(k));
    return rc;
}

void agentcfg_free(struct agentcfg *cfg)
{
    if (cfg == NULL)
        return;
    sodium_memzero(cfg, sizeof(*cfg));
    free(cfg);
}

static void fmt_addr(struct cfgparse_buf *b, const char *prefix, const char *name,
                     const struct addr_spec *a)
{
    char s[ADDR_TEXT_SIZE];

    if (addr_format(a, s, sizeof(s)) == 0)
        cfgparse_buf_printf(b, "%s%s = %s\n", prefix, name, s);
}

static void fmt_link(struct cfgparse_buf *b, const struct agentcfg_link *l)
{
    /* Fields a token set are shown as comments: the file has the token. */
    const char *t = l->from_token ? "# " : "";
    char id[LINKID_TEXT_SIZE], pub[KEY_TEXT_SIZE];

    cfgparse_buf_printf(b, "\n[link %s]\n", l->name);
    if (l->from_token)
        cfgparse_buf_printf(b, "token = <secret>\n");
    linkid_encode(l->link_id, id);
    key_pub_encode(l->peer_pub, pub);
    cfgparse_buf_printf(b, "%slink_id = %s\n%sside = %s\n%speer_key = %s\n", t, id, t,
                        l->side ? "b" : "a", t, pub);
    if (l->key_file[0] != '\0')
        cfgparse_buf_printf(b, "key_file = %s\n", l->key_file);
    else if (l->has_priv)
        cfgparse_buf_printf(b, "%skey = <secret>\n", l->from_token ? "# " : "");
    for (size_t i = 0; i < l->n_relays; i++)
        fmt_addr(b, "# ", "relay", &l->relays[i]);
    key_pub_encode(l->relay_pub, pub);
    cfgparse_buf_printf(b, "# relay_key = %s\n# relay_key_id = %u\n", pub, l->relay_key_id);
    for (size_t i = 0; i < l->n_listen; i++)
        fmt_addr(b, "", "listen", &l->listen[i]);
    if (l->has_connect)
        fmt_addr(b, "", "connect", &l->connect);
    cfgparse_buf_printf(b, "policy = %s\n",
                        l->policy == AGENTCFG_IMMEDIATE ? "immediate" : "on-demand");
}

int agentcfg_format(const struct agentcfg *cfg, char **out)
{
    struct cfgparse_buf b = {0};
    char s[32], a[ADDR_TEXT_SIZE];

    cfgparse_buf_printf(&b, "[agent]\n");
    for (size_t i = 0; i < cfg->n_relays; i++)
        fmt_addr(&b, "", "relay", &cfg->relays[i]);
    if (cfg->has_relay_key) {
        char pub[KEY_TEXT_SIZE];
        key_pub_encode(cfg->relay_pub, pub);
        cfgparse_buf_printf(&b, "relay_key = %s\n", pub);
    }
    cfgparse_buf_printf(&b, "relay_key_id = %u\nlog_level = %s\n", cfg->relay_key_id,
                        cfgparse_log_level_name((int)cfg->log_level));
    cfgparse_fmt_duration(cfg->keepalive_ms, s, sizeof(s));
    cfgparse_buf_printf(&b, "keepalive = %s\n", s);
    cfgparse_fmt_duration(cfg->backoff_min_ms, s, sizeof(s));
    cfgparse_buf_printf(&b, "backoff_min = %s\n", s);
    cfgparse_fmt_duration(cfg->backoff_max_ms, s, sizeof(s));
    cfgparse_buf_printf(&b, "backoff_max = %s\n", s);
    cfgparse_fmt_duration(cfg->open_wait_ms, s, sizeof(s));
    cfgparse_buf_printf(&b, "open_queue = %u\nopen_wait = %s\n", cfg->open_queue, s);
    cfgparse_fmt_duration(cfg->resume_timeout_ms, s, sizeof(s));
    cfgparse_buf_printf(&b, "resume_timeout = %s\n", s);
    cfgparse_fmt_size(cfg->resume_buffer, s, sizeof(s));
    cfgparse_buf_printf(&b, "resume_buffer = %s\n", s);
    cfgparse_fmt_size(cfg->resume_buffer_total, s, sizeof(s));
    cfgparse_buf_printf(&b, "resume_buffer_total = %s\n", s);
    cfgparse_buf_printf(&b, "cipher = %s\n", suite_cfg_name(cfg->cipher));
    cfgparse_fmt_duration(cfg->keep_idle_ms, s, sizeof(s));
    cfgparse_buf_printf(&b, "keep_legs = %u\nkeep_idle = %s\nshare_legs = %s\n", cfg->keep_legs, s,
                        cfg->share_legs ? "yes" : "no");
    if (cfg->has_metrics_listen && addr_format(&cfg->metrics_listen, a, sizeof(a)) == 0)
        cfgparse_buf_printf(&b, "metrics_listen = %s\n", a);
    else
        cfgparse_buf_printf(&b, "metrics_listen = off\n");
    for (size_t i = 0; i < cfg->n_links; i++)
        fmt_link(&b, &cfg->links[i]);
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    return 0;
}
