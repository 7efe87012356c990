/* SPDX-License-Identifier: MIT */
/*
 * streamlog — see streamlog.h.
 */
#include "streamlog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

void streamlog_init(struct streamlog *sl, uv_loop_t *loop)
{
    sl->loop = loop;
    logagg_init(&sl->agg);
}

/* Keys are "W" or "I" (the level) followed by "link NAME: MESSAGE", so one
 * table serves both levels and a summary is said at the level of its lines. */
static void agg_say(void *arg, const char *key, uint32_t n, uint64_t window_ms)
{
    uint64_t s = (window_ms + 500) / 1000;

    (void)arg;
    if (key[0] == 'I')
        log_info("%s (%" PRIu32 " more streams like this in the last %" PRIu64 " s)", key + 1, n,
                 s);
    else
        log_warnx("%s (%" PRIu32 " more streams like this in the last %" PRIu64 " s)", key + 1, n,
                  s);
}

void streamlog_expire(struct streamlog *sl, bool all)
{
    logagg_expire(&sl->agg, uv_now(sl->loop), all, agg_say, NULL);
}

void streamlog_say(struct streamlog *sl, enum log_level level, const char *link, uint32_t id,
                   const char *fmt, ...)
{
    char msg[512], key[LOGAGG_KEY_MAX];
    va_list ap;

    if (level > log_get_level())
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A key longer than the table keeps is compared by its first bytes. */
    if (snprintf(key, sizeof(key), "%clink %s: %s", level == LOG_LEVEL_INFO ? 'I' : 'W', link,
                 msg) < 0)
        key[0] = '\0';
    if (!logagg_admit(&sl->agg, key, uv_now(sl->loop)))
        return;
    if (level == LOG_LEVEL_INFO)
        log_info("link %s: stream %" PRIu32 ": %s", link, id, msg);
    else
        log_warnx("link %s: stream %" PRIu32 ": %s", link, id, msg);
}
