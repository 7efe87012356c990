/* SPDX-License-Identifier: MIT */
#include "relay/session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "acct.h"
#include "advert.h"
#include "auth.h"
#include "authlookup.h"
#include "enrollgate.h"
#include "frame.h"
#include "keys.h"
#include "keyswitch.h"
#include "leglost.h"
#include "log.h"
#include "noise.h"
#include "stats.h"
#include "relay/stream.h"
#include "sync.h"
#include "quota.h"
#include "wallclock.h"

#define SESSION_VERSION_TEXT "linkrelay " LINKRELAY_VERSION
#define SESSION_MAX_QUEUED   (64u * 1024u) /* bytes queued to one control session */
#define SESSION_SNDBUF       (32 * 1024)   /* kernel send buffer of a control session */

struct session {
    struct noise_hs hs;
    struct noise_cs tx, rx;
    struct index_link *link;
    int side;
    bool replaced; /* closed because a newer session took over */
    uint8_t flags; /* AUTH flags: what the agent speaks (common/auth.h) */
    uint8_t static_pub[32];
    uint64_t last_rx_ms;
    uint64_t last_ping_ms;
    uint64_t ping_nonce;
    char agent_version[MSG_MAX_VERSION + 1];
    struct authlookup *lookup; /* D42: the AUTH's read of its link */
};

/* Per session state: c->owner of a control connection. */
static struct session *session_of(const struct conn *c)
{
    return c->owner;
}

/* Starts a control session after a valid control preamble (the 8 bytes are
 * the Noise prologue's tail). 0, -ENOENT for an unknown key id, -ENOMEM. */
static int session_begin(void *arg, struct conn *c, const uint8_t preamble[8], uint8_t key_id)
{
    struct session_ctx *sx = arg;
    const struct relaykey_entry *k = relaykey_by_id(sx->key, key_id);
    uint8_t prologue[FRAME_CONTROL_PROLOGUE_LEN];
    struct session *cs;

    if (k == NULL)
        return -ENOENT;
    cs = calloc(1, sizeof(*cs));
    if (cs == NULL)
        return -ENOMEM;
    frame_control_prologue(preamble, prologue);
    if (noise_hs_init_pub(&cs->hs, NOISE_XK, false, prologue, sizeof(prologue), k->priv, k->pub,
                          NULL) != 0) {
        free(cs);
        return -EINVAL;
    }
    c->owner = cs;
    c->state = CONN_HS1;
    return 0;
}

const uint8_t *session_static_key(const struct conn *c)
{
    const struct session *cs = session_of(c);

    return cs != NULL ? cs->static_pub : NULL;
}

static void session_detach(struct conn *c);

/* Frames one body and writes it (once UP, batched per loop turn: D49). */
static int session_write_frame(struct conn *c, const uint8_t *body, size_t len)
{
    uint8_t out[FRAME_HDR_LEN + FRAME_MAX_CONTROL];
    struct buf b;

    buf_init(&b, out, sizeof(out));
    if (frame_encode(body, len, &b) != 0)
        return -EINVAL;
    return conn_write_corked(c, out, b.len);
}

/* Encrypts and sends one encoded control message. 0 or negative (the
 * connection is closing). */
static int session_send_pt(struct conn *c, const uint8_t *pt, size_t ptlen)
{
    uint8_t ct[FRAME_MAX_CONTROL];
    size_t ctlen;
    int rc;
    struct session_ctx *sx = c->ops_arg;
    struct session *cs = session_of(c);

    if (cs == NULL || c->state == CONN_CLOSED)
        return -EPIPE;
    /* An agent that does not read its control connection cannot make the
     * relay queue without bound: past the limit the session is dropped (a
     * CLOSE would only queue behind the rest). */
    if (uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > SESSION_MAX_QUEUED) {
        log_warnx("conn %" PRIu64 " %s: control session not reading, dropped", c->id, c->peer);
        sx->admit->hit[ADMIT_CTRL_QUEUE]++;
        session_detach(c);
        conn_close(c, CONN_END_FIN, "control session not reading");
        return -ENOBUFS;
    }
    rc = noise_cs_encrypt(&cs->tx, NULL, 0, pt, ptlen, ct, sizeof(ct), &ctlen);
    if (rc != 0) {
        conn_close(c, CONN_END_FIN, "control frame not encrypted");
        return -EIO;
    }
    return session_write_frame(c, ct, ctlen);
}

