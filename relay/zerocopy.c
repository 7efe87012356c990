/* SPDX-License-Identifier: MIT */
#include "zerocopy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "log.h"

/* The smallest pipe worth splicing through (D14: 64 KiB splices cost more
 * CPU than copying). */
#define ZEROCOPY_PIPE_MIN (256u * 1024u)
/* Reads (splice into the pipe, then out of it) per leg per poll event, like
 * libuv's 32 reads per event, so one busy leg cannot hold the loop. */
#define ZEROCOPY_ROUNDS 16

struct zerocopy {
    struct zerocopy_ctx *zx;
    const struct zerocopy_ops *ops;
    void *arg; /* the owner; NULL once closed */
    uv_poll_t poll[2];
    int fd[2];         /* leg i's socket (owned by its uv_tcp_t) */
    int pipe_r[2];     /* direction i's pipe, read end */
    int pipe_w[2];     /* and write end */
    size_t cap[2];     /* bytes one splice into pipe i may move */
    size_t inpipe[2];  /* bytes in pipe i, waiting for leg 1 - i */
    int events[2];     /* poll events asked for on leg i */
    bool eof[2];       /* EOF read from leg i */
    bool shut[2];      /* leg i's write side shut down */
    bool full[2];      /* leg i's socket took less than offered: wait for writable */
    bool pipe_full[2]; /* pipe i took nothing more: read leg i after it drains */
    bool held[2];      /* leg i had a budget of 0: not read until zerocopy_release */
    uint64_t taken[2]; /* bytes spliced from pipe i into leg 1 - i, up to ZEROCOPY_START_BYTES */
    int handles;       /* poll handles not yet closed */
};

static void zerocopy_free_cb(uv_handle_t *h)
{
    struct zerocopy *z = h->data;

    if (--z->handles == 0)
        free(z);
}

static void zerocopy_close_pipes(struct zerocopy *z)
{
    for (int i = 0; i < 2; i++) {
        if (z->pipe_r[i] >= 0)
            close(z->pipe_r[i]);
        if (z->pipe_w[i] >= 0)
            close(z->pipe_w[i]);
        z->pipe_r[i] = z->pipe_w[i] = -1;
    }
}

void zerocopy_close(struct zerocopy *z)
{
    if (z == NULL)
        return;
    z->zx->stats->zc_queued -= z->inpipe[0] + z->inpipe[1];
    z->arg = NULL;
    z->zx->streams--;
    zerocopy_close_pipes(z);
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&z->poll[i], zerocopy_free_cb);
}

/* For the write-stall timer: a pipe's contents are what the kernel has not
 * taken yet (the copying path's counterpart is libuv's write queue size). */
size_t zerocopy_pending(const struct zerocopy *z, int i)
{
    return z->inpipe[1 - i];
}

/* Two pipes sized to zero_copy_buffer (the kernel may round up; a direction
 * holds at most zero_copy_buffer). A pipe the kernel will not make that big
 * (over fs.pipe-max-size without CAP_SYS_RESOURCE, or over the user's pipe
 * quota, fs.pipe-user-pages-soft) is used at what it got, if that is at
 * least ZEROCOPY_PIPE_MIN: smaller splices cost more than copying (D14).
 * 0, -ENOBUFS (too small) or -errno; nothing left open on failure. */
static int zerocopy_pipes(struct zerocopy_ctx *zx, struct zerocopy *z)
{
    uint32_t want = zx->lim->zero_copy_buffer;

    for (int i = 0; i < 2; i++) {
        int p[2], sz;
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
            int rc = -errno;
            zerocopy_close_pipes(z);
            return rc;
        }
        z->pipe_r[i] = p[0];
        z->pipe_w[i] = p[1];
        /* The largest size the kernel grants, halving from want. */
        for (uint32_t try_sz = want; try_sz >= ZEROCOPY_PIPE_MIN; try_sz /= 2)
            if (fcntl(p[1], F_SETPIPE_SZ, (int)try_sz) >= 0)
                break;
        sz = fcntl(p[1], F_GETPIPE_SZ);
        if (sz < (int)ZEROCOPY_PIPE_MIN) {
            zerocopy_close_pipes(z);
            return -ENOBUFS;
        }
        z->cap[i] = (uint32_t)sz < want ? (size_t)sz : want;
        if ((uint32_t)sz < want && !zx->small_logged) {
            zx->small_logged = true;
            log_warnx("zero-copy pipes get %d KiB, not zero_copy_buffer %" PRIu32
                      " KiB (fs.pipe-max-size, or the user's pipe quota)",
                      sz / 1024, want / 1024);
        }
    }
    return 0;
}

