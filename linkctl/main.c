/* SPDX-License-Identifier: MIT */
/*
 * linkctl — the admin CLI of a linkrelay relay (docs/linkctl.md): global
 * options, then a subcommand. Exit 0 on success, 1 with a one-line reason on
 * stderr when the command fails, 2 on a usage error.
 */
#include "ctl.h"

#include <jansson.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char main_help[] =
    "usage: linkctl [global options] <command> [options]\n"
    "\n"
    "commands:\n"
    "  link add NAME [--a-key PUB] [--b-key PUB]   create a link, print its tokens\n"
    "  link list | show | revoke | enable | rm     manage links (linkctl link --help)\n"
    "  link rotate NAME --side a|b [--key PUB] [--overlap D]\n"
    "                                              replace one side's key (old one kept for D)\n"
    "  link set NAME [--rate R] [--rate-a-to-b R] [--rate-b-to-a R]\n"
    "                                              bandwidth limits, applied live\n"
    "  status                                      live relay-wide state\n"
    "  events [--link NAME] [-n N]                 the event log\n"
    "  relay info                                  relay key, addresses, version\n"
    "  relay rotate-key [--overlap D]              a new relay key, agents learn it\n"
    "  relay drain [--timeout D]                   the running relay drains and exits\n"
    "  probe NAME|ID                               why a link is (not) up, what to change\n"
    "  pool [forget ID]                            relays of the pool on this registry\n"
    "\n"
    "global options:\n"
    "  --state-dir DIR     the relay's state directory (env LINKRELAY_STATE_DIR,\n"
    "                      default " CTL_DEFAULT_STATE_DIR ")\n"
    "  --database FILE|URL registry: an SQLite file or a postgresql:// URL\n"
    "                      (default DIR/linkrelay.db)\n"
    "  --key-file FILE     relay key file (default DIR/relay.key)\n"
    "  --admin-socket PATH relay admin socket (default DIR/admin.sock)\n"
    "  --config FILE       relay config (default /etc/linkrelay/linkrelay.conf, or\n"
    "                      DIR/linkrelay.conf given a state dir; if it exists)\n"
    "  --relay-addr HOST:PORT\n"
    "                      relay address written into tokens (repeatable); without\n"
    "                      it: the running relay's advertise, else its listen\n"
    "                      addresses; the config's when it is not running\n"
    "  --json              machine-readable output\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 success, 1 failure (reason on stderr), 2 usage error.\n";

static int parse_globals(struct ctl *c, int argc, char **argv, int *first)
{
    static const char *const names[] = {"--state-dir", "--database", "--key-file", "--admin-socket",
                                        "--config"};
    const char **dst[] = {&c->opt_state_dir, &c->opt_database, &c->opt_key_file,
                          &c->opt_admin_socket, &c->opt_config};
    int i;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        int m = 0;
        if (ctl_is_help(argv[i])) {
            fputs(main_help, stdout);
            return -1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("linkctl %s\n", LINKRELAY_VERSION);
            return -1;
        }
        int r = ctl_shared_opt(c, argc, argv, &i, "", &m);
        if (r != 0) {
            return r;
        }
        if (m > 0) {
            continue;
        }
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && m == 0; k++) {
            m = ctl_opt_value(argc, argv, &i, names[k], dst[k]);
            if (m < 0) {
                return ctl_usage_error("", "option %s needs a value", names[k]);
            }
            if (m > 0 && (*dst[k])[0] == '\0') {
                return ctl_usage_error("", "option %s needs a non-empty value", names[k]);
            }
        }
        if (m == 0) {
            return ctl_usage_error("", "unknown option '%s'", argv[i]);
        }
    }
    *first = i;
    return 0;
}

/* The command words; each runs with argv[0] = the word. A new command group
 * is a row here and a ctl_NAME_main in its own file (docs/hacking.md). */
static const struct ctl_command {
    const char *name;
    int (*run)(struct ctl *c, int argc, char **argv);
} commands[] = {
    {"link", ctl_link_main},   {"status", ctl_status_main}, {"events", ctl_events_main},
    {"relay", ctl_relay_main}, {"debug", ctl_debug_main},   {"probe", ctl_probe_main},
    {"pool", ctl_pool_main},
};

static const struct ctl_command *ctl_command_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

/* jansson's memory: tokens and private keys pass through its strings on
 * their way to stdout, so every block is wiped before it is freed. */
static void ctl_json_free(void *p)
{
    if (p != NULL) {
        sodium_memzero(p, malloc_usable_size(p));
        free(p);
    }
}

int main(int argc, char **argv)
{
    struct ctl c;
    int first = 0;
    memset(&c, 0, sizeof(c));
    int r = parse_globals(&c, argc, argv, &first);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    if (first >= argc) {
        return ctl_usage_error("", "missing command");
    }
    json_set_alloc_funcs(malloc, ctl_json_free);
    if (sodium_init() < 0) {
        return ctl_fail("libsodium initialisation failed");
    }
    const struct ctl_command *cmd = ctl_command_find(argv[first]);
    if (cmd == NULL) {
        return ctl_usage_error("", "unknown command '%s'", argv[first]);
    }
    /* --help of a subcommand needs no state: answer before resolving paths. */
    int wants_help = 0;
    for (int i = first; i < argc; i++) {
        wants_help |= ctl_is_help(argv[i]);
    }
    if (!wants_help) {
        r = ctl_resolve(&c);
        if (r != CTL_EXIT_OK) {
            return r;
        }
    }
    r = cmd->run(&c, argc - first, argv + first);
    if (fflush(stdout) != 0 && r == CTL_EXIT_OK) {
        return ctl_fail("writing output failed");
    }
    return r;
}
