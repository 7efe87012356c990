/* SPDX-License-Identifier: MIT */
/*
 * buf — bounds-checked byte writers and readers over caller memory, and a
 * fixed-capacity input FIFO (relayd ibuf_get_n32 style).
 *
 * Every encoder and decoder in common/ goes through these instead of indexing
 * raw arrays, so a length that runs past its container is an error return and
 * never an out-of-bounds access. All integers are big-endian (docs/protocol.md
 * §1).
 *
 * Ownership: none of these structs owns memory. The caller provides the array
 * (stack, struct member or heap) and keeps it alive and unmoved for as long as
 * the struct that points at it is used. Nothing here allocates, so nothing
 * needs freeing; there is no _done.
 *
 * struct buf  — writer. Every buf_put_* either writes all its bytes and
 *               returns 0, or returns -ENOSPC (or -EINVAL) and leaves the
 *               buffer exactly as it was: an encoder that runs out of room
 *               never leaves half a field behind.
 * struct cur  — reader. Every cur_* either reads the whole field, advances and
 *               writes its out-parameter, or returns -EBADMSG and leaves both
 *               the cursor and the out-parameter untouched. Pointers returned
 *               by cur_bytes/cur_str8 point into the cursor's input and are
 *               valid as long as that input is.
 * struct bq   — FIFO of bytes received from a peer and not yet parsed. Data
 *               is kept contiguous (consumed space is reclaimed by moving the
 *               remainder to the front), so a parser can always look at
 *               everything buffered as one span.
 */
#ifndef LR_BUF_H
#define LR_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *p;
    size_t len; /* bytes written so far */
    size_t cap; /* size of p */
};

/* Points b at mem[0..cap); nothing is written yet. */
void buf_init(struct buf *b, uint8_t *mem, size_t cap);
/* Bytes that can still be written. */
size_t buf_avail(const struct buf *b);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
/* Copies n bytes; p may be NULL when n is 0. */
int buf_put_bytes(struct buf *b, const void *p, size_t n);
/* A u8 length and n bytes; -EINVAL when n > 255. */
int buf_put_str8(struct buf *b, const void *p, size_t n);

struct cur {
    const uint8_t *p;
    size_t len; /* size of p */
    size_t off; /* bytes read so far */
};

/* Points c at p[0..len); p may be NULL when len is 0. */
void cur_init(struct cur *c, const uint8_t *p, size_t len);
size_t cur_remaining(const struct cur *c);
/* 0 when everything has been read, -EBADMSG when bytes are left over. */
int cur_end_ok(const struct cur *c);
int cur_u8(struct cur *c, uint8_t *out);
int cur_u16(struct cur *c, uint16_t *out);
int cur_u32(struct cur *c, uint32_t *out);
int cur_u64(struct cur *c, uint64_t *out);
/* Sets *out to the next n bytes of the input (no copy) and skips them. */
int cur_bytes(struct cur *c, size_t n, const uint8_t **out);
/* Copies the next n bytes into out[0..n). */
int cur_copy(struct cur *c, void *out, size_t n);
/* A u8 length and that many bytes: *out points into the input, *outlen is
 * 0..255. Both written only on success. */
int cur_str8(struct cur *c, const uint8_t **out, size_t *outlen);

struct bq {
    uint8_t *mem;
    size_t cap;
    size_t off; /* start of unconsumed data */
    size_t len; /* bytes of unconsumed data */
    size_t top; /* mem[0..top) has been written since bq_init */
};

/* Points q at mem[0..cap), empty. */
void bq_init(struct bq *q, uint8_t *mem, size_t cap);
/* Bytes buffered and not consumed. */
size_t bq_len(const struct bq *q);
/* Bytes that may still be appended. */
size_t bq_space(const struct bq *q);
/* Appends n bytes, or returns -ENOBUFS (nothing appended) when they do not
 * all fit. */
int bq_append(struct bq *q, const void *p, size_t n);
/* The buffered bytes as one span (NULL and 0 when empty). The pointer is valid
 * until the next bq_append, bq_reserve, bq_commit or bq_consume. */
const uint8_t *bq_peek(const struct bq *q, size_t *len);
/* Drops the first n buffered bytes; -EINVAL (nothing dropped) if n > bq_len. */
int bq_consume(struct bq *q, size_t n);
/* For reading straight into the FIFO (a libuv alloc_cb): returns the free tail
 * and its size (all of bq_space, made contiguous), or NULL when full. Write at
 * most *len bytes there, then bq_commit the number written. */
uint8_t *bq_reserve(struct bq *q, size_t *len);
/* Marks n bytes written at the reserved tail as buffered; -ENOBUFS if n is
 * larger than the tail. */
int bq_commit(struct bq *q, size_t n);
/* How far into mem anything was ever written (appended or committed) since
 * bq_init: what a wipe of the FIFO's memory has to cover. */
size_t bq_top(const struct bq *q);

#endif