/* TCP_NOTSENT_LOWAT on leg i's socket; 0 puts back the system's default
 * (net.ipv4.tcp_notsent_lowat). A failure only loses the bound (D47). */
static void zerocopy_lowat(struct zerocopy *z, int i, int lowat)
{
    if (setsockopt(z->fd[i], IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) != 0)
        log_debug("zero-copy: TCP_NOTSENT_LOWAT %d: %s", lowat, strerror(errno));
}

/* n more bytes of direction src went into leg 1 - src: the direction's start
 * (D47) ends once ZEROCOPY_START_BYTES went, its reader having taken all but
 * at most ZEROCOPY_START_LOWAT and a segment of them; the reader's leg then
 * queues what the kernel lets it, like any socket. */
static void zerocopy_started(struct zerocopy *z, int src, size_t n)
{
    if (z->taken[src] >= ZEROCOPY_START_BYTES)
        return;
    z->taken[src] += n;
    if (z->taken[src] >= ZEROCOPY_START_BYTES)
        zerocopy_lowat(z, 1 - src, 0);
}

/* Moves pipe src into leg 1 - src until it is empty or the socket is full;
 * shuts that leg's write side once leg src's EOF and every byte before it
 * have gone through. 0 or a negative errno (the stream must be aborted). */
static int zerocopy_flush(struct zerocopy *z, int src)
{
    int dst = 1 - src;

    while (z->inpipe[src] > 0 && !z->full[dst]) {
        size_t want = z->inpipe[src];
        ssize_t n =
            splice(z->pipe_r[src], NULL, z->fd[dst], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        if (n > 0) {
            z->inpipe[src] -= (size_t)n;
            z->zx->stats->zc_queued -= (uint64_t)n;
            z->pipe_full[src] = false;
            zerocopy_started(z, src, (size_t)n);
        }
        if (n < 0 || (size_t)n < want)
            z->full[dst] = true; /* wait until it is writable */
    }
    if (z->inpipe[src] == 0 && z->eof[src] && !z->shut[dst]) {
        z->shut[dst] = true;
        if (shutdown(z->fd[dst], SHUT_WR) != 0)
            return -errno;
        z->ops->on_shutdown(z->arg, dst);
    }
    return 0;
}

/* Reads leg src into its pipe and on into the other leg, a bounded number of
 * rounds. A direction reads while its pipe holds less than zero_copy_buffer, so
 * the source keeps flowing while the other leg catches up and at most
 * zero_copy_buffer waits per direction (D14). 0 or a negative errno. */
static int zerocopy_pump(struct zerocopy *z, int src)
{
    for (int round = 0; round < ZEROCOPY_ROUNDS; round++) {
        ssize_t n;
        size_t want, len;
        int rc = zerocopy_flush(z, src);
        if (rc != 0 || z->inpipe[src] >= z->cap[src] || z->pipe_full[src] || z->eof[src])
            return rc;
        want = z->cap[src] - z->inpipe[src];
        /* Small splices while the direction starts (D47): one big splice
         * lets the kernel's autotuning grow the source's receive buffer
         * (and window) as if the reader took that much. */
        if (z->taken[src] < ZEROCOPY_START_BYTES && want > ZEROCOPY_START_SPLICE)
            want = ZEROCOPY_START_SPLICE;
        /* A bandwidth limit caps the splice to the bytes it allows (D28). */
        len = z->ops->budget(z->arg, src, want);
        if (len == 0) {
            z->held[src] = true;
            return 0;
        }
        n = splice(z->fd[src], NULL, z->pipe_w[src], NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            /* Nothing to read, or the pipe has no free slot left (small
             * segments fill its slots before splice_buffer bytes): the
             * socket may still be readable, so stop watching it until the
             * pipe has drained a little, or level-triggered epoll spins. */
            z->pipe_full[src] = z->inpipe[src] > 0;
            return 0;
        }
        if (n < 0)
            return -errno;
        rc = z->ops->on_read(z->arg, src, (size_t)n);
        if (rc != 0) {
            /* Counted as read, not forwarded: the pipe's byte count takes
             * them so the close accounts the pipe right. */
            z->inpipe[src] += (size_t)n;
            stats_hold(&z->zx->stats->zc_queued, &z->zx->stats->zc_queued_peak, (uint64_t)n);
            return rc;
        }
        if (n == 0) {
            z->eof[src] = true;
            return zerocopy_flush(z, src);
        }
        z->inpipe[src] += (size_t)n;
        stats_hold(&z->zx->stats->zc_queued, &z->zx->stats->zc_queued_peak, (uint64_t)n);
        if (len < want)
            return 0; /* limited: the other streams of the bucket get a turn */
    }
    return 0;
}

static void zerocopy_io(uv_poll_t *h, int status, int events);

/* Asks each leg's poll handle for what its directions wait on: readable while
 * its own pipe has room and no EOF was read, writable while the other leg's
 * pipe holds bytes for it (also when the last round of zerocopy_pump filled
 * the pipe without trying to empty it). */
static void zerocopy_watch(struct zerocopy *z)
{
    for (int i = 0; i < 2; i++) {
        int ev = 0;
        if (z->inpipe[i] < z->cap[i] && !z->pipe_full[i] && !z->eof[i] && !z->held[i])
            ev |= UV_READABLE;
        if (z->inpipe[1 - i] > 0)
            ev |= UV_WRITABLE;
        if (ev == z->events[i])
            continue;
        z->events[i] = ev;
        if (ev == 0)
            uv_poll_stop(&z->poll[i]);
        else
            uv_poll_start(&z->poll[i], ev, zerocopy_io);
    }
}

/* The error a socket reported with POLLERR (libuv then says UV_EBADF). */
static int zerocopy_sockerr(int fd, int status)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
        return -err;
    return status;
}

