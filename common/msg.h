/* SPDX-License-Identifier: MIT */
/*
 * msg — control messages of docs/protocol.md §5 (the plaintext inside a
 * control transport frame): one tagged struct, one encoder, one decoder.
 *
 * Strings: a decoded str8 (relay_version, text, addresses) is a struct msg_str
 * pointing INTO the decoder's input, not NUL-terminated, valid exactly as long
 * as that input buffer is and unchanged. Copy what must outlive the buffer
 * (msg_str_cstr makes a NUL-terminated copy). For encoding, msg_str points at
 * caller memory that must stay valid during the msg_encode call.
 *
 * Secrets: a STREAM or RESUMED message carries a ticket (a one-time secret) copied into
 * the struct; sodium_memzero a struct msg that held one when done with it.
 *
 * Both directions enforce the same rules (§1, §5): msg_encode refuses to
 * produce a message msg_decode would reject, so a bug on our side is an error
 * return here rather than a peer closing on us. msg_decode is total: any
 * input gives 0 or a msg_error, and *out is written only on success.
 */
#ifndef LR_MSG_H
#define LR_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSG_MAX_LEN       4096u /* largest control message (§4.2) */
#define MSG_TICKET_LEN    32u
#define MSG_MAX_ADDRS     16u
#define MSG_MAX_TEXT      200u /* CLOSE and GOING_AWAY text */
#define MSG_MAX_VERSION   32u  /* WELCOME relay_version */
#define MSG_MAX_ADDR      255u /* one address, as str8 allows */
#define MSG_KEY_LEN       32u  /* PEER_KEY: an X25519 public key */
#define MSG_MAC_LEN       32u  /* PEER_KEY, KEY_ENDORSE: an endorsement (common/endorse.h) */
#define MSG_RESUME_ID_LEN 32u  /* §7.3 resume id */

enum msg_type {
    MSG_WELCOME = 0x01,
    MSG_PEER = 0x02,
    MSG_STREAM = 0x03,
    MSG_OPEN_FAIL = 0x04,
    MSG_CLOSE = 0x05,
    MSG_ADDRS = 0x06,
    MSG_REDIRECT = 0x07,
    MSG_GOING_AWAY = 0x08,
    MSG_PEER_KEY = 0x09,   /* only to agents that set AUTH_FLAG_PEER_KEY (D21) */
    MSG_RELAY_KEY = 0x0a,  /* only to agents that set AUTH_FLAG_RELAY_KEY (D21) */
    MSG_RESUMABLE = 0x0B,  /* relay → agent, empty: this relay pairs resumed legs */
    MSG_RESUME = 0x0C,     /* agent → relay: a new leg for a suspended stream */
    MSG_RESUMED = 0x0D,    /* relay → agent: STREAM + resume id */
    MSG_LEG_LOST = 0x0E,   /* agent → relay: my leg of that stream is gone, end it */
    MSG_STREAM_ACK = 0x0F, /* agent → relay → peer agent: data acknowledged (D43) */
    MSG_PING = 0x10,
    MSG_PONG = 0x11,
    MSG_OPEN = 0x20,
    MSG_KEY_ENDORSE = 0x21, /* only to relays that take it (AUTH_FLAG_PEER_KEY, D21) */
};

enum msg_role {
    MSG_ROLE_INITIATOR = 0, /* opened the stream; Noise KK initiator */
    MSG_ROLE_RESPONDER = 1,
};

enum msg_open_fail_reason {
    MSG_OPEN_FAIL_PEER_OFFLINE = 1,
    MSG_OPEN_FAIL_STREAM_LIMIT = 2,
    MSG_OPEN_FAIL_TIMEOUT = 3,
    MSG_OPEN_FAIL_INTERNAL = 4,
    MSG_OPEN_FAIL_RATE_LIMITED = 5,
    /* The link's byte quota is used up (D29); only to agents that set
     * AUTH_FLAG_QUOTA, the others get MSG_OPEN_FAIL_INTERNAL. */
    MSG_OPEN_FAIL_QUOTA_EXCEEDED = 6,
};

enum msg_close_reason {
    MSG_CLOSE_REVOKED = 1,
    MSG_CLOSE_KEY_ROTATED = 2,
    MSG_CLOSE_SHUTDOWN = 3,
    MSG_CLOSE_REPLACED = 4,
    MSG_CLOSE_TIMEOUT = 5,
    MSG_CLOSE_PROTOCOL = 6,
    MSG_CLOSE_LIMIT = 7,
    /* Added after 7 (D27): a decoder that predates it rejects the CLOSE and
     * ends the session as for any undecodable message (protocol.md §5). */
    MSG_CLOSE_SOURCE_NOT_ALLOWED = 8,
    /* Only to an agent that enrolled (AUTH flags bit 3, D30). */
    MSG_CLOSE_ENROLL_UNKNOWN = 9, /* no such code for this link side */
    MSG_CLOSE_ENROLL_EXPIRED = 10,
    MSG_CLOSE_ENROLL_SPENT = 11,
};

enum msg_redirect_reason {
    MSG_REDIRECT_HOME = 1,     /* the link's home relay is another pool member */
    MSG_REDIRECT_DRAINING = 2, /* this relay is leaving the pool */
};

