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
#include "log.h"
#include "logagg.h"

#define AGENT_RBUF_LEN (64 * 1024)

struct link;

struct agent {
    uv_loop_t *loop;
    uv_signal_t sig_term, sig_int, sig_hup;
    struct link *links;
    const char *config_path; /* NULL in command-line (token) mode */
    struct agentcfg *cfg;    /* owned; the links copy what they need */
    bool stopping;
    bool log_forced;     /* --log-level given: reloads keep it */
    uint32_t stream_ids; /* numbers streams in log lines */
    struct logagg agg;   /* per-stream failure lines (agent_stream_log) */
    uv_timer_t agg_timer;
    bool agg_timer_on;
    uint8_t rbuf[AGENT_RBUF_LEN];
};

/*
 * Reads, parses and completes (key files) a config file. On success *out is
 * the caller's (agentcfg_free); on failure err holds a one-line message
 * naming the file, the line and what is wrong.
 */
int agent_config_load(const char *path, struct agentcfg **out, char *err, size_t errlen);

/* Takes cfg, starts every link and the signal handlers. On failure (a
 * listener cannot bind) everything started is stopped again; run the loop
 * until it is dry. */
int agent_start(struct agent *ag, uv_loop_t *loop, struct agentcfg *cfg, const char *config_path);
/* Stops everything (idempotent). */
void agent_stop(struct agent *ag);
/* SIGHUP: re-reads the config file; keeps links whose configuration did not
 * change (and their streams), closes removed or changed ones, starts new
 * ones. On a bad file the running configuration stays. */
void agent_reload(struct agent *ag);

/*
 * Logs "link LINK: stream ID: MESSAGE" at level (LOG_LEVEL_WARN or _INFO).
 * The first line of a (link, message) is said at once; the same line for
 * further streams within LOGAGG_WINDOW_MS is counted and said once as
 * "link LINK: MESSAGE (N more streams like this in the last S s)", so an
 * application retrying against an offline peer cannot flood the log.
 */
void agent_stream_log(struct agent *ag, enum log_level level, const char *link, uint32_t id,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* After the loop has ended: closes what agent_stop left (if it never ran)
 * and says what agent_stream_log still holds. */
void agent_finish(struct agent *ag);

uv_loop_t *agent_loop(const struct agent *ag);
uint32_t agent_keepalive_ms(const struct agent *ag);
uint32_t agent_backoff_min_ms(const struct agent *ag);
/* open_queue and open_wait of the running configuration (a reload applies to
 * the next refused OPEN). */
uint32_t agent_open_queue(const struct agent *ag);
uint32_t agent_open_wait_ms(const struct agent *ag);
uint32_t agent_backoff_max_ms(const struct agent *ag);
void agent_read_buffer(struct agent *ag, uint8_t **buf, size_t *len);
/* A process-wide stream number for log lines. */
uint32_t agent_next_stream_id(struct agent *ag);

#endif
