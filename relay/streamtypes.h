/* SPDX-License-Identifier: MIT */
/*
 * streamtypes — the stream module's private structs (stream.c, which alone
 * includes this header): a stream's state and its two legs' splice state.
 * See relay/stream.h for who owns what.
 */
#ifndef LR_RELAY_STREAMTYPES_H
#define LR_RELAY_STREAMTYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "holdcap.h"
#include "relay/stream.h"

enum stream_state {
    STREAM_PENDING = 0, /* tickets out, legs arriving */
    STREAM_SPLICED,     /* both legs present, forwarding */
    STREAM_DONE,        /* finished, timer closing */
};

/* A leg's splice state as a source and as a destination; c->owner of the
 * leg's connection while attached. */
struct stream_leg {
    struct stream *s;
    struct conn *c;   /* NULL until it arrives, and once detached */
    int side;         /* 0 = side a, 1 = side b */
    bool read_paused; /* stopped for backpressure */
    bool rate_held;   /* stopped for a bandwidth limit, waiting in shape (D28) */
    bool rate_capped; /* the last read was cut by a limit's share: yield */
    struct shape_waiter wait;
    struct holdcap_dir hold; /* bytes read from this leg held for the other (D40) */
    bool read_eof;           /* EOF read from this leg */
    bool shut_sent;          /* shutdown issued on this leg (other leg hit EOF) */
    bool shut_done;          /* that shutdown completed */
    uint64_t last_written;   /* bytes written to this leg at the last stall check */
    uint64_t last_progress_ms;
};

struct stream {
    struct stream *prev, *next; /* the link's list */
    struct stream_ctx *sx;
    struct index_link *link;
    uint64_t id;
    uint32_t req_id;
    int opener;
    stream_expired_cb expired;
    enum stream_state state;
    uint8_t ticket[2][TICKET_LEN];
    bool in_table[2]; /* ticket i is still in the ticket table */
    struct stream_leg leg[2];
    uv_timer_t timer; /* expiry while pending, then the stall/half-close tick */
    uint64_t created_ms, created_wall, paired_ms, last_rx_ms;
    uint64_t bytes[2];        /* bytes read from leg i (forwarded to leg 1-i) */
    uint64_t queued_total[2]; /* bytes ever queued for writing to leg i */
    struct zerocopy *zc;      /* zero-copy forwarding once promoted, or NULL */
    bool bulk;                /* ZEROCOPY_PROMOTE(_BYTES) reached */
    bool zc_failed;           /* making pipes or poll handles failed: copy */
    bool resume;              /* made for a RESUME (§7.3): counted apart */
    bool quota_hit;           /* a zero-copy read took the link past its quota */
};

#endif
