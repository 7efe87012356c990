/* SPDX-License-Identifier: MIT */
/*
 * lrjson — the conventions every JSON text linkrelay writes follows (the admin
 * socket's replies, linkctl --json), on top of jansson (docs/design.md).
 *
 * Output is compact and in insertion order: {"a":1,"b":[2,3]}, no spaces, no
 * trailing newline (linkctl adds one). jansson keeps an object's members in
 * insertion order (since 2.8), writes integers with %lld and UTF-8 as is
 * (only '"', '\\' and control characters are escaped).
 *
 * jansson refuses two things the old hand-written writer accepted, and these
 * helpers decide them once: integers above INT64_MAX (json_int_t is long long)
 * and strings that are not valid UTF-8.
 */
#ifndef LR_LRJSON_H
#define LR_LRJSON_H

#include <jansson.h>
#include <stdint.h>

/* json_dumps/json_dumpf flags for everything we write. */
#define LRJSON_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* An unsigned counter as a JSON integer: values above INT64_MAX (never seen:
 * 2^63 bytes or milliseconds) are written as INT64_MAX rather than wrapping to
 * a negative number. */
json_int_t lrjson_u64(uint64_t v);

/* A new JSON string of s (not NULL), with every byte that is not part of a
 * valid UTF-8 sequence replaced by U+FFFD, so text from a file name or the
 * database always makes valid JSON. NULL only when out of memory. */
json_t *lrjson_str(const char *s);

#endif
