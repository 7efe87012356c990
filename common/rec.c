/* SPDX-License-Identifier: MIT */
#include "rec.h"

#include <errno.h>
#include <string.h>

#define TAG_MESSAGE SSTREAM_TAG_MESSAGE
#define TAG_REKEY   SSTREAM_TAG_REKEY
#define TAG_FINAL   SSTREAM_TAG_FINAL

_Static_assert(REC_HEADER_LEN == crypto_secretstream_xchacha20poly1305_HEADERBYTES,
               "header length");
_Static_assert(REC_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES, "abytes");
_Static_assert(REC_KEY_LEN == crypto_secretstream_xchacha20poly1305_KEYBYTES, "key length");
_Static_assert(REC_HEADER_LEN == SSTREAM_HEADER_LEN && REC_ABYTES == SSTREAM_ABYTES &&
                   REC_KEY_LEN == SSTREAM_KEY_LEN,
               "rec is sstream's construction");
_Static_assert(TAG_MESSAGE == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
                   TAG_REKEY == crypto_secretstream_xchacha20poly1305_TAG_REKEY &&
                   TAG_FINAL == crypto_secretstream_xchacha20poly1305_TAG_FINAL,
               "tags");
_Static_assert(REC_HEADER_LEN == GSTREAM_HEADER_LEN && REC_ABYTES == GSTREAM_ABYTES &&
                   REC_KEY_LEN == GSTREAM_KEY_LEN,
               "both suites have the same header, overhead and key");
_Static_assert(REC_PLAIN_MAX <= SSTREAM_MSG_MAX && REC_PLAIN_MAX <= GSTREAM_MSG_MAX,
               "a record is one message");
_Static_assert(REC_BODY_MAX == 16384 + 9 + 17, "record frame limit of protocol.md §9");
_Static_assert(REC_BODY_MAX <= 65535, "a record fits a u16 frame");

const char *rec_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case REC_E_ARG:
        return "invalid argument";
    case REC_E_NOBUFS:
        return "output buffer too small";
    case REC_E_ENDED:
        return "direction already ended (FINAL or RESET sent)";
    case REC_E_OVERFLOW:
        return "byte counter overflow";
    case REC_E_SIZE:
        return "record size out of range";
    case REC_E_DECRYPT:
        return "record failed authentication";
    case REC_E_TYPE:
        return "unknown record type";
    case REC_E_MALFORMED:
        return "malformed record";
    case REC_E_REASON:
        return "unknown reset reason";
    case REC_E_TAG:
        return "secretstream tag does not match the record";
    case REC_E_OFFSET:
        return "DATA offset does not match bytes received";
    case REC_E_ACK:
        return "ACK goes backwards or past bytes sent";
    case REC_E_TOTAL:
        return "FINAL total does not match bytes received";
    case REC_E_AFTER_END:
        return "record after FINAL or RESET";
    case REC_E_TRUNCATED:
        return "stream truncated (EOF before FINAL or RESET)";
    case REC_E_FAILED:
        return "direction already failed";
    case REC_E_NOMEM:
        return "out of memory (or a crypto library failure)";
    case REC_E_RESUME:
        return "RESUME record missing or out of place";
    case REC_E_FINISHED:
        return "FINISHED record out of place";
    default:
        return "unknown error";
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int rec_plain_decode(const uint8_t *p, size_t len, struct rec_record *out)
{
    struct rec_record r = {0};

    if (len < 1)
        return REC_E_TYPE;
    r.type = p[0];
    switch (r.type) {
    case REC_DATA:
        /* offset u64 ‖ 1..16384 data bytes, running to the end of the record */
        if (len < 1 + 8 + 1 || len > REC_PLAIN_MAX)
            return REC_E_MALFORMED;
        r.value = get_u64(p + 1);
        r.data = p + 9;
        r.len = len - 9;
        break;
    case REC_ACK:
    case REC_FINAL:
    case REC_FINISHED:
        if (len != 1 + 8)
            return REC_E_MALFORMED;
        r.value = get_u64(p + 1);
        break;
    case REC_RESUME:
        /* received u64 ‖ flags u8 (only bit 0 defined) */
        if (len != 1 + 8 + 1)
            return REC_E_MALFORMED;
        r.value = get_u64(p + 1);
        r.reason = p[9];
        if ((r.reason & ~REC_RESUME_FINAL) != 0)
            return REC_E_MALFORMED;
        break;
    case REC_RESET:
        /* reason u8 ‖ str8 text, nothing after it */
        if (len < 3 || (size_t)p[2] > REC_TEXT_MAX || len != 3 + (size_t)p[2])
            return REC_E_MALFORMED;
        r.reason = p[1];
        if (r.reason < REC_RESET_LOCAL || r.reason > REC_RESET_SHUTDOWN)
            return REC_E_REASON;
        r.data = p + 3;
        r.len = p[2];
        break;
    default:
        return REC_E_TYPE;
    }
    *out = r;
    return 0;
}

