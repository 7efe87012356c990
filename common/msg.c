/* SPDX-License-Identifier: MIT */
/*
 * msg — see msg.h and docs/protocol.md §5.
 *
 * The validity rules live in one place per field (the check_* helpers) and are
 * applied both by the decoder, to what the peer sent, and by the encoder, to
 * what we are about to send.
 */
#include "msg.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "keys.h"

static bool text_ok(const struct msg_str *s, size_t max)
{
    return s->len <= max && (s->len == 0 || s->p != NULL);
}

/* An address is handed to the resolver as a C string later: non-empty, no NUL. */
static bool addr_ok(const struct msg_str *s)
{
    return s->len >= 1 && s->len <= MSG_MAX_ADDR && s->p != NULL && memchr(s->p, 0, s->len) == NULL;
}

static bool type_known(int t)
{
    switch (t) {
    case MSG_WELCOME:
    case MSG_PEER:
    case MSG_STREAM:
    case MSG_OPEN_FAIL:
    case MSG_CLOSE:
    case MSG_ADDRS:
    case MSG_REDIRECT:
    case MSG_GOING_AWAY:
    case MSG_PEER_KEY:
    case MSG_RELAY_KEY:
    case MSG_RESUMABLE:
    case MSG_RESUME:
    case MSG_RESUMED:
    case MSG_LEG_LOST:
    case MSG_STREAM_ACK:
    case MSG_PING:
    case MSG_PONG:
    case MSG_OPEN:
    case MSG_KEY_ENDORSE:
        return true;
    default:
        return false;
    }
}

/* PEER_KEY: a valid key; no endorsement (by and mac all-zero) or one by a
 * valid key other than key. */
static bool peer_key_ok(const struct msg_key *k)
{
    if (key_pub_check(k->key) != 0)
        return false;
    if (sodium_is_zero(k->by, MSG_KEY_LEN))
        return sodium_is_zero(k->mac, MSG_MAC_LEN) != 0;
    return sodium_memcmp(k->key, k->by, MSG_KEY_LEN) != 0 && key_pub_check(k->by) == 0;
}

static bool close_reason_ok(int r)
{
    return r >= MSG_CLOSE_REVOKED && r <= MSG_CLOSE_ENROLL_SPENT;
}

static bool open_fail_reason_ok(int r)
{
    return r >= MSG_OPEN_FAIL_PEER_OFFLINE && r <= MSG_OPEN_FAIL_QUOTA_EXCEEDED;
}

static bool redirect_reason_ok(int r)
{
    return r == MSG_REDIRECT_HOME || r == MSG_REDIRECT_DRAINING;
}

/* An address list of ADDRS (min 0) or REDIRECT (min 1): min..16 valid. */
static bool addrs_ok(const struct msg_str *a, size_t n, size_t min)
{
    if (n < min || n > MSG_MAX_ADDRS)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!addr_ok(&a[i]))
            return false;
    }
    return true;
}

/* The initiator's STREAM answers its own OPEN (req_id != 0); the responder did
 * not ask (req_id == 0). */
static bool stream_ok(const struct msg_stream *s)
{
    if (s->stream_id == 0)
        return false;
    if (s->role == MSG_ROLE_INITIATOR)
        return s->req_id != 0;
    if (s->role == MSG_ROLE_RESPONDER)
        return s->req_id == 0;
    return false;
}

static bool welcome_ok(const struct msg_welcome *w)
{
    return w->keepalive_s != 0 && w->dead_after_s != 0 &&
           text_ok(&w->relay_version, MSG_MAX_VERSION);
}

