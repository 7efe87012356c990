/* SPDX-License-Identifier: MIT */
/*
 * linkrelay — the rendezvous relay daemon. Parses the command line, builds the
 * configuration (rconf.c), runs the relay (relay.c) on the default libuv loop
 * until SIGTERM/SIGINT, and checks that every handle was closed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "log.h"
#include "rconf.h"
#include "relay.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: linkrelay [options]\n"
            "  --listen HOST:PORT     listen address (repeatable; default 0.0.0.0:7700 and "
            "[::]:7700)\n"
            "  --advertise HOST:PORT  address told to agents (repeatable)\n"
            "  --state-dir DIR        state directory, created if missing (env "
            "LINKRELAY_STATE_DIR;\n"
            "                         default /var/lib/linkrelay)\n"
            "  --config FILE          config file (default /etc/linkrelay/linkrelay.conf, or\n"
            "                         STATE_DIR/linkrelay.conf given a state dir; if present)\n"
            "  --key-file FILE        relay key file (default STATE_DIR/relay.key)\n"
            "  --database FILE|URL    registry: an SQLite file or a postgresql:// URL\n"
            "                         (default STATE_DIR/linkrelay.db)\n"
            "  --admin-socket PATH    admin socket (default STATE_DIR/admin.sock)\n"
            "  --log-level LEVEL      error, warn, info or debug\n"
            "  --metrics-listen HOST:PORT  serve /metrics, /healthz, /readyz there (or off)\n"
            "  --ready-file FILE      write the bound listen addresses there once serving\n"
            "  --takeover             take the listening sockets over from the relay running\n"
            "                         on the admin socket, which then drains\n"
            "  --check                validate the configuration, print it normalised, exit\n"
            "  --help, --version\n");
}

/* Options taking a value: index into the cli struct by name. */
static int parse_args(int argc, char **argv, struct rconf_cli *cli, const char **ready, int *check)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("linkrelay %s\n", LINKRELAY_VERSION);
            exit(0);
        }
        if (strcmp(a, "--check") == 0) {
            *check = 1;
            continue;
        }
        if (strcmp(a, "--takeover") == 0) {
            cli->takeover = true;
            continue;
        }
        if (strcmp(a, "--listen") == 0 || strcmp(a, "--advertise") == 0) {
            int listen = a[2] == 'l';
            size_t *n = listen ? &cli->n_listen : &cli->n_advertise;
            if (v == NULL || *n == RELAYCFG_MAX_ADDRS) {
                fprintf(stderr, "linkrelay: %s: %s\n", a,
                        v == NULL ? "needs a value" : "too many addresses");
                return -1;
            }
            (listen ? cli->listen : cli->advertise)[(*n)++] = v;
            i++;
            continue;
        }
        if (strcmp(a, "--state-dir") == 0)
            slot = &cli->state_dir;
        else if (strcmp(a, "--config") == 0)
            slot = &cli->config;
        else if (strcmp(a, "--key-file") == 0)
            slot = &cli->key_file;
        else if (strcmp(a, "--database") == 0)
            slot = &cli->database;
        else if (strcmp(a, "--admin-socket") == 0)
            slot = &cli->admin_socket;
        else if (strcmp(a, "--log-level") == 0)
            slot = &cli->log_level;
        else if (strcmp(a, "--metrics-listen") == 0)
            slot = &cli->metrics_listen;
        else if (strcmp(a, "--ready-file") == 0)
            slot = ready;
        if (slot == NULL) {
            fprintf(stderr, "linkrelay: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
        if (v == NULL || (*v == '\0' && slot != ready)) {
            fprintf(stderr, "linkrelay: %s needs a %svalue\n", a, v == NULL ? "" : "non-empty ");
            return -1;
        }
        *slot = v;
        i++;
    }
    return 0;
}

static void walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    log_warnx("handle still open at exit: %s", uv_handle_type_name(uv_handle_get_type(h)));
}

int main(int argc, char **argv)
{
    static struct relaycfg cfg;
    static struct relay relay;
    static struct rconf_cli cli;
    char config_path[RELAYCFG_PATH_MAX], err[512];
    const char *ready = NULL;
    uv_loop_t *loop;
    int check = 0, rc;

    if (parse_args(argc, argv, &cli, &ready, &check) != 0)
        return 2;
    if (rconf_load(&cli, &cfg, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "linkrelay: %s\n", err);
        return 1;
    }
    if (check) {
        char *text = NULL;
        if (relaycfg_format(&cfg, &text) != 0)
            return 1;
        printf("# linkrelay configuration%s%s\n%s", config_path[0] != '\0' ? " from " : "",
               config_path, text);
        free(text);
        return 0;
    }
    log_init("linkrelay", cfg.log_level);
    if (sodium_init() < 0)
        fatal("libsodium failed to initialise");
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    rc = relay_start(&relay, loop, &cfg, &cli, config_path, ready);
    if (rc != 0) {
        log_error("start-up failed");
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    relay_done(&relay);
    rc = uv_loop_close(loop);
    if (rc != 0) {
        uv_walk(loop, walk_cb, NULL);
        log_error("event loop not clean at exit: %s", uv_strerror(rc));
        return 1;
    }
    log_info("stopped cleanly");
    return 0;
}