/* Encrypts and sends one control message. 0 or negative (connection closing). */
static int session_send(struct conn *c, const struct msg *m)
{
    uint8_t pt[MSG_MAX_LEN];
    size_t ptlen;
    int rc = msg_encode(m, pt, sizeof(pt), &ptlen);

    if (rc != 0) {
        log_warnx("conn %" PRIu64 " %s: cannot encode %s: %s", c->id, c->peer,
                  msg_type_name(m->type), msg_strerror(rc));
        return -EINVAL;
    }
    rc = session_send_pt(c, pt, ptlen);
    sodium_memzero(pt, sizeof(pt));
    return rc;
}

/* Sends m to s if s is an up session. */
static void session_send_up(struct conn *s, const struct msg *m)
{
    if (s != NULL && s->state == CONN_UP)
        (void)session_send(s, m);
}

static void session_send_peer(struct index_link *l, int side, bool online)
{
    struct msg m = {.type = MSG_PEER, .u.peer_online = online};

    session_send_up(l->session[side], &m);
}

/* Tells side's agent, if it takes PEER_KEY, the static key the other side's
 * live session authenticated with, and the endorsement that side's agent
 * sent for it, if any: the agent takes the key only if it trusts it or the
 * endorsement verifies (D21). */
static void session_send_peer_key(struct index_link *l, int side)
{
    struct conn *s = l->session[side], *peer = l->session[1 - side];
    const struct session *ps;
    struct msg m;

    if (s == NULL || s->state != CONN_UP || !(session_of(s)->flags & AUTH_FLAG_PEER_KEY) ||
        peer == NULL)
        return;
    ps = session_of(peer);
    memset(&m, 0, sizeof(m));
    m.type = MSG_PEER_KEY;
    memcpy(m.u.peer_key.key, ps->static_pub, MSG_KEY_LEN);
    if (l->has_endorse[1 - side] &&
        memcmp(l->endorse[1 - side], ps->static_pub, MSG_KEY_LEN) == 0) {
        memcpy(m.u.peer_key.by, l->endorse[1 - side] + MSG_KEY_LEN, MSG_KEY_LEN);
        memcpy(m.u.peer_key.mac, l->endorse[1 - side] + 2 * MSG_KEY_LEN, MSG_MAC_LEN);
    }
    session_send(s, &m);
}

/* KEY_ENDORSE: an agent's old key vouches for its new key. It comes on the
 * old key's session (the agent reloaded; by is the session's key and key one
 * the registry accepts for the side) before the new session is up, and again
 * on every session with the new key (key is the session's). The relay cannot
 * check the mac (the peer does); it keeps it with the link (registry,
 * through the sync worker) and passes it on with PEER_KEY. */
static void session_on_endorse(struct conn *c, const struct msg_key *k)
{
    struct session_ctx *sx = c->ops_arg;
    struct session *cs = session_of(c);
    struct index_link *l = cs->link;
    uint8_t e[STORE_ENDORSE_LEN];
    bool is_new = sodium_memcmp(k->key, cs->static_pub, MSG_KEY_LEN) == 0;

    if (!(cs->flags & AUTH_FLAG_PEER_KEY)) {
        session_close_with(c, MSG_CLOSE_PROTOCOL, "KEY_ENDORSE without AUTH flags bit 1");
        return;
    }
    if (!is_new && (sodium_memcmp(k->by, cs->static_pub, MSG_KEY_LEN) != 0 ||
                    !index_key_ok(l, cs->side, k->key))) {
        log_warnx("conn %" PRIu64 " %s: link %s side %c: KEY_ENDORSE for a key that is neither "
                  "this session's nor its side's from this session's key; ignored",
                  c->id, c->peer, l->name, 'a' + cs->side);
        return;
    }
    memcpy(e, k->key, MSG_KEY_LEN);
    memcpy(e + MSG_KEY_LEN, k->by, MSG_KEY_LEN);
    memcpy(e + 2 * MSG_KEY_LEN, k->mac, MSG_MAC_LEN);
    if (l->has_endorse[cs->side] && memcmp(l->endorse[cs->side], e, sizeof(e)) == 0)
        return;
    memcpy(l->endorse[cs->side], e, sizeof(e));
    l->has_endorse[cs->side] = true;
    log_info("conn %" PRIu64 " %s: link %s side %c: its old key endorsed its new key", c->id,
             c->peer, l->name, 'a' + cs->side);
    if (sx->sync == NULL || sync_endorse(sx->sync, l->id, cs->side, e) != 0)
        log_warnx("link %s: side %c: the endorsement is not stored now (queue full); the agent's "
                  "next session sends it again",
                  l->name, 'a' + cs->side);
    if (is_new)
        session_send_peer_key(l, 1 - cs->side);
}

