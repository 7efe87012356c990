/* SPDX-License-Identifier: MIT */
#include "selfcheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>
#include <sys/socket.h>

#include <sodium.h>

#include "buf.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "lrjson.h"
#include "noise.h"
#include "wallclock.h"

#define SELFCHECK_MSG_LEN 48 /* XK messages 1 and 2: e (32) and an empty payload's tag */
#define SELFCHECK_E_OFF   (FRAME_PREAMBLE_LEN + FRAME_HDR_LEN) /* e in the hello */

/* The detail of a wrong_key from another member of the pool (D44), which
 * selfcheck_failing names other_member. */
static const char selfcheck_other_member[] = "answered by another process with this relay's key: "
                                             "in a pool, another member";

/* One check of one address: resolve, connect, preamble and message 1,
 * message 2. Its handles (timer, then socket) and the pending lookup each
 * hold a reference; the probe is freed when the last one lets go, after it
 * is done. */
struct selfcheck_probe {
    struct selfcheck *sc;
    struct selfcheck_probe *next; /* sc->probes */
    size_t slot;                  /* sc->addr[slot], valid while gen == sc->gen */
    uint64_t gen;
    int refs;
    bool done;
    bool wants_lookup; /* a name waiting for its turn to be looked up */
    bool resolving;    /* the lookup's callback is still due */
    bool has_tcp;
    bool has_e;   /* message 1 written: e is set */
    bool claimed; /* the relay's session recognised e (selfcheck_answered) */
    const char *stage;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct noise_hs hs;
    uint8_t e[32];
    uint8_t out[FRAME_PREAMBLE_LEN + FRAME_HDR_LEN + SELFCHECK_MSG_LEN];
    uint8_t in[FRAME_HDR_LEN + SELFCHECK_MSG_LEN];
    size_t in_len;
};

const char *selfcheck_result_name(int r)
{
    static const char *const names[SELFCHECK_COUNT] = {"none",    "ok",        "refused",
                                                       "timeout", "wrong_key", "error"};

    return r >= 0 && r < SELFCHECK_COUNT ? names[r] : "unknown";
}

bool selfcheck_usable(const struct selfcheck *sc)
{
    if (sc->interval_ms == 0 || sc->n == 0)
        return true;
    for (size_t i = 0; i < sc->n; i++)
        if (sc->addr[i].state == SELFCHECK_NONE || sc->addr[i].state == SELFCHECK_OK)
            return true;
    return false;
}

static bool selfcheck_any_ok(const struct selfcheck *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        if (sc->addr[i].state == SELFCHECK_OK)
            return true;
    return false;
}

/* One line when the relay's usability (selfcheck_usable) changes. */
static void selfcheck_note_usable(struct selfcheck *sc)
{
    bool usable = selfcheck_usable(sc);

    if (usable == sc->was_usable)
        return;
    sc->was_usable = usable;
    if (usable && sc->interval_ms != 0 && sc->n > 0 && selfcheck_any_ok(sc))
        log_info("advertise self-check: an advertised address reaches this relay again");
    else if (usable)
        log_info("advertise self-check: usable again after a reload (checks off, nothing "
                 "advertised, or a new address not checked yet)");
    else
        log_warnx("advertise self-check: none of the %zu advertised addresses reaches this "
                  "relay; agents given them cannot connect",
                  sc->n);
}

/* The advertise list from cfg; an address kept (same host:port) keeps its
 * results. True when the list changed. */
static bool selfcheck_take_list(struct selfcheck *sc, const struct relaycfg *cfg)
{
    struct selfcheck_addr next[RELAYCFG_MAX_ADDRS];
    size_t n = 0;
    bool changed = cfg->n_advertise != sc->n;

    memset(next, 0, sizeof(next));
    for (size_t i = 0; i < cfg->n_advertise && i < RELAYCFG_MAX_ADDRS; i++) {
        struct selfcheck_addr *a = &next[n];
        a->addr = cfg->advertise[i];
        if (addr_format(&a->addr, a->text, sizeof(a->text)) != 0)
            continue;
        for (size_t j = 0; j < sc->n; j++)
            if (strcmp(sc->addr[j].text, a->text) == 0)
                *a = sc->addr[j];
        changed = changed || n >= sc->n || strcmp(sc->addr[n].text, a->text) != 0;
        n++;
    }
    memcpy(sc->addr, next, sizeof(next));
    sc->n = n;
    return changed;
}

