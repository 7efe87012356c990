/* SPDX-License-Identifier: MIT */
/*
 * exposition — what the relay's /metrics says (docs/guide.md "Monitoring"):
 * the counters the relay already keeps (struct stats, admit, the zero-copy
 * slots, the link index, accounting, registry sync) and per-link series
 * when metrics_per_link is on, for at most metrics_max_links links. The
 * process figures (process_*) are metrics.c's: they are read off the loop.
 *
 * Part of the relay's top, beside relay.c: it reads struct relay (never
 * writes it) and counts nothing itself, so every figure has one source. Runs
 * on the loop, called through metrics_ops by metrics.c.
 */
#ifndef LR_EXPOSITION_H
#define LR_EXPOSITION_H

#include <stdbool.h>

#include "promtext.h"

/* arg is the struct relay. */
void exposition_render(void *arg, struct promtext *pt);
/* /readyz: listening on every configured address, the registry read within
 * EXPOSITION_REGISTRY_STALE_MS, not stopping. */
bool exposition_ready(void *arg);

#define EXPOSITION_REGISTRY_STALE_MS 10000

#endif
