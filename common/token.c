/* SPDX-License-Identifier: MIT */
#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

#define TOKEN_CHECK_LEN 4
#define TOKEN_RAW_MAX   (TOKEN_BODY_MAX + TOKEN_CHECK_LEN)
#define TOKEN_B32_MAX   (TOKEN_TEXT_MAX - KEY_PREFIX_LEN)
/* version, flags, link_id, side, relay_key_id, relay_pub, peer_pub */
#define TOKEN_FIXED_LEN (1 + 1 + LINKID_LEN + 1 + 1 + KEY_LEN + KEY_LEN)

const char *token_strerror(int err)
{
    switch (err) {
    case TOKEN_OK:
        return "ok";
    case TOKEN_ERR_PREFIX:
        return "not an enrollment token (expected lrtok1...)";
    case TOKEN_ERR_KIND_PUB:
        return "wrong kind: this is a public key, not a token";
    case TOKEN_ERR_KIND_PRIV:
        return "wrong kind: this is a private key, not a token";
    case TOKEN_ERR_TRUNCATED:
        return "token is truncated";
    case TOKEN_ERR_TOO_LONG:
        return "token is too long";
    case TOKEN_ERR_BAD_CHAR:
        return "bad character in token";
    case TOKEN_ERR_CHECKSUM:
        return "checksum mismatch (likely a typo)";
    case TOKEN_ERR_VERSION:
        return "unsupported token version";
    case TOKEN_ERR_FLAGS:
        return "unsupported token flags";
    case TOKEN_ERR_SIDE:
        return "bad side (must be a or b)";
    case TOKEN_ERR_NO_ADDRS:
        return "token has no relay addresses";
    case TOKEN_ERR_MANY_ADDRS:
        return "too many relay addresses (max 16)";
    case TOKEN_ERR_BAD_ADDR:
        return "bad relay address in token";
    case TOKEN_ERR_BAD_NAME:
        return "bad link name in token (max 64 bytes of UTF-8, no control characters)";
    case TOKEN_ERR_BAD_KEY:
        return "invalid public key in token (all-zero or low-order)";
    case TOKEN_ERR_TRAILING:
        return "trailing bytes after the token body";
    case TOKEN_ERR_NOSPACE:
        return "output buffer too small for the token";
    case TOKEN_ERR_OWN_KEY:
        return "token's private key belongs to the peer side (own key equals peer key)";
    default:
        return "unknown token error";
    }
}

void token_format_error(int err, size_t errpos, char *out, size_t cap)
{
    if (cap == 0)
        return;
    if (err == TOKEN_ERR_BAD_CHAR)
        snprintf(out, cap, "bad character at position %zu", errpos);
    else
        snprintf(out, cap, "%s", token_strerror(err));
}

/* UTF-8 without overlong forms, surrogates or code points above U+10FFFF,
 * and without C0/C1 control characters or DEL. */
static int valid_name(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t k;
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int valid_addr(const char *a, size_t n)
{
    struct addr_spec spec;

    if (n == 0 || n > TOKEN_ADDR_MAX || memchr(a, '\0', n) != NULL)
        return 0;
    return addr_parse(a, 0, &spec) == 0;
}

/* The rules every token obeys, whether decoded or about to be encoded. */
static int token_validate(const struct token *t)
{
    size_t n;

    if (t->version != TOKEN_VERSION)
        return TOKEN_ERR_VERSION;
    if (t->flags & ~TOKEN_FLAG_PRIV)
        return TOKEN_ERR_FLAGS;
    if (t->side > 1)
        return TOKEN_ERR_SIDE;
    if (t->n_addrs == 0)
        return TOKEN_ERR_NO_ADDRS;
    if (t->n_addrs > TOKEN_MAX_ADDRS)
        return TOKEN_ERR_MANY_ADDRS;
    for (size_t i = 0; i < t->n_addrs; i++) {
        n = strnlen(t->addrs[i], sizeof(t->addrs[i]));
        if (n == sizeof(t->addrs[i]) || !valid_addr(t->addrs[i], n))
            return TOKEN_ERR_BAD_ADDR;
    }
    n = strnlen(t->name, sizeof(t->name));
    if (n == sizeof(t->name) || !valid_name((const uint8_t *)t->name, n))
        return TOKEN_ERR_BAD_NAME;
    if (key_pub_check(t->relay_pub) != 0 || key_pub_check(t->peer_pub) != 0)
        return TOKEN_ERR_BAD_KEY;
    if (t->flags & TOKEN_FLAG_PRIV) {
        uint8_t own[KEY_LEN];
        int same =
            key_pub_from_priv(t->priv, own) != 0 || sodium_memcmp(own, t->peer_pub, KEY_LEN) == 0;
        sodium_memzero(own, sizeof(own));
        if (same)
            return TOKEN_ERR_OWN_KEY;
    }
    return 0;
}

static void token_checksum(const uint8_t *body, size_t n, uint8_t check[TOKEN_CHECK_LEN])
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)TOKEN_PREFIX, KEY_PREFIX_LEN);
    crypto_hash_sha256_update(&st, body, n);
    crypto_hash_sha256_final(&st, h);
    memcpy(check, h, TOKEN_CHECK_LEN);
    sodium_memzero(h, sizeof(h));
    sodium_memzero(&st, sizeof(st));
}

