/* SPDX-License-Identifier: MIT */
/* Unit tests for common/keys.c: key text forms, low-order checks, link ids. */
#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "lrcheck.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* Computed independently with Python's base64.b32encode and hashlib. */
static const char vec_pub[] = "lrpub1aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypupbqc5a";
static const char vec_priv[] = "lrkey1aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp6n2a4ne";

static void seq_key(uint8_t k[KEY_LEN])
{
    for (int i = 0; i < KEY_LEN; i++)
        k[i] = (uint8_t)i;
}

START_TEST(test_vectors)
{
    uint8_t k[KEY_LEN], out[KEY_LEN];
    char text[KEY_TEXT_SIZE];

    seq_key(k);
    key_pub_encode(k, text);
    ck_assert_str_eq(text, vec_pub);
    key_priv_encode(k, text);
    ck_assert_str_eq(text, vec_priv);
    ck_assert_int_eq(key_pub_decode(vec_pub, out, NULL), 0);
    ck_assert_mem_eq(out, k, KEY_LEN);
    memset(out, 0, sizeof(out));
    ck_assert_int_eq(key_priv_decode(vec_priv, out, NULL), 0);
    ck_assert_mem_eq(out, k, KEY_LEN);
}
END_TEST

START_TEST(test_roundtrip_random)
{
    for (int i = 0; i < 200; i++) {
        uint8_t priv[KEY_LEN], pub[KEY_LEN], p2[KEY_LEN], k2[KEY_LEN], ref[KEY_LEN];
        char tpub[KEY_TEXT_SIZE], tpriv[KEY_TEXT_SIZE];

        key_keypair_new(priv, pub);
        ck_assert_int_eq(crypto_scalarmult_base(ref, priv), 0);
        ck_assert_mem_eq(ref, pub, KEY_LEN);
        ck_assert_int_eq(key_pub_from_priv(priv, p2), 0);
        ck_assert_mem_eq(p2, pub, KEY_LEN);
        key_pub_encode(pub, tpub);
        key_priv_encode(priv, tpriv);
        ck_assert_uint_eq(strlen(tpub), KEY_TEXT_LEN);
        ck_assert_uint_eq(strlen(tpriv), KEY_TEXT_LEN);
        ck_assert(strncmp(tpub, "lrpub1", 6) == 0);
        ck_assert(strncmp(tpriv, "lrkey1", 6) == 0);
        for (int j = 6; j < KEY_TEXT_LEN; j++) {
            ck_assert_ptr_nonnull(strchr(alphabet, tpub[j]));
            ck_assert_ptr_nonnull(strchr(alphabet, tpriv[j]));
        }
        ck_assert_int_eq(key_pub_decode(tpub, p2, NULL), 0);
        ck_assert_mem_eq(p2, pub, KEY_LEN);
        ck_assert_int_eq(key_priv_decode(tpriv, k2, NULL), 0);
        ck_assert_mem_eq(k2, priv, KEY_LEN);
    }
}
END_TEST

