/* SPDX-License-Identifier: MIT */
/*
 * e2els — see e2els.h, docs/protocol.md §7.4 and docs/design.md D46.
 */
#include "e2els.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#define L_KEY "linkrelay/1 link session"
#define L_ID  "linkrelay/1 link session id"
#define L_T1  "linkrelay/1 ls transcript"
/* The PRF's labels: all 17 bytes, so label ‖ fixed-length input is injective. */
#define L_HI      "linkrelay/1 ls hi"
#define L_HR      "linkrelay/1 ls hr"
#define L_IR      "linkrelay/1 ls ir"
#define L_RI      "linkrelay/1 ls ri"
#define L_RK      "linkrelay/1 ls rk"
#define LABEL_LEN 17
_Static_assert(sizeof(L_HI) - 1 == LABEL_LEN && sizeof(L_RK) - 1 == LABEL_LEN, "label length");

#define TAG_LEN crypto_aead_chacha20poly1305_ietf_ABYTES

static bool usable(const struct e2els *s, uint64_t now)
{
    return s->used && s->confirmed && now - s->born_ms < E2ELS_MAX_AGE_MS &&
           s->streams < E2ELS_MAX_STREAMS;
}

void e2els_store_tick(struct e2els_store *st, uint64_t now_ms)
{
    st->now_ms = now_ms;
    for (size_t i = 0; i < E2ELS_SLOTS; i++)
        if (st->s[i].used && now_ms - st->s[i].born_ms >= E2ELS_MAX_AGE_MS + E2ELS_GRACE_MS)
            sodium_memzero(&st->s[i], sizeof(st->s[i]));
}

void e2els_store_clear(struct e2els_store *st)
{
    sodium_memzero(st->s, sizeof(st->s));
    st->ask_until = 0;
    st->gen++;
}

static void put(struct e2els_store *st, const uint8_t key[E2ELS_KEY_LEN],
                const uint8_t id[E2ELS_ID_LEN], bool confirmed)
{
    struct e2els *slot = NULL;

    if (confirmed) /* a session came: the next one is asked for when it expires */
        st->ask_until = 0;
    for (size_t i = 0; i < E2ELS_SLOTS; i++) {
        if (st->s[i].used && sodium_memcmp(st->s[i].id, id, E2ELS_ID_LEN) == 0) {
            st->s[i].confirmed |= confirmed;
            return;
        }
    }
    /* A free slot, else the oldest: the peer keys its streams with the newest
     * it holds (e2els_begin), so the oldest is the one it has left. */
    for (size_t i = 0; i < E2ELS_SLOTS && slot == NULL; i++)
        if (!st->s[i].used)
            slot = &st->s[i];
    for (size_t i = 0; i < E2ELS_SLOTS && (slot == NULL || slot->used); i++)
        if (slot == NULL || st->s[i].born_ms < slot->born_ms)
            slot = &st->s[i];
    sodium_memzero(slot, sizeof(*slot));
    memcpy(slot->key, key, E2ELS_KEY_LEN);
    memcpy(slot->id, id, E2ELS_ID_LEN);
    slot->born_ms = st->now_ms;
    slot->used = true;
    slot->confirmed = confirmed;
    st->made++;
}

void e2els_store_add(struct e2els_store *st, const uint8_t key[E2ELS_KEY_LEN],
                     const uint8_t id[E2ELS_ID_LEN])
{
    put(st, key, id, true);
}

void e2els_store_drop(struct e2els_store *st, const uint8_t id[E2ELS_ID_LEN])
{
    for (size_t i = 0; i < E2ELS_SLOTS; i++)
        if (st->s[i].used && sodium_memcmp(st->s[i].id, id, E2ELS_ID_LEN) == 0)
            sodium_memzero(&st->s[i], sizeof(st->s[i]));
}

size_t e2els_store_count(const struct e2els_store *st)
{
    size_t n = 0;

    for (size_t i = 0; i < E2ELS_SLOTS; i++)
        n += st->s[i].used;
    return n;
}

int e2els_begin(struct e2els_store *st, struct e2els_hs *hs)
{
    struct e2els *best = NULL;

    for (size_t i = 0; i < E2ELS_SLOTS; i++)
        if (usable(&st->s[i], st->now_ms) && (best == NULL || st->s[i].born_ms > best->born_ms))
            best = &st->s[i];
    if (best != NULL) {
        best->streams++;
        memcpy(hs->key, best->key, E2ELS_KEY_LEN);
        memcpy(hs->id, best->id, E2ELS_ID_LEN);
        hs->mode = E2ELS_KEYED;
        return 1;
    }
    hs->mode = E2ELS_OFF;
    if (st->now_ms >= st->ask_until) {
        st->ask_until = st->now_ms + E2ELS_ASK_MS;
        hs->mode = E2ELS_ASK;
    }
    return 0;
}

