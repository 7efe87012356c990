/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/msg.c against docs/protocol.md §1 and §5: a
 * hand-written encoding of every message type, round trips, every boundary
 * length, and every out-of-range value, in both directions.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "msg.h"
#include "lrcheck.h"

#define S(lit) ((struct msg_str){(const uint8_t *)(lit), sizeof(lit) - 1})

static const uint8_t ticket[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};

#define TICKET_HEX                                                                                 \
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"                             \
    "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff"

#define RESUME_ID_HEX                                                                              \
    "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff"                             \
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"

struct sample {
    struct msg m;
    const char *enc; /* the expected encoding, written by hand from §5 */
    size_t enc_len;
};

#define ENC(lit) lit, sizeof(lit) - 1
/* 31 and 32 zero bytes, for key fields. */
#define Z31                                                                                        \
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" \
    "\x00\x00\x00\x00\x00\x00\x00\x00"
#define Z32 "\x00" Z31

/* One or more valid messages of every type, with their encodings. Built in a
 * function because the strings are pointers. First half: WELCOME to OPEN_FAIL. */
static size_t samples_a(struct sample *out)
{
    size_t n = 0;
    struct msg m;

    memset(&m, 0, sizeof(m));
    m.type = MSG_WELCOME;
    m.u.welcome = (struct msg_welcome){25, 90, true, 256, S("linkrelay 0.1.0")};
    out[n++] = (struct sample){m, ENC("\x01\x00\x19\x00\x5a\x01\x01\x00\x0f"
                                      "linkrelay 0.1.0")};
    m.u.welcome = (struct msg_welcome){1, 65535, false, 0, {NULL, 0}};
    out[n++] = (struct sample){m, ENC("\x01\x00\x01\xff\xff\x00\x00\x00\x00")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_PEER;
    m.u.peer_online = true;
    out[n++] = (struct sample){m, ENC("\x02\x01")};
    m.u.peer_online = false;
    out[n++] = (struct sample){m, ENC("\x02\x00")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_STREAM;
    m.u.stream =
        (struct msg_stream){0x01020304, 0x1122334455667788ull, MSG_ROLE_INITIATOR, 10000, {0}, {0}};
    memcpy(m.u.stream.ticket, ticket, 32);
    out[n++] = (struct sample){m, ENC("\x03\x01\x02\x03\x04\x11\x22\x33\x44\x55\x66\x77\x88"
                                      "\x00\x00\x00\x27\x10" TICKET_HEX)};
    m.u.stream.req_id = 0;
    m.u.stream.role = MSG_ROLE_RESPONDER;
    m.u.stream.stream_id = 1;
    m.u.stream.expires_ms = 0xffffffffu;
    out[n++] = (struct sample){m, ENC("\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
                                      "\x01\xff\xff\xff\xff" TICKET_HEX)};

    /* RESUMED: STREAM ‖ resume_id (§5, §7.3). */
    memset(&m, 0, sizeof(m));
    m.type = MSG_RESUMED;
    m.u.stream = (struct msg_stream){9, 2, MSG_ROLE_INITIATOR, 10000, {0}, {0}};
    memcpy(m.u.stream.ticket, ticket, 32);
    memcpy(m.u.stream.resume_id, ticket + 16, 16);
    memcpy(m.u.stream.resume_id + 16, ticket, 16);
    out[n++] = (struct sample){m, ENC("\x0d\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00\x02"
                                      "\x00\x00\x00\x27\x10" TICKET_HEX RESUME_ID_HEX)};
    m.u.stream.req_id = 0;
    m.u.stream.role = MSG_ROLE_RESPONDER;
    out[n++] = (struct sample){m, ENC("\x0d\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
                                      "\x01\x00\x00\x27\x10" TICKET_HEX RESUME_ID_HEX)};

    memset(&m, 0, sizeof(m));
    m.type = MSG_RESUME;
    m.u.resume.req_id = 0x01020304;
    memcpy(m.u.resume.resume_id, ticket + 16, 16);
    memcpy(m.u.resume.resume_id + 16, ticket, 16);
    out[n++] = (struct sample){m, ENC("\x0c\x01\x02\x03\x04" RESUME_ID_HEX)};

    memset(&m, 0, sizeof(m));
    m.type = MSG_LEG_LOST;
    m.u.leg_lost.stream_id = 0x0102030405060708ull;
    memcpy(m.u.leg_lost.ticket, ticket, 32);
    out[n++] = (struct sample){m, ENC("\x0e\x01\x02\x03\x04\x05\x06\x07\x08" TICKET_HEX)};

    memset(&m, 0, sizeof(m));
    m.type = MSG_STREAM_ACK;
    m.u.stream_ack.stream_id = 0x0102030405060708ull;
    m.u.stream_ack.offset = 0x1122334455667788ull;
    memcpy(m.u.stream_ack.mac, ticket, MSG_ACK_MAC_LEN);
    out[n++] =
        (struct sample){m, ENC("\x0f\x01\x02\x03\x04\x05\x06\x07\x08"
                               "\x11\x22\x33\x44\x55\x66\x77\x88"
                               "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_RESUMABLE;
    out[n++] = (struct sample){m, ENC("\x0b")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_OPEN_FAIL;
    m.u.open_fail = (struct msg_open_fail){7, MSG_OPEN_FAIL_PEER_OFFLINE};
    out[n++] = (struct sample){m, ENC("\x04\x00\x00\x00\x07\x01")};
    m.u.open_fail = (struct msg_open_fail){0, MSG_OPEN_FAIL_RATE_LIMITED};
    out[n++] = (struct sample){m, ENC("\x04\x00\x00\x00\x00\x05")};
    m.u.open_fail = (struct msg_open_fail){9, MSG_OPEN_FAIL_QUOTA_EXCEEDED};
    out[n++] = (struct sample){m, ENC("\x04\x00\x00\x00\x09\x06")};

    return n;
}

/* The second half of the samples: CLOSE to OPEN. */
static size_t samples_b(struct sample *out)
{
    size_t n = 0;
    struct msg m;

    memset(&m, 0, sizeof(m));
    m.type = MSG_CLOSE;
    m.u.close = (struct msg_close){MSG_CLOSE_REVOKED, S("bye")};
    out[n++] = (struct sample){m, ENC("\x05\x01\x03"
                                      "bye")};
    m.u.close = (struct msg_close){MSG_CLOSE_LIMIT, {NULL, 0}};
    out[n++] = (struct sample){m, ENC("\x05\x07\x00")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_ADDRS;
    m.u.addrs.n = 0;
    out[n++] = (struct sample){m, ENC("\x06\x00")};
    m.u.addrs.n = 2;
    m.u.addrs.addr[0] = S("198.18.0.1:7000");
    m.u.addrs.addr[1] = S("[2001:db8::1]:443");
    out[n++] = (struct sample){m, ENC("\x06\x02\x0f"
                                      "198.18.0.1:7000"
                                      "\x11"
                                      "[2001:db8::1]:443")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_REDIRECT;
    m.u.redirect.reason = MSG_REDIRECT_HOME;
    m.u.redirect.n = 2;
    m.u.redirect.addr[0] = S("r2:7000");
    m.u.redirect.addr[1] = S("198.18.0.2:7700");
    out[n++] = (struct sample){m, ENC("\x07\x01\x02\x07"
                                      "r2:7000"
                                      "\x0f"
                                      "198.18.0.2:7700")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_GOING_AWAY;
    m.u.going_away = (struct msg_going_away){30, S("restart")};
    out[n++] = (struct sample){m, ENC("\x08\x00\x1e\x07"
                                      "restart")};

    /* The X25519 base point (u = 9): a valid public key. */
    memset(&m, 0, sizeof(m));
    m.type = MSG_PEER_KEY;
    m.u.peer_key.key[0] = 9;
    out[n++] = (struct sample){m, ENC("\x09\x09" Z31 Z32 Z32)};

    /* Endorsed by u = 10 (a valid key too); the mac is any 32 bytes. */
    memset(&m, 0, sizeof(m));
    m.type = MSG_PEER_KEY;
    m.u.peer_key.key[0] = 9;
    m.u.peer_key.by[0] = 10;
    m.u.peer_key.mac[0] = 0xab;
    out[n++] = (struct sample){m, ENC("\x09\x09" Z31 "\x0a" Z31 "\xab" Z31)};

    /* KEY_ENDORSE: old key (by) first, then the new key, then the mac. */
    memset(&m, 0, sizeof(m));
    m.type = MSG_KEY_ENDORSE;
    m.u.peer_key.key[0] = 9;
    m.u.peer_key.by[0] = 10;
    m.u.peer_key.mac[31] = 0xcd;
    out[n++] = (struct sample){m, ENC("\x21\x0a" Z31 "\x09" Z31 Z31 "\xcd")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_RELAY_KEY;
    m.u.relay_key.key_id = 2;
    m.u.relay_key.key[0] = 9;
    out[n++] = (struct sample){m, ENC("\x0a\x02\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                                      "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                                      "\x00\x00\x00\x00\x00\x00\x00")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_PING;
    m.u.nonce = 0x0102030405060708ull;
    out[n++] = (struct sample){m, ENC("\x10\x01\x02\x03\x04\x05\x06\x07\x08")};
    m.type = MSG_PONG;
    m.u.nonce = 0;
    out[n++] = (struct sample){m, ENC("\x11\x00\x00\x00\x00\x00\x00\x00\x00")};

    memset(&m, 0, sizeof(m));
    m.type = MSG_OPEN;
    m.u.req_id = 0xffffffffu;
    out[n++] = (struct sample){m, ENC("\x20\xff\xff\xff\xff")};
    return n;
}

#define MAX_SAMPLES 32

static size_t samples(struct sample *out)
{
    size_t n = samples_a(out);

    return n + samples_b(out + n);
}

static void assert_str_eq(const struct msg_str *a, const struct msg_str *b)
{
    ck_assert_uint_eq(a->len, b->len);
    if (a->len > 0)
        ck_assert_mem_eq(a->p, b->p, a->len);
}

static void assert_msg_eq(const struct msg *a, const struct msg *b)
{
    ck_assert_int_eq(a->type, b->type);
    switch (a->type) {
    case MSG_WELCOME:
        ck_assert_uint_eq(a->u.welcome.keepalive_s, b->u.welcome.keepalive_s);
        ck_assert_uint_eq(a->u.welcome.dead_after_s, b->u.welcome.dead_after_s);
        ck_assert_int_eq(a->u.welcome.peer_online, b->u.welcome.peer_online);
        ck_assert_uint_eq(a->u.welcome.max_streams, b->u.welcome.max_streams);
        assert_str_eq(&a->u.welcome.relay_version, &b->u.welcome.relay_version);
        break;
    case MSG_PEER:
        ck_assert_int_eq(a->u.peer_online, b->u.peer_online);
        break;
    case MSG_STREAM:
    case MSG_RESUMED:
        ck_assert_uint_eq(a->u.stream.req_id, b->u.stream.req_id);
        ck_assert_uint_eq(a->u.stream.stream_id, b->u.stream.stream_id);
        ck_assert_int_eq(a->u.stream.role, b->u.stream.role);
        ck_assert_uint_eq(a->u.stream.expires_ms, b->u.stream.expires_ms);
        ck_assert_mem_eq(a->u.stream.ticket, b->u.stream.ticket, 32);
        if (a->type == MSG_RESUMED)
            ck_assert_mem_eq(a->u.stream.resume_id, b->u.stream.resume_id, 32);
        break;
    case MSG_RESUME:
        ck_assert_uint_eq(a->u.resume.req_id, b->u.resume.req_id);
        ck_assert_mem_eq(a->u.resume.resume_id, b->u.resume.resume_id, 32);
        break;
    case MSG_LEG_LOST:
        ck_assert_uint_eq(a->u.leg_lost.stream_id, b->u.leg_lost.stream_id);
        ck_assert_mem_eq(a->u.leg_lost.ticket, b->u.leg_lost.ticket, 32);
        break;
    case MSG_STREAM_ACK:
        ck_assert_uint_eq(a->u.stream_ack.stream_id, b->u.stream_ack.stream_id);
        ck_assert_uint_eq(a->u.stream_ack.offset, b->u.stream_ack.offset);
        ck_assert_mem_eq(a->u.stream_ack.mac, b->u.stream_ack.mac, MSG_ACK_MAC_LEN);
        break;
    case MSG_RESUMABLE:
        break;
    case MSG_OPEN_FAIL:
        ck_assert_uint_eq(a->u.open_fail.req_id, b->u.open_fail.req_id);
        ck_assert_int_eq(a->u.open_fail.reason, b->u.open_fail.reason);
        break;
    case MSG_CLOSE:
        ck_assert_int_eq(a->u.close.reason, b->u.close.reason);
        assert_str_eq(&a->u.close.text, &b->u.close.text);
        break;
    case MSG_ADDRS:
        ck_assert_uint_eq(a->u.addrs.n, b->u.addrs.n);
        for (size_t i = 0; i < a->u.addrs.n; i++)
            assert_str_eq(&a->u.addrs.addr[i], &b->u.addrs.addr[i]);
        break;
    case MSG_REDIRECT:
        ck_assert_int_eq(a->u.redirect.reason, b->u.redirect.reason);
        ck_assert_uint_eq(a->u.redirect.n, b->u.redirect.n);
        for (size_t i = 0; i < a->u.redirect.n; i++)
            assert_str_eq(&a->u.redirect.addr[i], &b->u.redirect.addr[i]);
        break;
    case MSG_GOING_AWAY:
        ck_assert_uint_eq(a->u.going_away.seconds, b->u.going_away.seconds);
        assert_str_eq(&a->u.going_away.text, &b->u.going_away.text);
        break;
    case MSG_PING:
    case MSG_PONG:
        ck_assert_uint_eq(a->u.nonce, b->u.nonce);
        break;
    case MSG_OPEN:
        ck_assert_uint_eq(a->u.req_id, b->u.req_id);
        break;
    case MSG_PEER_KEY:
    case MSG_KEY_ENDORSE:
        ck_assert_mem_eq(a->u.peer_key.key, b->u.peer_key.key, MSG_KEY_LEN);
        ck_assert_mem_eq(a->u.peer_key.by, b->u.peer_key.by, MSG_KEY_LEN);
        ck_assert_mem_eq(a->u.peer_key.mac, b->u.peer_key.mac, MSG_MAC_LEN);
        break;
    case MSG_RELAY_KEY:
        ck_assert_uint_eq(a->u.relay_key.key_id, b->u.relay_key.key_id);
        ck_assert_mem_eq(a->u.relay_key.key, b->u.relay_key.key, MSG_KEY_LEN);
        break;
    }
}

START_TEST(test_every_type_has_a_sample)
{
    static const int types[] = {MSG_WELCOME,   MSG_PEER,        MSG_STREAM,    MSG_OPEN_FAIL,
                                MSG_CLOSE,     MSG_ADDRS,       MSG_REDIRECT,  MSG_GOING_AWAY,
                                MSG_PING,      MSG_PONG,        MSG_OPEN,      MSG_PEER_KEY,
                                MSG_RELAY_KEY, MSG_KEY_ENDORSE, MSG_RESUMABLE, MSG_RESUME,
                                MSG_RESUMED,   MSG_LEG_LOST,    MSG_STREAM_ACK};
    struct sample s[MAX_SAMPLES];
    size_t n = samples(s);

    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || (int)s[i].m.type == types[t];
        ck_assert_msg(found, "no sample for type 0x%02x", types[t]);
    }
}
END_TEST

START_TEST(test_encode_matches_spec)
{
    struct sample s[MAX_SAMPLES];
    size_t n = samples(s);
    uint8_t out[MSG_MAX_LEN];
    size_t len;

    for (size_t i = 0; i < n; i++) {
        len = 0;
        ck_assert_int_eq(msg_encode(&s[i].m, out, sizeof(out), &len), 0);
        ck_assert_uint_eq(len, s[i].enc_len);
        ck_assert_mem_eq(out, s[i].enc, len);
        /* Exactly enough room works; one byte less fails and sets nothing. */
        ck_assert_int_eq(msg_encode(&s[i].m, out, s[i].enc_len, &len), 0);
        len = 12345;
        ck_assert_int_eq(msg_encode(&s[i].m, out, s[i].enc_len - 1, &len), MSG_E_NOSPC);
        ck_assert_uint_eq(len, 12345);
    }
}
END_TEST

START_TEST(test_decode_matches_spec)
{
    struct sample s[MAX_SAMPLES];
    size_t n = samples(s);
    struct msg m;

    for (size_t i = 0; i < n; i++) {
        memset(&m, 0xcc, sizeof(m));
        ck_assert_int_eq(msg_decode((const uint8_t *)s[i].enc, s[i].enc_len, &m), 0);
        assert_msg_eq(&m, &s[i].m);
        /* Strings point into the input. */
        if (m.type == MSG_CLOSE && m.u.close.text.len > 0)
            ck_assert_ptr_eq(m.u.close.text.p, (const uint8_t *)s[i].enc + 3);
    }
}
END_TEST

/* Every strict prefix of every valid encoding is truncated; one byte more is
 * trailing garbage, whatever its value. *out is never written on failure. */
START_TEST(test_decode_boundaries)
{
    struct sample s[MAX_SAMPLES];
    size_t n = samples(s);
    uint8_t in[MSG_MAX_LEN];
    struct msg m, untouched;

    memset(&untouched, 0xcc, sizeof(untouched));
    for (size_t i = 0; i < n; i++) {
        memcpy(in, s[i].enc, s[i].enc_len);
        for (size_t len = 0; len < s[i].enc_len; len++) {
            m = untouched;
            ck_assert_msg(msg_decode(in, len, &m) == MSG_E_SHORT, "sample %zu prefix %zu", i, len);
            ck_assert_mem_eq(&m, &untouched, sizeof(m));
        }
        for (int extra = 0; extra < 256; extra += 51) {
            in[s[i].enc_len] = (uint8_t)extra;
            m = untouched;
            ck_assert_int_eq(msg_decode(in, s[i].enc_len + 1, &m), MSG_E_TRAILING);
            ck_assert_mem_eq(&m, &untouched, sizeof(m));
        }
    }
    ck_assert_int_eq(msg_decode(NULL, 0, &m), MSG_E_SHORT);
}
END_TEST

START_TEST(test_unknown_types)
{
    uint8_t in[16] = {0};
    struct msg m;

    for (int t = 0; t < 256; t++) {
        in[0] = (uint8_t)t;
        if (strcmp(msg_type_name(t), "unknown") != 0)
            continue;
        ck_assert_int_eq(msg_decode(in, 1, &m), MSG_E_TYPE);
        ck_assert_int_eq(msg_decode(in, sizeof(in), &m), MSG_E_TYPE);
    }
    memset(&m, 0, sizeof(m));
    m.type = (enum msg_type)0x12;
    ck_assert_int_eq(msg_encode(&m, in, sizeof(in), &(size_t){0}), MSG_E_TYPE);
}
END_TEST

/* A message that decodes to MSG_E_RANGE, and whose struct form is refused by
 * the encoder with the same error. */
static void assert_invalid(const uint8_t *enc, size_t len, const struct msg *m)
{
    uint8_t out[MSG_MAX_LEN + 8];
    size_t outlen = 777;
    struct msg d;

    memset(&d, 0xcc, sizeof(d));
    ck_assert_int_eq(msg_decode(enc, len, &d), MSG_E_RANGE);
    ck_assert_uint_eq(d.u.stream.req_id, 0xccccccccu);
    if (m) {
        ck_assert_int_eq(msg_encode(m, out, sizeof(out), &outlen), MSG_E_RANGE);
        ck_assert_uint_eq(outlen, 777);
    }
}

START_TEST(test_welcome_invalid)
{
    uint8_t in[64] = {0x01, 0x00, 0x19, 0x00, 0x5a, 0x01, 0x01, 0x00, 0x00};
    struct msg m = {.type = MSG_WELCOME, .u.welcome = {25, 90, true, 256, {NULL, 0}}};
    struct msg ok;

    ck_assert_int_eq(msg_decode(in, 9, &ok), 0);
    in[1] = in[2] = 0; /* keepalive 0 */
    m.u.welcome.keepalive_s = 0;
    assert_invalid(in, 9, &m);
    in[2] = 0x19;
    m.u.welcome.keepalive_s = 25;
    in[3] = in[4] = 0; /* dead_after 0 */
    m.u.welcome.dead_after_s = 0;
    assert_invalid(in, 9, &m);
    in[4] = 0x5a;
    m.u.welcome.dead_after_s = 90;
    for (int v = 2; v < 256; v++) {
        in[5] = (uint8_t)v;
        assert_invalid(in, 9, NULL);
    }
    in[5] = 1;
    /* relay_version: 32 bytes fit, 33 do not. */
    memset(in + 9, 'v', 33);
    in[8] = 32;
    ck_assert_int_eq(msg_decode(in, 9 + 32, &ok), 0);
    in[8] = 33;
    m.u.welcome.relay_version = (struct msg_str){in + 9, 33};
    assert_invalid(in, 9 + 33, &m);
}
END_TEST

START_TEST(test_peer_invalid)
{
    uint8_t in[2] = {0x02, 0};

    for (int v = 2; v < 256; v++) {
        in[1] = (uint8_t)v;
        assert_invalid(in, 2, NULL);
    }
}
END_TEST

START_TEST(test_stream_invalid)
{
    struct sample s[MAX_SAMPLES];
    uint8_t in[64];
    struct msg m;
    size_t len = 1 + 4 + 8 + 1 + 4 + 32;

    samples(s);
    ck_assert_int_eq(s[4].m.type, MSG_STREAM);
    ck_assert_uint_eq(s[4].enc_len, len);
    /* stream_id 0 */
    memcpy(in, s[4].enc, len);
    memset(in + 5, 0, 8);
    m = s[4].m;
    m.u.stream.stream_id = 0;
    assert_invalid(in, len, &m);
    /* role 2..255 */
    memcpy(in, s[4].enc, len);
    for (int v = 2; v < 256; v++) {
        in[13] = (uint8_t)v;
        assert_invalid(in, len, NULL);
    }
    m = s[4].m;
    m.u.stream.role = (enum msg_role)2;
    assert_invalid(in, len, &m);
    /* initiator with req_id 0 */
    memcpy(in, s[4].enc, len);
    memset(in + 1, 0, 4);
    m = s[4].m;
    m.u.stream.req_id = 0;
    assert_invalid(in, len, &m);
    /* responder with a req_id */
    memcpy(in, s[5].enc, len);
    in[4] = 1;
    m = s[5].m;
    m.u.stream.req_id = 1;
    assert_invalid(in, len, &m);
}
END_TEST

START_TEST(test_open_fail_invalid)
{
    uint8_t in[6] = {0x04, 0, 0, 0, 1, 0};
    struct msg m = {.type = MSG_OPEN_FAIL, .u.open_fail = {1, 0}};
    struct msg ok;

    for (int v = 0; v < 256; v++) {
        in[5] = (uint8_t)v;
        if (v >= 1 && v <= MSG_OPEN_FAIL_QUOTA_EXCEEDED) {
            ck_assert_int_eq(msg_decode(in, 6, &ok), 0);
            ck_assert_int_eq(ok.u.open_fail.reason, v);
            ck_assert_str_ne(msg_open_fail_reason_name(v), "unknown");
        } else {
            assert_invalid(in, 6, NULL);
            ck_assert_str_eq(msg_open_fail_reason_name(v), "unknown");
        }
    }
    assert_invalid(in, 6, &m);
    m.u.open_fail.reason = (enum msg_open_fail_reason)(MSG_OPEN_FAIL_QUOTA_EXCEEDED + 1);
    assert_invalid(in, 6, &m);
}
END_TEST

START_TEST(test_close_invalid)
{
    uint8_t in[3 + 256] = {0x05, 0, 0};
    struct msg m = {.type = MSG_CLOSE, .u.close = {0, {NULL, 0}}};
    struct msg ok;

    for (int v = 0; v < 256; v++) {
        in[1] = (uint8_t)v;
        if (v >= 1 && v <= 11) {
            ck_assert_int_eq(msg_decode(in, 3, &ok), 0);
            ck_assert_int_eq(ok.u.close.reason, v);
            ck_assert_str_ne(msg_close_reason_name(v), "unknown");
        } else {
            assert_invalid(in, 3, NULL);
            ck_assert_str_eq(msg_close_reason_name(v), "unknown");
        }
    }
    assert_invalid(in, 3, &m);
    m.u.close.reason = (enum msg_close_reason)12;
    assert_invalid(in, 3, &m);
    /* text: 200 bytes fit, 201 do not. */
    in[1] = MSG_CLOSE_PROTOCOL;
    memset(in + 3, 't', 255);
    in[2] = 200;
    ck_assert_int_eq(msg_decode(in, 3 + 200, &ok), 0);
    ck_assert_uint_eq(ok.u.close.text.len, 200);
    in[2] = 201;
    m.u.close = (struct msg_close){MSG_CLOSE_PROTOCOL, {in + 3, 201}};
    assert_invalid(in, 3 + 201, &m);
    in[2] = 255;
    assert_invalid(in, 3 + 255, NULL);
}
END_TEST

/* Builds ADDRS with n addresses of the given lengths into out. */
static size_t make_addrs(uint8_t *out, size_t n, const size_t *lens, struct msg *m)
{
    size_t off = 2;

    memset(m, 0, sizeof(*m));
    m->type = MSG_ADDRS;
    m->u.addrs.n = n < MSG_MAX_ADDRS ? n : MSG_MAX_ADDRS;
    out[0] = 0x06;
    out[1] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        out[off] = (uint8_t)lens[i];
        memset(out + off + 1, 'a' + (int)i, lens[i]);
        if (i < MSG_MAX_ADDRS)
            m->u.addrs.addr[i] = (struct msg_str){out + off + 1, lens[i]};
        off += 1 + lens[i];
    }
    return off;
}

START_TEST(test_addrs_limits)
{
    static uint8_t in[8192], out[8192];
    size_t lens[17], len, outlen;
    struct msg m, d;

    for (size_t i = 0; i < 17; i++)
        lens[i] = 10;
    /* 16 addresses fit, 17 do not. */
    len = make_addrs(in, 16, lens, &m);
    ck_assert_int_eq(msg_decode(in, len, &d), 0);
    ck_assert_uint_eq(d.u.addrs.n, 16);
    assert_msg_eq(&d, &m);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &outlen), 0);
    ck_assert_uint_eq(outlen, len);
    ck_assert_mem_eq(out, in, len);
    len = make_addrs(in, 17, lens, &m);
    assert_invalid(in, len, NULL);
    for (int v = 17; v < 256; v++) {
        in[1] = (uint8_t)v;
        assert_invalid(in, 2, NULL);
    }
    m.u.addrs.n = 17;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &outlen), MSG_E_RANGE);

    /* The whole message is at most 4096 bytes: 16 addresses whose lengths
     * add up to 4078 make exactly 4096; one byte more is too big. */
    for (size_t i = 0; i < 15; i++)
        lens[i] = 255;
    lens[15] = 253;
    len = make_addrs(in, 16, lens, &m);
    ck_assert_uint_eq(len, MSG_MAX_LEN);
    ck_assert_int_eq(msg_decode(in, len, &d), 0);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &outlen), 0);
    ck_assert_uint_eq(outlen, MSG_MAX_LEN);
    lens[15] = 254;
    len = make_addrs(in, 16, lens, &m);
    ck_assert_uint_eq(len, MSG_MAX_LEN + 1);
    ck_assert_int_eq(msg_decode(in, len, &d), MSG_E_TOOBIG);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &outlen), MSG_E_TOOBIG);
}
END_TEST

