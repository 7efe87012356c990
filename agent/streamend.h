/* SPDX-License-Identifier: MIT */
/*
 * streamend — how an agent stream (agent/stream.c) ends and is freed: the
 * one close path (log the cause, leave the owner, close or reset each
 * socket, flush a RESET record to the leg within STREAM_FLUSH_MS) and the
 * reference count over the stream's open handles and requests. stream.c
 * calls it; it calls nothing of stream.c (the owner hears of the end
 * through struct stream_ops .gone).
 */
#ifndef LR_AGENT_STREAMEND_H
#define LR_AGENT_STREAMEND_H

#include "agent/stream.h"

/*
 * The one close path. Logs why (one aggregated line at level, when there is
 * one), leaves the owner, and closes everything: CLEAN closes both sockets,
 * RESET resets them, FLUSH resets the local one and lets the leg take what
 * the session still holds (our RESET record) before its shutdown, within
 * STREAM_FLUSH_MS. Idempotent: the first cause wins. Freed in the last close
 * callback.
 */
void streamend_end(struct stream *st, enum pump_close mode, enum log_level level, const char *why);
/* Drops one reference (a handle closed, a request done); the last frees. */
void streamend_release(struct stream *st);

#endif
