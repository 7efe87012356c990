/* SPDX-License-Identifier: MIT */
/*
 * frame — see frame.h and docs/protocol.md §3.
 */
#include "frame.h"

#include <errno.h>
#include <string.h>

int frame_preamble_decode(const uint8_t *p, size_t n, struct frame_preamble *out)
{
    static const uint8_t magic[4] = {'L', 'R', 'L', 'Y'};
    size_t have = n < FRAME_PREAMBLE_LEN ? n : FRAME_PREAMBLE_LEN;

    if (p == NULL)
        have = 0;
    for (size_t i = 0; i < have && i < 4; i++) {
        if (p[i] != magic[i])
            return FRAME_E_MAGIC;
    }
    if (have > 4 && p[4] != FRAME_VERSION)
        return FRAME_E_VERSION;
    if (have > 5 && p[5] != FRAME_KIND_CONTROL && p[5] != FRAME_KIND_STREAM)
        return FRAME_E_KIND;
    if (have > 6 && p[5] == FRAME_KIND_STREAM && p[6] != 0)
        return FRAME_E_KEY_ID;
    if (have > 7 && p[7] != 0)
        return FRAME_E_RESERVED;
    if (have < FRAME_PREAMBLE_LEN)
        return -EAGAIN;
    out->kind = (enum frame_kind)p[5];
    out->key_id = p[6];
    return 0;
}

int frame_preamble_encode(const struct frame_preamble *pre, struct buf *b)
{
    uint8_t tmp[FRAME_PREAMBLE_LEN] = {'L', 'R', 'L', 'Y', FRAME_VERSION, 0, 0, 0};

    if (pre->kind != FRAME_KIND_CONTROL && pre->kind != FRAME_KIND_STREAM)
        return -EINVAL;
    if (pre->kind == FRAME_KIND_STREAM && pre->key_id != 0)
        return -EINVAL;
    tmp[5] = (uint8_t)pre->kind;
    tmp[6] = pre->key_id;
    return buf_put_bytes(b, tmp, sizeof(tmp));
}

void frame_control_prologue(const uint8_t preamble[FRAME_PREAMBLE_LEN],
                            uint8_t out[FRAME_CONTROL_PROLOGUE_LEN])
{
    memcpy(out, FRAME_CONTROL_PROLOGUE, sizeof(FRAME_CONTROL_PROLOGUE) - 1);
    memcpy(out + sizeof(FRAME_CONTROL_PROLOGUE) - 1, preamble, FRAME_PREAMBLE_LEN);
}

int frame_parse(const uint8_t *p, size_t n, size_t max_body, struct frame *out, size_t *need)
{
    size_t len;

    if (p == NULL)
        n = 0;
    if (max_body > FRAME_MAX_LEN)
        max_body = FRAME_MAX_LEN;
    if (n < FRAME_HDR_LEN) {
        if (need)
            *need = FRAME_HDR_LEN - n;
        return -EAGAIN;
    }
    len = ((size_t)p[0] << 8) | p[1];
    if (len == 0)
        return -EBADMSG;
    if (len > max_body)
        return -EMSGSIZE;
    if (n - FRAME_HDR_LEN < len) {
        if (need)
            *need = len - (n - FRAME_HDR_LEN);
        return -EAGAIN;
    }
    out->body = p + FRAME_HDR_LEN;
    out->len = len;
    out->consumed = FRAME_HDR_LEN + len;
    return 0;
}

int frame_header_encode(size_t len, struct buf *b)
{
    if (len == 0 || len > FRAME_MAX_LEN)
        return -EINVAL;
    return buf_put_u16(b, (uint16_t)len);
}

int frame_encode(const uint8_t *body, size_t len, struct buf *b)
{
    int rc;

    if (len == 0 || len > FRAME_MAX_LEN)
        return -EINVAL;
    if (FRAME_HDR_LEN + len > buf_avail(b))
        return -ENOSPC;
    rc = frame_header_encode(len, b);
    if (rc == 0)
        rc = buf_put_bytes(b, body, len);
    return rc;
}

const char *frame_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case FRAME_E_MAGIC:
        return "bad preamble magic (not a linkrelay peer)";
    case FRAME_E_VERSION:
        return "unsupported protocol version";
    case FRAME_E_KIND:
        return "unknown connection kind";
    case FRAME_E_KEY_ID:
        return "stream preamble with a non-zero key id";
    case FRAME_E_RESERVED:
        return "non-zero reserved preamble byte";
    case -EAGAIN:
        return "incomplete (need more bytes)";
    case -EBADMSG:
        return "zero-length frame";
    case -EMSGSIZE:
        return "frame longer than allowed here";
    case -EINVAL:
        return "invalid argument";
    case -ENOSPC:
        return "output buffer too small";
    default:
        return "unknown frame error";
    }
}
