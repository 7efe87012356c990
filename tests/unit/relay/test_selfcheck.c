/* SPDX-License-Identifier: MIT */
/* Unit tests for relay/selfcheck on a real libuv loop over loopback, against
 * small responders written here: one holding the relay's key answers message
 * 2 (ok); one with another key closes after message 1 (wrong_key, as another
 * relay does); one answers a message 2 that does not decrypt and one a frame
 * of another length (wrong_key); a port bound without listening (refused); a
 * listener that never accepts (timeout, not before advertise_check_timeout).
 * Also: the usable rule, a reload that keeps the results of kept addresses,
 * a stop with a probe in flight. Every case ends with uv_loop_close() == 0. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "frame.h"
#include "lrcheck.h"
#include "noise.h"
#include "selfcheck.h"

enum resp_mode { RESP_KEY, RESP_OTHER_KEY, RESP_GARBAGE, RESP_BIG_FRAME, RESP_SILENT, RESP_BOUND };

/* A responder: its listening (or only bound) handle and its connections. */
struct resp {
    uv_tcp_t srv;
    enum resp_mode mode;
    const uint8_t *priv; /* the static key it answers with */
    char addr[64];
};

struct resp_conn {
    uv_tcp_t tcp;
    struct resp *r;
    uint8_t in[FRAME_PREAMBLE_LEN + FRAME_HDR_LEN + 48];
    size_t len;
    uint8_t out[FRAME_HDR_LEN + 48];
    uv_write_t wr;
};

static void resp_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void resp_written(uv_write_t *w, int status)
{
    (void)status;
    uv_close((uv_handle_t *)w->handle, resp_conn_closed);
}

static void resp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct resp_conn *c = h->data;

    (void)hint;
    b->base = (char *)c->in + c->len;
    b->len = sizeof(c->in) - c->len;
}

/* Answers once the preamble and message 1 are in. */
static void resp_answer(struct resp_conn *c)
{
    uint8_t prologue[FRAME_CONTROL_PROLOGUE_LEN], payload[64];
    struct noise_hs hs;
    size_t plen, olen = 48;
    uv_buf_t b = uv_buf_init((char *)c->out, sizeof(c->out));

    uv_read_stop((uv_stream_t *)&c->tcp);
    memset(c->out, 0, sizeof(c->out));
    c->out[1] = 48;
    if (c->r->mode == RESP_BIG_FRAME) {
        c->out[1] = 100;
    } else if (c->r->mode != RESP_GARBAGE) {
        frame_control_prologue(c->in, prologue);
        ck_assert_int_eq(
            noise_hs_init(&hs, NOISE_XK, false, prologue, sizeof(prologue), c->r->priv, NULL), 0);
        if (noise_hs_read_message(&hs, c->in + FRAME_PREAMBLE_LEN + FRAME_HDR_LEN, 48, payload,
                                  sizeof(payload), &plen) != 0) {
            noise_hs_wipe(&hs); /* another relay: a silent close (§8) */
            uv_close((uv_handle_t *)&c->tcp, resp_conn_closed);
            return;
        }
        ck_assert_int_eq(noise_hs_write_message(&hs, NULL, 0, c->out + FRAME_HDR_LEN, 48, &olen),
                         0);
        noise_hs_wipe(&hs);
    }
    c->wr.data = c;
    ck_assert_int_eq(uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, resp_written), 0);
}

static void resp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct resp_conn *c = s->data;

    (void)b;
    if (n < 0) {
        uv_close((uv_handle_t *)s, resp_conn_closed);
        return;
    }
    c->len += (size_t)n;
    if (c->len == sizeof(c->in))
        resp_answer(c);
}

static void resp_accept(uv_stream_t *srv, int status)
{
    struct resp *r = srv->data;
    struct resp_conn *c;

    ck_assert_int_eq(status, 0);
    if (r->mode == RESP_SILENT)
        return; /* never accepted: the kernel's backlog holds it */
    c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->r = r;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    ck_assert_int_eq(uv_accept(srv, (uv_stream_t *)&c->tcp), 0);
    uv_read_start((uv_stream_t *)&c->tcp, resp_alloc, resp_read);
}