void selfcheck_init(struct selfcheck *sc, uv_loop_t *loop, const struct relaykey *key,
                    const struct relaycfg *cfg)
{
    memset(sc, 0, sizeof(*sc));
    sc->loop = loop;
    sc->key = key;
    sc->interval_ms = cfg->advertise_check_interval_ms;
    sc->timeout_ms = cfg->advertise_check_timeout_ms;
    sc->pool = cfg->pool.member_id[0] != '\0';
    sc->was_usable = true;
    (void)selfcheck_take_list(sc, cfg);
}

/* Records a finished check of a current probe: counted, the address's
 * times, one log line when its result changes. */
static void selfcheck_record(struct selfcheck *sc, size_t slot, enum selfcheck_result res,
                             const char *detail)
{
    struct selfcheck_addr *a = &sc->addr[slot];
    enum selfcheck_result prev = a->state;
    uint64_t now = wallclock_ms();

    sc->checks[res]++;
    a->last_check_ms = now;
    if (res == SELFCHECK_OK)
        a->last_ok_ms = now;
    snprintf(a->detail, sizeof(a->detail), "%s", detail);
    a->state = res;
    if (prev == res)
        return;
    a->since_ms = now;
    if (res != SELFCHECK_OK)
        log_warnx("advertise %s does not reach this relay: %s (%s)", a->text,
                  selfcheck_result_name(res), detail);
    else if (prev == SELFCHECK_NONE)
        log_info("advertise %s reaches this relay%s%s", a->text, detail[0] != '\0' ? ": " : "",
                 detail);
    else
        log_info("advertise %s reaches this relay again (was %s)", a->text,
                 selfcheck_result_name(prev));
    selfcheck_note_usable(sc);
}

static void selfcheck_probe_unref(struct selfcheck_probe *p)
{
    if (--p->refs == 0) {
        noise_hs_wipe(&p->hs);
        free(p);
    }
}

static void selfcheck_probe_closed(uv_handle_t *h)
{
    selfcheck_probe_unref(h->data);
}

static void selfcheck_round(struct selfcheck *sc);
static void selfcheck_on_timer(uv_timer_t *t);

/* The next round, once every probe has finished. */
static void selfcheck_schedule(struct selfcheck *sc)
{
    if (!sc->running || sc->in_flight > 0 || sc->interval_ms == 0 || sc->n == 0)
        return;
    uv_timer_start(&sc->timer, selfcheck_on_timer, sc->interval_ms, 0);
}

/* Ends a probe once: its result (if its address is still the one it
 * checked), its handles closed, its lookup cancelled. */
static void selfcheck_finish(struct selfcheck_probe *p, enum selfcheck_result res, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));
static void selfcheck_finish(struct selfcheck_probe *p, enum selfcheck_result res, const char *fmt,
                             ...)
{
    struct selfcheck *sc = p->sc;
    struct selfcheck_probe **pp;
    char detail[sizeof(sc->addr[0].detail)];
    va_list ap;

    if (p->done)
        return;
    p->done = true;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    for (pp = &sc->probes; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    sc->in_flight--;
    if (sc->running && p->gen == sc->gen && p->slot < sc->n)
        selfcheck_record(sc, p->slot, res, detail);
    if (p->resolving)
        (void)uv_cancel((uv_req_t *)&p->gai);
    uv_close((uv_handle_t *)&p->timer, selfcheck_probe_closed);
    if (p->has_tcp)
        uv_close((uv_handle_t *)&p->tcp, selfcheck_probe_closed);
    selfcheck_schedule(sc);
}

/* A socket error before a valid message 2. */
static void selfcheck_fail_io(struct selfcheck_probe *p, int err)
{
    if (err == UV_EOF)
        selfcheck_finish(p, SELFCHECK_WRONG_KEY,
                         "closed before message 2: another relay or service answered");
    else if (err == UV_ECONNRESET || err == UV_EPIPE)
        selfcheck_finish(p, SELFCHECK_WRONG_KEY,
                         "reset before message 2: another relay or service answered");
    else if (err == UV_ETIMEDOUT)
        selfcheck_finish(p, SELFCHECK_TIMEOUT, "%s: %s", p->stage, uv_strerror(err));
    else if (err == UV_ECONNREFUSED)
        selfcheck_finish(p, SELFCHECK_REFUSED, "connection refused");
    else
        selfcheck_finish(p, SELFCHECK_ERROR, "%s: %s", p->stage, uv_strerror(err));
}

static void selfcheck_on_deadline(uv_timer_t *t)
{
    struct selfcheck_probe *p = t->data;

    selfcheck_finish(p, SELFCHECK_TIMEOUT, "no answer within %" PRIu32 " ms, %s", p->sc->timeout_ms,
                     p->stage);
}

/* Message 2 is in p->in: only the holder of the relay's key can make it
 * decrypt (its tag covers es, the DH with the relay's static key). */
static void selfcheck_msg2(struct selfcheck_probe *p)
{
    uint8_t payload[FRAME_MAX_HANDSHAKE];
    size_t plen;

    if (noise_hs_read_message(&p->hs, p->in + FRAME_HDR_LEN, SELFCHECK_MSG_LEN, payload,
                              sizeof(payload), &plen) != 0)
        selfcheck_finish(p, SELFCHECK_WRONG_KEY,
                         "message 2 did not decrypt: the far end does not hold this relay's key");
    else if (plen != 0)
        selfcheck_finish(p, SELFCHECK_WRONG_KEY, "message 2 carries a payload");
    else if (!p->claimed && p->sc->pool)
        /* Agents sent there meet another member, which REDIRECTs them back
         * here for the links this member homes. */
        selfcheck_finish(p, SELFCHECK_WRONG_KEY, "%s", selfcheck_other_member);
    else if (!p->claimed)
        selfcheck_finish(p, SELFCHECK_OK, "answered by another process with this relay's key");
    else
        selfcheck_finish(p, SELFCHECK_OK, "%s", "");
}

static void selfcheck_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct selfcheck_probe *p = h->data;

    (void)hint;
    buf->base = (char *)p->in + p->in_len;
    buf->len = sizeof(p->in) - p->in_len;
}

