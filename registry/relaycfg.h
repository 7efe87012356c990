/* SPDX-License-Identifier: MIT */
/*
 * relaycfg — linkrelay.conf (docs/linkrelay.conf.md): [relay], [limits] and
 * [accounting].
 *
 * Sans-I/O: relaycfg_parse() takes the file's text. Unknown sections and keys
 * are errors with the line number ("line 7: unknown key 'lisen' in [relay]").
 * Every limit of docs/protocol.md §9 is here with its default.
 */
#ifndef LR_RELAYCFG_H
#define LR_RELAYCFG_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cfgparse.h"
#include "log.h"

#define RELAYCFG_MAX_ADDRS    16
#define RELAYCFG_PATH_MAX     1024 /* bytes of a path, with the NUL */
#define RELAYCFG_DEFAULT_PORT 7700
/*
 * The system's config file: the packages install it (a conffile) and their
 * unit passes it with --config. Without --config, linkrelay and linkctl read
 * it when neither --state-dir nor LINKRELAY_STATE_DIR names a state directory
 * and it exists; else STATE_DIR/linkrelay.conf when that exists. It is not
 * under the install prefix: systemd's ConfigurationDirectory= is in /etc.
 */
#define RELAYCFG_SYSTEM_CONFIG "/etc/linkrelay/linkrelay.conf"
/*
 * What relaycfg_parse() leaves in admin_socket when the file does not set it.
 * It is a placeholder, not the default: linkrelay and linkctl replace it with
 * STATE_DIR/admin.sock once the state directory is final (--state-dir,
 * LINKRELAY_STATE_DIR, the file's state_dir, /var/lib/linkrelay; see
 * relay/rconf.c), which is the documented default (docs/linkrelay.conf.md).
 * key_file and database, in contrast, are derived here, from the file's
 * state_dir, and the programs move them when the state directory changes.
 */
#define RELAYCFG_ADMIN_SOCKET_UNSET "/run/linkrelay/admin.sock"

/* Durations in milliseconds, sizes in bytes, rates per second. */
struct relaycfg_limits {
    uint32_t handshake_timeout_ms;   /* 10 s */
    uint32_t preauth_bytes;          /* 4096 */
    uint32_t max_pending;            /* 1024 */
    uint32_t max_pending_per_ip;     /* 64 */
    uint32_t conn_rate_per_ip;       /* 200 per second */
    uint32_t conn_burst_per_ip;      /* 400 */
    uint32_t max_conns_per_ip;       /* 4096 */
    uint32_t max_conns;              /* 0 = auto: the fd limit - 64 */
    uint32_t max_streams_per_link;   /* 256 */
    uint32_t open_rate_per_link;     /* 5000 OPENs per second; 0 = unlimited */
    uint32_t open_burst_per_link;    /* 10000 */
    uint32_t keepalive_ms;           /* 25 s, whole seconds */
    uint32_t dead_after_ms;          /* 90 s, whole seconds, > keepalive */
    uint32_t ticket_expiry_ms;       /* 10 s */
    uint32_t splice_buffer;          /* 256 KiB (docs/design.md D12) */
    uint32_t halfclose_timeout_ms;   /* 60 s */
    uint32_t write_stall_timeout_ms; /* 30 s */
    uint32_t zero_copy_streams;      /* 256; 0 = always copy (docs/design.md D14) */
    uint32_t zero_copy_buffer;       /* 1 MiB: pipe size and bound per direction */
    uint32_t drain_timeout_ms;       /* 30 s; 0 = SIGTERM stops at once (D25) */
    uint64_t max_rate;               /* bytes/s read over all links; 0 = none (D28) */
    uint32_t held_total;             /* 256 MiB: relay-wide cap on held bytes (D40) */
    uint32_t held_floor;             /* 64 KiB: what a direction may always hold (D40) */
};

