/* SPDX-License-Identifier: MIT */
/*
 * e2els — link sessions: one authenticated end-to-end session between the
 * two agents of a link, made by a full KK stream handshake, that keys the
 * link's next streams without any X25519 (docs/protocol.md §7.4,
 * docs/design.md D46). Sans-I/O, no allocation, no clock of its own: the
 * owner of a store tells it the time (e2els_store_tick).
 *
 * A session is its 32-byte key and 16-byte id, both exported from a finished
 * KK handshake whose two HELLOs carried the link_session item (suite.h). A
 * side keys its own streams with it once it knows the peer holds it too:
 * the initiator of that KK when it read message 2, the responder when the
 * initiator's record header arrived (or a stream keyed by it); the
 * responder answers the peer's streams keyed with it from the moment it
 * sent message 2 (the initiator may use it once it read that, even if the
 * responder's stream ends before the header). Sessions live in memory only, in a struct e2els_store
 * the link owns (the newest E2ELS_SLOTS), and are wiped when either key or either control session
 * changes (the owner calls e2els_store_clear), when they expire, and with the store.
 *
 * Limits: a side keys its own new streams with a session only while it is
 * younger than E2ELS_MAX_AGE_MS and has keyed fewer than E2ELS_MAX_STREAMS
 * streams (either role, counted on this side); it still answers a peer's
 * stream keyed with it for E2ELS_GRACE_MS more (the two sides' clocks for
 * one session differ by about a one-way delay), then wipes it.
 *
 * The handshake of a session-keyed stream (the frames of §7.4) is in e2e
 * (e2e.c calls the functions below); what a store holds and how the agent
 * keeps it is here.
 */
#ifndef LR_E2ELS_H
#define LR_E2ELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "noise.h"

#define E2ELS_KEY_LEN     32
#define E2ELS_ID_LEN      16
#define E2ELS_NONCE_LEN   16
#define E2ELS_HASH_LEN    32
#define E2ELS_SLOTS       2
#define E2ELS_MAX_AGE_MS  (10u * 60u * 1000u)
#define E2ELS_GRACE_MS    30000u
#define E2ELS_MAX_STREAMS 65536u
/* A side offers the link_session item in at most one KK at a time (D46):
 * until a session arrives, or this long (the agent's stream setup deadline). */
#define E2ELS_ASK_MS 15000u
/* The top bit of a handshake frame's length: a session-keyed frame (§7.4). */
#define E2ELS_FRAME_BIT 0x8000u
/* The prologue of a stream (e2e.c): "linkrelay/1 e2e" ‖ link_id ‖ stream_id. */
#define E2ELS_PROLOGUE_LEN (15 + 16 + 8)

/* One session. Treat as private. */
struct e2els {
    uint8_t key[E2ELS_KEY_LEN];
    uint8_t id[E2ELS_ID_LEN];
    uint64_t born_ms;
    uint32_t streams; /* streams this side keyed with it, either role */
    bool used;        /* the slot holds a session */
    bool confirmed;   /* the peer holds it too: this side keys streams with it */
};

/*
 * A link's sessions and their counters (the agent's metrics). Embedded in
 * the link's stream owner; e2els_store_clear on every change named above
 * and before the memory goes.
 */
struct e2els_store {
    struct e2els s[E2ELS_SLOTS];
    uint64_t now_ms;    /* the owner's clock, e2els_store_tick */
    uint64_t ask_until; /* no new offer before this (E2ELS_ASK_MS) */
    uint64_t kk, keyed; /* streams by handshake: full KK, session-keyed */
    uint64_t made;      /* sessions that became usable here */
    uint64_t refused;   /* peers' session-keyed streams refused (unknown id) */
    uint64_t failed;    /* our session-keyed streams that ended before the answer */
    uint32_t gen;       /* bumped by e2els_store_clear: a stream begun before
                           a clear adds no session after it */
};

/* The handshake state of one stream that uses or makes a session (e2e.h). */
enum e2els_mode {
    E2ELS_OFF = 0, /* a plain KK stream */
    E2ELS_ASK,     /* a KK stream that offers the link_session item */
    E2ELS_KEYED,   /* keyed by a session (the frames of §7.4) */
};

struct e2els_hs {
    uint8_t mode; /* enum e2els_mode */
    bool pending; /* a session exported, not yet usable (the responder) */
    bool dropped; /* e2els_failed: its session dropped, counted once */
    uint32_t gen; /* the store's generation when the stream began */
    uint8_t key[E2ELS_KEY_LEN], id[E2ELS_ID_LEN];
    uint8_t prologue[E2ELS_PROLOGUE_LEN];
    /* The initiator's static public key ‖ the responder's: binds who sent
     * which frame, so a relay cannot turn a side's frame I back to that
     * side's own responder (both hold the same session). */
    uint8_t sides[2 * E2ELS_KEY_LEN];
    uint8_t n_i[E2ELS_NONCE_LEN];
    uint8_t h[E2ELS_HASH_LEN]; /* the transcript hash so far */
};

