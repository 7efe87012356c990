/* SPDX-License-Identifier: MIT */
#include "agent/enrollcli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "agentcfg.h"
#include "cfgparse.h"
#include "endorse.h"
#include "enroll.h"
#include "keys.h"
#include "session.h"

#define ENROLLCLI_TIMEOUT_MS 30000
#define ENROLLCLI_NONCE      0x656e726f6c6cull /* "enroll" */

static const char enroll_usage[] =
    "usage: linkagent enroll --config FILE --link NAME CODE\n"
    "\n"
    "Enrolls link NAME of FILE with the code `linkctl link add` printed for it:\n"
    "makes the link's key pair, presents the code to the relay once and writes\n"
    "the private key to the link's key_file (mode 0600; it must not exist yet).\n"
    "The link's section needs the side's token (no private key) and key_file.\n";

struct enrollcli {
    uv_loop_t loop;
    uv_timer_t timer;
    struct agentcfg_link *link;
    struct session *session;
    size_t next_relay;
    uint8_t verifier[ENROLL_HASH_LEN];
    uint8_t anchor_priv[KEY_LEN], anchor_pub[KEY_LEN], pub[KEY_LEN];
    int done;  /* 1 enrolled, -1 refused or failed */
    bool told; /* the relay answered (CLOSE or WELCOME): no other address */
    char why[SESSION_CAUSE_MAX];
};

static void enroll_dial(struct enrollcli *e);

static void enroll_finish(struct enrollcli *e, int done)
{
    e->done = done;
    if (e->session != NULL) {
        session_close(e->session);
        e->session = NULL;
    }
    uv_timer_stop(&e->timer);
    uv_stop(&e->loop);
}

static void on_online(void *owner, const struct msg_welcome *w)
{
    struct enrollcli *e = owner;
    struct msg_key k;

    (void)w;
    e->told = true;
    memset(&k, 0, sizeof(k));
    memcpy(k.key, e->pub, KEY_LEN);
    memcpy(k.by, e->anchor_pub, KEY_LEN);
    if (endorse_make(e->anchor_priv, e->link->peer_pub, e->link->link_id, e->link->side, e->pub,
                     k.mac) != 0 ||
        session_send_endorse(e->session, &k) != 0 ||
        session_send_ping(e->session, ENROLLCLI_NONCE) != 0) {
        snprintf(e->why, sizeof(e->why),
                 "enrolled, but the endorsement of the new key could "
                 "not be sent");
        enroll_finish(e, -1);
    }
}

static void on_pong(void *owner, uint64_t nonce)
{
    struct enrollcli *e = owner;

    if (nonce == ENROLLCLI_NONCE)
        enroll_finish(e, 1);
}

static void on_down(void *owner, bool revoked)
{
    struct enrollcli *e = owner;

    (void)revoked;
    snprintf(e->why, sizeof(e->why), "%s", e->session->cause);
    if (e->session->close_reason != 0)
        e->told = true;
    e->session = NULL;
    if (e->told || e->next_relay >= e->link->n_relays)
        enroll_finish(e, -1);
    else
        enroll_dial(e);
}

static void ignore_peer(void *owner, bool online)
{
    (void)owner;
    (void)online;
}
static void ignore_connected(void *owner, const struct sockaddr_storage *relay)
{
    (void)owner;
    (void)relay;
}
static void ignore_stream(void *owner, const struct msg_stream *m)
{
    (void)owner;
    (void)m;
}
static void ignore_open_fail(void *owner, uint32_t req_id, int reason)
{
    (void)owner;
    (void)req_id;
    (void)reason;
}
static void ignore_addrs(void *owner, const struct msg_addrs *a)
{
    (void)owner;
    (void)a;
}
static void ignore_going_away(void *owner, unsigned seconds)
{
    (void)owner;
    (void)seconds;
}
static void ignore_peer_key(void *owner, const struct msg_key *k)
{
    (void)owner;
    (void)k;
}
static void ignore_relay_key(void *owner, uint8_t id, const uint8_t key[KEY_LEN])
{
    (void)owner;
    (void)id;
    (void)key;
}
static void ignore_resumable(void *owner)
{
    (void)owner;
}