START_TEST(test_addrs_bad_address)
{
    uint8_t in[64];
    size_t lens[2] = {5, 3}, len;
    struct msg m;

    /* An empty address. */
    lens[1] = 0;
    len = make_addrs(in, 2, lens, &m);
    assert_invalid(in, len, &m);
    /* A NUL anywhere in an address, first, middle or last byte. */
    lens[1] = 3;
    for (size_t pos = 0; pos < 3; pos++) {
        len = make_addrs(in, 2, lens, &m);
        in[2 + 6 + 1 + pos] = 0;
        assert_invalid(in, len, &m);
    }
    len = make_addrs(in, 2, lens, &m);
    ck_assert_int_eq(msg_decode(in, len, &m), 0);
}
END_TEST

START_TEST(test_redirect_invalid)
{
    /* reason 1, one address "r2:7000". */
    uint8_t in[16] = {0x07, 0x01, 0x01, 0x07, 'r', '2', ':', '7', '0', '0', '0'};
    struct msg m, ok;

    ck_assert_int_eq(msg_decode(in, 11, &ok), 0);
    ck_assert_uint_eq(ok.u.redirect.n, 1);
    m = ok;
    for (int v = 0; v < 256; v++) {
        in[1] = (uint8_t)v;
        if (v == 1 || v == 2) {
            ck_assert_int_eq(msg_decode(in, 11, &ok), 0);
            ck_assert_str_ne(msg_redirect_reason_name(v), "unknown");
        } else {
            assert_invalid(in, 11, NULL);
            ck_assert_str_eq(msg_redirect_reason_name(v), "unknown");
        }
    }
    in[1] = 1;
    /* Truncated anywhere, or a byte after the last address. */
    for (size_t len = 1; len < 11; len++)
        ck_assert_int_eq(msg_decode(in, len, &ok), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, 12, &ok), MSG_E_TRAILING);
    /* No address: a REDIRECT names at least one. */
    in[2] = 0;
    m.u.redirect.n = 0;
    assert_invalid(in, 3, &m);
    m.u.redirect.n = 1;
    in[2] = 1;
    in[5] = 0; /* NUL in the address */
    m.u.redirect.addr[0].p = in + 4;
    assert_invalid(in, 11, &m);
    /* An empty address. */
    in[3] = 0;
    m.u.redirect.addr[0].len = 0;
    assert_invalid(in, 4, &m);
}
END_TEST