static void resp_start(uv_loop_t *loop, struct resp *r, enum resp_mode mode, const uint8_t *priv)
{
    struct sockaddr_in sa;
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    r->mode = mode;
    r->priv = priv;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, &r->srv);
    r->srv.data = r;
    ck_assert_int_eq(uv_tcp_bind(&r->srv, (const struct sockaddr *)&sa, 0), 0);
    if (mode != RESP_BOUND)
        ck_assert_int_eq(uv_listen((uv_stream_t *)&r->srv, 16, resp_accept), 0);
    uv_tcp_getsockname(&r->srv, (struct sockaddr *)&ss, &len);
    snprintf(r->addr, sizeof(r->addr), "127.0.0.1:%u",
             (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
}

static struct relaykey key, other;

static void keys(void)
{
    memset(&key, 0, sizeof(key));
    memset(&other, 0, sizeof(other));
    key.current.id = other.current.id = 1;
    crypto_box_keypair(key.current.pub, key.current.priv);
    crypto_box_keypair(other.current.pub, other.current.priv);
}

static void config(struct relaycfg *cfg, const struct resp *r, size_t n, uint32_t timeout_ms)
{
    relaycfg_defaults(cfg);
    cfg->advertise_check_interval_ms = 3600 * 1000; /* one round per test */
    cfg->advertise_check_timeout_ms = timeout_ms;
    cfg->n_advertise = n;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(addr_parse(r[i].addr, 0, &cfg->advertise[i]), 0);
}

static bool all_checked(const struct selfcheck *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        if (sc->addr[i].state == SELFCHECK_NONE)
            return false;
    return true;
}

/* Runs the loop until every address has a result (the round's timer is
 * then armed for an hour, so the loop never runs dry meanwhile). */
static void run_round(uv_loop_t *loop, const struct selfcheck *sc)
{
    while (!all_checked(sc))
        ck_assert_int_ne(uv_run(loop, UV_RUN_ONCE), 0);
}

static void finish(uv_loop_t *loop, struct selfcheck *sc, struct resp *r, size_t n)
{
    selfcheck_stop(sc);
    for (size_t i = 0; i < n; i++)
        uv_close((uv_handle_t *)&r[i].srv, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(loop), 0);
}

START_TEST(test_results)
{
    static const enum resp_mode modes[] = {RESP_KEY,       RESP_OTHER_KEY, RESP_GARBAGE,
                                           RESP_BIG_FRAME, RESP_BOUND,     RESP_SILENT};
    static const enum selfcheck_result want[] = {SELFCHECK_OK,        SELFCHECK_WRONG_KEY,
                                                 SELFCHECK_WRONG_KEY, SELFCHECK_WRONG_KEY,
                                                 SELFCHECK_REFUSED,   SELFCHECK_TIMEOUT};
    enum { N = sizeof(modes) / sizeof(modes[0]) };
    struct resp r[N];
    struct relaycfg cfg;
    struct selfcheck sc;
    uv_loop_t loop;
    uint64_t t0;

    keys();
    uv_loop_init(&loop);
    for (size_t i = 0; i < N; i++)
        resp_start(&loop, &r[i], modes[i],
                   modes[i] == RESP_OTHER_KEY ? other.current.priv : key.current.priv);
    config(&cfg, r, N, 300);
    selfcheck_init(&sc, &loop, &key, &cfg);
    ck_assert(selfcheck_usable(&sc)); /* nothing finished yet */
    t0 = uv_now(&loop);
    selfcheck_start(&sc);
    run_round(&loop, &sc);
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(sc.addr[i].state == want[i], "%s: %s (%s)", sc.addr[i].text,
                      selfcheck_result_name(sc.addr[i].state), sc.addr[i].detail);
        ck_assert_uint_ne(sc.addr[i].last_check_ms, 0);
        ck_assert_uint_eq(sc.addr[i].last_ok_ms != 0, want[i] == SELFCHECK_OK);
    }
    ck_assert_str_eq(sc.addr[0].detail, "answered by another process with this relay's key");
    ck_assert_str_eq(sc.addr[1].detail,
                     "closed before message 2: another relay or service answered");
    ck_assert_str_eq(sc.addr[2].detail,
                     "message 2 did not decrypt: the far end does not hold this relay's key");
    ck_assert_str_eq(sc.addr[3].detail, "answered with a 100-byte frame, not message 2");
    ck_assert_str_eq(sc.addr[4].detail, "connection refused");
    ck_assert_str_eq(sc.addr[5].detail, "no answer within 300 ms, waiting for message 2");
    /* The timeout cannot come before advertise_check_timeout. */
    ck_assert_uint_ge(uv_now(&loop) - t0, 300);
    ck_assert_uint_eq(sc.checks[SELFCHECK_OK], 1);
    ck_assert_uint_eq(sc.checks[SELFCHECK_WRONG_KEY], 3);
    ck_assert_uint_eq(sc.checks[SELFCHECK_REFUSED], 1);
    ck_assert_uint_eq(sc.checks[SELFCHECK_TIMEOUT], 1);
    ck_assert_uint_eq(sc.in_flight, 0);
    ck_assert(selfcheck_usable(&sc));
    /* The pool row's list (D34): the failing addresses, in order. */
    char failing[SELFCHECK_FAILING_SIZE], want_failing[SELFCHECK_FAILING_SIZE];
    selfcheck_failing(&sc, failing, sizeof(failing));
    snprintf(want_failing, sizeof(want_failing),
             "%s=wrong_key %s=wrong_key %s=wrong_key %s=refused %s=timeout", sc.addr[1].text,
             sc.addr[2].text, sc.addr[3].text, sc.addr[4].text, sc.addr[5].text);
    ck_assert_str_eq(failing, want_failing);
    json_t *j = selfcheck_json(&sc);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_array_size(json_object_get(j, "addresses")), N);
    ck_assert(json_is_true(json_object_get(j, "usable")));
    json_decref(j);
    finish(&loop, &sc, r, N);
}
END_TEST