/* Checks every rule of §5 on m; 0, MSG_E_TYPE or MSG_E_RANGE. */
static int check(const struct msg *m)
{
    switch (m->type) {
    case MSG_WELCOME:
        return welcome_ok(&m->u.welcome) ? 0 : MSG_E_RANGE;
    case MSG_PEER:
    case MSG_PING:
    case MSG_PONG:
    case MSG_RESUMABLE:
        return 0;
    case MSG_STREAM:
    case MSG_RESUMED:
        return stream_ok(&m->u.stream) ? 0 : MSG_E_RANGE;
    case MSG_RESUME:
        return m->u.resume.req_id != 0 ? 0 : MSG_E_RANGE;
    case MSG_LEG_LOST:
        return m->u.leg_lost.stream_id != 0 ? 0 : MSG_E_RANGE;
    case MSG_STREAM_ACK:
        return m->u.stream_ack.stream_id != 0 ? 0 : MSG_E_RANGE;
    case MSG_OPEN_FAIL:
        return open_fail_reason_ok(m->u.open_fail.reason) ? 0 : MSG_E_RANGE;
    case MSG_CLOSE:
        return close_reason_ok(m->u.close.reason) && text_ok(&m->u.close.text, MSG_MAX_TEXT)
                   ? 0
                   : MSG_E_RANGE;
    case MSG_ADDRS:
        return addrs_ok(m->u.addrs.addr, m->u.addrs.n, 0) ? 0 : MSG_E_RANGE;
    case MSG_REDIRECT:
        return addrs_ok(m->u.redirect.addr, m->u.redirect.n, 1) &&
                       redirect_reason_ok(m->u.redirect.reason)
                   ? 0
                   : MSG_E_RANGE;
    case MSG_GOING_AWAY:
        return text_ok(&m->u.going_away.text, MSG_MAX_TEXT) ? 0 : MSG_E_RANGE;
    case MSG_PEER_KEY:
        /* An all-zero or small-order key would make the end-to-end ss and
         * es contributions predictable (§2). */
        return peer_key_ok(&m->u.peer_key) ? 0 : MSG_E_RANGE;
    case MSG_KEY_ENDORSE:
        return sodium_memcmp(m->u.peer_key.key, m->u.peer_key.by, MSG_KEY_LEN) != 0 &&
                       key_pub_check(m->u.peer_key.key) == 0 && key_pub_check(m->u.peer_key.by) == 0
                   ? 0
                   : MSG_E_RANGE;
    case MSG_RELAY_KEY:
        return key_pub_check(m->u.relay_key.key) == 0 ? 0 : MSG_E_RANGE;
    case MSG_OPEN:
        return m->u.req_id != 0 ? 0 : MSG_E_RANGE;
    }
    return MSG_E_TYPE;
}

/* Size of the encoding of a message that passed check(). */
static size_t encoded_len(const struct msg *m)
{
    size_t n = 1;

    switch (m->type) {
    case MSG_WELCOME:
        return n + 2 + 2 + 1 + 2 + 1 + m->u.welcome.relay_version.len;
    case MSG_PEER:
        return n + 1;
    case MSG_STREAM:
        return n + 4 + 8 + 1 + 4 + MSG_TICKET_LEN;
    case MSG_RESUMED:
        return n + 4 + 8 + 1 + 4 + MSG_TICKET_LEN + MSG_RESUME_ID_LEN;
    case MSG_RESUMABLE:
        return n;
    case MSG_RESUME:
        return n + 4 + MSG_RESUME_ID_LEN;
    case MSG_LEG_LOST:
        return n + 8 + MSG_TICKET_LEN;
    case MSG_STREAM_ACK:
        return n + 8 + 8 + MSG_ACK_MAC_LEN;
    case MSG_OPEN_FAIL:
        return n + 4 + 1;
    case MSG_CLOSE:
        return n + 1 + 1 + m->u.close.text.len;
    case MSG_ADDRS:
        n += 1;
        for (size_t i = 0; i < m->u.addrs.n; i++)
            n += 1 + m->u.addrs.addr[i].len;
        return n;
    case MSG_REDIRECT:
        n += 2;
        for (size_t i = 0; i < m->u.redirect.n; i++)
            n += 1 + m->u.redirect.addr[i].len;
        return n;
    case MSG_GOING_AWAY:
        return n + 2 + 1 + m->u.going_away.text.len;
    case MSG_PEER_KEY:
    case MSG_KEY_ENDORSE:
        return n + 2 * MSG_KEY_LEN + MSG_MAC_LEN;
    case MSG_RELAY_KEY:
        return n + 1 + MSG_KEY_LEN;
    case MSG_PING:
    case MSG_PONG:
        return n + 8;
    case MSG_OPEN:
        return n + 4;
    }
    return n;
}

