/* SPDX-License-Identifier: MIT */
/*
 * streamlocal — a stream's dial of the link's configured local target (the
 * connect side of a link): an address literal is connected at once, a host
 * name is resolved on libuv's thread pool first (D45). Never an address from
 * the peer.
 */
#ifndef LR_AGENT_STREAMLOCAL_H
#define LR_AGENT_STREAMLOCAL_H

#include "agent/stream.h"

/* Starts the local dial of st (st->io.local); failures reset the stream with
 * REC_RESET_CONNECT_FAILED and a reason the peer sees. */
void streamlocal_dial(struct stream *st, struct stream_owner *own);

#endif
