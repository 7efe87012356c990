/* SPDX-License-Identifier: MIT */
/*
 * linkagent — entry point: command line, keygen, --check, then the loop.
 * See docs/linkagent.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "agent.h"
#include "agentcli.h"
#include "cfgparse.h"
#include "log.h"
#include "statuscli.h"
#include "suite.h"
#include "agent/enrollcli.h"
#include "token.h"

#define MAX_OPT_ADDRS AGENTCFG_MAX_ADDRS

struct opts {
    const char *token, *token_file, *key_file, *connect, *config, *policy, *log_level;
    const char *admin_socket;
    const char *metrics_listen, *resume_timeout, *cipher, *keep_legs, *keep_idle;
    const char *share_legs;
    const char *listen[MAX_OPT_ADDRS], *relay[MAX_OPT_ADDRS];
    size_t n_listen, n_relay;
    bool check;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: linkagent --token TOKEN [--connect HOST:PORT] [--listen ADDR:PORT]...\n"
            "                 [--relay HOST:PORT]... [--policy on-demand|immediate]\n"
            "       linkagent --config FILE\n"
            "       linkagent keygen [--out FILE]\n"
            "       linkagent status [--json] [--admin-socket PATH]\n"
            "       linkagent enroll --config FILE --link NAME CODE\n"
            "\n"
            "  --token TOKEN         enrollment token (lrtok1...) from `linkctl link add`\n"
            "  --token-file FILE     read the token from FILE (keeps it out of `ps`)\n"
            "  --key-file FILE       private key (lrkey1...) for a token without one\n"
            "  --connect HOST:PORT   local target for streams the peer opens\n"
            "  --listen ADDR:PORT    accept local connections here and carry each over\n"
            "                        the link (repeatable)\n"
            "  --relay HOST:PORT     relay address; replaces the token's list (repeatable)\n"
            "  --policy POLICY       on-demand (default) or immediate (a permanent stream)\n"
            "  --config FILE         configuration file with many links (linkagent.conf)\n"
            "  --check               validate the configuration, print it, and exit\n"
            "  --log-level LEVEL     error, warn, info (default) or debug\n"
            "  --admin-socket PATH   serve `linkagent status` at PATH instead of\n"
            "                        PID.sock in the runtime directory\n"
            "  --metrics-listen HOST:PORT  serve /metrics, /healthz, /readyz there (or off)\n"
            "  --resume-timeout DURATION   how long a stream whose relay leg died waits to be\n"
            "                        resumed (default 60s; 0 turns resumption off)\n"
            "  --cipher SUITE        auto (default), chacha20-poly1305 or aes-256-gcm:\n"
            "                        the record suites this agent offers its peers\n"
            "  --keep-legs N         idle stream legs kept per link for its next streams\n"
            "                        (default 64; 0 turns kept legs off)\n"
            "  --keep-idle DURATION  how long an idle kept leg is kept (default 15s)\n"
            "  --share-legs yes|no   kept legs carry many streams at once (default yes)\n"
            "  --help, --version\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop, SIGHUP reloads --config. See linkagent(8).\n");
}

static int read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    size_t n;

    if (f == NULL)
        return -errno;
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

/* The one-link configuration of the command line (agentcli.c), after
 * reading the token and key files. */
static int cfg_from_opts(const struct opts *o, struct agentcfg **out)
{
    static char token[TOKEN_TEXT_SIZE + 2];
    char key[256], err[512];
    struct agentcli_opts co = {
        .token = o->token,
        .connect = o->connect,
        .policy = o->policy,
        .listen = o->listen,
        .n_listen = o->n_listen,
        .relay = o->relay,
        .n_relay = o->n_relay,
    };
    int rc = 0;

    if (o->token_file != NULL) {
        rc = read_small(o->token_file, token, sizeof(token));
        if (rc != 0)
            fprintf(stderr, "linkagent: token file %s: %s\n", o->token_file, strerror(-rc));
        co.token = token;
    }
    if (rc == 0 && o->key_file != NULL) {
        rc = read_small(o->key_file, key, sizeof(key));
        if (rc != 0)
            fprintf(stderr, "linkagent: key file %s: %s\n", o->key_file, strerror(-rc));
        co.key_text = key;
    }
    if (rc == 0) {
        rc = agentcli_config(&co, out, err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "linkagent: %s\n", err);
    }
    sodium_memzero(token, sizeof(token));
    sodium_memzero(key, sizeof(key));
    return rc;
}

