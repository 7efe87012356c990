/* SPDX-License-Identifier: MIT */
#include "auth.h"

#include <errno.h>
#include <string.h>

#include "buf.h"

int auth_decode(const uint8_t *p, size_t n, struct auth *out)
{
    struct auth a;
    const uint8_t *s;
    size_t slen;
    uint8_t version, side;
    struct cur cu;

    memset(&a, 0, sizeof(a));
    cur_init(&cu, p, n);
    if (cur_u8(&cu, &version) != 0 || version != AUTH_VERSION)
        return -EBADMSG;
    if (cur_u8(&cu, &side) != 0 || side > 1)
        return -EBADMSG;
    if (cur_copy(&cu, a.link_id, sizeof(a.link_id)) != 0)
        return -EBADMSG;
    if (cur_u8(&cu, &a.flags) != 0 || (a.flags & ~AUTH_FLAGS_KNOWN) != 0)
        return -EBADMSG;
    /* resume_ticket: reserved in v1; its length is checked, its bytes ignored. */
    if (cur_str8(&cu, &s, &slen) != 0 || (slen != 0 && slen != AUTH_RESUME_LEN))
        return -EBADMSG;
    if (cur_str8(&cu, &s, &slen) != 0 || slen > AUTH_MAX_AGENT)
        return -EBADMSG;
    for (size_t i = 0; i < slen; i++)
        a.agent_version[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    if ((a.flags & AUTH_FLAG_ENROLL) && cur_copy(&cu, a.verifier, sizeof(a.verifier)) != 0)
        return -EBADMSG;
    if (cur_end_ok(&cu) != 0)
        return -EBADMSG;
    a.side = side;
    *out = a;
    return 0;
}

int auth_encode(const struct auth *a, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t vlen = strnlen(a->agent_version, sizeof(a->agent_version));
    struct buf b;

    if (a->side < 0 || a->side > 1 || vlen > AUTH_MAX_AGENT || (a->flags & ~AUTH_FLAGS_KNOWN) != 0)
        return -EINVAL;
    buf_init(&b, out, cap);
    if (buf_put_u8(&b, AUTH_VERSION) != 0 || buf_put_u8(&b, (uint8_t)a->side) != 0 ||
        buf_put_bytes(&b, a->link_id, AUTH_LINK_LEN) != 0 || buf_put_u8(&b, a->flags) != 0 ||
        buf_put_str8(&b, NULL, 0) != 0 || buf_put_str8(&b, a->agent_version, vlen) != 0)
        return -ENOSPC;
    if ((a->flags & AUTH_FLAG_ENROLL) && buf_put_bytes(&b, a->verifier, AUTH_VERIFIER_LEN) != 0)
        return -ENOSPC;
    *outlen = b.len;
    return 0;
}