/* A pool member (D44): every member holds the relay key, so an address
 * answered with this key by a process other than this relay (another
 * member) is wrong_key, and a member with no other address is not usable.
 * Outside a pool the same answer is ok (a takeover's predecessor, D35). */
START_TEST(test_pool_other_member)
{
    struct resp r[1];
    struct relaycfg cfg;
    struct selfcheck sc;
    uv_loop_t loop;

    keys();
    uv_loop_init(&loop);
    resp_start(&loop, &r[0], RESP_KEY, key.current.priv); /* holds the key, claims nothing */
    config(&cfg, r, 1, 5000);
    snprintf(cfg.pool.member_id, sizeof(cfg.pool.member_id), "%s", "m1");
    selfcheck_init(&sc, &loop, &key, &cfg);
    selfcheck_start(&sc);
    run_round(&loop, &sc);
    ck_assert_msg(sc.addr[0].state == SELFCHECK_WRONG_KEY, "%s (%s)",
                  selfcheck_result_name(sc.addr[0].state), sc.addr[0].detail);
    ck_assert_str_eq(sc.addr[0].detail,
                     "answered by another process with this relay's key: in a pool, another "
                     "member");
    ck_assert_uint_eq(sc.addr[0].last_ok_ms, 0);
    ck_assert(!selfcheck_usable(&sc));
    char failing[SELFCHECK_FAILING_SIZE], want_failing[SELFCHECK_FAILING_SIZE];
    selfcheck_failing(&sc, failing, sizeof(failing));
    snprintf(want_failing, sizeof(want_failing), "%s=other_member", sc.addr[0].text);
    ck_assert_str_eq(failing, want_failing);
    finish(&loop, &sc, r, 1);
}
END_TEST

/* Usable while an address passed or has no result yet; not once every
 * address failed; always with checks off or nothing advertised. */
