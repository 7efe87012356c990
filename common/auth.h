/* SPDX-License-Identifier: MIT */
/*
 * auth — the AUTH payload of control handshake message 3 (docs/protocol.md
 * §4.1): what an agent claims (link, side) before the relay checks its static
 * key against the registry. Pure: no I/O, no allocation.
 *
 * auth_decode is total over untrusted bytes: any input gives 0 or -EBADMSG,
 * and *out is written only on success. agent_version is copied, NUL-ended,
 * with bytes outside printable ASCII replaced by '?', so it is safe to log.
 */
#ifndef LR_AUTH_H
#define LR_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_VERSION         1
#define AUTH_LINK_LEN        16
#define AUTH_RESUME_LEN      32 /* the only non-empty resume_ticket length */
#define AUTH_MAX_AGENT       32
#define AUTH_FLAG_RESUME     0x01 /* reserved: the agent supports resumption */
#define AUTH_FLAG_PEER_KEY   0x02 /* PEER_KEY with endorsements, KEY_ENDORSE (D21) */
#define AUTH_FLAG_RELAY_KEY  0x04 /* the agent understands RELAY_KEY (D21) */
#define AUTH_FLAG_ENROLL     0x08 /* enrollment: a verifier follows (D30) */
#define AUTH_FLAG_QUOTA      0x10 /* the agent takes OPEN_FAIL quota_exceeded (D29) */
#define AUTH_FLAG_STREAM_ACK 0x20 /* the agent sends and takes STREAM_ACK (D43) */
#define AUTH_FLAGS_KNOWN                                                                           \
    (AUTH_FLAG_RESUME | AUTH_FLAG_PEER_KEY | AUTH_FLAG_RELAY_KEY | AUTH_FLAG_ENROLL |              \
     AUTH_FLAG_QUOTA | AUTH_FLAG_STREAM_ACK)
#define AUTH_VERIFIER_LEN 32
#define AUTH_MIN_LEN      (1 + 1 + AUTH_LINK_LEN + 1 + 1 + 1)
#define AUTH_MAX_LEN      (AUTH_MIN_LEN + AUTH_RESUME_LEN + AUTH_MAX_AGENT + AUTH_VERIFIER_LEN)

struct auth {
    int side; /* 0 = a, 1 = b */
    uint8_t link_id[AUTH_LINK_LEN];
    uint8_t flags;
    char agent_version[AUTH_MAX_AGENT + 1];
    /* With AUTH_FLAG_ENROLL only: the enrollment code's verifier (enroll.h),
     * which the relay hashes and compares with the registry's hash. */
    uint8_t verifier[AUTH_VERIFIER_LEN];
};

int auth_decode(const uint8_t *p, size_t n, struct auth *out) __attribute__((warn_unused_result));
/* Encodes a (for tests and tools); -EINVAL on a bad field, -ENOSPC. */
int auth_encode(const struct auth *a, uint8_t *out, size_t cap, size_t *outlen);

#endif
