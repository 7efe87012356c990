/* SPDX-License-Identifier: MIT */
#include "cork.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static void cork_turn_end(uv_check_t *h)
{
    cork_flush(h->data);
}

static void cork_before_wait(uv_prepare_t *h)
{
    cork_flush(h->data);
}

int cork_init(struct cork *k, uv_loop_t *loop, cork_write_fn write, void *arg)
{
    memset(k, 0, sizeof(*k));
    k->write = write;
    k->arg = arg;
    k->buf = malloc(CORK_BYTES);
    if (k->buf == NULL)
        return -ENOMEM;
    uv_check_init(loop, &k->check);
    uv_prepare_init(loop, &k->prepare);
    k->check.data = k;
    k->prepare.data = k;
    k->ready = true;
    return 0;
}

/* Hands q's frames to the write callback, CORK_IOV at a time; q is empty
 * before the first call (the callback may close its connection or queue
 * more for it: those go in a new chain). */
static void cork_write_q(struct cork *k, struct cork_q *q)
{
    uv_buf_t b[CORK_IOV];
    unsigned n = 0;
    uint32_t f = q->head;

    k->dirty[q->slot - 1] = NULL;
    q->head = q->tail = q->slot = 0;
    while (f != 0) {
        const struct cork_frame *fr = &k->frame[f - 1];
        b[n++] = uv_buf_init((char *)k->buf + fr->off, fr->len);
        f = fr->next;
        if (n == CORK_IOV || f == 0) {
            k->writes++;
            k->write(k->arg, q, b, n);
            n = 0;
        }
    }
}

static void cork_write_now(struct cork *k, struct cork_q *q, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)data, (unsigned)len);

    cork_flush_one(k, q);
    k->frames++;
    k->writes++;
    k->write(k->arg, q, &b, 1);
}

void cork_add(struct cork *k, struct cork_q *q, const void *data, size_t len)
{
    struct cork_frame *fr;

    if (!k->ready || len > CORK_BYTES - k->used || k->n_frames == CORK_FRAMES) {
        cork_write_now(k, q, data, len);
        return;
    }
    fr = &k->frame[k->n_frames++];
    fr->off = (uint32_t)k->used;
    fr->len = (uint32_t)len;
    fr->next = 0;
    memcpy(k->buf + k->used, data, len);
    k->used += len;
    k->frames++;
    if (q->slot == 0) {
        k->dirty[k->n_dirty++] = q; /* n_dirty <= n_frames <= CORK_FRAMES */
        q->slot = (uint32_t)k->n_dirty;
        q->head = (uint32_t)k->n_frames;
    } else {
        k->frame[q->tail - 1].next = (uint32_t)k->n_frames;
    }
    q->tail = (uint32_t)k->n_frames;
    if (!k->active) {
        uv_check_start(&k->check, cork_turn_end);
        uv_prepare_start(&k->prepare, cork_before_wait);
        k->active = true;
    }
}

void cork_flush_one(struct cork *k, struct cork_q *q)
{
    if (q->slot != 0)
        cork_write_q(k, q);
}

void cork_drop(struct cork *k, struct cork_q *q)
{
    if (q->slot != 0)
        k->dirty[q->slot - 1] = NULL;
    q->head = q->tail = q->slot = 0;
}

void cork_flush(struct cork *k)
{
    /* Frames queued by the write callbacks extend the list as it is walked. */
    for (size_t i = 0; i < k->n_dirty; i++)
        if (k->dirty[i] != NULL)
            cork_write_q(k, k->dirty[i]);
    /* Control frames are encrypted, but the buffer is reused at once: no
     * wipe is needed for secrecy; only the indexes are reset. */
    k->n_dirty = 0;
    k->n_frames = 0;
    k->used = 0;
    if (k->active) {
        uv_check_stop(&k->check);
        uv_prepare_stop(&k->prepare);
        k->active = false;
    }
}

void cork_close(struct cork *k)
{
    if (!k->ready)
        return;
    cork_flush(k);
    k->ready = false;
    uv_close((uv_handle_t *)&k->check, NULL);
    uv_close((uv_handle_t *)&k->prepare, NULL);
    sodium_memzero(k->buf, CORK_BYTES);
    free(k->buf);
    k->buf = NULL;
}
