/* SPDX-License-Identifier: MIT */
/*
 * streamlog — per-stream log lines of linkagent, aggregated per link and
 * message (common/logagg.h), so that an application retrying against an
 * offline peer cannot flood the log.
 *
 * A line is "link LINK: stream ID: MESSAGE". The first line of a (level,
 * link, message) is said at once; the same line for further streams within
 * LOGAGG_WINDOW_MS is counted and said once, when streamlog_expire ends the
 * window, as "link LINK: MESSAGE (N more streams like this in the last S s)",
 * at the level of its lines. MESSAGE is the aggregation key: what varies per
 * stream (a count, a time) belongs in a debug line, not in it.
 *
 * Ownership: the agent embeds one struct streamlog and drives its expiry
 * (a timer, and once more at exit); streams log through a pointer to it, which
 * stays valid until the loop has ended. Logging only: never closes anything.
 */
#ifndef LR_AGENT_STREAMLOG_H
#define LR_AGENT_STREAMLOG_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "log.h"
#include "logagg.h"

struct streamlog {
    uv_loop_t *loop; /* uv_now() for the windows */
    struct logagg agg;
};

void streamlog_init(struct streamlog *sl, uv_loop_t *loop);
/* Logs one stream's line at level (LOG_LEVEL_WARN or LOG_LEVEL_INFO). */
void streamlog_say(struct streamlog *sl, enum log_level level, const char *link, uint32_t id,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Says the summaries of the windows that are over (all of them with all: at
 * exit, after uv_update_time, so no count is lost). */
void streamlog_expire(struct streamlog *sl, bool all);

#endif
