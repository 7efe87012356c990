/* SPDX-License-Identifier: MIT */
/*
 * streamrevive — a finished stream answers its initiator's resume
 * (docs/protocol.md §7.3 "A finished stream", docs/design.md D24).
 *
 * RESUMED (role 1) whose id matches no running stream of the owner: when a
 * finished stream the owner keeps (agent/streamfin.h) matches it, the entry
 * leaves the list and a stream without a local connection (stream_bare)
 * answers on a new leg with a session restored from it (e2e_fin_restore):
 * the leg carries the RESUME records and FINISHED, nothing else. When that
 * leg ends (cleanly, lost, or not done within STREAM_SETUP_MS) the stream
 * is kept again (streamend.c) until the first keep's deadline.
 */
#ifndef LR_AGENT_STREAMREVIVE_H
#define LR_AGENT_STREAMREVIVE_H

#include <stdbool.h>

#include "msg.h"

struct stream_owner;

/* False when no kept stream matches m's resume id (nothing changes). */
bool streamrevive_answer(struct stream_owner *own, const struct msg_stream *m);

#endif
