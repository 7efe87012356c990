/* SPDX-License-Identifier: MIT */
/*
 * statusjson — what the status page polls, GET /status.json on the metrics
 * listener (docs/design.md D22 "Status page"): one JSON object
 *   {"now_ms":..., "status":{...}, "links":[...], "history":{...},
 *    "events":[...]}
 * where "status" is the admin socket's `status` (linkctl status --json),
 * "links" its `links` (admin_links_json), "history" the last hour
 * (history.h) and "events" the newest ACCT_RECENT events (acct.h) with the
 * link's current name. Nothing is counted here: every figure has one source.
 *
 * Part of the relay's top, beside exposition.c: reads struct relay, on the
 * loop, called through metrics_ops.status by metrics.c.
 */
#ifndef LR_STATUSJSON_H
#define LR_STATUSJSON_H

#include <stddef.h>

#include <jansson.h>

struct relay;

/* The document as compact JSON text (malloc'd, *len set), with status (a
 * new reference, taken; NULL fails) as its "status"; NULL when out of
 * memory. */
char *statusjson_render(const struct relay *r, json_t *status, size_t *len);

#endif
