/* SPDX-License-Identifier: MIT */
/*
 * resume — the end-to-end resumption credentials (docs/protocol.md §7.3).
 *
 * Pure functions over the stream's resume key rk (32 bytes, exported from the
 * KK handshake's chaining key by e2e, never leaves the two agents):
 *
 *   resume id of epoch n   rid_n = BLAKE2b-256(key rk, "linkrelay/1 resume id" ‖ u32 n)
 *   resume HELLO           epoch u32 ‖ nonce bytes[32] ‖ mac bytes[16],
 *                          mac = BLAKE2b-128(key rk, "linkrelay/1 resume hello" ‖
 *                                            role u8 ‖ epoch u32 ‖ nonce)
 *   record keys of epoch n k_dir = BLAKE2b-256(key rk, "linkrelay/1 resume keys" ‖
 *                                  dir u8 ‖ u32 n ‖ nonce_i ‖ nonce_r)
 *                          (dir 0: initiator → responder, 1: the other way)
 *
 * Comparisons are constant time. Sans-I/O, no state; sodium_init() first.
 */
#ifndef LR_RESUME_H
#define LR_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec.h"
#include "replay.h"

#define RESUME_KEY_LEN   32
#define RESUME_ID_LEN    32
#define RESUME_NONCE_LEN 32
#define RESUME_MAC_LEN   16
#define RESUME_HELLO_LEN (4 + RESUME_NONCE_LEN + RESUME_MAC_LEN) /* 52 */
/* A responder accepts a resume id of an epoch at most this far ahead. */
#define RESUME_WINDOW 16u

enum resume_error {
    RESUME_E_ARG = -1400, /* caller error */
    RESUME_E_HELLO,       /* wrong length or MAC mismatch */
    RESUME_E_UNKNOWN,     /* no epoch in the window has this resume id */
    RESUME_E_OFFSET,      /* a RESUME offset outside what was sealed and held */
    RESUME_E_EPOCH,       /* an authentic HELLO of another epoch (an old leg replayed) */
};

/*
 * The e2e HELLO (§7.1), the payload of both KK handshake messages: version 1,
 * flags (bit 0: this side offers resumption, no other bit), resume str8:
 * empty without the offer; with it, ack_every u32, the most data bytes this
 * side's replay buffer lets the peer deliver before it acknowledges them
 * (§7.3, docs/design.md D32). Encode writes RESUME_OFFER_LEN bytes without
 * the offer and RESUME_OFFER_MAX with it (ack_every is then clamped to
 * [RESUME_ACK_MIN, RESUME_ACK_MAX]). Check gives the offer and the cadence
 * the peer asks for: its ack_every when the field has at least 4 bytes (the
 * items of common/suite.h may follow them, D37) and it is within those
 * bounds, RESUME_ACK_MIN for any other content (an older agent's empty
 * field), which acknowledges at least as often as any sender needs.
 */
#define RESUME_OFFER_LEN 3
#define RESUME_OFFER_MAX 7
#define RESUME_ACK_MIN   65536u /* the ACK interval of §7.2 */
/* The most a HELLO may ask for. A side takes the peer's ack_every only when
 * both HELLOs offer STREAM_ACK (suite.h, D43), and RESUME_ACK_MIN otherwise:
 * in-band ACKs wait behind DATA in the same stream, and with a cadence of a
 * quarter of the buffer bulk both ways through an echo stalled (D32); the
 * STREAM_ACK on the control sessions does not wait behind anything. */
#define RESUME_ACK_MAX (1024u * 1024u)
size_t resume_offer_encode(bool offer, uint32_t ack_every, uint8_t out[RESUME_OFFER_MAX]);
int resume_offer_check(const uint8_t *p, size_t len, bool *offer, uint32_t *ack_every);
/* The ack_every a side with a replay buffer of `cap` bytes asks for: a
 * quarter of it within [RESUME_ACK_MIN, RESUME_ACK_MAX], so never more than
 * half of any buffer of 2 * RESUME_ACK_MIN or more. */
uint32_t resume_ack_every(uint64_t cap);

/* rid of epoch n (n >= 1). */
void resume_id(const uint8_t rk[RESUME_KEY_LEN], uint32_t epoch, uint8_t out[RESUME_ID_LEN]);
/*
 * The epoch in (last, last + RESUME_WINDOW] whose id is `id`, into *epoch;
 * RESUME_E_UNKNOWN otherwise (an id of `last` or before is spent).
 */
