/* SPDX-License-Identifier: MIT */
#include "keys.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define KEY_CHECK_LEN 4

const char *key_strerror(int err)
{
    switch (err) {
    case KEY_OK:
        return "ok";
    case KEY_ERR_PREFIX:
        return "not a linkrelay key (unknown prefix)";
    case KEY_ERR_KIND_PUB:
        return "wrong kind: this is a public key";
    case KEY_ERR_KIND_PRIV:
        return "wrong kind: this is a private key";
    case KEY_ERR_KIND_TOKEN:
        return "wrong kind: this is an enrollment token";
    case KEY_ERR_BAD_CHAR:
        return "bad character";
    case KEY_ERR_TRUNCATED:
        return "truncated";
    case KEY_ERR_TOO_LONG:
        return "too long";
    case KEY_ERR_CHECKSUM:
        return "checksum mismatch (a typo?)";
    case KEY_ERR_LOW_ORDER:
        return "invalid public key (all-zero or low-order point)";
    default:
        return "unknown key error";
    }
}

void key_format_error(int err, size_t errpos, char *out, size_t cap)
{
    if (cap == 0)
        return;
    if (err == KEY_ERR_BAD_CHAR)
        snprintf(out, cap, "bad character at position %zu", errpos);
    else
        snprintf(out, cap, "%s", key_strerror(err));
}

/*
 * Branchless base32 digit value, in the style of WireGuard's key encoding:
 * each range test is an arithmetic sign mask, so the time taken does not
 * depend on the character. Returns 0..31, or -1 for a character outside the
 * alphabet (either case). Relies on arithmetic right shift of negative ints,
 * which gcc and clang guarantee.
 */
static int b32_val(unsigned char ch)
{
    int c = ch;
    int ret = -1;

    ret += (((0x60 - c) & (c - 0x7b)) >> 8) & (c - 0x60); /* a..z -> 1..26 */
    ret += (((0x40 - c) & (c - 0x5b)) >> 8) & (c - 0x40); /* A..Z -> 1..26 */
    ret += (((0x31 - c) & (c - 0x38)) >> 8) & (c - 0x17); /* 2..7 -> 27..32 */
    return ret;
}

/* Branchless inverse: 0..25 -> 'a'..'z', 26..31 -> '2'..'7'. */
static char b32_chr(unsigned v)
{
    int x = (int)(v & 31);

    return (char)('a' + x + (((25 - x) >> 8) & ('2' - 'a' - 26)));
}

size_t key_b32_len(size_t nbytes)
{
    return (nbytes * 8 + 4) / 5;
}

void key_b32_encode(const uint8_t *in, size_t n, char *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[k++] = b32_chr(acc >> bits);
        }
    }
    if (bits > 0)
        out[k++] = b32_chr(acc << (5 - bits));
    sodium_memzero(&acc, sizeof(acc));
}

int key_b32_decode(const char *in, size_t len, uint8_t *out, size_t *errpos)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    int bad = 0;
    int rest;

    for (size_t i = 0; i < len; i++) {
        int v = b32_val((unsigned char)in[i]);
        bad |= v;
        acc = (acc << 5) | (uint32_t)(v & 31);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    rest = (acc & ((1u << bits) - 1)) != 0;
    sodium_memzero(&acc, sizeof(acc));
    if (bad < 0) {
        /* Only now branch per character: the text is invalid anyway. */
        for (size_t i = 0; i < len; i++) {
            if (b32_val((unsigned char)in[i]) < 0) {
                *errpos = i;
                break;
            }
        }
        return KEY_ERR_BAD_CHAR;
    }
    if (len % 8 == 1 || len % 8 == 3 || len % 8 == 6)
        return KEY_ERR_TRUNCATED;
    return rest ? 1 : 0;
}

/* Case-insensitive match of the first n characters of s against lowercase p;
 * stops at s's NUL. Returns the number of characters that matched. */
static size_t prefix_match(const char *s, const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n && s[i] != '\0'; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != p[i])
            break;
    }
    return i;
}

/* Which known prefix text starts with. Returns 0 when it is want; otherwise
 * the error to report. */
static int check_prefix(const char *text, const char *want)
{
    static const struct {
        const char *prefix;
        int err;
    } kinds[] = {
        {KEY_PUB_PREFIX, KEY_ERR_KIND_PUB},
        {KEY_PRIV_PREFIX, KEY_ERR_KIND_PRIV},
        {KEY_TOKEN_PREFIX, KEY_ERR_KIND_TOKEN},
    };
    size_t m = prefix_match(text, want, KEY_PREFIX_LEN);

    if (m == KEY_PREFIX_LEN)
        return 0;
    if (text[m] == '\0')
        return KEY_ERR_TRUNCATED; /* a proper prefix of the right prefix */
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (prefix_match(text, kinds[i].prefix, KEY_PREFIX_LEN) == KEY_PREFIX_LEN)
            return kinds[i].err;
    }
    return KEY_ERR_PREFIX;
}

static void key_checksum(const char *prefix, const uint8_t key[KEY_LEN],
                         uint8_t check[KEY_CHECK_LEN])
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)prefix, KEY_PREFIX_LEN);
    crypto_hash_sha256_update(&st, key, KEY_LEN);
    crypto_hash_sha256_final(&st, h);
    memcpy(check, h, KEY_CHECK_LEN);
    sodium_memzero(h, sizeof(h));
    sodium_memzero(&st, sizeof(st));
}