START_TEST(test_usable)
{
    struct selfcheck sc;

    memset(&sc, 0, sizeof(sc));
    sc.interval_ms = 1000;
    ck_assert(selfcheck_usable(&sc)); /* nothing advertised */
    sc.n = 2;
    sc.addr[0].state = SELFCHECK_REFUSED;
    sc.addr[1].state = SELFCHECK_NONE;
    ck_assert(selfcheck_usable(&sc));
    sc.addr[1].state = SELFCHECK_TIMEOUT;
    ck_assert(!selfcheck_usable(&sc));
    sc.addr[1].state = SELFCHECK_WRONG_KEY;
    ck_assert(!selfcheck_usable(&sc));
    sc.addr[0].state = SELFCHECK_ERROR;
    ck_assert(!selfcheck_usable(&sc));
    sc.addr[1].state = SELFCHECK_OK;
    ck_assert(selfcheck_usable(&sc));
    sc.addr[1].state = SELFCHECK_REFUSED;
    sc.interval_ms = 0; /* checks off */
    ck_assert(selfcheck_usable(&sc));
    ck_assert_str_eq(selfcheck_result_name(SELFCHECK_WRONG_KEY), "wrong_key");
    ck_assert_str_eq(selfcheck_result_name(SELFCHECK_COUNT), "unknown");
}
END_TEST

/* The failing list: none and ok left out, every other result named; the
 * most there can be (16 addresses of the longest text, each answered by
 * another member) fits SELFCHECK_FAILING_SIZE; a smaller buffer keeps the
 * entries that fit whole. */
START_TEST(test_failing)
{
    static struct selfcheck sc;
    static const enum selfcheck_result states[] = {SELFCHECK_NONE,    SELFCHECK_OK,
                                                   SELFCHECK_REFUSED, SELFCHECK_TIMEOUT,
                                                   SELFCHECK_ERROR,   SELFCHECK_WRONG_KEY};
    char out[SELFCHECK_FAILING_SIZE];
    size_t one;

    memset(&sc, 0, sizeof(sc));
    sc.interval_ms = 1000;
    selfcheck_failing(&sc, out, sizeof(out));
    ck_assert_str_eq(out, ""); /* nothing advertised */
    sc.n = 6;
    for (size_t i = 0; i < sc.n; i++) {
        snprintf(sc.addr[i].text, sizeof(sc.addr[i].text), "10.0.0.%zu:7700", i);
        sc.addr[i].state = states[i];
    }
    selfcheck_failing(&sc, out, sizeof(out));
    ck_assert_str_eq(out, "10.0.0.2:7700=refused 10.0.0.3:7700=timeout 10.0.0.4:7700=error "
                          "10.0.0.5:7700=wrong_key");
    one = strlen("10.0.0.2:7700=refused");
    selfcheck_failing(&sc, out, one + 1); /* the first entry exactly */
    ck_assert_str_eq(out, "10.0.0.2:7700=refused");
    selfcheck_failing(&sc, out, one); /* one byte short of it */
    ck_assert_str_eq(out, "");
    sc.n = RELAYCFG_MAX_ADDRS;
    for (size_t i = 0; i < sc.n; i++) {
        memset(sc.addr[i].text, 'a', sizeof(sc.addr[i].text) - 1);
        sc.addr[i].text[sizeof(sc.addr[i].text) - 1] = '\0';
        sc.addr[i].text[0] = (char)('a' + i);
        sc.addr[i].state = SELFCHECK_WRONG_KEY;
        snprintf(sc.addr[i].detail, sizeof(sc.addr[i].detail), "%s",
                 "answered by another process with this relay's key: in a pool, another "
                 "member");
    }
    selfcheck_failing(&sc, out, sizeof(out));
    ck_assert_uint_eq(strlen(out),
                      RELAYCFG_MAX_ADDRS * (ADDR_TEXT_SIZE - 1 + 13) + (RELAYCFG_MAX_ADDRS - 1));
    ck_assert_uint_lt(strlen(out), sizeof(out));
    ck_assert_str_eq(out + strlen(out) - strlen("a=other_member"), "a=other_member");
}
END_TEST

/* A reload keeps a kept address's result, starts a round for the new list
 * at once, and a new address has no result until its check ends. */
