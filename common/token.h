/* SPDX-License-Identifier: MIT */
/*
 * token — enrollment tokens (docs/protocol.md §2.1).
 *
 * Text: "lrtok1" + base32(body || check), check = first 4 bytes of
 * SHA-256("lrtok1" || body), lowercase RFC 4648 alphabet without padding
 * (decoders accept uppercase). The body is the table of §2.1.
 *
 * A token with a private key (TOKEN_FLAG_PRIV) is a secret: it is encoded and
 * decoded in constant time with respect to the key bytes, every temporary
 * that held it is wiped, and the caller must token_wipe() the struct when done.
 * The token does not carry this side's public key: derive it with
 * token_own_pub().
 *
 * Pure functions, no allocation; sodium_init() must have been called.
 */
#ifndef LR_TOKEN_H
#define LR_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define TOKEN_VERSION   1
#define TOKEN_FLAG_PRIV 0x01
#define TOKEN_MAX_ADDRS 16
#define TOKEN_ADDR_MAX  255 /* bytes of one "host:port" */
#define TOKEN_NAME_MAX  64  /* bytes of the name */
#define TOKEN_PREFIX    "lrtok1"
/* Largest body: fixed fields, a private key, 16 addresses of 255 bytes and a
 * 64-byte name; the largest text adds the check, base32 and the prefix. */
#define TOKEN_BODY_MAX  (1 + 1 + 16 + 1 + 1 + 32 + 32 + 32 + 1 + 16 * 256 + 1 + 64)
#define TOKEN_TEXT_MAX  (6 + ((TOKEN_BODY_MAX + 4) * 8 + 4) / 5) /* 6858 */
#define TOKEN_TEXT_SIZE (TOKEN_TEXT_MAX + 1)

struct token {
    uint8_t version; /* TOKEN_VERSION */
    uint8_t flags;   /* TOKEN_FLAG_PRIV or 0 */
    uint8_t link_id[LINKID_LEN];
    uint8_t side; /* 0 = a, 1 = b */
    uint8_t relay_key_id;
    uint8_t relay_pub[KEY_LEN];
    uint8_t peer_pub[KEY_LEN];
    uint8_t priv[KEY_LEN];                           /* valid only with TOKEN_FLAG_PRIV; secret */
    uint8_t n_addrs;                                 /* 1..TOKEN_MAX_ADDRS */
    char addrs[TOKEN_MAX_ADDRS][TOKEN_ADDR_MAX + 1]; /* NUL-terminated */
    char name[TOKEN_NAME_MAX + 1];                   /* NUL-terminated */
};

enum token_err {
    TOKEN_OK = 0,
    TOKEN_ERR_PREFIX = -1,      /* not a token (unknown prefix) */
    TOKEN_ERR_KIND_PUB = -2,    /* wrong kind: this is a public key */
    TOKEN_ERR_KIND_PRIV = -3,   /* wrong kind: this is a private key */
    TOKEN_ERR_TRUNCATED = -4,   /* text ends inside the body */
    TOKEN_ERR_TOO_LONG = -5,    /* longer than TOKEN_TEXT_MAX */
    TOKEN_ERR_BAD_CHAR = -6,    /* bad character at position errpos */
    TOKEN_ERR_CHECKSUM = -7,    /* checksum mismatch (likely a typo) */
    TOKEN_ERR_VERSION = -8,     /* unsupported version */
    TOKEN_ERR_FLAGS = -9,       /* unknown flag bits */
    TOKEN_ERR_SIDE = -10,       /* side not 0 or 1 */
    TOKEN_ERR_NO_ADDRS = -11,   /* zero relay addresses */
    TOKEN_ERR_MANY_ADDRS = -12, /* more than 16 relay addresses */
    TOKEN_ERR_BAD_ADDR = -13,   /* an address is not host:port */
    TOKEN_ERR_BAD_NAME = -14,   /* name too long, not UTF-8, or control chars */
    TOKEN_ERR_BAD_KEY = -15,    /* relay or peer key all-zero or low-order */
    TOKEN_ERR_TRAILING = -16,   /* bytes after the body under a valid check */
    TOKEN_ERR_NOSPACE = -17,    /* token_encode: output buffer too small */
    TOKEN_ERR_OWN_KEY = -18,    /* the private key is the peer's (own pub == peer_pub) */
};

/* Static text for an enum token_err value (never NULL). */
const char *token_strerror(int err);

/* token_strerror(err), or "bad character at position N" (N = errpos,
 * 1-based) for TOKEN_ERR_BAD_CHAR. Always NUL-terminates when cap > 0. */
void token_format_error(int err, size_t errpos, char *out, size_t cap);

/*
 * Checks t (the same rules as the decoder: version, flags, side, 1..16
 * addresses that addr_parse() accepts with a non-zero port, 1..255 bytes each,
 * name <= 64 bytes of UTF-8 without control characters, relay and peer keys
 * pass key_pub_check, the private key's public key is not peer_pub) and writes the text to out
 * (NUL-terminated). Returns 0, an enum token_err, or TOKEN_ERR_NOSPACE when cap is too small
 * (TOKEN_TEXT_SIZE always suffices).
 */
int token_encode(const struct token *t, char *out, size_t cap) __attribute__((warn_unused_result));

/*
 * Decodes NUL-terminated text into out. Returns 0 or an enum token_err; out
 * is written only on success. errpos may be NULL; on TOKEN_ERR_BAD_CHAR it gets
 * the 1-based position in text. On success, token_encode() of the result
 * gives back text in lowercase (there is exactly one text per token).
 */
int token_decode(const char *text, struct token *out, size_t *errpos)
    __attribute__((warn_unused_result));

/* The public key of this side (from priv). Returns 0, or -ENOENT when the
 * token has no private key. */
int token_own_pub(const struct token *t, uint8_t pub[KEY_LEN]);

/* Wipes the whole struct (sodium_memzero). Accepts NULL. */
void token_wipe(struct token *t);

#endif