/* Builds REDIRECT (reason 1) with n addresses of the given lengths. */
static size_t make_redirect(uint8_t *out, size_t n, const size_t *lens, struct msg *m)
{
    size_t off = 3;

    memset(m, 0, sizeof(*m));
    m->type = MSG_REDIRECT;
    m->u.redirect.reason = MSG_REDIRECT_HOME;
    m->u.redirect.n = n < MSG_MAX_ADDRS ? n : MSG_MAX_ADDRS;
    out[0] = 0x07;
    out[1] = 0x01;
    out[2] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        out[off] = (uint8_t)lens[i];
        memset(out + off + 1, 'a' + (int)i, lens[i]);
        if (i < MSG_MAX_ADDRS)
            m->u.redirect.addr[i] = (struct msg_str){out + off + 1, lens[i]};
        off += 1 + lens[i];
    }
    return off;
}

START_TEST(test_redirect_limits)
{
    static uint8_t in[8192], out[8192];
    size_t lens[17], len, outlen;
    struct msg m, d;

    for (size_t i = 0; i < 17; i++)
        lens[i] = 10;
    /* 1 and 16 addresses fit, 17 do not. */
    for (size_t n = 1; n <= 16; n += 15) {
        len = make_redirect(in, n, lens, &m);
        ck_assert_int_eq(msg_decode(in, len, &d), 0);
        ck_assert_uint_eq(d.u.redirect.n, n);
        assert_msg_eq(&d, &m);
        ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &outlen), 0);
        ck_assert_uint_eq(outlen, len);
        ck_assert_mem_eq(out, in, len);
    }
    len = make_redirect(in, 17, lens, &m);
    assert_invalid(in, len, NULL);
    for (int v = 17; v < 256; v++) {
        in[2] = (uint8_t)v;
        assert_invalid(in, 3, NULL);
    }
    m.u.redirect.n = 17;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &outlen), MSG_E_RANGE);
    /* At most 4096 bytes: 16 addresses whose lengths add up to 4077 make
     * exactly 4096 (one byte less than ADDRS allows: the reason). */
    for (size_t i = 0; i < 15; i++)
        lens[i] = 255;
    lens[15] = 252;
    len = make_redirect(in, 16, lens, &m);
    ck_assert_uint_eq(len, MSG_MAX_LEN);
    ck_assert_int_eq(msg_decode(in, len, &d), 0);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &outlen), 0);
    ck_assert_uint_eq(outlen, MSG_MAX_LEN);
    lens[15] = 253;
    len = make_redirect(in, 16, lens, &m);
    ck_assert_uint_eq(len, MSG_MAX_LEN + 1);
    ck_assert_int_eq(msg_decode(in, len, &d), MSG_E_TOOBIG);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &outlen), MSG_E_TOOBIG);
}
END_TEST

