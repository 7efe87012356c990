/* SPDX-License-Identifier: MIT */
/* Unit tests for common/token.c: enrollment token text forms (protocol §2.1). */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "token.h"
#include "lrcheck.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

static void make_token(struct token *t, int with_priv)
{
    uint8_t scratch[KEY_LEN];

    memset(t, 0, sizeof(*t));
    t->version = TOKEN_VERSION;
    t->flags = with_priv ? TOKEN_FLAG_PRIV : 0;
    linkid_new(t->link_id);
    t->side = 1;
    t->relay_key_id = 7;
    key_keypair_new(scratch, t->relay_pub);
    key_keypair_new(scratch, t->peer_pub);
    if (with_priv)
        key_keypair_new(t->priv, scratch);
    t->n_addrs = 2;
    snprintf(t->addrs[0], sizeof(t->addrs[0]), "relay.example.com:7700");
    snprintf(t->addrs[1], sizeof(t->addrs[1]), "[2001:db8::1]:7700");
    snprintf(t->name, sizeof(t->name), "plc-hall-3 \xc3\xa9");
}

static void assert_same(const struct token *a, const struct token *b)
{
    ck_assert_uint_eq(a->version, b->version);
    ck_assert_uint_eq(a->flags, b->flags);
    ck_assert_mem_eq(a->link_id, b->link_id, LINKID_LEN);
    ck_assert_uint_eq(a->side, b->side);
    ck_assert_uint_eq(a->relay_key_id, b->relay_key_id);
    ck_assert_mem_eq(a->relay_pub, b->relay_pub, KEY_LEN);
    ck_assert_mem_eq(a->peer_pub, b->peer_pub, KEY_LEN);
    if (a->flags & TOKEN_FLAG_PRIV)
        ck_assert_mem_eq(a->priv, b->priv, KEY_LEN);
    ck_assert_uint_eq(a->n_addrs, b->n_addrs);
    for (size_t i = 0; i < a->n_addrs; i++)
        ck_assert_str_eq(a->addrs[i], b->addrs[i]);
    ck_assert_str_eq(a->name, b->name);
}

START_TEST(test_roundtrip)
{
    for (int priv = 0; priv < 2; priv++) {
        struct token t, u;
        char text[TOKEN_TEXT_SIZE], again[TOKEN_TEXT_SIZE];

        make_token(&t, priv);
        ck_assert_int_eq(token_encode(&t, text, sizeof(text)), 0);
        ck_assert(strncmp(text, "lrtok1", 6) == 0);
        for (size_t i = 6; text[i]; i++)
            ck_assert_ptr_nonnull(strchr(alphabet, text[i]));
        ck_assert_int_eq(token_decode(text, &u, NULL), 0);
        assert_same(&t, &u);
        ck_assert_int_eq(token_encode(&u, again, sizeof(again)), 0);
        ck_assert_str_eq(again, text);
        /* Uppercase decodes to the same token. */
        for (size_t i = 0; again[i]; i++)
            if (again[i] >= 'a' && again[i] <= 'z')
                again[i] = (char)(again[i] - 'a' + 'A');
        memset(&u, 0, sizeof(u));
        ck_assert_int_eq(token_decode(again, &u, NULL), 0);
        assert_same(&t, &u);
        token_wipe(&u);
    }
}
END_TEST

START_TEST(test_own_pub_and_wipe)
{
    struct token t;
    uint8_t pub[KEY_LEN], ref[KEY_LEN];
    static const uint8_t zero[sizeof(struct token)];

    make_token(&t, 1);
    ck_assert_int_eq(token_own_pub(&t, pub), 0);
    ck_assert_int_eq(crypto_scalarmult_base(ref, t.priv), 0);
    ck_assert_mem_eq(pub, ref, KEY_LEN);
    token_wipe(&t);
    ck_assert_mem_eq(&t, zero, sizeof(t));
    token_wipe(NULL);
    make_token(&t, 0);
    ck_assert_int_eq(token_own_pub(&t, pub), -ENOENT);
}
END_TEST

/* --- Raw bodies built here from the protocol table, not by token.c. --- */

struct raw {
    uint8_t b[8192];
    size_t n;
};

