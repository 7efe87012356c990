/* SPDX-License-Identifier: MIT */
/*
 * link — see link.h and docs/internals/agent.md.
 */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <sodium.h>

#include "agent/session.h"
#include "endorse.h"
#include "log.h"
#include "agent/openfail.h"
#include "agent/streamack.h"
#include "agent/stream.h"
#include "agent/streamrevive.h"

#define LINK_STABLE_MS      60000u /* a session this long resets the backoff */
#define LINK_CABLE_MIN_MS   500u
#define LINK_CABLE_MAX_MS   5000u
#define LINK_CABLE_RESET_MS 10000u /* a cable this old restarts its backoff */
#define LINK_BACKLOG        128

static const char *link_name(const struct link *lk)
{
    return lk->cfg.name;
}

/* The wall clock, for what `linkagent status` shows (not for timers). */
static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void link_release(struct link *lk)
{
    if (--lk->refs > 0)
        return;
    sodium_memzero(&lk->cfg, sizeof(lk->cfg));
    sodium_memzero(lk->so.ss, sizeof(lk->so.ss));
    e2els_store_clear(&lk->so.ls);
    free(lk);
}

static void on_link_handle_closed(uv_handle_t *h)
{
    link_release(h->data);
}

static void on_lsn_closed(uv_handle_t *h)
{
    struct link_listener *l = (struct link_listener *)h;
    struct link *lk = l->lk;

    free(l);
    link_release(lk);
}

static const struct addr_spec *relay_addr(const struct link *lk, size_t idx)
{
    size_t total = lk->cfg.n_relays + lk->n_learned;

    idx %= total;
    if (idx < lk->cfg.n_relays)
        return &lk->cfg.relays[idx];
    return &lk->learned[idx - lk->cfg.n_relays];
}

static const struct session_ops session_ops;

static void on_session_down(void *owner, bool revoked);

static void on_retry(uv_timer_t *t)
{
    struct link *lk = t->data;
    struct session_conf conf = {lk->cfg.name, &lk->cfg, lk->keepalive_ms,
                                lk->so.env->resume_timeout_ms != 0, NULL};
    const struct addr_spec *home = redirect_next(&lk->redir);

    if (lk->closing || lk->session != NULL)
        return;
    lk->state_since_ms = wall_ms();
    lk->session = session_start(lk->loop, &conf, &session_ops, lk,
                                home != NULL ? home : relay_addr(lk, lk->addr_idx));
    if (lk->session == NULL)
        on_session_down(lk, false);
}

static void check_cable(struct link *lk);
static void drop_retiring(struct link *lk);

static void on_cable_timer(uv_timer_t *t)
{
    check_cable(t->data);
}

/* Immediate policy: side a opens the permanent stream when both are online (linkagent.md). */
static void check_cable(struct link *lk)
{
    if (lk->closing || lk->cfg.policy != AGENTCFG_IMMEDIATE || lk->cfg.side != 0 ||
        !lk->cfg.has_connect || !lk->online || !lk->peer_online || lk->cable != NULL ||
        uv_is_active((uv_handle_t *)&lk->cable_timer))
        return;
    log_info("link %s: opening the permanent stream (immediate policy)", link_name(lk));
    lk->cable_since_ms = uv_now(lk->loop);
    lk->cable = stream_cable(&lk->so);
    if (lk->cable == NULL && !uv_is_active((uv_handle_t *)&lk->cable_timer))
        uv_timer_start(&lk->cable_timer, on_cable_timer,
                       backoff_next(&lk->cable_bo, randombytes_random()), 0);
}

static void on_connected(void *owner, const struct sockaddr_storage *relay)
{
    struct link *lk = owner;

    lk->so.relay_sa = *relay; /* stream legs go there */
}

/* Online again after GOING_AWAY: the OPENs of the streams still waiting
 * for their STREAM go over this session (their req_id unchanged). */
static void link_reopen(struct link *lk)
{
    lk->moving = false;
    for (struct stream *st = lk->so.streams, *nx; st != NULL; st = nx) {
        nx = st->next;
        /* A failed send ends the session: on_session_down closes them. */
        if (st->state == STREAM_OPENING && session_send_open(lk->session, st->req_id) != 0)
            break;
    }
}

