/* SPDX-License-Identifier: MIT */
#include "tio.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"

int tio_wait_in(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = poll(&p, 1, timeout_ms);

    return rc > 0 ? 0 : rc == 0 ? -ETIMEDOUT : -errno;
}

int tio_read_n(int fd, uint8_t *p, size_t n, int timeout_ms)
{
    while (n > 0) {
        ssize_t r;
        int rc = tio_wait_in(fd, timeout_ms);
        if (rc != 0) {
            return rc;
        }
        r = read(fd, p, n);
        if (r == 0) {
            return -EPIPE;
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -errno;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int tio_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                poll(&pf, 1, 1000);
                continue;
            }
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tio_read_frame(int fd, uint8_t *buf, size_t max, size_t *len, int timeout_ms)
{
    uint8_t hdr[FRAME_HDR_LEN];
    size_t n;
    int rc = tio_read_n(fd, hdr, sizeof(hdr), timeout_ms);

    if (rc != 0) {
        return rc;
    }
    n = (size_t)hdr[0] << 8 | hdr[1];
    if (n == 0 || n > max) {
        return -EBADMSG;
    }
    rc = tio_read_n(fd, buf, n, timeout_ms);
    if (rc == 0) {
        *len = n;
    }
    return rc;
}

int tio_write_frame(int fd, const uint8_t *body, size_t len)
{
    uint8_t out[FRAME_HDR_LEN + FRAME_MAX_LEN];
    struct buf b;

    buf_init(&b, out, sizeof(out));
    if (frame_encode(body, len, &b) != 0) {
        return -EINVAL;
    }
    return tio_write_all(fd, out, b.len);
}
