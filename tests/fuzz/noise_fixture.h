/* SPDX-License-Identifier: MIT */
/*
 * noise_fixture — deterministic XK and KK handshake states shared by the fuzz
 * harness (tests/fuzz/fuzz_noise.c) and its seed generator
 * (tests/tools/noise_seedgen.c), so that generated seeds are valid messages for
 * exactly the states the harness feeds them to. Test code only.
 *
 * Input format of the harness: byte 0 selects the target (mode % NOISE_FX_MODES),
 * the rest is the message.
 */
#ifndef LR_TEST_NOISE_FIXTURE_H
#define LR_TEST_NOISE_FIXTURE_H

#include <string.h>

#include <sodium.h>

#include "noise.h"

enum noise_fx_mode {
    NOISE_FX_XK_MSG1 = 0, /* XK responder reads message 1 */
    NOISE_FX_XK_MSG3 = 1, /* XK responder reads message 3 after fixed messages 1 and 2 */
    NOISE_FX_KK_MSG1 = 2, /* KK responder reads message 1 */
    NOISE_FX_XK_MSG2 = 3, /* XK initiator reads message 2 after a fixed message 1 */
    NOISE_FX_MODES = 4
};

static const uint8_t noise_fx_prologue[] = "linkrelay/1 control\x01\x02\x00\x00\x00\x00\x00\x00";

static void noise_fx_key(uint8_t out[32], uint8_t seed)
{
    for (int i = 0; i < 32; i++) {
        out[i] = (uint8_t)(seed + 13 * i);
    }
}

/* Fresh initiator and responder with fixed static and ephemeral keys. */
static int noise_fx_pair(enum noise_pattern p, struct noise_hs *hi, struct noise_hs *hr)
{
    uint8_t is[32], rs[32], ie[32], re[32], ipub[32], rpub[32];
    noise_fx_key(is, 1);
    noise_fx_key(rs, 2);
    noise_fx_key(ie, 3);
    noise_fx_key(re, 4);
    if (crypto_scalarmult_base(ipub, is) != 0 || crypto_scalarmult_base(rpub, rs) != 0) {
        return -1;
    }
    size_t plen = sizeof(noise_fx_prologue) - 1;
    if (noise_hs_init(hi, p, true, noise_fx_prologue, plen, is, rpub) != 0 ||
        noise_hs_init(hr, p, false, noise_fx_prologue, plen, rs, p == NOISE_KK ? ipub : NULL) !=
            0 ||
        noise_hs_set_ephemeral(hi, ie) != 0 || noise_hs_set_ephemeral(hr, re) != 0) {
        return -1;
    }
    return 0;
}

/* Moves one handshake message with payload pl from w to r. */
static int noise_fx_step(struct noise_hs *w, struct noise_hs *r, const uint8_t *pl, size_t len)
{
    static uint8_t m[NOISE_MAX_MSG], out[NOISE_MAX_MSG];
    size_t n, pn;
    if (noise_hs_write_message(w, pl, len, m, sizeof(m), &n) != 0) {
        return -1;
    }
    return noise_hs_read_message(r, m, n, out, sizeof(out), &pn) == 0 ? 0 : -1;
}

/*
 * The state that reads a message in the given mode (*reader), and the state of
 * the other side at that point (*writer, which can write the valid message).
 */
static int noise_fx_state(enum noise_fx_mode mode, struct noise_hs *writer, struct noise_hs *reader)
{
    struct noise_hs hi, hr;
    int r = noise_fx_pair(mode == NOISE_FX_KK_MSG1 ? NOISE_KK : NOISE_XK, &hi, &hr);
    if (r == 0 && (mode == NOISE_FX_XK_MSG3 || mode == NOISE_FX_XK_MSG2)) {
        r = noise_fx_step(&hi, &hr, NULL, 0);
    }
    if (r == 0 && mode == NOISE_FX_XK_MSG3) {
        r = noise_fx_step(&hr, &hi, NULL, 0);
    }
    if (r == 0) {
        bool init_writes = mode != NOISE_FX_XK_MSG2;
        *writer = init_writes ? hi : hr;
        *reader = init_writes ? hr : hi;
    }
    noise_hs_wipe(&hi);
    noise_hs_wipe(&hr);
    return r;
}

#endif
