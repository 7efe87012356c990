/* SPDX-License-Identifier: MIT */
/*
 * noise_seedgen — writes the seed corpus of tests/fuzz/fuzz_noise.c: one valid
 * message per fuzz target (and payload variants), each prefixed with its mode
 * byte. Usage: noise_seedgen OUTDIR (the committed corpus is
 * tests/fuzz/corpus/noise). Checks that every seed is accepted by the state the
 * harness feeds it to.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "../fuzz/noise_fixture.h"

static uint8_t buf[NOISE_MAX_MSG + 1], out[NOISE_MAX_MSG];

static int seed(const char *dir, const char *name, enum noise_fx_mode mode, const uint8_t *pl,
                size_t pl_len)
{
    struct noise_hs w, r;
    size_t n, pn;
    char path[4096];

    if (noise_fx_state(mode, &w, &r) != 0 ||
        noise_hs_write_message(&w, pl, pl_len, buf + 1, sizeof(buf) - 1, &n) != 0 ||
        noise_hs_read_message(&r, buf + 1, n, out, sizeof(out), &pn) != 0 || pn != pl_len) {
        fprintf(stderr, "noise_seedgen: %s: not a valid message\n", name);
        return 1;
    }
    buf[0] = (uint8_t)mode;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, n + 1, f) != n + 1 || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    noise_hs_wipe(&w);
    noise_hs_wipe(&r);
    return 0;
}

int main(int argc, char **argv)
{
    /* AUTH of docs/protocol.md §4.1 and HELLO of §7.1, as realistic payloads. */
    static const uint8_t auth[] = {1,    0,    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                   0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0,    0,
                                   9,    'l',  'i',  'n',  'k',  'a',  'g',  'e',  'n',  't'};
    static const uint8_t hello[] = {1, 0, 0};

    if (argc != 2 || sodium_init() < 0) {
        fprintf(stderr, "usage: noise_seedgen OUTDIR\n");
        return 2;
    }
    const char *d = argv[1];
    int r = seed(d, "xk_msg1", NOISE_FX_XK_MSG1, NULL, 0);
    r |= seed(d, "xk_msg1_payload", NOISE_FX_XK_MSG1, hello, sizeof(hello));
    r |= seed(d, "xk_msg2", NOISE_FX_XK_MSG2, NULL, 0);
    r |= seed(d, "xk_msg3_auth", NOISE_FX_XK_MSG3, auth, sizeof(auth));
    r |= seed(d, "xk_msg3_empty", NOISE_FX_XK_MSG3, NULL, 0);
    r |= seed(d, "kk_msg1_hello", NOISE_FX_KK_MSG1, hello, sizeof(hello));
    return r;
}
