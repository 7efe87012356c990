/* SPDX-License-Identifier: MIT */
/*
 * stream — one end-to-end stream inside linkagent (docs/protocol.md §6, §7,
 * §11 "Stream, agent side"): a local TCP connection, a stream leg to the
 * relay, and the e2e session (common/e2e.h) between them.
 *
 * Lifecycle: created for an owner (a link, agent/link.c: an accepted local
 * connection, the peer's STREAM for the connect side, or the immediate
 * policy's cable), closed through one idempotent path that logs the cause
 * once (stream_end in stream.c: clean, reset, or flush-then-close after a
 * RESET record; stream_close and stream_abort below are the owner's ways in)
 * and freed in the last close callback. When the stream starts closing it leaves its owner's list
 * and the owner is told once (stream_ops.gone); the stream never touches the
 * struct stream_owner after that. This module names nothing of its owner: it
 * reads the struct stream_owner and calls back through its stream_ops.
 *
 * The data path (the local socket, the leg, the e2e session between them,
 * backpressure and half-close) is agent/pump.c, embedded as struct pump; this
 * module owns the stream's lifecycle around it: OPEN and its refusals, the
 * STREAM, dialling the leg (and the local target), the setup deadline, the
 * leg's liveness check, and closing.
 */
#ifndef LR_AGENT_STREAM_H
#define LR_AGENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "agentcfg.h"
#include "backoff.h"
#include "e2e.h"
#include "live.h"
#include "msg.h"
#include "pump.h"
#include "streamkeep.h"
#include "streamlog.h"

struct stream;

/* A per-stream line, aggregated per link and message (streamlog.h). */
#define stream_log(st, level, ...)                                                                 \
    streamlog_say((st)->env->log, (level), (st)->name, (st)->id, __VA_ARGS__)

/*
 * What every stream shares, agent-wide (the agent owns it and keeps it
 * current across reloads; it outlives every stream).
 */
struct stream_env {
    uv_loop_t *loop;
    uint8_t *rbuf; /* the one local read buffer (sealed inside the read callback) */
    size_t rbuf_len;
    struct streamlog *log; /* per-stream failure lines */
    uint32_t open_queue;   /* connections held per link (OPEN_FAIL rate_limited) */
    uint32_t open_wait_ms; /* how long one is held at most */
    uint32_t ids;          /* the last stream number handed out (log lines) */
    /* Resumption (docs/protocol.md §7.3): 0 turns it off for new streams. */
    uint32_t resume_timeout_ms;
    uint64_t resume_buffer;                           /* per stream */
    uint64_t resume_total_cap;                        /* all streams */
    uint64_t resume_held;                             /* bytes held for replay, all streams */
    uint64_t resumed, resume_unknown, resume_expired; /* counters */
    /* Resumed legs refused (§7.3), by the HELLO's fault: enum stream_refusal. */
    uint64_t resume_refused[2];
    /* Finished streams kept to answer a resume (agent/streamfin.h; each
     * costs STREAMFIN_COST in resume_held), and those answered. */
    uint64_t fins_kept, resume_finished;
    /* STREAM_ACKs (agent/streamack.h, D43): enum streamack_count. */
    uint64_t acks[4];

    /* Record suites offered (common/suite.h, linkagent.conf `cipher`, D37;
     * SUITE_OFFER_KEEP_LEG when keep_legs is not 0). */
    unsigned suites;
    /* Kept legs (agent/streamkeep.h, D48): idle initiator legs per link at
     * most (0: off), and how long one is kept idle. */
    uint32_t keep_legs, keep_idle_ms;
};

/* Why a resumed leg was refused: its HELLO fails its MAC (tampered, or
 * another stream's or link's), or it is the peer's of an earlier epoch
 * (an old leg replayed). Names: "bad_hello", "old_epoch". */
enum stream_refusal { STREAM_REFUSED_BAD_HELLO = 0, STREAM_REFUSED_OLD_EPOCH = 1 };

/* The owner's callbacks. */
struct stream_ops {
    /* A new request id (non-zero) and an OPEN for it; -ENOTCONN if the
     * control session is not up. */
    int (*send_open)(void *arg, uint32_t *req_id);
    /* A new request id and a RESUME for it (§7.3); -ENOTCONN if the
     * control session is not up or the relay did not say RESUMABLE. */
    int (*send_resume)(void *arg, const uint8_t id[MSG_RESUME_ID_LEN], uint32_t *req_id);
    /* LEG_LOST for that leg (§7.3), once per control session: *told_on
     * names the session it went on (nothing sent if it is the current one);
     * -ENOTCONN as for send_resume. */
    int (*send_leg_lost)(void *arg, uint64_t stream_id, const uint8_t ticket[MSG_TICKET_LEN],
                         uint64_t *told_on);
    /* STREAM_ACK on the control session (D43); -ENOTCONN if it is not up. */
    int (*send_stream_ack)(void *arg, const struct msg_stream_ack *a);
    /* The stream is closing and has left the owner's list (the owner re-arms
     * the cable if it was one). Called once; the stream's last word. */
    void (*gone)(void *arg, struct stream *st);
};

