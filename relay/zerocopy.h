/* SPDX-License-Identifier: MIT */
/*
 * zerocopy — a stream's forwarding with splice(2) through two kernel pipes
 * (docs/design.md D14, docs/internals/relay.md): direction i moves bytes
 * from leg i through pipe i into leg 1 - i without copying them into the
 * relay, each leg's socket driven by a uv_poll_t instead of libuv's stream
 * API (whose reading is stopped and whose write queue is empty from the
 * start on).
 *
 * A struct zerocopy is owned by its stream (stream.c) from zerocopy_start to
 * zerocopy_close; the memory is freed once both poll handles are closed. The
 * legs' uv_tcp_t keep owning their sockets (and close them). zerocopy calls
 * its owner back through struct zerocopy_ops and never closes a connection:
 * on an error it says so (on_error) and the owner ends the stream, which
 * calls zerocopy_close before the legs' sockets are closed. Nothing here is
 * touched after on_error or on_event returned having closed it.
 */
#ifndef LR_ZEROCOPY_H
#define LR_ZEROCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "relaycfg.h"
#include "stats.h"

/* A read at least this big, or this many bytes in one direction, mark a
 * stream as bulk, which moves it to splice(2) (the owner decides). */
#define ZEROCOPY_PROMOTE       (64u * 1024u)
#define ZEROCOPY_PROMOTE_BYTES (1024u * 1024u)

/* A direction starts (D47): until its reader's leg has taken
 * ZEROCOPY_START_BYTES, one splice from its source moves at most
 * ZEROCOPY_START_SPLICE, and its reader's leg keeps at most
 * ZEROCOPY_START_LOWAT unsent (TCP_NOTSENT_LOWAT) plus one segment, so a
 * reader that never reads costs small socket buffers on both legs instead of
 * the autotuned ones (tcp_rmem, tcp_wmem). */
#define ZEROCOPY_START_BYTES  (4u * 1024u * 1024u)
#define ZEROCOPY_START_SPLICE (256u * 1024u)
#define ZEROCOPY_START_LOWAT  (256u * 1024u)

/* The relay's zero-copy slots: owned by struct relay. */
struct zerocopy_ctx {
    uv_loop_t *loop;
    const struct relaycfg_limits *lim; /* zero_copy_buffer; updated on SIGHUP */
    struct stats *stats;               /* zc_total, zc_queued */
    uint32_t reserved;                 /* streams whose pipe fds were reserved at start */
    uint32_t max;                      /* zero_copy_streams in effect (<= reserved) */
    uint32_t streams;                  /* streams forwarding with splice(2) now */
    bool small_logged;                 /* warned once that pipes come out small or not at all */
};

/* The owner's side (arg: the owner's pointer given to zerocopy_start). */
struct zerocopy_ops {
    /* Bytes leg src may read now, at most want (a bandwidth limit, D28, and
     * a byte quota, D29); 0: src is not read until zerocopy_release(src). */
    size_t (*budget)(void *arg, int src, size_t want);
    /* n bytes went from leg src into its pipe; n == 0: leg src read EOF.
     * Returns 0, or a negative errno that ends the stream: it reaches
     * on_error and the bytes stay in the pipe (a byte quota, D29). */
    int (*on_read)(void *arg, int src, size_t n);
    /* Leg dst's write side was shut down (after leg 1 - dst's EOF and every
     * byte before it). */
    void (*on_shutdown)(void *arg, int dst);
    /* A leg failed (negative errno, or libuv's UV_E*): the owner ends the
     * stream (zerocopy_close) before it returns. */
    void (*on_error)(void *arg, int err);
    /* An event was handled: the owner may see whether the stream is done
     * (and close it). */
    void (*on_event)(void *arg);
};

struct zerocopy;

/*
 * Moves a stream's two legs to splice(2): opens two pipes of
 * zero_copy_buffer (halving while the kernel refuses, down to 256 KiB),
 * stops libuv's reading on both legs and polls their sockets. eof[i]: leg i
 * read EOF already; shut[i]: leg i's write side is shut down already. id is
 * the stream's, for logs. 0 with *out; -EBUSY when every slot is taken
 * (nothing changed); any other error: the stream should copy for good, and
 * reading may have been stopped on the legs (the caller restarts it on those
 * without EOF).
 */
int zerocopy_start(struct zerocopy_ctx *zx, uv_tcp_t *leg[2], const bool eof[2], const bool shut[2],
                   const struct zerocopy_ops *ops, void *arg, uint64_t id, struct zerocopy **out);
/* Bytes for leg i that the kernel has not taken yet (in pipe 1 - i). */
size_t zerocopy_pending(const struct zerocopy *z, int i);
/* Leg src, held by a budget of 0, may be read again. */
void zerocopy_release(struct zerocopy *z, int src);
/* Drops the pipes (and what they hold) and closes both poll handles; before
 * the legs' sockets are closed. z is not used after; NULL is fine. */
void zerocopy_close(struct zerocopy *z);

#endif