/* PEER_KEY: key, endorsed_by, mac (96 bytes); never a key §2 rejects
 * (all-zero, small order); endorsed_by all-zero only with an all-zero mac
 * (no endorsement), else a valid key other than key. In either direction. */
START_TEST(test_peer_key)
{
    uint8_t in[1 + 3 * 32 + 1], out[128];
    struct msg m = {.type = MSG_PEER_KEY}, got;
    size_t len, full = 1 + 3 * 32;

    memset(in, 0, sizeof(in));
    in[0] = MSG_PEER_KEY;
    in[1] = 9;
    ck_assert_int_eq(msg_decode(in, full, &got), 0);
    ck_assert_int_eq(got.type, MSG_PEER_KEY);
    ck_assert_uint_eq(got.u.peer_key.key[0], 9);
    ck_assert(sodium_is_zero(got.u.peer_key.by, MSG_KEY_LEN));
    ck_assert_int_eq(msg_decode(in, full - 1, &got), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, 1 + MSG_KEY_LEN, &got), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, full + 1, &got), MSG_E_TRAILING);
    in[1 + 64] = 1; /* a mac without an endorser */
    ck_assert_int_eq(msg_decode(in, full, &got), MSG_E_RANGE);
    in[1 + 32] = 10; /* endorsed by u = 10 */
    ck_assert_int_eq(msg_decode(in, full, &got), 0);
    ck_assert_uint_eq(got.u.peer_key.by[0], 10);
    ck_assert_uint_eq(got.u.peer_key.mac[0], 1);
    in[1 + 32] = 9; /* by itself */
    ck_assert_int_eq(msg_decode(in, full, &got), MSG_E_RANGE);
    in[1 + 32] = 1; /* endorser of small order */
    ck_assert_int_eq(msg_decode(in, full, &got), MSG_E_RANGE);
    in[1 + 32] = 10;
    in[1] = 0; /* all zero */
    ck_assert_int_eq(msg_decode(in, full, &got), MSG_E_RANGE);
    in[1] = 1; /* u = 1: order 4 */
    ck_assert_int_eq(msg_decode(in, full, &got), MSG_E_RANGE);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), MSG_E_RANGE);
    m.u.peer_key.key[0] = 9;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, full);
    m.u.peer_key.mac[5] = 1;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), MSG_E_RANGE);
    m.u.peer_key.by[0] = 9;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), MSG_E_RANGE);
    m.u.peer_key.by[0] = 10;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), 0);
    ck_assert_str_eq(msg_type_name(MSG_PEER_KEY), "PEER_KEY");
}
END_TEST