/* Writes the body of a checked message into a buffer known to be big enough;
 * the return values are still collected so a size bug cannot go unnoticed. */
static int put_body(const struct msg *m, struct buf *b)
{
    int rc = 0;

    switch (m->type) {
    case MSG_WELCOME: {
        const struct msg_welcome *w = &m->u.welcome;
        rc |= buf_put_u16(b, w->keepalive_s);
        rc |= buf_put_u16(b, w->dead_after_s);
        rc |= buf_put_u8(b, w->peer_online ? 1 : 0);
        rc |= buf_put_u16(b, w->max_streams);
        rc |= buf_put_str8(b, w->relay_version.p, w->relay_version.len);
        break;
    }
    case MSG_PEER:
        rc |= buf_put_u8(b, m->u.peer_online ? 1 : 0);
        break;
    case MSG_STREAM:
    case MSG_RESUMED: {
        const struct msg_stream *s = &m->u.stream;
        rc |= buf_put_u32(b, s->req_id);
        rc |= buf_put_u64(b, s->stream_id);
        rc |= buf_put_u8(b, (uint8_t)s->role);
        rc |= buf_put_u32(b, s->expires_ms);
        rc |= buf_put_bytes(b, s->ticket, MSG_TICKET_LEN);
        if (m->type == MSG_RESUMED)
            rc |= buf_put_bytes(b, s->resume_id, MSG_RESUME_ID_LEN);
        break;
    }
    case MSG_RESUMABLE:
        break;
    case MSG_RESUME:
        rc |= buf_put_u32(b, m->u.resume.req_id);
        rc |= buf_put_bytes(b, m->u.resume.resume_id, MSG_RESUME_ID_LEN);
        break;
    case MSG_LEG_LOST:
        rc |= buf_put_u64(b, m->u.leg_lost.stream_id);
        rc |= buf_put_bytes(b, m->u.leg_lost.ticket, MSG_TICKET_LEN);
        break;
    case MSG_STREAM_ACK:
        rc |= buf_put_u64(b, m->u.stream_ack.stream_id);
        rc |= buf_put_u64(b, m->u.stream_ack.offset);
        rc |= buf_put_bytes(b, m->u.stream_ack.mac, MSG_ACK_MAC_LEN);
        break;
    case MSG_OPEN_FAIL:
        rc |= buf_put_u32(b, m->u.open_fail.req_id);
        rc |= buf_put_u8(b, (uint8_t)m->u.open_fail.reason);
        break;
    case MSG_CLOSE:
        rc |= buf_put_u8(b, (uint8_t)m->u.close.reason);
        rc |= buf_put_str8(b, m->u.close.text.p, m->u.close.text.len);
        break;
    case MSG_ADDRS:
        rc |= buf_put_u8(b, (uint8_t)m->u.addrs.n);
        for (size_t i = 0; i < m->u.addrs.n; i++)
            rc |= buf_put_str8(b, m->u.addrs.addr[i].p, m->u.addrs.addr[i].len);
        break;
    case MSG_REDIRECT:
        rc |= buf_put_u8(b, (uint8_t)m->u.redirect.reason);
        rc |= buf_put_u8(b, (uint8_t)m->u.redirect.n);
        for (size_t i = 0; i < m->u.redirect.n; i++)
            rc |= buf_put_str8(b, m->u.redirect.addr[i].p, m->u.redirect.addr[i].len);
        break;
    case MSG_GOING_AWAY:
        rc |= buf_put_u16(b, m->u.going_away.seconds);
        rc |= buf_put_str8(b, m->u.going_away.text.p, m->u.going_away.text.len);
        break;
    case MSG_PEER_KEY:
        rc |= buf_put_bytes(b, m->u.peer_key.key, MSG_KEY_LEN);
        rc |= buf_put_bytes(b, m->u.peer_key.by, MSG_KEY_LEN);
        rc |= buf_put_bytes(b, m->u.peer_key.mac, MSG_MAC_LEN);
        break;
    case MSG_KEY_ENDORSE:
        rc |= buf_put_bytes(b, m->u.peer_key.by, MSG_KEY_LEN);
        rc |= buf_put_bytes(b, m->u.peer_key.key, MSG_KEY_LEN);
        rc |= buf_put_bytes(b, m->u.peer_key.mac, MSG_MAC_LEN);
        break;
    case MSG_RELAY_KEY:
        rc |= buf_put_u8(b, m->u.relay_key.key_id);
        rc |= buf_put_bytes(b, m->u.relay_key.key, MSG_KEY_LEN);
        break;
    case MSG_PING:
    case MSG_PONG:
        rc |= buf_put_u64(b, m->u.nonce);
        break;
    case MSG_OPEN:
        rc |= buf_put_u32(b, m->u.req_id);
        break;
    }
    return rc;
}

