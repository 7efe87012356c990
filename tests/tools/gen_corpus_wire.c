/* SPDX-License-Identifier: MIT */
/*
 * gen_corpus_wire — writes the seed corpora of the fuzz targets fuzz_msg and
 * fuzz_frame: valid encodings of every control message type (msg/), and
 * connection byte streams of preambles and frames (frame/, with the selector
 * byte fuzz_frame.c expects first).
 *
 * Usage: gen_corpus_wire DIR   (writes DIR/msg/ and DIR/frame/, which must
 * exist). The committed corpus in tests/fuzz/corpus/ is this program's output;
 * tests/integration/test_fuzz_corpus_wire.sh checks it is up to date.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"
#include "msg.h"

#define STR(lit) ((struct msg_str){(const uint8_t *)(lit), sizeof(lit) - 1})

static const char *outdir;

static void write_file(const char *sub, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    FILE *f;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name) >= sizeof(path)) {
        fprintf(stderr, "path too long\n");
        exit(1);
    }
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static size_t encode(const struct msg *m, uint8_t *out, size_t cap)
{
    size_t len;
    int rc = msg_encode(m, out, cap, &len);

    if (rc != 0) {
        fprintf(stderr, "msg_encode %s: %s\n", msg_type_name(m->type), msg_strerror(rc));
        exit(1);
    }
    return len;
}

/* Fills ms[] with valid messages of every type; returns how many. */
static size_t build_msgs(struct msg *ms)
{
    size_t n = 0;
    static const char *const addrs[] = {"198.18.0.1:7000", "[2001:db8::1]:443",
                                        "relay.example.net:7000"};

    memset(ms, 0, 24 * sizeof(*ms)); /* main's array */
    ms[n].type = MSG_WELCOME;
    ms[n++].u.welcome = (struct msg_welcome){25, 90, true, 256, STR("linkrelay 0.1.0")};
    ms[n].type = MSG_PEER;
    ms[n++].u.peer_online = true;
    ms[n].type = MSG_STREAM;
    ms[n].u.stream =
        (struct msg_stream){7, 0x1122334455667788ull, MSG_ROLE_INITIATOR, 10000, {0}, {0}};
    memset(ms[n++].u.stream.ticket, 0xab, MSG_TICKET_LEN);
    ms[n].type = MSG_STREAM;
    ms[n].u.stream = (struct msg_stream){0, 42, MSG_ROLE_RESPONDER, 10000, {0}, {0}};
    memset(ms[n++].u.stream.ticket, 0xcd, MSG_TICKET_LEN);
    ms[n].type = MSG_OPEN_FAIL;
    ms[n++].u.open_fail = (struct msg_open_fail){7, MSG_OPEN_FAIL_PEER_OFFLINE};
    ms[n].type = MSG_CLOSE;
    ms[n++].u.close = (struct msg_close){MSG_CLOSE_REVOKED, STR("link revoked by admin")};
    ms[n].type = MSG_ADDRS;
    ms[n].u.addrs.n = 3;
    for (size_t i = 0; i < 3; i++)
        ms[n].u.addrs.addr[i] = (struct msg_str){(const uint8_t *)addrs[i], strlen(addrs[i])};
    n++;
    ms[n].type = MSG_ADDRS;
    ms[n++].u.addrs.n = 0;
    ms[n].type = MSG_REDIRECT;
    ms[n].u.redirect.reason = MSG_REDIRECT_HOME;
    ms[n].u.redirect.n = 2;
    ms[n].u.redirect.addr[0] = STR("r2.example.net:7000");
    ms[n++].u.redirect.addr[1] = STR("198.18.0.2:7700");
    ms[n].type = MSG_GOING_AWAY;
    ms[n++].u.going_away = (struct msg_going_away){30, STR("restarting")};
    ms[n].type = MSG_PING;
    ms[n++].u.nonce = 0x0102030405060708ull;
    ms[n].type = MSG_PONG;
    ms[n++].u.nonce = 0x0102030405060708ull;
    ms[n].type = MSG_OPEN;
    ms[n++].u.req_id = 7;
    ms[n].type = MSG_PEER_KEY;
    ms[n++].u.peer_key.key[0] = 9; /* the X25519 base point: a valid key */
    ms[n].type = MSG_PEER_KEY;     /* endorsed by another valid key */
    ms[n].u.peer_key.key[0] = 9;
    ms[n].u.peer_key.by[0] = 10;
    ms[n++].u.peer_key.mac[0] = 1;
    ms[n].type = MSG_KEY_ENDORSE;
    ms[n].u.peer_key.key[0] = 9;
    ms[n].u.peer_key.by[0] = 10;
    ms[n++].u.peer_key.mac[31] = 1;
    ms[n].type = MSG_RELAY_KEY;
    ms[n].u.relay_key.key_id = 2;
    ms[n++].u.relay_key.key[0] = 9;
    ms[n++].type = MSG_RESUMABLE;
    ms[n].type = MSG_RESUME;
    ms[n].u.resume.req_id = 8;
    memset(ms[n++].u.resume.resume_id, 0x5a, MSG_RESUME_ID_LEN);
    ms[n].type = MSG_RESUMED;
    ms[n].u.stream = (struct msg_stream){0, 43, MSG_ROLE_RESPONDER, 10000, {0}, {0}};
    memset(ms[n].u.stream.ticket, 0xef, MSG_TICKET_LEN);
    memset(ms[n++].u.stream.resume_id, 0x5a, MSG_RESUME_ID_LEN);
    ms[n].type = MSG_LEG_LOST;
    ms[n].u.leg_lost.stream_id = 43;
    memset(ms[n++].u.leg_lost.ticket, 0xef, MSG_TICKET_LEN);
    ms[n].type = MSG_OPEN_FAIL; /* the byte quota's reason (D29) */
    ms[n++].u.open_fail = (struct msg_open_fail){9, MSG_OPEN_FAIL_QUOTA_EXCEEDED};
    ms[n].type = MSG_STREAM_ACK; /* D43 */
    ms[n].u.stream_ack.stream_id = 43;
    ms[n].u.stream_ack.offset = 1u << 20;
    memset(ms[n++].u.stream_ack.mac, 0x3c, MSG_ACK_MAC_LEN);
    return n;
}