static void selfcheck_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct selfcheck_probe *p = s->data;
    size_t len;

    (void)buf;
    if (p->done || nread == 0)
        return;
    if (nread < 0) {
        selfcheck_fail_io(p, (int)nread);
        return;
    }
    p->in_len += (size_t)nread;
    if (p->in_len < FRAME_HDR_LEN)
        return;
    len = (size_t)p->in[0] << 8 | p->in[1];
    if (len != SELFCHECK_MSG_LEN)
        selfcheck_finish(p, SELFCHECK_WRONG_KEY, "answered with a %zu-byte frame, not message 2",
                         len);
    else if (p->in_len == sizeof(p->in))
        selfcheck_msg2(p);
}

static void selfcheck_written(uv_write_t *req, int status)
{
    struct selfcheck_probe *p = req->data;

    if (!p->done && status < 0)
        selfcheck_fail_io(p, status);
}

/* The control preamble with the relay's current key id and XK message 1 to
 * the relay's current key, from a throwaway static key (message 3, which
 * would carry it, is never sent). */
static int selfcheck_hello(struct selfcheck_probe *p)
{
    const struct relaykey_entry *k = &p->sc->key->current;
    struct frame_preamble pre = {.kind = FRAME_KIND_CONTROL, .key_id = k->id};
    uint8_t prologue[FRAME_CONTROL_PROLOGUE_LEN], spub[32], spriv[32];
    struct buf b;
    size_t mlen = 0;
    int rc;

    buf_init(&b, p->out, sizeof(p->out));
    if (frame_preamble_encode(&pre, &b) != 0)
        return -EINVAL;
    frame_control_prologue(p->out, prologue);
    crypto_box_keypair(spub, spriv);
    rc = noise_hs_init(&p->hs, NOISE_XK, true, prologue, sizeof(prologue), spriv, k->pub);
    sodium_memzero(spriv, sizeof(spriv));
    if (rc == 0)
        rc = noise_hs_write_message(&p->hs, NULL, 0, p->out + SELFCHECK_E_OFF, SELFCHECK_MSG_LEN,
                                    &mlen);
    if (rc != 0 || mlen != SELFCHECK_MSG_LEN)
        return -EINVAL;
    p->out[FRAME_PREAMBLE_LEN] = 0;
    p->out[FRAME_PREAMBLE_LEN + 1] = SELFCHECK_MSG_LEN;
    memcpy(p->e, p->out + SELFCHECK_E_OFF, sizeof(p->e));
    p->has_e = true;
    return 0;
}

