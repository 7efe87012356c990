/* SPDX-License-Identifier: MIT */
/*
 * resume — see resume.h and docs/protocol.md §7.3.
 */
#include "resume.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"

#define L_ID    "linkrelay/1 resume id"
#define L_HELLO "linkrelay/1 resume hello"
#define L_KEYS  "linkrelay/1 resume keys"

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void resume_id(const uint8_t rk[RESUME_KEY_LEN], uint32_t epoch, uint8_t out[RESUME_ID_LEN])
{
    crypto_generichash_state st;
    uint8_t e[4];

    put_u32(e, epoch);
    crypto_generichash_init(&st, rk, RESUME_KEY_LEN, RESUME_ID_LEN);
    crypto_generichash_update(&st, (const uint8_t *)L_ID, sizeof(L_ID) - 1);
    crypto_generichash_update(&st, e, sizeof(e));
    crypto_generichash_final(&st, out, RESUME_ID_LEN);
    sodium_memzero(&st, sizeof(st));
}

int resume_match(const uint8_t rk[RESUME_KEY_LEN], uint32_t last, const uint8_t id[RESUME_ID_LEN],
                 uint32_t *epoch)
{
    uint8_t cand[RESUME_ID_LEN];
    uint32_t found = 0;

    if (rk == NULL || id == NULL || epoch == NULL)
        return RESUME_E_ARG;
    /* Every epoch of the window is computed, found or not. */
    for (uint32_t i = 1; i <= RESUME_WINDOW; i++) {
        if (last > UINT32_MAX - i)
            break;
        resume_id(rk, last + i, cand);
        if (sodium_memcmp(cand, id, RESUME_ID_LEN) == 0 && found == 0)
            found = last + i;
    }
    sodium_memzero(cand, sizeof(cand));
    if (found == 0)
        return RESUME_E_UNKNOWN;
    *epoch = found;
    return 0;
}

static void hello_mac(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, const uint8_t *epoch_nonce,
                      uint8_t out[RESUME_MAC_LEN])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, rk, RESUME_KEY_LEN, RESUME_MAC_LEN);
    crypto_generichash_update(&st, (const uint8_t *)L_HELLO, sizeof(L_HELLO) - 1);
    crypto_generichash_update(&st, &role, 1);
    crypto_generichash_update(&st, epoch_nonce, 4 + RESUME_NONCE_LEN);
    crypto_generichash_final(&st, out, RESUME_MAC_LEN);
    sodium_memzero(&st, sizeof(st));
}

void resume_hello_encode(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, uint32_t epoch,
                         const uint8_t nonce[RESUME_NONCE_LEN], uint8_t out[RESUME_HELLO_LEN])
{
    put_u32(out, epoch);
    memcpy(out + 4, nonce, RESUME_NONCE_LEN);
    hello_mac(rk, role, out, out + 4 + RESUME_NONCE_LEN);
}

int resume_hello_check(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, uint32_t epoch,
                       const uint8_t *p, size_t len, uint8_t nonce[RESUME_NONCE_LEN])
{
    uint8_t mac[RESUME_MAC_LEN], e[4];
    int bad;

    if (p == NULL || len != RESUME_HELLO_LEN)
        return RESUME_E_HELLO;
    put_u32(e, epoch);
    hello_mac(rk, role, p, mac);
    bad = sodium_memcmp(mac, p + 4 + RESUME_NONCE_LEN, RESUME_MAC_LEN) != 0;
    if (bad)
        return RESUME_E_HELLO;
    if (memcmp(e, p, 4) != 0) /* the peer's, for an epoch already started */
        return RESUME_E_EPOCH;
    memcpy(nonce, p + 4, RESUME_NONCE_LEN);
    return 0;
}

