/* SPDX-License-Identifier: MIT */
/*
 * rec — the end-to-end record layer (docs/protocol.md §7.2).
 *
 * After the Noise_KK handshake each direction of a stream is one
 * crypto_secretstream_xchacha20poly1305 stream (or, when both agents offered
 * it, one AES-256-GCM stream of common/gstream.h: enum rec_suite), keyed by
 * one of the two Noise split keys. The sender first sends its 24-byte header
 * raw (not framed), then records; each record is one frame (u16 length ‖
 * body) whose body is one message of the suite (record plaintext + 17 bytes).
 *
 * Sans-I/O: struct rec_tx turns application bytes into ready-to-write frames;
 * struct rec_rx turns frame bodies (the caller deframes, e.g. with frame.c's
 * parser, enforcing REC_BODY_MAX before reading the body) into validated
 * records. Neither does any I/O; both are fixed-size and meant to be embedded
 * in the owner's per-stream struct. Each owns two small OpenSSL contexts
 * (common/sstream.h computes secretstream with libcrypto's ChaCha20 and
 * Poly1305, byte for byte what libsodium does), allocated by rec_tx_init /
 * rec_rx_init and freed by rec_tx_done / rec_rx_done, which also wipe the
 * keys. So a successful init must be followed by its done (done is idempotent
 * and also fine after a failed init or on a zeroed struct), and a struct must
 * not be copied and then used twice. Sealing and opening allocate nothing.
 *
 * The process must have called sodium_init() before any rec_ function.
 *
 * Errors are the negative enum rec_error (rec_strerror names them). A receive
 * error poisons the rx state for good: the stream cannot resynchronise, every
 * later call fails with REC_E_FAILED, and the caller resets the stream.
 * See docs/internals/records.md.
 */
#ifndef LR_REC_H
#define LR_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "gstream.h"
#include "sstream.h"

#define REC_KEY_LEN    32
#define REC_HEADER_LEN 24 /* crypto_secretstream_xchacha20poly1305_HEADERBYTES */
#define REC_ABYTES     17 /* crypto_secretstream_xchacha20poly1305_ABYTES */
#define REC_FRAME_HDR  2  /* the u16 length in front of every record */
#define REC_DATA_MAX   16384
#define REC_TEXT_MAX   200                          /* RESET text bytes */
#define REC_PLAIN_MAX  (1 + 8 + REC_DATA_MAX)       /* largest record plaintext */
#define REC_BODY_MAX   (REC_PLAIN_MAX + REC_ABYTES) /* 16410: largest frame body */
#define REC_FRAME_MAX  (REC_FRAME_HDR + REC_BODY_MAX)
/* Outputs of rec_tx_ack/final/reset are at most this long (RESET with 200 text). */
#define REC_CTRL_FRAME_MAX (REC_FRAME_HDR + 1 + 1 + 1 + REC_TEXT_MAX + REC_ABYTES)
#define REC_REKEY_DEFAULT  65536u

/* The record suites (§7.2); both have the same header and overhead. */
enum rec_suite {
    REC_SUITE_CHACHA20_POLY1305 = 0, /* secretstream (sstream.h), always available */
    REC_SUITE_AES256_GCM = 1,        /* gstream.h, when both HELLOs offer it (§7.1) */
};

enum rec_type {
    REC_DATA = 0x01,
    REC_ACK = 0x02,
    REC_FINAL = 0x03,
    REC_RESET = 0x04,
    REC_RESUME = 0x05,   /* first record of a resumed epoch (§7.3) */
    REC_FINISHED = 0x06, /* resumable, responder: finished, nothing follows (§7.3) */
};

/* RESUME flags (§7.3). */
#define REC_RESUME_FINAL 0x01 /* your FINAL was received */

/* RESET reasons (§7.2). */
enum rec_reset_reason {
    REC_RESET_LOCAL = 1,
    REC_RESET_CONNECT_FAILED = 2,
    REC_RESET_PROTOCOL = 3,
    REC_RESET_SHUTDOWN = 4,
};