/* ---- sending ---------------------------------------------------------------- */

int rec_tx_init(struct rec_tx *tx, const uint8_t key[REC_KEY_LEN],
                uint8_t header_out[REC_HEADER_LEN])
{
    return rec_tx_init_suite(tx, REC_SUITE_CHACHA20_POLY1305, key, header_out);
}

int rec_tx_init_suite(struct rec_tx *tx, enum rec_suite suite, const uint8_t key[REC_KEY_LEN],
                      uint8_t header_out[REC_HEADER_LEN])
{
    int rc;

    if (tx == NULL || key == NULL || header_out == NULL ||
        (suite != REC_SUITE_CHACHA20_POLY1305 && suite != REC_SUITE_AES256_GCM))
        return REC_E_ARG;
    memset(tx, 0, sizeof(*tx));
    tx->suite = (uint8_t)suite;
    /* The header is random; this allocates the OpenSSL contexts. */
    rc = suite == REC_SUITE_AES256_GCM ? gstream_init_push(&tx->gs, key, header_out)
                                       : sstream_init_push(&tx->st, key, header_out);
    if (rc != 0) {
        rec_tx_done(tx);
        return REC_E_NOMEM;
    }
    tx->rekey_every = REC_REKEY_DEFAULT;
    return 0;
}

int rec_tx_set_rekey_interval(struct rec_tx *tx, uint32_t n)
{
    if (n == 0)
        return REC_E_ARG;
    tx->rekey_every = n;
    return 0;
}

/*
 * Seals the plaintext head[0..hlen) ‖ data[0..dlen) as the next record into
 * out. `end` is 1 for FINAL, 2 for RESET (TAG_FINAL; a resumable direction
 * tags FINAL by position and keeps sealing ACKs); otherwise the tag is
 * MESSAGE, or REKEY on every rekey_every-th record.
 */
static int tx_seal(struct rec_tx *tx, const uint8_t *head, size_t hlen, const uint8_t *data,
                   size_t dlen, int end, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t blen = hlen + dlen + REC_ABYTES;
    unsigned char tag;

    if (tx->ended)
        return REC_E_ENDED;
    if (tx->records == UINT64_MAX)
        return REC_E_OVERFLOW;
    if (out == NULL || outlen == NULL)
        return REC_E_ARG;
    if (cap < REC_FRAME_HDR + blen)
        return REC_E_NOBUFS;
    if (end == 2 || (end == 1 && !tx->resumable))
        tag = TAG_FINAL;
    else if ((tx->records + 1) % tx->rekey_every == 0)
        tag = TAG_REKEY;
    else
        tag = TAG_MESSAGE;
    /* Fails only if libcrypto does (then out is wiped, the state unchanged). */
    if ((tx->suite == REC_SUITE_AES256_GCM
             ? gstream_push(&tx->gs, head, hlen, data, dlen, tag, out + REC_FRAME_HDR)
             : sstream_push(&tx->st, head, hlen, data, dlen, tag, out + REC_FRAME_HDR)) != 0)
        return REC_E_NOMEM;
    out[0] = (uint8_t)(blen >> 8);
    out[1] = (uint8_t)(blen & 0xff);
    tx->records++;
    if (end == 2 || (end == 1 && !tx->resumable))
        tx->ended = 1;
    else if (end == 1)
        tx->final_done = 1;
    *outlen = REC_FRAME_HDR + blen;
    return 0;
}