/* PRF(key, label ‖ a): BLAKE2b-256 keyed with the session key. */
static void prf(uint8_t out[E2ELS_KEY_LEN], const uint8_t key[E2ELS_KEY_LEN], const char *label,
                const uint8_t *a, size_t alen)
{
    crypto_generichash_state g;

    crypto_generichash_init(&g, key, E2ELS_KEY_LEN, E2ELS_KEY_LEN);
    crypto_generichash_update(&g, (const uint8_t *)label, LABEL_LEN);
    crypto_generichash_update(&g, a, alen);
    crypto_generichash_final(&g, out, E2ELS_KEY_LEN);
    sodium_memzero(&g, sizeof(g));
}

/* h = H(label ‖ prologue ‖ sides ‖ id ‖ n_i ‖ HELLO_i), then h = H(h ‖ n_r ‖ HELLO_r):
 * the transcript T of §7.4 in two steps. */
static void hash_i(struct e2els_hs *hs, const uint8_t *hello, size_t hlen)
{
    crypto_generichash_state g;

    crypto_generichash_init(&g, NULL, 0, E2ELS_HASH_LEN);
    crypto_generichash_update(&g, (const uint8_t *)L_T1, sizeof(L_T1) - 1);
    crypto_generichash_update(&g, hs->prologue, sizeof(hs->prologue));
    crypto_generichash_update(&g, hs->sides, sizeof(hs->sides));
    crypto_generichash_update(&g, hs->id, E2ELS_ID_LEN);
    crypto_generichash_update(&g, hs->n_i, E2ELS_NONCE_LEN);
    crypto_generichash_update(&g, hello, hlen);
    crypto_generichash_final(&g, hs->h, E2ELS_HASH_LEN);
}

static void hash_r(struct e2els_hs *hs, const uint8_t n_r[E2ELS_NONCE_LEN], const uint8_t *hello,
                   size_t hlen)
{
    crypto_generichash_state g;

    crypto_generichash_init(&g, NULL, 0, E2ELS_HASH_LEN);
    crypto_generichash_update(&g, hs->h, E2ELS_HASH_LEN);
    crypto_generichash_update(&g, n_r, E2ELS_NONCE_LEN);
    crypto_generichash_update(&g, hello, hlen);
    crypto_generichash_final(&g, hs->h, E2ELS_HASH_LEN);
}

/* The initiator's key and additional data: k_hi = PRF(LS, "hi" ‖ prologue ‖
 * sides ‖ id ‖ n_i), ad = prologue ‖ sides ‖ id ‖ n_i. Every frame's key is
 * used once (it depends on a fresh random nonce), so the AEAD nonce is zero. */
static void key_i(const struct e2els_hs *hs, uint8_t k[E2ELS_KEY_LEN], uint8_t ad[E2ELS_AD_I_LEN])
{
    uint8_t *p = ad;

    memcpy(p, hs->prologue, E2ELS_PROLOGUE_LEN);
    memcpy(p += E2ELS_PROLOGUE_LEN, hs->sides, sizeof(hs->sides));
    memcpy(p += sizeof(hs->sides), hs->id, E2ELS_ID_LEN);
    memcpy(p + E2ELS_ID_LEN, hs->n_i, E2ELS_NONCE_LEN);
    prf(k, hs->key, L_HI, ad, E2ELS_AD_I_LEN);
}

/* The responder's: k_hr = PRF(LS, "hr" ‖ h ‖ n_r), ad = h ‖ n_r (h: the
 * transcript through HELLO_i). */
static void key_r(const struct e2els_hs *hs, const uint8_t n_r[E2ELS_NONCE_LEN],
                  uint8_t k[E2ELS_KEY_LEN], uint8_t ad[E2ELS_HASH_LEN + E2ELS_NONCE_LEN])
{
    memcpy(ad, hs->h, E2ELS_HASH_LEN);
    memcpy(ad + E2ELS_HASH_LEN, n_r, E2ELS_NONCE_LEN);
    prf(k, hs->key, L_HR, ad, E2ELS_HASH_LEN + E2ELS_NONCE_LEN);
}

