/* SPDX-License-Identifier: MIT */
/*
 * openfail — what an agent stream (agent/stream.c) does when the relay
 * refuses its OPEN or its RESUME (OPEN_FAIL, docs/protocol.md §5, §7.3): hold
 * the local connection and OPEN again (rate_limited, docs/design.md D16), ask
 * again (a RESUME), or end the stream (quota_exceeded, D29; any other
 * reason).
 *
 * Called by link.c, which matches the OPEN_FAIL to its stream; calls
 * stream.c (stream_fail, stream_retry_start) and nothing that calls it back.
 */
#ifndef LR_AGENT_OPENFAIL_H
#define LR_AGENT_OPENFAIL_H

#include "agent/stream.h"

/* OPEN_FAIL for this stream's req_id. rate_limited holds a local connection
 * (the link's open_queue, open_wait: docs/linkagent.conf.md) and OPENs it
 * again later; past those bounds, and for every other reason, it is reset.
 * A stream redialling its leg (STREAM_REDIAL) is reset at once: the relay has
 * failed it (OPEN_FAIL timeout). */
void stream_open_failed(struct stream *st, int reason);
/* OPEN_FAIL (reason) for the stream's RESUME, or the session it went on is
 * down (reason 0): it asks again on its next tick (its timer), except for
 * quota_exceeded, which ends the stream (D29). */
void stream_resume_failed(struct stream *st, int reason);

#endif
