/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/agentcli.c: the command-line (token) configuration.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "agentcli.h"
#include "token.h"
#include "lrcheck.h"

static uint8_t a_priv[KEY_LEN], a_pub[KEY_LEN], b_priv[KEY_LEN], b_pub[KEY_LEN];
static uint8_t r_priv[KEY_LEN], r_pub[KEY_LEN];
static char tok_priv[TOKEN_TEXT_SIZE], tok_byo[TOKEN_TEXT_SIZE];
static char a_key_text[KEY_TEXT_SIZE], b_key_text[KEY_TEXT_SIZE];

static void make_token(char *out, bool with_priv, const char *name)
{
    struct token t;

    memset(&t, 0, sizeof(t));
    t.version = TOKEN_VERSION;
    t.flags = with_priv ? TOKEN_FLAG_PRIV : 0;
    memset(t.link_id, 0x42, LINKID_LEN);
    t.side = 0;
    t.relay_key_id = 3;
    memcpy(t.relay_pub, r_pub, KEY_LEN);
    memcpy(t.peer_pub, b_pub, KEY_LEN);
    if (with_priv)
        memcpy(t.priv, a_priv, KEY_LEN);
    t.n_addrs = 2;
    snprintf(t.addrs[0], sizeof(t.addrs[0]), "relay.example.com:7700");
    snprintf(t.addrs[1], sizeof(t.addrs[1]), "[2001:db8::1]:7700");
    snprintf(t.name, sizeof(t.name), "%s", name);
    ck_assert_int_eq(token_encode(&t, out, TOKEN_TEXT_SIZE), 0);
    token_wipe(&t);
}

static void setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    key_keypair_new(a_priv, a_pub);
    key_keypair_new(b_priv, b_pub);
    key_keypair_new(r_priv, r_pub);
    make_token(tok_priv, true, "plc 1/ü");
    make_token(tok_byo, false, "");
    key_priv_encode(a_priv, a_key_text);
    key_priv_encode(b_priv, b_key_text);
}

static const char *listen1[] = {"127.0.0.1:8080"};

/* Runs agentcli_config; returns rc and keeps cfg or the error. */
static int run(struct agentcli_opts *o, struct agentcfg **cfg, char *err)
{
    *cfg = NULL;
    err[0] = '\0';
    return agentcli_config(o, cfg, err, 256);
}

START_TEST(test_token_with_key)
{
    struct agentcli_opts o = {
        .token = tok_priv, .listen = listen1, .n_listen = 1, .connect = "plc.lan:502"};
    struct agentcfg *cfg;
    char err[256];
    const struct agentcfg_link *l;

    ck_assert_int_eq(run(&o, &cfg, err), 0);
    ck_assert_uint_eq(cfg->n_links, 1);
    l = &cfg->links[0];
    ck_assert_str_eq(l->name, "plc_1___"); /* space, slash and two UTF-8 bytes */
    ck_assert_int_eq(l->from_token, 1);
    ck_assert_int_eq(l->has_priv, 1);
    ck_assert_mem_eq(l->priv, a_priv, KEY_LEN);
    ck_assert_mem_eq(l->peer_pub, b_pub, KEY_LEN);
    ck_assert_mem_eq(l->relay_pub, r_pub, KEY_LEN);
    ck_assert_uint_eq(l->relay_key_id, 3);
    ck_assert_uint_eq(l->side, 0);
    ck_assert_uint_eq(l->n_relays, 2);
    ck_assert_str_eq(l->relays[0].host, "relay.example.com");
    ck_assert_str_eq(l->relays[1].host, "2001:db8::1");
    ck_assert_uint_eq(l->n_listen, 1);
    ck_assert_uint_eq(l->listen[0].port, 8080);
    ck_assert_int_eq(l->has_connect, 1);
    ck_assert_str_eq(l->connect.host, "plc.lan");
    ck_assert_int_eq(l->policy, AGENTCFG_ON_DEMAND);
    ck_assert_uint_eq(cfg->backoff_min_ms, 500);
    ck_assert_uint_eq(cfg->backoff_max_ms, 30000);
    ck_assert_uint_eq(cfg->keepalive_ms, 25000);
    /* The rest as in a file (agentcfg_defaults, docs/linkagent.conf.md). */
    ck_assert_uint_eq(cfg->open_queue, 256);
    ck_assert_uint_eq(cfg->open_wait_ms, 5000);
    ck_assert_int_eq(cfg->log_level, LOG_LEVEL_INFO);
    agentcfg_free(cfg);
}
END_TEST

START_TEST(test_relay_overrides_token)
{
    const char *relays[] = {"10.0.0.1:1", "[::1]:2", "relay2.example:3"};
    struct agentcli_opts o = {.token = tok_priv,
                              .listen = listen1,
                              .n_listen = 1,
                              .relay = relays,
                              .n_relay = 3,
                              .policy = "immediate"};
    struct agentcfg *cfg;
    char err[256];

    ck_assert_int_eq(run(&o, &cfg, err), 0);
    ck_assert_uint_eq(cfg->links[0].n_relays, 3);
    ck_assert_str_eq(cfg->links[0].relays[2].host, "relay2.example");
    ck_assert_uint_eq(cfg->links[0].relays[1].port, 2);
    ck_assert_int_eq(cfg->links[0].policy, AGENTCFG_IMMEDIATE);
    agentcfg_free(cfg);
    relays[1] = "::1:2";
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, "--relay '::1:2'") != NULL, "%s", err);
}
END_TEST

