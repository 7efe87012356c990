/* SPDX-License-Identifier: MIT */
/*
 * session — see session.h.
 */
#include "agent/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "log.h"
#include "msg.h"

#define SESSION_HANDSHAKE_MS 10000u /* connect + handshake + WELCOME (§9 handshake_timeout) */
#define SESSION_TICK_MS      1000u

struct session_wreq {
    uv_write_t req;
    size_t len;
    uint8_t data[];
};

static void session_release(struct session *c)
{
    if (--c->refs > 0)
        return;
    noise_hs_wipe(&c->hs);
    noise_cs_wipe(&c->tx);
    noise_cs_wipe(&c->rx);
    sodium_memzero(c, sizeof(*c));
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    session_release(h->data);
}

/*
 * The one close path. Logs the cause (one line, when there is one), closes
 * the handles (a pending getaddrinfo is cancelled; its callback drops its
 * reference) and, unless the owner closed the session itself, tells it once
 * (on_down). Idempotent: the first cause wins.
 */
static void session_end(struct session *c, bool revoked, const char *cause)
{
    const struct session_ops *ops = c->ops;

    if (c->state == SESSION_CLOSING)
        return;
    if (cause != NULL) {
        log_warnx("link %s: relay %s: %s", c->name, c->addr, cause);
        snprintf(c->cause, sizeof(c->cause), "%s", cause);
    }
    c->state = SESSION_CLOSING;
    c->ops = NULL;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    if (c->gai_pending)
        uv_cancel((uv_req_t *)&c->gai);
    if (c->tcp_inited)
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    if (ops != NULL)
        ops->on_down(c->owner, revoked);
}

/* A failure: its cause, formatted, to session_end. */
__attribute__((format(printf, 3, 4))) static void session_fail(struct session *c, bool revoked,
                                                               const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (c->state == SESSION_CLOSING)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    session_end(c, revoked, msg);
}

void session_close(struct session *c)
{
    c->ops = NULL;
    session_end(c, false, NULL);
}

void session_set_ops(struct session *c, const struct session_ops *ops, void *owner)
{
    if (c->state == SESSION_CLOSING)
        return;
    c->ops = ops;
    c->owner = owner;
}

bool session_online(const struct session *c)
{
    return c->state == SESSION_ONLINE;
}

static void on_written(uv_write_t *req, int status)
{
    struct session_wreq *w = (struct session_wreq *)req;
    struct session *c = req->handle->data;

    if (status < 0 && status != UV_ECANCELED && c->state != SESSION_CLOSING)
        session_fail(c, false, "write failed: %s", uv_strerror(status));
    sodium_memzero(w->data, w->len);
    free(w);
}

static int session_write(struct session *c, const uint8_t *p, size_t len)
{
    struct session_wreq *w = malloc(sizeof(*w) + len);
    uv_buf_t b;
    int rc;

    if (w == NULL)
        return -ENOMEM;
    memcpy(w->data, p, len);
    w->len = len;
    b = uv_buf_init((char *)w->data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc < 0)
        free(w);
    return rc;
}

/* Encrypts one control message into a frame and writes it. */
static int send_msg(struct session *c, const struct msg *m)
{
    uint8_t pt[MSG_MAX_LEN], fr[FRAME_HDR_LEN + MSG_MAX_LEN + NOISE_TAG_LEN];
    size_t plen, clen;
    int rc;

    rc = msg_encode(m, pt, sizeof(pt), &plen);
    if (rc == 0)
        rc = noise_cs_encrypt(&c->tx, NULL, 0, pt, plen, fr + FRAME_HDR_LEN,
                              sizeof(fr) - FRAME_HDR_LEN, &clen);
    if (rc != 0)
        return -EPROTO;
    fr[0] = (uint8_t)(clen >> 8);
    fr[1] = (uint8_t)clen;
    return session_write(c, fr, FRAME_HDR_LEN + clen);
}

