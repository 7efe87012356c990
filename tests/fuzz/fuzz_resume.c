/* SPDX-License-Identifier: MIT */
/*
 * fuzz_resume — libFuzzer target for the resumption decoders of
 * docs/protocol.md §7.3 (common/resume.c, common/rec.c): the e2e HELLO's
 * resume offer, the resume HELLO a new leg starts with, and the RESUME record
 * plaintext. Input: one selector byte, then the bytes under test. Checks: no
 * crash; a HELLO is accepted only when it is exactly what resume_hello_encode
 * writes for the fixed key (so it cannot be forged without it); an offer is
 * accepted only as version 1 with flag bit 0 at most; a decoded RESUME has
 * exactly 10 bytes and flags within bit 0.
 * Seeds: tests/fuzz/corpus/resume/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rec.h"
#include "resume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t rk[RESUME_KEY_LEN] = {7, 7, 7};
    uint8_t nonce[RESUME_NONCE_LEN], again[RESUME_HELLO_LEN];
    struct rec_record r;
    bool offer;
    uint8_t sel;

    if (size < 1 || sodium_init() < 0)
        return 0;
    sel = data[0];
    data++;
    size--;
    switch (sel % 3) {
    case 0:
        if (resume_offer_check(data, size, &offer) == 0 &&
            (size < 3 || data[0] != 1 || (data[1] & ~1u) != 0 || offer != (data[1] == 1)))
            abort();
        break;
    case 1: {
        uint8_t role = (sel >> 2) & 1;
        uint32_t epoch = sel >> 3;

        if (resume_hello_check(rk, role, epoch, data, size, nonce) != 0)
            break;
        resume_hello_encode(rk, role, epoch, nonce, again);
        if (size != RESUME_HELLO_LEN || memcmp(again, data, size) != 0)
            abort();
        break;
    }
    default:
        if (rec_plain_decode(data, size, &r) == 0 && r.type == REC_RESUME &&
            (size != 10 || (r.reason & ~REC_RESUME_FINAL) != 0))
            abort();
        break;
    }
    return 0;
}
