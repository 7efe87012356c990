/* SPDX-License-Identifier: MIT */
/*
 * admit — admission control for new connections (docs/protocol.md §9):
 * a per-source-address token bucket for new connections, pending (not yet
 * authenticated or paired) connections per address and in total, all
 * connections per address and in total.
 *
 * Pure bookkeeping, no I/O: the caller passes the time and the peer address.
 * A connection that admit_admit accepted holds a reference to its address
 * entry (struct admit_ip) until admit_release; the entry's memory belongs to
 * the table and stays valid while referenced. Entries without connections are
 * kept until their bucket has refilled (so closing and reconnecting does not
 * reset the rate) and dropped by admit_sweep.
 */
#ifndef LR_ADMIT_H
#define LR_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "tbucket.h"

/* Which limit refused a connection; also the index into admit_hit counters. */
enum admit_kind {
    ADMIT_RATE = 0,     /* conn_rate_per_ip */
    ADMIT_PENDING,      /* max_pending */
    ADMIT_PENDING_IP,   /* max_pending_per_ip */
    ADMIT_CONNS_IP,     /* max_conns_per_ip */
    ADMIT_CONNS,        /* max_conns */
    ADMIT_IP_TABLE,     /* too many distinct addresses tracked */
    ADMIT_STREAMS_LINK, /* max_streams_per_link (counted by the caller) */
    ADMIT_PREAUTH,      /* preauth_bytes (counted by the caller) */
    ADMIT_HANDSHAKE,    /* handshake_timeout (counted by the caller) */
    ADMIT_CTRL_QUEUE,   /* control session not reading (counted by the caller) */
    ADMIT_OPEN_RATE,    /* open_rate_per_link (counted by the caller) */
    ADMIT_COUNT
};

struct admit_cfg {
    uint32_t rate;  /* new connections per second per address */
    uint32_t burst; /* bucket size */
    uint32_t max_pending;
    uint32_t max_pending_per_ip;
    uint32_t max_conns_per_ip;
    uint32_t max_conns;
    uint32_t max_ips; /* distinct addresses tracked at once */
};

struct admit_ip {
    struct admit_ip *next;
    uint8_t addr[16];      /* IPv4 as ::ffff:a.b.c.d */
    uint32_t conns;        /* all connections from this address */
    uint32_t pending;      /* those not yet authenticated or paired */
    struct tbucket bucket; /* relay/tbucket.h; zeroed = full */
};

struct admit {
    struct admit_cfg cfg;
    struct admit_ip **bucket;
    size_t nbuckets;
    size_t nips;
    uint32_t conns;
    uint32_t pending;
    uint64_t hit[ADMIT_COUNT];
    uint8_t hash_key[16];
};

int admit_init(struct admit *l, const struct admit_cfg *cfg);
void admit_done(struct admit *l);
/* Takes new values (SIGHUP); current counts are kept. */
void admit_set_cfg(struct admit *l, const struct admit_cfg *cfg);

/* The 16-byte key of an address (IPv4 mapped into IPv6); -EAFNOSUPPORT. */
int admit_addr_key(const struct sockaddr *sa, uint8_t out[16]);
/*
 * Admits a new connection from addr (a 16-byte key) as pending: takes a rate
 * token, checks every limit, counts it. Returns 0 with *out (the reference to
 * pass to the functions below), or -(ADMIT_x + 1000) naming the limit that
 * refused it (also counted in l->hit). -ENOMEM.
 */
int admit_admit(struct admit *l, const uint8_t addr[16], uint64_t now_ms, struct admit_ip **out);
/*
 * A connection admit_admit refused (refused: its return value) turned out,
 * before a byte was read, to carry a live ticket in its first bytes: a leg of
 * a link's stream (docs/design.md D16). If a per-address limit refused it
 * (conn_rate_per_ip, max_pending_per_ip, max_conns_per_ip), the refusal is
 * taken back (its hit, and the rate token if the rate had charged one) and
 * the connection is admitted as pending on the relay-wide limits only (there
 * is no address reference: pass NULL to admit_established/admit_release).
 * Returns 0, refused unchanged for any other limit, or -(ADMIT_PENDING +
 * 1000) when max_pending is reached.
 */
int admit_admit_ticketed(struct admit *l, const uint8_t addr[16], int refused);
/* True for the limits of one source address that admit_admit_ticketed can
 * take back (conn_rate_per_ip, max_pending_per_ip, max_conns_per_ip); kind is
 * an enum admit_kind or -1. */
bool admit_kind_per_address(int kind);
/* Turns a admit_admit error back into its enum admit_kind, or -1. */
int admit_kind_of(int err);
/*
 * The connection proved it belongs to a link: a control session authenticated
 * (message 3 verified, link found and enabled) or a stream leg presented a
 * valid ticket (docs/design.md D16). It leaves its address's counts (conns,
 * and pending if was_pending) and the address gets back the rate token it paid
 * at accept; from here on it is charged to its link. The relay-wide counts
 * (max_conns, max_pending) keep it. ip must not be used by the caller after
 * this (the entry may be swept once nothing references it); pass NULL for it
 * to admit_established and admit_release.
 */
void admit_vouch(struct admit *l, struct admit_ip *ip, bool was_pending);
/* The connection authenticated or paired: no longer pending. ip is NULL after
 * admit_vouch (only the relay-wide count changes then). */
void admit_established(struct admit *l, struct admit_ip *ip);
/* The connection closed; was_pending says if admit_established never ran; ip
 * is NULL after admit_vouch. */
void admit_release(struct admit *l, struct admit_ip *ip, bool was_pending);
/* Drops entries without connections whose bucket is full again. */
void admit_sweep(struct admit *l, uint64_t now_ms);
/* Static name of a limit for logs and the admin socket ("conn_rate_per_ip"). */
const char *admit_name(enum admit_kind k);

/* The process's file descriptors for connections: raises the soft fd limit
 * to the hard one (at most 1048576) and returns it less 64 for everything
 * else (the relay's max_conns default). */
uint32_t admit_fd_budget(void);

#endif