enum rec_error {
    REC_E_ARG = -1200, /* caller error: bad argument (length out of range, NULL) */
    REC_E_NOBUFS,      /* caller error: output buffer too small (tx state unchanged) */
    REC_E_ENDED,       /* tx: FINAL or RESET already sent */
    REC_E_OVERFLOW,    /* a byte counter would pass 2^64 - 1 */
    REC_E_SIZE,        /* rx: body shorter than 17 or longer than REC_BODY_MAX */
    REC_E_DECRYPT,     /* rx: authentication failed (tamper, reorder, drop, replay, key) */
    REC_E_TYPE,        /* unknown record type, or empty plaintext */
    REC_E_MALFORMED,   /* wrong body length for the type, bad str8, trailing bytes */
    REC_E_REASON,      /* RESET reason outside 1..4 */
    REC_E_TAG,         /* secretstream tag does not fit the record type or position */
    REC_E_OFFSET,      /* DATA offset is not the count of bytes received */
    REC_E_ACK,         /* ACK goes backwards or past what we sent */
    REC_E_TOTAL,       /* FINAL total is not the count of bytes received */
    REC_E_AFTER_END,   /* a record after FINAL or RESET */
    REC_E_TRUNCATED,   /* EOF before FINAL or RESET */
    REC_E_FAILED,      /* rx: an earlier error poisoned this direction */
    REC_E_NOMEM,       /* init: allocation failed; any call: libcrypto failed */
    REC_E_RESUME,      /* RESUME missing first in a resumed epoch, or out of place */
    REC_E_FINISHED,    /* FINISHED before the sender's FINAL, or not acknowledging
                          everything we sent (§7.3) */
};

/* Returns a static description of a rec_error (or "unknown error"). */
const char *rec_strerror(int err);

/*
 * A decoded record. Pointers point into the plaintext buffer the record was
 * decoded from and stay valid as long as that buffer does.
 */
struct rec_record {
    uint8_t type;        /* enum rec_type */
    uint8_t reason;      /* RESET: enum rec_reset_reason; RESUME: flags; else 0 */
    uint64_t value;      /* DATA: offset; ACK, FINISHED, RESUME: received;
                            FINAL: total; RESET: 0 */
    const uint8_t *data; /* DATA: the bytes; RESET: the text (not terminated) */
    size_t len;          /* DATA: 1..16384; RESET: 0..200; else 0 */
};

/*
 * Decodes one record plaintext (syntax only: type, lengths, reason range, no
 * trailing bytes). Exposed because after decryption it is the parser of peer
 * bytes (fuzzed directly). rec_rx_open calls it; the stream rules (offsets,
 * tags, order) are checked there. *out is written only on success.
 */
__attribute__((warn_unused_result)) int rec_plain_decode(const uint8_t *p, size_t len,
                                                         struct rec_record *out);

/* ---- sending ---------------------------------------------------------------- */

struct rec_tx {
    union {
        struct sstream st; /* REC_SUITE_CHACHA20_POLY1305 */
        struct gstream gs; /* REC_SUITE_AES256_GCM */
    };
    uint8_t suite;        /* enum rec_suite */
    uint64_t offset;      /* data bytes sealed so far */
    uint64_t records;     /* records sealed so far */
    uint32_t rekey_every; /* REKEY tag on every rekey_every-th record */
    uint8_t ended;        /* FINAL or RESET sealed (resumable: RESET only) */
    uint8_t resumable;    /* §7.3: FINAL tagged by position, ACKs may follow it */
    uint8_t final_done;   /* resumable: FINAL sealed (or received by the peer) */
};

/*
 * Starts a direction with a 32-byte key (the Noise split key; the caller keeps
 * and wipes its copy) and writes the random 24-byte header that must be sent
 * raw before the first record. REC_E_NOMEM if the contexts cannot be
 * allocated (then nothing is held and every sealer returns REC_E_ENDED).
 */
