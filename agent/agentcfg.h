/* SPDX-License-Identifier: MIT */
/*
 * agentcfg — linkagent.conf (docs/linkagent.conf.md): [agent] and one
 * [link NAME] section per link.
 *
 * Sans-I/O: agentcfg_parse() takes the file's text. A link gets its identity
 * either from a token (lrtok1...) or from key/key_file + link_id + side +
 * peer_key plus the [agent] relay list and relay_key. key_file is not read
 * here: the caller reads it and calls agentcfg_link_set_key() (the struct
 * says which links need that). Unknown sections and keys are errors with the
 * line number.
 *
 * The struct holds private keys: agentcfg_free() wipes it.
 */
#ifndef LR_AGENTCFG_H
#define LR_AGENTCFG_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cfgparse.h"
#include "keys.h"
#include "log.h"
#include "suite.h"

#define AGENTCFG_MAX_LINKS 64
#define AGENTCFG_MAX_ADDRS 16
#define AGENTCFG_NAME_MAX  40   /* characters of a link name: [A-Za-z0-9._-] */
#define AGENTCFG_PATH_MAX  1024 /* bytes of a path, with the NUL */
/* Local connections a link holds while the relay refuses its OPENs with
 * rate_limited, and how long each may wait (docs/linkagent.conf.md). */
#define AGENTCFG_OPEN_QUEUE_DEFAULT 256u
#define AGENTCFG_OPEN_QUEUE_MAX     4096u
#define AGENTCFG_OPEN_WAIT_DEFAULT  5000u  /* ms */
#define AGENTCFG_OPEN_WAIT_MAX      60000u /* ms */
/* Stream resumption (docs/protocol.md §7.3, design.md D24). */
#define AGENTCFG_RESUME_TIMEOUT_DEFAULT 60000u   /* ms; 0 = off */
#define AGENTCFG_RESUME_TIMEOUT_MAX     3600000u /* ms */
/* Kept stream legs (D48): idle legs a link keeps for its next streams. */
#define AGENTCFG_KEEP_LEGS_DEFAULT     64u
#define AGENTCFG_KEEP_LEGS_MAX         1024u
#define AGENTCFG_KEEP_IDLE_DEFAULT     15000u   /* ms */
#define AGENTCFG_KEEP_IDLE_MAX         3600000u /* ms */
#define AGENTCFG_RESUME_BUFFER_DEFAULT (4ull << 20)
#define AGENTCFG_RESUME_BUFFER_MIN     (128ull << 10) /* E2E_RESUME_MIN */
#define AGENTCFG_RESUME_BUFFER_MAX     (1ull << 30)
#define AGENTCFG_RESUME_TOTAL_DEFAULT  (256ull << 20)
#define AGENTCFG_RESUME_TOTAL_MAX      (64ull << 30)

enum agentcfg_policy {
    AGENTCFG_ON_DEMAND = 0, /* one stream per local connection (default) */
    AGENTCFG_IMMEDIATE = 1, /* keep one stream up while both sides are online */
};

struct agentcfg_link {
    char name[AGENTCFG_NAME_MAX + 1];
    int from_token; /* identity came from token = */
    uint8_t link_id[LINKID_LEN];
    uint8_t side; /* 0 = a, 1 = b */
    uint8_t peer_pub[KEY_LEN];
    int has_priv;                     /* priv is set (token or key =); else key_file */
    uint8_t priv[KEY_LEN];            /* secret */
    uint8_t pub[KEY_LEN];             /* of priv, once has_priv (for handshakes, D45) */
    char key_file[AGENTCFG_PATH_MAX]; /* set when has_priv == 0 */
    /* The relays of this link: the token's, or [agent]'s. */
    size_t n_relays;
    struct addr_spec relays[AGENTCFG_MAX_ADDRS];
    uint8_t relay_pub[KEY_LEN];
    uint8_t relay_key_id;
    size_t n_listen; /* 0..16 local listen addresses */
    struct addr_spec listen[AGENTCFG_MAX_ADDRS];
    int has_connect; /* a local target to dial for the peer's streams */
    struct addr_spec connect;
    enum agentcfg_policy policy;
};