int session_send_open(struct session *c, uint32_t req_id)
{
    struct msg m = {.type = MSG_OPEN};

    if (c->state != SESSION_ONLINE)
        return -ENOTCONN;
    m.u.req_id = req_id;
    return send_msg(c, &m);
}

int session_send_resume(struct session *c, uint32_t req_id, const uint8_t id[MSG_RESUME_ID_LEN])
{
    struct msg m = {.type = MSG_RESUME};

    if (c->state != SESSION_ONLINE || !c->resumable)
        return -ENOTCONN;
    m.u.resume.req_id = req_id;
    memcpy(m.u.resume.resume_id, id, MSG_RESUME_ID_LEN);
    return send_msg(c, &m);
}

int session_send_leg_lost(struct session *c, uint64_t stream_id,
                          const uint8_t ticket[MSG_TICKET_LEN])
{
    struct msg m = {.type = MSG_LEG_LOST};
    int rc;

    if (c->state != SESSION_ONLINE || !c->resumable)
        return -ENOTCONN;
    m.u.leg_lost.stream_id = stream_id;
    memcpy(m.u.leg_lost.ticket, ticket, MSG_TICKET_LEN);
    rc = send_msg(c, &m);
    sodium_memzero(&m, sizeof(m));
    return rc;
}

int session_send_stream_ack(struct session *c, const struct msg_stream_ack *a)
{
    struct msg m = {.type = MSG_STREAM_ACK};

    if (c->state != SESSION_ONLINE || !c->conf.resume)
        return -ENOTCONN;
    m.u.stream_ack = *a;
    return send_msg(c, &m);
}

int session_send_ping(struct session *c, uint64_t nonce)
{
    struct msg m = {.type = MSG_PING};

    if (c->state != SESSION_ONLINE)
        return -ENOTCONN;
    m.u.nonce = nonce;
    return send_msg(c, &m);
}

int session_send_endorse(struct session *c, const struct msg_key *k)
{
    struct msg m = {.type = MSG_KEY_ENDORSE};

    if (c->state != SESSION_ONLINE)
        return -ENOTCONN;
    m.u.peer_key = *k;
    return send_msg(c, &m);
}

/* Preamble (kind 1, the pinned key id) and XK message 1, in one write. */
static int send_hello(struct session *c)
{
    const struct agentcfg_link *cfg = c->conf.link;
    uint8_t out[FRAME_PREAMBLE_LEN + FRAME_HDR_LEN + FRAME_MAX_HANDSHAKE];
    uint8_t prologue[FRAME_CONTROL_PROLOGUE_LEN];
    struct frame_preamble pre = {.kind = FRAME_KIND_CONTROL, .key_id = cfg->relay_key_id};
    struct buf b;
    size_t mlen;
    int rc;

    buf_init(&b, out, sizeof(out));
    if (frame_preamble_encode(&pre, &b) != 0)
        return -EINVAL;
    frame_control_prologue(out, prologue);
    rc = noise_hs_init_pub(&c->hs, NOISE_XK, true, prologue, sizeof(prologue), cfg->priv, cfg->pub,
                           cfg->relay_pub);
    if (rc == 0)
        rc = noise_hs_write_message(&c->hs, NULL, 0, out + FRAME_PREAMBLE_LEN + FRAME_HDR_LEN,
                                    FRAME_MAX_HANDSHAKE, &mlen);
    if (rc != 0)
        return -EPROTO;
    out[FRAME_PREAMBLE_LEN] = (uint8_t)(mlen >> 8);
    out[FRAME_PREAMBLE_LEN + 1] = (uint8_t)mlen;
    return session_write(c, out, FRAME_PREAMBLE_LEN + FRAME_HDR_LEN + mlen);
}

