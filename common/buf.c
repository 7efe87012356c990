/* SPDX-License-Identifier: MIT */
/*
 * buf — see buf.h. Every check is written as "n > room" with room computed by
 * subtraction of values known to be in order, so no sum can overflow.
 */
#include "buf.h"

#include <errno.h>
#include <string.h>

void buf_init(struct buf *b, uint8_t *mem, size_t cap)
{
    b->p = mem;
    b->len = 0;
    b->cap = mem ? cap : 0;
}

size_t buf_avail(const struct buf *b)
{
    return b->cap - b->len;
}

/* Writes v as n big-endian bytes (n <= 8). */
static int put_be(struct buf *b, uint64_t v, size_t n)
{
    if (n > buf_avail(b))
        return -ENOSPC;
    for (size_t i = 0; i < n; i++)
        b->p[b->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    b->len += n;
    return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
    return put_be(b, v, 1);
}

int buf_put_u16(struct buf *b, uint16_t v)
{
    return put_be(b, v, 2);
}

int buf_put_u32(struct buf *b, uint32_t v)
{
    return put_be(b, v, 4);
}

int buf_put_u64(struct buf *b, uint64_t v)
{
    return put_be(b, v, 8);
}

int buf_put_bytes(struct buf *b, const void *p, size_t n)
{
    if (n > buf_avail(b))
        return -ENOSPC;
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_put_str8(struct buf *b, const void *p, size_t n)
{
    if (n > UINT8_MAX)
        return -EINVAL;
    /* Check the whole field first so a failure leaves no length byte behind. */
    if (n >= buf_avail(b))
        return -ENOSPC;
    b->p[b->len++] = (uint8_t)n;
    return buf_put_bytes(b, p, n);
}

void cur_init(struct cur *c, const uint8_t *p, size_t len)
{
    c->p = p;
    c->len = p ? len : 0;
    c->off = 0;
}

size_t cur_remaining(const struct cur *c)
{
    return c->len - c->off;
}

int cur_end_ok(const struct cur *c)
{
    return cur_remaining(c) == 0 ? 0 : -EBADMSG;
}

static int get_be(struct cur *c, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n > cur_remaining(c))
        return -EBADMSG;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | c->p[c->off + i];
    c->off += n;
    *out = v;
    return 0;
}

int cur_u8(struct cur *c, uint8_t *out)
{
    uint64_t v;
    int rc = get_be(c, 1, &v);

    if (rc == 0)
        *out = (uint8_t)v;
    return rc;
}

int cur_u16(struct cur *c, uint16_t *out)
{
    uint64_t v;
    int rc = get_be(c, 2, &v);

    if (rc == 0)
        *out = (uint16_t)v;
    return rc;
}

int cur_u32(struct cur *c, uint32_t *out)
{
    uint64_t v;
    int rc = get_be(c, 4, &v);

    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

int cur_u64(struct cur *c, uint64_t *out)
{
    return get_be(c, 8, out);
}

int cur_bytes(struct cur *c, size_t n, const uint8_t **out)
{
    if (n > cur_remaining(c))
        return -EBADMSG;
    *out = c->p + c->off;
    c->off += n;
    return 0;
}

int cur_copy(struct cur *c, void *out, size_t n)
{
    const uint8_t *p;
    int rc = cur_bytes(c, n, &p);

    if (rc == 0 && n > 0)
        memcpy(out, p, n);
    return rc;
}

int cur_str8(struct cur *c, const uint8_t **out, size_t *outlen)
{
    size_t n;

    if (cur_remaining(c) < 1)
        return -EBADMSG;
    n = c->p[c->off];
    /* The length byte and the string must both fit, or nothing is consumed. */
    if (n > cur_remaining(c) - 1)
        return -EBADMSG;
    *out = c->p + c->off + 1;
    *outlen = n;
    c->off += 1 + n;
    return 0;
}

void bq_init(struct bq *q, uint8_t *mem, size_t cap)
{
    q->mem = mem;
    q->cap = mem ? cap : 0;
    q->off = 0;
    q->len = 0;
    q->top = 0;
}

size_t bq_len(const struct bq *q)
{
    return q->len;
}

size_t bq_space(const struct bq *q)
{
    return q->cap - q->len;
}

static void raise_top(struct bq *q)
{
    if (q->off + q->len > q->top)
        q->top = q->off + q->len;
}

/* Moves the unconsumed bytes to the front so the free space is one tail. */
static void compact(struct bq *q)
{
    if (q->off == 0)
        return;
    if (q->len > 0)
        memmove(q->mem, q->mem + q->off, q->len);
    q->off = 0;
}

int bq_append(struct bq *q, const void *p, size_t n)
{
    if (n > bq_space(q))
        return -ENOBUFS;
    if (n == 0)
        return 0;
    if (n > q->cap - q->off - q->len)
        compact(q);
    memcpy(q->mem + q->off + q->len, p, n);
    q->len += n;
    raise_top(q);
    return 0;
}

const uint8_t *bq_peek(const struct bq *q, size_t *len)
{
    *len = q->len;
    return q->len > 0 ? q->mem + q->off : NULL;
}

int bq_consume(struct bq *q, size_t n)
{
    if (n > q->len)
        return -EINVAL;
    q->off += n;
    q->len -= n;
    /* An empty FIFO starts again at the front: no move needed later. */
    if (q->len == 0)
        q->off = 0;
    return 0;
}

uint8_t *bq_reserve(struct bq *q, size_t *len)
{
    if (bq_space(q) == 0) {
        *len = 0;
        return NULL;
    }
    compact(q);
    *len = q->cap - q->len;
    return q->mem + q->len;
}

int bq_commit(struct bq *q, size_t n)
{
    if (n > q->cap - q->off - q->len)
        return -ENOBUFS;
    q->len += n;
    raise_top(q);
    return 0;
}

size_t bq_top(const struct bq *q)
{
    return q->top;
}