static void selfcheck_connected(uv_connect_t *req, int status)
{
    struct selfcheck_probe *p = req->data;
    uv_buf_t b = uv_buf_init((char *)p->out, sizeof(p->out));
    int rc;

    if (p->done)
        return;
    if (status < 0) {
        selfcheck_fail_io(p, status);
        return;
    }
    p->stage = "waiting for message 2";
    if (selfcheck_hello(p) != 0) {
        selfcheck_finish(p, SELFCHECK_ERROR, "handshake message 1 not made");
        return;
    }
    p->wreq.data = p;
    rc = uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, selfcheck_written);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&p->tcp, selfcheck_alloc, selfcheck_read);
    if (rc != 0)
        selfcheck_fail_io(p, rc);
}

/* Connects p to sa. */
static void selfcheck_connect(struct selfcheck_probe *p, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(p->sc->loop, &p->tcp);

    p->stage = "connecting";
    if (rc == 0) {
        p->has_tcp = true;
        p->refs++;
        p->tcp.data = p;
        p->creq.data = p;
        rc = uv_tcp_connect(&p->creq, &p->tcp, sa, selfcheck_connected);
    }
    if (rc != 0)
        selfcheck_fail_io(p, rc);
}

static void selfcheck_next_lookup(struct selfcheck *sc);

static void selfcheck_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct selfcheck_probe *p = req->data;
    struct selfcheck *sc = p->sc;

    p->resolving = false;
    sc->lookups--;
    if (!p->done && status < 0)
        selfcheck_finish(p, SELFCHECK_ERROR, "name not resolved: %s", uv_strerror(status));
    else if (!p->done)
        selfcheck_connect(p, res->ai_addr);
    uv_freeaddrinfo(res);
    selfcheck_probe_unref(p); /* the lookup's reference */
    selfcheck_next_lookup(sc);
}

/* Names are looked up one at a time: a lookup blocks one of libuv's pool
 * threads, which the registry's work shares, for as long as the resolver
 * takes (with a dead DNS server its whole timeout, past the probe's). */
static void selfcheck_next_lookup(struct selfcheck *sc)
{
    struct addrinfo hints;
    char port[8];

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    for (struct selfcheck_probe *p = sc->probes, *next; p != NULL && sc->lookups == 0; p = next) {
        const struct addr_spec *a = &sc->addr[p->slot].addr;
        int rc;

        next = p->next;
        if (!p->wants_lookup)
            continue;
        p->wants_lookup = false;
        p->stage = "resolving";
        snprintf(port, sizeof(port), "%u", (unsigned)a->port);
        p->gai.data = p;
        rc = uv_getaddrinfo(sc->loop, &p->gai, selfcheck_resolved, a->host, port, &hints);
        if (rc != 0) {
            selfcheck_finish(p, SELFCHECK_ERROR, "name not resolved: %s", uv_strerror(rc));
            continue;
        }
        p->resolving = true;
        p->refs++;
        sc->lookups++;
    }
}

/* Starts one probe of sc->addr[slot]: an address literal is dialled at
 * once, a name after its lookup. */
static void selfcheck_probe_start(struct selfcheck *sc, size_t slot)
{
    const struct addr_spec *a = &sc->addr[slot].addr;
    struct selfcheck_probe *p = calloc(1, sizeof(*p));
    struct sockaddr_storage ss;
    int rc;

    if (p == NULL) {
        selfcheck_record(sc, slot, SELFCHECK_ERROR, "out of memory");
        return;
    }
    p->sc = sc;
    p->slot = slot;
    p->gen = sc->gen;
    p->stage = "waiting to resolve";
    uv_timer_init(sc->loop, &p->timer);
    p->timer.data = p;
    p->refs = 1;
    p->next = sc->probes;
    sc->probes = p;
    sc->in_flight++;
    uv_timer_start(&p->timer, selfcheck_on_deadline, sc->timeout_ms, 0);
    if (a->family_hint == AF_UNSPEC) {
        p->wants_lookup = true;
        selfcheck_next_lookup(sc);
        return;
    }
    rc = a->family_hint == AF_INET6 ? uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&ss)
                                    : uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&ss);
    if (rc != 0)
        selfcheck_finish(p, SELFCHECK_ERROR, "address %s: %s", a->host, uv_strerror(rc));
    else
        selfcheck_connect(p, (const struct sockaddr *)&ss);
}

static void selfcheck_round(struct selfcheck *sc)
{
    for (size_t i = 0; i < sc->n && sc->running; i++)
        selfcheck_probe_start(sc, i);
    selfcheck_schedule(sc);
}

static void selfcheck_on_timer(uv_timer_t *t)
{
    selfcheck_round(t->data);
}