/* AUTH (§4.1), the payload of message 3. */
static int session_auth(const struct session_conf *conf, uint8_t *out, size_t cap, size_t *len)
{
    const struct agentcfg_link *cfg = conf->link;
    struct auth a = {.side = cfg->side,
                     .flags = AUTH_FLAG_PEER_KEY | AUTH_FLAG_RELAY_KEY | AUTH_FLAG_QUOTA};

    if (conf->resume)
        a.flags |= AUTH_FLAG_RESUME | AUTH_FLAG_STREAM_ACK;
    if (conf->enroll_verifier != NULL) {
        a.flags |= AUTH_FLAG_ENROLL;
        memcpy(a.verifier, conf->enroll_verifier, sizeof(a.verifier));
    }
    memcpy(a.link_id, cfg->link_id, sizeof(a.link_id));
    snprintf(a.agent_version, sizeof(a.agent_version), "linkagent/%s", LINKRELAY_VERSION);
    return auth_encode(&a, out, cap, len);
}

static int on_msg2(struct session *c, const uint8_t *body, size_t len)
{
    uint8_t payload[FRAME_MAX_HANDSHAKE], auth[AUTH_MAX_LEN];
    uint8_t fr[FRAME_HDR_LEN + FRAME_MAX_HANDSHAKE];
    size_t plen, alen, mlen;
    int rc;

    rc = noise_hs_read_message(&c->hs, body, len, payload, sizeof(payload), &plen);
    if (rc != 0) {
        session_fail(c, false, "relay key mismatch (handshake reply did not decrypt: %s)",
                     noise_strerror(rc));
        return -1;
    }
    if (plen != 0) {
        session_fail(c, false, "protocol error: handshake message 2 with a payload");
        return -1;
    }
    rc = session_auth(&c->conf, auth, sizeof(auth), &alen);
    if (rc == 0)
        rc = noise_hs_write_message(&c->hs, auth, alen, fr + FRAME_HDR_LEN,
                                    sizeof(fr) - FRAME_HDR_LEN, &mlen);
    if (rc == 0)
        rc = noise_hs_split(&c->hs, &c->tx, &c->rx);
    noise_hs_wipe(&c->hs);
    if (rc != 0) {
        session_fail(c, false, "handshake failed locally: %s", noise_strerror(rc));
        return -1;
    }
    fr[0] = (uint8_t)(mlen >> 8);
    fr[1] = (uint8_t)mlen;
    if (session_write(c, fr, FRAME_HDR_LEN + mlen) != 0) {
        session_fail(c, false, "write failed");
        return -1;
    }
    c->state = SESSION_WAIT_WELCOME;
    return 0;
}

static void on_tick(uv_timer_t *t);

static void on_welcome(struct session *c, const struct msg_welcome *w)
{
    char ver[MSG_MAX_VERSION + 1] = "";
    uint32_t own = c->conf.keepalive_ms;

    (void)msg_str_cstr(&w->relay_version, ver, sizeof(ver));
    c->keepalive_ms = (uint32_t)w->keepalive_s * 1000u;
    if (own != 0 && own < c->keepalive_ms)
        c->keepalive_ms = own;
    c->dead_after_ms = (uint32_t)w->dead_after_s * 1000u;
    c->state = SESSION_ONLINE;
    c->last_ping_ms = c->last_rx_ms;
    uv_timer_start(&c->timer, on_tick, SESSION_TICK_MS, SESSION_TICK_MS);
    log_info("link %s: online via relay %s (%s), peer %s", c->name, c->addr,
             ver[0] ? ver : "unknown version", w->peer_online ? "online" : "offline");
    c->ops->on_online(c->owner, w);
}