static const struct session_ops enroll_ops = {
    .on_connected = ignore_connected,
    .on_online = on_online,
    .on_peer = ignore_peer,
    .on_stream = ignore_stream,
    .on_open_fail = ignore_open_fail,
    .on_addrs = ignore_addrs,
    .on_going_away = ignore_going_away,
    .on_peer_key = ignore_peer_key,
    .on_relay_key = ignore_relay_key,
    .on_resumable = ignore_resumable,
    .on_resumed = ignore_stream,
    .on_pong = on_pong,
    .on_down = on_down,
};

static void enroll_dial(struct enrollcli *e)
{
    struct session_conf conf = {e->link->name, e->link, 0, false, e->verifier};

    while (e->next_relay < e->link->n_relays) {
        const struct addr_spec *a = &e->link->relays[e->next_relay++];
        e->session = session_start(&e->loop, &conf, &enroll_ops, e, a);
        if (e->session != NULL)
            return;
    }
    if (e->why[0] == '\0')
        snprintf(e->why, sizeof(e->why), "no relay address could be dialled");
    enroll_finish(e, -1);
}

static void on_timeout(uv_timer_t *t)
{
    struct enrollcli *e = t->data;

    char last[SESSION_CAUSE_MAX];
    int n;

    memcpy(last, e->why, sizeof(last));
    last[200] = '\0';
    n = snprintf(e->why, sizeof(e->why), "no answer from the relay within %d s",
                 ENROLLCLI_TIMEOUT_MS / 1000);
    if (last[0] != '\0' && n > 0)
        snprintf(e->why + n, sizeof(e->why) - (size_t)n, "; last: %.200s", last);
    enroll_finish(e, -1);
}

