/* SPDX-License-Identifier: MIT */
/*
 * agent — the linkagent process context: the loop, the links, signals
 * (SIGTERM/SIGINT stop cleanly, SIGHUP reloads the config file), and the one
 * read buffer every local socket reads into (its bytes are sealed into the
 * stream's session inside the read callback, so one buffer serves all).
 *
 * Ownership: main owns the struct agent and the loop; the agent owns its
 * links and the current configuration. agent_stop closes everything; the
 * loop then runs dry and uv_loop_close() succeeds.
 */
#ifndef LR_AGENT_AGENT_H
#define LR_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agentcfg.h"
#include "agent/stream.h"
#include "sdnotify.h"
#include "streamlog.h"

#define AGENT_RBUF_LEN (64 * 1024)

struct link;
struct metrics;
struct status;

struct agent {
    uv_loop_t *loop;
    uv_signal_t sig_term, sig_int, sig_hup;
    struct link *links;
    const char *config_path; /* NULL in command-line (token) mode */
    struct agentcfg *cfg;    /* owned; the links copy what they need */
    bool stopping;
    bool log_forced;                         /* --log-level given: reloads keep it */
    bool resume_timeout_forced;              /* --resume-timeout given: reloads keep it */
    uint32_t resume_timeout_ms;              /* its value, when forced */
    bool cipher_forced;                      /* --cipher given: a reload keeps it (D37) */
    enum suite_cfg cipher;                   /* its value, when forced */
    bool keep_legs_forced, keep_idle_forced; /* --keep-legs, --keep-idle (D48) */
    uint32_t keep_legs, keep_idle_ms;        /* their values, when forced */
    bool share_legs_forced, share_legs;      /* --share-legs (D58), its value */
    struct stream_env streams;               /* what every stream shares (stream.h) */
    struct streamlog slog;                   /* per-stream failure lines, aggregated */
    uv_timer_t agg_timer;                    /* ends slog's windows */
    bool agg_timer_on;
    struct sdnotify sd;       /* systemd: READY, STATUS, watchdog (D20) */
    const char *admin_socket; /* --admin-socket, or NULL: rundir.h's PID.sock */
    struct status *status;    /* the admin socket (`linkagent status`), or NULL */
    struct metrics *metrics;  /* NULL unless metrics_listen (httpd/metrics.h) */
    uint8_t rbuf[AGENT_RBUF_LEN];
};

/* Reads and parses the config file only: key files are not read
 * (`linkagent enroll` writes one). As agent_config_load otherwise. */
int agent_config_parse_file(const char *path, struct agentcfg **out, char *err, size_t errlen);
/*
 * Reads, parses and completes (key files) a config file. On success *out is
 * the caller's (agentcfg_free); on failure err holds a one-line message
 * naming the file, the line and what is wrong.
 */
int agent_config_load(const char *path, struct agentcfg **out, char *err, size_t errlen);

/* Takes cfg, starts every link, the signal handlers and the admin socket
 * (at ag->admin_socket when set, and then a failure to open it fails the
 * start; else in the runtime directory, where a failure is only logged),
 * then tells systemd
 * READY=1 (under systemd): the links' local listeners are bound; the relay
 * may not be reached yet (D20). On failure (a listener cannot bind)
 * everything started is stopped again; run the loop until it is dry. */
int agent_start(struct agent *ag, uv_loop_t *loop, struct agentcfg *cfg, const char *config_path);
/* Tells systemd STOPPING=1 and stops everything (idempotent). */
void agent_stop(struct agent *ag);
/* SIGHUP: re-reads the config file; keeps links whose configuration did not
 * change (and their streams), closes removed or changed ones, starts new
 * ones. On a bad file the running configuration stays. */
void agent_reload(struct agent *ag);

/* After the loop has ended: closes what agent_stop left (if it never ran)
 * and says what the stream log aggregation still holds. */
void agent_finish(struct agent *ag);

#endif