static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

int e2els_write_i(struct e2els_hs *hs, const uint8_t *hello, size_t hlen, uint8_t *out, size_t cap,
                  size_t *len)
{
    uint8_t k[E2ELS_KEY_LEN], ad[E2ELS_AD_I_LEN];

    if (cap < hlen + E2ELS_I_OVERHEAD)
        return -ENOSPC;
    randombytes_buf(hs->n_i, sizeof(hs->n_i));
    key_i(hs, k, ad);
    memcpy(out, hs->id, E2ELS_ID_LEN);
    memcpy(out + E2ELS_ID_LEN, hs->n_i, E2ELS_NONCE_LEN);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + E2ELS_ID_LEN + E2ELS_NONCE_LEN, NULL, hello,
                                              hlen, ad, sizeof(ad), NULL, zero_nonce, k);
    sodium_memzero(k, sizeof(k));
    hash_i(hs, hello, hlen);
    *len = hlen + E2ELS_I_OVERHEAD;
    return 0;
}

/* The session of id, counted as one more stream; NULL if none is held. */
static struct e2els *find(struct e2els_store *st, const uint8_t id[E2ELS_ID_LEN])
{
    for (size_t i = 0; st != NULL && i < E2ELS_SLOTS; i++)
        if (st->s[i].used && sodium_memcmp(st->s[i].id, id, E2ELS_ID_LEN) == 0)
            return &st->s[i];
    return NULL;
}

int e2els_read_i(struct e2els_hs *hs, struct e2els_store *st, const uint8_t *body, size_t blen,
                 uint8_t *hello, size_t cap, size_t *hlen)
{
    uint8_t k[E2ELS_KEY_LEN], ad[E2ELS_AD_I_LEN];
    unsigned long long mlen;
    struct e2els *ls;
    int rc;

    if (blen < E2ELS_I_OVERHEAD)
        return -EBADMSG;
    if (cap < blen - E2ELS_I_OVERHEAD)
        return -ENOSPC;
    ls = find(st, body);
    if (ls == NULL) {
        if (st != NULL)
            st->refused++;
        return -ENOENT;
    }
    memcpy(hs->id, body, E2ELS_ID_LEN);
    memcpy(hs->n_i, body + E2ELS_ID_LEN, E2ELS_NONCE_LEN);
    memcpy(hs->key, ls->key, E2ELS_KEY_LEN);
    key_i(hs, k, ad);
    rc = crypto_aead_chacha20poly1305_ietf_decrypt(
        hello, &mlen, NULL, body + E2ELS_ID_LEN + E2ELS_NONCE_LEN,
        blen - E2ELS_ID_LEN - E2ELS_NONCE_LEN, ad, sizeof(ad), zero_nonce, k);
    sodium_memzero(k, sizeof(k));
    if (rc != 0) {
        sodium_memzero(hs->key, sizeof(hs->key));
        return -EBADMSG;
    }
    ls->streams++;
    ls->confirmed = true; /* the peer keyed a stream with it: it holds it */
    hs->mode = E2ELS_KEYED;
    hash_i(hs, hello, (size_t)mlen);
    *hlen = (size_t)mlen;
    return 0;
}

int e2els_write_r(struct e2els_hs *hs, const uint8_t *hello, size_t hlen, uint8_t *out, size_t cap,
                  size_t *len)
{
    uint8_t k[E2ELS_KEY_LEN], ad[E2ELS_HASH_LEN + E2ELS_NONCE_LEN];

    if (cap < hlen + E2ELS_R_OVERHEAD)
        return -ENOSPC;
    randombytes_buf(out, E2ELS_NONCE_LEN);
    key_r(hs, out, k, ad);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + E2ELS_NONCE_LEN, NULL, hello, hlen, ad,
                                              sizeof(ad), NULL, zero_nonce, k);
    sodium_memzero(k, sizeof(k));
    hash_r(hs, out, hello, hlen);
    *len = hlen + E2ELS_R_OVERHEAD;
    return 0;
}

