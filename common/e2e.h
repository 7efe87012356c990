/* SPDX-License-Identifier: MIT */
/*
 * e2e — one end-to-end stream session, sans-I/O (docs/protocol.md §7).
 *
 * Combines the Noise_KK handshake (noise.h) and the secretstream record layer
 * (rec.h) into the thing an agent runs over a spliced stream leg:
 *
 *   bytes from the relay (after the SPLICED byte)  --e2e_feed / e2e_in_*-->
 *   plaintext for the local application            <--e2e_plain_*--
 *   plaintext from the local application           --e2e_send-->
 *   bytes for the relay                            <--e2e_out_*--
 *   what happened                                  <--e2e_next_event--
 *
 * The session never does I/O and never logs. Its one allocation is the record
 * layer's: when the handshake completes (our direction) and when the peer's
 * header arrives (theirs), rec_*_init allocates two small OpenSSL contexts
 * (common/rec.h); e2e_done frees them, so every e2e_init must be followed by
 * e2e_done. A failed allocation fails the session like a handshake or record
 * error (detail REC_E_NOMEM). After every call
 * that may change something (feed, commit, consume, send, shutdown, reset, eof)
 * the caller looks at e2e_out_peek (write it to the relay), e2e_plain_peek
 * (write it to the local application) and e2e_next_event.
 *
 * Bounds (docs/internals/e2e.md): all buffers are inside struct e2e (about
 * 210 KiB, so allocate it on the heap):
 *   - input:     E2E_IN_CAP bytes (four largest record frames); input is
 *                only taken while there is room, so a caller that cannot feed
 *                everything keeps the rest and stops reading the relay;
 *   - plaintext: E2E_PLAIN_CAP bytes decrypted and not yet consumed; a record
 *                is only opened when its data fits, so a slow local
 *                application stops the input, which stops the relay leg;
 *   - output:    E2E_OUT_CAP bytes sealed and not yet taken; e2e_send accepts
 *                only what fits (e2e_send_space), keeping room for ACK, FINAL
 *                and RESET records, which are therefore never lost.
 *
 * Lifetime: e2e_init on caller memory, e2e_done wipes every key. Pointers
 * returned by the peek functions are valid until the next call on the session.
 * sodium_init() must have succeeded before e2e_init.
 */
#ifndef LR_E2E_H
#define LR_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "e2els.h"
#include "noise.h"
#include "rec.h"
#include "resume.h"

#define E2E_KEY_LEN     32
#define E2E_LINK_ID_LEN 16
#define E2E_PROLOGUE    "linkrelay/1 e2e"
/* Four largest frames: the agent reads the relay leg up to 64 KiB at a time. */
#define E2E_IN_CAP    (4 * REC_FRAME_MAX)
#define E2E_PLAIN_CAP 65536
/* Room kept free for control records (ACK, then FINAL or RESET). */
#define E2E_CTRL_RESERVE (2 * REC_CTRL_FRAME_MAX)
#define E2E_OUT_CAP      (65536 + E2E_CTRL_RESERVE)
/* An ACK goes out after each this many bytes delivered (§7.2); on a
 * resumable stream after each peer_ack_every, what the peer's HELLO asked
 * for (§7.3, resume_ack_every: a quarter of its resume buffer, 64 KiB to 1
 * MiB). */
#define E2E_ACK_EVERY 65536u
/* Smallest per-stream resume buffer: two ACK intervals, so ACKs always come
 * back before the sender stalls (its interval is at most half of it). */
#define E2E_HELLO_LEN  RESUME_OFFER_LEN /* §7.1 HELLO without offers (suite.h) */
#define E2E_RESUME_MIN (2u * E2E_ACK_EVERY)
/* The ACK of the peer's FINAL waits for our next record (D55) only when it
 * frees at most this much of the peer's replay buffer; more goes at once. */
#define E2E_LAZY_ACK_MAX REC_DATA_MAX
_Static_assert(E2E_ACK_EVERY == RESUME_ACK_MIN, "the ACK interval of §7.2 is the least of §7.3");

enum e2e_role {
    E2E_INITIATOR = 0, /* STREAM role 0: the side that sent OPEN */
    E2E_RESPONDER = 1,
};