/* Writes the key text to path.tmp (0600, new, synced); 0 or -errno. */
static int write_key(const char *tmp, const uint8_t priv[KEY_LEN])
{
    char text[KEY_TEXT_SIZE];
    int fd, rc = 0;

    key_priv_encode(priv, text);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        rc = -errno;
    else if (write(fd, text, KEY_TEXT_LEN) != KEY_TEXT_LEN || write(fd, "\n", 1) != 1 ||
             fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = -errno;
    sodium_memzero(text, sizeof(text));
    return rc;
}

/* Makes the key pair and derives what the code gives; 0 or 1 (printed). */
static int enroll_prepare(struct enrollcli *e, const char *code, const char *tmp)
{
    uint8_t secret[ENROLL_SECRET_LEN];
    size_t pos = 0;
    char msg[128];
    int rc = enroll_code_decode(code, secret, &pos);

    if (rc != 0) {
        enroll_format_error(rc, pos, msg, sizeof(msg));
        fprintf(stderr, "linkagent: enroll: code: %s\n", msg);
        return 1;
    }
    rc = enroll_anchor(secret, e->link->link_id, e->link->side, e->anchor_priv, e->anchor_pub);
    enroll_verifier(secret, e->link->link_id, e->link->side, e->verifier);
    sodium_memzero(secret, sizeof(secret));
    if (rc != 0) {
        fprintf(stderr, "linkagent: enroll: the code gives no usable key\n");
        return 1;
    }
    key_keypair_new(e->link->priv, e->pub);
    memcpy(e->link->pub, e->pub, KEY_LEN);
    e->link->has_priv = 1;
    rc = write_key(tmp, e->link->priv);
    if (rc != 0) {
        fprintf(stderr, "linkagent: enroll: %s: %s\n", tmp, strerror(-rc));
        return 1;
    }
    return 0;
}

/* Runs one enrollment of link l; 0 enrolled, 1 not (printed). */
static int enroll_run(struct enrollcli *e, const char *code)
{
    char tmp[AGENTCFG_PATH_MAX + 8], dir[AGENTCFG_PATH_MAX];
    int rc, fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", e->link->key_file);
    if (access(e->link->key_file, F_OK) == 0) {
        fprintf(stderr,
                "linkagent: enroll: link %s: key file %s exists already (enrolled before?); "
                "remove it to enroll again\n",
                e->link->name, e->link->key_file);
        return 1;
    }
    (void)unlink(tmp); /* left by an enrollment that died */
    if (enroll_prepare(e, code, tmp) != 0)
        return 1;
    if (uv_loop_init(&e->loop) != 0) {
        unlink(tmp);
        return 1;
    }
    uv_timer_init(&e->loop, &e->timer);
    e->timer.data = e;
    uv_timer_start(&e->timer, on_timeout, ENROLLCLI_TIMEOUT_MS, 0);
    enroll_dial(e);
    if (e->done == 0)
        uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&e->timer, NULL);
    while (uv_run(&e->loop, UV_RUN_NOWAIT) != 0) {
    }
    (void)uv_loop_close(&e->loop);
    if (e->done != 1) {
        unlink(tmp);
        fprintf(stderr, "linkagent: enroll: link %s: %s\n", e->link->name, e->why);
        return 1;
    }
    rc = rename(tmp, e->link->key_file);
    if (rc != 0) {
        fprintf(stderr,
                "linkagent: enroll: link %s enrolled, but its key is still in %s (%s): move it to "
                "%s\n",
                e->link->name, tmp, strerror(errno), e->link->key_file);
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s", e->link->key_file);
    fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    return 0;
}

/* The config file, parsed; key files are not read (the link's is to be
 * written). 0, or 1 after a message. */
static int enroll_config(const char *path, struct agentcfg **out)
{
    struct cfgparse_error pe = {0, ""};
    char *text = malloc(CFGPARSE_MAX_SIZE + 1), line[300];
    FILE *f = fopen(path, "re");
    size_t n = 0;
    int rc = 1;

    if (text != NULL && f != NULL) {
        n = fread(text, 1, CFGPARSE_MAX_SIZE + 1, f);
        if (ferror(f) == 0 && n <= CFGPARSE_MAX_SIZE) {
            text[n] = '\0';
            rc = agentcfg_parse(text, out, &pe) == 0 ? 0 : 2;
        }
    }
    if (rc == 2) {
        cfgparse_error_format(&pe, line, sizeof(line));
        fprintf(stderr, "linkagent: %s: %s\n", path, line);
    } else if (rc != 0) {
        fprintf(stderr, "linkagent: %s: %s\n", path,
                f == NULL ? strerror(errno) : "cannot read it (or larger than 1 MiB)");
    }
    if (f != NULL)
        fclose(f);
    if (text != NULL) {
        sodium_memzero(text, CFGPARSE_MAX_SIZE + 1);
        free(text);
    }
    return rc == 0 ? 0 : 1;
}

static int enroll_args(int argc, char **argv, const char **config, const char **name,
                       const char **code)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(enroll_usage, stdout);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            *config = argv[++i];
        else if (strcmp(argv[i], "--link") == 0 && i + 1 < argc)
            *name = argv[++i];
        else if (argv[i][0] != '-' && *code == NULL)
            *code = argv[i];
        else
            return 2;
    }
    return *config == NULL || *name == NULL || *code == NULL ? 2 : 0;
}

int enrollcli_main(int argc, char **argv)
{
    const char *config = NULL, *name = NULL, *code = NULL;
    struct agentcfg *cfg = NULL;
    struct enrollcli *e;
    int rc = enroll_args(argc, argv, &config, &name, &code);

    if (rc != 0) {
        if (rc == 2)
            fputs(enroll_usage, stderr);
        return rc == 1 ? 0 : 2;
    }
    if (enroll_config(config, &cfg) != 0)
        return 1;
    e = sodium_malloc(sizeof(*e));
    if (e == NULL) {
        agentcfg_free(cfg);
        return 1;
    }
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; i < cfg->n_links && e->link == NULL; i++)
        if (strcmp(cfg->links[i].name, name) == 0)
            e->link = &cfg->links[i];
    rc = 1;
    if (e->link == NULL)
        fprintf(stderr, "linkagent: enroll: %s has no [link %s]\n", config, name);
    else if (e->link->has_priv || e->link->key_file[0] == '\0')
        fprintf(stderr,
                "linkagent: enroll: link %s has a private key already; enrollment needs "
                "key_file (where the new key goes) and a token without a key\n",
                name);
    else
        rc = enroll_run(e, code);
    if (rc == 0)
        printf("link %s enrolled: its private key is in %s; run linkagent --config %s\n", name,
               e->link->key_file, config);
    sodium_memzero(e, sizeof(*e));
    sodium_free(e);
    agentcfg_free(cfg);
    return rc;
}
