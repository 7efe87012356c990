/* SPDX-License-Identifier: MIT */
/*
 * json — a small JSON writer (to a FILE) and a small bounded parser (for the
 * one-line replies of the relay's admin socket). Used by linkctl.
 *
 * Writer: struct json_w tracks commas; the caller calls json_key before each
 * value inside an object. Strings are escaped per RFC 8259: '"', '\\' and
 * control characters are escaped, bytes that are not valid UTF-8 become
 * U+FFFD, so the output is always valid JSON in UTF-8. Nesting deeper than
 * JSON_MAX_DEPTH is a programming error and is ignored (not written).
 *
 * Parser: json_parse builds a tree the caller frees with json_free. It
 * rejects anything that is not exactly one JSON value (whitespace around it
 * allowed), nesting deeper than JSON_MAX_DEPTH, and input longer than
 * JSON_MAX_INPUT. Integers that fit int64 keep their exact value (is_int).
 */
#ifndef LR_JSON_H
#define LR_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32
#define JSON_MAX_INPUT (1024 * 1024)

struct json_w {
    FILE *f;
    int depth;
    int need_comma[JSON_MAX_DEPTH + 1];
    int after_key;
};

void json_w_init(struct json_w *w, FILE *f);
void json_obj_begin(struct json_w *w);
void json_obj_end(struct json_w *w);
void json_arr_begin(struct json_w *w);
void json_arr_end(struct json_w *w);
void json_key(struct json_w *w, const char *key);
void json_str(struct json_w *w, const char *s);
void json_int(struct json_w *w, int64_t v);
void json_uint(struct json_w *w, uint64_t v);
void json_bool(struct json_w *w, int v);
void json_null(struct json_w *w);
/* A key and its value in one call: json_key() then json_str() etc. */
void json_kv_str(struct json_w *w, const char *key, const char *s);
void json_kv_int(struct json_w *w, const char *key, int64_t v);
void json_kv_uint(struct json_w *w, const char *key, uint64_t v);
void json_kv_bool(struct json_w *w, const char *key, int v);
/* Writes v (a parsed value) back out as JSON. */
struct json_val;
void json_val_write(struct json_w *w, const struct json_val *v);
/* Writes s as a quoted, escaped JSON string (no comma handling). */
void json_write_string(FILE *f, const char *s);

enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUM,
    JSON_STR,
    JSON_ARR,
    JSON_OBJ,
};

/* A parsed value. For JSON_ARR items[0..n); for JSON_OBJ keys[0..n) and
 * items[0..n). str is NUL-terminated (a string with \u0000 is rejected). */
struct json_val {
    enum json_type type;
    int b;
    int is_int;
    int64_t i;
    double num;
    char *str;
    size_t n;
    char **keys;
    struct json_val *items;
};

/* Parses text[0..len). Returns 0 or -EINVAL (malformed, too deep, too long)
 * or -ENOMEM. *out is a tree owned by the caller (json_free). */
int json_parse(const char *text, size_t len, struct json_val **out);
void json_free(struct json_val *v);
/* Member `key` of an object, or NULL (also when v is NULL or not an object). */
const struct json_val *json_get(const struct json_val *v, const char *key);
/* Typed accessors with a fallback when v is missing or of another type. */
int64_t json_get_int(const struct json_val *v, const char *key, int64_t dflt);
const char *json_get_str(const struct json_val *v, const char *key, const char *dflt);
int json_get_bool(const struct json_val *v, const char *key, int dflt);

#endif
