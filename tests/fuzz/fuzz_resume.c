/* SPDX-License-Identifier: MIT */
/*
 * fuzz_resume — libFuzzer target for the resumption decoders of
 * docs/protocol.md §7.3 (common/resume.c, common/rec.c, common/suite.c): the
 * e2e HELLO (§7.1: resume offer and record suites), the resume HELLO a new leg starts with, and the
 * RESUME record plaintext. Input: one selector byte, then the bytes under test. Checks: no crash; a
 * HELLO is accepted only when it is exactly what resume_hello_encode writes for the fixed key (so
 * it cannot be forged without it); an offer is accepted only as version 1 with flag bit 0 at most,
 * its suites are known ones and read back the same from our encoding; a decoded RESUME has exactly
 * 10 bytes and flags within bit 0. Seeds: tests/fuzz/corpus/resume/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rec.h"
#include "resume.h"
#include "suite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t rk[RESUME_KEY_LEN] = {7, 7, 7};
    uint8_t nonce[RESUME_NONCE_LEN], again[RESUME_HELLO_LEN];
    struct rec_record r;
    bool offer, offer2;
    unsigned suites, suites2;
    uint8_t hello[SUITE_HELLO_MAX];
    size_t n;
    uint8_t sel;

    if (size < 1 || sodium_init() < 0)
        return 0;
    sel = data[0];
    data++;
    size--;
    switch (sel % 3) {
    case 0:
        if (suite_hello_check(data, size, &offer, &suites) != 0)
            break;
        /* Accepted: version 1, a known flag, ChaCha20-Poly1305 always in the
         * offer, nothing unknown; our own encoding of it reads back the same. */
        if (size < 3 || data[0] != 1 || (data[1] & ~1u) != 0 || offer != (data[1] == 1) ||
            (suites & SUITE_OFFER_CHACHA) == 0 || (suites & ~SUITE_OFFER_ALL) != 0)
            abort();
        n = suite_hello_encode(offer, suites, hello);
        if (suite_hello_check(hello, n, &offer2, &suites2) != 0 || offer2 != offer ||
            suites2 != suites)
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
