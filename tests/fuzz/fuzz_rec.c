/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for common/rec.c: the receiving side of the end-to-end
 * record layer and its plaintext decoder, the parsers of peer bytes. The input
 * format and the fixed key/header are in rec_fuzz.h; seeds come from
 * tests/tools/gen_rec_corpus.c (run: <build>/tests/gen_rec_corpus
 * tests/fuzz/corpus/rec).
 *
 * Besides "no crash, no sanitizer report" the harness checks the module's
 * promises and traps when one breaks: decoded fields within their limits and
 * pointing inside the input, DATA offsets contiguous, ACKs monotonic and
 * bounded, FINAL totals exact, and nothing accepted after an error or an end.
 *
 * rec computes secretstream with OpenSSL (common/sstream.c), so the harness
 * also cross-checks it against libsodium's own secretstream: every frame is
 * pulled by libsodium too (authentic for one exactly when for the other, same
 * plaintext), and in the sealed mode every message is pushed by both and the
 * bytes must be equal.
 */
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "rec_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* The record invariants that hold whatever the stream: */
static void check_record(const struct rec_record *r, const uint8_t *plain, size_t plen)
{
    switch (r->type) {
    case REC_DATA:
        CHECK(r->len >= 1 && r->len <= REC_DATA_MAX);
        CHECK(r->data == plain + 9 && r->len == plen - 9);
        break;
    case REC_ACK:
    case REC_FINAL:
    case REC_FINISHED:
        CHECK(plen == 9 && r->len == 0);
        break;
    case REC_RESUME:
        CHECK(plen == 10 && r->len == 0 && (r->reason & ~REC_RESUME_FINAL) == 0);
        break;
    case REC_RESET:
        CHECK(r->reason >= REC_RESET_LOCAL && r->reason <= REC_RESET_SHUTDOWN);
        CHECK(r->len <= REC_TEXT_MAX && r->data == plain + 3 && r->len == plen - 3);
        break;
    default:
        CHECK(0);
    }
}

/* Whether rx still opens records: open, or resumable after FINAL (§7.3). */
static int takes_records(const struct rec_rx *rx)
{
    return rx->state == REC_RX_OPEN || (rx->state == REC_RX_FINAL && rx->resumable);
}

/* One record accepted by rx: the stream rules, given the state before it. */
static void check_accepted(const struct rec_rx *before, const struct rec_rx *rx,
                           const struct rec_record *r)
{
    int after_final = before->state == REC_RX_FINAL;

    CHECK(takes_records(before));
    CHECK(rx->records == before->records + 1);
    /* a resumed epoch starts with RESUME, and RESUME is nowhere else */
    CHECK((r->type == REC_RESUME) == (before->want_resume != 0));
    /* after FINAL (resumable) only ACK, RESET and FINISHED; FINISHED only there */
    CHECK(!after_final || r->type == REC_ACK || r->type == REC_RESET || r->type == REC_FINISHED);
    CHECK(r->type != REC_FINISHED || (after_final && before->resumable));
    switch (r->type) {
    case REC_DATA:
        CHECK(r->value == before->received && rx->received == before->received + r->len);
        CHECK(rx->state == REC_RX_OPEN);
        break;
    case REC_ACK:
        CHECK(r->value >= before->acked && r->value <= REC_FUZZ_SENT && rx->acked == r->value);
        CHECK(rx->state == before->state);
        break;
    case REC_FINAL:
        CHECK(r->value == before->received && rx->state == REC_RX_FINAL);
        break;
    case REC_RESUME:
        CHECK(!rx->want_resume && rx->received == before->received);
        CHECK(rx->state == (before->final_after ? REC_RX_FINAL : REC_RX_OPEN));
        break;
    case REC_FINISHED: /* everything we sent, FINAL included; nothing after it */
        CHECK(r->value == REC_FUZZ_SENT && rx->state == REC_RX_FINISHED);
        break;
    default:
        CHECK(rx->state == REC_RX_RESET);
        break;
    }
}