static void on_close_msg(struct session *c, const struct msg_close *m)
{
    char text[MSG_MAX_TEXT + 1] = "";

    (void)msg_str_cstr(&m->text, text, sizeof(text));
    c->close_reason = m->reason;
    if (m->reason >= MSG_CLOSE_ENROLL_UNKNOWN && m->reason <= MSG_CLOSE_ENROLL_SPENT) {
        session_fail(c, false, "enrollment refused: %s",
                     m->reason == MSG_CLOSE_ENROLL_EXPIRED ? "the code has expired"
                     : m->reason == MSG_CLOSE_ENROLL_SPENT
                         ? "the code was already used"
                         : "the relay knows no such code for this link side (a wrong or "
                           "changed code, or another link's)");
        return;
    }
    if (m->reason == MSG_CLOSE_REVOKED) {
        session_fail(c, true, "link revoked by the relay administrator%s%s", text[0] ? ": " : "",
                     text);
        return;
    }
    if (m->reason == MSG_CLOSE_SOURCE_NOT_ALLOWED) {
        /* Not worth a quick retry: only the admin's allowlist (or another
         * network) changes it. Backs off as a revoked link does. */
        c->source_refused = true;
        session_fail(c, true, "relay refused this agent's source address (source_not_allowed)%s%s",
                     text[0] ? ": " : "", text);
        return;
    }
    session_fail(c, false, "relay closed the session: %s%s%s", msg_close_reason_name(m->reason),
                 text[0] ? ": " : "", text);
}

/* REDIRECT (D34): the owner takes the home's addresses, the session ends
 * (no failure logged: on_redirect logs). */
static int on_redirect_msg(struct session *c, const struct msg_redirect *r)
{
    if (c->ops->on_redirect != NULL)
        c->ops->on_redirect(c->owner, r);
    session_end(c, false, NULL);
    return -1;
}

/* One decrypted control message; returns -1 if the session closed. */
static int dispatch(struct session *c, const struct msg *m)
{
    struct msg pong = {.type = MSG_PONG};

    if (c->state == SESSION_WAIT_WELCOME) {
        if (m->type == MSG_WELCOME) {
            on_welcome(c, &m->u.welcome);
            return c->state == SESSION_ONLINE ? 0 : -1;
        }
        if (m->type == MSG_CLOSE) {
            on_close_msg(c, &m->u.close);
            return -1;
        }
        if (m->type == MSG_REDIRECT)
            return on_redirect_msg(c, &m->u.redirect);
        session_fail(c, false, "protocol error: %s before WELCOME", msg_type_name(m->type));
        return -1;
    }
    switch (m->type) {
    case MSG_PEER:
        c->ops->on_peer(c->owner, m->u.peer_online);
        break;
    case MSG_STREAM:
        c->ops->on_stream(c->owner, &m->u.stream);
        break;
    case MSG_OPEN_FAIL:
        c->ops->on_open_fail(c->owner, m->u.open_fail.req_id, m->u.open_fail.reason);
        break;
    case MSG_CLOSE:
        on_close_msg(c, &m->u.close);
        return -1;
    case MSG_ADDRS:
        c->ops->on_addrs(c->owner, &m->u.addrs);
        break;
    case MSG_PING:
        pong.u.nonce = m->u.nonce;
        if (send_msg(c, &pong) != 0) {
            session_fail(c, false, "cannot send PONG");
            return -1;
        }
        break;
    case MSG_PONG:
        if (c->ops->on_pong != NULL)
            c->ops->on_pong(c->owner, m->u.nonce);
        break;
    case MSG_PEER_KEY:
        c->ops->on_peer_key(c->owner, &m->u.peer_key);
        break;
    case MSG_RELAY_KEY:
        c->ops->on_relay_key(c->owner, m->u.relay_key.key_id, m->u.relay_key.key);
        break;
    case MSG_RESUMABLE:
        if (!c->conf.resume) {
            session_fail(c, false, "protocol error: RESUMABLE without AUTH flags bit 0");
            return -1;
        }
        c->resumable = true;
        c->ops->on_resumable(c->owner);
        break;
    case MSG_RESUMED:
        if (!c->conf.resume) {
            session_fail(c, false, "protocol error: RESUMED without AUTH flags bit 0");
            return -1;
        }
        c->ops->on_resumed(c->owner, &m->u.stream);
        break;
    case MSG_STREAM_ACK:
        if (!c->conf.resume) {
            session_fail(c, false, "protocol error: STREAM_ACK without AUTH flags bit 5");
            return -1;
        }
        if (c->ops->on_stream_ack != NULL)
            c->ops->on_stream_ack(c->owner, &m->u.stream_ack);
        break;
    case MSG_GOING_AWAY:
        c->ops->on_going_away(c->owner, m->u.going_away.seconds);
        break;
    case MSG_REDIRECT:
        return on_redirect_msg(c, &m->u.redirect);
    default:
        session_fail(c, false, "protocol error: unexpected %s", msg_type_name(m->type));
        return -1;
    }
    return c->state == SESSION_CLOSING ? -1 : 0;
}