/* Store: the time now; wipes every session past E2ELS_MAX_AGE_MS +
 * E2ELS_GRACE_MS. Call at least once a second and before each stream. */
void e2els_store_tick(struct e2els_store *st, uint64_t now_ms);
/* Wipes every session (the counters stay). */
void e2els_store_clear(struct e2els_store *st);
/* Adds a session this side keys streams with (the newest E2ELS_SLOTS
 * stay: a free slot is taken first, then the oldest's); the same id again
 * only confirms it. */
void e2els_store_add(struct e2els_store *st, const uint8_t key[E2ELS_KEY_LEN],
                     const uint8_t id[E2ELS_ID_LEN]);
/* Wipes the session of that id, if held. */
void e2els_store_drop(struct e2els_store *st, const uint8_t id[E2ELS_ID_LEN]);
/* Sessions held (tests, status). */
size_t e2els_store_count(const struct e2els_store *st);

/*
 * A new stream's initiator: copies the newest session this side may still
 * key streams with into hs (mode KEYED, its count + 1) and returns 1; else,
 * when no offer is under way, mode ASK (the KK offers the link_session
 * item) and 0; else OFF and 0.
 */
int e2els_begin(struct e2els_store *st, struct e2els_hs *hs);

/*
 * The frames of a session-keyed handshake (§7.4). Bodies only: the caller
 * frames them with E2ELS_FRAME_BIT. hs->prologue must be set. Each returns
 * 0 or -EBADMSG (too short, or the AEAD fails), -ENOENT (e2els_read_i: no
 * such session: counted as refused), -ENOSPC (cap).
 */
#define E2ELS_AD_I_LEN   (E2ELS_PROLOGUE_LEN + 2 * E2ELS_KEY_LEN + E2ELS_ID_LEN + E2ELS_NONCE_LEN)
#define E2ELS_I_OVERHEAD (E2ELS_ID_LEN + E2ELS_NONCE_LEN + 16)
#define E2ELS_R_OVERHEAD (E2ELS_NONCE_LEN + 16)
int e2els_write_i(struct e2els_hs *hs, const uint8_t *hello, size_t hlen, uint8_t *out, size_t cap,
                  size_t *len);
__attribute__((warn_unused_result)) int e2els_read_i(struct e2els_hs *hs, struct e2els_store *st,
                                                     const uint8_t *body, size_t blen,
                                                     uint8_t *hello, size_t cap, size_t *hlen);
int e2els_write_r(struct e2els_hs *hs, const uint8_t *hello, size_t hlen, uint8_t *out, size_t cap,
                  size_t *len);
__attribute__((warn_unused_result)) int e2els_read_r(struct e2els_hs *hs, const uint8_t *body,
                                                     size_t blen, uint8_t *hello, size_t cap,
                                                     size_t *hlen);
/* After both frames: the two direction keys (send, recv for this role) and
 * the resume key, each from the transcript; wipes the session key from hs. */
void e2els_keys(struct e2els_hs *hs, bool initiator, uint8_t send[E2ELS_KEY_LEN],
                uint8_t recv[E2ELS_KEY_LEN], uint8_t rk[E2ELS_KEY_LEN]);

/* A finished KK whose two HELLOs carried the item: exports the session
 * into hs (pending). 0 or the noise error. */
int e2els_export(struct e2els_hs *hs, const struct noise_hs *nhs);
/* The pending session goes into the store (NULL: nothing): answer-only
 * (confirmed false: the responder, once it sent message 2, for the peer's
 * keyed streams), or confirmed (the initiator once it read message 2, the
 * responder once the initiator's header arrived): this side keys its own
 * streams with it. */
void e2els_ready(struct e2els_hs *hs, struct e2els_store *st, bool confirmed);
/* Wipes hs. */
void e2els_hs_wipe(struct e2els_hs *hs);
/* A stream's start (e2e_init_ls): its store's generation and who is who
 * (this side's static public key pub, NULL: computed from priv, and the
 * peer's), in hs. 0, or -EINVAL when pub cannot be computed. */
int e2els_hs_begin(struct e2els_hs *hs, const struct e2els_store *st, bool initiator,
                   const uint8_t *priv, const uint8_t *pub, const uint8_t *peer_pub);
/* The stream failed or lost its leg before a pending session went into the
 * store: wipe the session key it held, nothing is added later. */
void e2els_hs_stop(struct e2els_hs *hs);

/* The handshake frame at p[0..n): 1 if it is session-keyed (its length has
 * E2ELS_FRAME_BIT) and whole, with its body; 0 if it is not session-keyed;
 * -EAGAIN if more bytes are needed; -EMSGSIZE for a length of 0 or over
 * E2ELS_FRAME_MAX. */
#define E2ELS_FRAME_MAX 256u
int e2els_frame(const uint8_t *p, size_t n, const uint8_t **body, size_t *len);
/* A keyed initiator's handshake failed before the answer (refused, or the
 * leg ended): the peer may not hold the session: drop it from st, so the
 * next stream runs the KK, and count it. */
void e2els_failed(struct e2els_hs *hs, struct e2els_store *st);

#endif