static int keygen(int argc, char **argv)
{
    uint8_t priv[KEY_LEN], pub[KEY_LEN];
    char priv_text[KEY_TEXT_SIZE], pub_text[KEY_TEXT_SIZE];
    const char *out = NULL;
    int fd, rc = 0;

    for (int i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "-o") == 0) && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "usage: linkagent keygen [--out FILE]\n");
            return 2;
        }
    }
    key_keypair_new(priv, pub);
    key_priv_encode(priv, priv_text);
    key_pub_encode(pub, pub_text);
    sodium_memzero(priv, sizeof(priv));
    if (out == NULL) {
        printf("private %s\npublic %s\n", priv_text, pub_text);
    } else {
        fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, priv_text, KEY_TEXT_LEN) != KEY_TEXT_LEN ||
            write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
            fprintf(stderr, "linkagent: keygen: %s: %s\n", out, strerror(errno));
            rc = 1;
        }
        if (fd >= 0)
            close(fd);
        if (rc == 0)
            printf("%s\n", pub_text);
    }
    sodium_memzero(priv_text, sizeof(priv_text));
    if (rc == 0)
        fprintf(stderr,
                "give the public key to the relay admin: linkctl link add NAME "
                "--a-key (or --b-key) %s\n",
                pub_text);
    return rc;
}

/* Returns 0 to run, 1 to exit 0 (help/version), 2 on a usage error. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("linkagent %s\n", LINKRELAY_VERSION);
            return 1;
        }
        if (strcmp(a, "--check") == 0) {
            o->check = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "linkagent: unknown option or missing value: '%s'\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--token") == 0)
            o->token = v;
        else if (strcmp(a, "--token-file") == 0)
            o->token_file = v;
        else if (strcmp(a, "--key-file") == 0)
            o->key_file = v;
        else if (strcmp(a, "--connect") == 0)
            o->connect = v;
        else if (strcmp(a, "--config") == 0)
            o->config = v;
        else if (strcmp(a, "--policy") == 0)
            o->policy = v;
        else if (strcmp(a, "--log-level") == 0)
            o->log_level = v;
        else if (strcmp(a, "--admin-socket") == 0)
            o->admin_socket = v;
        else if (strcmp(a, "--metrics-listen") == 0)
            o->metrics_listen = v;
        else if (strcmp(a, "--resume-timeout") == 0)
            o->resume_timeout = v;
        else if (strcmp(a, "--cipher") == 0)
            o->cipher = v;
        else if (strcmp(a, "--keep-legs") == 0)
            o->keep_legs = v;
        else if (strcmp(a, "--keep-idle") == 0)
            o->keep_idle = v;
        else if (strcmp(a, "--share-legs") == 0)
            o->share_legs = v;
        else if (strcmp(a, "--listen") == 0 && o->n_listen < MAX_OPT_ADDRS)
            o->listen[o->n_listen++] = v;
        else if (strcmp(a, "--relay") == 0 && o->n_relay < MAX_OPT_ADDRS)
            o->relay[o->n_relay++] = v;
        else {
            fprintf(stderr, "linkagent: unknown option '%s' (or given too often)\n", a);
            return 2;
        }
    }
    if ((o->config != NULL) == (o->token != NULL || o->token_file != NULL)) {
        fprintf(stderr, "linkagent: give either --token (or --token-file) or --config\n");
        return 2;
    }
    if (o->config != NULL && (o->n_listen || o->n_relay || o->connect || o->policy)) {
        fprintf(stderr, "linkagent: --listen/--connect/--relay/--policy go with --token; "
                        "with --config put them in the file\n");
        return 2;
    }
    return 0;
}

/* --keep-legs, --keep-idle (D48) and --share-legs (D58) over the file's or the defaults. */
static int keep_opts(const struct opts *o, struct agentcfg *cfg)
{
    uint64_t v = 0;

    if (o->keep_legs != NULL && cfgparse_count(o->keep_legs, 0, AGENTCFG_KEEP_LEGS_MAX, &v) != 0) {
        fprintf(stderr, "linkagent: --keep-legs '%s': not a whole number within 0..%u\n",
                o->keep_legs, AGENTCFG_KEEP_LEGS_MAX);
        return -1;
    }
    if (o->keep_legs != NULL)
        cfg->keep_legs = (uint32_t)v;
    if (o->keep_idle != NULL &&
        cfgparse_duration(o->keep_idle, 1000, AGENTCFG_KEEP_IDLE_MAX, &v) != 0) {
        fprintf(stderr, "linkagent: --keep-idle '%s': not a duration within 1s..1h\n",
                o->keep_idle);
        return -1;
    }
    if (o->keep_idle != NULL)
        cfg->keep_idle_ms = (uint32_t)v;
    if (o->share_legs != NULL && agentcfg_parse_yesno(o->share_legs, &cfg->share_legs) != 0) {
        fprintf(stderr, "linkagent: --share-legs '%s': not yes or no\n", o->share_legs);
        return -1;
    }
    return 0;
}