void session_announce_key(struct conn *c)
{
    struct session_ctx *sx = c->ops_arg;
    const struct session *cs = session_of(c);
    uint8_t *enc = sx->relay_key_msg;
    struct msg m;

    if (c->state != CONN_UP || cs == NULL || !(cs->flags & AUTH_FLAG_RELAY_KEY) ||
        !sx->key->has_next)
        return;
    /* Encoded once per next key: the encoder's key check costs an X25519
     * operation, and a reloaded key goes to every session in one turn of
     * the loop. */
    if (sx->relay_key_len == 0 || enc[1] != sx->key->next.id ||
        memcmp(enc + 2, sx->key->next.pub, MSG_KEY_LEN) != 0) {
        memset(&m, 0, sizeof(m));
        m.type = MSG_RELAY_KEY;
        m.u.relay_key.key_id = sx->key->next.id;
        memcpy(m.u.relay_key.key, sx->key->next.pub, MSG_KEY_LEN);
        sx->relay_key_len = 0;
        if (msg_encode(&m, enc, sizeof(sx->relay_key_msg), &sx->relay_key_len) != 0) {
            log_warnx("relay next key (id %u) cannot be announced: not a valid key",
                      sx->key->next.id);
            return;
        }
    }
    session_send_pt(c, enc, sx->relay_key_len);
}

/* Detaches the session from its link; tells the other side unless replaced. */
static void session_detach(struct conn *c)
{
    struct session_ctx *sx = c->ops_arg;
    struct session *cs = session_of(c);
    struct index_link *l = cs->link;

    if (l == NULL || l->session[cs->side] != c)
        return;
    log_info("conn %" PRIu64 " %s: control session for link %s side %c down", c->id, c->peer,
             l->name, 'a' + cs->side);
    acct_event(sx->acct, "disconnect", l->id, c->peer, cs->side == 0 ? "side a" : "side b", 1);
    l->session[cs->side] = NULL;
    cs->link = NULL;
    if (sx->stats->agents > 0)
        sx->stats->agents--;
    /* Not when replaced (the side is still online) nor while the relay stops
     * (every session is being closed; relay_stop walks the connection list
     * and a send here could drop the next one under its feet). */
    if (!cs->replaced && !sx->stopping)
        session_send_peer(l, 1 - cs->side, false);
}

void session_close_with(struct conn *c, enum msg_close_reason reason, const char *text)
{
    struct msg m;

    if (c->state == CONN_CLOSED || c->state == CONN_FLUSHING || session_of(c) == NULL)
        return;
    log_info("conn %" PRIu64 " %s: control session closed: %s (%s)", c->id, c->peer,
             msg_close_reason_name(reason), text);
    if (c->state == CONN_UP) {
        memset(&m, 0, sizeof(m));
        m.type = MSG_CLOSE;
        m.u.close.reason = reason;
        m.u.close.text.p = (const uint8_t *)text;
        m.u.close.text.len = strnlen(text, MSG_MAX_TEXT);
        /* On failure the connection may be closed already; either way the
         * session must leave its link now (the link may be freed next). */
        (void)session_send(c, &m);
    }
    if (session_of(c) != NULL)
        session_detach(c);
    conn_close(c, CONN_END_FLUSH, msg_close_reason_name(reason));
}

void session_going_away(struct conn *c, uint16_t seconds, const char *text)
{
    struct msg m;

    if (c->state != CONN_UP || session_of(c) == NULL)
        return;
    memset(&m, 0, sizeof(m));
    m.type = MSG_GOING_AWAY;
    m.u.going_away.seconds = seconds;
    m.u.going_away.text.p = (const uint8_t *)text;
    m.u.going_away.text.len = strnlen(text, MSG_MAX_TEXT);
    (void)session_send(c, &m);
}