static void gen_msgs(const struct msg *ms, size_t n)
{
    uint8_t out[MSG_MAX_LEN];
    char name[64];

    for (size_t i = 0; i < n; i++) {
        size_t len = encode(&ms[i], out, sizeof(out));
        snprintf(name, sizeof(name), "%02zu-%s", i, msg_type_name(ms[i].type));
        write_file("msg", name, out, len);
    }
}

/* Selector byte: bits 0-1 the limit (0 handshake, 1 control, 2 record, 3
 * 65535), bits 2-7 the chunk size - 1. */
static void gen_frames(const struct msg *ms, size_t n)
{
    static uint8_t mem[8192];
    struct frame_preamble ctl = {FRAME_KIND_CONTROL, 1}, str = {FRAME_KIND_STREAM, 0};
    uint8_t body[MSG_MAX_LEN];
    struct buf b;
    int rc = 0;

    /* A control connection: preamble and one frame per message. */
    buf_init(&b, mem, sizeof(mem));
    rc |= buf_put_u8(&b, 1 | (7 << 2));
    rc |= frame_preamble_encode(&ctl, &b);
    for (size_t i = 0; i < n; i++) {
        size_t len = encode(&ms[i], body, sizeof(body));
        rc |= frame_encode(body, len, &b);
    }
    write_file("frame", "control-session", mem, b.len);

    /* A stream connection: preamble, 32-byte ticket as a frame-looking blob,
     * a handshake-sized frame, and a cut-off frame. */
    buf_init(&b, mem, sizeof(mem));
    rc |= buf_put_u8(&b, 0 | (0 << 2));
    rc |= frame_preamble_encode(&str, &b);
    memset(body, 0x11, sizeof(body));
    rc |= frame_encode(body, 48, &b);
    rc |= frame_encode(body, FRAME_MAX_HANDSHAKE, &b);
    rc |= frame_header_encode(100, &b);
    rc |= buf_put_bytes(&b, body, 10);
    write_file("frame", "stream-handshake", mem, b.len);

    /* Records up to the record limit, fed in 64-byte chunks. */
    buf_init(&b, mem, sizeof(mem));
    rc |= buf_put_u8(&b, 2 | (63 << 2));
    rc |= frame_encode(body, 1, &b);
    rc |= frame_encode(body, 1000, &b);
    write_file("frame", "records", mem, b.len);

    /* Errors: a zero length, and a length over the control limit. */
    buf_init(&b, mem, sizeof(mem));
    rc |= buf_put_u8(&b, 1);
    rc |= frame_preamble_encode(&ctl, &b);
    rc |= buf_put_u16(&b, 0);
    write_file("frame", "zero-length", mem, b.len);
    buf_init(&b, mem, sizeof(mem));
    rc |= buf_put_u8(&b, 1);
    rc |= frame_preamble_encode(&ctl, &b);
    rc |= buf_put_u16(&b, FRAME_MAX_CONTROL + 1);
    write_file("frame", "too-long", mem, b.len);
    /* Garbage instead of a preamble (an HTTP request). */
    write_file("frame", "http", (const uint8_t *)"\x03GET / HTTP/1.1\r\n\r\n", 19);
    if (rc != 0) {
        fprintf(stderr, "frame encoding failed\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    struct msg ms[24];
    size_t n;

    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus_wire DIR\n");
        return 2;
    }
    outdir = argv[1];
    n = build_msgs(ms);
    gen_msgs(ms, n);
    gen_frames(ms, n);
    return 0;
}