int rec_tx_data(struct rec_tx *tx, const uint8_t *data, size_t len, uint8_t *out, size_t cap,
                size_t *outlen)
{
    /* The type and offset; sstream encrypts them and the data as one message
     * without copying the data first. */
    uint8_t head[9];
    int rc;

    if (data == NULL || len < 1 || len > REC_DATA_MAX)
        return REC_E_ARG;
    if (tx->offset > UINT64_MAX - len)
        return REC_E_OVERFLOW;
    if (tx->final_done)
        return REC_E_ENDED;
    head[0] = REC_DATA;
    put_u64(head + 1, tx->offset);
    rc = tx_seal(tx, head, sizeof(head), data, len, 0, out, cap, outlen);
    if (rc == 0)
        tx->offset += len;
    return rc;
}

int rec_tx_ack(struct rec_tx *tx, uint64_t received, uint8_t *out, size_t cap, size_t *outlen)
{
    uint8_t plain[9];

    plain[0] = REC_ACK;
    put_u64(plain + 1, received);
    return tx_seal(tx, plain, sizeof(plain), NULL, 0, 0, out, cap, outlen);
}

int rec_tx_final(struct rec_tx *tx, uint8_t *out, size_t cap, size_t *outlen)
{
    uint8_t plain[9];

    if (tx->final_done)
        return REC_E_ENDED;
    plain[0] = REC_FINAL;
    put_u64(plain + 1, tx->offset);
    return tx_seal(tx, plain, sizeof(plain), NULL, 0, 1, out, cap, outlen);
}

int rec_tx_reset(struct rec_tx *tx, uint8_t reason, const uint8_t *text, size_t text_len,
                 uint8_t *out, size_t cap, size_t *outlen)
{
    uint8_t plain[3 + REC_TEXT_MAX];

    if (reason < REC_RESET_LOCAL || reason > REC_RESET_SHUTDOWN)
        return REC_E_ARG;
    if (text_len > REC_TEXT_MAX || (text == NULL && text_len != 0))
        return REC_E_ARG;
    plain[0] = REC_RESET;
    plain[1] = reason;
    plain[2] = (uint8_t)text_len;
    if (text_len > 0)
        memcpy(plain + 3, text, text_len);
    return tx_seal(tx, plain, 3 + text_len, NULL, 0, 2, out, cap, outlen);
}

int rec_tx_set_resumable(struct rec_tx *tx)
{
    if (tx->records != 0)
        return REC_E_ARG;
    tx->resumable = 1;
    return 0;
}

int rec_tx_resume(struct rec_tx *tx, uint64_t received, uint8_t flags, uint8_t *out, size_t cap,
                  size_t *outlen)
{
    uint8_t plain[10];

    if (!tx->resumable || tx->records != 0 || (flags & ~REC_RESUME_FINAL) != 0)
        return REC_E_ARG;
    plain[0] = REC_RESUME;
    put_u64(plain + 1, received);
    plain[9] = flags;
    return tx_seal(tx, plain, sizeof(plain), NULL, 0, 0, out, cap, outlen);
}

int rec_tx_rewind(struct rec_tx *tx, uint64_t offset)
{
    if (!tx->resumable || tx->records > 1 || tx->final_done)
        return REC_E_ARG;
    tx->offset = offset;
    return 0;
}

void rec_tx_mark_final(struct rec_tx *tx)
{
    tx->final_done = 1;
}

int rec_tx_finished(struct rec_tx *tx, uint64_t received, uint8_t *out, size_t cap, size_t *outlen)
{
    uint8_t plain[9];
    int rc;

    if (!tx->resumable || !tx->final_done)
        return REC_E_ARG;
    plain[0] = REC_FINISHED;
    put_u64(plain + 1, received);
    rc = tx_seal(tx, plain, sizeof(plain), NULL, 0, 0, out, cap, outlen);
    if (rc == 0)
        tx->ended = 1; /* nothing follows FINISHED */
    return rc;
}