/*
 * The owner's side of its streams: embedded in the owner, which fills the
 * first fields and keeps the relay's address and the leg timers current. The
 * list and the counts are this module's; the owner may read them. Valid
 * until the owner's last stream has closed (stream_abort them all first).
 */
struct stream_owner {
    const struct stream_ops *ops;
    void *arg;
    struct stream_env *env;
    const struct agentcfg_link *cfg; /* name, keys, the connect target */
    uint8_t peer_live[KEY_LEN];      /* the peer's key as the relay told it */
    bool has_peer_live;              /* (PEER_KEY); else cfg->peer_pub */
    /* The KK handshakes' static-static DH (noise_hs_set_ss, D45), for the
     * keys ss_pub (ours) and ss_peer; recomputed when either changes. */
    uint8_t ss[KEY_LEN], ss_pub[KEY_LEN], ss_peer[KEY_LEN];
    bool has_ss;
    /* The link's sessions (common/e2els.h, D46): wiped with the keys (as
     * ss), when either control session changes (link.c) and with the owner. */
    struct e2els_store ls;
    struct sockaddr_storage relay_sa;       /* where the control session is connected */
    uint32_t leg_keepalive_ms, leg_dead_ms; /* the session's timers, for stream legs */
    struct stream *streams;                 /* the owner's streams */
    size_t n_streams;
    uint32_t n_held; /* connections held after OPEN_FAIL rate_limited */
    uint64_t opened; /* streams made since the owner began (its metrics) */
    /* Finished streams kept for a resume, oldest first (agent/streamfin.h). */
    struct streamfin *fins, *fins_tail;
    size_t n_fins;
    /* Idle kept legs and their counters (agent/streamkeep.h, D48). */
    struct streamkeep_list keep;
};

#define STREAM_SETUP_MS       15000u /* OPEN → STREAM → SPLICED → handshake (and local dial) */
#define STREAM_KEPT_ANSWER_MS 3000u  /* the answer on a kept leg; then a new leg (D48) */
#define STREAM_FLUSH_MS       2000u  /* a RESET record's flush to the leg, at most; then RST */

/* Pacing of a held connection's OPENs (OPEN_FAIL rate_limited), within
 * open_wait, and of a refused leg's redials, within the ticket's expiry: the
 * stream's struct backoff (agent/backoff.h) from STREAM_RETRY_MIN_MS doubling
 * to STREAM_RETRY_MAX_MS, each delay drawn between half and all of the step
 * (2..4 ms up to 128..256 ms). The relay refills one OPEN per
 * 1/open_rate_per_link s (0.2 ms at the default 5000/s, behind a burst of
 * 10000), and OPEN_FAIL carries no hint (its body is fixed, §5). */
#define STREAM_RETRY_MIN_MS 4u
#define STREAM_RETRY_MAX_MS 256u

enum stream_state {
    STREAM_OPENING, /* OPEN sent, waiting for STREAM */
    STREAM_HELD,    /* refused rate_limited: local connection held, OPEN again later */
    STREAM_SETUP,   /* leg (and local target) dialling, splice, handshake */
    STREAM_REDIAL,  /* the relay closed the leg before it carried a byte: local
                     connection held, the leg dialled again with the same
                     ticket later (within the ticket's expiry) */
    STREAM_RUNNING,
    STREAM_SUSPENDED, /* resumable, its leg lost: local connection kept, a new
                         leg asked for (initiator) or awaited (§7.3) */
    STREAM_RESUMING,  /* RESUMED came: the new leg is dialled, resume HELLO */
    STREAM_CLOSING,
};