static void raw_put(struct raw *r, const void *p, size_t n)
{
    ck_assert_uint_le(r->n + n, sizeof(r->b));
    memcpy(r->b + r->n, p, n);
    r->n += n;
}

static void raw_u8(struct raw *r, unsigned v)
{
    uint8_t b = (uint8_t)v;
    raw_put(r, &b, 1);
}

static void raw_str8(struct raw *r, const char *s, size_t n)
{
    raw_u8(r, (unsigned)n);
    raw_put(r, s, n);
}

/* Header fields of a valid token up to (not including) n_addrs. */
static void raw_head(struct raw *r, unsigned version, unsigned flags, unsigned side)
{
    uint8_t id[LINKID_LEN], k[KEY_LEN], scratch[KEY_LEN];

    r->n = 0;
    raw_u8(r, version);
    raw_u8(r, flags);
    memset(id, 0x11, sizeof(id));
    raw_put(r, id, sizeof(id));
    raw_u8(r, side);
    raw_u8(r, 0);
    key_keypair_new(scratch, k);
    raw_put(r, k, KEY_LEN); /* relay_pub */
    key_keypair_new(scratch, k);
    raw_put(r, k, KEY_LEN); /* peer_pub */
    if (flags & TOKEN_FLAG_PRIV) {
        key_keypair_new(scratch, k); /* this side's own pair */
        raw_put(r, scratch, KEY_LEN);
    }
}

/* "lrtok1" + base32(body || first 4 bytes of SHA-256("lrtok1" || body)). */
static void raw_text(const struct raw *r, char *out)
{
    uint8_t buf[8192 + 4], h[32];
    crypto_hash_sha256_state st;

    memcpy(buf, r->b, r->n);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"lrtok1", 6);
    crypto_hash_sha256_update(&st, r->b, r->n);
    crypto_hash_sha256_final(&st, h);
    memcpy(buf + r->n, h, 4);
    memcpy(out, "lrtok1", 6);
    key_b32_encode(buf, r->n + 4, out + 6);
    out[6 + key_b32_len(r->n + 4)] = '\0';
}

static int raw_decode(const struct raw *r)
{
    static char text[16384];
    struct token t;

    raw_text(r, text);
    return token_decode(text, &t, NULL);
}

static void raw_valid_tail(struct raw *r)
{
    raw_u8(r, 1);
    raw_str8(r, "1.2.3.4:5", 9);
    raw_str8(r, "n", 1);
}

START_TEST(test_raw_valid_matches_spec)
{
    struct raw r;
    struct token t;
    char text[16384];

    raw_head(&r, 1, 1, 0);
    raw_valid_tail(&r);
    raw_text(&r, text);
    ck_assert_int_eq(token_decode(text, &t, NULL), 0);
    ck_assert_uint_eq(t.side, 0);
    ck_assert_uint_eq(t.flags, 1);
    ck_assert_str_eq(t.addrs[0], "1.2.3.4:5");
    ck_assert_str_eq(t.name, "n");
    ck_assert_mem_eq(t.priv, r.b + 84, KEY_LEN);
    token_wipe(&t);
}
END_TEST