/* The close hook: detaches from the link, wipes and frees the session. */
static bool session_on_close(struct conn *c)
{
    struct session *cs = session_of(c);

    if (cs == NULL)
        return false;
    pool_forget(((struct session_ctx *)c->ops_arg)->pool, c); /* an AUTH held (D41) */
    session_detach(c);
    authlookup_free(&cs->lookup);
    noise_hs_wipe(&cs->hs);
    noise_cs_wipe(&cs->tx);
    noise_cs_wipe(&cs->rx);
    sodium_memzero(cs, sizeof(*cs));
    free(cs);
    c->owner = NULL;
    return false;
}

/* Sends OPEN_FAIL to the session of link side `side`, if up. */
static void session_open_fail(struct index_link *l, int side, uint32_t req_id,
                              enum msg_open_fail_reason why)
{
    struct msg m = {.type = MSG_OPEN_FAIL, .u.open_fail = {.req_id = req_id, .reason = why}};

    session_send_up(l->session[side], &m);
}

static void session_keepalive(uv_timer_t *t);
static void session_serve(struct conn *c, struct index_link *l);

static void session_send_welcome(struct conn *c)
{
    const struct session_ctx *sx = c->ops_arg;
    const struct relaycfg *cfg = sx->cfg;
    const struct session *cs = session_of(c);
    struct index_link *l = cs->link;
    char addrs[RELAYCFG_MAX_ADDRS][ADDR_TEXT_SIZE];
    struct msg m;

    advert_welcome_msg(cfg, l->session[1 - cs->side] != NULL, SESSION_VERSION_TEXT, &m);
    if (session_send(c, &m) != 0)
        return;
    if (cs->flags & AUTH_FLAG_RESUME) { /* this relay pairs resumed legs (§5 RESUMABLE) */
        memset(&m, 0, sizeof(m));
        m.type = MSG_RESUMABLE;
        if (session_send(c, &m) != 0)
            return;
    }
    if (advert_addrs_msg(cfg, &m, addrs) > 0)
        session_send(c, &m);
}

/* The side's allowlist does not allow c's source (D27): counted (a refusal
 * before the session is admitted), logged and written as an event once per
 * window, and told to the agent (only the side's key holder can read it).
 * The session never attaches to its link and stays charged to its address. */
static void session_refuse_source(struct session_ctx *sx, struct conn *c, struct index_link *l,
                                  int side)
{
    char text[ADDR_TEXT_SIZE + STORE_NAME_MAX + 64];

    stats_count_fail(sx->stats, STATS_FAIL_SOURCE, c->peer);
    if (index_source_fail(l, side, c->peer, wallclock_ms())) {
        log_warnx("conn %" PRIu64 " %s: link %s side %c: source not allowed (control session)",
                  c->id, c->peer, l->name, 'a' + side);
        acct_event(sx->acct, "source_not_allowed", l->id, c->peer,
                   side == 0 ? "side a: control session" : "side b: control session", 1);
    }
    snprintf(text, sizeof(text), "source %s is not allowed for link %s side %c", c->peer, l->name,
             'a' + side);
    session_close_with(c, MSG_CLOSE_SOURCE_NOT_ALLOWED, text);
}

/* AUTH flags bit 3 (D30): true when spub is enrolled; else c is told why. */
static bool session_enroll(struct conn *c, struct index_link *l, const struct auth *a,
                           const uint8_t *spub)
{
    struct session_ctx *sx = c->ops_arg;
    struct session *cs = session_of(c);
    const struct enrollgate_env env = {sx->stats, sx->acct, sx->sync};
    bool src_ok = l == NULL || index_source_ok(l, a->side, c->addr_key), enrolled;
    enum enrollgate_result r =
        enrollgate_enroll(&env, l, a->side, a->verifier, spub, src_ok, c->id, c->peer, &enrolled);

    if (enrolled)
        return true;
    if (noise_hs_split(&cs->hs, &cs->tx, &cs->rx) != 0) {
        conn_close(c, CONN_END_FIN, "handshake split failed");
        return false;
    }
    c->state = CONN_UP;
    if (r == ENROLLGATE_OK && !src_ok)
        session_refuse_source(sx, c, l, a->side);
    else
        session_close_with(c,
                           r == ENROLLGATE_OK ? MSG_CLOSE_LIMIT : MSG_CLOSE_ENROLL_UNKNOWN + r - 1,
                           r == ENROLLGATE_OK ? "relay busy, try again" : enrollgate_name(r));
    return false;
}

