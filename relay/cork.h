/* SPDX-License-Identifier: MIT */
/*
 * cork — control frames written once per loop turn (docs/design.md D49):
 * frames queued for a connection during one turn of the loop go out at the
 * end of it, all of that connection's in one writev, instead of one write
 * each. An OPEN makes a STREAM frame for each side's session; several OPENs
 * read at once (an agent opening many streams) made two writes each, now
 * one per session and turn.
 *
 * The frames are copied into one buffer the context owns (CORK_BYTES, at
 * most CORK_FRAMES frames), with a chain per connection in the struct
 * cork_q the connection embeds. They are written at the latest at the end
 * of the turn that queued them: a check handle runs after the turn's I/O
 * callbacks, a prepare handle before the loop would wait for I/O (frames
 * queued by timers or close callbacks), both started only while something is
 * queued. Order per connection is kept: frames go out in the order queued,
 * and the owner flushes a connection's frames (cork_flush_one) before it
 * writes to it any other way or shuts it down. When the buffer is full, a
 * frame goes out at once, after its connection's queued ones.
 *
 * The writes themselves are the owner's: cork hands its write callback the
 * connection's queue and the frames as buffers, in order (at most CORK_IOV
 * per call); the callback may close the connection and queue frames for
 * others (they go out in the same flush). Not thread-safe; one per loop.
 */
#ifndef LR_CORK_H
#define LR_CORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define CORK_BYTES  16384u /* bytes of frames queued in one turn, all connections */
#define CORK_FRAMES 256u   /* frames queued in one turn */
#define CORK_IOV    64u    /* buffers per write callback */

/* A connection's queued frames (embedded in its struct; all zero: none). */
struct cork_q {
    uint32_t head, tail; /* frame index + 1; 0: none */
    uint32_t slot;       /* index + 1 in the context's dirty list; 0: none queued */
};

/* Writes n buffers (in order) for the connection of q. */
typedef void (*cork_write_fn)(void *arg, struct cork_q *q, const uv_buf_t *bufs, unsigned n);

struct cork_frame {
    uint32_t off, len, next; /* next: frame index + 1 of the connection's next frame */
};

struct cork {
    uv_check_t check;     /* after the turn's I/O callbacks */
    uv_prepare_t prepare; /* before the loop waits: frames from timers and closes */
    bool ready;           /* cork_init succeeded and cork_close not called */
    bool active;          /* the handles are started */
    cork_write_fn write;
    void *arg;
    uint8_t *buf; /* CORK_BYTES */
    size_t used;
    struct cork_frame frame[CORK_FRAMES];
    size_t n_frames;
    struct cork_q *dirty[CORK_FRAMES]; /* queues with frames, first queued first; NULL: dropped */
    size_t n_dirty;
    uint64_t frames, writes; /* frames queued or written at once, write callbacks made */
};

/* Ready to queue for loop; write does the writes, with arg. 0 or -ENOMEM
 * (then cork_add writes every frame at once, uncorked). */
int cork_init(struct cork *k, uv_loop_t *loop, cork_write_fn write, void *arg);
/* Queues len bytes for q's connection (copied), to be written at the end of
 * this turn; or writes them at once (after q's queued frames) when the
 * buffer is full or the cork is not ready. */
void cork_add(struct cork *k, struct cork_q *q, const void *data, size_t len);
/* Writes q's queued frames now (the owner is about to write or shut down
 * the connection another way). Nothing when none are queued. */
void cork_flush_one(struct cork *k, struct cork_q *q);
/* Forgets q's queued frames (its connection closes). */
void cork_drop(struct cork *k, struct cork_q *q);
/* Writes every queued frame: what the handles call at the end of a turn. */
void cork_flush(struct cork *k);
/* Writes what is queued, closes the handles and frees the buffer; from then
 * on cork_add writes at once. Safe on a cork never initialized. */
void cork_close(struct cork *k);

#endif