static void on_online(void *owner, const struct msg_welcome *w)
{
    struct link *lk = owner;

    lk->online = true;
    lk->peer_online = w->peer_online;
    lk->max_streams = lk->so.keep.relay_max = w->max_streams; /* kept legs count there */
    if (lk->session != NULL) {
        /* Stream legs use its timers (internals/agent.md "Stream leg liveness"). */
        lk->so.leg_keepalive_ms = lk->session->keepalive_ms;
        lk->so.leg_dead_ms = lk->session->dead_after_ms;
    }
    lk->online_since_ms = uv_now(lk->loop);
    lk->state_since_ms = wall_ms();
    lk->revoked = false;
    lk->sessions_up++;
    if (lk->retiring == NULL) /* a reconnect, not a key switch: new link sessions (D46) */
        e2els_store_clear(&lk->so.ls);
    redirect_online(&lk->redir);
    if (lk->moving)
        link_reopen(lk);
    if (lk->has_endorse && lk->session != NULL &&
        session_send_endorse(lk->session, &lk->endorse) != 0)
        log_warnx("link %s: cannot send the endorsement of the new key", link_name(lk));
    if (lk->retiring != NULL) {
        log_info("link %s: online with the new key; the old session closes", link_name(lk));
        drop_retiring(lk);
    }
    check_cable(lk);
}

static void on_peer(void *owner, bool online)
{
    struct link *lk = owner;

    log_info("link %s: peer %s", link_name(lk), online ? "online" : "offline");
    lk->peer_online = online;
    e2els_store_clear(&lk->so.ls); /* the peer's session changed: so did its (D46) */
    for (struct stream *st = lk->so.streams; online && st != NULL; st = st->next) {
        if (st->state != STREAM_OPENING || !st->wait_peer)
            continue;
        st->wait_peer = false;
        /* A failed send ends the session: on_session_down closes them. */
        if (lk->session == NULL || session_send_open(lk->session, st->req_id) != 0)
            break;
    }
    check_cable(lk);
}

static struct stream *find_req(struct link *lk, uint32_t req_id)
{
    for (struct stream *st = lk->so.streams; st != NULL; st = st->next) {
        /* A stream redialling its leg still hears its OPEN_FAIL (timeout). */
        if (st->req_id == req_id && (st->state == STREAM_OPENING || st->state == STREAM_REDIAL))
            return st;
    }
    return NULL;
}

static void on_stream(void *owner, const struct msg_stream *m)
{
    struct link *lk = owner;
    struct stream *st;

    if (m->role == MSG_ROLE_INITIATOR) {
        st = find_req(lk, m->req_id);
        if (st == NULL) {
            log_debug("link %s: STREAM for request %u that is gone; ignored", link_name(lk),
                      m->req_id);
            return;
        }
        stream_on_stream(st, m);
        return;
    }
    stream_responder(&lk->so, m);
}

/* RESUMED (§7.3): the initiator's by its RESUME's req_id, the responder's
 * by the resume id, which only the stream it belongs to matches. */
static void on_resumed(void *owner, const struct msg_stream *m)
{
    struct link *lk = owner;
    uint32_t epoch;

    for (struct stream *st = lk->so.streams; st != NULL; st = st->next) {
        if (st->io.e2e == NULL || !e2e_resumable(st->io.e2e))
            continue;
        if (m->role == MSG_ROLE_INITIATOR && st->role == E2E_INITIATOR &&
            st->state == STREAM_SUSPENDED && st->resume_req == m->req_id) {
            stream_on_resumed(st, m, st->resume_epoch);
            return;
        }
        if (m->role == MSG_ROLE_RESPONDER && st->role == E2E_RESPONDER &&
            e2e_resume_match(st->io.e2e, m->resume_id, &epoch) == 0) {
            stream_on_resumed(st, m, epoch);
            return;
        }
    }
    if (m->role == MSG_ROLE_RESPONDER && streamrevive_answer(&lk->so, m))
        return; /* a finished stream whose initiator lacks FINISHED (§7.3) */
    lk->so.env->resume_unknown++;
    log_warnx("link %s: RESUMED for no stream of this link (an unknown, spent or foreign resume "
              "id); ignored",
              link_name(lk));
}

static void on_stream_ack(void *owner, const struct msg_stream_ack *a)
{
    streamack_in(&((struct link *)owner)->so, a);
}