static void session_looked(struct conn *c, const struct auth *a, const uint8_t *spub);

/* Message 3 decrypted and AUTH decoded: look the link up and go UP (or not). */
static void session_authorize(struct conn *c, const struct auth *a, const uint8_t *spub)
{
    struct session_ctx *sx = c->ops_arg;
    struct session *cs = session_of(c);
    struct index_link *l = index_find(sx->index, a->link_id);
    int sndbuf;
    bool unread; /* D42: the registry could not be read for the link */

    if (l == NULL && authlookup_wait(&cs->lookup, sx->sync, c, a, spub, session_looked))
        return;
    unread = l == NULL && authlookup_failed(cs->lookup);
    if ((a->flags & AUTH_FLAG_ENROLL) && !unread && !session_enroll(c, l, a, spub))
        return;
    if (l == NULL && !unread) {
        conn_fail(c, STATS_FAIL_UNKNOWN_LINK);
        return;
    }
    if (!unread && (!index_key_ok(l, a->side, spub) || enrollgate_is_anchor(l, a->side, spub))) {
        /* Counted for the link too: `linkctl probe` says which side's key
         * the relay refused, and why (index_auth_fail). */
        if (index_auth_fail(l, a->side, spub, c->peer, wallclock_ms())) {
            char why[32];
            snprintf(why, sizeof(why), "side %c: %s", 'a' + a->side, l->authfail[a->side].cause);
            acct_event(sx->acct, "auth_fail", l->id, c->peer, why, 1);
        }
        conn_fail(c, STATS_FAIL_BAD_KEY);
        return;
    }
    memcpy(cs->static_pub, spub, 32);
    cs->side = a->side;
    cs->flags = a->flags;
    memcpy(cs->agent_version, a->agent_version, sizeof(cs->agent_version));
    if (noise_hs_split(&cs->hs, &cs->tx, &cs->rx) != 0) {
        conn_close(c, CONN_END_FIN, "handshake split failed");
        return;
    }
    /* Authenticated: from here on failures are told (CLOSE), not silent. */
    conn_established(c);
    /* Control traffic is small: a fixed kernel send buffer (no autotuning to
     * megabytes) keeps what a deaf agent can pin down per session small, and
     * lets the SESSION_MAX_QUEUED bound act soon. */
    sndbuf = SESSION_SNDBUF;
    (void)uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
    c->state = CONN_UP;
    cs->last_rx_ms = cs->last_ping_ms = uv_now(c->tcp.loop);
    randombytes_buf(&cs->ping_nonce, sizeof(cs->ping_nonce));
    if ((sx->sync != NULL && sync_refuse_auth(sx->sync)) || unread) { /* D38: may be stale */
        session_close_with(c, MSG_CLOSE_LIMIT, "registry unavailable, try again");
        return;
    }
    if (!l->enabled) {
        acct_event(sx->acct, "refused_revoked", l->id, c->peer, a->side == 0 ? "side a" : "side b",
                   1);
        session_close_with(c, MSG_CLOSE_REVOKED, "link revoked");
        return;
    }
    if (!index_source_ok(l, a->side, c->addr_key)) {
        session_refuse_source(sx, c, l, a->side);
        return;
    }
    if (!pool_redirect(sx->pool, c, l->id, session_send, session_serve)) /* D34, D41 */
        session_serve(c, l);
}