uint64_t rec_tx_offset(const struct rec_tx *tx)
{
    return tx->offset;
}

void rec_tx_done(struct rec_tx *tx)
{
    if (tx == NULL)
        return;
    if (tx->suite == REC_SUITE_AES256_GCM)
        gstream_done(&tx->gs);
    else
        sstream_done(&tx->st);
    sodium_memzero(tx, sizeof(*tx));
    tx->ended = 1; /* a use after done fails instead of sealing with a zero key */
}

/* ---- receiving -------------------------------------------------------------- */

int rec_rx_init(struct rec_rx *rx, const uint8_t key[REC_KEY_LEN],
                const uint8_t header[REC_HEADER_LEN])
{
    return rec_rx_init_suite(rx, REC_SUITE_CHACHA20_POLY1305, key, header);
}

int rec_rx_init_suite(struct rec_rx *rx, enum rec_suite suite, const uint8_t key[REC_KEY_LEN],
                      const uint8_t header[REC_HEADER_LEN])
{
    int rc;

    if (rx == NULL || key == NULL || header == NULL ||
        (suite != REC_SUITE_CHACHA20_POLY1305 && suite != REC_SUITE_AES256_GCM))
        return REC_E_ARG;
    memset(rx, 0, sizeof(*rx));
    rx->suite = (uint8_t)suite;
    /* This allocates the OpenSSL contexts; a wrong key or header is only
     * detected by the first record. */
    rc = suite == REC_SUITE_AES256_GCM ? gstream_init_pull(&rx->gs, key, header)
                                       : sstream_init_pull(&rx->st, key, header);
    if (rc != 0) {
        rec_rx_done(rx);
        return REC_E_NOMEM;
    }
    rx->rekey_every = REC_REKEY_DEFAULT;
    rx->state = REC_RX_OPEN;
    return 0;
}

int rec_rx_set_rekey_interval(struct rec_rx *rx, uint32_t n)
{
    if (n == 0)
        return REC_E_ARG;
    rx->rekey_every = n;
    return 0;
}

/*
 * The stream rules for a record that authenticated and decoded: the tag fits
 * the type and position, offsets and counters agree. Updates nothing.
 */
static int rx_check(const struct rec_rx *rx, const struct rec_record *r, unsigned char tag,
                    uint64_t sent)
{
    int end = r->type == REC_RESET || (r->type == REC_FINAL && !rx->resumable);
    unsigned char want;

    if (rx->want_resume != (r->type == REC_RESUME))
        return REC_E_RESUME;
    if (rx->state == REC_RX_FINAL && r->type != REC_ACK && r->type != REC_RESET &&
        r->type != REC_FINISHED)
        return REC_E_AFTER_END;
    if (end)
        want = TAG_FINAL;
    else if ((rx->records + 1) % rx->rekey_every == 0)
        want = TAG_REKEY;
    else
        want = TAG_MESSAGE;
    if (tag != want)
        return REC_E_TAG;
    switch (r->type) {
    case REC_DATA:
        if (r->value != rx->received)
            return REC_E_OFFSET;
        if (rx->received > UINT64_MAX - r->len)
            return REC_E_OVERFLOW;
        return 0;
    case REC_ACK:
        if (r->value < rx->acked || r->value > sent)
            return REC_E_ACK;
        return 0;
    case REC_FINAL:
        return r->value == rx->received ? 0 : REC_E_TOTAL;
    case REC_FINISHED: /* after the sender's FINAL, acknowledging all we sent */
        return rx->resumable && rx->state == REC_RX_FINAL && r->value == sent ? 0 : REC_E_FINISHED;
    default:
        return 0;
    }
}