static void on_resumable(void *owner)
{
    (void)owner; /* suspended streams ask on their next tick */
}

static void on_open_fail(void *owner, uint32_t req_id, int reason)
{
    struct link *lk = owner;
    struct stream *st = req_id != 0 ? find_req(lk, req_id) : NULL;

    for (struct stream *s = lk->so.streams; st == NULL && req_id != 0 && s != NULL; s = s->next) {
        if (s->state == STREAM_SUSPENDED && s->resume_req == req_id) {
            stream_resume_failed(s, reason);
            return;
        }
    }
    if (st == NULL) {
        log_info("link %s: a stream failed to open: %s", link_name(lk),
                 msg_open_fail_reason_name(reason));
        return;
    }
    /* Both sides move to a new relay process after GOING_AWAY; the peer may
     * not be there yet: OPEN again when it is, within open_wait (D25). */
    if (reason == MSG_OPEN_FAIL_PEER_OFFLINE && st->state == STREAM_OPENING && lk->moved_ms != 0 &&
        uv_now(lk->loop) - lk->moved_ms < lk->so.env->open_wait_ms) {
        st->wait_peer = true;
        return;
    }
    stream_open_failed(st, reason);
}

static void on_addrs(void *owner, const struct msg_addrs *a)
{
    struct link *lk = owner;
    char text[MSG_MAX_ADDR + 1];
    struct addr_spec as;

    lk->n_learned = 0;
    for (size_t i = 0; i < a->n && lk->n_learned < AGENTCFG_MAX_ADDRS; i++) {
        bool dup = false;
        if (msg_str_cstr(&a->addr[i], text, sizeof(text)) != 0 || addr_parse(text, 0, &as) != 0)
            continue;
        for (size_t j = 0; j < lk->cfg.n_relays && !dup; j++)
            dup = strcmp(lk->cfg.relays[j].host, as.host) == 0 && lk->cfg.relays[j].port == as.port;
        if (!dup)
            lk->learned[lk->n_learned++] = as;
    }
    log_debug("link %s: relay advertises %zu address(es), %zu new", link_name(lk), a->n,
              lk->n_learned);
}

/* The relay drains: leave its session, dial again at once (GOING_AWAY: the same
 * address first, where a successor takes over the listening sockets; REDIRECT
 * draining: the home it named, D39); its streams keep their legs until they end. */
static void link_move(struct link *lk)
{
    session_close(lk->session);
    lk->session = NULL;
    lk->online = false;
    lk->peer_online = false;
    /* An OPEN that went over the old session got no STREAM before GOING_AWAY
     * (its answers follow it, unread): it goes again over the new session, as
     * do OPENs made before that is up (send_stream_open). A leg the old relay
     * refused is not redialled. */
    lk->moving = true;
    lk->moved_ms = uv_now(lk->loop);
    for (struct stream *st = lk->so.streams, *nx; st != NULL; st = nx) {
        nx = st->next;
        if (st->state == STREAM_REDIAL)
            stream_close(st);
    }
    uv_timer_start(&lk->retry_timer, on_retry, 0, 0);
}

static void on_going_away(void *owner, unsigned seconds)
{
    log_info("link %s: relay going away (stops within %u s); reconnecting now, open streams "
             "stay on their legs",
             link_name(owner), seconds);
    link_move(owner);
}

/* The peer's key this link trusts: the configured one (with the keys learned
 * before applied, agent.c), or the one it took since (D21). */
static const uint8_t *peer_trusted(const struct link *lk)
{
    return lk->so.has_peer_live ? lk->so.peer_live : lk->cfg.peer_pub;
}

/* Why k cannot be the peer's key, or NULL if it can: the relay may only
 * carry a key change the trusted key endorsed (protocol §5.1). */
static const char *peer_key_refusal(const struct link *lk, const struct msg_key *k)
{
    if (sodium_is_zero(k->by, KEY_LEN))
        return "without an endorsement from a key this agent trusts";
    if (sodium_memcmp(k->by, peer_trusted(lk), KEY_LEN) != 0)
        return "endorsed by a key this agent does not trust";
    if (endorse_check(lk->cfg.priv, lk->cfg.link_id, 1 - lk->cfg.side, k->by, k->key, k->mac) != 0)
        return "with an endorsement that does not verify";
    return NULL;
}