START_TEST(test_semantic_errors)
{
    struct raw r;
    uint8_t zero[KEY_LEN] = {0};

    raw_head(&r, 2, 0, 0);
    raw_valid_tail(&r);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_VERSION);
    raw_head(&r, 0, 0, 0);
    raw_valid_tail(&r);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_VERSION);
    raw_head(&r, 1, 2, 0);
    raw_valid_tail(&r);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_FLAGS);
    raw_head(&r, 1, 0x81, 0);
    raw_valid_tail(&r);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_FLAGS);
    raw_head(&r, 1, 0, 2);
    raw_valid_tail(&r);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_SIDE);
    raw_head(&r, 1, 0, 0);
    raw_u8(&r, 0);
    raw_str8(&r, "n", 1);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_NO_ADDRS);
    /* Bad addresses: not host:port, port 0, empty, embedded NUL. */
    {
        static const char *const bad[] = {"nope", "h:0", "", "a:1\0b", "h :1", "[::1]"};
        static const size_t len[] = {4, 3, 0, 5, 4, 5};
        for (size_t i = 0; i < 6; i++) {
            raw_head(&r, 1, 0, 0);
            raw_u8(&r, 1);
            raw_str8(&r, bad[i], len[i]);
            raw_str8(&r, "", 0);
            ck_assert_msg(raw_decode(&r) == TOKEN_ERR_BAD_ADDR, "addr %zu", i);
        }
    }
    /* Bad names: control characters, invalid UTF-8, NUL, overlong, surrogate. */
    {
        static const char *const bad[] = {"a\nb",         "\xff", "a\0b",     "\xc0\xaf",
                                          "\xed\xa0\x80", "\x7f", "\xc2\x85", "\xe2\x82"};
        static const size_t len[] = {3, 1, 3, 2, 3, 1, 2, 2};
        for (size_t i = 0; i < 8; i++) {
            raw_head(&r, 1, 0, 0);
            raw_u8(&r, 1);
            raw_str8(&r, "h:1", 3);
            raw_str8(&r, bad[i], len[i]);
            ck_assert_msg(raw_decode(&r) == TOKEN_ERR_BAD_NAME, "name %zu", i);
        }
    }
    /* Low-order relay key, then low-order peer key. */
    raw_head(&r, 1, 0, 0);
    memcpy(r.b + 20, zero, KEY_LEN);
    raw_valid_tail(&r);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_BAD_KEY);
    raw_head(&r, 1, 0, 0);
    memset(r.b + 52, 0, KEY_LEN);
    r.b[52] = 1;
    raw_valid_tail(&r);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_BAD_KEY);
    /* A private key whose public key is the peer key: encoder and decoder. */
    {
        struct token t;
        char text[TOKEN_TEXT_SIZE];
        make_token(&t, 1);
        ck_assert_int_eq(key_pub_from_priv(t.priv, t.peer_pub), 0);
        ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_OWN_KEY);
        raw_head(&r, 1, TOKEN_FLAG_PRIV, 0);
        ck_assert_int_eq(key_pub_from_priv(r.b + 84, r.b + 52), 0);
        raw_valid_tail(&r);
        ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_OWN_KEY);
        token_wipe(&t);
    }
    /* Bytes after the name, under a valid check. */
    raw_head(&r, 1, 0, 0);
    raw_valid_tail(&r);
    raw_u8(&r, 0);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_TRAILING);
    /* A body that ends early, under a valid check. */
    raw_head(&r, 1, 0, 0);
    raw_u8(&r, 1);
    raw_str8(&r, "h:1", 3);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_TRUNCATED);
}
END_TEST

static void fill_addr(char *a, size_t len)
{
    /* A host name of len - 6 characters in labels of <= 63, then ":65535". */
    size_t hl = len - 6, n = 0;

    while (n < hl) {
        size_t l = hl - n > 63 ? 63 : hl - n;
        if (hl - n - l == 1)
            l--; /* never end on a dot with nothing after it */
        memset(a + n, 'h', l);
        n += l;
        if (n < hl)
            a[n++] = '.';
    }
    memcpy(a + n, ":65535", 7);
}