enum e2e_error {
    E2E_E_ARG = -1300, /* caller error: bad argument */
    E2E_E_HANDSHAKE,   /* KK handshake failed (wrong peer key, tamper, bad HELLO) */
    E2E_E_HS_EOF,      /* the relay leg ended before the handshake finished */
    E2E_E_FRAME,       /* zero-length or oversized frame */
    E2E_E_RECORD,      /* a record failed (detail: the rec_error) */
    E2E_E_TRUNCATED,   /* the relay leg ended before FINAL or RESET */
    E2E_E_AGAIN,       /* send: handshake not done yet, nothing taken */
    E2E_E_ENDED,       /* send: local FINAL/RESET already submitted */
    E2E_E_DEAD,        /* the session failed earlier or was reset */
    E2E_E_RESUME,      /* resumption refused: wrong state, stale or unknown
                          resume id, bad resume HELLO, impossible offset */
    E2E_E_ACK,         /* a STREAM_ACK refused: wrong mac or offset (D43) */
    E2E_E_SESSION,     /* a session-keyed handshake (§7.4) refused: the responder
                          holds no session of that id; the initiator's leg ended
                          before the answer (D46) */
};

enum e2e_event_type {
    E2E_EV_NONE = 0,
    E2E_EV_HANDSHAKE = 1,  /* handshake done; e2e_send now accepts data */
    E2E_EV_PEER_FINAL = 2, /* peer's FINAL, every byte before it consumed:
                              shut down the local write side */
    E2E_EV_PEER_RESET = 3, /* peer's RESET: reset the local connection */
    E2E_EV_ERROR = 4,      /* failure: reset the local and the relay connection */
    E2E_EV_RESUMED = 5,    /* a resumed epoch is open: the peer's offset arrived */
    E2E_EV_LEG_FAILED = 6, /* the resume HELLO on this leg was refused: close the
                              leg; the stream stays suspended (§7.3) */
};

struct e2e_event {
    enum e2e_event_type type;
    int err;             /* ERROR: enum e2e_error */
    int detail;          /* ERROR: the underlying noise_err / rec_error, or 0 */
    uint8_t reason;      /* PEER_RESET: enum rec_reset_reason */
    const uint8_t *text; /* PEER_RESET: text, not terminated, valid until e2e_done */
    size_t text_len;
};

/* Treat every field as private. */
struct e2e {
    struct noise_hs hs;
    struct rec_tx tx;
    struct rec_rx rx;
    uint8_t recv_key[REC_KEY_LEN]; /* between Split() and the peer's header */
    uint8_t role, state;
    bool tx_ready, final_pending, reset_pending, tx_ended, final_sent;
    bool peer_final, peer_final_told, peer_eof, ack_due;
    /* A resumable stream's ACK of the peer's FINAL, waiting to ride with our
     * next record (DATA or our FINAL) or the idle ACK (D55). */
    bool ack_lazy;
    uint8_t my_reason;
    uint8_t my_text[REC_TEXT_MAX];
    size_t my_text_len;
    uint8_t peer_reason;
    uint8_t peer_text[REC_TEXT_MAX];
    size_t peer_text_len;
    unsigned events; /* bit per enum e2e_event_type, not yet taken */
    int err, detail;
    uint64_t delivered, acked; /* plaintext consumed, and the last ACK sent */
    /* resumption (§7.3) */
    bool peer_offer, resumable, awaiting_resume, resuming;
    uint32_t epoch;             /* the last epoch started (0: the first leg) */
    uint64_t resume_cap;        /* bytes the replay buffer may hold; 0: not offered */
    uint32_t peer_ack_every;    /* the ACK interval the peer's HELLO asked for */
    uint64_t rx_recv, rx_acked; /* the peer direction's counters across epochs */
    uint64_t hello_refused;     /* resume HELLOs refused on this stream */
    uint64_t hello_old;         /* of those, the peer's of an earlier epoch */
    struct resume_tx rt;        /* our direction's replay buffer and offsets */
    /* FINISHED sealed (the responder) or received (the initiator), §7.3 */
    bool finished_sent, peer_finished;
    uint8_t rk[RESUME_KEY_LEN];
    uint8_t nonce[RESUME_NONCE_LEN];
    struct bq in, plain, out;

    /* record suites offered (suite.h), ours and theirs; the chosen enum rec_suite */
    unsigned offer, peer_suites;
    uint8_t suite;
    /* STREAM_ACK (D43): both HELLOs offered it (and the stream is
     * resumable); the data offset last given out for one; a quiet stream's
     * timer asks for one now. */
    bool oob, oob_idle;
    uint64_t oob_acked;
    /* Both HELLOs carry the keep_leg item (D48): the leg outlives the
     * stream, so input after the peer's last record is the next stream's. */
    bool keep;
    /* And the share_leg item (D58): the kept leg becomes a shared leg
     * (agent/mux.h) once this stream is finished. */
    bool share;

