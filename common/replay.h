/* SPDX-License-Identifier: MIT */
/*
 * replay — the bytes a resumable stream sent and the peer has not
 * acknowledged yet (docs/protocol.md §7.3, docs/internals/e2e.md).
 *
 * A FIFO of stream bytes addressed by their stream offset: bytes are appended
 * at `end`, released from `base` when the peer acknowledges them, and read
 * back from any offset in [base, end) when a resumed epoch replays them.
 * Memory is allocated lazily in REPLAY_CHUNK blocks, so an idle stream holds
 * nothing, and is wiped and freed as soon as it is released. The caller
 * bounds it (replay_held); nothing here limits the size.
 *
 * Sans-I/O, no logging. replay_done frees everything; safe on a zeroed struct.
 */
#ifndef LR_REPLAY_H
#define LR_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_CHUNK 16384

struct replay_chunk;

struct replay {
    struct replay_chunk *head, *tail;
    size_t head_off; /* bytes of head already released */
    size_t tail_len; /* bytes written into tail */
    uint64_t base;   /* stream offset of the first byte held */
    uint64_t end;    /* stream offset after the last byte held */
};

/* Empty, starting at stream offset `start`. */
void replay_init(struct replay *r, uint64_t start);
/* Frees and wipes every chunk. */
void replay_done(struct replay *r);
/* Appends n bytes; -ENOMEM (nothing appended) if a chunk cannot be had. */
int replay_append(struct replay *r, const uint8_t *p, size_t n);
/* Releases everything before stream offset `upto` (clamped to [base, end]). */
void replay_release(struct replay *r, uint64_t upto);
/* The held bytes from stream offset `at` (base <= at < end) as one span, at
 * most to the end of its chunk; NULL with *len 0 outside [base, end). Valid
 * until the next append or release. */
const uint8_t *replay_peek(const struct replay *r, uint64_t at, size_t *len);
/* Bytes held (end - base). */
uint64_t replay_held(const struct replay *r);

#endif