/* Decoder/encoder errors (negative, distinct from errno values). */
enum msg_error {
    MSG_E_SHORT = -1200,    /* a field runs past the end (or empty input) */
    MSG_E_TRAILING = -1201, /* bytes left after the last field */
    MSG_E_TYPE = -1202,     /* unknown message type */
    MSG_E_RANGE = -1203,    /* a value outside its range */
    MSG_E_TOOBIG = -1204,   /* longer than MSG_MAX_LEN */
    MSG_E_NOSPC = -1205,    /* encode: output buffer too small */
};

struct msg_str {
    const uint8_t *p; /* not NUL-terminated; may be NULL when len is 0 */
    size_t len;
};

struct msg_welcome {
    uint16_t keepalive_s;  /* 1..65535 */
    uint16_t dead_after_s; /* 1..65535 */
    bool peer_online;
    uint16_t max_streams;
    struct msg_str relay_version; /* 0..32 bytes */
};

struct msg_stream {
    uint32_t req_id;    /* role initiator: the OPEN's req_id (!= 0); responder: 0 */
    uint64_t stream_id; /* != 0 */
    enum msg_role role;
    uint32_t expires_ms;
    uint8_t ticket[MSG_TICKET_LEN];
    uint8_t resume_id[MSG_RESUME_ID_LEN]; /* RESUMED only; STREAM: unused */
};

struct msg_resume {
    uint32_t req_id; /* != 0 */
    uint8_t resume_id[MSG_RESUME_ID_LEN];
};

struct msg_leg_lost {
    uint64_t stream_id;             /* != 0: the STREAM/RESUMED of the lost leg */
    uint8_t ticket[MSG_TICKET_LEN]; /* the ticket this side got for it */
};

/* STREAM_ACK (§7.3, D43): the sender has delivered `offset` data bytes of
 * the stream; mac authenticates it end to end (e2e_oob_ack_*), the relay
 * passes it on unread. */
#define MSG_ACK_MAC_LEN 16
struct msg_stream_ack {
    uint64_t stream_id; /* != 0: the STREAM/RESUMED of the stream's current leg */
    uint64_t offset;
    uint8_t mac[MSG_ACK_MAC_LEN];
};

struct msg_open_fail {
    uint32_t req_id; /* 0 when this side did not open the stream */
    enum msg_open_fail_reason reason;
};

struct msg_close {
    enum msg_close_reason reason;
    struct msg_str text; /* 0..200 bytes */
};

struct msg_addrs {
    size_t n;                           /* 0..16 */
    struct msg_str addr[MSG_MAX_ADDRS]; /* each 1..255 bytes, no NUL */
};

/* REDIRECT (D34): the home relay's advertised addresses, in its order. */
struct msg_redirect {
    enum msg_redirect_reason reason;
    size_t n;                           /* 1..16 */
    struct msg_str addr[MSG_MAX_ADDRS]; /* each 1..255 bytes, no NUL */
};

struct msg_going_away {
    uint16_t seconds;
    struct msg_str text; /* 0..200 bytes */
};

/* RELAY_KEY: the relay's next static key, which agents pin from now on. */
struct msg_relay_key {
    uint8_t key_id;
    uint8_t key[MSG_KEY_LEN]; /* valid X25519 public key */
};

/* PEER_KEY: key, and the endorsement of key by the side's former key `by`
 * (all-zero by and mac: none). KEY_ENDORSE: the agent's endorsement of its
 * new key `key` by its old key `by` (both valid and different). */
struct msg_key {
    uint8_t key[MSG_KEY_LEN]; /* valid X25519 public key */
    uint8_t by[MSG_KEY_LEN];
    uint8_t mac[MSG_MAC_LEN];
};

struct msg {
    enum msg_type type;
    union {
        struct msg_welcome welcome;
        bool peer_online;        /* PEER */
        struct msg_key peer_key; /* PEER_KEY, KEY_ENDORSE */
        struct msg_relay_key relay_key;
        struct msg_stream stream; /* STREAM, RESUMED */
        struct msg_resume resume; /* RESUME */
        struct msg_open_fail open_fail;
        struct msg_close close;
        struct msg_addrs addrs;
        struct msg_redirect redirect;
        struct msg_going_away going_away;
        uint64_t nonce; /* PING, PONG */
        struct msg_leg_lost leg_lost;
        struct msg_stream_ack stream_ack;
        uint32_t req_id; /* OPEN, != 0 */
    } u;
};

/* Decodes one whole message from p[0..n). Returns 0 or a msg_error. */
int msg_decode(const uint8_t *p, size_t n, struct msg *out) __attribute__((warn_unused_result));
/* Encodes m into out[0..cap) and sets *outlen; MSG_E_RANGE/MSG_E_TYPE when m
 * breaks a rule, MSG_E_TOOBIG above MSG_MAX_LEN, MSG_E_NOSPC when cap is too
 * small. out is unspecified and *outlen untouched on error. */
int msg_encode(const struct msg *m, uint8_t *out, size_t cap, size_t *outlen);

/* Copies s into out as a NUL-terminated string; -ENOSPC if s->len + 1 > cap,
 * -EINVAL if s contains a NUL. */
int msg_str_cstr(const struct msg_str *s, char *out, size_t cap);

/* Static names for logs; "unknown" for values outside the enums. */
const char *msg_type_name(int type);
const char *msg_close_reason_name(int reason);
const char *msg_open_fail_reason_name(int reason);
const char *msg_redirect_reason_name(int reason);
const char *msg_strerror(int err);

#endif
