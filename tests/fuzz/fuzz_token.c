/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the text decoders of common/keys.c, common/token.c,
 * common/enroll.c (enrollment codes) and common/addr.c on arbitrary text. Whatever a decoder
 * accepts must encode back to the canonical form of the input (the input in lowercase; addresses
 * unchanged), and that form must decode to the same value.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "enroll.h"
#include "keys.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static void check_token(const char *s, const char *canon)
{
    static struct token t, u;
    static char out[TOKEN_TEXT_SIZE];

    if (token_decode(s, &t, NULL) != 0)
        return;
    if (token_encode(&t, out, sizeof(out)) != 0 || strcmp(out, canon) != 0)
        abort();
    if (token_decode(out, &u, NULL) != 0 || memcmp(&t, &u, sizeof(t)) != 0)
        abort();
    token_wipe(&t);
    token_wipe(&u);
}

static void check_keys(const char *s, const char *canon)
{
    uint8_t k[KEY_LEN], k2[KEY_LEN], id[LINKID_LEN];
    char out[KEY_TEXT_SIZE], hex[LINKID_TEXT_SIZE];
    size_t pos = 0;
    int rc;

    if (key_pub_decode(s, k, &pos) == 0) {
        key_pub_encode(k, out);
        if (strcmp(out, canon) != 0 || key_pub_decode(out, k2, NULL) != 0 ||
            memcmp(k, k2, KEY_LEN) != 0)
            abort();
    }
    rc = key_priv_decode(s, k, &pos);
    if (rc == 0) {
        key_priv_encode(k, out);
        if (strcmp(out, canon) != 0)
            abort();
    } else if (rc == KEY_ERR_BAD_CHAR && (pos == 0 || pos > strlen(s))) {
        abort(); /* a position must point into the text */
    }
    if (linkid_decode(s, id, NULL) == 0) {
        linkid_encode(id, hex);
        if (strcmp(hex, canon) != 0)
            abort();
    }
    sodium_memzero(k, sizeof(k));
}

static void check_enroll(const char *s, const char *canon)
{
    uint8_t k[ENROLL_SECRET_LEN], k2[ENROLL_SECRET_LEN];
    char out[ENROLL_TEXT_SIZE];
    size_t pos = 0;
    int rc = enroll_code_decode(s, k, &pos);

    if (rc == 0) {
        enroll_code_encode(k, out);
        if (strcmp(out, canon) != 0 || enroll_code_decode(out, k2, NULL) != 0 ||
            memcmp(k, k2, sizeof(k)) != 0)
            abort();
    } else if (rc == ENROLL_ERR_BAD_CHAR && (pos == 0 || pos > strlen(s))) {
        abort(); /* a position must point into the text */
    } else if (rc > 0 || rc < ENROLL_ERR_CHECKSUM) {
        abort();
    }
    sodium_memzero(k, sizeof(k));
}

static void check_addr(const char *s)
{
    static const unsigned flags[] = {0, ADDR_PORT0_OK, ADDR_NUMERIC_ONLY | ADDR_PORT0_OK};

    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        struct addr_spec a, b;
        char out[ADDR_TEXT_SIZE];
        if (addr_parse(s, flags[i], &a) != 0)
            continue;
        if (addr_format(&a, out, sizeof(out)) != 0 || strcmp(out, s) != 0)
            abort();
        if (addr_parse(out, flags[i], &b) != 0 || strcmp(a.host, b.host) != 0 || a.port != b.port ||
            a.family_hint != b.family_hint)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char *s, *canon;

    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    if (size > TOKEN_TEXT_MAX + 64)
        return 0;
    s = malloc(size + 1);
    canon = malloc(size + 1);
    if (s == NULL || canon == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    memcpy(canon, s, size + 1);
    lower(canon);
    check_token(s, canon);
    check_keys(s, canon);
    check_enroll(s, canon);
    check_addr(s);
    free(s);
    free(canon);
    return 0;
}