static void on_peer_key(void *owner, const struct msg_key *k)
{
    struct link *lk = owner;
    uint8_t old[KEY_LEN];
    char text[KEY_TEXT_SIZE], kept[KEY_TEXT_SIZE];
    const char *why;

    if (sodium_memcmp(peer_trusted(lk), k->key, KEY_LEN) == 0)
        return;
    key_pub_encode(k->key, text);
    why = peer_key_refusal(lk, k);
    if (why != NULL) {
        lk->peer_keys_refused++;
        key_pub_encode(peer_trusted(lk), kept);
        log_warnx("link %s: the relay named peer key %s %s; ignored, the peer's key stays %s "
                  "(a peer that changed keys without a reload needs its new key here: peer_key, "
                  "or a new token)",
                  link_name(lk), text, why, kept);
        return;
    }
    memcpy(old, peer_trusted(lk), KEY_LEN);
    log_info("link %s: the peer's key is now %s (endorsed by its previous key)", link_name(lk),
             text);
    memcpy(lk->so.peer_live, k->key, KEY_LEN);
    lk->so.has_peer_live = true;
    if (lk->peer_key_learned != NULL)
        lk->peer_key_learned(lk->learned_arg, old, (uint8_t)(1 - lk->cfg.side), k->key);
}

/* The relay's next key: pinned (the next session dials with it), kept for restarts. */
static void on_relay_key(void *owner, uint8_t id, const uint8_t key[KEY_LEN])
{
    struct link *lk = owner;
    uint8_t old[KEY_LEN];
    char text[KEY_TEXT_SIZE];

    if (id == lk->cfg.relay_key_id && sodium_memcmp(key, lk->cfg.relay_pub, KEY_LEN) == 0)
        return;
    key_pub_encode(key, text);
    log_info("link %s: the relay announces its next key (id %u) %s; it is used from the next "
             "connection on",
             link_name(lk), id, text);
    memcpy(old, lk->cfg.relay_pub, KEY_LEN);
    lk->cfg.relay_key_id = id;
    memcpy(lk->cfg.relay_pub, key, KEY_LEN);
    if (lk->relay_key_learned != NULL)
        lk->relay_key_learned(lk->learned_arg, old, id, key);
}

static void on_redirect(void *owner, const struct msg_redirect *r)
{
    struct link *lk = owner;

    /* A member leaving the pool (D39): a handover as on GOING_AWAY, to the
     * home it named (redirect_down: the move dials it, not a session end). */
    if (redirect_take(&lk->redir, r, link_name(lk)) && r->reason == MSG_REDIRECT_DRAINING &&
        lk->online && redirect_down(&lk->redir, true))
        link_move(lk);
}

static void on_session_down(void *owner, bool revoked)
{
    struct link *lk = owner;
    uint64_t now = uv_now(lk->loop);
    uint32_t delay;
    bool source = lk->session != NULL && lk->session->source_refused, was_online = lk->online;

    if (lk->session != NULL && lk->session->cause[0] != '\0') {
        snprintf(lk->last_error, sizeof(lk->last_error), "%s", lk->session->cause);
        snprintf(lk->last_error_relay, sizeof(lk->last_error_relay), "%s", lk->session->addr);
        lk->last_error_ms = wall_ms();
    }
    lk->session = NULL;
    lk->moving = false;
    if (lk->closing)
        return;
    lk->state_since_ms = wall_ms();
    lk->revoked = revoked && !source;
    lk->sessions_failed++;
    if (lk->online && now - lk->online_since_ms >= LINK_STABLE_MS)
        backoff_reset(&lk->bo);
    lk->online = false;
    lk->peer_online = false;
    e2els_store_clear(&lk->so.ls);
    /* Streams waiting for a STREAM never get one; a refused leg is not dialled
     * again without the session that vouches for the link (revoked, shut down,
     * unreachable). A revoked link's streams are over (the relay reset their
     * legs and forgot them): none waits for a RESUME no relay answers (D44). */
    for (struct stream *st = lk->so.streams, *nx; st != NULL; st = nx) {
        nx = st->next;
        if (lk->revoked)
            stream_fail(st, LOG_LEVEL_WARN, "link revoked; resetting the local connection");
        else if (st->state == STREAM_OPENING || st->state == STREAM_HELD ||
                 st->state == STREAM_REDIAL)
            stream_close(st);
        else if (st->state == STREAM_SUSPENDED)
            /* A RESUME sent on this session is never answered: ask again on
             * the next one at once, not STREAM_SETUP_MS after this one. */
            stream_resume_failed(st, 0);
    }
    if (redirect_down(&lk->redir, was_online)) { /* to the link's home, now (D34) */
        uv_timer_start(&lk->retry_timer, on_retry, 0, 0);
        return;
    }
    if (revoked) {
        delay = backoff_long(&lk->bo, randombytes_random());
        log_warnx("link %s: %s; retrying in %u ms", link_name(lk),
                  source ? "source address not allowed" : "link revoked", delay);
    } else {
        delay = backoff_next(&lk->bo, randombytes_random());
        lk->addr_idx++;
        log_info("link %s: reconnecting in %u ms", link_name(lk), delay);
    }
    uv_timer_start(&lk->retry_timer, on_retry, delay, 0);
}