/* The link's home is here: attach c to l, WELCOME and PEER. */
static void session_serve(struct conn *c, struct index_link *l)
{
    struct session_ctx *sx = c->ops_arg;
    const struct relaycfg_limits *lim = &sx->cfg->limits;
    struct session *cs = session_of(c);
    int side = cs->side;
    struct conn *old;
    uint64_t tick;

    /* A session of an enabled link: its address's anonymous limits are not
     * its business any more (docs/design.md D16). */
    conn_vouch(c);
    old = l->session[side];
    if (old != NULL) {
        session_of(old)->replaced = true;
        session_close_with(old, MSG_CLOSE_REPLACED, "replaced by a newer session");
    }
    l->session[side] = c;
    l->since_ms[side] = wallclock_ms();
    l->resumable[side] = (cs->flags & AUTH_FLAG_RESUME) != 0;
    conn_session_sockopts(c);
    cs->link = l;
    sx->stats->agents++;
    log_info("conn %" PRIu64 " %s: control session up: link %s side %c agent '%s'", c->id, c->peer,
             l->name, 'a' + side, cs->agent_version);
    acct_event(sx->acct, "connect", l->id, c->peer, side == 0 ? "side a" : "side b", 1);
    session_send_welcome(c);
    if (c->state == CONN_UP && sx->draining) {
        uint64_t now = uv_now(c->tcp.loop);
        uint64_t left = sx->drain_deadline_ms > now ? sx->drain_deadline_ms - now : 0;
        session_going_away(c, (uint16_t)((left + 999) / 1000), "relay draining");
    }
    if (c->state != CONN_UP)
        return;
    session_announce_key(c);
    if (c->state != CONN_UP)
        return;
    /* The key first: the peer may open a stream as soon as it hears PEER. */
    session_send_peer_key(l, side);
    session_send_peer_key(l, 1 - side);
    if (c->state != CONN_UP)
        return;
    if (old == NULL)
        session_send_peer(l, 1 - side, true);
    keyswitch_check(sx->sync, c, l, side, cs->static_pub);
    tick = lim->keepalive_ms < lim->dead_after_ms ? lim->keepalive_ms : lim->dead_after_ms;
    tick /= 5;
    if (tick < 50)
        tick = 50;
    conn_timer(c, tick, tick, session_keepalive);
}

static void session_keepalive(uv_timer_t *t)
{
    struct conn *c = t->data;
    const struct session_ctx *sx = c->ops_arg;
    struct session *cs = session_of(c);
    const struct relaycfg_limits *lim = &sx->cfg->limits;
    uint64_t now = uv_now(c->tcp.loop);
    struct msg m;

    if (c->state != CONN_UP || cs == NULL)
        return;
    if (now - cs->last_rx_ms >= lim->dead_after_ms) {
        session_close_with(c, MSG_CLOSE_TIMEOUT, "nothing received within dead_after");
        return;
    }
    if (now - cs->last_rx_ms >= lim->keepalive_ms && now - cs->last_ping_ms >= lim->keepalive_ms) {
        memset(&m, 0, sizeof(m));
        m.type = MSG_PING;
        m.u.nonce = ++cs->ping_nonce;
        cs->last_ping_ms = now;
        session_send(c, &m);
    }
}

/* A stream of an OPEN expired before both legs arrived (stream_open's
 * callback): the opener is told. */
static void session_stream_expired(struct index_link *l, int opener, uint32_t req_id)
{
    session_open_fail(l, opener, req_id, MSG_OPEN_FAIL_TIMEOUT);
}

/*
 * OPEN, or RESUME when resume_id is set (§5, §7.3): the same checks and the
 * same pending stream; RESUME hands out RESUMED (STREAM + the id) instead.
 * The relay neither checks nor keeps the id beyond the pending pair.
 */
