/* SPDX-License-Identifier: MIT */
/*
 * fuzz_resume — libFuzzer target for the resumption decoders of
 * docs/protocol.md §7.3 (common/resume.c, common/rec.c, common/suite.c): the
 * e2e HELLO (§7.1: resume offer, ACK interval and record suites), the resume
 * HELLO a new leg starts with, and the RESUME record plaintext. Input: one
 * selector byte, then the bytes under test. Checks: no crash; a HELLO is
 * accepted only when it is exactly what resume_hello_encode writes for the
 * fixed key (so it cannot be forged without it); an offer is accepted only
 * as version 1 with flag bit 0 at most, and the ACK interval it asks for is
 * always within [RESUME_ACK_MIN, RESUME_ACK_MAX] (an offer's in-bounds
 * ack_every taken as it is, D32); its suites are known ones and read back
 * the same from our encoding (D37), and the STREAM_ACK offer only with
 * the resumption offer (D43), the link_session item with or without it
 * (D46); a decoded RESUME has exactly 10 bytes
 * and flags within bit 0.
 * Seeds: tests/fuzz/corpus/resume/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rec.h"
#include "resume.h"
#include "suite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The ACK interval an accepted offer must give (D32): an offer's 4-byte
 * ack_every within bounds as it is, RESUME_ACK_MIN for anything else. */
static uint32_t offer_ack(const uint8_t *data, size_t size)
{
    uint32_t v;

    if (size < 7 || data[1] != 1 || data[2] < 4)
        return RESUME_ACK_MIN; /* items of suite.h may follow the 4 bytes (D37) */
    v = (uint32_t)data[3] << 24 | (uint32_t)data[4] << 16 | (uint32_t)data[5] << 8 | data[6];
    return v >= RESUME_ACK_MIN && v <= RESUME_ACK_MAX ? v : RESUME_ACK_MIN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t rk[RESUME_KEY_LEN] = {7, 7, 7};
    uint8_t nonce[RESUME_NONCE_LEN], again[RESUME_HELLO_LEN];
    struct rec_record r;
    bool offer, offer2;
    uint32_t ack_every, ack2;
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
        if (resume_offer_check(data, size, &offer, &ack_every) != 0)
            break;
        if (size < 3 || data[0] != 1 || (data[1] & ~1u) != 0 || offer != (data[1] == 1) ||
            ack_every != offer_ack(data, size))
            abort();
        /* The suites (D37): accepted only where the offer is, ChaCha20-Poly1305
         * always in it, nothing unknown; our own encoding reads back the same. */
        if (suite_hello_check(data, size, &offer2, &ack2, &suites) != 0)
            break;
        if (offer2 != offer || ack2 != ack_every || (suites & SUITE_OFFER_CHACHA) == 0 ||
            (suites & ~(SUITE_OFFER_ALL | SUITE_OFFER_STREAM_ACK | SUITE_OFFER_LINK_SESSION |
                        SUITE_OFFER_KEEP_LEG | SUITE_OFFER_SHARE_LEG)) != 0 ||
            ((suites & SUITE_OFFER_STREAM_ACK) != 0 && !offer))
            abort();
        n = suite_hello_encode(offer, ack_every, suites, hello);
        if (suite_hello_check(hello, n, &offer2, &ack2, &suites2) != 0 || offer2 != offer ||
            (offer && ack2 != ack_every) || suites2 != suites)
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