int msg_encode(const struct msg *m, uint8_t *out, size_t cap, size_t *outlen)
{
    struct buf b;
    size_t need;
    int rc = check(m);

    if (rc != 0)
        return rc;
    need = encoded_len(m);
    if (need > MSG_MAX_LEN)
        return MSG_E_TOOBIG;
    if (out == NULL || need > cap)
        return MSG_E_NOSPC;
    buf_init(&b, out, cap);
    if (buf_put_u8(&b, (uint8_t)m->type) != 0 || put_body(m, &b) != 0 || b.len != need)
        return MSG_E_NOSPC; /* cannot happen: need was computed above */
    *outlen = b.len;
    return 0;
}

static int get_bool(struct cur *c, bool *out)
{
    uint8_t v;

    if (cur_u8(c, &v) != 0)
        return MSG_E_SHORT;
    if (v > 1)
        return MSG_E_RANGE;
    *out = v == 1;
    return 0;
}

static int get_str(struct cur *c, struct msg_str *out)
{
    if (cur_str8(c, &out->p, &out->len) != 0)
        return MSG_E_SHORT;
    return 0;
}

/* Reads the fields of m->type's body. Truncation is MSG_E_SHORT. A u8 is
 * range-checked before it is stored in an enum (an enum never holds a value
 * outside its list); the other rules are left to check(). */