int rec_tx_init(struct rec_tx *tx, const uint8_t key[REC_KEY_LEN],
                uint8_t header_out[REC_HEADER_LEN]);
/* The same with a suite (rec_tx_init is REC_SUITE_CHACHA20_POLY1305);
 * REC_E_ARG for an unknown suite. */
int rec_tx_init_suite(struct rec_tx *tx, enum rec_suite suite, const uint8_t key[REC_KEY_LEN],
                      uint8_t header_out[REC_HEADER_LEN]);

/* Changes the rekey interval (default 65536; tests lower it). n >= 1. */
int rec_tx_set_rekey_interval(struct rec_tx *tx, uint32_t n);

/*
 * Each sealer writes one complete frame (u16 length ‖ secretstream message)
 * to out[0..*outlen) (out must not overlap data) and advances the stream. On
 * error the state is unchanged and nothing is written (after REC_E_NOMEM, a
 * libcrypto failure, out may hold zeros). cap must be at least
 * REC_FRAME_HDR + plaintext + 17: rec_tx_data needs len + 28 (REC_FRAME_MAX
 * always suffices), the others at most REC_CTRL_FRAME_MAX.
 * After rec_tx_final or rec_tx_reset every sealer returns REC_E_ENDED.
 */
int rec_tx_data(struct rec_tx *tx, const uint8_t *data, size_t len, uint8_t *out, size_t cap,
                size_t *outlen);
int rec_tx_ack(struct rec_tx *tx, uint64_t received, uint8_t *out, size_t cap, size_t *outlen);
/* FINAL carries the current offset as its total. */
int rec_tx_final(struct rec_tx *tx, uint8_t *out, size_t cap, size_t *outlen);
/* text may be NULL when text_len is 0; text_len <= REC_TEXT_MAX; reason 1..4. */
int rec_tx_reset(struct rec_tx *tx, uint8_t reason, const uint8_t *text, size_t text_len,
                 uint8_t *out, size_t cap, size_t *outlen);
/* Data bytes sealed so far (the bound for the peer's ACKs). */
uint64_t rec_tx_offset(const struct rec_tx *tx);

/*
 * Resumption (§7.3). rec_tx_set_resumable / rec_rx_set_resumable switch a
 * direction to the resumable rules (FINAL keeps the tag of its position and
 * only ACK records may follow it), before any record moves. rec_tx_resume
 * seals the RESUME record that opens a resumed epoch; rec_tx_rewind then sets
 * the data offset to where the peer said it is (before any DATA of the epoch,
 * never past the offset already reached, which the caller keeps) and
 * rec_tx_mark_final marks the direction as ended by a FINAL of an earlier
 * epoch. rec_rx_resume_setup makes a fresh rx continue at `received` bytes,
 * with `acked` the highest ACK so far, expecting RESUME as its first record;
 * peer_final says the peer's FINAL was received in an earlier epoch.
 */
int rec_tx_set_resumable(struct rec_tx *tx);
int rec_tx_resume(struct rec_tx *tx, uint64_t received, uint8_t flags, uint8_t *out, size_t cap,
                  size_t *outlen);
int rec_tx_rewind(struct rec_tx *tx, uint64_t offset);
void rec_tx_mark_final(struct rec_tx *tx);
/*
 * FINISHED (§7.3): the responder of a resumable stream says it is finished
 * (its FINAL acknowledged, the peer's FINAL acknowledged by it); received is
 * the peer's total + 1, as its ACK of that FINAL. Only after our FINAL;
 * nothing can be sealed after it. The receiver accepts it only after the
 * sender's FINAL and only acknowledging all it sent (FINAL included).
 */
int rec_tx_finished(struct rec_tx *tx, uint64_t received, uint8_t *out, size_t cap, size_t *outlen);
/* Wipes the state (keys included). */
void rec_tx_done(struct rec_tx *tx);