struct agentcfg {
    size_t n_relays; /* [agent] relay, 0..16 */
    struct addr_spec relays[AGENTCFG_MAX_ADDRS];
    int has_relay_key;
    uint8_t relay_pub[KEY_LEN];
    uint8_t relay_key_id;         /* default 0 */
    enum log_level log_level;     /* default info */
    uint32_t keepalive_ms;        /* default 25 s */
    uint32_t backoff_min_ms;      /* default 1 s (0.5 s on the command line) */
    uint32_t backoff_max_ms;      /* default 60 s (30 s on the command line) */
    uint32_t open_queue;          /* default 256; 0 = refuse at once */
    uint32_t open_wait_ms;        /* default 5 s; 0 = refuse at once */
    uint32_t resume_timeout_ms;   /* default 60 s; 0 = no resumption */
    uint64_t resume_buffer;       /* per stream, bytes */
    uint64_t resume_buffer_total; /* all streams of the agent, bytes */
    enum suite_cfg cipher;        /* default auto: record suites offered (D37) */
    uint32_t keep_legs;           /* default 64 idle kept legs per link; 0 = off (D48) */
    uint32_t keep_idle_ms;        /* default 15 s: an idle kept leg is closed after it */
    bool share_legs;              /* default yes: kept legs carry many streams (D58) */
    int has_metrics_listen;       /* [agent] metrics_listen (default off; D22) */
    struct addr_spec metrics_listen;
    size_t n_links; /* 1..64 */
    struct agentcfg_link links[AGENTCFG_MAX_LINKS];
};

/* Sets metrics_listen from text: "off", or a numeric HOST:PORT (port 0:
 * the kernel picks). 0, or an addr_parse error (addr_strerror). */
int agentcfg_set_metrics_listen(struct agentcfg *cfg, const char *value);
/* "yes"/"true"/"on" or "no"/"false"/"off": 0, or -EINVAL (share_legs). */
int agentcfg_parse_yesno(const char *s, bool *out);

/* Where a configuration comes from: the two differ only in the reconnect
 * backoff (docs/linkagent.md: 1 s to 60 s in a file, 0.5 s to 30 s for a
 * command-line agent, which is usually one a person is watching). */
enum agentcfg_origin {
    AGENTCFG_FROM_FILE,
    AGENTCFG_FROM_CLI,
};

/* Sets every [agent] default of origin in cfg (log level, keepalive,
 * backoff, open_queue, open_wait); touches nothing else. The one place the
 * defaults are written (agentcfg_parse, agentcli_config). */
void agentcfg_defaults(struct agentcfg *cfg, enum agentcfg_origin origin);

/*
 * Parses and validates text (NUL-terminated, <= CFGPARSE_MAX_SIZE bytes). On
 * success *out is a new struct the caller releases with agentcfg_free().
 * Returns 0, or -EINVAL / -E2BIG / -ENOMEM with err filled.
 */
int agentcfg_parse(const char *text, struct agentcfg **out, struct cfgparse_error *err)
    __attribute__((warn_unused_result));

/* Sets a link's private key from key-file text (an lrkey1 string; one
 * trailing newline and surrounding whitespace are ignored). Returns 0 or an
 * enum key_err (errpos as in key_priv_decode, may be NULL). */
int agentcfg_link_set_key(struct agentcfg_link *l, const char *text, size_t *errpos)
    __attribute__((warn_unused_result));

/* Wipes and frees. Accepts NULL. */
void agentcfg_free(struct agentcfg *cfg);

/* Sets a link's identity, peer key, relay key and, when the token carries
 * one, its private key from a decoded token (the config's `token =` and
 * --token alike; the relay addresses are the caller's to merge). */
struct token;
void agentcfg_link_take_token(struct agentcfg_link *l, const struct token *t);

/* The effective configuration as text with secrets redacted: token and key
 * show as "<secret>" (so the output is for reading, not for parsing back
 * when it holds secrets). *out is a heap string the caller free()s.
 * Returns 0 or -ENOMEM. */
int agentcfg_format(const struct agentcfg *cfg, char **out);

#endif