START_TEST(test_boundaries)
{
    struct token t, u;
    static char text[TOKEN_TEXT_SIZE + 16];
    struct raw r;

    make_token(&t, 1);
    /* 16 addresses of 255 bytes and a 64-byte name: the largest token. */
    t.n_addrs = 16;
    for (int i = 0; i < 16; i++) {
        fill_addr(t.addrs[i], 255);
        ck_assert_uint_eq(strlen(t.addrs[i]), 255);
    }
    memset(t.name, 'n', 64);
    t.name[64] = '\0';
    ck_assert_int_eq(token_encode(&t, text, TOKEN_TEXT_SIZE), 0);
    ck_assert_uint_eq(strlen(text), TOKEN_TEXT_MAX);
    ck_assert_int_eq(token_decode(text, &u, NULL), 0);
    assert_same(&t, &u);
    /* One byte short of room. */
    ck_assert_int_eq(token_encode(&t, text, TOKEN_TEXT_SIZE - 1), TOKEN_ERR_NOSPACE);
    /* One more character than the largest token: too long. */
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), 0);
    strcat(text, "a");
    ck_assert_int_eq(token_decode(text, &u, NULL), TOKEN_ERR_TOO_LONG);
    /* 17 addresses. */
    t.n_addrs = 17;
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_MANY_ADDRS);
    t.n_addrs = 0;
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_NO_ADDRS);
    t.n_addrs = 1;
    /* A 65-byte name cannot be NUL-terminated in the struct: rejected. */
    memset(t.name, 'n', sizeof(t.name));
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_BAD_NAME);
    t.name[0] = '\0';
    /* A 256-byte address cannot be NUL-terminated either. */
    memset(t.addrs[0], 'a', sizeof(t.addrs[0]));
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_BAD_ADDR);
    snprintf(t.addrs[0], sizeof(t.addrs[0]), "h:0");
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_BAD_ADDR);
    snprintf(t.addrs[0], sizeof(t.addrs[0]), "h:1");
    memset(t.peer_pub, 0, KEY_LEN);
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_BAD_KEY);
    key_keypair_new(t.priv, t.peer_pub);
    t.side = 2;
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_SIDE);
    t.side = 0;
    t.version = 2;
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_VERSION);
    t.version = 1;
    t.flags = 4;
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), TOKEN_ERR_FLAGS);

    /* Decoder side: 17 addresses and a 65-byte name, under valid checks. */
    raw_head(&r, 1, 0, 0);
    raw_u8(&r, 17);
    for (int i = 0; i < 17; i++)
        raw_str8(&r, "h:1", 3);
    raw_str8(&r, "", 0);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_MANY_ADDRS);
    raw_head(&r, 1, 0, 0);
    raw_u8(&r, 16);
    for (int i = 0; i < 16; i++)
        raw_str8(&r, "h:1", 3);
    raw_str8(&r, "", 0);
    ck_assert_int_eq(raw_decode(&r), 0);
    raw_head(&r, 1, 0, 0);
    raw_u8(&r, 1);
    raw_str8(&r, "h:1", 3);
    memset(text, 'n', 65);
    raw_str8(&r, text, 65);
    ck_assert_int_eq(raw_decode(&r), TOKEN_ERR_BAD_NAME);
    r.n -= 66;
    raw_str8(&r, text, 64);
    ck_assert_int_eq(raw_decode(&r), 0);
}
END_TEST

START_TEST(test_prefix_errors)
{
    struct token t;
    char k[KEY_TEXT_SIZE], msg[128];
    uint8_t a[KEY_LEN], b[KEY_LEN];
    size_t errpos = 0;

    key_keypair_new(a, b);
    key_pub_encode(b, k);
    ck_assert_int_eq(token_decode(k, &t, NULL), TOKEN_ERR_KIND_PUB);
    key_priv_encode(a, k);
    ck_assert_int_eq(token_decode(k, &t, NULL), TOKEN_ERR_KIND_PRIV);
    ck_assert_int_eq(token_decode("hello", &t, NULL), TOKEN_ERR_PREFIX);
    ck_assert_int_eq(token_decode("", &t, NULL), TOKEN_ERR_TRUNCATED);
    ck_assert_int_eq(token_decode("LRTo", &t, NULL), TOKEN_ERR_TRUNCATED);
    ck_assert_int_eq(token_decode("lrtok1", &t, NULL), TOKEN_ERR_TRUNCATED);
    ck_assert_int_eq(token_decode("lrtok1abc8def", &t, &errpos), TOKEN_ERR_BAD_CHAR);
    ck_assert_uint_eq(errpos, 10);
    token_format_error(TOKEN_ERR_BAD_CHAR, errpos, msg, sizeof(msg));
    ck_assert_str_eq(msg, "bad character at position 10");
    token_format_error(TOKEN_ERR_CHECKSUM, 0, msg, sizeof(msg));
    ck_assert_str_eq(msg, "checksum mismatch (likely a typo)");
    for (int e = TOKEN_ERR_OWN_KEY; e <= 0; e++) {
        ck_assert(strlen(token_strerror(e)) > 0);
        for (int f = TOKEN_ERR_OWN_KEY; f < e; f++)
            ck_assert_str_ne(token_strerror(e), token_strerror(f));
    }
    ck_assert_str_eq(token_strerror(-99), "unknown token error");
}
END_TEST

