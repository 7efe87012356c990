/* SPDX-License-Identifier: MIT */
#include "enroll.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define ENROLL_CHECK_LEN 4
#define ENROLL_RAW_LEN   (ENROLL_SECRET_LEN + ENROLL_CHECK_LEN)
#define ENROLL_B32_LEN   32

const char *enroll_strerror(int err)
{
    switch (err) {
    case ENROLL_OK:
        return "ok";
    case ENROLL_ERR_PREFIX:
        return "not an enrollment code (expected lrenr1...)";
    case ENROLL_ERR_KIND:
        return "wrong kind: this is a key or a token, not an enrollment code";
    case ENROLL_ERR_TRUNCATED:
        return "enrollment code is truncated";
    case ENROLL_ERR_TOO_LONG:
        return "enrollment code is too long";
    case ENROLL_ERR_BAD_CHAR:
        return "bad character in enrollment code";
    case ENROLL_ERR_CHECKSUM:
        return "checksum mismatch (likely a typo)";
    default:
        return "unknown enrollment code error";
    }
}

void enroll_format_error(int err, size_t errpos, char *out, size_t cap)
{
    if (cap == 0)
        return;
    if (err == ENROLL_ERR_BAD_CHAR)
        snprintf(out, cap, "bad character at position %zu", errpos);
    else
        snprintf(out, cap, "%s", enroll_strerror(err));
}

void enroll_secret_new(uint8_t secret[ENROLL_SECRET_LEN])
{
    randombytes_buf(secret, ENROLL_SECRET_LEN);
}

static void enroll_check(const uint8_t secret[ENROLL_SECRET_LEN], uint8_t check[ENROLL_CHECK_LEN])
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)ENROLL_PREFIX, KEY_PREFIX_LEN);
    crypto_hash_sha256_update(&st, secret, ENROLL_SECRET_LEN);
    crypto_hash_sha256_final(&st, h);
    memcpy(check, h, ENROLL_CHECK_LEN);
    sodium_memzero(h, sizeof(h));
    sodium_memzero(&st, sizeof(st));
}

void enroll_code_encode(const uint8_t secret[ENROLL_SECRET_LEN], char out[ENROLL_TEXT_SIZE])
{
    uint8_t raw[ENROLL_RAW_LEN];

    memcpy(raw, secret, ENROLL_SECRET_LEN);
    enroll_check(secret, raw + ENROLL_SECRET_LEN);
    memcpy(out, ENROLL_PREFIX, KEY_PREFIX_LEN);
    key_b32_encode(raw, sizeof(raw), out + KEY_PREFIX_LEN);
    out[ENROLL_TEXT_LEN] = '\0';
    sodium_memzero(raw, sizeof(raw));
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* 1 when text starts with prefix p (case-insensitive). */
static int has_prefix(const char *text, const char *p)
{
    for (size_t i = 0; i < KEY_PREFIX_LEN; i++)
        if (text[i] == '\0' || lower((unsigned char)text[i]) != p[i])
            return 0;
    return 1;
}

static int prefix_check(const char *text)
{
    if (has_prefix(text, ENROLL_PREFIX))
        return 0;
    if (has_prefix(text, KEY_PUB_PREFIX) || has_prefix(text, KEY_PRIV_PREFIX) ||
        has_prefix(text, KEY_TOKEN_PREFIX))
        return ENROLL_ERR_KIND;
    if (strnlen(text, KEY_PREFIX_LEN) < KEY_PREFIX_LEN &&
        strncmp("lrenr1", text, strnlen(text, KEY_PREFIX_LEN)) == 0)
        return ENROLL_ERR_TRUNCATED;
    return ENROLL_ERR_PREFIX;
}

int enroll_code_decode(const char *text, uint8_t secret[ENROLL_SECRET_LEN], size_t *errpos)
{
    uint8_t raw[ENROLL_RAW_LEN], check[ENROLL_CHECK_LEN];
    const char *b32 = text + KEY_PREFIX_LEN;
    size_t len, pos = 0;
    int rc = prefix_check(text);

    if (rc != 0)
        return rc;
    len = strnlen(b32, ENROLL_B32_LEN + 1);
    for (size_t i = 0; i < len; i++) {
        char c = b32[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'))) {
            if (errpos != NULL)
                *errpos = KEY_PREFIX_LEN + i + 1;
            return ENROLL_ERR_BAD_CHAR;
        }
    }
    if (len < ENROLL_B32_LEN)
        return ENROLL_ERR_TRUNCATED;
    if (len > ENROLL_B32_LEN)
        return ENROLL_ERR_TOO_LONG;
    /* 32 characters hold exactly 20 bytes: no unused bits to check. */
    rc = key_b32_decode(b32, len, raw, &pos);
    if (rc < 0) {
        sodium_memzero(raw, sizeof(raw));
        if (errpos != NULL)
            *errpos = KEY_PREFIX_LEN + pos + 1;
        return ENROLL_ERR_BAD_CHAR;
    }
    enroll_check(raw, check);
    rc = sodium_memcmp(check, raw + ENROLL_SECRET_LEN, ENROLL_CHECK_LEN) == 0 ? 0
                                                                              : ENROLL_ERR_CHECKSUM;
    if (rc == 0)
        memcpy(secret, raw, ENROLL_SECRET_LEN);
    sodium_memzero(raw, sizeof(raw));
    return rc;
}

static void derive(const uint8_t secret[ENROLL_SECRET_LEN], const char *what,
                   const uint8_t link_id[LINKID_LEN], int side, uint8_t out[32])
{
    crypto_generichash_state st;
    uint8_t s = (uint8_t)side;

    crypto_generichash_init(&st, secret, ENROLL_SECRET_LEN, 32);
    crypto_generichash_update(&st, (const uint8_t *)what, strlen(what));
    crypto_generichash_update(&st, link_id, LINKID_LEN);
    crypto_generichash_update(&st, &s, 1);
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof(st));
}

void enroll_verifier(const uint8_t secret[ENROLL_SECRET_LEN], const uint8_t link_id[LINKID_LEN],
                     int side, uint8_t verifier[ENROLL_HASH_LEN])
{
    derive(secret, "linkrelay/1 enroll verifier", link_id, side, verifier);
}

void enroll_hash(const uint8_t verifier[ENROLL_HASH_LEN], uint8_t hash[ENROLL_HASH_LEN])
{
    static const char dom[] = "linkrelay/1 enroll hash";
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, ENROLL_HASH_LEN);
    crypto_generichash_update(&st, (const uint8_t *)dom, sizeof(dom) - 1);
    crypto_generichash_update(&st, verifier, ENROLL_HASH_LEN);
    crypto_generichash_final(&st, hash, ENROLL_HASH_LEN);
}

int enroll_anchor(const uint8_t secret[ENROLL_SECRET_LEN], const uint8_t link_id[LINKID_LEN],
                  int side, uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN])
{
    derive(secret, "linkrelay/1 enroll anchor", link_id, side, priv);
    if (key_pub_from_priv(priv, pub) != 0 || key_pub_check(pub) != 0) {
        sodium_memzero(priv, KEY_LEN);
        return -EINVAL;
    }
    return 0;
}