static void key_encode(const char *prefix, const uint8_t key[KEY_LEN], char out[KEY_TEXT_SIZE])
{
    uint8_t raw[KEY_LEN + KEY_CHECK_LEN];

    memcpy(raw, key, KEY_LEN);
    key_checksum(prefix, key, raw + KEY_LEN);
    memcpy(out, prefix, KEY_PREFIX_LEN);
    key_b32_encode(raw, sizeof(raw), out + KEY_PREFIX_LEN);
    out[KEY_TEXT_LEN] = '\0';
    sodium_memzero(raw, sizeof(raw));
}

void key_pub_encode(const uint8_t pub[KEY_LEN], char out[KEY_TEXT_SIZE])
{
    key_encode(KEY_PUB_PREFIX, pub, out);
}

void key_priv_encode(const uint8_t priv[KEY_LEN], char out[KEY_TEXT_SIZE])
{
    key_encode(KEY_PRIV_PREFIX, priv, out);
}

static int key_decode(const char *text, const char *prefix, uint8_t key[KEY_LEN], size_t *errpos)
{
    uint8_t raw[KEY_LEN + KEY_CHECK_LEN];
    uint8_t check[KEY_CHECK_LEN];
    const char *body;
    size_t len, pos = 0;
    int rc;

    rc = check_prefix(text, prefix);
    if (rc != 0)
        return rc;
    body = text + KEY_PREFIX_LEN;
    len = strnlen(body, KEY_B32_LEN + 1);
    /* Characters outside the alphabet first: "bad character at N" is the
     * most precise thing to say, even in a text of the wrong length. */
    for (size_t i = 0; i < len; i++) {
        if (b32_val((unsigned char)body[i]) < 0) {
            if (errpos != NULL)
                *errpos = KEY_PREFIX_LEN + i + 1;
            return KEY_ERR_BAD_CHAR;
        }
    }
    if (len < KEY_B32_LEN)
        return KEY_ERR_TRUNCATED;
    if (len > KEY_B32_LEN)
        return KEY_ERR_TOO_LONG;
    rc = key_b32_decode(body, KEY_B32_LEN, raw, &pos);
    if (rc < 0) {
        sodium_memzero(raw, sizeof(raw));
        return rc; /* not reached: the characters were checked above */
    }
    key_checksum(prefix, raw, check);
    if (sodium_memcmp(check, raw + KEY_LEN, KEY_CHECK_LEN) != 0) {
        rc = KEY_ERR_CHECKSUM;
    } else if (rc == 1) {
        /* The last character's unused bits are set: a typo the checksum
         * cannot see. */
        if (errpos != NULL)
            *errpos = KEY_TEXT_LEN;
        rc = KEY_ERR_BAD_CHAR;
    } else {
        memcpy(key, raw, KEY_LEN);
    }
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(check, sizeof(check));
    return rc;
}

int key_pub_decode(const char *text, uint8_t pub[KEY_LEN], size_t *errpos)
{
    uint8_t k[KEY_LEN];
    int rc = key_decode(text, KEY_PUB_PREFIX, k, errpos);

    if (rc != 0)
        return rc;
    rc = key_pub_check(k);
    if (rc != 0)
        return rc;
    memcpy(pub, k, KEY_LEN);
    return 0;
}

int key_priv_decode(const char *text, uint8_t priv[KEY_LEN], size_t *errpos)
{
    uint8_t k[KEY_LEN];
    int rc = key_decode(text, KEY_PRIV_PREFIX, k, errpos);

    if (rc == 0)
        memcpy(priv, k, KEY_LEN);
    sodium_memzero(k, sizeof(k));
    return rc;
}

void key_keypair_new(uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN])
{
    do {
        randombytes_buf(priv, KEY_LEN);
    } while (key_pub_from_priv(priv, pub) != 0);
}

int key_pub_from_priv(const uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN])
{
    uint8_t q[KEY_LEN];

    if (crypto_scalarmult_base(q, priv) != 0)
        return KEY_ERR_LOW_ORDER;
    memcpy(pub, q, KEY_LEN);
    return 0;
}

int key_pub_check(const uint8_t pub[KEY_LEN])
{
    uint8_t scalar[crypto_scalarmult_SCALARBYTES];
    uint8_t q[crypto_scalarmult_BYTES];
    int rc;

    randombytes_buf(scalar, sizeof(scalar));
    rc = crypto_scalarmult(q, scalar, pub);
    sodium_memzero(scalar, sizeof(scalar));
    sodium_memzero(q, sizeof(q));
    return rc == 0 ? 0 : KEY_ERR_LOW_ORDER;
}

void linkid_new(uint8_t id[LINKID_LEN])
{
    randombytes_buf(id, LINKID_LEN);
}

void linkid_encode(const uint8_t id[LINKID_LEN], char out[LINKID_TEXT_SIZE])
{
    sodium_bin2hex(out, LINKID_TEXT_SIZE, id, LINKID_LEN);
}

int linkid_decode(const char *text, uint8_t id[LINKID_LEN], size_t *errpos)
{
    static const char digits[] = "0123456789abcdefABCDEF";
    uint8_t tmp[LINKID_LEN];
    size_t len = strnlen(text, LINKID_TEXT_LEN + 1), good = strspn(text, digits), n = 0;

    /* The first character that is no hex digit is reported before a wrong
     * length, so "12x" says where the typo is. */
    if (good < len) {
        if (errpos != NULL)
            *errpos = good + 1;
        return KEY_ERR_BAD_CHAR;
    }
    if (len < LINKID_TEXT_LEN)
        return KEY_ERR_TRUNCATED;
    if (len > LINKID_TEXT_LEN)
        return KEY_ERR_TOO_LONG;
    if (sodium_hex2bin(tmp, sizeof(tmp), text, len, NULL, &n, NULL) != 0 || n != LINKID_LEN)
        return KEY_ERR_BAD_CHAR;
    memcpy(id, tmp, LINKID_LEN);
    return 0;
}