struct stream {
    struct stream_owner *own; /* NULL once closing */
    struct stream_env *env;   /* outlives the stream (log aggregation) */
    uv_loop_t *loop;
    struct stream *prev, *next; /* the owner's list */
    uint32_t id;                /* for logs */
    char name[48];              /* link name, for logs after detaching */
    uint32_t req_id;
    uint64_t stream_id;
    uint64_t open_since_ms;   /* first OPEN (open_wait counts from here) */
    uint32_t open_tries;      /* OPENs refused rate_limited so far */
    struct backoff retry;     /* held OPENs', then refused legs' delays */
    uint64_t ticket_until_ms; /* STREAM's expires_ms from its arrival: redials stop here */
    uint32_t ticket_ms;       /* that expires_ms, for logs */
    uint64_t setup_until_ms;  /* STREAM + STREAM_SETUP_MS: the setup deadline */
    uint32_t leg_tries;       /* legs the relay closed before they carried a byte */
    bool reopened;            /* OPENed again after "no such stream" (once at most) */
    bool held;                /* counted in the owner's n_held */
    enum e2e_role role;
    bool cable; /* the immediate policy's permanent stream */
    enum stream_state state;
    bool wait_peer; /* OPENING: refused peer_offline while both sides moved
                       after GOING_AWAY; link.c OPENs again at PEER online (D25) */
    struct pump io; /* the sockets and the session; .e2e is ours (freed with the stream) */
    uv_connect_t local_creq, leg_creq;
    uv_getaddrinfo_t gai;
    uv_timer_t timer; /* setup deadline; then the leg check; closing: flush deadline */
    int refs;
    uint32_t keepalive_ms, dead_ms; /* the session's, for the leg (0: unknown) */
    struct live_ack ack;
    bool local_inited, leg_inited, gai_pending;
    bool leg_dropping; /* a refused leg is closing: the next is dialled after its close callback */
    uint8_t ticket[MSG_TICKET_LEN];
    /* Resumption: the RESUME waiting for an answer (0: none), when it went,
     * its epoch; the resume_timeout deadline; refused HELLOs counted. */
    uint32_t resume_req, resume_epoch;
    uint64_t resume_asked_ms, resume_until_ms, refused_seen, old_seen;
    /* The relay's stream id and our ticket of the current leg (STREAM or
     * RESUMED; kept once spent); the lost leg's id until a RESUMED (0:
     * none), told once per control session (lost_told: the owner's count). */
    uint64_t leg_id, lost_id, lost_told;
    uint8_t leg_ticket[MSG_TICKET_LEN];
    /* A finished stream revived from its kept state (stream_revive): no
     * local connection; kept again until fin_until_ms when its leg ends. */
    bool revived;
    uint64_t fin_until_ms;
    /* Kept legs (D48): this stream runs on a kept leg; it fell back to an
     * OPEN once because that leg ended before the answer. */
    bool kept_leg, kept_fallback;
    /* The owner's link-session generation when this leg began (D46's
     * e2els_store.gen): a leg of an older one (another relay after
     * GOING_AWAY, a reconnect, a key or peer change) is not kept. */
    uint32_t leg_gen;
};

/* An accepted local connection on one of the link's listeners: sends OPEN.
 * On failure the connection is reset and nothing is kept. */
void stream_accept(struct stream_owner *own, uv_stream_t *server);
/* The immediate policy's cable: sends OPEN; the local target is dialled when
 * STREAM arrives. Returns NULL if OPEN could not be sent. */
struct stream *stream_cable(struct stream_owner *own);
/* STREAM role 0 for a stream this link opened. A leg the relay closes before
 * a byte came back on it (refused at accept: the ticket was never taken) is
 * dialled again with the same ticket, after a jittered backoff, until the
 * ticket's expires_ms; the local connection is held unread meanwhile
 * (STREAM_REDIAL, docs/design.md D16). Both roles. */
void stream_on_stream(struct stream *st, const struct msg_stream *m);
/* STREAM role 1: the peer opened a stream; dial the leg and the local target. */
void stream_responder(struct stream_owner *own, const struct msg_stream *m);
/* RESUMED for this stream, whose epoch the link found: the initiator's
 * answer to its RESUME (epoch: st->resume_epoch), or the responder's match
 * (e2e_resume_match). */
void stream_on_resumed(struct stream *st, const struct msg_stream *m, uint32_t epoch);
/* A stream in the owner's list with nothing else (no local connection, no
 * session, not counted as made): streamfin_revive fills it. NULL without
 * memory. */
struct stream *stream_bare(struct stream_owner *own);
/* The link goes away (reload, SIGTERM): RESET `shutdown` to the peer where a
 * session exists, reset the local connection. The leg gets STREAM_FLUSH_MS to
 * take the RESET record and its shutdown; then it is reset, so a stuck leg
 * cannot keep the agent from stopping. */
void stream_abort(struct stream *st);
/* The owner drops the stream (its control session went down before the
 * stream ran): both sockets reset, no line (the owner logs its own cause). */
void stream_close(struct stream *st);

/* The owner's once-a-second tick (the agent's timer): the link sessions'
 * clock and expiry, and their wipe within a second of a key change (own
 * rotation, PEER_KEY), not only at the next stream (D46). */
void stream_owner_tick(struct stream_owner *own, uint64_t now_ms);
/* The owner goes away: its kept finished streams and kept legs go now. */
void stream_owner_clear(struct stream_owner *own);

/* For the modules of a stream (openfail.c): */
/* A failure: its cause, formatted, to streamend_end, which resets the stream
 * (nothing when it is closing already). */
__attribute__((format(printf, 3, 4))) void stream_fail(struct stream *st, enum log_level level,
                                                       const char *fmt, ...);
/* A fresh e2e session for st (again for a redialled initiator, whose old one
 * is ended first), with the owner's keys and link sessions
 * (agent/streamowner.c). 0, or -ENOMEM / -EINVAL with st->io.e2e NULL. */
int stream_session_init(struct stream *st, struct stream_owner *own);
/* Starts the stream's timer for the next try of a held connection or of a
 * refused leg: its backoff (st->retry), never later than left ms. */
void stream_retry_start(struct stream *st, uint64_t left);

#endif
