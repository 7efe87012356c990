/* SPDX-License-Identifier: MIT */
/*
 * fuzz_noise — arbitrary bytes as Noise handshake messages: XK message 1 and
 * KK message 1 to a fresh responder, XK message 2 to the initiator, and XK
 * message 3 to a responder after a fixed valid exchange of messages 1 and 2
 * (deterministic keys, tests/fuzz/noise_fixture.h). Byte 0 picks the target.
 * A message that is accepted is followed through: the handshake continues
 * and, once done, a transport round trip runs. Nothing may crash or leak.
 * Seeds: tests/fuzz/corpus/noise/, written by tests/tools/noise_seedgen.
 */
#include <stdint.h>
#include <stdlib.h>

#include <sodium.h>

#include "../fuzz/noise_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct noise_hs writers[NOISE_FX_MODES], readers[NOISE_FX_MODES];
static int ready;

static void setup(void)
{
    if (sodium_init() < 0) {
        abort();
    }
    for (int m = 0; m < NOISE_FX_MODES; m++) {
        if (noise_fx_state((enum noise_fx_mode)m, &writers[m], &readers[m]) != 0) {
            abort();
        }
    }
    ready = 1;
}

static void finish(struct noise_hs *hs)
{
    static uint8_t m[NOISE_MAX_MSG], out[NOISE_MAX_MSG];
    size_t n, pn;
    struct noise_cs tx, rx;

    /* Continue as the honest side would: write the next message if any. */
    while (noise_hs_my_turn(hs)) {
        if (noise_hs_write_message(hs, NULL, 0, m, sizeof(m), &n) != 0) {
            abort(); /* an accepted handshake must be able to go on */
        }
    }
    if (noise_hs_done(hs)) {
        if (noise_hs_split(hs, &tx, &rx) != 0 ||
            noise_cs_encrypt(&tx, NULL, 0, (const uint8_t *)"x", 1, m, sizeof(m), &n) != 0) {
            abort();
        }
        /* Our own message under the receive key must not authenticate. */
        if (noise_cs_decrypt(&rx, NULL, 0, m, n, out, sizeof(out), &pn) == 0) {
            abort();
        }
        noise_cs_wipe(&tx);
        noise_cs_wipe(&rx);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t payload[NOISE_MAX_MSG];
    struct noise_hs hs;
    size_t pn;

    if (!ready) {
        setup();
    }
    if (size < 1) {
        return 0;
    }
    int mode = data[0] % NOISE_FX_MODES;
    hs = readers[mode];
    int r = noise_hs_read_message(&hs, data + 1, size - 1, payload, sizeof(payload), &pn);
    if (r == 0) {
        if (pn > size - 1) {
            abort();
        }
        finish(&hs);
    } else if (noise_hs_read_message(&hs, data + 1, size - 1, payload, sizeof(payload), &pn) !=
               NOISE_ERR_STATE) {
        abort(); /* a failed handshake must stay failed */
    }
    noise_hs_wipe(&hs);
    return 0;
}
