/* SPDX-License-Identifier: MIT */
/*
 * ctl — what linkctl's subcommands share: the resolved paths (docs/linkctl.md
 * "Finding the relay"), the relay config, opening the registry, talking to
 * the admin socket, error and usage reporting, and small output helpers.
 *
 * linkctl is a short-lived process: one struct ctl per run, on main's stack.
 * Strings returned by helpers point into struct ctl unless said otherwise.
 */
#ifndef LR_CTL_H
#define LR_CTL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "relaycfg.h"
#include "token.h"

struct json_val;
struct store;
struct relaykey;

#define CTL_DEFAULT_STATE_DIR "/var/lib/linkrelay"
#define CTL_ENV_STATE_DIR     "LINKRELAY_STATE_DIR"

/* Exit codes. */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAIL = 1,  /* the command failed; one line on stderr says why */
    CTL_EXIT_USAGE = 2, /* bad command line */
};

struct ctl {
    /* Global options as given (NULL when absent). */
    const char *opt_state_dir;
    const char *opt_database;
    const char *opt_key_file;
    const char *opt_admin_socket;
    const char *opt_config;
    int json;
    /* Resolved by ctl_resolve. */
    char state_dir[PATH_MAX];
    char database[PATH_MAX];
    char key_file[PATH_MAX];
    char admin_socket[PATH_MAX];
    char config[PATH_MAX];
    int have_config;  /* a config file was read */
    int warned_addrs; /* the 127.0.0.1 fallback warning was printed */
    struct relaycfg cfg;
};

/* Prints "linkctl: <message>" on stderr; returns CTL_EXIT_FAIL. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "linkctl: <message>" and a hint to `linkctl <cmd> --help`; returns
 * CTL_EXIT_USAGE. cmd is e.g. "link add". */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "linkctl: warning: <message>" on stderr. */
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Matches argv[*i] against the option `name` ("--side"). Returns 1 and sets
 * *val (from "--side=a" or the next argument, advancing *i) when it matches,
 * 0 when it does not, -1 when the value is missing (usage error).
 */
int ctl_opt_value(int argc, char **argv, int *i, const char *name, const char **val);
/* True for "--help" and "-h". */
int ctl_is_help(const char *arg);

/* One command's arguments (argv after the command word) as ctl_args() wants
 * them. names: the value options the command takes ("--side"), NULL-terminated
 * or NULL for none; vals[k] receives the value of names[k] (left as the caller
 * set it when the option is absent). pos receives exactly npos positional
 * arguments; missing names them in the error when fewer are given. */
struct ctl_argspec {
    const char *cmd;  /* "link add", for usage errors */
    const char *help; /* printed on --help */
    const char *const *names;
    const char **vals;
    const char **pos;
    int npos;
    const char *missing;
};

/* Parses --help, --json (sets c->json), the spec's value options and
 * positionals. Returns 0, -1 after printing the help (the caller exits 0), or
 * CTL_EXIT_USAGE after printing a usage error. */
int ctl_args(struct ctl *c, const struct ctl_argspec *spec, int argc, char **argv);

/* Resolves the paths (flags > environment > config > defaults) and reads the
 * config file. Returns CTL_EXIT_OK or an exit code after printing why. */
int ctl_resolve(struct ctl *c);
/* Creates the state directory (mode 0700) if it does not exist. */
int ctl_ensure_state_dir(const struct ctl *c);

/* Opens the registry. With create, creates the state directory and the
 * database if missing. Without create, a missing database gives -ENOENT
 * quietly (the caller decides: "no links yet"); other errors are printed.
 * Returns 0 or a negative errno. */
int ctl_store_open(struct ctl *c, int create, struct store **out);

/* Loads the relay key file, creating it when missing and create is set.
 * Prints the reason on failure. */
int ctl_relay_key(struct ctl *c, int create, struct relaykey *out);

/* The relay addresses for tokens: advertise list, else the specific listen
 * addresses, else 127.0.0.1:<first listen port or 7700> with a warning.
 * Fills addrs[n][TOKEN_ADDR_MAX + 1]; returns the count (1..16). */
size_t ctl_token_addrs(struct ctl *c, char addrs[][TOKEN_ADDR_MAX + 1], size_t max);

/* Asks the relay over the admin socket. Returns 0 with *reply (parsed JSON,
 * caller json_free()s), or a negative errno; adminc_not_running(err) says
 * whether the relay is simply not running. Prints nothing. */
int ctl_admin(struct ctl *c, const char *request, struct json_val **reply);
/* Best-effort `sync` after a change: quiet when the relay is not running,
 * a warning when it runs but does not answer. */
void ctl_admin_sync(struct ctl *c);

/* "2026-11-21 10:40:00Z" (UTC) for ms since the epoch; "-" for 0. */
void ctl_fmt_time(int64_t ms, char *out, size_t cap);
/* "1d02h03m04s" style durations. */
void ctl_fmt_duration(int64_t seconds, char *out, size_t cap);
/* "a" or "b". */
const char *ctl_side_name(int side);
/* Parses "a"/"b"; returns 0 or -EINVAL. */
int ctl_side_parse(const char *s, int *side);
/* Detail text for events written by linkctl: "<what> by linkctl (uid N)". */
void ctl_event_detail(const char *what, char *out, size_t cap);

/* The subcommand groups. argv[0] is the group word ("link"). */
int ctl_link_main(struct ctl *c, int argc, char **argv);
int ctl_status_main(struct ctl *c, int argc, char **argv);
int ctl_events_main(struct ctl *c, int argc, char **argv);
int ctl_relay_main(struct ctl *c, int argc, char **argv);
int ctl_debug_main(struct ctl *c, int argc, char **argv);

#endif