    /* Link sessions (D46, e2els.h): the link's store (NULL: none), and this
     * stream's handshake with one. */
    struct e2els_store *ls_store;
    struct e2els_hs ls;

    /* The buffers last: a new stream clears only what comes before in_mem
     * (e2epriv.h, D45). */
    uint8_t in_mem[E2E_IN_CAP];
    uint8_t plain_mem[E2E_PLAIN_CAP];
    uint8_t out_mem[E2E_OUT_CAP];
    uint8_t scratch[REC_PLAIN_MAX];
};

/*
 * Starts a session. priv is this side's static private key, peer_pub the
 * other side's static public key (from enrollment), link_id and stream_id
 * from the STREAM message (they go into the prologue). The initiator's first
 * handshake message is ready in e2e_out_peek right away (it may be sent
 * before SPLICED arrives, §6.1). Returns 0 or E2E_E_ARG / E2E_E_HANDSHAKE.
 */
int e2e_init(struct e2e *s, enum e2e_role role, const uint8_t priv[E2E_KEY_LEN],
             const uint8_t peer_pub[E2E_KEY_LEN], const uint8_t link_id[E2E_LINK_ID_LEN],
             uint64_t stream_id);
/*
 * The same, offering resumption (§7.3) with a replay buffer of at most
 * resume_cap bytes (E2E_RESUME_MIN or more; 0 offers nothing, as e2e_init).
 * The stream is resumable when both HELLOs offer it (e2e_resumable).
 */
int e2e_init_resumable(struct e2e *s, enum e2e_role role, const uint8_t priv[E2E_KEY_LEN],
                       const uint8_t peer_pub[E2E_KEY_LEN], const uint8_t link_id[E2E_LINK_ID_LEN],
                       uint64_t stream_id, uint64_t resume_cap);
/*
 * The same, offering the record suites of `offer` (suite.h: SUITE_OFFER_*,
 * ChaCha20-Poly1305 always included; E2E_E_ARG for an unknown bit).
 * pub is this side's public key of priv (noise_hs_init_pub), or NULL to
 * compute it; ss is noise_dh(priv, peer_pub) kept from an earlier stream
 * (noise_hs_set_ss), or NULL to compute it. e2e_init and e2e_init_resumable offer ChaCha20-Poly1305
 * only, as agents before D37 did. The stream uses AES-256-GCM when both HELLOs offer it
 * (e2e_record_suite, once the handshake is done).
 */
int e2e_init_suites(struct e2e *s, enum e2e_role role, const uint8_t priv[E2E_KEY_LEN],
                    const uint8_t *pub, const uint8_t *ss, const uint8_t peer_pub[E2E_KEY_LEN],
                    const uint8_t link_id[E2E_LINK_ID_LEN], uint64_t stream_id, uint64_t resume_cap,
                    unsigned offer);
/*
 * The same, with the link's sessions (docs/protocol.md §7.4, D46): ls is the
 * link's store, whose clock the caller keeps (e2els_store_tick), or NULL
 * (e2e_init_suites). An initiator keys the stream with the newest session
 * it may use (no X25519: the first frame is the session-keyed one), else
 * runs the KK, offering the link_session item when no other offer is under
 * way (e2els_begin). A responder answers either: it looks a session-keyed
 * frame's id up in ls (none: E2E_E_SESSION), and answers the item. A KK
 * whose two HELLOs carry the item adds a session to ls once this side may
 * use it. The session keeps the pointer until e2e_done or e2e_ls_detach;
 * ls must stay valid until then.
 */
int e2e_init_ls(struct e2e *s, enum e2e_role role, const uint8_t priv[E2E_KEY_LEN],
                const uint8_t *pub, const uint8_t *ss, const uint8_t peer_pub[E2E_KEY_LEN],
                const uint8_t link_id[E2E_LINK_ID_LEN], uint64_t stream_id, uint64_t resume_cap,
                unsigned offer, struct e2els_store *ls);
/* Forget the store (its owner is going): nothing is looked up or added
 * any more. */
void e2e_ls_detach(struct e2e *s);
/* The stream ends (however: the leg closed or failed, the local side went)
 * while it is a session-keyed initiator without the responder's answer:
 * the peer may not hold the session (it refuses such a stream by closing
 * the leg), so it is dropped from the store and counted (e2els_failed), and
 * the next stream runs the KK. Call before e2e_ls_detach; once per stream. */
