/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for common/frame.c: the preamble and the frame parser over
 * arbitrary bytes, fed whole and fed in chunks through a struct bq as a
 * connection would, with round-trip invariants checked by abort().
 *
 * Input layout: byte 0 is a selector (bits 0-1 pick the frame size limit:
 * handshake, control, record, 65535; bits 2-7 give the chunk size 1..64 for the
 * chunked feed), the rest is what a relay would read from a connection. When
 * the preamble is valid the frames start after it, otherwise at byte 1, so the
 * frame parser is exercised either way.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    size_t off; /* of the body, in the whole input */
    size_t len;
};

static void check(int cond)
{
    if (!cond)
        abort();
}

static void check_preamble(const uint8_t *p, size_t n, int *skip)
{
    struct frame_preamble pre;
    uint8_t mem[FRAME_PREAMBLE_LEN];
    struct buf b;
    int rc = frame_preamble_decode(p, n, &pre);

    *skip = 0;
    if (rc == 0) {
        check(n >= FRAME_PREAMBLE_LEN);
        buf_init(&b, mem, sizeof(mem));
        check(frame_preamble_encode(&pre, &b) == 0);
        check(memcmp(mem, p, FRAME_PREAMBLE_LEN) == 0);
        *skip = FRAME_PREAMBLE_LEN;
    } else if (rc == -EAGAIN) {
        check(n < FRAME_PREAMBLE_LEN);
    } else {
        check(rc <= FRAME_E_MAGIC && rc >= FRAME_E_RESERVED);
    }
    /* An error seen in a prefix stays the same error with more bytes. */
    for (size_t k = 0; k < n && k < FRAME_PREAMBLE_LEN; k++) {
        int r = frame_preamble_decode(p, k, &pre);
        check(r == -EAGAIN || r == rc);
    }
}

/* Parses all of p[0..n) at once; returns the final non-zero result. */
static int parse_whole(const uint8_t *p, size_t n, size_t max, struct seen *out, size_t *count)
{
    size_t off = 0, need;
    struct frame f;
    uint8_t mem[2 + 65535];
    struct buf b;
    int rc;

    *count = 0;
    for (;;) {
        need = 0;
        rc = frame_parse(p + off, n - off, max, &f, &need);
        if (rc != 0)
            break;
        check(f.len >= 1 && f.len <= max && f.consumed == 2 + f.len);
        check(f.body == p + off + 2 && f.consumed <= n - off);
        buf_init(&b, mem, sizeof(mem));
        check(frame_encode(f.body, f.len, &b) == 0);
        check(b.len == f.consumed && memcmp(mem, p + off, b.len) == 0);
        out[(*count)++] = (struct seen){off + 2, f.len};
        off += f.consumed;
    }
    if (rc == -EAGAIN) {
        struct frame g;
        check(need >= 1);
        /* Exactly `need` more bytes would complete the header or the frame;
         * a header is never "complete" with a bad length. */
        check(n - off < 2 || need == 2 + (((size_t)p[off] << 8) | p[off + 1]) - (n - off));
        check(frame_parse(p + off, n - off, max, &g, NULL) == -EAGAIN);
    } else if (rc == -EBADMSG) {
        check(p[off] == 0 && p[off + 1] == 0);
    } else {
        check(rc == -EMSGSIZE);
        check((((size_t)p[off] << 8) | p[off + 1]) > max);
    }
    return rc;
}

/* Feeds the same bytes through a bq, chunk by chunk; must see the same frames
 * and end with the same result. */
static void parse_chunked(const uint8_t *p, size_t n, size_t max, size_t chunk,
                          const struct seen *want, size_t count, int want_rc)
{
    uint8_t *mem = malloc(max + 2);
    struct bq q;
    size_t fed = 0, got = 0, len;
    const uint8_t *view;
    struct frame f;
    int rc = -EAGAIN;

    check(mem != NULL);
    bq_init(&q, mem, max + 2);
    while (rc == -EAGAIN && fed < n) {
        size_t k = n - fed < chunk ? n - fed : chunk;
        if (k > bq_space(&q))
            k = bq_space(&q);
        check(k > 0); /* a partial frame never fills a max+2 FIFO */
        check(bq_append(&q, p + fed, k) == 0);
        fed += k;
        for (;;) {
            view = bq_peek(&q, &len);
            rc = frame_parse(view, len, max, &f, NULL);
            if (rc != 0)
                break;
            check(got < count && f.len == want[got].len);
            check(memcmp(f.body, p + want[got].off, f.len) == 0);
            got++;
            check(bq_consume(&q, f.consumed) == 0);
        }
    }
    check(got == count && rc == want_rc);
    free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[4] = {FRAME_MAX_HANDSHAKE, FRAME_MAX_CONTROL, FRAME_MAX_RECORD,
                                     FRAME_MAX_LEN};
    size_t max, chunk, count, n;
    const uint8_t *p;
    struct seen *seen;
    int skip, rc;

    if (size < 1)
        return 0;
    max = limits[data[0] & 3];
    chunk = 1 + (data[0] >> 2);
    p = data + 1;
    n = size - 1;
    check_preamble(p, n, &skip);
    p += skip;
    n -= (size_t)skip;
    seen = malloc((n / 3 + 1) * sizeof(*seen));
    check(seen != NULL);
    rc = parse_whole(p, n, max, seen, &count);
    parse_chunked(p, n, max, chunk, seen, count, rc);
    free(seen);
    return 0;
}