void zerocopy_release(struct zerocopy *z, int src)
{
    if (z->arg == NULL || !z->held[src])
        return;
    z->held[src] = false;
    zerocopy_watch(z);
}

static void zerocopy_io(uv_poll_t *h, int status, int events)
{
    struct zerocopy *z = h->data;
    int leg = h == &z->poll[0] ? 0 : 1, rc = 0;

    if (z->arg == NULL)
        return;
    if (status < 0) {
        z->events[leg] = 0; /* libuv stopped the handle */
        z->ops->on_error(z->arg, zerocopy_sockerr(z->fd[leg], status));
        return;
    }
    if (events & UV_WRITABLE) {
        z->full[leg] = false;
        rc = zerocopy_flush(z, 1 - leg);
    }
    if (rc == 0 && (events & UV_READABLE))
        rc = zerocopy_pump(z, leg);
    if (rc != 0) {
        z->ops->on_error(z->arg, rc);
        return;
    }
    zerocopy_watch(z);
    z->ops->on_event(z->arg);
}

/* A start that failed after inited poll handles were set up. */
static void zerocopy_undo(struct zerocopy *z, int inited)
{
    zerocopy_close_pipes(z);
    z->handles = inited;
    for (int i = 0; i < inited; i++)
        uv_close((uv_handle_t *)&z->poll[i], zerocopy_free_cb);
    if (inited == 0)
        free(z);
}

int zerocopy_start(struct zerocopy_ctx *zx, uv_tcp_t *leg[2], const bool eof[2], const bool shut[2],
                   const struct zerocopy_ops *ops, void *arg, uint64_t id, struct zerocopy **out)
{
    struct zerocopy *z;
    int rc = 0, inited = 0;

    if (zx->streams >= zx->max)
        return -EBUSY;
    z = calloc(1, sizeof(*z));
    if (z == NULL)
        return -ENOMEM;
    for (int i = 0; i < 2; i++)
        z->pipe_r[i] = z->pipe_w[i] = -1;
    rc = zerocopy_pipes(zx, z);
    if (rc != 0) {
        if (!zx->small_logged) {
            zx->small_logged = true;
            log_warnx("zero-copy: %s; such streams keep copying (logged once)",
                      rc == -ENOBUFS ? "the kernel gives pipes under 256 KiB" : strerror(-rc));
        }
        free(z);
        return rc;
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        uv_os_fd_t fd;
        uv_read_stop((uv_stream_t *)leg[i]);
        rc = uv_fileno((uv_handle_t *)leg[i], &fd);
        if (rc == 0)
            rc = uv_poll_init(zx->loop, &z->poll[i], fd);
        if (rc == 0) {
            z->fd[i] = fd;
            z->poll[i].data = z;
            inited++;
        }
    }
    if (rc != 0) {
        log_debug("stream %" PRIu64 ": no zero-copy: %s", id, uv_strerror(rc));
        zerocopy_undo(z, inited);
        return rc;
    }
    for (int i = 0; i < 2; i++) {
        z->eof[i] = eof[i];
        z->shut[i] = shut[i];
        /* Leg i is the reader of direction 1 - i, starting now (D47). */
        if (!shut[i])
            zerocopy_lowat(z, i, (int)ZEROCOPY_START_LOWAT);
    }
    z->zx = zx;
    z->ops = ops;
    z->arg = arg;
    z->handles = 2;
    zx->streams++;
    zx->stats->zc_total++;
    zerocopy_watch(z);
    *out = z;
    return 0;
}