void e2e_ls_abandon(struct e2e *s);
/* The stream is keyed by a link session (known at init for the initiator,
 * once the first frame arrived for the responder). */
bool e2e_ls_keyed(const struct e2e *s);
/* The record suite (enum rec_suite) the handshake chose; meaningful once
 * e2e_handshake_done. */
int e2e_record_suite(const struct e2e *s);
/* Wipes all key material and state. Safe on a zeroed struct. */
void e2e_done(struct e2e *s);

/* Test hook: lower the rekey interval of both directions (n >= 1). Call
 * before any record moves, on both ends alike. */
int e2e_set_rekey_interval(struct e2e *s, uint32_t n);

/*
 * Input from the relay. e2e_feed copies up to e2e_in_space() bytes, processes
 * them, and sets *consumed to how many it took (the caller keeps the rest and
 * stops reading until space returns). e2e_in_reserve / e2e_in_commit let a
 * libuv alloc_cb read straight into the session (reserve returns NULL when
 * there is no room). Errors and peer events are reported as events, not as
 * return values; the return value is 0 or E2E_E_ARG/E2E_E_DEAD.
 */
size_t e2e_in_space(const struct e2e *s);
int e2e_feed(struct e2e *s, const uint8_t *p, size_t n, size_t *consumed);
uint8_t *e2e_in_reserve(struct e2e *s, size_t *len);
int e2e_in_commit(struct e2e *s, size_t n);
/* The relay leg reached EOF. Truncation (or the handshake's end) becomes an
 * ERROR event once the bytes already buffered have been processed. */
void e2e_eof(struct e2e *s);

/* Bytes to write to the relay; consume what was handed to the transport. */
const uint8_t *e2e_out_peek(const struct e2e *s, size_t *len);
int e2e_out_consume(struct e2e *s, size_t n);

/* Plaintext for the local application; consuming counts it as delivered (ACK). */
const uint8_t *e2e_plain_peek(const struct e2e *s, size_t *len);
int e2e_plain_consume(struct e2e *s, size_t n);

/*
 * Local plaintext to the peer: seals as much as fits as DATA records of at
 * most REC_DATA_MAX bytes and sets *accepted. E2E_E_AGAIN before the
 * handshake, E2E_E_ENDED after e2e_shutdown/e2e_reset, E2E_E_DEAD after a
 * failure. e2e_send_space is how much the next call takes whole (0 when it
 * would take nothing).
 */
size_t e2e_send_space(const struct e2e *s);
int e2e_send(struct e2e *s, const uint8_t *p, size_t n, size_t *accepted);

/* Local EOF: FINAL goes out (after the handshake, if it is not done yet). */
int e2e_shutdown(struct e2e *s);
/* Local abort: RESET with reason 1..4 and text (0..REC_TEXT_MAX bytes); no
 * more input is processed or delivered. */
int e2e_reset(struct e2e *s, uint8_t reason, const char *text);

/* Takes the next pending event: 1 with *ev written, 0 when there is none. */
int e2e_next_event(struct e2e *s, struct e2e_event *ev);

bool e2e_handshake_done(const struct e2e *s);
/* The peer's FINAL arrived and everything before it was consumed (the
 * caller shuts down its local write side). */
bool e2e_peer_final(const struct e2e *s);
/* Our FINAL is sealed (it may still sit in e2e_out_peek). */
bool e2e_final_sent(const struct e2e *s);
/* The stream ended cleanly: our FINAL is out of the session, the peer's
 * FINAL was received and delivered; resumable: both FINALs acknowledged,
 * and FINISHED taken out (the responder) or received (the initiator), §7.3.
 * The caller may close the relay leg. */
bool e2e_finished(const struct e2e *s);
/* Failed or reset (either side): the caller resets both connections once
 * e2e_out_peek is empty (so a RESET record leaves first). */
bool e2e_dead(const struct e2e *s);

/* Data bytes sent / delivered so far. */
uint64_t e2e_bytes_sent(const struct e2e *s);
uint64_t e2e_bytes_delivered(const struct e2e *s);