START_TEST(test_truncation_every_length)
{
    struct token t, u;
    char text[TOKEN_TEXT_SIZE], cut[TOKEN_TEXT_SIZE + 16];
    size_t len;

    make_token(&t, 1);
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), 0);
    len = strlen(text);
    for (size_t n = 0; n < len; n++) {
        int rc;
        memcpy(cut, text, n);
        cut[n] = '\0';
        rc = token_decode(cut, &u, NULL);
        ck_assert_msg(rc == TOKEN_ERR_TRUNCATED, "len %zu: %s", n, token_strerror(rc));
    }
    /* One over: an extra character is a checksum mismatch, not accepted. */
    for (size_t a = 0; a < 32; a++) {
        snprintf(cut, sizeof(cut), "%s%c", text, alphabet[a]);
        ck_assert_int_eq(token_decode(cut, &u, NULL), TOKEN_ERR_CHECKSUM);
    }
    snprintf(cut, sizeof(cut), "%saaaaaaaa", text);
    ck_assert_int_eq(token_decode(cut, &u, NULL), TOKEN_ERR_CHECKSUM);
    ck_assert_int_eq(token_decode(text, &u, NULL), 0);
    token_wipe(&u);
    token_wipe(&t);
}
END_TEST

START_TEST(test_every_typo_caught)
{
    static const char subs[] = "a7qz2m1!";
    struct token t, u;
    char text[TOKEN_TEXT_SIZE], typo[TOKEN_TEXT_SIZE];
    size_t len;
    int total = 0, good_msg = 0;

    make_token(&t, 1);
    ck_assert_int_eq(token_encode(&t, text, sizeof(text)), 0);
    len = strlen(text);
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t s = 0; s < sizeof(subs) - 1; s++) {
            int rc;
            if (text[pos] == subs[s])
                continue;
            memcpy(typo, text, len + 1);
            typo[pos] = subs[s];
            rc = token_decode(typo, &u, NULL);
            ck_assert_msg(rc < 0, "typo at %zu accepted", pos);
            if (pos >= 6) {
                total++;
                if (rc == TOKEN_ERR_CHECKSUM || rc == TOKEN_ERR_BAD_CHAR)
                    good_msg++;
            }
        }
        /* Deleting a character is caught too. */
        memcpy(typo, text, pos);
        memcpy(typo + pos, text + pos + 1, len - pos);
        ck_assert_int_lt(token_decode(typo, &u, NULL), 0);
    }
    /* Almost all say checksum or bad character (a typo in a length byte may
     * say "truncated"). */
    ck_assert_msg(good_msg * 100 >= total * 97, "%d of %d", good_msg, total);
    token_wipe(&t);
}
END_TEST

START_TEST(test_nonzero_trailing_bits)
{
    struct raw r;
    char text[16384];
    struct token t;
    size_t len, errpos = 0;
    int found = 0;

    /* Find a body length whose text has unused bits in the last character,
     * then set one: the check still matches, the decoder must refuse. */
    for (size_t extra = 0; extra < 5 && !found; extra++) {
        raw_head(&r, 1, 0, 0);
        raw_u8(&r, 1);
        raw_str8(&r, "h:1", 3);
        raw_str8(&r, "nnnnn", extra);
        if (((r.n + 4) * 8) % 5 == 0)
            continue;
        raw_text(&r, text);
        len = strlen(text);
        {
            const char *p = strchr(alphabet, text[len - 1]);
            text[len - 1] = alphabet[(p - alphabet) ^ 1];
        }
        ck_assert_int_eq(token_decode(text, &t, &errpos), TOKEN_ERR_BAD_CHAR);
        ck_assert_uint_eq(errpos, len);
        found = 1;
    }
    ck_assert(found);
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_own_pub_and_wipe);
    tcase_add_test(tc, test_raw_valid_matches_spec);
    tcase_add_test(tc, test_semantic_errors);
    tcase_add_test(tc, test_boundaries);
    tcase_add_test(tc, test_prefix_errors);
    tcase_add_test(tc, test_truncation_every_length);
    tcase_add_test(tc, test_every_typo_caught);
    tcase_add_test(tc, test_nonzero_trailing_bits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(token_suite());
}
