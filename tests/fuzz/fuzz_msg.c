/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for common/msg.c: msg_decode over arbitrary bytes (one
 * control message plaintext per input). For every accepted input the encoding
 * of the decoded message must be the input, byte for byte: there is exactly
 * one encoding of each message, so nothing a peer sends can be re-sent
 * differently. A broken invariant aborts; it is our bug, not peer input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[MSG_MAX_LEN];
    struct msg m;
    size_t len = 0;
    int rc = msg_decode(data, size, &m);

    if (rc != 0) {
        if (rc > MSG_E_SHORT || rc < MSG_E_TOOBIG)
            abort();
        return 0;
    }
    if (msg_encode(&m, out, sizeof(out), &len) != 0)
        abort();
    if (len != size || memcmp(out, data, size) != 0)
        abort();
    /* One byte less of room must be refused, not overrun. */
    if (msg_encode(&m, out, size - 1, &len) != MSG_E_NOSPC)
        abort();
    return 0;
}
