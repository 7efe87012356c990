/* SPDX-License-Identifier: MIT */
#include "relay.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <sodium.h>

#include "acct.h"
#include "admin.h"
#include "allow.h"
#include "exposition.h"
#include "index.h"
#include "prune.h"
#include "lrjson.h"
#include "keys.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "statusjson.h"
#include "rconf.h"
#include "statedir.h"
#include "store.h"
#include "sync.h"
#include "sdlisten.h"
#include "takeover.h"
#include "ticket.h"
#include "quota.h"
#include "wallclock.h"

/* ---- registry changes ---- */

/* A key side used is no longer accepted: the link's streams are reset and
 * the side's session, if it still uses a dropped key, closed. */
static void relay_key_dropped(struct index_link *l, int side)
{
    log_info("link %s: a key of side %c was rotated out", l->name, 'a' + side);
    stream_abort_link(l, STORE_CAUSE_REVOKED, "key rotated");
    if (l->session[side] != NULL && !index_key_ok(l, side, session_static_key(l->session[side])))
        session_close_with(l->session[side], MSG_CLOSE_KEY_ROTATED, "key rotated");
}

/* The overlap ended (D21). If the side's live session already uses the new
 * key, its agent switched: nothing it runs was authorised by the retired key
 * alone, so its streams carry on. Otherwise the deadline passed first, and
 * the old key goes as in a rotation. */
static void relay_key_promoted(struct index_link *l, int side)
{
    if (l->session[side] != NULL && index_key_ok(l, side, session_static_key(l->session[side]))) {
        log_info("link %s: side %c switched to its new key; the old key is retired", l->name,
                 'a' + side);
        return;
    }
    log_info("link %s: side %c: the overlap ended before its agent switched; the old key is "
             "retired",
             l->name, 'a' + side);
    relay_key_dropped(l, side);
}

static void relay_on_link_change(void *arg, struct index_link *l, enum index_change what, int side)
{
    struct relay *r = arg;

    switch (what) {
    case INDEX_ADDED:
    case INDEX_ENABLED:
        log_info("link %s: %s", l->name, what == INDEX_ADDED ? "added" : "enabled");
        break;
    case INDEX_REVOKED:
    case INDEX_REMOVED:
        log_info("link %s: %s: closing its sessions and streams", l->name,
                 what == INDEX_REVOKED ? "revoked" : "removed");
        stream_abort_link(l, STORE_CAUSE_REVOKED, "link revoked");
        for (int s = 0; s < 2; s++) {
            if (l->session[s] != NULL)
                session_close_with(l->session[s], MSG_CLOSE_REVOKED, "link revoked");
        }
        break;
    case INDEX_KEY_PROMOTED:
        relay_key_promoted(l, side);
        break;
    case INDEX_KEY_DROPPED:
        relay_key_dropped(l, side);
        break;
    case INDEX_ALLOW_CHANGED:
        allow_enforce(l, r->acct);
        break;
    }
}

static const struct index_ops relay_index_ops = {relay_on_link_change};

/* ---- listeners ---- */

static void relay_on_conn(uv_stream_t *server, int status)
{
    struct relay_listener *li = server->data;

    if (status != 0) {
        log_warnx("accept on %s: %s", li->name, uv_strerror(status));
        return;
    }
    if (li->r->stopping)
        return;
    conn_accept(&li->r->conn, server);
}

/* Sets the stream-leg socket options on one listener (stream.c). */
static void relay_listener_sockopts(struct relay *r, struct relay_listener *li)
{
    uv_os_fd_t fd;
    int rc = uv_fileno((uv_handle_t *)&li->tcp, &fd);

    if (rc == 0)
        rc = conn_leg_sockopts(fd, &r->cfg.limits);
    if (rc != 0)
        log_warnx("listener %s: socket options: %s", li->name, uv_strerror(rc));
}

/* Binds one listener to sa, or (sa NULL) adopts fd, a listening socket a
 * predecessor handed over (takeover, D25); then listens. */
