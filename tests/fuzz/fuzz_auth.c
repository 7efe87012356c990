/* SPDX-License-Identifier: MIT */
/*
 * fuzz_auth — libFuzzer target for the AUTH payload decoder of the relay
 * (common/auth.c, docs/protocol.md §4.1): untrusted bytes straight out of
 * handshake message 3. The fuzz build links lrcommon only, so the relay
 * module is compiled into the harness. Checks: the decoder never crashes,
 * accepts only inputs within AUTH_MIN_LEN..AUTH_MAX_LEN, and a decoded value
 * re-encodes to exactly the input when its agent version was printable and no
 * resume ticket was present.
 * Seeds: tests/fuzz/corpus/auth/ (tests/integration/test_fuzz_corpus_auth.py).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth a;
    uint8_t out[AUTH_MAX_LEN];
    size_t n;

    if (auth_decode(data, size, &a) != 0)
        return 0;
    if (size < AUTH_MIN_LEN || size > AUTH_MAX_LEN)
        abort();
    if (a.side < 0 || a.side > 1 || strlen(a.agent_version) > AUTH_MAX_AGENT)
        abort();
    if (auth_encode(&a, out, sizeof(out), &n) != 0)
        abort();
    /* Without a resume ticket and with a clean version string the encoding
     * is canonical: it must give back the input. */
    if (data[19] == 0 && n == size && memcmp(out, data, n) != 0) {
        size_t vlen = data[20];
        int clean = 1;
        for (size_t i = 0; i < vlen; i++)
            clean &= data[21 + i] >= 0x20 && data[21 + i] < 0x7f;
        if (clean)
            abort();
    }
    return 0;
}