/* ---- receiving -------------------------------------------------------------- */

enum rec_rx_state {
    REC_RX_OPEN = 0,
    REC_RX_FINAL, /* FINAL accepted: clean end of this direction */
    REC_RX_RESET, /* RESET accepted: the peer aborted the stream */
    REC_RX_FAILED,
    REC_RX_FINISHED, /* resumable: the peer's FINISHED accepted, nothing follows */
};

struct rec_rx {
    union {
        struct sstream st;
        struct gstream gs;
    };
    uint8_t suite;     /* enum rec_suite */
    uint64_t received; /* data bytes accepted so far */
    uint64_t acked;    /* highest ACK accepted so far */
    uint64_t records;  /* records accepted so far */
    uint32_t rekey_every;
    uint8_t state;       /* enum rec_rx_state */
    uint8_t resumable;   /* §7.3: FINAL tagged by position, ACKs may follow it */
    uint8_t want_resume; /* a resumed epoch: the first record must be RESUME */
    uint8_t final_after; /* the peer's FINAL came in an earlier epoch */
};

/*
 * Starts the receiving direction with the key and the peer's 24-byte header.
 * A wrong key or header is not detectable here; the first record then fails
 * with REC_E_DECRYPT. REC_E_NOMEM if the contexts cannot be allocated (then
 * nothing is held and the direction is failed).
 */
__attribute__((warn_unused_result)) int rec_rx_init(struct rec_rx *rx,
                                                    const uint8_t key[REC_KEY_LEN],
                                                    const uint8_t header[REC_HEADER_LEN]);
/* The same with a suite; both ends of a direction must use the same one. */
__attribute__((warn_unused_result)) int rec_rx_init_suite(struct rec_rx *rx, enum rec_suite suite,
                                                          const uint8_t key[REC_KEY_LEN],
                                                          const uint8_t header[REC_HEADER_LEN]);

/* The interval the sender uses (must match, default 65536). n >= 1. */
int rec_rx_set_rekey_interval(struct rec_rx *rx, uint32_t n);

/*
 * Authenticates, decrypts and validates one record from a frame body
 * (body[0..len), without the u16 length). `sent` is the number of data bytes
 * we have sent the peer in the other direction (rec_tx_offset of our tx): an
 * ACK above it is an error.
 *
 * The plaintext is written to plain[0..cap), cap >= len - 17. plain may be
 * exactly body + 1 (in-place decryption: the body buffer is overwritten, and
 * only after authentication succeeded) or must not overlap body at all.
 * On success *out describes the record and points into plain. On any error
 * *out is untouched, the plaintext written so far is wiped, and the direction
 * is poisoned (every later call returns REC_E_FAILED).
 */
__attribute__((warn_unused_result)) int rec_rx_open(struct rec_rx *rx, const uint8_t *body,
                                                    size_t len, uint64_t sent, uint8_t *plain,
                                                    size_t cap, struct rec_record *out);

/*
 * Says what an EOF of the transport means now: 0 if this direction ended
 * cleanly (FINAL or RESET accepted; see rx->state for which), REC_E_TRUNCATED
 * if it had not (the caller resets its local connection), REC_E_FAILED if the
 * direction had already failed. Marks a truncated direction failed.
 */
__attribute__((warn_unused_result)) int rec_rx_eof(struct rec_rx *rx);

/* Data bytes accepted so far (what our ACKs report). */
uint64_t rec_rx_received(const struct rec_rx *rx);
/* Wipes the state (keys included). */
void rec_rx_done(struct rec_rx *rx);

/* Resumption of a receiving direction: see rec_tx_set_resumable above. */
int rec_rx_set_resumable(struct rec_rx *rx);
int rec_rx_resume_setup(struct rec_rx *rx, uint64_t received, uint64_t acked, bool peer_final);

#endif