static int get_body(struct cur *c, struct msg *m)
{
    int rc = 0;
    uint8_t v = 0;

    switch (m->type) {
    case MSG_WELCOME: {
        struct msg_welcome *w = &m->u.welcome;
        if (cur_u16(c, &w->keepalive_s) || cur_u16(c, &w->dead_after_s))
            return MSG_E_SHORT;
        if ((rc = get_bool(c, &w->peer_online)) != 0)
            return rc;
        if (cur_u16(c, &w->max_streams))
            return MSG_E_SHORT;
        return get_str(c, &w->relay_version);
    }
    case MSG_PEER:
        return get_bool(c, &m->u.peer_online);
    case MSG_STREAM:
    case MSG_RESUMED: {
        struct msg_stream *s = &m->u.stream;
        if (cur_u32(c, &s->req_id) || cur_u64(c, &s->stream_id) || cur_u8(c, &v) ||
            cur_u32(c, &s->expires_ms) || cur_copy(c, s->ticket, MSG_TICKET_LEN))
            return MSG_E_SHORT;
        if (m->type == MSG_RESUMED && cur_copy(c, s->resume_id, MSG_RESUME_ID_LEN))
            return MSG_E_SHORT;
        if (v > MSG_ROLE_RESPONDER)
            return MSG_E_RANGE;
        s->role = (enum msg_role)v;
        return 0;
    }
    case MSG_OPEN_FAIL:
        if (cur_u32(c, &m->u.open_fail.req_id) || cur_u8(c, &v))
            return MSG_E_SHORT;
        if (!open_fail_reason_ok(v))
            return MSG_E_RANGE;
        m->u.open_fail.reason = (enum msg_open_fail_reason)v;
        return 0;
    case MSG_CLOSE:
        if (cur_u8(c, &v))
            return MSG_E_SHORT;
        if (!close_reason_ok(v))
            return MSG_E_RANGE;
        m->u.close.reason = (enum msg_close_reason)v;
        return get_str(c, &m->u.close.text);
    case MSG_ADDRS:
        if (cur_u8(c, &v))
            return MSG_E_SHORT;
        if (v > MSG_MAX_ADDRS)
            return MSG_E_RANGE; /* before reading: the array holds 16 */
        m->u.addrs.n = v;
        for (size_t i = 0; i < m->u.addrs.n && rc == 0; i++)
            rc = get_str(c, &m->u.addrs.addr[i]);
        return rc;
    case MSG_REDIRECT:
        if (cur_u8(c, &v))
            return MSG_E_SHORT;
        if (!redirect_reason_ok(v))
            return MSG_E_RANGE;
        m->u.redirect.reason = (enum msg_redirect_reason)v;
        if (cur_u8(c, &v))
            return MSG_E_SHORT;
        if (v == 0 || v > MSG_MAX_ADDRS)
            return MSG_E_RANGE; /* before reading: the array holds 16 */
        m->u.redirect.n = v;
        for (size_t i = 0; i < m->u.redirect.n && rc == 0; i++)
            rc = get_str(c, &m->u.redirect.addr[i]);
        return rc;
    case MSG_GOING_AWAY:
        if (cur_u16(c, &m->u.going_away.seconds))
            return MSG_E_SHORT;
        return get_str(c, &m->u.going_away.text);
    case MSG_PEER_KEY:
        return cur_copy(c, m->u.peer_key.key, MSG_KEY_LEN) ||
                       cur_copy(c, m->u.peer_key.by, MSG_KEY_LEN) ||
                       cur_copy(c, m->u.peer_key.mac, MSG_MAC_LEN)
                   ? MSG_E_SHORT
                   : 0;
    case MSG_KEY_ENDORSE:
        return cur_copy(c, m->u.peer_key.by, MSG_KEY_LEN) ||
                       cur_copy(c, m->u.peer_key.key, MSG_KEY_LEN) ||
                       cur_copy(c, m->u.peer_key.mac, MSG_MAC_LEN)
                   ? MSG_E_SHORT
                   : 0;
    case MSG_RELAY_KEY:
        return cur_u8(c, &m->u.relay_key.key_id) || cur_copy(c, m->u.relay_key.key, MSG_KEY_LEN)
                   ? MSG_E_SHORT
                   : 0;
    case MSG_RESUMABLE:
        return 0;
    case MSG_RESUME:
        if (cur_u32(c, &m->u.resume.req_id) ||
            cur_copy(c, m->u.resume.resume_id, MSG_RESUME_ID_LEN))
            return MSG_E_SHORT;
        return 0;
    case MSG_LEG_LOST:
        return cur_u64(c, &m->u.leg_lost.stream_id) ||
                       cur_copy(c, m->u.leg_lost.ticket, MSG_TICKET_LEN)
                   ? MSG_E_SHORT
                   : 0;
    case MSG_STREAM_ACK:
        return cur_u64(c, &m->u.stream_ack.stream_id) || cur_u64(c, &m->u.stream_ack.offset) ||
                       cur_copy(c, m->u.stream_ack.mac, MSG_ACK_MAC_LEN)
                   ? MSG_E_SHORT
                   : 0;
    case MSG_PING:
    case MSG_PONG:
        return cur_u64(c, &m->u.nonce) ? MSG_E_SHORT : 0;
    case MSG_OPEN:
        return cur_u32(c, &m->u.req_id) ? MSG_E_SHORT : 0;
    }
    return MSG_E_TYPE;
}