static void session_on_open(struct conn *c, uint32_t req_id, const uint8_t *resume_id)
{
    struct session_ctx *sx = c->ops_arg;
    const struct relaycfg_limits *lim = &sx->cfg->limits;
    uint64_t now = uv_now(c->tcp.loop);
    struct session *cs = session_of(c);
    struct index_link *l = cs->link;
    struct stream *s;
    struct msg m;
    int rc;

    if (l == NULL)
        return;
    /* Every OPEN of the link, from either side and whatever its outcome, is
     * charged to the link's one bucket first (docs/design.md D13). */
    if (lim->open_rate_per_link != 0 &&
        !tbucket_take(&l->opens, lim->open_rate_per_link, lim->open_burst_per_link, now)) {
        sx->admit->hit[ADMIT_OPEN_RATE]++;
        stats_log_refusal(sx->stats, now,
                          "link %s: OPEN refused: rate_limited (open_rate_per_link %" PRIu32
                          "/s, burst %" PRIu32 ")",
                          l->name, lim->open_rate_per_link, lim->open_burst_per_link);
        session_open_fail(l, cs->side, req_id, MSG_OPEN_FAIL_RATE_LIMITED);
        return;
    }
    /* The byte quota used up (D29), counted and logged: OPEN_FAIL internal to
     * an agent without AUTH flags bit 4 (it takes unknown reasons as errors). */
    if (quota_refuse(l, sx->stats, (int64_t)wallclock_ms(), now)) {
        session_open_fail(l, cs->side, req_id,
                          (cs->flags & AUTH_FLAG_QUOTA) ? MSG_OPEN_FAIL_QUOTA_EXCEEDED
                                                        : MSG_OPEN_FAIL_INTERNAL);
        return;
    }
    if (l->session[1 - cs->side] == NULL ||
        (resume_id != NULL && !(session_of(l->session[1 - cs->side])->flags & AUTH_FLAG_RESUME))) {
        session_open_fail(l, cs->side, req_id, MSG_OPEN_FAIL_PEER_OFFLINE);
        return;
    }
    if (l->n_streams >= lim->max_streams_per_link) {
        sx->admit->hit[ADMIT_STREAMS_LINK]++;
        stats_log_refusal(sx->stats, now,
                          "link %s: OPEN refused: stream_limit (max_streams_per_link %" PRIu32 ")",
                          l->name, lim->max_streams_per_link);
        session_open_fail(l, cs->side, req_id, MSG_OPEN_FAIL_STREAM_LIMIT);
        return;
    }
    rc = stream_open(sx->streams, l, cs->side, req_id, session_stream_expired, &s);
    if (rc != 0) {
        session_open_fail(l, cs->side, req_id, MSG_OPEN_FAIL_INTERNAL);
        return;
    }
    if (resume_id != NULL)
        stream_set_resume(s);
    for (int side = 0; side < 2; side++) {
        memset(&m, 0, sizeof(m));
        m.type = resume_id != NULL ? MSG_RESUMED : MSG_STREAM;
        if (resume_id != NULL)
            memcpy(m.u.stream.resume_id, resume_id, MSG_RESUME_ID_LEN);
        m.u.stream.req_id = side == cs->side ? req_id : 0;
        m.u.stream.stream_id = stream_wire_id(s);
        m.u.stream.role = side == cs->side ? MSG_ROLE_INITIATOR : MSG_ROLE_RESPONDER;
        m.u.stream.expires_ms = lim->ticket_expiry_ms;
        stream_ticket_copy(s, side, m.u.stream.ticket);
        if (l->session[side] != NULL)
            session_send(l->session[side], &m);
        sodium_memzero(&m, sizeof(m));
    }
}

static void session_pass_ack(struct conn *c, const struct msg *m)
{
    const struct session *cs = session_of(c);
    struct conn *peer = cs->link != NULL ? cs->link->session[1 - cs->side] : NULL;
    struct session_ctx *sx = c->ops_arg;
    bool pass = (cs->flags & AUTH_FLAG_STREAM_ACK) && peer != NULL && peer->state == CONN_UP &&
                (session_of(peer)->flags & AUTH_FLAG_STREAM_ACK);

    sx->stats->stream_acks[pass && session_send(peer, m) == 0]++;
}

static void session_dispatch(struct conn *c, const struct msg *m)
{
    const struct session *cs = session_of(c);
    struct msg out;

    if (cs->link == NULL) /* held while its link's home is checked (D41) */
        return;
    switch (m->type) {
    case MSG_PING:
        memset(&out, 0, sizeof(out));
        out.type = MSG_PONG;
        out.u.nonce = m->u.nonce;
        session_send(c, &out);
        break;
    case MSG_PONG:
        break;
    case MSG_OPEN:
        session_on_open(c, m->u.req_id, NULL);
        break;
    case MSG_RESUME:
    case MSG_LEG_LOST: /* §7.3, from a session that set AUTH flags bit 0 only */
        if (!(cs->flags & AUTH_FLAG_RESUME))
            session_close_with(c, MSG_CLOSE_PROTOCOL, "RESUME or LEG_LOST without AUTH flag bit 0");
        else if (m->type == MSG_RESUME)
            session_on_open(c, m->u.resume.req_id, m->u.resume.resume_id);
        else if (cs->link != NULL) /* leglost.c */
            leglost_end(c->ops_arg, cs->link, cs->side, &m->u.leg_lost);
        break;
    case MSG_KEY_ENDORSE:
        session_on_endorse(c, &m->u.peer_key);
        break;
    case MSG_STREAM_ACK: /* D43: passed on unread to the other side if it takes them */
        session_pass_ack(c, m);
        break;
    default:
        session_close_with(c, MSG_CLOSE_PROTOCOL, "message not allowed from an agent");
        break;
    }
}

