/* SPDX-License-Identifier: MIT */
/*
 * adminc — admin socket client. See adminc.h.
 */
#include "adminc.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

static int connect_to(const char *path, int *out)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    /* A local connect either succeeds or fails at once (or EAGAIN when the
     * backlog is full, which we report as is). */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *out = fd;
    return 0;
}

static int send_line(int fd, const char *request, int64_t deadline)
{
    size_t n = strlen(request);
    char line[1026];
    if (n > 1023 || memchr(request, '\n', n) != NULL) {
        return -EINVAL;
    }
    memcpy(line, request, n);
    line[n++] = '\n';
    size_t off = 0;
    while (off < n) {
        int r = wait_fd(fd, POLLOUT, deadline);
        if (r < 0) {
            return r;
        }
        ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -errno;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Reads until the first newline (or EOF); the reply excludes the newline. */
static int read_line(int fd, int64_t deadline, char **reply)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return -ENOMEM;
    }
    for (;;) {
        int r = wait_fd(fd, POLLIN, deadline);
        if (r < 0) {
            free(buf);
            return r;
        }
        if (len + 1 >= cap) {
            if (cap >= ADMINC_REPLY_MAX + 1) {
                free(buf);
                return -EPROTO;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            int e = errno;
            free(buf);
            return -e;
        }
        char *nl = memchr(buf + len, '\n', (size_t)n);
        len += (size_t)n;
        if (nl != NULL) {
            *nl = '\0';
            *reply = buf;
            return 0;
        }
        if (n == 0) {
            free(buf);
            return -EPROTO;
        }
    }
}

int adminc_request(const char *path, const char *request, int timeout_ms, char **reply)
{
    int64_t deadline = mono_ms() + timeout_ms;
    int fd = -1;
    int r = connect_to(path, &fd);
    if (r < 0) {
        return r;
    }
    r = send_line(fd, request, deadline);
    if (r == 0) {
        r = read_line(fd, deadline, reply);
    }
    close(fd);
    return r;
}

int adminc_not_running(int err)
{
    return err == -ENOENT || err == -ECONNREFUSED || err == -ENOTDIR;
}