/* Serialises a validated token; returns the body length. */
static size_t body_build(const struct token *t, uint8_t *b)
{
    size_t o = 0, n;

    b[o++] = t->version;
    b[o++] = t->flags;
    memcpy(b + o, t->link_id, LINKID_LEN);
    o += LINKID_LEN;
    b[o++] = t->side;
    b[o++] = t->relay_key_id;
    memcpy(b + o, t->relay_pub, KEY_LEN);
    o += KEY_LEN;
    memcpy(b + o, t->peer_pub, KEY_LEN);
    o += KEY_LEN;
    if (t->flags & TOKEN_FLAG_PRIV) {
        memcpy(b + o, t->priv, KEY_LEN);
        o += KEY_LEN;
    }
    b[o++] = t->n_addrs;
    for (size_t i = 0; i < t->n_addrs; i++) {
        n = strlen(t->addrs[i]);
        b[o++] = (uint8_t)n;
        memcpy(b + o, t->addrs[i], n);
        o += n;
    }
    n = strlen(t->name);
    b[o++] = (uint8_t)n;
    memcpy(b + o, t->name, n);
    return o + n;
}

int token_encode(const struct token *t, char *out, size_t cap)
{
    uint8_t raw[TOKEN_RAW_MAX];
    size_t n, tlen;
    int rc = token_validate(t);

    if (rc != 0)
        return rc;
    n = body_build(t, raw);
    tlen = KEY_PREFIX_LEN + key_b32_len(n + TOKEN_CHECK_LEN);
    if (cap < tlen + 1) {
        sodium_memzero(raw, n);
        return TOKEN_ERR_NOSPACE;
    }
    token_checksum(raw, n, raw + n);
    memcpy(out, TOKEN_PREFIX, KEY_PREFIX_LEN);
    key_b32_encode(raw, n + TOKEN_CHECK_LEN, out + KEY_PREFIX_LEN);
    out[tlen] = '\0';
    sodium_memzero(raw, sizeof(raw));
    return 0;
}

/*
 * Walks the v1 layout of b[0..n) and returns the body length it describes,
 * or 0 when the bytes end before the body does. Reads only lengths and the
 * flags byte, never key bytes.
 */
static size_t body_walk(const uint8_t *b, size_t n)
{
    size_t o = TOKEN_FIXED_LEN;

    if (n < TOKEN_FIXED_LEN + 1)
        return 0;
    if (b[1] & TOKEN_FLAG_PRIV)
        o += KEY_LEN;
    if (o >= n)
        return 0;
    for (size_t i = 0, na = b[o++]; i < na; i++) {
        if (o >= n || n - o - 1 < b[o])
            return 0;
        o += 1 + (size_t)b[o];
    }
    if (o >= n || n - o - 1 < b[o])
        return 0;
    return o + 1 + (size_t)b[o];
}

/* Fills t from a body whose check verified and whose length is exactly what
 * body_walk() said; then applies token_validate(). */
static int body_parse(const uint8_t *b, struct token *t)
{
    size_t o = 0, n;
    int bad_addr = 0, bad_name = 0, rc;

    memset(t, 0, sizeof(*t));
    t->version = b[o++];
    t->flags = b[o++];
    memcpy(t->link_id, b + o, LINKID_LEN);
    o += LINKID_LEN;
    t->side = b[o++];
    t->relay_key_id = b[o++];
    memcpy(t->relay_pub, b + o, KEY_LEN);
    o += KEY_LEN;
    memcpy(t->peer_pub, b + o, KEY_LEN);
    o += KEY_LEN;
    if (t->flags & TOKEN_FLAG_PRIV) {
        memcpy(t->priv, b + o, KEY_LEN);
        o += KEY_LEN;
    }
    t->n_addrs = b[o++];
    for (size_t i = 0; i < t->n_addrs; i++) {
        n = b[o++];
        /* An embedded NUL would silently shorten the C string. */
        if (memchr(b + o, '\0', n) != NULL)
            bad_addr = 1;
        else if (i < TOKEN_MAX_ADDRS)
            memcpy(t->addrs[i], b + o, n);
        o += n;
    }
    n = b[o++];
    if (n > TOKEN_NAME_MAX || memchr(b + o, '\0', n) != NULL)
        bad_name = 1;
    else
        memcpy(t->name, b + o, n);
    rc = token_validate(t);
    if (rc == 0 && bad_addr)
        rc = TOKEN_ERR_BAD_ADDR;
    if (rc == 0 && bad_name)
        rc = TOKEN_ERR_BAD_NAME;
    return rc;
}