static int run(struct agentcfg *cfg, const struct opts *o)
{
    uv_loop_t loop;
    struct agent *ag = calloc(1, sizeof(*ag));
    int rc;

    if (ag == NULL || uv_loop_init(&loop) != 0) {
        free(ag);
        agentcfg_free(cfg);
        return 1;
    }
    /* What the command line set outlives a reload of the file (SIGHUP). */
    ag->log_forced = o->log_level != NULL;
    ag->resume_timeout_forced = o->resume_timeout != NULL;
    ag->resume_timeout_ms = cfg->resume_timeout_ms;
    ag->cipher_forced = o->cipher != NULL;
    ag->cipher = cfg->cipher;
    ag->keep_legs_forced = o->keep_legs != NULL;
    ag->keep_legs = cfg->keep_legs;
    ag->keep_idle_forced = o->keep_idle != NULL;
    ag->keep_idle_ms = cfg->keep_idle_ms;
    ag->share_legs_forced = o->share_legs != NULL;
    ag->share_legs = cfg->share_legs;
    ag->admin_socket = o->admin_socket;
    rc = agent_start(ag, &loop, cfg, o->config);
    uv_run(&loop, UV_RUN_DEFAULT);
    agent_finish(ag);
    agentcfg_free(ag->cfg);
    free(ag);
    if (uv_loop_close(&loop) != 0) {
        log_error("internal: handles left open at exit");
        return 1;
    }
    if (rc != 0)
        return 1;
    log_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct agentcfg *cfg = NULL;
    enum log_level lvl = LOG_LEVEL_INFO;
    char err[512], *text = NULL;
    uint64_t v = 0;
    int rc;

    memset(&o, 0, sizeof(o));
    log_init("linkagent", LOG_LEVEL_INFO);
    if (sodium_init() < 0)
        fatal("libsodium failed to initialise");
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
        return keygen(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "status") == 0)
        return statuscli_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "enroll") == 0)
        return enrollcli_main(argc - 1, argv + 1);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    if (o.log_level != NULL && log_level_parse(o.log_level, &lvl) != 0) {
        fprintf(stderr, "linkagent: --log-level must be error, warn, info or debug\n");
        return 2;
    }
    if (o.config != NULL) {
        if (agent_config_load(o.config, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "linkagent: %s\n", err);
            return 1;
        }
        if (o.log_level == NULL)
            lvl = cfg->log_level;
    } else if (cfg_from_opts(&o, &cfg) != 0) {
        return 1;
    }
    cfg->log_level = lvl;
    if (o.metrics_listen != NULL &&
        (rc = agentcfg_set_metrics_listen(cfg, o.metrics_listen)) != 0) {
        fprintf(stderr, "linkagent: --metrics-listen '%s': %s (use off or HOST:PORT)\n",
                o.metrics_listen, addr_strerror(rc));
        agentcfg_free(cfg);
        return 2;
    }
    if (o.resume_timeout != NULL &&
        cfgparse_duration(o.resume_timeout, 0, AGENTCFG_RESUME_TIMEOUT_MAX, &v) != 0) {
        fprintf(stderr, "linkagent: --resume-timeout '%s': not a duration within 0..1h\n",
                o.resume_timeout);
        agentcfg_free(cfg);
        return 2;
    }
    if (o.resume_timeout != NULL)
        cfg->resume_timeout_ms = (uint32_t)v;
    if (o.cipher != NULL && suite_cfg_parse(o.cipher, &cfg->cipher) != 0) {
        fprintf(stderr, "linkagent: --cipher '%s': not auto, chacha20-poly1305 or aes-256-gcm\n",
                o.cipher);
        agentcfg_free(cfg);
        return 2;
    }
    if (keep_opts(&o, cfg) != 0) {
        agentcfg_free(cfg);
        return 2;
    }
    log_init("linkagent", lvl);
    if (o.check) {
        if (agentcfg_format(cfg, &text) != 0)
            fatal("out of memory");
        printf("%s", text);
        free(text);
        agentcfg_free(cfg);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    return run(cfg, &o);
}
