/* SPDX-License-Identifier: MIT */
/*
 * Shared by tests/fuzz/fuzz_rec.c and its seed generator
 * tests/tools/gen_rec_corpus.c: the fixed key and header the harness uses, and
 * the input format.
 *
 * Input: mode byte m, then the rest.
 *   m & 3 == 0: frames (u16 length ‖ body)… fed to rec_rx_open, plaintext out
 *               of place in an exact-size heap buffer;
 *   m & 3 == 1: the same, decrypting in place (plain = body + 1);
 *   m & 3 == 2: the rest is one record plaintext for rec_plain_decode;
 *   m & 3 == 3: items (tag u8 ‖ len u16 ‖ plaintext[len]) the harness seals
 *               with secretstream itself and feeds to rec_rx_open, so the
 *               stream rules after decryption are fuzzed too; the receiver's
 *               rekey interval is 1 + ((m >> 2) & 7), and m & 0x20 decrypts
 *               in place; m >> 6 picks the resumption rules (§7.3): 0 none,
 *               1 a resumable direction (FINAL tagged by position, ACKs
 *               after it), 2 a resumed epoch that expects RESUME first and
 *               continues at REC_FUZZ_RESUMED_AT bytes, 3 the same after the
 *               peer's FINAL came in an earlier epoch.
 * In every mode libsodium's own secretstream runs alongside as the oracle for
 * rec's OpenSSL-based one (see fuzz_rec.c).
 */
#ifndef LR_REC_FUZZ_H
#define LR_REC_FUZZ_H

#include <stdint.h>

#include "rec.h"

#define REC_FUZZ_FRAMES  0
#define REC_FUZZ_INPLACE 1
#define REC_FUZZ_PLAIN   2
#define REC_FUZZ_SEALED  3

/* Bound for the peer's ACKs (our "sent" count) in the harness. */
#define REC_FUZZ_SENT 100000u
/* Where a resumed epoch (m >> 6 >= 2) continues: bytes received, highest ACK. */
#define REC_FUZZ_RESUMED_AT  1000u
#define REC_FUZZ_RESUMED_ACK 500u

static const uint8_t rec_fuzz_key[REC_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const uint8_t rec_fuzz_header[REC_HEADER_LEN] = {
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b,
    0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
};

/*
 * A sending state for the fixed header. rec_tx_init draws a random header (as
 * it must in production); secretstream derives the same state from a header
 * on both sides, so initialising with init_pull gives a state that push can
 * use, here only to make deterministic test inputs.
 */
static inline void rec_fuzz_push_state(crypto_secretstream_xchacha20poly1305_state *st)
{
    crypto_secretstream_xchacha20poly1305_init_pull(st, rec_fuzz_header, rec_fuzz_key);
}

#endif