START_TEST(test_reload)
{
    struct resp r[2];
    struct relaycfg cfg;
    struct selfcheck sc;
    uv_loop_t loop;
    uint64_t checked;

    keys();
    uv_loop_init(&loop);
    resp_start(&loop, &r[0], RESP_BOUND, NULL);
    resp_start(&loop, &r[1], RESP_KEY, key.current.priv);
    config(&cfg, r, 1, 5000);
    selfcheck_init(&sc, &loop, &key, &cfg);
    selfcheck_start(&sc);
    run_round(&loop, &sc);
    ck_assert_int_eq(sc.addr[0].state, SELFCHECK_REFUSED);
    ck_assert(!selfcheck_usable(&sc));
    checked = sc.addr[0].last_check_ms;
    /* r[1] first, r[0] after it: kept by address, not by position. */
    cfg.n_advertise = 2;
    ck_assert_int_eq(addr_parse(r[1].addr, 0, &cfg.advertise[0]), 0);
    ck_assert_int_eq(addr_parse(r[0].addr, 0, &cfg.advertise[1]), 0);
    selfcheck_configure(&sc, &cfg);
    ck_assert_uint_eq(sc.n, 2);
    ck_assert_int_eq(sc.addr[0].state, SELFCHECK_NONE);
    ck_assert_int_eq(sc.addr[1].state, SELFCHECK_REFUSED);
    ck_assert_uint_eq(sc.addr[1].last_check_ms, checked);
    ck_assert(selfcheck_usable(&sc)); /* the new address has no result yet */
    ck_assert_uint_eq(sc.in_flight, 2);
    run_round(&loop, &sc);
    ck_assert_int_eq(sc.addr[0].state, SELFCHECK_OK);
    ck_assert(selfcheck_usable(&sc));
    finish(&loop, &sc, r, 2);
}
END_TEST

/* Names are looked up (one at a time) and then dialled: two names for
 * ports bound without listening are both refused, whichever address
 * localhost gives first (nothing listens on either loopback there). */
START_TEST(test_names)
{
    struct resp r[2];
    struct relaycfg cfg;
    struct selfcheck sc;
    uv_loop_t loop;
    char name[64];

    keys();
    uv_loop_init(&loop);
    resp_start(&loop, &r[0], RESP_BOUND, NULL);
    resp_start(&loop, &r[1], RESP_BOUND, NULL);
    config(&cfg, r, 2, 5000);
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "localhost:%u", (unsigned)cfg.advertise[i].port);
        ck_assert_int_eq(addr_parse(name, 0, &cfg.advertise[i]), 0);
    }
    selfcheck_init(&sc, &loop, &key, &cfg);
    selfcheck_start(&sc);
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_uint_le(sc.lookups, 1);
    run_round(&loop, &sc);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(sc.addr[i].state == SELFCHECK_REFUSED, "%s: %s", sc.addr[i].text,
                      sc.addr[i].detail);
    ck_assert_uint_eq(sc.lookups, 0);
    finish(&loop, &sc, r, 2);
}
END_TEST

/* Stopping with a probe in flight drops its result and leaves no handle. */
START_TEST(test_stop_in_flight)
{
    struct resp r[1];
    struct relaycfg cfg;
    struct selfcheck sc;
    uv_loop_t loop;

    keys();
    uv_loop_init(&loop);
    resp_start(&loop, &r[0], RESP_SILENT, NULL);
    config(&cfg, r, 1, 60000);
    selfcheck_init(&sc, &loop, &key, &cfg);
    selfcheck_start(&sc);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_uint_eq(sc.in_flight, 1);
    selfcheck_stop(&sc);
    selfcheck_stop(&sc); /* idempotent */
    ck_assert_uint_eq(sc.in_flight, 0);
    ck_assert_int_eq(sc.addr[0].state, SELFCHECK_NONE);
    finish(&loop, &sc, r, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("selfcheck");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_results);
    tcase_add_test(tc, test_pool_other_member);
    tcase_add_test(tc, test_usable);
    tcase_add_test(tc, test_failing);
    tcase_add_test(tc, test_reload);
    tcase_add_test(tc, test_stop_in_flight);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(suite());
}
