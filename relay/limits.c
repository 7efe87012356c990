#include "limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

void tbucket_init(struct tbucket *b, double burst, uint64_t now_ms)
{
    b->tokens = burst;
    b->last_ms = now_ms;
}

static void tbucket_refill(struct tbucket *b, double rate, double burst, uint64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += rate * (double)(now_ms - b->last_ms) / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
        b->last_ms = now_ms;
    }
}

bool tbucket_take(struct tbucket *b, double rate, double burst, uint64_t now_ms)
{
    tbucket_refill(b, rate, burst, now_ms);
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

bool tbucket_full(const struct tbucket *b, double rate, double burst, uint64_t now_ms)
{
    struct tbucket c = *b;

    tbucket_refill(&c, rate, burst, now_ms);
    return c.tokens >= burst;
}

int limits_init(struct limits *l, const struct limits_cfg *cfg)
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

void limits_done(struct limits *l)
{
    if (l->bucket == NULL)
        return;
    for (size_t i = 0; i < l->nbuckets; i++) {
        struct limits_ip *e = l->bucket[i];
        while (e != NULL) {
            struct limits_ip *next = e->next;
            free(e);
            e = next;
        }
    }
    free(l->bucket);
    l->bucket = NULL;
}

void limits_set_cfg(struct limits *l, const struct limits_cfg *cfg)
{
    /* The table size stays; max_ips only bounds how many entries it holds. */
    l->cfg = *cfg;
}

int limits_addr_key(const struct sockaddr *sa, uint8_t out[16])
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
static size_t limits_slot(const struct limits *l, const uint8_t addr[16])
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;

    crypto_shorthash(h, addr, 16, l->hash_key);
    memcpy(&v, h, sizeof(v));
    return (size_t)(v & (l->nbuckets - 1));
}

static struct limits_ip *limits_lookup(struct limits *l, const uint8_t addr[16])
{
    for (struct limits_ip *e = l->bucket[limits_slot(l, addr)]; e != NULL; e = e->next) {
        if (memcmp(e->addr, addr, 16) == 0)
            return e;
    }
    return NULL;
}

static int limits_refuse(struct limits *l, enum limits_kind k)
{
    l->hit[k]++;
    return -((int)k + 1000);
}

int limits_kind_of(int err)
{
    if (err <= -1000 && err > -(1000 + LIMITS_COUNT))
        return -err - 1000;
    return -1;
}

static int limits_get_ip(struct limits *l, const uint8_t addr[16], uint64_t now_ms,
                         struct limits_ip **out)
{
    struct limits_ip *e = limits_lookup(l, addr);
    size_t slot;

    if (e != NULL) {
        *out = e;
        return 0;
    }
    if (l->nips >= l->cfg.max_ips) {
        limits_sweep(l, now_ms);
        if (l->nips >= l->cfg.max_ips)
            return limits_refuse(l, LIMITS_IP_TABLE);
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    memcpy(e->addr, addr, 16);
    tbucket_init(&e->bucket, l->cfg.burst, now_ms);
    slot = limits_slot(l, addr);
    e->next = l->bucket[slot];
    l->bucket[slot] = e;
    l->nips++;
    *out = e;
    return 0;
}

int limits_admit(struct limits *l, const uint8_t addr[16], uint64_t now_ms, struct limits_ip **out)
{
    struct limits_ip *e;
    int rc;

    if (l->conns >= l->cfg.max_conns)
        return limits_refuse(l, LIMITS_CONNS);
    rc = limits_get_ip(l, addr, now_ms, &e);
    if (rc < 0)
        return rc;
    /* The rate is charged first: a refused attempt still spends a token. */
    if (!tbucket_take(&e->bucket, l->cfg.rate, l->cfg.burst, now_ms))
        return limits_refuse(l, LIMITS_RATE);
    if (e->conns >= l->cfg.max_conns_per_ip)
        return limits_refuse(l, LIMITS_CONNS_IP);
    if (l->pending >= l->cfg.max_pending)
        return limits_refuse(l, LIMITS_PENDING);
    if (e->pending >= l->cfg.max_pending_per_ip)
        return limits_refuse(l, LIMITS_PENDING_IP);
    e->conns++;
    e->pending++;
    l->conns++;
    l->pending++;
    *out = e;
    return 0;
}

void limits_established(struct limits *l, struct limits_ip *ip)
{
    if (ip->pending > 0)
        ip->pending--;
    if (l->pending > 0)
        l->pending--;
}

void limits_release(struct limits *l, struct limits_ip *ip, bool was_pending)
{
    if (was_pending)
        limits_established(l, ip);
    if (ip->conns > 0)
        ip->conns--;
    if (l->conns > 0)
        l->conns--;
}

void limits_sweep(struct limits *l, uint64_t now_ms)
{
    for (size_t i = 0; i < l->nbuckets; i++) {
        struct limits_ip **pp = &l->bucket[i];
        while (*pp != NULL) {
            struct limits_ip *e = *pp;
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

const char *limits_name(enum limits_kind k)
{
    static const char *const names[LIMITS_COUNT] = {
        "conn_rate_per_ip",     "max_pending",   "max_pending_per_ip",
        "max_conns_per_ip",     "max_conns",     "max_ips",
        "max_streams_per_link", "preauth_bytes", "handshake_timeout",
    };
    if ((unsigned)k >= LIMITS_COUNT)
        return "unknown";
    return names[k];
}
