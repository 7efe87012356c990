/* SPDX-License-Identifier: MIT */
/*
 * noise_peer — a Noise XK or KK peer built on common/noise, for interop tests
 * against an independent implementation (tests/integration/test_noise_interop.py).
 *
 * Usage: noise_peer XK|KK initiator|responder PROLOGUE_HEX STATIC_PRIV_HEX REMOTE_PUB_HEX
 * (use "-" for an empty prologue or no remote key).
 *
 * Speaks on stdin/stdout, each message as u16 big-endian length ‖ bytes:
 *  1. the handshake; handshake message k carries hs_payload(k);
 *  2. transport message j (j = 0..N_TRANSPORT-1) carries pattern(j, sizes[j]) and
 *     goes initiator → responder for even j, responder → initiator for odd j;
 *  3. this peer sends one more transport message: handshake hash ‖ remote static.
 * Every received payload is checked; exit status 0 only if all matched.
 * The payload formulas and sizes are mirrored in the Python test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "noise.h"

static const size_t sizes[] = {0, 1, NOISE_MAX_PAYLOAD, 0, 17, NOISE_MAX_PAYLOAD, 4096, 5};
#define N_TRANSPORT (sizeof(sizes) / sizeof(sizes[0]))

static uint8_t msg[NOISE_MAX_MSG], pl[NOISE_MAX_MSG], expect[NOISE_MAX_MSG];

static int fail(const char *what, int err)
{
    fprintf(stderr, "noise_peer: %s: %s\n", what, err != 0 ? noise_strerror(err) : "mismatch");
    return 1;
}

static int read_exact(uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(0, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_all(const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(1, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_msg(const uint8_t *buf, size_t len)
{
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    return write_all(hdr, 2) == 0 && write_all(buf, len) == 0 ? 0 : -1;
}

static int recv_msg(uint8_t *buf, size_t *len)
{
    uint8_t hdr[2];
    if (read_exact(hdr, 2) != 0) {
        return -1;
    }
    *len = ((size_t)hdr[0] << 8) | hdr[1];
    return read_exact(buf, *len);
}

static size_t hs_payload(int k, uint8_t *out)
{
    size_t n = (size_t)k * 5 + 3;
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(k * 31 + i);
    }
    return n;
}

static void pattern(size_t j, size_t size, uint8_t *out)
{
    for (size_t i = 0; i < size; i++) {
        out[i] = (uint8_t)(j * 131 + i * 7);
    }
}

static int parse_key(const char *hex, uint8_t out[32])
{
    size_t n = 0;
    if (sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &n, NULL) != 0 || n != 32) {
        return -1;
    }
    return 0;
}

static int handshake(struct noise_hs *hs)
{
    size_t n, pn;
    for (int k = 0; !noise_hs_done(hs); k++) {
        size_t en = hs_payload(k, expect);
        if (noise_hs_my_turn(hs)) {
            int r = noise_hs_write_message(hs, expect, en, msg, sizeof(msg), &n);
            if (r != 0) {
                return fail("write handshake", r);
            }
            if (send_msg(msg, n) != 0) {
                return fail("send handshake", 0);
            }
        } else {
            if (recv_msg(msg, &n) != 0) {
                return fail("receive handshake", 0);
            }
            int r = noise_hs_read_message(hs, msg, n, pl, sizeof(pl), &pn);
            if (r != 0) {
                return fail("read handshake", r);
            }
            if (pn != en || memcmp(pl, expect, en) != 0) {
                return fail("handshake payload", 0);
            }
        }
    }
    return 0;
}

static int transport(struct noise_hs *hs, bool initiator)
{
    struct noise_cs tx, rx;
    uint8_t report[64];
    size_t n, pn;
    int r = noise_hs_split(hs, &tx, &rx);

    if (r != 0) {
        return fail("split", r);
    }
    for (size_t j = 0; j < N_TRANSPORT && r == 0; j++) {
        pattern(j, sizes[j], expect);
        if ((j % 2 == 0) == initiator) {
            r = noise_cs_encrypt(&tx, NULL, 0, expect, sizes[j], msg, sizeof(msg), &n);
            r = r != 0 ? fail("encrypt", r) : (send_msg(msg, n) != 0 ? fail("send", 0) : 0);
        } else if (recv_msg(msg, &n) != 0) {
            r = fail("receive", 0);
        } else if ((r = noise_cs_decrypt(&rx, NULL, 0, msg, n, pl, sizeof(pl), &pn)) != 0) {
            r = fail("decrypt", r);
        } else if (pn != sizes[j] || memcmp(pl, expect, pn) != 0) {
            r = fail("transport payload", 0);
        }
    }
    if (r == 0) {
        if (noise_hs_handshake_hash(hs, report) != 0 || noise_hs_remote_static(hs) == NULL) {
            r = fail("report", NOISE_ERR_STATE);
        } else {
            memcpy(report + 32, noise_hs_remote_static(hs), 32);
            r = noise_cs_encrypt(&tx, NULL, 0, report, sizeof(report), msg, sizeof(msg), &n);
            r = r != 0 ? fail("encrypt", r) : (send_msg(msg, n) != 0 ? fail("send", 0) : 0);
        }
    }
    noise_cs_wipe(&tx);
    noise_cs_wipe(&rx);
    return r;
}

int main(int argc, char **argv)
{
    enum noise_pattern p;
    uint8_t prologue[256], s[32], rs[32];
    size_t prologue_len = 0;
    struct noise_hs hs;

    if (argc != 6 || noise_pattern_from_name(argv[1], &p) != 0 ||
        (strcmp(argv[2], "initiator") != 0 && strcmp(argv[2], "responder") != 0)) {
        fprintf(stderr, "usage: noise_peer XK|KK initiator|responder PROLOGUE_HEX "
                        "STATIC_PRIV_HEX REMOTE_PUB_HEX\n");
        return 2;
    }
    if (sodium_init() < 0) {
        return 2;
    }
    bool initiator = strcmp(argv[2], "initiator") == 0;
    bool has_rs = strcmp(argv[5], "-") != 0;
    if ((strcmp(argv[3], "-") != 0 &&
         sodium_hex2bin(prologue, sizeof(prologue), argv[3], strlen(argv[3]), NULL, &prologue_len,
                        NULL) != 0) ||
        parse_key(argv[4], s) != 0 || (has_rs && parse_key(argv[5], rs) != 0)) {
        fprintf(stderr, "noise_peer: bad hex argument\n");
        return 2;
    }
    int r = noise_hs_init(&hs, p, initiator, prologue, prologue_len, s, has_rs ? rs : NULL);
    sodium_memzero(s, sizeof(s));
    if (r != 0) {
        return fail("init", r);
    }
    r = handshake(&hs);
    if (r == 0) {
        r = transport(&hs, initiator);
    }
    noise_hs_wipe(&hs);
    return r;
}