/* Case-insensitive: does text start with the lowercase prefix p? Returns the
 * number of characters that matched (KEY_PREFIX_LEN when it does). */
static size_t prefix_match(const char *text, const char *p)
{
    size_t m;

    for (m = 0; m < KEY_PREFIX_LEN && text[m] != '\0'; m++) {
        char c = text[m];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != p[m])
            break;
    }
    return m;
}

/* Prefix and characters; sets *len to the base32 length. */
static int text_check(const char *text, size_t *len, size_t *errpos)
{
    size_t m = prefix_match(text, TOKEN_PREFIX);

    if (m < KEY_PREFIX_LEN) {
        if (text[m] == '\0')
            return TOKEN_ERR_TRUNCATED;
        if (prefix_match(text, KEY_PUB_PREFIX) == KEY_PREFIX_LEN)
            return TOKEN_ERR_KIND_PUB;
        if (prefix_match(text, KEY_PRIV_PREFIX) == KEY_PREFIX_LEN)
            return TOKEN_ERR_KIND_PRIV;
        return TOKEN_ERR_PREFIX;
    }
    *len = strnlen(text + KEY_PREFIX_LEN, TOKEN_B32_MAX + 1);
    for (size_t i = 0; i < *len; i++) {
        char c = text[KEY_PREFIX_LEN + i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'))) {
            if (errpos != NULL)
                *errpos = KEY_PREFIX_LEN + i + 1;
            return TOKEN_ERR_BAD_CHAR;
        }
    }
    if (*len > TOKEN_B32_MAX)
        return TOKEN_ERR_TOO_LONG;
    return 0;
}

static int token_decode_raw(const char *b32, size_t len, uint8_t *raw, struct token *t,
                            size_t *errpos)
{
    uint8_t check[TOKEN_CHECK_LEN];
    size_t pos = 0, n = len * 5 / 8, blen;
    int rc = key_b32_decode(b32, len, raw, &pos);
    int check_ok = 0;

    if (rc >= 0 && n >= TOKEN_CHECK_LEN) {
        token_checksum(raw, n - TOKEN_CHECK_LEN, check);
        check_ok = sodium_memcmp(check, raw + n - TOKEN_CHECK_LEN, TOKEN_CHECK_LEN) == 0;
    }
    if (!check_ok) {
        /* A typo, or text lost at the end: the v1 layout tells which. */
        blen = body_walk(raw, n);
        return blen == 0 || blen + TOKEN_CHECK_LEN > n ? TOKEN_ERR_TRUNCATED : TOKEN_ERR_CHECKSUM;
    }
    if (rc == 1) {
        /* Unused bits of the last character set: invisible to the check. */
        if (errpos != NULL)
            *errpos = KEY_PREFIX_LEN + len;
        return TOKEN_ERR_BAD_CHAR;
    }
    n -= TOKEN_CHECK_LEN;
    if (n < 1 || raw[0] != TOKEN_VERSION)
        return TOKEN_ERR_VERSION;
    blen = body_walk(raw, n);
    if (blen == 0)
        return TOKEN_ERR_TRUNCATED;
    if (blen < n)
        return TOKEN_ERR_TRAILING;
    return body_parse(raw, t);
}

int token_decode(const char *text, struct token *out, size_t *errpos)
{
    uint8_t raw[TOKEN_RAW_MAX];
    struct token t;
    size_t len = 0;
    int rc = text_check(text, &len, errpos);

    if (rc != 0)
        return rc;
    memset(raw, 0, sizeof(raw));
    rc = token_decode_raw(text + KEY_PREFIX_LEN, len, raw, &t, errpos);
    if (rc == 0)
        memcpy(out, &t, sizeof(t));
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(&t, sizeof(t));
    return rc;
}

int token_own_pub(const struct token *t, uint8_t pub[KEY_LEN])
{
    if (!(t->flags & TOKEN_FLAG_PRIV))
        return -ENOENT;
    return key_pub_from_priv(t->priv, pub) == 0 ? 0 : -EINVAL;
}

void token_wipe(struct token *t)
{
    if (t != NULL)
        sodium_memzero(t, sizeof(*t));
}
