/* SPDX-License-Identifier: MIT */
/*
 * agentmetrics — what linkagent's /metrics says (docs/guide.md "Monitoring"),
 * per link: the control session (up, to which relay, since when,
 * reconnects), the peer, streams, bytes each way and end-to-end handshake
 * failures. The HTTP side is httpd/metrics.c.
 *
 * Part of the agent's top, beside agent.c: it reads struct agent and its
 * links (never writes them) and counts nothing itself; link.c and stream.c
 * keep the counts. Runs on the loop, called through metrics_ops.
 */
#ifndef LR_AGENTMETRICS_H
#define LR_AGENTMETRICS_H

#include <stdbool.h>

#include "promtext.h"

/* arg is the struct agent. */
void agentmetrics_render(void *arg, struct promtext *pt);
/* /readyz: not stopping, and every link's control session is up. */
bool agentmetrics_ready(void *arg);

#endif