int e2els_read_r(struct e2els_hs *hs, const uint8_t *body, size_t blen, uint8_t *hello, size_t cap,
                 size_t *hlen)
{
    uint8_t k[E2ELS_KEY_LEN], ad[E2ELS_HASH_LEN + E2ELS_NONCE_LEN];
    unsigned long long mlen;
    int rc;

    if (blen < E2ELS_R_OVERHEAD)
        return -EBADMSG;
    if (cap < blen - E2ELS_R_OVERHEAD)
        return -ENOSPC;
    key_r(hs, body, k, ad);
    rc = crypto_aead_chacha20poly1305_ietf_decrypt(hello, &mlen, NULL, body + E2ELS_NONCE_LEN,
                                                   blen - E2ELS_NONCE_LEN, ad, sizeof(ad),
                                                   zero_nonce, k);
    sodium_memzero(k, sizeof(k));
    if (rc != 0)
        return -EBADMSG;
    hash_r(hs, body, hello, (size_t)mlen);
    *hlen = (size_t)mlen;
    return 0;
}

void e2els_keys(struct e2els_hs *hs, bool initiator, uint8_t send[E2ELS_KEY_LEN],
                uint8_t recv[E2ELS_KEY_LEN], uint8_t rk[E2ELS_KEY_LEN])
{
    prf(initiator ? send : recv, hs->key, L_IR, hs->h, E2ELS_HASH_LEN);
    prf(initiator ? recv : send, hs->key, L_RI, hs->h, E2ELS_HASH_LEN);
    prf(rk, hs->key, L_RK, hs->h, E2ELS_HASH_LEN);
    sodium_memzero(hs->key, sizeof(hs->key));
}

int e2els_export(struct e2els_hs *hs, const struct noise_hs *nhs)
{
    uint8_t id[NOISE_KEY_LEN] = {0};
    int rc;

    rc = noise_hs_export_key(nhs, (const uint8_t *)L_KEY, sizeof(L_KEY) - 1, hs->key);
    if (rc == 0)
        rc = noise_hs_export_key(nhs, (const uint8_t *)L_ID, sizeof(L_ID) - 1, id);
    memcpy(hs->id, id, E2ELS_ID_LEN);
    sodium_memzero(id, sizeof(id));
    hs->pending = rc == 0;
    if (rc != 0)
        sodium_memzero(hs->key, sizeof(hs->key));
    return rc;
}

void e2els_ready(struct e2els_hs *hs, struct e2els_store *st, bool confirmed)
{
    if (!hs->pending)
        return;
    if (st != NULL && hs->gen != st->gen) { /* the store was cleared since */
        e2els_hs_stop(hs);
        return;
    }
    if (st != NULL)
        put(st, hs->key, hs->id, confirmed);
    if (!confirmed)
        return; /* kept until the peer's header confirms it */
    hs->pending = false;
    sodium_memzero(hs->key, sizeof(hs->key));
}

void e2els_hs_wipe(struct e2els_hs *hs)
{
    sodium_memzero(hs, sizeof(*hs));
}

int e2els_hs_begin(struct e2els_hs *hs, const struct e2els_store *st, bool initiator,
                   const uint8_t *priv, const uint8_t *pub, const uint8_t *peer_pub)
{
    uint8_t own[E2ELS_KEY_LEN];

    if (pub == NULL && crypto_scalarmult_base(own, priv) != 0)
        return -EINVAL;
    memcpy(hs->sides + (initiator ? 0 : E2ELS_KEY_LEN), pub != NULL ? pub : own, E2ELS_KEY_LEN);
    memcpy(hs->sides + (initiator ? E2ELS_KEY_LEN : 0), peer_pub, E2ELS_KEY_LEN);
    hs->gen = st != NULL ? st->gen : 0;
    return 0;
}

void e2els_hs_stop(struct e2els_hs *hs)
{
    sodium_memzero(hs->key, sizeof(hs->key));
    hs->pending = false;
}

int e2els_frame(const uint8_t *p, size_t n, const uint8_t **body, size_t *len)
{
    size_t l;

    if (n < 1 || (p[0] & (E2ELS_FRAME_BIT >> 8)) == 0)
        return 0;
    if (n < 2)
        return -EAGAIN;
    l = ((size_t)(p[0] & 0x7f) << 8) | p[1];
    if (l == 0 || l > E2ELS_FRAME_MAX)
        return -EMSGSIZE;
    if (n < 2 + l)
        return -EAGAIN;
    *body = p + 2;
    *len = l;
    return 1;
}

void e2els_failed(struct e2els_hs *hs, struct e2els_store *st)
{
    if (hs->mode != E2ELS_KEYED || hs->dropped || st == NULL)
        return;
    e2els_store_drop(st, hs->id);
    st->failed++;
    hs->dropped = true;
}