START_TEST(test_bring_your_own_key)
{
    struct agentcli_opts o = {.token = tok_byo, .connect = "127.0.0.1:22"};
    struct agentcfg *cfg;
    char err[256], typo[KEY_TEXT_SIZE];

    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "carries no private key: give --key-file") != NULL, "%s", err);
    o.key_text = a_key_text;
    ck_assert_int_eq(run(&o, &cfg, err), 0);
    ck_assert_mem_eq(cfg->links[0].priv, a_priv, KEY_LEN);
    ck_assert_str_eq(cfg->links[0].name, "link"); /* empty token name */
    agentcfg_free(cfg);
    /* The peer's key in our key file. */
    o.key_text = b_key_text;
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "peer side's key") != NULL, "%s", err);
    /* A typo in the key file. */
    memcpy(typo, a_key_text, sizeof(typo));
    typo[20] = typo[20] == 'a' ? 'b' : 'a';
    o.key_text = typo;
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "key file: ") != NULL && strstr(err, "checksum") != NULL, "%s", err);
    /* A public key in the key file. */
    o.key_text = "lrpub1aaaa";
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "key file: ") != NULL, "%s", err);
    /* A token with a key and a key file too. */
    o.token = tok_priv;
    o.key_text = a_key_text;
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "already holds the private key") != NULL, "%s", err);
}
END_TEST

START_TEST(test_bad_tokens)
{
    char buf[TOKEN_TEXT_SIZE];
    struct agentcli_opts o = {.token = buf, .listen = listen1, .n_listen = 1};
    struct agentcfg *cfg;
    char err[256];
    size_t n = strlen(tok_priv);

    snprintf(buf, sizeof(buf), "%s", tok_priv);
    buf[n - 5] = '\0';
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strncmp(err, "invalid token: ", 15) == 0, "%s", err);
    snprintf(buf, sizeof(buf), "%s", tok_priv);
    buf[30] = buf[30] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_str_eq(err, "invalid token: checksum mismatch (likely a typo)");
    snprintf(buf, sizeof(buf), "%s", tok_priv);
    buf[30] = '!';
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "position 31") != NULL, "%s", err);
    o.token = a_key_text;
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "private key") != NULL, "%s", err);
    o.token = NULL;
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
}
END_TEST

START_TEST(test_roles_and_limits)
{
    const char *many[AGENTCFG_MAX_ADDRS + 1];
    char ports[AGENTCFG_MAX_ADDRS + 1][32];
    struct agentcli_opts o = {.token = tok_priv};
    struct agentcfg *cfg;
    char err[256];

    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_str_eq(err, "nothing to do: give --listen and/or --connect");
    for (size_t i = 0; i <= AGENTCFG_MAX_ADDRS; i++) {
        snprintf(ports[i], sizeof(ports[i]), "127.0.0.1:%zu", 9000 + i);
        many[i] = ports[i];
    }
    o.listen = many;
    o.n_listen = AGENTCFG_MAX_ADDRS; /* at the limit */
    ck_assert_int_eq(run(&o, &cfg, err), 0);
    ck_assert_uint_eq(cfg->links[0].n_listen, AGENTCFG_MAX_ADDRS);
    agentcfg_free(cfg);
    o.n_listen = AGENTCFG_MAX_ADDRS + 1; /* one over */
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    o.n_listen = 1;
    many[0] = "localhost:80"; /* listen is numeric only */
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "--listen 'localhost:80'") != NULL, "%s", err);
    many[0] = "127.0.0.1:0"; /* the kernel chooses */
    ck_assert_int_eq(run(&o, &cfg, err), 0);
    agentcfg_free(cfg);
    o.connect = "127.0.0.1:0"; /* a target needs a port */
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_msg(strstr(err, "--connect") != NULL, "%s", err);
    o.connect = "127.0.0.1:80";
    o.policy = "sometimes";
    ck_assert_int_eq(run(&o, &cfg, err), -EINVAL);
    ck_assert_str_eq(err, "--policy must be on-demand or immediate, not 'sometimes'");
    o.policy = "on-demand";
    ck_assert_int_eq(run(&o, &cfg, err), 0);
    agentcfg_free(cfg);
}
END_TEST

START_TEST(test_safe_name)
{
    char out[AGENTCFG_NAME_MAX + 1], big[100];

    agentcli_safe_name("ok.name_-1", out, sizeof(out));
    ck_assert_str_eq(out, "ok.name_-1");
    agentcli_safe_name("", out, sizeof(out));
    ck_assert_str_eq(out, "link");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    agentcli_safe_name(big, out, sizeof(out));
    ck_assert_uint_eq(strlen(out), AGENTCFG_NAME_MAX);
    agentcli_safe_name("a b", out, 3);
    ck_assert_str_eq(out, "a_");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agentcli");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_token_with_key);
    tcase_add_test(tc, test_relay_overrides_token);
    tcase_add_test(tc, test_bring_your_own_key);
    tcase_add_test(tc, test_bad_tokens);
    tcase_add_test(tc, test_roles_and_limits);
    tcase_add_test(tc, test_safe_name);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