static const struct session_ops session_ops = {
    .on_connected = on_connected,
    .on_online = on_online,
    .on_peer = on_peer,
    .on_stream = on_stream,
    .on_open_fail = on_open_fail,
    .on_addrs = on_addrs,
    .on_going_away = on_going_away,
    .on_redirect = on_redirect,
    .on_peer_key = on_peer_key,
    .on_relay_key = on_relay_key,
    .on_resumable = on_resumable,
    .on_resumed = on_resumed,
    .on_stream_ack = on_stream_ack,
    .on_down = on_session_down,
};

static void on_retiring_connected(void *owner, const struct sockaddr_storage *relay)
{
    (void)owner;
    (void)relay;
}

static void on_retiring_online(void *owner, const struct msg_welcome *w)
{
    (void)owner;
    (void)w;
}

static void on_retiring_addrs(void *owner, const struct msg_addrs *a)
{
    (void)owner;
    (void)a;
}

/* The relay of the replaced session drains: it has nothing more to carry. */
static void on_retiring_going_away(void *owner, unsigned seconds)
{
    (void)seconds;
    drop_retiring(owner);
}

/* The replaced session went (CLOSE replaced, usually): nothing to redial. */
static void on_retiring_down(void *owner, bool revoked)
{
    struct link *lk = owner;

    (void)revoked;
    lk->retiring = NULL;
}

/* A session being replaced still delivers what the relay sends it until the
 * new one takes over: STREAM, OPEN_FAIL, PEER and PEER_KEY of this link. */
static const struct session_ops retiring_ops = {
    .on_connected = on_retiring_connected,
    .on_online = on_retiring_online,
    .on_peer = on_peer,
    .on_stream = on_stream,
    .on_open_fail = on_open_fail,
    .on_addrs = on_retiring_addrs,
    .on_peer_key = on_peer_key,
    .on_relay_key = on_relay_key,
    .on_resumable = on_resumable,
    .on_resumed = on_resumed,
    .on_going_away = on_retiring_going_away,
    .on_down = on_retiring_down,
};

static void drop_retiring(struct link *lk)
{
    if (lk->retiring == NULL)
        return;
    session_close(lk->retiring);
    lk->retiring = NULL;
}

static int send_stream_open(void *arg, uint32_t *req_id)
{
    struct link *lk = arg;
    uint32_t id;
    int rc;

    struct session *via = lk->session;

    /* While a new key takes over, the old session still carries OPENs. */
    if ((via == NULL || !session_online(via)) && lk->retiring != NULL)
        via = lk->retiring;
    if ((via == NULL || !session_online(via)) && !lk->moving)
        return -ENOTCONN;
    id = ++lk->next_req;
    if (id == 0)
        id = ++lk->next_req;
    /* Moving (GOING_AWAY, D25): the OPEN goes once the new session is
     * online (link_reopen); the stream waits in OPENING, within its setup
     * deadline. */
    rc = via == NULL || !session_online(via) ? 0 : session_send_open(via, id);
    if (rc == 0)
        *req_id = id;
    return rc;
}

static int send_stream_resume(void *arg, const uint8_t id[MSG_RESUME_ID_LEN], uint32_t *req_id)
{
    struct link *lk = arg;
    uint32_t rid;
    int rc;

    if (lk->session == NULL || !session_online(lk->session))
        return -ENOTCONN;
    rid = ++lk->next_req;
    if (rid == 0)
        rid = ++lk->next_req;
    rc = session_send_resume(lk->session, rid, id);
    if (rc == 0)
        *req_id = rid;
    return rc;
}