static void epoch_key(const uint8_t rk[RESUME_KEY_LEN], uint8_t dir, const uint8_t e[4],
                      const uint8_t *ni, const uint8_t *nr, uint8_t out[RESUME_KEY_LEN])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, rk, RESUME_KEY_LEN, RESUME_KEY_LEN);
    crypto_generichash_update(&st, (const uint8_t *)L_KEYS, sizeof(L_KEYS) - 1);
    crypto_generichash_update(&st, &dir, 1);
    crypto_generichash_update(&st, e, 4);
    crypto_generichash_update(&st, ni, RESUME_NONCE_LEN);
    crypto_generichash_update(&st, nr, RESUME_NONCE_LEN);
    crypto_generichash_final(&st, out, RESUME_KEY_LEN);
    sodium_memzero(&st, sizeof(st));
}

void resume_epoch_keys(const uint8_t rk[RESUME_KEY_LEN], uint32_t epoch,
                       const uint8_t nonce_i[RESUME_NONCE_LEN],
                       const uint8_t nonce_r[RESUME_NONCE_LEN], uint8_t k_ir[RESUME_KEY_LEN],
                       uint8_t k_ri[RESUME_KEY_LEN])
{
    uint8_t e[4];

    put_u32(e, epoch);
    epoch_key(rk, 0, e, nonce_i, nonce_r, k_ir);
    epoch_key(rk, 1, e, nonce_i, nonce_r, k_ri);
}

void resume_tx_init(struct resume_tx *rt, uint64_t cap)
{
    memset(rt, 0, sizeof(*rt));
    replay_init(&rt->rp, 0);
    rt->cap = cap;
}

void resume_tx_done(struct resume_tx *rt)
{
    replay_done(&rt->rp);
    memset(rt, 0, sizeof(*rt));
}

uint64_t resume_tx_bound(const struct resume_tx *rt)
{
    return rt->sealed_max + (rt->final_ever ? 1 : 0);
}

void resume_tx_ack(struct resume_tx *rt, uint64_t v)
{
    replay_release(&rt->rp, v);
    if (rt->final_ever && v == rt->sealed_max + 1)
        rt->peer_got_final = true;
}

size_t resume_tx_space(const struct resume_tx *rt)
{
    uint64_t held = replay_held(&rt->rp);

    return rt->cap > held ? (size_t)(rt->cap - held) : 0;
}

bool resume_tx_pending(const struct resume_tx *rt)
{
    return rt->cur < rt->rp.end;
}

int resume_tx_pump(struct resume_tx *rt, struct rec_tx *tx, uint8_t *dst, size_t room,
                   size_t reserve, size_t *len)
{
    const size_t over = REC_FRAME_HDR + 1 + 8 + REC_ABYTES;
    const uint8_t *p;
    size_t k;
    int rc;

    if (room <= reserve + over)
        return 1;
    p = replay_peek(&rt->rp, rt->cur, &k);
    if (p == NULL)
        return 1;
    if (k > REC_DATA_MAX)
        k = REC_DATA_MAX;
    if (k > room - reserve - over)
        k = room - reserve - over;
    rc = rec_tx_data(tx, p, k, dst, room, len);
    if (rc != 0)
        return rc;
    rt->cur += k;
    if (rt->cur > rt->sealed_max)
        rt->sealed_max = rt->cur;
    return 0;
}

size_t resume_tx_sealable(const struct resume_tx *rt, size_t room, size_t reserve)
{
    const size_t over = REC_FRAME_HDR + 1 + 8 + REC_ABYTES;
    uint64_t pos = rt->cur;
    size_t k;

    while (room > reserve + over) {
        k = replay_run(&rt->rp, pos);
        if (k > REC_DATA_MAX)
            k = REC_DATA_MAX;
        if (k > room - reserve - over)
            k = room - reserve - over;
        pos += k;
        room -= k + over;
    }
    return pos > rt->rp.end ? (size_t)(pos - rt->rp.end) : 0;
}

int resume_tx_rewind(struct resume_tx *rt, struct rec_tx *tx, uint64_t at, bool got_final)
{
    if (at < rt->rp.base || at > rt->sealed_max ||
        (got_final && (!rt->final_ever || at != rt->rp.end)))
        return RESUME_E_OFFSET;
    if (rec_tx_rewind(tx, at) != 0)
        return RESUME_E_OFFSET;
    replay_release(&rt->rp, at);
    rt->cur = at;
    if (got_final) {
        rt->peer_got_final = true;
        rec_tx_mark_final(tx);
    }
    return 0;
}