static void upcase(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

START_TEST(test_uppercase_accepted)
{
    uint8_t k[KEY_LEN], out[KEY_LEN];
    char text[KEY_TEXT_SIZE];

    seq_key(k);
    snprintf(text, sizeof(text), "%s", vec_pub);
    upcase(text);
    ck_assert_int_eq(key_pub_decode(text, out, NULL), 0);
    ck_assert_mem_eq(out, k, KEY_LEN);
    snprintf(text, sizeof(text), "%s", vec_priv);
    upcase(text);
    ck_assert_int_eq(key_priv_decode(text, out, NULL), 0);
    ck_assert_mem_eq(out, k, KEY_LEN);
    /* Mixed case too. */
    snprintf(text, sizeof(text), "%s", vec_pub);
    text[0] = 'L';
    text[10] = (char)(text[10] - 'a' + 'A');
    ck_assert_int_eq(key_pub_decode(text, out, NULL), 0);
}
END_TEST

START_TEST(test_wrong_kind)
{
    uint8_t out[KEY_LEN];
    char msg[80];

    ck_assert_int_eq(key_pub_decode(vec_priv, out, NULL), KEY_ERR_KIND_PRIV);
    ck_assert_int_eq(key_priv_decode(vec_pub, out, NULL), KEY_ERR_KIND_PUB);
    ck_assert_int_eq(key_pub_decode("lrtok1aaaa", out, NULL), KEY_ERR_KIND_TOKEN);
    ck_assert_int_eq(key_priv_decode("LRTOK1aaaa", out, NULL), KEY_ERR_KIND_TOKEN);
    ck_assert_int_eq(key_pub_decode("ssh-ed25519 AAAA", out, NULL), KEY_ERR_PREFIX);
    ck_assert_int_eq(key_pub_decode("x", out, NULL), KEY_ERR_PREFIX);
    key_format_error(KEY_ERR_KIND_PRIV, 0, msg, sizeof(msg));
    ck_assert_str_eq(msg, "wrong kind: this is a private key");
    key_format_error(KEY_ERR_KIND_PUB, 0, msg, sizeof(msg));
    ck_assert_str_eq(msg, "wrong kind: this is a public key");
}
END_TEST

/* The right characters under the wrong prefix: the prefix is in the check. */
START_TEST(test_wrong_prefix_is_checksum)
{
    uint8_t out[KEY_LEN];
    char text[KEY_TEXT_SIZE];

    snprintf(text, sizeof(text), "%s", vec_pub);
    memcpy(text, "lrkey1", 6);
    ck_assert_int_eq(key_priv_decode(text, out, NULL), KEY_ERR_CHECKSUM);
    snprintf(text, sizeof(text), "%s", vec_priv);
    memcpy(text, "lrpub1", 6);
    ck_assert_int_eq(key_pub_decode(text, out, NULL), KEY_ERR_CHECKSUM);
}
END_TEST

START_TEST(test_truncation_every_length)
{
    uint8_t out[KEY_LEN];
    char text[KEY_TEXT_SIZE + 1];
    const char *vecs[2] = {vec_pub, vec_priv};

    for (int v = 0; v < 2; v++) {
        for (size_t n = 0; n < KEY_TEXT_LEN; n++) {
            int rc;
            memcpy(text, vecs[v], n);
            text[n] = '\0';
            rc = v == 0 ? key_pub_decode(text, out, NULL) : key_priv_decode(text, out, NULL);
            ck_assert_msg(rc == KEY_ERR_TRUNCATED, "len %zu: %d", n, rc);
        }
        /* Exact length decodes, one over is too long. */
        snprintf(text, sizeof(text), "%sa", vecs[v]);
        ck_assert_int_eq(v == 0 ? key_pub_decode(text, out, NULL)
                                : key_priv_decode(text, out, NULL),
                         KEY_ERR_TOO_LONG);
        text[KEY_TEXT_LEN] = '\0';
        ck_assert_int_eq(
            v == 0 ? key_pub_decode(text, out, NULL) : key_priv_decode(text, out, NULL), 0);
    }
}
END_TEST

START_TEST(test_bad_char_position)
{
    static const char bad[] = "01890 !-_=+/\xc3";
    uint8_t out[KEY_LEN];
    char text[KEY_TEXT_SIZE], msg[80];

    for (size_t pos = KEY_PREFIX_LEN; pos < KEY_TEXT_LEN; pos++) {
        for (size_t b = 0; b < sizeof(bad) - 1; b++) {
            size_t errpos = 0;
            snprintf(text, sizeof(text), "%s", vec_priv);
            text[pos] = bad[b];
            ck_assert_int_eq(key_priv_decode(text, out, &errpos), KEY_ERR_BAD_CHAR);
            ck_assert_uint_eq(errpos, pos + 1);
            errpos = 0;
            memcpy(text, "lrpub1", 6);
            ck_assert_int_eq(key_pub_decode(text, out, &errpos), KEY_ERR_BAD_CHAR);
            ck_assert_uint_eq(errpos, pos + 1);
        }
    }
    /* A bad character in a short text is still reported as such. */
    {
        size_t errpos = 0;
        ck_assert_int_eq(key_pub_decode("lrpub1ab1", out, &errpos), KEY_ERR_BAD_CHAR);
        ck_assert_uint_eq(errpos, 9);
    }
    key_format_error(KEY_ERR_BAD_CHAR, 17, msg, sizeof(msg));
    ck_assert_str_eq(msg, "bad character at position 17");
}
END_TEST

/* Every single-character substitution anywhere fails to decode. */
START_TEST(test_every_typo_caught)
{
    const char *vecs[2] = {vec_pub, vec_priv};
    int checksum = 0, badchar = 0, other = 0;

    for (int v = 0; v < 2; v++) {
        for (size_t pos = 0; pos < KEY_TEXT_LEN; pos++) {
            for (size_t a = 0; a < 32; a++) {
                uint8_t out[KEY_LEN];
                char text[KEY_TEXT_SIZE];
                int rc;
                snprintf(text, sizeof(text), "%s", vecs[v]);
                if (text[pos] == alphabet[a] || (pos < 6 && alphabet[a] == text[pos]))
                    continue;
                text[pos] = alphabet[a];
                rc = v == 0 ? key_pub_decode(text, out, NULL) : key_priv_decode(text, out, NULL);
                ck_assert_msg(rc < 0, "typo at %zu -> %c accepted", pos, alphabet[a]);
                if (rc == KEY_ERR_CHECKSUM)
                    checksum++;
                else if (rc == KEY_ERR_BAD_CHAR)
                    badchar++;
                else
                    other++;
                /* After the prefix only checksum or bad character. */
                if (pos >= 6)
                    ck_assert(rc == KEY_ERR_CHECKSUM || rc == KEY_ERR_BAD_CHAR);
            }
        }
    }
    /* The last character has 2 unused bits: 3 of its 31 substitutions keep
     * the 3 data bits and are "bad character"; all others are checksum. */
    ck_assert_int_eq(badchar, 2 * 3);
    ck_assert_int_gt(checksum, 2 * 57 * 31);
    ck_assert_int_gt(other, 0); /* prefix typos: wrong prefix */
}
END_TEST

START_TEST(test_nonzero_trailing_bits)
{
    uint8_t out[KEY_LEN];
    char text[KEY_TEXT_SIZE];
    size_t errpos = 0;
    const char *p;

    /* The vector's last character 'a' (0): set an unused bit -> 'b'. */
    snprintf(text, sizeof(text), "%s", vec_pub);
    ck_assert_int_eq(text[KEY_TEXT_LEN - 1], 'a');
    text[KEY_TEXT_LEN - 1] = 'b';
    ck_assert_int_eq(key_pub_decode(text, out, &errpos), KEY_ERR_BAD_CHAR);
    ck_assert_uint_eq(errpos, KEY_TEXT_LEN);
    p = strchr(alphabet, vec_priv[KEY_TEXT_LEN - 1]);
    snprintf(text, sizeof(text), "%s", vec_priv);
    text[KEY_TEXT_LEN - 1] = alphabet[(p - alphabet) ^ 3];
    ck_assert_int_eq(key_priv_decode(text, out, &errpos), KEY_ERR_BAD_CHAR);
}
END_TEST

static const char *const low_order_hex[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

static void from_hex(const char *h, uint8_t k[KEY_LEN])
{
    for (int i = 0; i < KEY_LEN; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &v), 1);
        k[i] = (uint8_t)v;
    }
}