/* [accounting]: how long the registry keeps rows (docs/design.md D31), in
 * days; 0 = for ever. Applied by the relay's prune, hourly and at start. */
#define RELAYCFG_RETENTION_DAYS_MAX 36500
struct relaycfg_retention {
    uint32_t accounting_days; /* 90: stream rows (rolled into per-day sums) */
    uint32_t events_days;     /* 90: the event log */
};

/* [pool] (docs/design.md D34): on when member_id is set (not "off"). */
#define RELAYCFG_MEMBER_ID_MAX 64
struct relaycfg_pool {
    char member_id[RELAYCFG_MEMBER_ID_MAX + 1]; /* "" = no pool (the default) */
    uint32_t member_timeout_ms;                 /* 2 s */
    uint32_t heartbeat_ms;                      /* 500 ms, <= member_timeout / 3 */
};

struct relaycfg {
    size_t n_listen; /* 1..16; default 0.0.0.0:7700 and [::]:7700 */
    struct addr_spec listen[RELAYCFG_MAX_ADDRS];
    size_t n_advertise; /* 0..16 */
    struct addr_spec advertise[RELAYCFG_MAX_ADDRS];
    /* The advertised-address self-check (docs/design.md D35): how often
     * (60 s; 0 = off) and how long one check may take (5 s). */
    uint32_t advertise_check_interval_ms;
    uint32_t advertise_check_timeout_ms;
    char state_dir[RELAYCFG_PATH_MAX]; /* default /var/lib/linkrelay */
    char key_file[RELAYCFG_PATH_MAX];  /* default STATE_DIR/relay.key */
    char database[RELAYCFG_PATH_MAX];  /* default STATE_DIR/linkrelay.db */
    /* New AUTHs are refused once the registry has not been read for this
     * long (10 s, 1 s..1 h; docs/design.md D38). */
    uint32_t registry_timeout_ms;
    /* A link the relay holds leaves its index after this long with no
     * session, stream, unsaved quota count or recent refusal (10 s, 1 s..
     * 24 h; docs/design.md D42). */
    uint32_t link_linger_ms;
    char admin_socket[RELAYCFG_PATH_MAX]; /* default STATE_DIR/admin.sock: the
                                             parser leaves RELAYCFG_ADMIN_SOCKET_UNSET */
    unsigned admin_socket_mode;           /* default 0600; no bits for others */
    enum log_level log_level;             /* default info */
    /* The metrics listener (docs/design.md D22): off unless
     * has_metrics_listen; per-link series when metrics_per_link (0/1), for
     * at most metrics_max_links links (default 100, 1..10000). */
    int has_metrics_listen;
    struct addr_spec metrics_listen;
    uint32_t metrics_per_link;
    uint32_t metrics_max_links;
    struct relaycfg_limits limits;
    struct relaycfg_retention retention;
    struct relaycfg_pool pool;
};

/* Sets metrics_listen from text: "off", or a numeric HOST:PORT (port 0:
 * the kernel picks). 0, or an addr_parse error (addr_strerror). */
int relaycfg_set_metrics_listen(struct relaycfg *cfg, const char *value);

/* Fills cfg with every default (what an empty file gives). */
void relaycfg_defaults(struct relaycfg *cfg);

/* Parses text (NUL-terminated, <= CFGPARSE_MAX_SIZE bytes) over the defaults
 * and validates the result. Returns 0, or -EINVAL / -E2BIG / -ENOMEM with err
 * filled. cfg is written only on success. */
int relaycfg_parse(const char *text, struct relaycfg *cfg, struct cfgparse_error *err)
    __attribute__((warn_unused_result));

/* The effective configuration as config text (every key, defaults included),
 * which relaycfg_parse() accepts and maps to the same struct. On success *out
 * is a NUL-terminated heap string the caller free()s. Returns 0 or -ENOMEM. */
int relaycfg_format(const struct relaycfg *cfg, char **out);

#endif
