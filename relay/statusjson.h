/* SPDX-License-Identifier: MIT */
/*
 * statusjson — what the status page polls, GET /status.json on the metrics
 * listener (docs/design.md D22 "Status page"): one JSON object
 *   {"now_ms":..., "status":{...}, "links_total":N, "links_up":N,
 *    "links_omitted":N, "links":[...], "history":{...}, "events":[...]}
 * where "status" is the admin socket's `status` (linkctl status --json),
 * "links" its `links` (admin_links_json) cut to STATUSJSON_MAX_LINKS (those
 * with a side online first, then by name), "links_up" those with both sides
 * online, "history" the last hour (history.h) and "events" the newest
 * ACCT_RECENT events (acct.h) with the link's current name. Nothing is
 * counted here: every figure has one source.
 *
 * Part of the relay's top, beside exposition.c: reads struct relay, on the
 * loop, called through metrics_ops.status by metrics.c.
 */
#ifndef LR_STATUSJSON_H
#define LR_STATUSJSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct relay;

/* The status reply's "failures" and "limits_hit" objects: each counter of
 * stats' failure causes (STATS_FAIL_COUNT) and of admission's limit kinds
 * (ADMIT_COUNT) by its name; NULL when out of memory. */
json_t *statusjson_failures(const uint64_t *fail);
json_t *statusjson_limits_hit(const uint64_t *hit);

/* Links listed at most: the page stays usable and a render stays short
 * (some 300 bytes a link) with a large registry. */
#define STATUSJSON_MAX_LINKS 1000

/* Cuts links (admin_links_json's array) to max entries, keeping those with
 * a side online first, then by name; how many were left out. Also counts
 * the links with both sides online into *up (before cutting). */
size_t statusjson_cap_links(json_t *links, size_t max, size_t *up);

/* The document as compact JSON text (malloc'd, *len set), with status (a
 * new reference, taken; NULL fails) as its "status"; NULL when out of
 * memory. */
char *statusjson_render(const struct relay *r, json_t *status, size_t *len);

#endif
