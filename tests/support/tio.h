/* SPDX-License-Identifier: MIT */
/*
 * tio — blocking socket I/O for the test and bench clients (tests/tools,
 * tests/bench): read/write exactly n bytes with a timeout, and whole frames
 * (docs/protocol.md §2). Not part of any shipped program.
 *
 * Every function returns 0 or a negative errno: -ETIMEDOUT when nothing
 * arrived within timeout_ms, -EPIPE on EOF before n bytes, -EBADMSG for a
 * frame length of 0 or above max. Writes use send(MSG_NOSIGNAL), so fd must
 * be a socket; a full send buffer is waited out.
 */
#ifndef LR_TIO_H
#define LR_TIO_H

#include <stddef.h>
#include <stdint.h>

/* Waits until fd is readable. */
int tio_wait_in(int fd, int timeout_ms);
/* Reads exactly n bytes into p. */
int tio_read_n(int fd, uint8_t *p, size_t n, int timeout_ms);
/* Writes all n bytes of p. */
int tio_write_all(int fd, const uint8_t *p, size_t n);
/* Reads one frame's body (at most max bytes) into buf; *len on success. */
int tio_read_frame(int fd, uint8_t *buf, size_t max, size_t *len, int timeout_ms);
/* Frames body (1..FRAME_MAX_LEN bytes) and writes it; -EINVAL if too long. */
int tio_write_frame(int fd, const uint8_t *body, size_t len);

#endif