START_TEST(test_low_order_rejected)
{
    for (size_t i = 0; i < sizeof(low_order_hex) / sizeof(low_order_hex[0]); i++) {
        for (int top = 0; top < 2; top++) {
            uint8_t k[KEY_LEN], out[KEY_LEN];
            char text[KEY_TEXT_SIZE];
            from_hex(low_order_hex[i], k);
            if (top)
                k[31] |= 0x80; /* X25519 ignores the top bit */
            ck_assert_msg(key_pub_check(k) == KEY_ERR_LOW_ORDER, "point %zu top %d", i, top);
            key_pub_encode(k, text);
            ck_assert_int_eq(key_pub_decode(text, out, NULL), KEY_ERR_LOW_ORDER);
        }
    }
}
END_TEST

START_TEST(test_valid_keys_pass_check)
{
    uint8_t k[KEY_LEN];

    for (int i = 0; i < 100; i++) {
        uint8_t priv[KEY_LEN];
        key_keypair_new(priv, k);
        ck_assert_int_eq(key_pub_check(k), 0);
    }
    /* u = 9, the base point, and u = 2 (order 2^255-ish twist point). */
    memset(k, 0, sizeof(k));
    k[0] = 9;
    ck_assert_int_eq(key_pub_check(k), 0);
    k[0] = 2;
    ck_assert_int_eq(key_pub_check(k), 0);
}
END_TEST

START_TEST(test_strerror_distinct)
{
    for (int a = KEY_ERR_LOW_ORDER; a <= 0; a++) {
        ck_assert(strlen(key_strerror(a)) > 0);
        for (int b = KEY_ERR_LOW_ORDER; b < a; b++)
            ck_assert_str_ne(key_strerror(a), key_strerror(b));
    }
    ck_assert_str_eq(key_strerror(-1000), "unknown key error");
    ck_assert_str_eq(key_strerror(KEY_ERR_CHECKSUM), "checksum mismatch (a typo?)");
    ck_assert_str_eq(key_strerror(KEY_ERR_TRUNCATED), "truncated");
}
END_TEST

