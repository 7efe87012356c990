/* SPDX-License-Identifier: MIT */
/*
 * agent — see agent.h.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agentmetrics.h"
#include "link.h"
#include "streamfin.h"
#include "log.h"
#include "metrics.h"
#include "relaykeys.h"
#include "rundir.h"
#include "suite.h"
#include "agent/status.h"

/* Reads a whole small file into a NUL-terminated heap string. */
static int read_file(const char *path, size_t max, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    char *buf;
    size_t off = 0;
    ssize_t n;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) != 0 || (size_t)sb.st_size > max) {
        close(fd);
        return -E2BIG;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    while (off < (size_t)sb.st_size && (n = read(fd, buf + off, (size_t)sb.st_size - off)) > 0)
        off += (size_t)n;
    close(fd);
    buf[off] = '\0';
    *out = buf;
    return 0;
}

static int learned_path(const char *path, const char *suffix, char *out, size_t cap);

/* Each link pins the newest relay key learned for the key it is given, and
 * trusts the newest peer key learned for the one it is given (relaykeys.h);
 * a broken file of learned keys fails the load. */
static int apply_learned(const char *path, struct agentcfg *cfg, bool peer, char *err,
                         size_t errlen)
{
    char kpath[AGENTCFG_PATH_MAX + 16];
    struct relaykeys *map = calloc(1, sizeof(*map));
    int rc = map == NULL
                 ? -ENOMEM
                 : learned_path(path, peer ? "peerkeys" : "relaykeys", kpath, sizeof(kpath));

    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        free(map);
        return rc;
    }
    rc = relaykeys_read(kpath, map, err, errlen);
    for (size_t i = 0; rc == 0 && i < cfg->n_links; i++) {
        struct agentcfg_link *l = &cfg->links[i];
        uint8_t side = (uint8_t)(1 - l->side);
        if (peer)
            relaykeys_apply(map, &side, l->peer_pub);
        else
            relaykeys_apply(map, &l->relay_key_id, l->relay_pub);
    }
    free(map);
    return rc;
}

int agent_config_parse_file(const char *path, struct agentcfg **out, char *err, size_t errlen)
{
    struct cfgparse_error pe = {0, ""};
    char *text = NULL, line[300];
    int rc;

    rc = read_file(path, CFGPARSE_MAX_SIZE, &text);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, rc == -E2BIG ? "file too large" : strerror(-rc));
        return rc;
    }
    rc = agentcfg_parse(text, out, &pe);
    free(text);
    if (rc != 0) {
        cfgparse_error_format(&pe, line, sizeof(line));
        snprintf(err, errlen, "%s: %s", path, line);
    }
    return rc;
}