int msg_decode(const uint8_t *p, size_t n, struct msg *out)
{
    struct cur c;
    struct msg m;
    uint8_t type;
    int rc;

    if (n > MSG_MAX_LEN)
        return MSG_E_TOOBIG;
    memset(&m, 0, sizeof(m));
    cur_init(&c, p, n);
    if (cur_u8(&c, &type) != 0)
        return MSG_E_SHORT;
    if (!type_known(type))
        return MSG_E_TYPE; /* v1 peers do not skip unknown types (§5) */
    m.type = (enum msg_type)type;
    rc = get_body(&c, &m);
    if (rc == 0 && cur_end_ok(&c) != 0)
        rc = MSG_E_TRAILING;
    if (rc == 0)
        rc = check(&m);
    if (rc == 0)
        *out = m;
    sodium_memzero(&m, sizeof(m)); /* it may hold a ticket */
    return rc;
}

int msg_str_cstr(const struct msg_str *s, char *out, size_t cap)
{
    if (s->len >= cap)
        return -ENOSPC;
    if (s->len > 0 && memchr(s->p, 0, s->len) != NULL)
        return -EINVAL;
    if (s->len > 0)
        memcpy(out, s->p, s->len);
    out[s->len] = '\0';
    return 0;
}

const char *msg_type_name(int type)
{
    switch (type) {
    case MSG_WELCOME:
        return "WELCOME";
    case MSG_PEER:
        return "PEER";
    case MSG_STREAM:
        return "STREAM";
    case MSG_OPEN_FAIL:
        return "OPEN_FAIL";
    case MSG_CLOSE:
        return "CLOSE";
    case MSG_ADDRS:
        return "ADDRS";
    case MSG_REDIRECT:
        return "REDIRECT";
    case MSG_GOING_AWAY:
        return "GOING_AWAY";
    case MSG_PEER_KEY:
        return "PEER_KEY";
    case MSG_RELAY_KEY:
        return "RELAY_KEY";
    case MSG_RESUMABLE:
        return "RESUMABLE";
    case MSG_RESUME:
        return "RESUME";
    case MSG_RESUMED:
        return "RESUMED";
    case MSG_LEG_LOST:
        return "LEG_LOST";
    case MSG_STREAM_ACK:
        return "STREAM_ACK";
    case MSG_PING:
        return "PING";
    case MSG_PONG:
        return "PONG";
    case MSG_OPEN:
        return "OPEN";
    case MSG_KEY_ENDORSE:
        return "KEY_ENDORSE";
    default:
        return "unknown";
    }
}

const char *msg_close_reason_name(int reason)
{
    static const char *const names[] = {
        NULL,
        "revoked",
        "key_rotated",
        "shutdown",
        "replaced",
        "timeout",
        "protocol",
        "limit",
        "source_not_allowed",
        "enroll_unknown",
        "enroll_expired",
        "enroll_spent",
    };

    if (!close_reason_ok(reason))
        return "unknown";
    return names[reason];
}

const char *msg_open_fail_reason_name(int reason)
{
    static const char *const names[] = {
        NULL,       "peer_offline", "stream_limit",   "timeout",
        "internal", "rate_limited", "quota_exceeded",
    };

    if (!open_fail_reason_ok(reason))
        return "unknown";
    return names[reason];
}

const char *msg_redirect_reason_name(int reason)
{
    if (reason == MSG_REDIRECT_HOME)
        return "home";
    if (reason == MSG_REDIRECT_DRAINING)
        return "draining";
    return "unknown";
}

const char *msg_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case MSG_E_SHORT:
        return "truncated control message";
    case MSG_E_TRAILING:
        return "bytes after the end of a control message";
    case MSG_E_TYPE:
        return "unknown control message type";
    case MSG_E_RANGE:
        return "control message field out of range";
    case MSG_E_TOOBIG:
        return "control message longer than 4096 bytes";
    case MSG_E_NOSPC:
        return "output buffer too small";
    default:
        return "unknown control message error";
    }
}
