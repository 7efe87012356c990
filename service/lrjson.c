/* SPDX-License-Identifier: MIT */
/*
 * lrjson — see lrjson.h.
 */
#include "lrjson.h"

#include <stdlib.h>
#include <string.h>

json_int_t lrjson_u64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0], min, cp;
    size_t n;

    if (c < 0x80) {
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

json_t *lrjson_str(const char *s)
{
    static const char fffd[] = "\xef\xbf\xbd";
    json_t *v = json_string(s);
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    char *buf;

    if (v != NULL) {
        return v;
    }
    /* Not valid UTF-8 (or out of memory): at most 3 bytes out per byte in. */
    buf = malloc(3 * strlen(s) + 1);
    if (buf == NULL) {
        return NULL;
    }
    while (*p != '\0') {
        size_t n = utf8_len(p);
        if (n == 0) {
            memcpy(buf + o, fffd, 3);
            o += 3;
            p++;
        } else {
            memcpy(buf + o, p, n);
            o += n;
            p += n;
        }
    }
    v = json_stringn(buf, o);
    free(buf);
    return v;
}