static int send_stream_leg_lost(void *arg, uint64_t stream_id, const uint8_t ticket[MSG_TICKET_LEN],
                                uint64_t *told_on)
{
    struct link *lk = arg;
    int rc;

    if (lk->session == NULL || !lk->online)
        return -ENOTCONN;
    if (*told_on == lk->sessions_up)
        return 0;
    rc = session_send_leg_lost(lk->session, stream_id, ticket);
    if (rc == 0)
        *told_on = lk->sessions_up;
    return rc;
}

static int send_stream_ack(void *arg, const struct msg_stream_ack *a)
{
    struct link *lk = arg;

    return lk->session != NULL && lk->online ? session_send_stream_ack(lk->session, a) : -ENOTCONN;
}

static void stream_gone(void *arg, struct stream *st)
{
    struct link *lk = arg;
    uint64_t now = uv_now(lk->loop);

    /* The stream's last word: what it moved goes into the link's totals. */
    if (st->io.e2e != NULL) {
        lk->closed_bytes[0] += e2e_bytes_sent(st->io.e2e);
        lk->closed_bytes[1] += e2e_bytes_delivered(st->io.e2e);
        if (st->io.spliced && !e2e_handshake_done(st->io.e2e))
            lk->e2e_failures++;
    }
    if (st != lk->cable)
        return;
    lk->cable = NULL;
    if (lk->closing)
        return;
    if (now - lk->cable_since_ms >= LINK_CABLE_RESET_MS)
        backoff_reset(&lk->cable_bo);
    log_info("link %s: permanent stream ended", link_name(lk));
    uv_timer_start(&lk->cable_timer, on_cable_timer,
                   backoff_next(&lk->cable_bo, randombytes_random()), 0);
}

static const struct stream_ops stream_ops = {
    .send_open = send_stream_open,
    .send_resume = send_stream_resume,
    .send_leg_lost = send_stream_leg_lost,
    .send_stream_ack = send_stream_ack,
    .gone = stream_gone,
};

static void on_connection(uv_stream_t *server, int status)
{
    struct link_listener *l = (struct link_listener *)server;

    if (status < 0) {
        log_warnx("link %s: accept failed: %s", link_name(l->lk), uv_strerror(status));
        return;
    }
    stream_accept(&l->lk->so, server);
}

static int listen_one(struct link *lk, const struct addr_spec *a)
{
    struct link_listener *l = calloc(1, sizeof(*l));
    struct sockaddr_storage ss;
    char text[ADDR_TEXT_SIZE];
    int rc;

    (void)addr_format(a, text, sizeof(text));
    if (l == NULL)
        return UV_ENOMEM;
    if (a->family_hint == AF_INET6)
        rc = uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&ss);
    if (rc != 0) {
        log_error("link %s: listen address %s must be a numeric IP address", link_name(lk), text);
        free(l);
        return rc;
    }
    uv_tcp_init(lk->loop, &l->tcp);
    l->tcp.data = lk;
    l->lk = lk;
    lk->refs++;
    lk->lsn[lk->n_lsn++] = l;
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
    if (rc == 0) /* accepted connections inherit it: no setsockopt per stream (D54) */
        rc = uv_tcp_nodelay(&l->tcp, 1);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, LINK_BACKLOG, on_connection);
    if (rc != 0) {
        log_error("link %s: cannot listen on %s: %s", link_name(lk), text, uv_strerror(rc));
        return rc;
    }
    log_info("link %s: listening on %s", link_name(lk), text);
    return 0;
}

