/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of tests/fuzz/fuzz_token.c and fuzz_config.c:
 *   gen_fuzz_corpus DIR   -> DIR/token/seed-*.txt, DIR/config/seed-*.conf
 * Keys come from fixed seeds (randombytes_buf_deterministic), so the output
 * is the same on every run and the committed corpus can be regenerated with
 *   <build>/tests/gen_fuzz_corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keys.h"
#include "enroll.h"
#include "token.h"

static void put(const char *dir, const char *sub, const char *name, const char *text)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
    f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A key pair from a one-byte seed. */
static void det_pair(unsigned seed, uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN])
{
    uint8_t s[randombytes_SEEDBYTES] = {0};

    s[0] = (uint8_t)seed;
    randombytes_buf_deterministic(priv, KEY_LEN, s);
    if (key_pub_from_priv(priv, pub) != 0)
        exit(1);
}

int main(int argc, char **argv)
{
    static char text[TOKEN_TEXT_SIZE], conf[32768], tok2[TOKEN_TEXT_SIZE];
    char pub[KEY_TEXT_SIZE], priv[KEY_TEXT_SIZE], relay[KEY_TEXT_SIZE], id[LINKID_TEXT_SIZE];
    uint8_t a[KEY_LEN], b[KEY_LEN];
    struct token t;

    if (argc != 2 || sodium_init() < 0) {
        fprintf(stderr, "usage: gen_fuzz_corpus DIR\n");
        return 2;
    }
    memset(&t, 0, sizeof(t));
    t.version = TOKEN_VERSION;
    t.flags = TOKEN_FLAG_PRIV;
    memset(t.link_id, 0xab, sizeof(t.link_id));
    t.side = 1;
    det_pair(1, a, t.relay_pub);
    det_pair(2, a, t.peer_pub);
    det_pair(3, t.priv, b);
    t.n_addrs = 2;
    snprintf(t.addrs[0], sizeof(t.addrs[0]), "relay.example.com:7700");
    snprintf(t.addrs[1], sizeof(t.addrs[1]), "[2001:db8::1]:7700");
    snprintf(t.name, sizeof(t.name), "plc-hall-3");
    if (token_encode(&t, text, sizeof(text)) != 0)
        return 1;
    put(argv[1], "token", "seed-token-priv.txt", text);
    t.flags = 0;
    t.n_addrs = 1;
    t.name[0] = '\0';
    if (token_encode(&t, tok2, sizeof(tok2)) != 0)
        return 1;
    put(argv[1], "token", "seed-token-byo.txt", tok2);
    key_pub_encode(t.peer_pub, pub);
    key_priv_encode(t.priv, priv);
    key_pub_encode(t.relay_pub, relay);
    linkid_encode(t.link_id, id);
    put(argv[1], "token", "seed-pub.txt", pub);
    put(argv[1], "token", "seed-priv.txt", priv);
    put(argv[1], "token", "seed-linkid.txt", id);
    {
        uint8_t secret[ENROLL_SECRET_LEN];
        char code[ENROLL_TEXT_SIZE];
        for (size_t i = 0; i < sizeof(secret); i++)
            secret[i] = (uint8_t)(0x31 * i + 7);
        enroll_code_encode(secret, code);
        put(argv[1], "token", "seed-enroll.txt", code);
        for (char *p = code; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        put(argv[1], "token", "seed-enroll-upper.txt", code);
    }
    put(argv[1], "token", "seed-addr-v4.txt", "198.18.0.1:7700");
    put(argv[1], "token", "seed-addr-v6.txt", "[::1]:0");
    put(argv[1], "token", "seed-addr-name.txt", "relay-1.example.net:443");

    put(argv[1], "config", "seed-relay-empty.conf", "");
    put(argv[1], "config", "seed-agent-metrics.conf",
        "[agent]\nmetrics_listen = 127.0.0.1:9478\nmetrics_listen = off\n");
    put(argv[1], "config", "seed-agent-resume.conf",
        "[agent]\nresume_timeout = 60s\nresume_buffer = 4MiB\nresume_buffer_total = 256MiB\n");
    put(argv[1], "config", "seed-relay-metrics.conf",
        "[relay]\nmetrics_listen = [::1]:9477\nmetrics_per_link = on\nmetrics_max_links = 10000\n");
    put(argv[1], "config", "seed-relay-full.conf",
        "[relay]\nlisten = 0.0.0.0:7700\nlisten = [::]:7700\nadvertise = relay.example.com:7700\n"
        "state_dir = /var/lib/linkrelay\nadmin_socket = /run/linkrelay/admin.sock\n"
        "admin_socket_mode = 0660\nlog_level = debug\n\n[limits]\nhandshake_timeout = 10s\n"
        "preauth_bytes = 4K\nmax_pending = 1024\nmax_pending_per_ip = 64\n"
        "conn_rate_per_ip = 200/s\nconn_burst_per_ip = 400\nmax_conns_per_ip = 4096\n"
        "max_conns = auto\nmax_streams_per_link = 256\nopen_rate_per_link = 500/s\n"
        "open_burst_per_link = 1000\nkeepalive = 25s\ndead_after = 90s\n"
        "ticket_expiry = 10s\nsplice_buffer = 64K\nhalfclose_timeout = 1m\n"
        "write_stall_timeout = 30000ms\nzero_copy_streams = 256\nzero_copy_buffer = 1M\n"
        "drain_timeout = 30s\n");
    put(argv[1], "config", "seed-relay-held.conf",
        "[limits]\nheld_total = 256M\nheld_floor = 64K\n");
    put(argv[1], "config", "seed-relay-max-rate.conf", "[limits]\nmax_rate = 100Mbit/s\n");
    put(argv[1], "config", "seed-relay-advertise-check.conf",
        "[relay]\nadvertise = relay.example.com:7700\nadvertise_check_interval = 0\n"
        "advertise_check_timeout = 100ms\n");
    put(argv[1], "config", "seed-relay-pool.conf",
        "[relay]\nadvertise = 198.18.0.1:7700\n[pool]\nmember_id = relay-1\nmember_timeout = 2s\n"
        "heartbeat = 500ms\n");
    snprintf(conf, sizeof(conf),
             "[agent]\nlog_level = info\n\n[link cam]\ntoken = %s\n"
             "listen = 127.0.0.1:8554\npolicy = on-demand\n",
             text);
    put(argv[1], "config", "seed-agent-token.conf", conf);
    snprintf(conf, sizeof(conf),
             "[agent]\nrelay = 198.18.0.1:7700\nrelay_key = %s\nrelay_key_id = 0\n"
             "keepalive = 25s\nbackoff_min = 1s\nbackoff_max = 60s\nopen_queue = 256\n"
             "open_wait = 5s\n\n"
             "[link plc]\nkey = %s\nlink_id = %s\nside = b\npeer_key = %s\n"
             "connect = 192.168.1.10:502\npolicy = immediate\n\n"
             "[link byo]\ntoken = %s\nkey_file = /etc/linkagent/byo.key\nlisten = [::1]:2222\n",
             relay, priv, id, pub, tok2);
    put(argv[1], "config", "seed-agent-explicit.conf", conf);
    put(argv[1], "config", "seed-errors.conf", "[relay]\nlisen = 1.2.3.4:5\n[link]\nx\n");
    /* The lines inih's build options could read differently (cfgparse_ini). */
    put(argv[1], "config", "seed-ini-syntax.conf",
        "\xef\xbb\xbf; a BOM, then a comment\n[relay]\nstate_dir = /srv/lr ; not a comment\n"
        "  log_level = debug\nadmin_socket_mode=0600 # neither\n[limits ;x]\nkeepalive = 20s\n"
        "[limits]\nx=x\n[a]\n[b]\nnovalue\n");
    memset(conf, 0, sizeof(conf));
    memcpy(conf, "[relay]\nstate_dir = /", 21);
    memset(conf + 21, 'p', 300);
    memcpy(conf + 321, " ;x\nadvertise =", 15);
    memset(conf + 336, ' ', 250);
    memcpy(conf + 586, "relay.example.com:7700\n", 23);
    memset(conf + 609, 'n', 200);
    memcpy(conf + 809, " = v\n", 5);
    put(argv[1], "config", "seed-ini-long.conf", conf);
    sodium_memzero(&t, sizeof(t));
    return 0;
}
