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

#include "lrjson.h"
#include "relaycfg.h"
#include "token.h"

struct store;
struct store_link;
struct relaykey;
struct ctl_addrs;

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
    int have_config; /* a config file was read */
    struct relaycfg cfg;
    /* --relay-addr values, validated, in the order given. */
    struct addr_spec relay_addr[TOKEN_MAX_ADDRS];
    size_t n_relay_addr;
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
/* Creates the state directory (mode 0700, missing parents 0755; statedir.h)
 * if it does not exist. Returns 0 or a negative errno. */
int ctl_ensure_state_dir(const struct ctl *c);

/* Opens the registry. With create, creates the state directory and the
 * database if missing. Without create, a missing database gives -ENOENT
 * quietly (the caller decides: "no links yet"); other errors are printed.
 * Returns 0 or a negative errno. */
int ctl_store_open(struct ctl *c, int create, struct store **out);

/* Loads the relay key file, creating it when missing and create is set.
 * Prints the reason on failure. */
int ctl_relay_key(struct ctl *c, int create, struct relaykey *out);

/* Where the relay addresses in tokens come from (docs/linkctl.md "Relay
 * addresses in tokens"), in the order they are tried. */
enum ctl_addrs_source {
    CTL_ADDRS_NONE = 0,         /* nothing usable: tokens cannot be made */
    CTL_ADDRS_FLAG,             /* --relay-addr */
    CTL_ADDRS_LIVE_ADVERTISE,   /* the running relay's advertise list */
    CTL_ADDRS_LIVE_LISTEN,      /* the running relay's bound specific listeners */
    CTL_ADDRS_CONFIG_ADVERTISE, /* relay not running: the config's advertise */
    CTL_ADDRS_CONFIG_LISTEN,    /* relay not running: the config's specific listen */
    CTL_ADDRS_POOL,             /* the registry's live pool members (D39) */
};

/* The addresses one run of linkctl writes into every token it makes. */
struct ctl_addrs {
    enum ctl_addrs_source source;
    int relay_running; /* the relay answered on its admin socket */
    size_t n;          /* 0 only with CTL_ADDRS_NONE */
    char addr[TOKEN_MAX_ADDRS][TOKEN_ADDR_MAX + 1];
};

/* Applies the rule without any I/O: --relay-addr, else (live is the relay's
 * `status` reply) its advertise list, else its specific listen addresses,
 * else (live == NULL: not running) the config's advertise, else its specific
 * listen addresses. Unspecified hosts (0.0.0.0, [::]) and port 0 are never
 * taken. Fills *out; out->n == 0 when nothing is left. */
void ctl_addrs_pick(const struct ctl *c, const json_t *live, struct ctl_addrs *out);
/* The addresses of the tokens of link link_id: --relay-addr as given; else,
 * when the registry has live pool members (docs/design.md D39), their
 * advertised addresses in the link's rendezvous order (first addresses of
 * each member first, at most TOKEN_MAX_ADDRS); else ctl_addrs_pick after
 * asking the running relay. Returns CTL_EXIT_OK, or CTL_EXIT_FAIL after
 * printing which of --relay-addr, advertise and listen to set (or the
 * registry's error). Writes nothing anywhere. */
#define CTL_POOL_MAX_MEMBERS 64 /* member rows read, as a relay does */
int ctl_token_addrs(struct ctl *c, const uint8_t link_id[LINKID_LEN], struct ctl_addrs *out);
/* "live_listen" etc. for JSON, NULL for CTL_ADDRS_NONE. */
const char *ctl_addrs_source_name(enum ctl_addrs_source s);
/* Adds "token_addrs":[...],"token_addrs_source":name|null to obj (in that
 * order, after its members so far). Returns 0, or -ENOMEM. */
int ctl_addrs_json(json_t *obj, const struct ctl_addrs *a);
/* Prints "<label padded to 15>A, B (from <source>)" or what to set. */
void ctl_addrs_print(const char *label, const struct ctl_addrs *a);
/* Validates one --relay-addr value into c->relay_addr; returns 0 or
 * CTL_EXIT_USAGE after printing why. */
int ctl_relay_addr_add(struct ctl *c, const char *text);
/* The options every command line accepts anywhere: --json and
 * --relay-addr VALUE (which advances *i). *taken says whether argv[*i] was
 * one; returns 0 or an exit code after printing why (cmd names the command
 * in usage errors, "" for the global ones). */