/* KEY_ENDORSE: old key, new key (both valid, different), mac. */
START_TEST(test_key_endorse)
{
    uint8_t in[1 + 3 * 32 + 1], out[128];
    struct msg m = {.type = MSG_KEY_ENDORSE}, got;
    size_t len, full = 1 + 3 * 32;

    memset(in, 0, sizeof(in));
    in[0] = MSG_KEY_ENDORSE;
    in[1] = 10;
    in[1 + 32] = 9;
    ck_assert_int_eq(msg_decode(in, full, &got), 0);
    ck_assert_int_eq(got.type, MSG_KEY_ENDORSE);
    ck_assert_uint_eq(got.u.peer_key.by[0], 10);
    ck_assert_uint_eq(got.u.peer_key.key[0], 9);
    ck_assert_int_eq(msg_decode(in, full - 1, &got), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, full + 1, &got), MSG_E_TRAILING);
    in[1] = 9; /* old == new */
    ck_assert_int_eq(msg_decode(in, full, &got), MSG_E_RANGE);
    in[1] = 0; /* no old key */
    ck_assert_int_eq(msg_decode(in, full, &got), MSG_E_RANGE);
    in[1] = 10;
    in[1 + 32] = 1;
    ck_assert_int_eq(msg_decode(in, full, &got), MSG_E_RANGE);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), MSG_E_RANGE);
    m.u.peer_key.key[0] = 9;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), MSG_E_RANGE);
    m.u.peer_key.by[0] = 10;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, full);
    ck_assert_uint_eq(out[0], 0x21);
    ck_assert_uint_eq(out[1], 10);
    ck_assert_uint_eq(out[33], 9);
    ck_assert_str_eq(msg_type_name(MSG_KEY_ENDORSE), "KEY_ENDORSE");
}
END_TEST