/*
 * Resumption (§7.3). The relay leg ended or failed: e2e_leg_lost suspends a
 * resumable stream and returns 1 (the caller keeps the local connection,
 * closes the leg, and starts its resume timer); otherwise it is e2e_eof and
 * returns 0. While suspended the plaintext already received can still be
 * consumed and e2e_send still fills the replay buffer up to its bound.
 *
 * e2e_resume_next gives the resume id of the next epoch (the initiator sends
 * it in RESUME); e2e_resume_match finds the epoch of an id a RESUMED ticket
 * carries (the responder), E2E_E_RESUME for a spent or unknown id (nothing
 * changes). e2e_resume_start(epoch) starts that epoch on a fresh leg (after
 * SPLICED): it suspends a live leg first, spends the epoch (every id up to it
 * is refused afterwards) and queues the resume HELLO. Then bytes flow as
 * before; E2E_EV_RESUMED says the epoch is open, E2E_EV_LEG_FAILED that its
 * HELLO was refused (close the leg, stay suspended).
 */
int e2e_leg_lost(struct e2e *s);
bool e2e_resumable(const struct e2e *s);
bool e2e_suspended(const struct e2e *s);
int e2e_resume_next(const struct e2e *s, uint8_t id[RESUME_ID_LEN], uint32_t *epoch);
int e2e_resume_match(const struct e2e *s, const uint8_t id[RESUME_ID_LEN], uint32_t *epoch);
int e2e_resume_start(struct e2e *s, uint32_t epoch);
/* Bytes held for replay (what the agent-wide resume_buffer_total counts). */
uint64_t e2e_resume_held(const struct e2e *s);
/*
 * A resumable stream's ACK by time (common/e2eack.c, D32): acknowledges the
 * data delivered and not yet acknowledged, so that the peer's replay buffer
 * does not keep up to peer_ack_every - 1 bytes for as long as the stream is
 * quiet (and the agent-wide resume_buffer_total with it), and the ACK of the
 * peer's FINAL that waits for our next record (D55). The agent calls it on
 * a timer. Returns 1 if an ACK was queued (look at e2e_out_peek), 0 if none
 * was due or the stream is not resumable, suspended, ended or dead.
 */
int e2e_ack_idle(struct e2e *s);

/*
 * STREAM_ACK (docs/protocol.md §5, §7.3, docs/design.md D43; common/e2eack.c):
 * the acknowledgment of a resumable stream that goes on the control
 * sessions, through the relay, so that it never waits behind DATA the peer
 * is not reading. Only when both HELLOs offered it (e2e_oob).
 *
 * e2e_oob_ack_take: 1 when one is due (the data delivered since the last
 * reached the peer's ack_every, or e2e_ack_idle asked for one), with the
 * offset (data bytes delivered, over all epochs) and its mac, BLAKE2b-128
 * keyed with rk over "linkrelay/1 stream ack" ‖ role u8 ‖ offset u64 (the
 * sender's role of the first leg); 0 when none is.
 * e2e_oob_ack_in: a STREAM_ACK from the peer: 1 if it released replay
 * buffer (e2e_send_space may have grown), 0 if it was old news,
 * E2E_E_ACK if its mac is wrong or it acknowledges bytes never sent (the
 * caller counts, logs and otherwise ignores it: the relay can only forge
 * what it could do by cutting the leg), E2E_E_ARG without e2e_oob.
 */
#define E2E_ACK_MAC_LEN 16
bool e2e_oob(const struct e2e *s);
int e2e_oob_ack_take(struct e2e *s, uint64_t *offset, uint8_t mac[E2E_ACK_MAC_LEN]);
int e2e_oob_ack_in(struct e2e *s, uint64_t offset, const uint8_t mac[E2E_ACK_MAC_LEN]);

/*
 * Kept legs (docs/protocol.md §7.5, D48). e2e_keep: both HELLOs carried the
 * keep_leg item (offered with SUITE_OFFER_KEEP_LEG), so once the stream is
 * finished its leg carries the link's next stream: input after the peer's
 * last record of this stream (its FINAL; resumable: the initiator's ACK of
 * our FINAL for the responder, FINISHED for the initiator) is not
 * processed. e2e_in_rest: those bytes, not yet processed (the responder
 * hands them to the next stream; for the initiator nothing may follow).
 */
bool e2e_keep(const struct e2e *s);
/* Both HELLOs carried keep_leg and share_leg (SUITE_OFFER_SHARE_LEG, D58):
 * once finished, the leg carries many streams at once (§7.6). */
bool e2e_share(const struct e2e *s);
const uint8_t *e2e_in_rest(const struct e2e *s, size_t *len);

const char *e2e_strerror(int err);

#endif