int ctl_shared_opt(struct ctl *c, int argc, char **argv, int *i, const char *cmd, int *taken);

/* Asks the relay over the admin socket. Returns 0 with *reply (the parsed
 * JSON value, caller json_decref()s), or a negative errno (-EPROTO: not one
 * JSON value); adminc_not_running(err) says whether the relay is simply not
 * running. Prints nothing. The reply is at most ADMINC_REPLY_MAX bytes
 * (adminc.h) and nests at most JSON_PARSER_MAX_DEPTH deep (jansson: 2048). */
int ctl_admin(struct ctl *c, const char *request, json_t **reply);
/* The relay's `status` reply (caller json_decref()s), or NULL when no relay
 * answers; a relay that runs but fails to answer gets a warning and NULL. */
json_t *ctl_relay_status(struct ctl *c);
/* Best-effort `sync` after a change: quiet when the relay is not running,
 * a warning when it runs but does not answer. */
void ctl_admin_sync(struct ctl *c);

/* --json output: prints v (LRJSON_DUMP_FLAGS) and a newline on stdout and
 * drops the reference. A NULL v (building it ran out of memory) prints
 * nothing. Returns CTL_EXIT_OK, or CTL_EXIT_FAIL after saying why. */
int ctl_json_print(json_t *v);
/* The string value of member key of obj, or dflt (missing, not a string). */
const char *ctl_json_str(const json_t *obj, const char *key, const char *dflt);

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
/* What several commands share: ctl_args with the usual defaults (--help,
 * --json, value options names -> vals, at most maxpos positionals);
 * "LABEL  A, B" for a JSON array of address strings ("-" when empty); an
 * integer member of a JSON object (0 when missing). */
int ctl_simple_args(struct ctl *c, const char *cmd, const char *help, int argc, char **argv,
                    const char *const *names, const char **vals, const char **pos, int maxpos);
void ctl_print_addr_list(const char *label, const json_t *arr);
long long ctl_json_int(const json_t *v, const char *key);

/* An overlap of a key rotation is 0 (none) or between these (linkctl.md). */
#define CTL_OVERLAP_MIN_MS 1000ull
#define CTL_OVERLAP_MAX_MS (720ull * 3600ull * 1000ull) /* 30 days */
/* Parses --overlap DURATION into *ms; CTL_EXIT_USAGE after printing why
 * (cmd names the command). */
int ctl_parse_overlap(const char *cmd, const char *text, uint64_t *ms);
/* Wall-clock ms since the epoch. */
int64_t ctl_now_ms(void);
/* Decodes a public key given as option opt; prints why on failure (-EINVAL). */
int ctl_decode_pub(const char *opt, const char *text, uint8_t pub[32]);
/* Builds the token text of one side of l into out (priv NULL: a
 * bring-your-own-key token). Prints why on failure (-EINVAL). */
int ctl_make_token(const struct store_link *l, int side, const uint8_t *priv,
                   const struct relaykey *rk, const struct ctl_addrs *addrs, char *out, size_t cap);
/* Opens the registry (create: as ctl_store_open) and finds the link named
 * by what (name or id); prints the failure itself. On success *st is the
 * caller's to close. */
int ctl_open_link(struct ctl *c, const char *what, int create, struct store **st,
                  struct store_link *l);

/* The command groups, one file each (ctl_NAME.c), called by main.c's table
 * with argv[0] = the command word. */
int ctl_link_main(struct ctl *c, int argc, char **argv);
/* `link rotate` (ctl_rotate.c), called by ctl_link_main with argv[0] =
 * "rotate". */
int ctl_link_rotate(struct ctl *c, int argc, char **argv);
/* `link days` (ctl_days.c): per-day figures (D31); argv[0] = "days". */
int ctl_link_days(struct ctl *c, int argc, char **argv);
int ctl_status_main(struct ctl *c, int argc, char **argv);
int ctl_events_main(struct ctl *c, int argc, char **argv);
int ctl_relay_main(struct ctl *c, int argc, char **argv);
int ctl_debug_main(struct ctl *c, int argc, char **argv);
int ctl_probe_main(struct ctl *c, int argc, char **argv);
int ctl_pool_main(struct ctl *c, int argc, char **argv);

#endif