int resume_match(const uint8_t rk[RESUME_KEY_LEN], uint32_t last, const uint8_t id[RESUME_ID_LEN],
                 uint32_t *epoch);
/* Writes the resume HELLO of `role` (0 initiator, 1 responder). */
void resume_hello_encode(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, uint32_t epoch,
                         const uint8_t nonce[RESUME_NONCE_LEN], uint8_t out[RESUME_HELLO_LEN]);
/* The same behind its u16 frame length (FRAME_HDR_LEN + 52 bytes). */
void resume_hello_frame(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, uint32_t epoch,
                        const uint8_t nonce[RESUME_NONCE_LEN], uint8_t out[2 + RESUME_HELLO_LEN]);
/* Checks a HELLO sent by `role` for `epoch`; copies its nonce on success. */
__attribute__((warn_unused_result)) int resume_hello_check(const uint8_t rk[RESUME_KEY_LEN],
                                                           uint8_t role, uint32_t epoch,
                                                           const uint8_t *p, size_t len,
                                                           uint8_t nonce[RESUME_NONCE_LEN]);
/* The record keys of an epoch: k_ir (initiator → responder), k_ri. */
void resume_epoch_keys(const uint8_t rk[RESUME_KEY_LEN], uint32_t epoch,
                       const uint8_t nonce_i[RESUME_NONCE_LEN],
                       const uint8_t nonce_r[RESUME_NONCE_LEN], uint8_t k_ir[RESUME_KEY_LEN],
                       uint8_t k_ri[RESUME_KEY_LEN]);

/*
 * Opens our direction of an epoch (role 0 initiator, 1 responder): derives
 * both record keys from the nonces, starts tx (resumable, with the stream's
 * record suite, enum rec_suite) with ours, writes its header and the peer
 * direction's key (the caller wipes it). 0 or a rec_error.
 */
int resume_open_epoch(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, uint32_t epoch,
                      const uint8_t my_nonce[RESUME_NONCE_LEN],
                      const uint8_t peer_nonce[RESUME_NONCE_LEN], uint8_t suite, struct rec_tx *tx,
                      uint8_t recv_key[REC_KEY_LEN], uint8_t header[REC_HEADER_LEN]);

/*
 * The sending side of a resumable stream: every data byte goes into the
 * replay buffer (at most cap bytes held), the pump seals it from offset cur,
 * ACKs release it, and a resumed epoch rewinds cur to the peer's offset.
 * sealed_max is the highest offset ever sealed (what ACKs may reach);
 * final_ever says a FINAL was sealed in some epoch, peer_got_final that the
 * peer acknowledged it (ACK of total + 1, or RESUME flag bit 0).
 */
struct resume_tx {
    struct replay rp;
    uint64_t cap, cur, sealed_max;
    bool final_ever, peer_got_final;
};

void resume_tx_init(struct resume_tx *rt, uint64_t cap);
void resume_tx_done(struct resume_tx *rt);
/* The largest ACK value the peer may send. */
uint64_t resume_tx_bound(const struct resume_tx *rt);
/* An ACK of v: releases what it covers. */
void resume_tx_ack(struct resume_tx *rt, uint64_t v);
/* Bytes e2e_send may still take. */
size_t resume_tx_space(const struct resume_tx *rt);
/* Bytes held and not yet sealed in this epoch. */
bool resume_tx_pending(const struct resume_tx *rt);
/*
 * Seals one DATA record from cur into dst[0..room), keeping `reserve` bytes
 * free: 0 and *len on success, 1 when there is no room, or a rec_error.
 */
int resume_tx_pump(struct resume_tx *rt, struct rec_tx *tx, uint8_t *dst, size_t room,
                   size_t reserve, size_t *len);
/*
 * How many bytes past the replay buffer's end resume_tx_pump could seal into
 * `room` bytes of output (keeping `reserve` free) once appended, after what
 * is held and not yet sealed: records cut where resume_tx_pump cuts them.
 */
size_t resume_tx_sealable(const struct resume_tx *rt, size_t room, size_t reserve);
/*
 * The peer's RESUME said it holds `at` bytes (and our FINAL if got_final):
 * checks it against what was sealed and released (RESUME_E_OFFSET), releases
 * up to it, and rewinds cur and the fresh tx to it.
 */
int resume_tx_rewind(struct resume_tx *rt, struct rec_tx *tx, uint64_t at, bool got_final);

#endif