/* RELAY_KEY: key id (any u8) and exactly 32 bytes of a valid key. */
START_TEST(test_relay_key)
{
    uint8_t in[2 + MSG_KEY_LEN + 1], out[64];
    struct msg m = {.type = MSG_RELAY_KEY}, got;
    size_t len;

    memset(in, 0, sizeof(in));
    in[0] = MSG_RELAY_KEY;
    in[1] = 255;
    in[2] = 9;
    ck_assert_int_eq(msg_decode(in, 2 + MSG_KEY_LEN, &got), 0);
    ck_assert_uint_eq(got.u.relay_key.key_id, 255);
    ck_assert_uint_eq(got.u.relay_key.key[0], 9);
    ck_assert_int_eq(msg_decode(in, 1 + MSG_KEY_LEN, &got), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, 3 + MSG_KEY_LEN, &got), MSG_E_TRAILING);
    in[2] = 0;
    ck_assert_int_eq(msg_decode(in, 2 + MSG_KEY_LEN, &got), MSG_E_RANGE);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), MSG_E_RANGE);
    m.u.relay_key.key[0] = 9;
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, 2 + MSG_KEY_LEN);
    ck_assert_str_eq(msg_type_name(MSG_RELAY_KEY), "RELAY_KEY");
}
END_TEST

