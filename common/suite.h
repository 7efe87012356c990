/* SPDX-License-Identifier: MIT */
/*
 * suite — which record suite a stream uses (docs/protocol.md §7.1, §7.2,
 * design.md D37), and the e2e HELLO that carries the offers.
 *
 * HELLO, the payload of both KK handshake messages: version u8 (1), flags u8
 * (bit 0: this side offers resumption, §7.3), resume str8. With the offer,
 * the str8 starts with ack_every u32 (resume.h, D32); then (and without the
 * offer, from its start) come items `type u8 ‖ len u8 ‖ value[len]`; type 1
 * "suites" lists the record suites the sender offers besides
 * ChaCha20-Poly1305 (one u8 each: 1 AES-256-GCM). A side that offers
 * nothing more sends no item, which is byte for byte the HELLO of the agents
 * before D37. Type 2 "stream_ack" (empty, only with the resumption offer,
 * D43) says the sender sends and takes STREAM_ACK for this stream on its
 * control session (protocol.md §5, §7.3); in the offer set it is
 * SUITE_OFFER_STREAM_ACK (they take ack_every from the first 4 bytes or accept any
 * content and ignore it). A receiver ignores unknown item types and unknown
 * suite ids; an item running past the end of the str8 is a malformed HELLO.
 * With the offer and fewer than 4 bytes (an agent before D32) there are no
 * items.
 *
 * The stream uses AES-256-GCM when both HELLOs offer it, ChaCha20-Poly1305
 * otherwise. Both HELLOs are handshake payloads, encrypted and bound to the
 * handshake hash: changing an offer on the way makes the handshake fail.
 *
 * Pure functions, no state (suite_cpu_aes asks the CPU once per call).
 */
#ifndef LR_SUITE_H
#define LR_SUITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec.h"
#include "resume.h"

/* Offer sets: a bit per enum rec_suite; ChaCha20-Poly1305 is always in. */
#define SUITE_BIT(s)       (1u << (s))
#define SUITE_OFFER_CHACHA SUITE_BIT(REC_SUITE_CHACHA20_POLY1305)
#define SUITE_OFFER_ALL    (SUITE_OFFER_CHACHA | SUITE_BIT(REC_SUITE_AES256_GCM))

/* Not a suite: the offer of STREAM_ACK (item 2, D43), in the same set. */
#define SUITE_OFFER_STREAM_ACK (1u << 8)

/* Not a suite either: the link_session item (3, D46), empty: the sender
 * makes a link session from this KK when the peer's HELLO carries it too
 * (e2els.h); with or without the resumption offer, after the others. */
#define SUITE_OFFER_LINK_SESSION (1u << 9)

/* Not a suite either: the keep_leg item (4, D48), empty: the sender keeps
 * the stream's leg for the next stream of the link when both HELLOs carry
 * it (docs/protocol.md §7.5); last. */
#define SUITE_OFFER_KEEP_LEG (1u << 10)

/* Not a suite either: the share_leg item (5, D58), empty: with keep_leg in
 * both HELLOs too, the kept leg becomes a shared leg that carries many
 * streams at once (docs/protocol.md §7.6); last. */
#define SUITE_OFFER_SHARE_LEG (1u << 11)

/* The resume offer, one suites item of one id, the stream_ack item, the
 * link_session item, the keep_leg item, the share_leg item. */
#define SUITE_HELLO_MAX         (RESUME_OFFER_MAX + 3 + 2 + 2 + 2 + 2)
#define SUITE_ITEM_SUITES       0x01
#define SUITE_ITEM_STREAM_ACK   0x02
#define SUITE_ITEM_LINK_SESSION 0x03
#define SUITE_ITEM_KEEP_LEG     0x04
#define SUITE_ITEM_SHARE_LEG    0x05

/* linkagent.conf `cipher` (linkagent.conf(5)). */
enum suite_cfg {
    SUITE_CFG_AUTO = 0, /* offer AES-256-GCM when the CPU has AES and carry-less multiply */
    SUITE_CFG_CHACHA,   /* offer ChaCha20-Poly1305 only */
    SUITE_CFG_AES,      /* offer AES-256-GCM whatever the CPU */
};

/* "auto", "chacha20-poly1305", "aes-256-gcm": 0, or -EINVAL. */
int suite_cfg_parse(const char *s, enum suite_cfg *out);
const char *suite_cfg_name(enum suite_cfg c);
/* "chacha20-poly1305" or "aes-256-gcm" (or "unknown"). */
const char *suite_name(enum rec_suite s);

/* True when the CPU has the AES and carry-less multiplication instructions
 * OpenSSL's fast AES-GCM uses (x86-64: AES-NI and PCLMULQDQ; arm64: AES and PMULL). */
bool suite_cpu_aes(void);
/* The offer set of a side with this setting on this CPU. */
unsigned suite_offer(enum suite_cfg cfg, bool cpu_aes);
/* The suite of a stream whose two sides offer mine and theirs. */
enum rec_suite suite_choose(unsigned mine, unsigned theirs);

/* Writes the HELLO (resume_offer_encode's, then the suites item when
 * AES-256-GCM is offered, then the stream_ack item when offered with
 * resume, then the link_session item, then the keep_leg item, then the
 * share_leg item, when offered); returns its length. */
size_t suite_hello_encode(bool resume, uint32_t ack_every, unsigned offer,
                          uint8_t out[SUITE_HELLO_MAX]);
/* Parses a peer's HELLO: resume_offer_check's resumption flag and ACK
 * interval, and the offer set (ChaCha always in it). -EBADMSG for a wrong
 * version, an unknown flag, a malformed item or trailing bytes; nothing is
 * written then. */
__attribute__((warn_unused_result)) int
suite_hello_check(const uint8_t *p, size_t len, bool *resume, uint32_t *ack_every, unsigned *offer);

#endif
