/* SPDX-License-Identifier: MIT */
#include "takeover.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

int takeover_send(int fd, const char *text, size_t len, const int *fds, size_t n)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * TAKEOVER_MAX_FDS)];
    } cm;
    struct iovec iov = {(void *)(uintptr_t)text, len};
    struct msghdr mh;
    struct cmsghdr *c;
    ssize_t w;

    if (n == 0 || n > TAKEOVER_MAX_FDS)
        return -EINVAL;
    memset(&mh, 0, sizeof(mh));
    memset(&cm, 0, sizeof(cm));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    do
        w = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return -errno;
    return (size_t)w == len ? 0 : -EAGAIN;
}

/* Takes the fds of every SCM_RIGHTS message in mh into fds (closing those
 * past cap); -EPROTO when there were more than cap. */
static int takeover_take_fds(struct msghdr *mh, int *fds, size_t cap, size_t *n)
{
    int rc = 0;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        size_t k;
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*n < cap)
                fds[(*n)++] = fd;
            else {
                close(fd);
                rc = -EPROTO;
            }
        }
    }
    if (mh->msg_flags & MSG_CTRUNC)
        rc = -EPROTO;
    return rc;
}

/* Reads the reply line and the fds that come with it. */
static int takeover_read(int s, char *line, size_t cap, int *fds, size_t fcap, size_t *n)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * TAKEOVER_MAX_FDS)];
    } cm;
    size_t len = 0;
    int rc = 0;

    while (len < cap - 1 && memchr(line, '\n', len) == NULL) {
        struct iovec iov = {line + len, cap - 1 - len};
        struct msghdr mh;
        ssize_t r;

        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cm.buf;
        mh.msg_controllen = sizeof(cm.buf);
        r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        if (takeover_take_fds(&mh, fds, fcap, n) != 0)
            rc = -EPROTO;
        if (r == 0)
            break;
        len += (size_t)r;
    }
    line[len] = '\0';
    if (rc == 0 && memchr(line, '\n', len) == NULL)
        rc = -EPROTO;
    return rc;
}

static int takeover_connect(const char *path)
{
    struct sockaddr_un sun;
    struct timeval tv = {TAKEOVER_TIMEOUT_MS / 1000, (TAKEOVER_TIMEOUT_MS % 1000) * 1000};
    int s;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(s, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        int e = -errno;
        close(s);
        return e;
    }
    return s;
}

int takeover_confirm(int conn)
{
    static const char ready[] = "ready\n";
    char buf[64];
    ssize_t r;
    int rc = write(conn, ready, sizeof(ready) - 1) == (ssize_t)(sizeof(ready) - 1) ? 0 : -errno;

    /* The predecessor closes the connection once it has let go of the
     * admin path (its file is gone then): wait for that, bounded by the
     * socket's receive timeout. */
    while (rc == 0 && ((r = read(conn, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)))
        ;
    if (rc == 0 && r < 0)
        rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
    close(conn);
    return rc;
}

int takeover_fetch(const char *path, int *fds, size_t cap, size_t *n, int *conn, char *err,
                   size_t errlen)
{
    static const char req[] = "takeover\n";
    char line[TAKEOVER_REPLY_MAX];
    json_t *v = NULL;
    json_int_t want = -1;
    size_t got = 0;
    int s = takeover_connect(path), rc;

    if (s < 0) {
        snprintf(err, errlen, "no relay answers on the admin socket %s (%s): nothing to take over",
                 path, strerror(-s));
        return s;
    }
    rc = write(s, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1) ? 0 : -EIO;
    if (rc == 0)
        rc = takeover_read(s, line, sizeof(line), fds, cap, &got);
    if (rc == 0)
        v = json_loads(line, JSON_DECODE_ANY, NULL);
    if (v != NULL && json_is_string(json_object_get(v, "error"))) {
        snprintf(err, errlen, "the running relay refused: %s",
                 json_string_value(json_object_get(v, "error")));
        rc = -EPERM;
    } else if (v != NULL) {
        want = json_integer_value(json_object_get(v, "listeners"));
    }
    if (rc == 0 && (v == NULL || want < 1 || (size_t)want != got)) {
        snprintf(err, errlen, "malformed reply from the running relay (%zu sockets)", got);
        rc = -EPROTO;
    } else if (rc != 0 && v == NULL) {
        snprintf(err, errlen, "no reply from the running relay: %s", strerror(-rc));
    }
    json_decref(v);
    if (rc != 0) {
        for (size_t i = 0; i < got; i++)
            close(fds[i]);
        close(s);
        return rc;
    }
    *n = got;
    *conn = s;
    return 0;
}