static int relay_bind_one(struct relay *r, const struct sockaddr *sa, int fd, const char *text)
{
    struct relay_listener *li;
    struct sockaddr_storage ss;
    int len = sizeof(ss), rc;
    char host[INET6_ADDRSTRLEN];

    if (r->n_listeners == RELAY_MAX_LISTENERS)
        return -E2BIG;
    li = &r->listener[r->n_listeners];
    uv_tcp_init(r->loop, &li->tcp);
    li->tcp.data = li;
    li->r = r;
    if (sa != NULL)
        rc = uv_tcp_bind(&li->tcp, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    else
        rc = uv_tcp_open(&li->tcp, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&li->tcp, 511, relay_on_conn);
    if (rc == 0)
        rc = uv_tcp_getsockname(&li->tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0) {
        log_error("listen on %s: %s", text, uv_strerror(rc));
        uv_close((uv_handle_t *)&li->tcp, NULL);
        return rc;
    }
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
        snprintf(li->name, sizeof(li->name), "[%s]:%u", host,
                 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
        snprintf(li->name, sizeof(li->name), "%s:%u", host,
                 ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    r->n_listeners++;
    relay_listener_sockopts(r, li);
    log_info("listening on %s", li->name);
    return 0;
}

/* The listening sockets a predecessor hands over (--takeover: it drains once
 * relay_start confirms) or systemd passed (socket activation, D26), not the
 * configured listen addresses; 1: neither (bind those). */
static int relay_adopt(struct relay *r)
{
    int fds[TAKEOVER_MAX_FDS], rc = 0;
    size_t n = 0, i;
    char err[512];
    bool takeover = r->cli != NULL && r->cli->takeover;

    if (takeover)
        rc = takeover_fetch(r->cfg.admin_socket, fds, TAKEOVER_MAX_FDS, &n, &r->takeover_conn, err,
                            sizeof(err));
    else
        rc = sdlisten_take(fds, TAKEOVER_MAX_FDS, &n, err, sizeof(err));
    if (rc != 0) {
        log_error("%s%s", takeover ? "takeover: " : "", err);
        return -EINVAL;
    }
    if (n == 0 && !takeover)
        return 1;
    r->has_takeover_conn = takeover;
    r->activated = !takeover;
    for (i = 0; i < n && rc == 0; i++)
        rc = relay_bind_one(r, NULL, fds[i],
                            takeover ? "a socket handed over" : "a socket from systemd");
    for (; i < n; i++)
        close(fds[i]);
    if (rc == 0)
        log_info("%s: %zu listening sockets %s; the configured listen addresses are not bound",
                 takeover ? "takeover" : "socket activation", n,
                 takeover ? "taken over from the running relay" : "from systemd");
    return rc;
}

/* Resolves (before the loop runs, so a blocking lookup is fine) and binds. */
static int relay_listen(struct relay *r)
{
    int rc = relay_adopt(r);

    if (rc != 1)
        return rc;
    for (size_t i = 0; i < r->cfg.n_listen; i++) {
        const struct addr_spec *a = &r->cfg.listen[i];
        struct addrinfo hints, *res = NULL;
        uv_getaddrinfo_t req;
        char port[8], text[ADDR_TEXT_SIZE];

        addr_format(a, text, sizeof(text));
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = a->family_hint;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        snprintf(port, sizeof(port), "%u", a->port);
        rc = uv_getaddrinfo(r->loop, &req, NULL, a->host, port, &hints);
        if (rc != 0) {
            log_error("listen on %s: %s", text, uv_strerror(rc));
            return rc;
        }
        res = req.addrinfo;
        rc = relay_bind_one(r, res->ai_addr, -1, text);
        uv_freeaddrinfo(res);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int relay_write_ready(struct relay *r)
{
    char tmp[RELAYCFG_PATH_MAX + 8];
    FILE *f;

    if (r->ready_file[0] == '\0')
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.tmp", r->ready_file);
    f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    for (size_t i = 0; i < r->n_listeners; i++)
        fprintf(f, "%s\n", r->listener[i].name);
    if (fclose(f) != 0 || rename(tmp, r->ready_file) != 0)
        return -errno;
    return 0;
}

/* ---- signals and housekeeping ---- */

static void relay_on_signal(uv_signal_t *h, int signum)
{
    struct relay *r = h->data;
    struct relaycfg cfg;
    struct rconf_cli *cli;
    char path[RELAYCFG_PATH_MAX], err[512];

    if (signum != SIGHUP) {
        /* A second signal during the drain, or drain_timeout 0: at once. */
        if (r->draining || r->cfg.limits.drain_timeout_ms == 0) {
            log_info("signal %d: shutting down%s", signum, r->draining ? " now" : "");
            relay_stop(r);
        } else {
            log_info("signal %d: draining (a second signal stops at once)", signum);
            r->handoff = r->activated;
            (void)relay_drain(r, r->cfg.limits.drain_timeout_ms);
        }
        return;
    }
    /* systemd sees the reload from here to READY=1, applied or not. */
    sdnotify_reloading(&r->sd);
    cli = r->cli;
    if (cli == NULL || rconf_load(cli, &cfg, path, err, sizeof(err)) != 0)
        log_warnx("SIGHUP: configuration not reloaded, keeping the old one: %s",
                  cli != NULL ? err : "no source");
    else
        relay_apply_config(r, &cfg);
    sdnotify_ready(&r->sd);
}

/* systemd's STATUS= line (sdnotify_ops.status): what `systemctl status`
 * shows under the unit's name. */
static void relay_sd_status(void *arg, char *buf, size_t len)
{
    const struct relay *r = arg;
    char left[32] = "";

    if (r->draining && !r->stopping)
        snprintf(left, sizeof(left), ", %" PRIu64 " s left", (relay_drain_left(r) + 999) / 1000);
    snprintf(buf, len,
             "%s: %" PRIu32 " sessions, %" PRIu32 " streams, %" PRIu32 " connections, %zu links%s",
             r->stopping || r->draining ? "draining" : "serving", r->stats.agents,
             r->stats.streams_open, r->admit.conns, index_count(r->index), left);
}

static const struct sdnotify_ops relay_sd_ops = {relay_sd_status};

/* The key ids and public keys a relay key file holds, for logs. */
static void relay_log_key(const struct relay *r, const char *what)
{
    char next[KEY_TEXT_SIZE];

    log_info("relay key %s (id %u)%s: %s", r->cfg.key_file, r->key.current.id, what,
             r->key_pub_text);
    if (r->key.has_next) {
        key_pub_encode(r->key.next.pub, next);
        log_info("relay next key (id %u): %s, the current key retires at %lld ms since the "
                 "epoch",
                 r->key.next.id, next, (long long)r->key.next_until_ms);
    }
}

/* A next relay key's overlap that has ended: the old key is retired (no
 * new handshake with it; sessions made with it carry on, D21). */
static void relay_settle_key(struct relay *r)
{
    uint8_t old = r->key.current.id;

    if (relaykey_settle(&r->key, (int64_t)wallclock_ms()) == 0)
        return;
    key_pub_encode(r->key.current.pub, r->key_pub_text);
    log_info("relay key id %u retired: the overlap ended; id %u is the current key", old,
             r->key.current.id);
}

static void relay_announce_key(void *arg, struct index_link *l)
{
    (void)arg;
    for (int s = 0; s < 2; s++) {
        if (l->session[s] != NULL)
            session_announce_key(l->session[s]);
    }
}

/* The admin socket's `relay-key` (linkctl relay rotate-key wrote the file):
 * the running relay takes the file's keys and tells every agent that asks
 * about a next key. On a bad file the keys in use stay. */
static json_t *relay_reload_key(void *arg)
{
    struct relay *r = arg;
    struct relaykey k;
    char err[256];

    if (relaykey_load(r->cfg.key_file, &k, err, sizeof(err)) != 0) {
        log_warnx("relay key %s: not reloaded, keeping the keys in use: %s", r->cfg.key_file, err);
        return json_pack("{s:b, s:s}", "ok", 0, "error", err);
    }
    relaykey_wipe(&r->key);
    r->key = k;
    sodium_memzero(&k, sizeof(k));
    key_pub_encode(r->key.current.pub, r->key_pub_text);
    relay_settle_key(r);
    relay_log_key(r, " reloaded");
    index_foreach(r->index, relay_announce_key, r);
    return json_pack("{s:b, s:I, s:o}", "ok", 1, "relay_key_id", (json_int_t)r->key.current.id,
                     "next_key_id", r->key.has_next ? json_integer(r->key.next.id) : json_null());
}

/* The status page's history (history.h): one sample when one is due. */
static void relay_sample(struct relay *r, uint64_t now)
{
    history_tick(&r->history, now,
                 &(struct history_sample){.bytes = {r->stats.bytes[0], r->stats.bytes[1]},
                                          .streams_open = r->stats.streams_open,
                                          .streams_total = r->stats.streams_total,
                                          .agents = r->stats.agents,
                                          .t_ms = (int64_t)wallclock_ms()});
}

static void relay_on_tick(uv_timer_t *t)
{
    struct relay *r = t->data;
    uint64_t now = uv_now(r->loop);

    relay_settle_key(r);
    admit_sweep(&r->admit, now);
    stats_tick(&r->stats, now);
    relay_sample(r, now);
    quota_tick(r->index, r->acct, (int64_t)wallclock_ms()); /* periods, counters saved (D29) */
    if (!sync_degraded(r->sync)) /* D42: only what it serves; all while unreadable (D38) */
        index_evict(r->index, now, wallclock_ms(), r->cfg.link_linger_ms);
}

void relay_apply_config(struct relay *r, const struct relaycfg *cfg)
{
    struct admit_cfg lc = r->admit.cfg;

    if (cfg->n_listen != r->cfg.n_listen ||
        memcmp(cfg->listen, r->cfg.listen, cfg->n_listen * sizeof(cfg->listen[0])) != 0 ||
        strcmp(cfg->key_file, r->cfg.key_file) != 0 ||
        strcmp(cfg->database, r->cfg.database) != 0 ||
        strcmp(cfg->admin_socket, r->cfg.admin_socket) != 0 ||
        cfg->has_metrics_listen != r->cfg.has_metrics_listen ||
        memcmp(&cfg->metrics_listen, &r->cfg.metrics_listen, sizeof(cfg->metrics_listen)) != 0)
        log_warnx("SIGHUP: listen addresses and paths change only on restart");
    r->cfg.n_advertise = cfg->n_advertise;
    memcpy(r->cfg.advertise, cfg->advertise, sizeof(cfg->advertise));
    r->cfg.advertise_check_interval_ms = cfg->advertise_check_interval_ms;
    r->cfg.advertise_check_timeout_ms = cfg->advertise_check_timeout_ms;
    selfcheck_configure(&r->selfcheck, cfg);
    r->cfg.limits = cfg->limits;
    holdcap_limits(&r->hold, cfg->limits.held_total, cfg->limits.held_floor);
    r->cfg.retention = cfg->retention; /* the prune reads it at its next run */
    r->cfg.log_level = cfg->log_level;
    r->cfg.metrics_per_link = cfg->metrics_per_link;
    r->cfg.metrics_max_links = cfg->metrics_max_links;
    r->cfg.registry_timeout_ms = cfg->registry_timeout_ms; /* sync reads it at each check */
    db_set_deadline(cfg->registry_timeout_ms);             /* each database call's bound (D38) */
    r->cfg.link_linger_ms = cfg->link_linger_ms;
    log_init("linkrelay", cfg->log_level);
    lc.rate = cfg->limits.conn_rate_per_ip;
    lc.burst = cfg->limits.conn_burst_per_ip;
    lc.max_pending = cfg->limits.max_pending;
    lc.max_pending_per_ip = cfg->limits.max_pending_per_ip;
    lc.max_conns_per_ip = cfg->limits.max_conns_per_ip;
    if (cfg->limits.max_conns != 0 && cfg->limits.max_conns < r->max_conns)
        lc.max_conns = cfg->limits.max_conns;
    admit_set_cfg(&r->admit, &lc);
    /* The pipes' fds were reserved at start: more needs a restart. */
    r->zc.max = cfg->limits.zero_copy_streams;
    if (r->zc.max > r->zc.reserved) {
        log_warnx("SIGHUP: zero_copy_streams %u is over the %u reserved at start; %u until restart",
                  r->zc.max, r->zc.reserved, r->zc.reserved);
        r->zc.max = r->zc.reserved;
    }
    for (size_t i = 0; i < r->n_listeners; i++)
        relay_listener_sockopts(r, &r->listener[i]);
    log_info("configuration reloaded");
}

static int relay_open_registry(struct relay *r)
{
    char err[256], shown[RELAYCFG_PATH_MAX];
    struct store *st;
    db_set_deadline(r->cfg.registry_timeout_ms); /* before any call, migrations too */
    int rc = store_open(r->cfg.database, STORE_OPEN_CREATE, &st, err, sizeof(err));

    db_target_shown(r->cfg.database, shown, sizeof(shown)); /* no password in the log */
    if (rc != 0) {
        log_error("registry %s: %s", shown, err);
        return rc;
    }
    store_close(st);
    rc = index_new(&r->index);
    if (rc == 0)
        rc = sync_new(r->loop, r->cfg.database, &r->cfg.registry_timeout_ms, r->index,
                      &relay_index_ops, r, &r->sync);
    if (rc == 0)
        rc = sync_load_now(r->sync);
    if (rc == 0)
        rc = acct_new(r->loop, r->cfg.database, &r->acct);
    if (rc == 0)
        rc = prune_new(r->loop, r->cfg.database, &r->cfg.retention, &r->prune);
    if (rc == 0)
        rc = pool_new(r->loop, &r->cfg, &r->stats, r->index, &r->pool);
    if (rc == 0)
        log_info("registry %s: links are read as agents authenticate", shown);
    return rc;
}

/* The state directory is made here, not left to the operator, so that
 * `linkrelay --state-dir DIR` works on a fresh machine as linkctl does. */
static int relay_make_state_dir(struct relay *r)
{
    int created = 0;
    int rc = statedir_ensure(r->cfg.state_dir, &created);

    if (rc != 0) {
        log_error("state directory %s: %s", r->cfg.state_dir, strerror(-rc));
        return rc;
    }
    if (created)
        log_info("state directory %s created (mode 0700)", r->cfg.state_dir);
    return 0;
}

static int relay_load_key(struct relay *r)
{
    char err[256];
    int created = 0;
    int rc = relaykey_load_or_create(r->cfg.key_file, &r->key, &created, err, sizeof(err));

    if (rc != 0) {
        log_error("relay key %s: %s", r->cfg.key_file, err);
        return rc;
    }
    key_pub_encode(r->key.current.pub, r->key_pub_text);
    relay_settle_key(r);
    relay_log_key(r, created ? ", created" : "");
    return 0;
}

/* Hands each module its context: what it shares with the others, by
 * pointer (the modules below never see struct relay). */
static void relay_wire(struct relay *r)
{
    const struct relaycfg_limits *lim = &r->cfg.limits;

    r->stats.acct = r->acct;
    r->zc = (struct zerocopy_ctx){.loop = r->loop,
                                  .lim = lim,
                                  .stats = &r->stats,
                                  .reserved = r->zc.reserved,
                                  .max = r->zc.max};
    r->stream.loop = r->loop;
    r->stream.lim = lim;
    r->stream.tickets = r->tickets;
    r->stream.acct = r->acct;
    r->stream.stats = &r->stats;
    r->stream.zc = &r->zc;
    r->stream.shape = &r->shape;
    r->stream.hold = &r->hold;
    holdcap_init(&r->hold, lim->held_total, lim->held_floor);
    r->session = (struct session_ctx){.cfg = &r->cfg,
                                      .key = &r->key,
                                      .index = r->index,
                                      .admit = &r->admit,
                                      .acct = r->acct,
                                      .stats = &r->stats,
                                      .sync = r->sync,
                                      .pool = r->pool,
                                      .streams = &r->stream,
                                      .selfcheck = &r->selfcheck};
    r->conn = (struct conn_ctx){.loop = r->loop,
                                .lim = lim,
                                .admit = &r->admit,
                                .tickets = r->tickets,
                                .stats = &r->stats,
                                .control = {&session_conn_ops, &r->session},
                                .stream = {&stream_conn_ops, &r->stream}};
}

/* Counters by name: {"name":n,...}; NULL when out of memory. */
/* The listeners' names, or the configured advertise addresses. */
static json_t *relay_addr_list(const struct relay *r, bool advertise)
{
    size_t n = advertise ? r->cfg.n_advertise : r->n_listeners;
    json_t *a = json_array();
    char buf[ADDR_TEXT_SIZE];

    for (size_t i = 0; a != NULL && i < n; i++) {
        const char *text = r->listener[i].name;
        if (advertise) {
            if (addr_format(&r->cfg.advertise[i], buf, sizeof(buf)) != 0)
                continue;
            text = buf;
        }
        if (json_array_append_new(a, json_string(text)) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

/* The admin socket's `status` (admin_ops.status). Every counter is unsigned;
 * lrjson_u64 clamps the (unreachable) values above INT64_MAX, which
 * jansson's json_int_t cannot hold. Members in this order (D18). */
static json_t *relay_status(void *arg)
{
    const struct relay *r = arg;
    const struct stats *st = &r->stats;
    const struct {
        const char *name;
        uint64_t n;
    } counters[] = {
        {"uptime_s", (uv_now(r->loop) - r->start_ms) / 1000},
        {"agents", st->agents},
        {"pending", r->admit.pending},
        {"conns", r->admit.conns},
        {"streams_open", st->streams_open},
        {"streams_total", st->streams_total},
        {"streams_zero_copy", r->zc.streams},
        {"streams_zero_copy_total", st->zc_total},
        {"bytes_a_to_b", st->bytes[0]},
        {"bytes_b_to_a", st->bytes[1]},
        {"queued_bytes", st->queued},
        {"queued_bytes_peak", st->queued_peak},
        {"zero_copy_queued_bytes", st->zc_queued},
        {"zero_copy_queued_bytes_peak", st->zc_queued_peak},
        {"rate_held_total", r->shape.held},
        {"held_bytes", r->hold.held},
        {"held_bytes_peak", r->hold.peak},
        {"held_cap", r->hold.cap},
        {"held_cap_total", r->hold.holds},
        {"control_frames_total", r->conn.cork.frames},
        {"control_writes_total", r->conn.cork.writes},
        {"auth_failures", st->auth_failures},
        {"quota_refused", st->quota_refused},
        {"quota_exceeded", st->quota_resets},
        {"acct_dropped", acct_dropped(r->acct)},
        {"drain_left_ms", relay_drain_left(r)},
    };
    json_t *v = json_pack("{s:s, s:s}", "version", LINKRELAY_VERSION, "state",
                          r->stopping   ? "stopping"
                          : r->draining ? "draining"
                                        : "serving");
    int bad = v == NULL;

    for (size_t i = 0; !bad && i < sizeof(counters) / sizeof(counters[0]); i++)
        bad = json_object_set_new(v, counters[i].name, json_integer(lrjson_u64(counters[i].n)));
    if (!bad) {
        json_t *rest =
            json_pack("{s:o, s:o, s:o, s:o, s:s, s:I}", "failures", statusjson_failures(st->fail),
                      "limits_hit", statusjson_limits_hit(r->admit.hit), "listen",
                      relay_addr_list(r, false), "advertise", relay_addr_list(r, true), "relay_key",
                      r->key_pub_text, "relay_key_id", lrjson_u64(r->key.current.id));
        bad = rest == NULL || json_object_update(v, rest) != 0;
        json_decref(rest);
    }
    if (!bad) /* the advertised addresses' self-check (D35) */
        bad = json_object_set_new(v, "advertise_check", selfcheck_json(&r->selfcheck)) != 0;
    if (bad) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static int relay_admin_drain(void *arg, uint32_t timeout_ms)
{
    struct relay *r = arg;

    if (timeout_ms == UINT32_MAX)
        timeout_ms = r->cfg.limits.drain_timeout_ms;
    log_info("admin: drain requested (%" PRIu32 " ms)", timeout_ms);
    return relay_drain(r, timeout_ms);
}

/* Takeover (D25): the listening sockets for the successor. The metrics
 * endpoint closes first: the successor binds the same address. */
static int relay_admin_listeners(void *arg, int *fds, size_t cap, size_t *n)
{
    struct relay *r = arg;
    size_t k = 0;

    if (r->handing_over)
        return -EBUSY;
    if (r->draining || r->stopping || r->listeners_closed)
        return -EALREADY;
    r->handing_over = true;
    metrics_stop(r->metrics);
    r->metrics = NULL;
    for (size_t i = 0; i < r->n_listeners && k < cap; i++) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&r->listener[i].tcp, &fd) == 0)
            fds[k++] = fd;
    }
    *n = k;
    return 0;
}

/* GET /status.json (metrics_ops.status): the admin socket's status with
 * the status page's additions (statusjson.h). */
static char *relay_status_page(void *arg, size_t *len)
{
    const struct relay *r = arg;

    return statusjson_render(r, relay_status((void *)(uintptr_t)r), len);
}

static const struct metrics_ops relay_metrics_ops = {exposition_render, exposition_ready,
                                                     relay_status_page};

/* The successor did not become ready: the metrics endpoint comes back (the
 * listeners never went). */
static void relay_admin_takeover_failed(void *arg)
{
    struct relay *r = arg;

    r->handing_over = false;
    if (r->stopping || !r->cfg.has_metrics_listen || r->metrics != NULL)
        return;
    if (metrics_start(r->loop, &r->cfg.metrics_listen, &relay_metrics_ops, r, &r->metrics) != 0)
        log_warnx("takeover failed: the metrics endpoint could not be bound again");
}

static const struct admin_ops relay_admin_ops = {.status = relay_status,
                                                 .relay_key = relay_reload_key,
                                                 .drain = relay_admin_drain,
                                                 .listeners = relay_admin_listeners,
                                                 .takeover_failed = relay_admin_takeover_failed};

int relay_start(struct relay *r, uv_loop_t *loop, const struct relaycfg *cfg, struct rconf_cli *cli,
                const char *config_path, const char *ready_file)
{
    struct admit_cfg lc;
    uint32_t budget = admit_fd_budget();
    int rc;

    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->cfg = *cfg;
    r->cli = cli;
    snprintf(r->config_path, sizeof(r->config_path), "%s", config_path);
    snprintf(r->ready_file, sizeof(r->ready_file), "%s", ready_file != NULL ? ready_file : "");
    r->start_ms = uv_now(loop);
    stats_init(&r->stats, r->start_ms);
    selfcheck_init(&r->selfcheck, loop, &r->key, cfg);
    relay_sample(r, r->start_ms);
    /* Each zero-copy stream holds two pipes: their fds come off the budget,
     * at most half of it (design.md D14). */
    r->zc.reserved = cfg->limits.zero_copy_streams;
    if (r->zc.reserved > budget / 8)
        r->zc.reserved = budget / 8;
    r->zc.max = r->zc.reserved;
    budget -= r->zc.reserved * 4;
    r->max_conns = cfg->limits.max_conns != 0 && cfg->limits.max_conns < budget
                       ? cfg->limits.max_conns
                       : budget;
    lc.rate = cfg->limits.conn_rate_per_ip;
    lc.burst = cfg->limits.conn_burst_per_ip;
    lc.max_pending = cfg->limits.max_pending;
    lc.max_pending_per_ip = cfg->limits.max_pending_per_ip;
    lc.max_conns_per_ip = cfg->limits.max_conns_per_ip;
    lc.max_conns = r->max_conns;
    lc.max_ips = r->max_conns + 65536;
    rc = admit_init(&r->admit, &lc);
    r->stream.rbuf = malloc(STREAM_RBUF_SIZE);
    if (rc == 0 && r->stream.rbuf == NULL)
        rc = -ENOMEM;
    if (rc == 0)
        rc = ticket_table_new(r->max_conns * 2 + 1024, &r->tickets);
    if (rc == 0)
        rc = relay_make_state_dir(r);
    if (rc == 0)
        rc = relay_load_key(r);
    if (rc == 0)
        rc = relay_open_registry(r);
    if (rc == 0) {
        relay_wire(r);
        rc = relay_listen(r);
    }
    /* A successor binds the metrics endpoint its predecessor let go of, and
     * says `ready` before it takes the admin path: a failure up to here
     * leaves the predecessor serving (D25). */
    if (rc == 0 && r->cfg.has_metrics_listen)
        rc = metrics_start(loop, &r->cfg.metrics_listen, &relay_metrics_ops, r, &r->metrics);
    if (rc == 0 && r->has_takeover_conn) {
        r->has_takeover_conn = false;
        rc = takeover_confirm(r->takeover_conn);
        if (rc == -ETIMEDOUT) /* it heard `ready`; its path may still be there */
            log_warnx("takeover: the running relay did not close the takeover connection");
        else if (rc != 0)
            log_error("takeover: the running relay did not hear ready: %s", strerror(-rc));
        else
            log_info("takeover: ready; the running relay drains");
        if (rc == -ETIMEDOUT)
            rc = 0;
    }
    if (rc == 0)
        rc = admin_start(loop, r->cfg.admin_socket, r->cfg.admin_socket_mode,
                         cli != NULL && cli->takeover, r->index, r->sync, &relay_admin_ops, r,
                         &r->admin);
    if (rc != 0)
        return rc;
    if (r->metrics != NULL)
        log_info("metrics on http://%s/metrics", metrics_name(r->metrics));
    log_info("admin socket %s; max_conns %u; zero_copy_streams %u", r->cfg.admin_socket,
             r->max_conns, r->zc.max);
    sync_start(r->sync);
    pool_start(r->pool);
    uv_signal_init(loop, &r->sig_term);
    uv_signal_init(loop, &r->sig_int);
    uv_signal_init(loop, &r->sig_hup);
    r->sig_term.data = r->sig_int.data = r->sig_hup.data = r;
    uv_signal_start(&r->sig_term, relay_on_signal, SIGTERM);
    uv_signal_start(&r->sig_int, relay_on_signal, SIGINT);
    uv_signal_start(&r->sig_hup, relay_on_signal, SIGHUP);
    shape_init(&r->shape, loop, &r->cfg.limits, &r->stats.streams_open);
    uv_timer_init(loop, &r->tick);
    r->tick.data = r;
    uv_timer_start(&r->tick, relay_on_tick, 1000, 1000);
    selfcheck_start(&r->selfcheck); /* the listeners are up */
    pool_set_selfcheck(r->pool, &r->selfcheck);
    rc = relay_write_ready(r);
    if (rc != 0)
        log_warn("ready file %s", r->ready_file);
    log_info("linkrelay %s started", LINKRELAY_VERSION);
    /* Listeners and the admin socket are listening (the kernel queues what
     * arrives before the loop runs) and the registry is loaded (D20). */
    sdnotify_init(&r->sd, loop, &relay_sd_ops, r);
    sdnotify_ready(&r->sd);
    return 0;
}