START_TEST(test_going_away_text)
{
    uint8_t in[4 + 256] = {0x08, 0, 5, 0};
    struct msg m = {.type = MSG_GOING_AWAY}, ok;

    memset(in + 4, 'g', 256);
    in[3] = 200;
    ck_assert_int_eq(msg_decode(in, 4 + 200, &ok), 0);
    ck_assert_uint_eq(ok.u.going_away.seconds, 5);
    in[3] = 201;
    m.u.going_away = (struct msg_going_away){5, {in + 4, 201}};
    assert_invalid(in, 4 + 201, &m);
}
END_TEST

START_TEST(test_open_req_id_zero)
{
    uint8_t in[5] = {0x20, 0, 0, 0, 0};
    struct msg m = {.type = MSG_OPEN, .u.req_id = 0}, ok;

    assert_invalid(in, 5, &m);
    in[4] = 1;
    ck_assert_int_eq(msg_decode(in, 5, &ok), 0);
    ck_assert_uint_eq(ok.u.req_id, 1);
}
END_TEST

/* RESUME and RESUMED (§5, §7.3): req_id rules as OPEN and STREAM, exact
 * lengths, RESUMABLE empty. */
START_TEST(test_resume_invalid)
{
    uint8_t in[1 + 4 + 8 + 1 + 4 + 32 + 32 + 1] = {0x0c, 0, 0, 0, 0};
    struct msg m, ok;
    size_t rlen = 1 + 4 + 8 + 1 + 4 + 32 + 32;

    memset(&m, 0, sizeof(m));
    m.type = MSG_RESUME;
    assert_invalid(in, 1 + 4 + 32, &m); /* req_id 0 */
    in[4] = 1;
    ck_assert_int_eq(msg_decode(in, 1 + 4 + 32, &ok), 0);
    ck_assert_int_eq(msg_decode(in, 1 + 4 + 31, &ok), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, 1 + 4 + 33, &ok), MSG_E_TRAILING);
    /* RESUMED: initiator with req_id 0, responder with one, stream_id 0. */
    memset(in, 0, sizeof(in));
    in[0] = 0x0d;
    in[12] = 1; /* stream_id 1, role 0, req_id 0 */
    assert_invalid(in, rlen, NULL);
    in[13] = 1; /* responder, req_id 0 */
    ck_assert_int_eq(msg_decode(in, rlen, &ok), 0);
    ck_assert_int_eq(ok.u.stream.role, MSG_ROLE_RESPONDER);
    ck_assert_int_eq(msg_decode(in, rlen - 1, &ok), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, rlen + 1, &ok), MSG_E_TRAILING);
    in[4] = 1; /* responder with a req_id */
    assert_invalid(in, rlen, NULL);
    in[4] = 0;
    in[12] = 0; /* stream_id 0 */
    assert_invalid(in, rlen, NULL);
    /* RESUMABLE has no body. */
    in[0] = 0x0b;
    ck_assert_int_eq(msg_decode(in, 1, &ok), 0);
    ck_assert_int_eq(msg_decode(in, 2, &ok), MSG_E_TRAILING);
}
END_TEST

/* LEG_LOST (§5, §7.3): stream_id non-zero, exactly 8 + 32 bytes of body. */
START_TEST(test_leg_lost_invalid)
{
    uint8_t in[1 + 8 + 32 + 1] = {0x0e};
    struct msg m, ok;

    memset(&m, 0, sizeof(m));
    m.type = MSG_LEG_LOST;
    assert_invalid(in, 1 + 8 + 32, &m); /* stream_id 0 */
    in[8] = 1;
    ck_assert_int_eq(msg_decode(in, 1 + 8 + 32, &ok), 0);
    ck_assert_uint_eq(ok.u.leg_lost.stream_id, 1);
    ck_assert_int_eq(msg_decode(in, 1 + 8 + 31, &ok), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, 1 + 8 + 33, &ok), MSG_E_TRAILING);
}
END_TEST

/* STREAM_ACK (§5, §7.3, D43): stream_id non-zero, any offset, exactly
 * 8 + 8 + 16 bytes of body. */