static void rx_accept(struct rec_rx *rx, const struct rec_record *r)
{
    rx->records++;
    switch (r->type) {
    case REC_DATA:
        rx->received += r->len;
        break;
    case REC_ACK:
        rx->acked = r->value;
        break;
    case REC_FINAL:
        rx->state = REC_RX_FINAL;
        break;
    case REC_RESET:
        rx->state = REC_RX_RESET;
        break;
    case REC_FINISHED:
        rx->acked = r->value;
        rx->state = REC_RX_FINISHED;
        break;
    case REC_RESUME:
        rx->want_resume = 0;
        if (rx->final_after)
            rx->state = REC_RX_FINAL;
        break;
    default:
        break;
    }
}

/* Frees the suite's contexts and wipes its keys. */
static void rx_suite_done(struct rec_rx *rx)
{
    if (rx->suite == REC_SUITE_AES256_GCM)
        gstream_done(&rx->gs);
    else
        sstream_done(&rx->st);
}

static int rx_fail(struct rec_rx *rx, int err)
{
    /* Keys are of no further use: wipe them (and free the contexts) now,
     * keep only the verdict. */
    rx_suite_done(rx);
    rx->state = REC_RX_FAILED;
    return err;
}

int rec_rx_open(struct rec_rx *rx, const uint8_t *body, size_t len, uint64_t sent, uint8_t *plain,
                size_t cap, struct rec_record *out)
{
    struct rec_record r;
    size_t mlen;
    uint8_t tag = 0;
    int rc;

    if (rx->state == REC_RX_FAILED)
        return REC_E_FAILED;
    if (rx->state != REC_RX_OPEN && !(rx->state == REC_RX_FINAL && rx->resumable))
        return rx_fail(rx, REC_E_AFTER_END);
    if (body == NULL || plain == NULL || out == NULL)
        return rx_fail(rx, REC_E_ARG);
    /* Anything larger than the §9 limit is refused before secretstream sees
     * it. An authentic empty plaintext (len == 17) fails decoding below. */
    if (len < REC_ABYTES || len > REC_BODY_MAX)
        return rx_fail(rx, REC_E_SIZE);
    if (cap < len - REC_ABYTES)
        return rx_fail(rx, REC_E_ARG);
    mlen = len - REC_ABYTES;
    rc = rx->suite == REC_SUITE_AES256_GCM ? gstream_pull(&rx->gs, body, len, plain, &tag)
                                           : sstream_pull(&rx->st, body, len, plain, &tag);
    if (rc != 0)
        return rx_fail(rx, rc == -EBADMSG ? REC_E_DECRYPT : REC_E_NOMEM);
    rc = rec_plain_decode(plain, mlen, &r);
    if (rc == 0)
        rc = rx_check(rx, &r, tag, sent);
    if (rc != 0) {
        sodium_memzero(plain, mlen);
        return rx_fail(rx, rc);
    }
    rx_accept(rx, &r);
    *out = r;
    return 0;
}

int rec_rx_eof(struct rec_rx *rx)
{
    switch (rx->state) {
    case REC_RX_FINAL:
    case REC_RX_RESET:
    case REC_RX_FINISHED:
        return 0;
    case REC_RX_OPEN:
        return rx_fail(rx, REC_E_TRUNCATED);
    default:
        return REC_E_FAILED;
    }
}

int rec_rx_set_resumable(struct rec_rx *rx)
{
    if (rx->records != 0 || rx->state != REC_RX_OPEN)
        return REC_E_ARG;
    rx->resumable = 1;
    return 0;
}

int rec_rx_resume_setup(struct rec_rx *rx, uint64_t received, uint64_t acked, bool peer_final)
{
    if (rx->records != 0 || rx->state != REC_RX_OPEN)
        return REC_E_ARG;
    rx->resumable = 1;
    rx->want_resume = 1;
    rx->received = received;
    rx->acked = acked;
    rx->final_after = peer_final ? 1 : 0;
    return 0;
}

uint64_t rec_rx_received(const struct rec_rx *rx)
{
    return rx->received;
}

void rec_rx_done(struct rec_rx *rx)
{
    if (rx == NULL)
        return;
    rx_suite_done(rx);
    sodium_memzero(rx, sizeof(*rx));
    rx->state = REC_RX_FAILED; /* a use after done fails */
}