/* One transport frame of an UP session. */
static void session_transport(struct conn *c, const uint8_t *body, size_t len)
{
    uint8_t pt[FRAME_MAX_CONTROL];
    size_t ptlen;
    struct msg m;

    struct session *cs = session_of(c);

    if (noise_cs_decrypt(&cs->rx, NULL, 0, body, len, pt, sizeof(pt), &ptlen) != 0) {
        session_close_with(c, MSG_CLOSE_PROTOCOL, "frame did not decrypt");
        return;
    }
    cs->last_rx_ms = uv_now(c->tcp.loop);
    if (msg_decode(pt, ptlen, &m) != 0) {
        session_close_with(c, MSG_CLOSE_PROTOCOL, "message did not decode");
        return;
    }
    session_dispatch(c, &m);
}

static void session_msg1(struct conn *c, const uint8_t *body, size_t len)
{
    uint8_t payload[FRAME_MAX_HANDSHAKE], out[FRAME_MAX_HANDSHAKE];
    struct session *cs = session_of(c);
    size_t plen, olen;

    if (len != 48 ||
        noise_hs_read_message(&cs->hs, body, len, payload, sizeof(payload), &plen) != 0 ||
        plen != 0) {
        conn_fail(c, STATS_FAIL_HANDSHAKE);
        return;
    }
    if (noise_hs_write_message(&cs->hs, NULL, 0, out, sizeof(out), &olen) != 0) {
        conn_close(c, CONN_END_FIN, "handshake reply failed");
        return;
    }
    c->state = CONN_HS3;
    if (session_write_frame(c, out, olen) == 0) /* the relay's own address check ends (D35) */
        selfcheck_answered(((struct session_ctx *)c->ops_arg)->selfcheck, c, body);
}

static void session_msg3(struct conn *c, const uint8_t *body, size_t len)
{
    uint8_t payload[FRAME_MAX_HANDSHAKE];
    struct session *cs = session_of(c);
    const uint8_t *spub;
    struct auth a;
    size_t plen;

    if (noise_hs_read_message(&cs->hs, body, len, payload, sizeof(payload), &plen) != 0 ||
        !noise_hs_done(&cs->hs) || (spub = noise_hs_remote_static(&cs->hs)) == NULL) {
        conn_fail(c, STATS_FAIL_HANDSHAKE);
        return;
    }
    if (auth_decode(payload, plen, &a) != 0) {
        conn_fail(c, STATS_FAIL_AUTH);
        return;
    }
    session_authorize(c, &a, spub);
}

/* Consumes every whole frame in c->in (handshake or transport); none while
 * the AUTH waits for its link (D42). */
static void session_input(struct conn *c)
{
    while ((c->state == CONN_HS1 || c->state == CONN_HS3 || c->state == CONN_UP) &&
           !authlookup_pending(session_of(c)->lookup)) {
        size_t avail, max = c->state == CONN_UP ? FRAME_MAX_CONTROL : FRAME_MAX_HANDSHAKE;
        const uint8_t *p = bq_peek(&c->in, &avail);
        struct frame f;
        int rc = frame_parse(p, avail, max, &f, NULL);

        if (rc == -EAGAIN)
            return;
        if (rc != 0) {
            if (c->state == CONN_UP)
                session_close_with(c, MSG_CLOSE_PROTOCOL, "bad frame");
            else
                conn_fail(c, STATS_FAIL_HANDSHAKE);
            return;
        }
        if (c->state == CONN_HS1)
            session_msg1(c, f.body, f.len);
        else if (c->state == CONN_HS3)
            session_msg3(c, f.body, f.len);
        else
            session_transport(c, f.body, f.len);
        if (c->state == CONN_CLOSED)
            return;
        bq_consume(&c->in, f.consumed);
    }
}

/* The AUTH's link was read (D42): authorize again, then what came after. */
static void session_looked(struct conn *c, const struct auth *a, const uint8_t *spub)
{
    session_authorize(c, a, spub);
    if (c->state == CONN_UP)
        session_input(c);
}

const struct conn_ops session_conn_ops = {
    .begin = session_begin,
    .input = session_input,
    .on_close = session_on_close,
};
