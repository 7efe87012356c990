/* SPDX-License-Identifier: MIT */
/*
 * frame — the connection preamble and length-prefixed frames
 * (docs/protocol.md §3, limits from §9).
 *
 * Sans-I/O: the caller owns every byte array. The parser never copies; a parsed
 * frame's body points into the caller's input and is valid as long as that
 * input is (for a struct bq: until the next bq_* call that changes it). Nothing
 * here allocates or closes anything; the caller decides what an error does to
 * the connection (before authentication: the silent close of §8).
 */
#ifndef LR_FRAME_H
#define LR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define FRAME_MAGIC        "LRLY"
#define FRAME_PREAMBLE_LEN 8
#define FRAME_VERSION      1
#define FRAME_HDR_LEN      2
#define FRAME_MAX_LEN      65535u /* the u16 length field */
#define FRAME_MAX_CTRL_MSG 4096u  /* control message plaintext (§4.2) */
#define FRAME_AEAD_TAG     16u    /* ChaChaPoly tag of a Noise transport message */
#define FRAME_SS_ABYTES    17u    /* secretstream overhead of one record */
#define FRAME_MAX_REC_DATA 16384u /* DATA bytes in one record (§7.2) */
/* Largest frame body per use (§9). */
#define FRAME_MAX_CONTROL   (FRAME_MAX_CTRL_MSG + FRAME_AEAD_TAG) /* 4112 */
#define FRAME_MAX_HANDSHAKE 256u
#define FRAME_MAX_RECORD    (FRAME_MAX_REC_DATA + 9u + FRAME_SS_ABYTES) /* 16410 */
/* Default of preauth_bytes (§9): bytes read before authentication or pairing. */
#define FRAME_PREAUTH_BYTES_DEFAULT 4096u

enum frame_kind {
    FRAME_KIND_CONTROL = 1,
    FRAME_KIND_STREAM = 2,
};

/* Preamble errors; negative, distinct from the errno values used here. */
enum frame_error {
    FRAME_E_MAGIC = -1100,    /* not "LRLY" */
    FRAME_E_VERSION = -1101,  /* version other than 1 */
    FRAME_E_KIND = -1102,     /* kind other than 1 or 2 */
    FRAME_E_KEY_ID = -1103,   /* stream preamble with a non-zero key id */
    FRAME_E_RESERVED = -1104, /* reserved byte not 0 */
};

struct frame_preamble {
    enum frame_kind kind;
    uint8_t key_id; /* control: the pinned relay key id; stream: 0 */
};

/*
 * Checks the preamble at p[0..n). Only the first FRAME_PREAMBLE_LEN bytes are
 * looked at (what follows is the first frame). Bytes are checked as far as they
 * are present, so garbage is rejected as early as its first wrong byte:
 * returns a frame_error as soon as a present byte is wrong, -EAGAIN when the
 * bytes so far are valid but fewer than 8, and 0 with *out written when the
 * whole preamble is valid.
 */
int frame_preamble_decode(const uint8_t *p, size_t n, struct frame_preamble *out);
/* Writes the 8 preamble bytes; -EINVAL if *pre is not valid (bad kind, or a
 * stream with a key id), -ENOSPC if they do not fit. */
int frame_preamble_encode(const struct frame_preamble *pre, struct buf *b);

/* The Noise prologue of a control session (§4): this text, then the 8
 * preamble bytes as sent, so a preamble changed on the way fails the
 * handshake. Both ends and every test peer build it with this one call. */
#define FRAME_CONTROL_PROLOGUE     "linkrelay/1 control"
#define FRAME_CONTROL_PROLOGUE_LEN (sizeof(FRAME_CONTROL_PROLOGUE) - 1 + FRAME_PREAMBLE_LEN)
void frame_control_prologue(const uint8_t preamble[FRAME_PREAMBLE_LEN],
                            uint8_t out[FRAME_CONTROL_PROLOGUE_LEN]);

struct frame {
    const uint8_t *body; /* points into the parsed input */
    size_t len;          /* 1..max_body */
    size_t consumed;     /* FRAME_HDR_LEN + len: drop this many bytes */
};

/*
 * Parses one frame from the start of p[0..n), allowing bodies up to max_body
 * (values above FRAME_MAX_LEN mean FRAME_MAX_LEN). Returns
 *   0          a whole frame is present: *out written;
 *   -EAGAIN    more bytes are needed: if need is not NULL, *need is set to how
 *              many more bytes make the frame complete (2 - n while the header
 *              is incomplete, then exactly the rest of the frame); this is the
 *              one out-parameter written on an error return;
 *   -EBADMSG   the length is zero;
 *   -EMSGSIZE  the length is above max_body (known from the header alone).
 */
int frame_parse(const uint8_t *p, size_t n, size_t max_body, struct frame *out, size_t *need);
/* Writes the 2-byte header of a body of len bytes; -EINVAL unless
 * 1 <= len <= FRAME_MAX_LEN, -ENOSPC if it does not fit. */
int frame_header_encode(size_t len, struct buf *b);
/* Writes a header and the body, or nothing (-EINVAL, -ENOSPC). */
int frame_encode(const uint8_t *body, size_t len, struct buf *b);

/* A static English description of an error returned by this module (frame
 * errors and the errno values above); never NULL. */
const char *frame_strerror(int err);

#endif