int link_new(const struct link_env *env, const struct agentcfg_link *cfg, struct link **out)
{
    struct link *lk = calloc(1, sizeof(*lk));
    int rc = 0;

    if (lk == NULL)
        return UV_ENOMEM;
    lk->loop = env->loop;
    lk->keepalive_ms = env->keepalive_ms;
    lk->relay_key_learned = env->relay_key_learned;
    lk->peer_key_learned = env->peer_key_learned;
    lk->learned_arg = env->learned_arg;
    lk->cfg = *cfg;
    lk->so.ops = &stream_ops;
    lk->so.arg = lk;
    lk->so.env = env->streams;
    lk->so.cfg = &lk->cfg;
    (void)backoff_init(&lk->bo, env->backoff_min_ms, env->backoff_max_ms);
    (void)backoff_init(&lk->cable_bo, LINK_CABLE_MIN_MS, LINK_CABLE_MAX_MS);
    uv_timer_init(lk->loop, &lk->retry_timer);
    uv_timer_init(lk->loop, &lk->cable_timer);
    lk->retry_timer.data = lk;
    lk->cable_timer.data = lk;
    lk->refs = 2;
    for (size_t i = 0; i < cfg->n_listen && rc == 0; i++)
        rc = listen_one(lk, &cfg->listen[i]);
    if (rc != 0) {
        link_close(lk);
        return rc;
    }
    uv_timer_start(&lk->retry_timer, on_retry, 0, 0);
    *out = lk;
    return 0;
}

/* The link switches from its key to cfg's: while it still holds the old
 * private key, it endorses the new public key for the peer (protocol §5.1)
 * and tells the relay over the current session, if online, before the new
 * one authenticates, so the relay can pass the endorsement on with the new
 * key; every session with the new key sends it again (on_online). */
static void endorse_new_key(struct link *lk, const struct agentcfg_link *cfg)
{
    struct msg_key *e = &lk->endorse;
    const uint8_t *peer = sodium_memcmp(cfg->peer_pub, lk->cfg.peer_pub, KEY_LEN) != 0
                              ? cfg->peer_pub
                              : peer_trusted(lk);

    lk->has_endorse =
        key_pub_from_priv(lk->cfg.priv, e->by) == 0 && key_pub_from_priv(cfg->priv, e->key) == 0 &&
        endorse_make(lk->cfg.priv, peer, cfg->link_id, cfg->side, e->key, e->mac) == 0;
    if (!lk->has_endorse) {
        log_warnx("link %s: cannot endorse the new key; the peer needs it as its peer_key",
                  link_name(lk));
        return;
    }
    if (lk->session != NULL && session_online(lk->session) &&
        session_send_endorse(lk->session, e) != 0)
        log_warnx("link %s: cannot send the endorsement of the new key now; the new session "
                  "sends it",
                  link_name(lk));
}

void link_rekey(struct link *lk, const struct agentcfg_link *cfg)
{
    if (lk->closing)
        return;
    /* A peer key the operator changed is the one to trust from now on. */
    if (sodium_memcmp(cfg->peer_pub, lk->cfg.peer_pub, KEY_LEN) != 0)
        lk->so.has_peer_live = false;
    if (sodium_memcmp(cfg->priv, lk->cfg.priv, KEY_LEN) != 0)
        endorse_new_key(lk, cfg);
    lk->cfg = *cfg;
    if (lk->session != NULL && session_online(lk->session)) {
        drop_retiring(lk);
        lk->retiring = lk->session;
        session_set_ops(lk->retiring, &retiring_ops, lk);
        lk->session = NULL;
    } else if (lk->session != NULL) {
        session_close(lk->session);
        lk->session = NULL;
    }
    log_info("link %s: new key: connecting with it%s", link_name(lk),
             lk->retiring != NULL ? "; the current session serves until then" : "");
    backoff_reset(&lk->bo);
    uv_timer_stop(&lk->retry_timer);
    uv_timer_start(&lk->retry_timer, on_retry, 0, 0);
}

void link_close(struct link *lk)
{
    if (lk->closing)
        return;
    lk->closing = true;
    drop_retiring(lk);
    if (lk->session != NULL) {
        session_close(lk->session);
        lk->session = NULL;
    }
    for (struct stream *st = lk->so.streams, *nx; st != NULL; st = nx) {
        nx = st->next;
        stream_abort(st);
    }
    stream_owner_clear(&lk->so); /* kept finished streams and kept legs */
    for (size_t i = 0; i < lk->n_lsn; i++)
        uv_close((uv_handle_t *)&lk->lsn[i]->tcp, on_lsn_closed);
    lk->n_lsn = 0;
    uv_close((uv_handle_t *)&lk->retry_timer, on_link_handle_closed);
    uv_close((uv_handle_t *)&lk->cable_timer, on_link_handle_closed);
}
