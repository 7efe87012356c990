// SPDX-License-Identifier: MIT
#include "agent/openfail.h"

#include "log.h"
#include "msg.h"
#include "streamlog.h"

/* Why OPEN_FAIL quota_exceeded ends a stream: the quota lasts until its
 * period ends or the administrator raises it. */
static const char quota_why[] = "quota_exceeded (the link's byte quota for this period is used "
                                "up); resetting the local connection";

void stream_resume_failed(struct stream *st, int reason)
{
    if (st->state != STREAM_SUSPENDED)
        return;
    if (reason == MSG_OPEN_FAIL_QUOTA_EXCEEDED) /* asking again cannot help (D29) */
        stream_fail(st, LOG_LEVEL_WARN, "relay refused to resume the stream: %s", quota_why);
    else
        st->resume_req = 0; /* the timer asks again */
}

/*
 * The relay's answer rate_limited means the link's OPEN budget is spent for
 * now, not that this connection is unwanted: shape, do not drop
 * (docs/design.md D16). The local connection is held (not read; the client
 * sees a slow connect-to-first-byte) and OPENed again as the budget refills,
 * within two bounds: open_queue connections held per link, each for at most
 * open_wait since its first OPEN. Past either it is reset, and the log line
 * says which bound. The immediate policy's cable keeps its own backoff.
 */
void stream_open_failed(struct stream *st, int reason)
{
    struct stream_owner *own = st->own;
    uint32_t queue = st->env->open_queue, wait = st->env->open_wait_ms;
    uint64_t now = uv_now(st->loop);

    if (reason == MSG_OPEN_FAIL_QUOTA_EXCEEDED) { /* not tried again (D29) */
        stream_fail(st, LOG_LEVEL_WARN, "relay refused to open a stream: %s", quota_why);
        return;
    }
    if (reason != MSG_OPEN_FAIL_RATE_LIMITED || st->cable || own == NULL ||
        st->state == STREAM_REDIAL) {
        stream_fail(st, LOG_LEVEL_WARN, "relay refused to open a stream: %s",
                    msg_open_fail_reason_name(reason));
        return;
    }
    if (!st->held && own->n_held >= queue) {
        stream_fail(st, LOG_LEVEL_WARN,
                    "relay refused to open a stream: rate_limited; open_queue full (%u connections "
                    "held); resetting the local connection",
                    queue);
        return;
    }
    if (now - st->open_since_ms >= wait) {
        stream_fail(st, LOG_LEVEL_WARN,
                    "relay refused to open a stream: rate_limited for open_wait (%u ms); resetting "
                    "the local connection",
                    wait);
        return;
    }
    if (!st->held) {
        st->held = true;
        own->n_held++;
        stream_log(st, LOG_LEVEL_INFO,
                   "relay refused to open a stream: rate_limited; holding the local connection "
                   "(open_queue %u, open_wait %u ms)",
                   queue, wait);
    }
    st->state = STREAM_HELD;
    stream_retry_start(st, st->open_since_ms + wait - now);
    st->open_tries++;
}
