/* SPDX-License-Identifier: MIT */
/*
 * leg — see leg.h and docs/design.md D54.
 */
#include "agent/leg.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct leg *leg_new(uv_loop_t *loop, void *holder, int *err)
{
    struct leg *l = calloc(1, sizeof(*l));
    int rc;

    if (l == NULL) {
        *err = UV_ENOMEM;
        return NULL;
    }
    rc = uv_tcp_init(loop, &l->tcp);
    if (rc != 0) {
        free(l);
        *err = rc;
        return NULL;
    }
    l->tcp.data = holder;
    return l;
}

struct leg *leg_of(uv_handle_t *h)
{
    return (struct leg *)(void *)((char *)h - offsetof(struct leg, tcp));
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    leg_of(h)->alloc_cb(h, suggested, buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct leg *l = leg_of((uv_handle_t *)s);

    if (nread < 0 && nread != UV_ENOBUFS)
        l->reading = false; /* libuv stops at an EOF or an error, not at ENOBUFS */
    l->read_cb(s, nread, buf);
}

int leg_read(struct leg *l, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
{
    int rc = 0;

    l->alloc_cb = alloc_cb;
    l->read_cb = read_cb;
    if (l->ops != NULL && !l->reading) {
        rc = l->ops->read_start(l);
        l->reading = rc == 0;
    } else if (!l->reading) {
        rc = uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
        l->reading = rc == 0;
    }
    return rc;
}

void leg_read_stop(struct leg *l)
{
    if (l->ops != NULL)
        l->ops->read_stop(l);
    else
        (void)uv_read_stop((uv_stream_t *)&l->tcp);
    l->reading = false;
}

size_t leg_queued(const struct leg *l)
{
    if (l->ops != NULL)
        return l->ops->queued(l);
    return uv_stream_get_write_queue_size((const uv_stream_t *)&l->tcp);
}

int leg_shutdown(struct leg *l, uv_shutdown_t *req, uv_shutdown_cb cb)
{
    if (l->ops != NULL)
        return l->ops->shutdown(l, req, cb);
    return uv_shutdown(req, (uv_stream_t *)&l->tcp, cb);
}

uv_tcp_t *leg_carrier(struct leg *l)
{
    return l->ops != NULL ? l->ops->carrier(l) : &l->tcp;
}

bool leg_is_channel(const struct leg *l)
{
    return l != NULL && l->ops != NULL;
}

bool leg_is_closing(const struct leg *l)
{
    if (l->ops != NULL)
        return l->closing;
    return uv_is_closing((const uv_handle_t *)&l->tcp) != 0;
}

static void on_closed(uv_handle_t *h)
{
    struct leg *l = leg_of(h);

    if (l->close_cb != NULL)
        l->close_cb(h);
    free(l);
}

struct leg_wreq {
    uv_write_t req; /* first: the callback frees the request */
    uint8_t data[];
};

int leg_write_or_queue(uv_stream_t *s, const uint8_t *buf, size_t len, uv_write_cb cb, void *data)
{
    struct leg_wreq *w;
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)buf, (unsigned)len);
    int rc = uv_try_write(s, &b, 1); /* UV_EAGAIN while writes are queued */

    if (rc > 0) {
        buf += rc;
        len -= (size_t)rc;
    }
    if (len == 0)
        return 0;
    w = malloc(sizeof(*w) + len);
    if (w == NULL)
        return UV_ENOMEM;
    w->req.data = data;
    memcpy(w->data, buf, len);
    b = uv_buf_init((char *)w->data, (unsigned)len);
    rc = uv_write(&w->req, s, &b, 1, cb);
    if (rc < 0) {
        free(w);
        return rc;
    }
    return 1;
}

void leg_tcp_close_reset(uv_tcp_t *t, uv_close_cb close_cb)
{
    uv_os_fd_t fd = -1;
    struct linger lg = {1, 0};

    if (uv_tcp_close_reset(t, close_cb) == 0)
        return;
    if (uv_fileno((uv_handle_t *)t, &fd) == 0 && fd >= 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    uv_close((uv_handle_t *)t, close_cb);
}

void leg_close(struct leg *l, bool reset, uv_close_cb close_cb)
{
    l->reading = false;
    l->close_cb = close_cb;
    if (l->ops != NULL) {
        l->closing = true;
        l->ops->close(l, reset);
    } else if (reset)
        leg_tcp_close_reset(&l->tcp, on_closed);
    else
        uv_close((uv_handle_t *)&l->tcp, on_closed);
}
