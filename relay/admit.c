/* SPDX-License-Identifier: MIT */
#include "admit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sodium.h>

int admit_init(struct admit *l, const struct admit_cfg *cfg)
{
    size_t n = 64;

    memset(l, 0, sizeof(*l));
    l->cfg = *cfg;
    while (n < cfg->max_ips && n < ((size_t)1 << 20))
        n <<= 1;
    l->bucket = calloc(n, sizeof(*l->bucket));
    if (l->bucket == NULL)
        return -ENOMEM;
    l->nbuckets = n;
    randombytes_buf(l->hash_key, sizeof(l->hash_key));
    return 0;
}

void admit_done(struct admit *l)
{
    if (l->bucket == NULL)
        return;
    for (size_t i = 0; i < l->nbuckets; i++) {
        struct admit_ip *e = l->bucket[i];
        while (e != NULL) {
            struct admit_ip *next = e->next;
            free(e);
            e = next;
        }
    }
    free(l->bucket);
    l->bucket = NULL;
}

void admit_set_cfg(struct admit *l, const struct admit_cfg *cfg)
{
    /* The table size stays; max_ips only bounds how many entries it holds. */
    l->cfg = *cfg;
}

int admit_addr_key(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        memset(out, 0, 10);
        out[10] = 0xff;
        out[11] = 0xff;
        memcpy(out + 12, &s4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(out, &s6->sin6_addr, 16);
        return 0;
    }
    return -EAFNOSUPPORT;
}

/* Keyed hash: source addresses are chosen by the peer, so a predictable hash
 * would let one fill a single chain. */
static size_t admit_slot(const struct admit *l, const uint8_t addr[16])
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;

    crypto_shorthash(h, addr, 16, l->hash_key);
    memcpy(&v, h, sizeof(v));
    return (size_t)(v & (l->nbuckets - 1));
}

static struct admit_ip *admit_lookup(struct admit *l, const uint8_t addr[16])
{
    for (struct admit_ip *e = l->bucket[admit_slot(l, addr)]; e != NULL; e = e->next) {
        if (memcmp(e->addr, addr, 16) == 0)
            return e;
    }
    return NULL;
}

static int admit_refuse(struct admit *l, enum admit_kind k)
{
    l->hit[k]++;
    return -((int)k + 1000);
}

int admit_kind_of(int err)
{
    if (err <= -1000 && err > -(1000 + ADMIT_COUNT))
        return -err - 1000;
    return -1;
}

static int admit_get_ip(struct admit *l, const uint8_t addr[16], uint64_t now_ms,
                        struct admit_ip **out)
{
    struct admit_ip *e = admit_lookup(l, addr);
    size_t slot;

    if (e != NULL) {
        *out = e;
        return 0;
    }
    if (l->nips >= l->cfg.max_ips) {
        admit_sweep(l, now_ms);
        if (l->nips >= l->cfg.max_ips)
            return admit_refuse(l, ADMIT_IP_TABLE);
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    memcpy(e->addr, addr, 16);
    /* calloc: the bucket starts full (relay/tbucket.h). */
    slot = admit_slot(l, addr);
    e->next = l->bucket[slot];
    l->bucket[slot] = e;
    l->nips++;
    *out = e;
    return 0;
}

int admit_admit(struct admit *l, const uint8_t addr[16], uint64_t now_ms, struct admit_ip **out)
{
    struct admit_ip *e;
    int rc;

    if (l->conns >= l->cfg.max_conns)
        return admit_refuse(l, ADMIT_CONNS);
    rc = admit_get_ip(l, addr, now_ms, &e);
    if (rc < 0)
        return rc;
    /* The rate is charged first: a refused attempt still spends a token. */
    if (!tbucket_take(&e->bucket, l->cfg.rate, l->cfg.burst, now_ms))
        return admit_refuse(l, ADMIT_RATE);
    if (e->conns >= l->cfg.max_conns_per_ip)
        return admit_refuse(l, ADMIT_CONNS_IP);
    if (l->pending >= l->cfg.max_pending)
        return admit_refuse(l, ADMIT_PENDING);
    if (e->pending >= l->cfg.max_pending_per_ip)
        return admit_refuse(l, ADMIT_PENDING_IP);
    e->conns++;
    e->pending++;
    l->conns++;
    l->pending++;
    *out = e;
    return 0;
}

bool admit_kind_per_address(int kind)
{
    return kind == ADMIT_RATE || kind == ADMIT_PENDING_IP || kind == ADMIT_CONNS_IP;
}

int admit_admit_ticketed(struct admit *l, const uint8_t addr[16], int refused)
{
    int k = admit_kind_of(refused);
    struct admit_ip *e;

    if (!admit_kind_per_address(k))
        return refused;
    if (l->hit[k] > 0)
        l->hit[k]--;
    /* admit_admit charges the rate before the other per-address limits. */
    e = admit_lookup(l, addr);
    if (k != ADMIT_RATE && e != NULL)
        tbucket_give(&e->bucket);
    /* max_conns was checked first; max_pending maybe not (after max_conns_per_ip). */
    if (l->pending >= l->cfg.max_pending)
        return admit_refuse(l, ADMIT_PENDING);
    l->conns++;
    l->pending++;
    return 0;
}

void admit_vouch(struct admit *l, struct admit_ip *ip, bool was_pending)
{
    (void)l;
    if (was_pending && ip->pending > 0)
        ip->pending--;
    if (ip->conns > 0)
        ip->conns--;
    /* The token was taken at accept, before a byte was read; the ticket or
     * the handshake now shows it was the link's traffic, which its own limits
     * (open_rate_per_link, max_streams_per_link) pay for. */
    tbucket_give(&ip->bucket);
}

void admit_established(struct admit *l, struct admit_ip *ip)
{
    if (ip != NULL && ip->pending > 0)
        ip->pending--;
    if (l->pending > 0)
        l->pending--;
}

void admit_release(struct admit *l, struct admit_ip *ip, bool was_pending)
{
    if (was_pending)
        admit_established(l, ip);
    if (ip != NULL && ip->conns > 0)
        ip->conns--;
    if (l->conns > 0)
        l->conns--;
}

void admit_sweep(struct admit *l, uint64_t now_ms)
{
    for (size_t i = 0; i < l->nbuckets; i++) {
        struct admit_ip **pp = &l->bucket[i];
        while (*pp != NULL) {
            struct admit_ip *e = *pp;
            if (e->conns == 0 && tbucket_full(&e->bucket, l->cfg.rate, l->cfg.burst, now_ms)) {
                *pp = e->next;
                free(e);
                l->nips--;
            } else {
                pp = &e->next;
            }
        }
    }
}

const char *admit_name(enum admit_kind k)
{
    static const char *const names[ADMIT_COUNT] = {
        "conn_rate_per_ip",  "max_pending",   "max_pending_per_ip",   "max_conns_per_ip",
        "max_conns",         "max_ips",       "max_streams_per_link", "preauth_bytes",
        "handshake_timeout", "control_queue", "open_rate_per_link",
    };
    if ((unsigned)k >= ADMIT_COUNT)
        return "unknown";
    return names[k];
}

/* Raises the soft fd limit to the hard one; max_conns stays 64 below it. */
uint32_t admit_fd_budget(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024 - 64;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576)
        rl.rlim_cur = 1048576;
    return rl.rlim_cur > 128 ? (uint32_t)(rl.rlim_cur - 64) : 64;
}