/* rec's verdict after decryption: the body authenticated. Asked only when
 * rx took the record (takes_records), so REC_E_AFTER_END here is a verdict
 * on an authentic record after a resumable FINAL (neither ACK nor RESET). */
static int authentic(int rc)
{
    switch (rc) {
    case 0:
    case REC_E_AFTER_END:
    case REC_E_TYPE:
    case REC_E_MALFORMED:
    case REC_E_REASON:
    case REC_E_TAG:
    case REC_E_OFFSET:
    case REC_E_ACK:
    case REC_E_TOTAL:
    case REC_E_OVERFLOW:
    case REC_E_RESUME:
    case REC_E_FINISHED:
        return 1;
    default:
        return 0;
    }
}

/*
 * Opens one body, checks the outcome; returns 0 while the stream goes on. ref
 * is libsodium's secretstream at the same position (the oracle).
 */
static int open_one(struct rec_rx *rx, crypto_secretstream_xchacha20poly1305_state *ref,
                    const uint8_t *body, size_t len, int inplace)
{
    struct rec_rx before = *rx;
    struct rec_record r;
    uint8_t *copy = malloc(len ? len : 1), *plain, *ref_plain = NULL;
    unsigned long long ref_len = 0;
    unsigned char ref_tag = 0;
    int ref_ok = 0, ref_ran = 0;
    size_t cap;
    int rc;

    if (takes_records(&before) && len >= REC_ABYTES && len <= REC_BODY_MAX) {
        ref_plain = malloc(len - REC_ABYTES + 1);
        CHECK(ref_plain != NULL);
        ref_ok = crypto_secretstream_xchacha20poly1305_pull(ref, ref_plain, &ref_len, &ref_tag,
                                                            body, len, NULL, 0) == 0;
        ref_ran = 1;
    }
    CHECK(copy != NULL);
    memcpy(copy, body, len);
    if (inplace) {
        plain = copy + 1;
        cap = len ? len - 1 : 0;
    } else {
        cap = len >= REC_ABYTES ? len - REC_ABYTES : 0;
        plain = malloc(cap ? cap : 1); /* exact size: ASan sees any overrun */
        CHECK(plain != NULL);
    }
    rc = rec_rx_open(rx, copy, len, REC_FUZZ_SENT, plain, cap, &r);
    if (ref_ran) {
        CHECK(authentic(rc) == ref_ok);
        CHECK(rc != 0 || (ref_len == len - REC_ABYTES && memcmp(plain, ref_plain, ref_len) == 0));
    }
    free(ref_plain);
    if (rc == 0) {
        check_record(&r, plain, len - REC_ABYTES);
        check_accepted(&before, rx, &r);
    } else {
        CHECK(rx->state == REC_RX_FAILED);
        CHECK(rec_rx_open(rx, copy, len, REC_FUZZ_SENT, plain, cap, &r) == REC_E_FAILED);
    }
    if (!inplace)
        free(plain);
    free(copy);
    return rc;
}

/* EOF after the input: clean only after FINAL or RESET. */
static void check_eof(struct rec_rx *rx)
{
    uint8_t state = rx->state;
    int rc = rec_rx_eof(rx);

    if (state == REC_RX_FINAL || state == REC_RX_RESET)
        CHECK(rc == 0);
    else if (state == REC_RX_OPEN)
        CHECK(rc == REC_E_TRUNCATED && rx->state == REC_RX_FAILED);
    else
        CHECK(rc == REC_E_FAILED);
}

