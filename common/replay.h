/* SPDX-License-Identifier: MIT */
/*
 * replay — the bytes a resumable stream sent and the peer has not
 * acknowledged yet (docs/protocol.md §7.3, docs/internals/e2e.md).
 *
 * A FIFO of stream bytes addressed by their stream offset: bytes are appended
 * at `end`, released from `base` when the peer acknowledges them, and read
 * back from any offset in [base, end) when a resumed epoch replays them.
 * Memory is taken in REPLAY_CHUNK blocks as bytes are appended and given
 * back as they are released, so an idle stream holds nothing. A released
 * block is wiped and goes to a pool of the process, up to REPLAY_POOL blocks,
 * from which the next append of any stream takes its blocks before it calls
 * malloc: a bulk sender releases and appends hundreds of blocks a second, and
 * malloc and free of each cost it a quarter of its CPU (heap trimmed and
 * grown again, every page faulted in anew; docs/performance.md). The caller
 * bounds replay_held; nothing here limits the size. The pool is the
 * process's, not locked: one thread uses replay buffers.
 *
 * Sans-I/O, no logging. replay_done frees everything; safe on a zeroed struct.
 */
#ifndef LR_REPLAY_H
#define LR_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_CHUNK 16384
#define REPLAY_POOL  256 /* blocks (4 MiB) kept for reuse, per process */

struct replay_chunk;

struct replay {
    struct replay_chunk *head, *tail;
    size_t head_off;           /* bytes of head already released */
    size_t tail_len;           /* bytes written into tail */
    uint64_t base;             /* stream offset of the first byte held */
    uint64_t end;              /* stream offset after the last byte held */
    struct replay_chunk *hint; /* the block replay_peek found last, or NULL */
    uint64_t hint_start;       /* stream offset of hint's first byte */
};

/* Empty, starting at stream offset `start`. */
void replay_init(struct replay *r, uint64_t start);
/* Wipes every chunk and gives it back. */
void replay_done(struct replay *r);
/* Appends n bytes; -ENOMEM (nothing appended) if a chunk cannot be had. */
int replay_append(struct replay *r, const uint8_t *p, size_t n);
/* Releases everything before stream offset `upto` (clamped to [base, end]). */
void replay_release(struct replay *r, uint64_t upto);
/* The held bytes from stream offset `at` (base <= at < end) as one span, at
 * most to the end of its chunk; NULL with *len 0 outside [base, end). Valid
 * until the next append or release. Remembers the block it found, so a
 * sender that peeks at rising offsets does not walk from the oldest block. */
const uint8_t *replay_peek(struct replay *r, uint64_t at, size_t *len);
/* Bytes held (end - base). */
uint64_t replay_held(const struct replay *r);
/* Blocks in the process's pool now (tests). */
size_t replay_pool_blocks(void);
/* Frees the pool's blocks (the end of the process, tests). */
void replay_pool_free(void);

#endif