START_TEST(test_linkid)
{
    uint8_t id[LINKID_LEN], id2[LINKID_LEN];
    char text[LINKID_TEXT_SIZE + 2];
    size_t errpos = 0;

    linkid_new(id);
    linkid_new(id2);
    ck_assert(memcmp(id, id2, LINKID_LEN) != 0);
    for (int i = 0; i < LINKID_LEN; i++)
        id[i] = (uint8_t)(0xf0 + i);
    linkid_encode(id, text);
    ck_assert_str_eq(text, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    ck_assert_int_eq(linkid_decode(text, id2, NULL), 0);
    ck_assert_mem_eq(id, id2, LINKID_LEN);
    upcase(text);
    memset(id2, 0, sizeof(id2));
    ck_assert_int_eq(linkid_decode(text, id2, NULL), 0);
    ck_assert_mem_eq(id, id2, LINKID_LEN);
    /* One short, one over. */
    text[31] = '\0';
    ck_assert_int_eq(linkid_decode(text, id2, NULL), KEY_ERR_TRUNCATED);
    ck_assert_int_eq(linkid_decode("", id2, NULL), KEY_ERR_TRUNCATED);
    snprintf(text, sizeof(text), "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff0");
    ck_assert_int_eq(linkid_decode(text, id2, NULL), KEY_ERR_TOO_LONG);
    for (size_t pos = 0; pos < LINKID_TEXT_LEN; pos++) {
        static const char bad[] = "gG -x\n";
        for (size_t b = 0; b < sizeof(bad) - 1; b++) {
            snprintf(text, sizeof(text), "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
            text[pos] = bad[b];
            ck_assert_int_eq(linkid_decode(text, id2, &errpos), KEY_ERR_BAD_CHAR);
            ck_assert_uint_eq(errpos, pos + 1);
        }
    }
    /* Failure leaves the output alone. */
    ck_assert_mem_eq(id, id2, LINKID_LEN);
}
END_TEST

START_TEST(test_b32_helpers)
{
    /* RFC 4648 test vectors, lowercase. */
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"f", "my"},
             {"fo", "mzxq"},
             {"foo", "mzxw6"},
             {"foob", "mzxw6yq"},
             {"fooba", "mzxw6ytb"},
             {"foobar", "mzxw6ytboi"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[32];
        uint8_t back[16];
        size_t n = strlen(v[i].in), pos = 0;
        ck_assert_uint_eq(key_b32_len(n), strlen(v[i].out));
        key_b32_encode((const uint8_t *)v[i].in, n, out);
        out[key_b32_len(n)] = '\0';
        ck_assert_str_eq(out, v[i].out);
        ck_assert_int_eq(key_b32_decode(out, strlen(out), back, &pos), 0);
        ck_assert_mem_eq(back, v[i].in, n);
    }
    {
        uint8_t back[8];
        size_t pos = 0;
        ck_assert_int_eq(key_b32_decode("mzx", 3, back, &pos), KEY_ERR_TRUNCATED);
        ck_assert_int_eq(key_b32_decode("m", 1, back, &pos), KEY_ERR_TRUNCATED);
        ck_assert_int_eq(key_b32_decode("mzxw6y", 6, back, &pos), KEY_ERR_TRUNCATED);
        ck_assert_int_eq(key_b32_decode("mz", 2, back, &pos), 1); /* low bits set */
        ck_assert_int_eq(key_b32_decode("my", 2, back, &pos), 0);
        ck_assert_int_eq(key_b32_decode("m=", 2, back, &pos), KEY_ERR_BAD_CHAR);
        ck_assert_uint_eq(pos, 1);
    }
}
END_TEST

static Suite *keys_suite(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_roundtrip_random);
    tcase_add_test(tc, test_uppercase_accepted);
    tcase_add_test(tc, test_wrong_kind);
    tcase_add_test(tc, test_wrong_prefix_is_checksum);
    tcase_add_test(tc, test_truncation_every_length);
    tcase_add_test(tc, test_bad_char_position);
    tcase_add_test(tc, test_every_typo_caught);
    tcase_add_test(tc, test_nonzero_trailing_bits);
    tcase_add_test(tc, test_low_order_rejected);
    tcase_add_test(tc, test_valid_keys_pass_check);
    tcase_add_test(tc, test_strerror_distinct);
    tcase_add_test(tc, test_linkid);
    tcase_add_test(tc, test_b32_helpers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(keys_suite());
}