static void fuzz_frames(const uint8_t *p, size_t n, int inplace)
{
    crypto_secretstream_xchacha20poly1305_state ref;
    struct rec_rx rx;

    CHECK(rec_rx_init(&rx, rec_fuzz_key, rec_fuzz_header) == 0);
    CHECK(crypto_secretstream_xchacha20poly1305_init_pull(&ref, rec_fuzz_header, rec_fuzz_key) ==
          0);
    while (n >= 2) {
        size_t len = (size_t)p[0] << 8 | p[1];
        if (len > n - 2)
            break; /* EOF inside a frame */
        if (open_one(&rx, &ref, p + 2, len, inplace) != 0)
            break;
        p += 2 + len;
        n -= 2 + len;
    }
    check_eof(&rx);
    rec_rx_done(&rx);
    sodium_memzero(&ref, sizeof(ref));
}

static void fuzz_plain(const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    struct rec_record r;

    CHECK(copy != NULL);
    memcpy(copy, p, n);
    if (rec_plain_decode(copy, n, &r) == 0)
        check_record(&r, copy, n);
    free(copy);
}

/* The resumption rules of the sealed mode (rec_fuzz.h): m >> 6. */
static void set_rules(struct rec_rx *rx, unsigned rules)
{
    if (rules == 1)
        CHECK(rec_rx_set_resumable(rx) == 0);
    else if (rules >= 2)
        CHECK(rec_rx_resume_setup(rx, REC_FUZZ_RESUMED_AT, REC_FUZZ_RESUMED_ACK, rules == 3) == 0);
}

static void fuzz_sealed(const uint8_t *p, size_t n, uint32_t rekey, int inplace, unsigned rules)
{
    static uint8_t body[REC_PLAIN_MAX + 1 + REC_ABYTES];
    static uint8_t ours[REC_PLAIN_MAX + 1 + REC_ABYTES];
    crypto_secretstream_xchacha20poly1305_state tx, ref;
    struct sstream our_tx;
    struct rec_rx rx;

    rec_fuzz_push_state(&tx);
    rec_fuzz_push_state(&ref);
    CHECK(sstream_init_pull(&our_tx, rec_fuzz_key, rec_fuzz_header) == 0);
    CHECK(rec_rx_init(&rx, rec_fuzz_key, rec_fuzz_header) == 0);
    CHECK(rec_rx_set_rekey_interval(&rx, rekey) == 0);
    set_rules(&rx, rules);
    while (n >= 3) {
        unsigned char tag = p[0];
        size_t len = (size_t)p[1] << 8 | p[2];
        unsigned long long blen = 0;
        p += 3;
        n -= 3;
        if (len > n)
            len = n;
        if (len > REC_PLAIN_MAX + 1)
            len = REC_PLAIN_MAX + 1; /* one over the limit still reaches rec */
        crypto_secretstream_xchacha20poly1305_push(&tx, body, &blen, p, len, NULL, 0, tag);
        /* OpenSSL-based and libsodium sealing agree byte for byte */
        CHECK(sstream_push(&our_tx, p, len / 2, p + len / 2, len - len / 2, tag, ours) == 0);
        CHECK(memcmp(ours, body, (size_t)blen) == 0);
        if (open_one(&rx, &ref, body, (size_t)blen, inplace) != 0)
            break;
        p += len;
        n -= len;
    }
    check_eof(&rx);
    rec_rx_done(&rx);
    sstream_done(&our_tx);
    sodium_memzero(&tx, sizeof(tx));
    sodium_memzero(&ref, sizeof(ref));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;

    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    if (size < 1)
        return 0;
    switch (data[0] & 3) {
    case REC_FUZZ_FRAMES:
    case REC_FUZZ_INPLACE:
        fuzz_frames(data + 1, size - 1, (data[0] & 3) == REC_FUZZ_INPLACE);
        break;
    case REC_FUZZ_PLAIN:
        fuzz_plain(data + 1, size - 1);
        break;
    default:
        fuzz_sealed(data + 1, size - 1, 1 + ((data[0] >> 2) & 7), (data[0] & 0x20) != 0,
                    data[0] >> 6);
        break;
    }
    return 0;
}