void selfcheck_start(struct selfcheck *sc)
{
    if (sc->running)
        return;
    uv_timer_init(sc->loop, &sc->timer);
    sc->timer.data = sc;
    sc->running = true;
    if (sc->interval_ms != 0 && sc->n > 0)
        uv_timer_start(&sc->timer, selfcheck_on_timer, 0, 0);
}

void selfcheck_configure(struct selfcheck *sc, const struct relaycfg *cfg)
{
    bool changed = selfcheck_take_list(sc, cfg);
    bool retime = cfg->advertise_check_interval_ms != sc->interval_ms;
    bool was_off = sc->interval_ms == 0;

    sc->interval_ms = cfg->advertise_check_interval_ms;
    sc->timeout_ms = cfg->advertise_check_timeout_ms;
    sc->pool = cfg->pool.member_id[0] != '\0';
    if (changed)
        sc->gen++;
    selfcheck_note_usable(sc);
    if (!sc->running)
        return;
    if (sc->interval_ms == 0) {
        uv_timer_stop(&sc->timer);
    } else if (changed || was_off) {
        uv_timer_stop(&sc->timer);
        selfcheck_round(sc);
    } else if (retime && sc->in_flight == 0) {
        uv_timer_stop(&sc->timer);
        selfcheck_schedule(sc);
    }
}

void selfcheck_stop(struct selfcheck *sc)
{
    if (!sc->running)
        return;
    sc->running = false;
    uv_close((uv_handle_t *)&sc->timer, NULL);
    while (sc->probes != NULL)
        selfcheck_finish(sc->probes, SELFCHECK_NONE, "stopped");
}

void selfcheck_answered(struct selfcheck *sc, struct conn *c, const uint8_t e[32])
{
    if (sc == NULL)
        return;
    for (struct selfcheck_probe *p = sc->probes; p != NULL; p = p->next) {
        if (p->has_e && !p->claimed && sodium_memcmp(p->e, e, sizeof(p->e)) == 0) {
            p->claimed = true;
            sc->answered++;
            conn_close(c, CONN_END_FLUSH, "advertise self-check answered");
            return;
        }
    }
}

void selfcheck_failing(const struct selfcheck *sc, char *out, size_t cap)
{
    size_t off = 0;

    if (cap == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < sc->n; i++) {
        const struct selfcheck_addr *a = &sc->addr[i];
        const char *why = selfcheck_result_name(a->state);
        int n;

        if (a->state == SELFCHECK_NONE || a->state == SELFCHECK_OK)
            continue;
        if (a->state == SELFCHECK_WRONG_KEY && strcmp(a->detail, selfcheck_other_member) == 0)
            why = "other_member";
        n = snprintf(out + off, cap - off, "%s%s=%s", off ? " " : "", a->text, why);
        if (n < 0 || (size_t)n >= cap - off) { /* cut at the last whole entry */
            out[off] = '\0';
            return;
        }
        off += (size_t)n;
    }
}

/* Wall-clock milliseconds, or null for never. */
static json_t *selfcheck_time(uint64_t ms)
{
    return ms != 0 ? json_integer(lrjson_u64(ms)) : json_null();
}

json_t *selfcheck_json(const struct selfcheck *sc)
{
    json_t *addrs = json_array(), *checks = json_object(), *v;

    for (size_t i = 0; addrs != NULL && i < sc->n; i++) {
        const struct selfcheck_addr *a = &sc->addr[i];
        if (json_array_append_new(
                addrs, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "addr", a->text, "state",
                                 selfcheck_result_name(a->state), "detail", a->detail,
                                 "last_check_ms", selfcheck_time(a->last_check_ms), "last_ok_ms",
                                 selfcheck_time(a->last_ok_ms), "since_ms",
                                 selfcheck_time(a->since_ms))) != 0) {
            json_decref(addrs);
            addrs = NULL;
        }
    }
    for (int r = SELFCHECK_OK; checks != NULL && r < SELFCHECK_COUNT; r++)
        if (json_object_set_new(checks, selfcheck_result_name(r),
                                json_integer(lrjson_u64(sc->checks[r]))) != 0) {
            json_decref(checks);
            checks = NULL;
        }
    if (addrs == NULL || checks == NULL) {
        json_decref(addrs);
        json_decref(checks);
        return NULL;
    }
    v = json_pack("{s:I, s:I, s:b, s:I, s:o, s:o}", "interval_ms", (json_int_t)sc->interval_ms,
                  "timeout_ms", (json_int_t)sc->timeout_ms, "usable", selfcheck_usable(sc),
                  "answered", lrjson_u64(sc->answered), "checks", checks, "addresses", addrs);
    return v;
}