int resume_open_epoch(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, uint32_t epoch,
                      const uint8_t my_nonce[RESUME_NONCE_LEN],
                      const uint8_t peer_nonce[RESUME_NONCE_LEN], uint8_t suite, struct rec_tx *tx,
                      uint8_t recv_key[REC_KEY_LEN], uint8_t header[REC_HEADER_LEN])
{
    uint8_t k_ir[RESUME_KEY_LEN], k_ri[RESUME_KEY_LEN];
    int rc;

    if (role == 0)
        resume_epoch_keys(rk, epoch, my_nonce, peer_nonce, k_ir, k_ri);
    else
        resume_epoch_keys(rk, epoch, peer_nonce, my_nonce, k_ir, k_ri);
    memcpy(recv_key, role == 0 ? k_ri : k_ir, REC_KEY_LEN);
    rc = rec_tx_init_suite(tx, (enum rec_suite)suite, role == 0 ? k_ir : k_ri, header);
    sodium_memzero(k_ir, sizeof(k_ir));
    sodium_memzero(k_ri, sizeof(k_ri));
    if (rc == 0)
        rc = rec_tx_set_resumable(tx);
    return rc;
}

size_t resume_offer_encode(bool offer, uint32_t ack_every, uint8_t out[RESUME_OFFER_MAX])
{
    out[0] = 1;             /* version */
    out[1] = offer ? 1 : 0; /* flags bit 0: resumption offered */
    out[2] = 0;             /* resume: empty str8 without the offer */
    if (!offer)
        return RESUME_OFFER_LEN;
    if (ack_every < RESUME_ACK_MIN)
        ack_every = RESUME_ACK_MIN;
    if (ack_every > RESUME_ACK_MAX)
        ack_every = RESUME_ACK_MAX;
    out[2] = 4; /* resume: ack_every u32 (§7.3) */
    put_u32(out + 3, ack_every);
    return RESUME_OFFER_MAX;
}

int resume_offer_check(const uint8_t *p, size_t len, bool *offer, uint32_t *ack_every)
{
    struct cur c;
    uint8_t version, flags;
    const uint8_t *resume;
    size_t rlen;
    uint32_t v = RESUME_ACK_MIN;

    cur_init(&c, p, len);
    if (cur_u8(&c, &version) != 0 || cur_u8(&c, &flags) != 0 || cur_str8(&c, &resume, &rlen) != 0 ||
        cur_end_ok(&c) != 0)
        return -EBADMSG;
    if (version != 1 || (flags & ~1u) != 0)
        return -EBADMSG;
    if ((flags & 1u) != 0 && rlen >= 4) { /* items of suite.h may follow (D37) */
        v = ((uint32_t)resume[0] << 24) | ((uint32_t)resume[1] << 16) | ((uint32_t)resume[2] << 8) |
            resume[3];
        if (v < RESUME_ACK_MIN || v > RESUME_ACK_MAX)
            v = RESUME_ACK_MIN; /* out of bounds: as an empty field */
    }
    *offer = (flags & 1u) != 0;
    *ack_every = v;
    return 0;
}

uint32_t resume_ack_every(uint64_t cap)
{
    uint64_t q = cap / 4;

    if (q < RESUME_ACK_MIN)
        return RESUME_ACK_MIN;
    return q > RESUME_ACK_MAX ? RESUME_ACK_MAX : (uint32_t)q;
}

void resume_hello_frame(const uint8_t rk[RESUME_KEY_LEN], uint8_t role, uint32_t epoch,
                        const uint8_t nonce[RESUME_NONCE_LEN], uint8_t out[2 + RESUME_HELLO_LEN])
{
    out[0] = 0;
    out[1] = RESUME_HELLO_LEN;
    resume_hello_encode(rk, role, epoch, nonce, out + 2);
}