static int on_transport(struct session *c, const uint8_t *body, size_t len)
{
    uint8_t pt[FRAME_MAX_CONTROL];
    struct msg m;
    size_t plen;
    int rc;

    rc = noise_cs_decrypt(&c->rx, NULL, 0, body, len, pt, sizeof(pt), &plen);
    if (rc != 0) {
        session_fail(c, false, "protocol error: control frame did not decrypt");
        return -1;
    }
    rc = msg_decode(pt, plen, &m);
    if (rc != 0) {
        session_fail(c, false, "protocol error: bad control message: %s", msg_strerror(rc));
        return -1;
    }
    rc = dispatch(c, &m);
    sodium_memzero(&m, sizeof(m));
    sodium_memzero(pt, sizeof(pt));
    return rc;
}

static void process(struct session *c)
{
    const uint8_t *p;
    size_t n;
    struct frame f;
    int rc;

    while (c->state == SESSION_WAIT_MSG2 || c->state == SESSION_WAIT_WELCOME ||
           c->state == SESSION_ONLINE) {
        p = bq_peek(&c->in, &n);
        rc = frame_parse(p, n,
                         c->state == SESSION_WAIT_MSG2 ? FRAME_MAX_HANDSHAKE : FRAME_MAX_CONTROL,
                         &f, NULL);
        if (rc == -EAGAIN)
            return;
        if (rc != 0) {
            session_fail(c, false, "protocol error: %s", frame_strerror(rc));
            return;
        }
        if (c->state == SESSION_WAIT_MSG2)
            rc = on_msg2(c, f.body, f.len);
        else
            rc = on_transport(c, f.body, f.len);
        if (rc != 0)
            return;
        (void)bq_consume(&c->in, f.consumed);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct session *c = h->data;
    size_t len = 0;
    uint8_t *p = bq_reserve(&c->in, &len);

    (void)suggested;
    *buf = uv_buf_init((char *)p, (unsigned)len);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct session *c = s->data;

    (void)buf;
    if (c->state == SESSION_CLOSING || nread == 0)
        return;
    if (nread == UV_ENOBUFS) {
        session_fail(c, false, "protocol error: control frame too large");
        return;
    }
    if (nread < 0) {
        const char *why = nread == UV_EOF ? "closed the connection" : uv_strerror((int)nread);
        if (c->state == SESSION_WAIT_MSG2)
            session_fail(c, false,
                         "relay key mismatch or not a linkrelay relay (%s before the handshake "
                         "reply)",
                         why);
        else if (c->state == SESSION_WAIT_WELCOME)
            session_fail(c, false,
                         "authentication refused (unknown link, wrong side or key; relay %s)", why);
        else
            session_fail(c, false, "control connection lost: %s", why);
        return;
    }
    (void)bq_commit(&c->in, (size_t)nread);
    c->last_rx_ms = uv_now(c->loop);
    process(c);
}

static void on_tick(uv_timer_t *t)
{
    struct session *c = t->data;
    uint64_t now = uv_now(c->loop), idle = now - c->last_rx_ms;
    struct msg ping = {.type = MSG_PING};

    if (c->state != SESSION_ONLINE) {
        if (c->state == SESSION_RESOLVING)
            session_fail(c, false, "timeout resolving the relay address");
        else if (c->state == SESSION_CONNECTING)
            session_fail(c, false, "connect timeout");
        else if (c->state == SESSION_WAIT_MSG2)
            session_fail(c, false,
                         "timeout waiting for the handshake reply (relay key mismatch or "
                         "not a linkrelay relay?)");
        else
            session_fail(c, false, "timeout waiting for WELCOME (authentication refused?)");
        return;
    }
    if (c->dead_after_ms != 0 && idle >= c->dead_after_ms) {
        session_fail(c, false, "relay dead: nothing received for %llu ms",
                     (unsigned long long)idle);
        return;
    }
    if (c->keepalive_ms != 0 && idle >= c->keepalive_ms &&
        now - c->last_ping_ms >= c->keepalive_ms) {
        ping.u.nonce = ++c->ping_nonce;
        c->last_ping_ms = now;
        if (send_msg(c, &ping) != 0)
            session_fail(c, false, "cannot send PING");
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct session *c = req->data;
    struct sockaddr_storage relay;
    int len = (int)sizeof(relay);

    if (status == UV_ECANCELED || c->state == SESSION_CLOSING)
        return;
    if (status < 0) {
        session_fail(c, false, "connect failed: %s%s", uv_strerror(status),
                     status == UV_ECONNREFUSED ? " (refused: relay not running there?)" : "");
        return;
    }
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&relay, &len) == 0)
        c->ops->on_connected(c->owner, &relay);
    c->state = SESSION_WAIT_MSG2;
    if (send_hello(c) != 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        session_fail(c, false, "cannot start the handshake");
        return;
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct session *c = req->data;
    int rc;

    if (status == UV_ECANCELED || c->state == SESSION_CLOSING) {
        uv_freeaddrinfo(res);
        c->gai_pending = false;
        session_release(c);
        return;
    }
    c->gai_pending = false;
    session_release(c); /* the request; the struct is still held by the timer */
    if (status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        session_fail(c, false, "cannot resolve the relay address (DNS): %s", uv_strerror(status));
        return;
    }
    rc = uv_tcp_init(c->loop, &c->tcp);
    if (rc == 0) {
        c->tcp_inited = true;
        c->refs++;
        c->tcp.data = c;
        (void)uv_tcp_nodelay(&c->tcp, 1);
        c->creq.data = c;
        c->state = SESSION_CONNECTING;
        rc = uv_tcp_connect(&c->creq, &c->tcp, res->ai_addr, on_connect);
    }
    uv_freeaddrinfo(res);
    if (rc != 0)
        session_fail(c, false, "connect failed: %s", uv_strerror(rc));
}

struct session *session_start(uv_loop_t *loop, const struct session_conf *conf,
                              const struct session_ops *ops, void *owner,
                              const struct addr_spec *addr)
{
    struct session *c = calloc(1, sizeof(*c));
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    char port[8];
    int rc;

    if (c == NULL)
        return NULL;
    c->ops = ops;
    c->owner = owner;
    c->conf = *conf;
    snprintf(c->name, sizeof(c->name), "%s", conf->name);
    c->loop = loop;
    bq_init(&c->in, c->in_mem, sizeof(c->in_mem));
    (void)addr_format(addr, c->addr, sizeof(c->addr));
    uv_timer_init(c->loop, &c->timer);
    c->timer.data = c;
    c->refs = 1;
    c->gai.data = c;
    c->state = SESSION_RESOLVING;
    snprintf(port, sizeof(port), "%u", addr->port);
    rc = uv_getaddrinfo(c->loop, &c->gai, on_resolved, addr->host, port, &hints);
    if (rc != 0) {
        c->ops = NULL; /* the caller learns it from NULL */
        session_fail(c, false, "cannot resolve: %s", uv_strerror(rc));
        return NULL;
    }
    c->refs++;
    c->gai_pending = true;
    uv_timer_start(&c->timer, on_tick, SESSION_HANDSHAKE_MS, 0);
    log_debug("link %s: dialling relay %s", c->name, c->addr);
    return c;
}