int agent_config_load(const char *path, struct agentcfg **out, char *err, size_t errlen)
{
    struct agentcfg *cfg = NULL;
    char line[300];
    int rc = agent_config_parse_file(path, &cfg, err, errlen);

    if (rc != 0)
        return rc;
    for (size_t i = 0; i < cfg->n_links; i++) {
        struct agentcfg_link *l = &cfg->links[i];
        size_t pos = 0;
        char *key = NULL;
        if (l->has_priv)
            continue;
        rc = read_file(l->key_file, 4096, &key);
        if (rc != 0) {
            snprintf(err, errlen, "%s: link %s: key file %s: %s", path, l->name, l->key_file,
                     strerror(-rc));
            agentcfg_free(cfg);
            return rc;
        }
        rc = agentcfg_link_set_key(l, key, &pos);
        sodium_memzero(key, strlen(key));
        free(key);
        if (rc != 0) {
            key_format_error(rc, pos, line, sizeof(line));
            snprintf(err, errlen, "%s: link %s: key file %s: %s", path, l->name, l->key_file, line);
            agentcfg_free(cfg);
            return -EINVAL;
        }
    }
    rc = apply_learned(path, cfg, false, err, errlen);
    if (rc == 0)
        rc = apply_learned(path, cfg, true, err, errlen);
    if (rc != 0) {
        agentcfg_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

static uint32_t backoff_min_ms(const struct agentcfg *cfg)
{
    return cfg->backoff_min_ms != 0 ? cfg->backoff_min_ms : 500;
}

static uint32_t backoff_max_ms(const struct agentcfg *cfg)
{
    uint32_t min = backoff_min_ms(cfg), max = cfg->backoff_max_ms;

    return max >= min ? max : min;
}

/* What streams read from the running configuration (a reload applies to the
 * next refused OPEN). */
static void set_config(struct agent *ag, struct agentcfg *cfg)
{
    ag->cfg = cfg;
    ag->streams.open_queue = cfg->open_queue;
    ag->streams.open_wait_ms = cfg->open_wait_ms;
    ag->streams.resume_timeout_ms = cfg->resume_timeout_ms;
    ag->streams.resume_buffer = cfg->resume_buffer;
    ag->streams.resume_total_cap = cfg->resume_buffer_total;
    /* STREAM_ACK (D43) goes in the HELLO only with the resumption offer. */
    ag->streams.suites = suite_offer(cfg->cipher, suite_cpu_aes()) | SUITE_OFFER_STREAM_ACK;
    /* Kept legs (D48): offered in every HELLO unless turned off; a reload
     * to 0 closes the idle ones at the next tick. */
    ag->streams.keep_legs = cfg->keep_legs;
    ag->streams.keep_idle_ms = cfg->keep_idle_ms;
    if (cfg->keep_legs != 0)
        ag->streams.suites |= SUITE_OFFER_KEEP_LEG;
    /* Shared legs (D58) ride on kept legs. */
    if (cfg->keep_legs != 0 && cfg->share_legs)
        ag->streams.suites |= SUITE_OFFER_SHARE_LEG;
}

/* Where the relay keys (suffix "relaykeys") or peer keys ("peerkeys")
 * learned for the config file at path are kept: beside it, or, under
 * systemd with StateDirectory= (whose sandbox keeps /etc read-only), in the
 * first directory of $STATE_DIRECTORY as BASENAME.SUFFIX (docs/linkagent.md
 * FILES). */
static int learned_path(const char *path, const char *suffix, char *out, size_t cap)
{
    const char *state = getenv("STATE_DIRECTORY");
    const char *base = strrchr(path, '/');
    int n;

    if (state != NULL && state[0] != '\0') {
        n = snprintf(out, cap, "%.*s/%s.%s", (int)strcspn(state, ":"), state,
                     base != NULL ? base + 1 : path, suffix);
    } else {
        n = snprintf(out, cap, "%s.%s", path, suffix);
    }
    return n >= 0 && n < (int)cap ? 0 : -ENAMETOOLONG;
}

/* Adds old → (id, pub) to the map in path (suffix as learned_path). */
static int learned_add(const char *path, const char *suffix, const char *title,
                       const uint8_t old_pub[KEY_LEN], uint8_t id, const uint8_t pub[KEY_LEN],
                       char *kpath, size_t kcap, char *err, size_t errlen)
{
    struct relaykeys *map = calloc(1, sizeof(*map));
    int rc = map == NULL ? -ENOMEM : learned_path(path, suffix, kpath, kcap);

    if (rc == 0)
        rc = relaykeys_read(kpath, map, err, errlen);
    else
        snprintf(err, errlen, "%s", strerror(-rc));
    if (rc == 0) {
        relaykeys_add(map, old_pub, id, pub);
        rc = relaykeys_write(kpath, map, title);
        snprintf(err, errlen, "%s: %s", kpath, strerror(-rc));
    }
    free(map);
    return rc;
}

/* link_env.peer_key_learned: keeps old → pub beside the config file, so a
 * restart trusts the peer's endorsed key too (design.md D21). */
static void peer_key_learned(void *arg, const uint8_t old_pub[KEY_LEN], uint8_t side,
                             const uint8_t pub[KEY_LEN])
{
    struct agent *ag = arg;
    char path[AGENTCFG_PATH_MAX + 16], err[AGENTCFG_PATH_MAX + 300];

    if (ag->config_path == NULL) {
        log_warnx("the peer's new key is trusted until linkagent stops: without a config file "
                  "(token mode) it is not kept; give the agent a new token");
        return;
    }
    if (learned_add(ag->config_path, "peerkeys",
                    "peer keys linkagent took from endorsed PEER_KEYs; old key, peer side, new key",
                    old_pub, side, pub, path, sizeof(path), err, sizeof(err)) == 0)
        log_info("the peer's new key is kept in %s", path);
    else
        log_error("the peer's new key could not be kept (it is trusted until linkagent stops): "
                  "%s",
                  err);
}

/* link_env.relay_key_learned: keeps old → (id, pub) beside the config file
 * (written once per relay key rotation, a few hundred bytes; design.md D21). */
static void relay_key_learned(void *arg, const uint8_t old_pub[KEY_LEN], uint8_t id,
                              const uint8_t pub[KEY_LEN])
{
    struct agent *ag = arg;
    char path[AGENTCFG_PATH_MAX + 16], err[AGENTCFG_PATH_MAX + 300];

    if (ag->config_path == NULL) {
        log_warnx("the new relay key is used until linkagent stops: without a config file "
                  "(token mode) it is not kept; give the agent a new token before the old key "
                  "retires");
        return;
    }
    if (learned_add(ag->config_path, "relaykeys",
                    "relay keys linkagent learned from its relays (RELAY_KEY); old key, key id, "
                    "new key",
                    old_pub, id, pub, path, sizeof(path), err, sizeof(err)) == 0)
        log_info("relay key id %u kept in %s", id, path);
    else
        log_error("the new relay key could not be kept (it is used until linkagent stops): %s",
                  err);
}

static int add_link(struct agent *ag, const struct agentcfg_link *cfg)
{
    struct link_env env = {
        .loop = ag->loop,
        .keepalive_ms = ag->cfg->keepalive_ms,
        .backoff_min_ms = backoff_min_ms(ag->cfg),
        .backoff_max_ms = backoff_max_ms(ag->cfg),
        .streams = &ag->streams,
        .relay_key_learned = relay_key_learned,
        .peer_key_learned = peer_key_learned,
        .learned_arg = ag,
    };
    struct link *lk;
    int rc = link_new(&env, cfg, &lk);

    if (rc != 0)
        return rc;
    lk->next = ag->links;
    ag->links = lk;
    return 0;
}

static void on_agg_timer(uv_timer_t *t)
{
    struct agent *ag = t->data;

    streamlog_expire(&ag->slog, false);
    for (struct link *lk = ag->links; lk != NULL; lk = lk->next) {
        streamfin_expire(&lk->so, uv_now(ag->loop));
        stream_owner_tick(&lk->so, uv_now(ag->loop)); /* link sessions: expiry, keys (D46) */
    }
}

void agent_finish(struct agent *ag)
{
    sdnotify_close(&ag->sd);
    if (ag->agg_timer_on) {
        uv_close((uv_handle_t *)&ag->agg_timer, NULL);
        ag->agg_timer_on = false;
    }
    uv_run(ag->loop, UV_RUN_NOWAIT);
    uv_update_time(ag->loop);
    streamlog_expire(&ag->slog, true);
}

void agent_stop(struct agent *ag)
{
    if (ag->stopping)
        return;
    ag->stopping = true;
    sdnotify_stopping(&ag->sd);
    status_stop(ag->status);
    ag->status = NULL;
    metrics_stop(ag->metrics);
    ag->metrics = NULL;
    for (struct link *lk = ag->links, *nx; lk != NULL; lk = nx) {
        nx = lk->next;
        link_close(lk);
    }
    ag->links = NULL;
    if (ag->agg_timer_on)
        uv_close((uv_handle_t *)&ag->agg_timer, NULL);
    ag->agg_timer_on = false;
    uv_close((uv_handle_t *)&ag->sig_term, NULL);
    uv_close((uv_handle_t *)&ag->sig_int, NULL);
    uv_close((uv_handle_t *)&ag->sig_hup, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct agent *ag = h->data;

    if (signum == SIGHUP) {
        /* systemd sees the reload from here to READY=1, applied or not. */
        sdnotify_reloading(&ag->sd);
        agent_reload(ag);
        sdnotify_ready(&ag->sd);
        return;
    }
    log_info("signal %d: shutting down", signum);
    agent_stop(ag);
}

static const struct agentcfg_link *find_cfg(const struct agentcfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_links; i++) {
        if (strcmp(cfg->links[i].name, name) == 0)
            return &cfg->links[i];
    }
    return NULL;
}

/* True if b differs from a at most in the link's keys and relays (what a
 * rotation changes: the private key, the peer and relay keys, the token
 * that carries them and its relay addresses), so the link can take it in
 * place and keep its streams (link_rekey, D21). */
static bool only_keys_changed(const struct agentcfg_link *a, const struct agentcfg_link *b)
{
    struct agentcfg_link *tmp = sodium_malloc(sizeof(*tmp));
    bool same;

    if (tmp == NULL)
        return false;
    *tmp = *b;
    tmp->from_token = a->from_token;
    memcpy(tmp->peer_pub, a->peer_pub, sizeof(tmp->peer_pub));
    tmp->has_priv = a->has_priv;
    memcpy(tmp->priv, a->priv, sizeof(tmp->priv));
    memcpy(tmp->pub, a->pub, sizeof(tmp->pub));
    memcpy(tmp->key_file, a->key_file, sizeof(tmp->key_file));
    tmp->n_relays = a->n_relays;
    memcpy(tmp->relays, a->relays, sizeof(tmp->relays));
    memcpy(tmp->relay_pub, a->relay_pub, sizeof(tmp->relay_pub));
    tmp->relay_key_id = a->relay_key_id;
    same = sodium_memcmp(tmp, a, sizeof(*tmp)) == 0;
    sodium_free(tmp);
    return same;
}

void agent_reload(struct agent *ag)
{
    struct agentcfg *cfg = NULL;
    struct link **pp, *lk;
    char err[512];
    size_t kept = 0, started = 0, stopped = 0, rekeyed = 0;

    if (ag->config_path == NULL) {
        log_info("SIGHUP: no config file (token mode); nothing to reload");
        return;
    }
    if (agent_config_load(ag->config_path, &cfg, err, sizeof(err)) != 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        return;
    }
    if (!ag->log_forced)
        log_init("linkagent", cfg->log_level);
    else
        cfg->log_level = ag->cfg->log_level;
    if (ag->resume_timeout_forced)
        cfg->resume_timeout_ms = ag->resume_timeout_ms;
    if (ag->cipher_forced)
        cfg->cipher = ag->cipher;
    if (ag->keep_legs_forced)
        cfg->keep_legs = ag->keep_legs;
    if (ag->keep_idle_forced)
        cfg->keep_idle_ms = ag->keep_idle_ms;
    if (ag->share_legs_forced)
        cfg->share_legs = ag->share_legs;
    /* Close links that are gone or changed; keep identical ones. */
    for (pp = &ag->links; (lk = *pp) != NULL;) {
        const struct agentcfg_link *nc = find_cfg(cfg, lk->cfg.name);
        if (nc != NULL && sodium_memcmp(nc, &lk->cfg, sizeof(*nc)) == 0) {
            pp = &lk->next;
            kept++;
            continue;
        }
        if (nc != NULL && only_keys_changed(&lk->cfg, nc)) {
            log_info("reload: link %s: new keys or relays; its streams carry on", lk->cfg.name);
            link_rekey(lk, nc);
            pp = &lk->next;
            rekeyed++;
            continue;
        }
        log_info("reload: link %s %s", lk->cfg.name, nc == NULL ? "removed" : "changed");
        *pp = lk->next;
        link_close(lk);
        stopped++;
    }
    agentcfg_free(ag->cfg);
    set_config(ag, cfg);
    for (size_t i = 0; i < cfg->n_links; i++) {
        bool running = false;
        for (lk = ag->links; lk != NULL && !running; lk = lk->next)
            running = strcmp(lk->cfg.name, cfg->links[i].name) == 0;
        if (running)
            continue;
        if (add_link(ag, &cfg->links[i]) != 0)
            log_error("reload: link %s could not start", cfg->links[i].name);
        else
            started++;
    }
    log_info("reloaded %s: %zu link(s) kept, %zu with new keys, %zu started, %zu stopped",
             ag->config_path, kept, rekeyed, started, stopped);
}

/* systemd's STATUS= line (sdnotify_ops.status): the links, whether their
 * sessions are up, their peers and streams. */
static void agent_sd_status(void *arg, char *buf, size_t len)
{
    const struct agent *ag = arg;
    size_t n = 0, up = 0, peers = 0, streams = 0;

    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next) {
        n++;
        up += lk->online;
        peers += lk->online && lk->peer_online;
        streams += lk->so.n_streams;
    }
    snprintf(buf, len, "%s: %zu links, %zu up, %zu down, %zu peers online, %zu streams",
             ag->stopping ? "stopping" : "running", n, up, n - up, peers, streams);
}

static const struct sdnotify_ops agent_sd_ops = {agent_sd_status};

/* The admin socket `linkagent status` asks (D23): --admin-socket, or PID.sock
 * in the runtime directory. Without --admin-socket a failure is logged and
 * the agent serves its links anyway: status is for looking, not for
 * carrying. Returns 0 or the error that fails the start. */
static int agent_admin_start(struct agent *ag)
{
    struct status_src src = {&ag->links, ag->config_path, 0};
    char dir[256] = "", path[256];
    struct timespec ts;
    int rc;

    clock_gettime(CLOCK_REALTIME, &ts);
    src.started_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (ag->admin_socket != NULL)
        return status_start(ag->loop, ag->admin_socket, &src, &ag->status);
    rc = rundir_path(dir, sizeof(dir));
    if (rc == 0)
        rc = rundir_ensure(dir);
    if (rc != 0) {
        log_warnx("no admin socket (`linkagent status` will not see this agent): runtime "
                  "directory %s: %s",
                  dir, strerror(-rc));
        return 0;
    }
    rc = rundir_socket(dir, getpid(), path, sizeof(path));
    if (rc == 0)
        rc = status_start(ag->loop, path, &src, &ag->status);
    if (rc != 0)
        log_warnx("no admin socket (`linkagent status` will not see this agent)");
    else
        log_info("admin socket %s", path);
    return 0;
}

static const struct metrics_ops agent_metrics_ops = {agentmetrics_render, agentmetrics_ready, NULL};

int agent_start(struct agent *ag, uv_loop_t *loop, struct agentcfg *cfg, const char *config_path)
{
    int rc = 0;

    ag->loop = loop;
    set_config(ag, cfg);
    ag->streams.loop = loop;
    ag->streams.rbuf = ag->rbuf;
    ag->streams.rbuf_len = sizeof(ag->rbuf);
    ag->streams.log = &ag->slog;
    ag->config_path = config_path;
    uv_signal_init(loop, &ag->sig_term);
    uv_signal_init(loop, &ag->sig_int);
    uv_signal_init(loop, &ag->sig_hup);
    ag->sig_term.data = ag->sig_int.data = ag->sig_hup.data = ag;
    uv_signal_start(&ag->sig_term, on_signal, SIGTERM);
    uv_signal_start(&ag->sig_int, on_signal, SIGINT);
    uv_signal_start(&ag->sig_hup, on_signal, SIGHUP);
    streamlog_init(&ag->slog, loop);
    uv_timer_init(loop, &ag->agg_timer);
    ag->agg_timer.data = ag;
    uv_timer_start(&ag->agg_timer, on_agg_timer, 1000, 1000);
    uv_unref((uv_handle_t *)&ag->agg_timer); /* never what keeps the agent running */
    ag->agg_timer_on = true;
    for (size_t i = 0; i < cfg->n_links && rc == 0; i++)
        rc = add_link(ag, &cfg->links[i]);
    if (rc == 0)
        rc = agent_admin_start(ag);
    if (rc == 0 && cfg->has_metrics_listen)
        rc = metrics_start(loop, &cfg->metrics_listen, &agent_metrics_ops, ag, &ag->metrics);
    if (rc == 0 && ag->metrics != NULL)
        log_info("metrics on http://%s/metrics", metrics_name(ag->metrics));
    if (rc != 0) {
        agent_stop(ag);
        return rc;
    }
    /* Ready when it serves its side: the config is loaded and every local
     * listener is bound (a connection before the link is up is refused, as
     * it always was; STATUS= says whether links are up). Not when the relay
     * answers: an unreachable relay would fail the start and hold up boot
     * (D20). */
    sdnotify_init(&ag->sd, loop, &agent_sd_ops, ag);
    sdnotify_ready(&ag->sd);
    return 0;
}