START_TEST(test_stream_ack_invalid)
{
    uint8_t in[1 + 8 + 8 + 16 + 1] = {0x0f};
    struct msg m, ok;

    memset(&m, 0, sizeof(m));
    m.type = MSG_STREAM_ACK;
    assert_invalid(in, 1 + 8 + 8 + 16, &m); /* stream_id 0 */
    in[8] = 1;
    memset(in + 9, 0xff, 8);
    ck_assert_int_eq(msg_decode(in, 1 + 8 + 8 + 16, &ok), 0);
    ck_assert_uint_eq(ok.u.stream_ack.stream_id, 1);
    ck_assert_uint_eq(ok.u.stream_ack.offset, UINT64_MAX);
    ck_assert_int_eq(msg_decode(in, 1 + 8 + 8 + 15, &ok), MSG_E_SHORT);
    ck_assert_int_eq(msg_decode(in, 1 + 8 + 8 + 17, &ok), MSG_E_TRAILING);
}
END_TEST

START_TEST(test_too_big_input)
{
    static uint8_t in[MSG_MAX_LEN + 1];
    struct msg m;

    /* Any input over 4096 bytes is refused before it is looked at. */
    in[0] = MSG_PING;
    ck_assert_int_eq(msg_decode(in, sizeof(in), &m), MSG_E_TOOBIG);
    ck_assert_int_eq(msg_decode(in, MSG_MAX_LEN, &m), MSG_E_TRAILING);
}
END_TEST

START_TEST(test_encoder_string_pointer_rules)
{
    struct msg m = {.type = MSG_CLOSE, .u.close = {MSG_CLOSE_SHUTDOWN, {NULL, 3}}};
    uint8_t out[16];
    size_t len;

    /* A non-empty string without bytes is a caller bug, refused. */
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), MSG_E_RANGE);
    ck_assert_int_eq(msg_encode(&m, NULL, 0, &len), MSG_E_RANGE);
    m.u.close.text.len = 0;
    ck_assert_int_eq(msg_encode(&m, NULL, 0, &len), MSG_E_NOSPC);
    ck_assert_int_eq(msg_encode(&m, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, 3);
}
END_TEST

START_TEST(test_str_cstr)
{
    struct msg_str s = S("host:1");
    struct msg_str nul = {(const uint8_t *)"a\0b", 3};
    struct msg_str empty = {NULL, 0};
    char out[8];

    memset(out, 'z', sizeof(out));
    ck_assert_int_eq(msg_str_cstr(&s, out, 6), -ENOSPC);
    ck_assert_uint_eq((uint8_t)out[0], 'z');
    ck_assert_int_eq(msg_str_cstr(&s, out, 7), 0);
    ck_assert_str_eq(out, "host:1");
    ck_assert_int_eq(msg_str_cstr(&nul, out, sizeof(out)), -EINVAL);
    ck_assert_int_eq(msg_str_cstr(&empty, out, 1), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(msg_str_cstr(&empty, out, 0), -ENOSPC);
}
END_TEST

START_TEST(test_names)
{
    static const int types[] = {1, 2,    3,    4,    5,    6,    7,    8,
                                9, 0x0a, 0x0b, 0x0c, 0x0d, 0x10, 0x11, 0x20};
    static const int errs[] = {MSG_E_SHORT, MSG_E_TRAILING, MSG_E_TYPE,
                               MSG_E_RANGE, MSG_E_TOOBIG,   MSG_E_NOSPC};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        ck_assert_str_ne(msg_type_name(types[i]), "unknown");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(msg_type_name(types[i]), msg_type_name(types[j]));
    }
    ck_assert_str_eq(msg_type_name(MSG_OPEN_FAIL), "OPEN_FAIL");
    ck_assert_str_eq(msg_type_name(0), "unknown");
    ck_assert_str_eq(msg_type_name(-1), "unknown");
    ck_assert_str_eq(msg_close_reason_name(MSG_CLOSE_KEY_ROTATED), "key_rotated");
    ck_assert_str_eq(msg_close_reason_name(MSG_CLOSE_SOURCE_NOT_ALLOWED), "source_not_allowed");
    ck_assert_str_eq(msg_close_reason_name(MSG_CLOSE_ENROLL_UNKNOWN), "enroll_unknown");
    ck_assert_str_eq(msg_close_reason_name(MSG_CLOSE_ENROLL_EXPIRED), "enroll_expired");
    ck_assert_str_eq(msg_close_reason_name(MSG_CLOSE_ENROLL_SPENT), "enroll_spent");
    ck_assert_str_eq(msg_close_reason_name(-1), "unknown");
    ck_assert_str_eq(msg_open_fail_reason_name(MSG_OPEN_FAIL_STREAM_LIMIT), "stream_limit");
    ck_assert_str_eq(msg_open_fail_reason_name(1000), "unknown");
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        ck_assert_str_ne(msg_strerror(errs[i]), "unknown control message error");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(msg_strerror(errs[i]), msg_strerror(errs[j]));
    }
    ck_assert_str_eq(msg_strerror(-1), "unknown control message error");
}
END_TEST

static Suite *msg_suite(void)
{
    Suite *s = suite_create("msg");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_every_type_has_a_sample);
    tcase_add_test(tc, test_encode_matches_spec);
    tcase_add_test(tc, test_decode_matches_spec);
    tcase_add_test(tc, test_decode_boundaries);
    tcase_add_test(tc, test_unknown_types);
    tcase_add_test(tc, test_welcome_invalid);
    tcase_add_test(tc, test_peer_invalid);
    tcase_add_test(tc, test_stream_invalid);
    tcase_add_test(tc, test_open_fail_invalid);
    tcase_add_test(tc, test_close_invalid);
    tcase_add_test(tc, test_addrs_limits);
    tcase_add_test(tc, test_addrs_bad_address);
    tcase_add_test(tc, test_redirect_invalid);
    tcase_add_test(tc, test_redirect_limits);
    tcase_add_test(tc, test_going_away_text);
    tcase_add_test(tc, test_peer_key);
    tcase_add_test(tc, test_key_endorse);
    tcase_add_test(tc, test_relay_key);
    tcase_add_test(tc, test_open_req_id_zero);
    tcase_add_test(tc, test_resume_invalid);
    tcase_add_test(tc, test_leg_lost_invalid);
    tcase_add_test(tc, test_stream_ack_invalid);
    tcase_add_test(tc, test_too_big_input);
    tcase_add_test(tc, test_encoder_string_pointer_rules);
    tcase_add_test(tc, test_str_cstr);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(msg_suite());
}
