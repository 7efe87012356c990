/* SPDX-License-Identifier: MIT */
/*
 * json_mini — a tiny JSON reader for test data (test code only, never for peer
 * input). Parses a whole document into a tree of struct json values on the
 * heap; json_free releases it. Strings support the escapes \" \\ \/ \b \f \n
 * \r \t (\u is rejected: the vector files are plain ASCII). Numbers, true,
 * false and null are kept as raw text.
 */
#ifndef LR_TEST_JSON_MINI_H
#define LR_TEST_JSON_MINI_H

#include <stdlib.h>
#include <string.h>

enum json_type { JSON_STR, JSON_LIT, JSON_ARR, JSON_OBJ };

struct json {
    enum json_type type;
    char *str;           /* JSON_STR and JSON_LIT: NUL-terminated text */
    size_t n;            /* JSON_ARR, JSON_OBJ: number of items */
    char **keys;         /* JSON_OBJ: n keys */
    struct json **items; /* JSON_ARR, JSON_OBJ: n values */
};

struct json_parser {
    const char *p, *end;
};

static void json_free(struct json *v)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys != NULL) {
            free(v->keys[i]);
        }
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static void json_ws(struct json_parser *jp)
{
    while (jp->p < jp->end &&
           (*jp->p == ' ' || *jp->p == '\n' || *jp->p == '\r' || *jp->p == '\t')) {
        jp->p++;
    }
}

static char *json_string(struct json_parser *jp)
{
    if (jp->p >= jp->end || *jp->p != '"') {
        return NULL;
    }
    jp->p++;
    char *s = malloc((size_t)(jp->end - jp->p) + 1);
    size_t n = 0;
    if (s == NULL) {
        return NULL;
    }
    while (jp->p < jp->end && *jp->p != '"') {
        char c = *jp->p++;
        if (c == '\\') {
            if (jp->p >= jp->end) {
                break;
            }
            c = *jp->p++;
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *at = strchr(from, c);
            if (at == NULL || c == '\0') {
                free(s);
                return NULL;
            }
            c = to[at - from];
        }
        s[n++] = c;
    }
    if (jp->p >= jp->end) {
        free(s);
        return NULL;
    }
    jp->p++;
    s[n] = '\0';
    return s;
}

static struct json *json_value(struct json_parser *jp, int depth);

static int json_push(struct json *v, char *key, struct json *item)
{
    struct json **items = realloc(v->items, (v->n + 1) * sizeof(*items));
    if (items == NULL) {
        return -1;
    }
    v->items = items;
    if (v->type == JSON_OBJ) {
        char **keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));
        if (keys == NULL) {
            return -1;
        }
        v->keys = keys;
        v->keys[v->n] = key;
    }
    v->items[v->n++] = item;
    return 0;
}

static struct json *json_container(struct json_parser *jp, int depth, enum json_type type)
{
    char close = type == JSON_OBJ ? '}' : ']';
    struct json *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    v->type = type;
    jp->p++;
    json_ws(jp);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        json_ws(jp);
        if (type == JSON_OBJ) {
            key = json_string(jp);
            json_ws(jp);
            if (key == NULL || jp->p >= jp->end || *jp->p != ':') {
                free(key);
                break;
            }
            jp->p++;
        }
        struct json *item = json_value(jp, depth + 1);
        if (item == NULL || json_push(v, key, item) != 0) {
            free(key);
            json_free(item);
            break;
        }
        json_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == close) {
            jp->p++;
            return v;
        }
        break;
    }
    json_free(v);
    return NULL;
}

static struct json *json_value(struct json_parser *jp, int depth)
{
    json_ws(jp);
    if (jp->p >= jp->end || depth > 32) {
        return NULL;
    }
    if (*jp->p == '{') {
        return json_container(jp, depth, JSON_OBJ);
    }
    if (*jp->p == '[') {
        return json_container(jp, depth, JSON_ARR);
    }
    struct json *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    if (*jp->p == '"') {
        v->type = JSON_STR;
        v->str = json_string(jp);
    } else {
        const char *start = jp->p;
        while (jp->p < jp->end && strchr(",]} \n\r\t", *jp->p) == NULL) {
            jp->p++;
        }
        v->type = JSON_LIT;
        v->str = jp->p > start ? strndup(start, (size_t)(jp->p - start)) : NULL;
    }
    if (v->str == NULL) {
        free(v);
        return NULL;
    }
    return v;
}

/* Parses len bytes; NULL on any syntax error or trailing garbage. */
static struct json *json_parse(const char *text, size_t len)
{
    struct json_parser jp = {text, text + len};
    struct json *v = json_value(&jp, 0);
    json_ws(&jp);
    if (v != NULL && jp.p != jp.end) {
        json_free(v);
        return NULL;
    }
    return v;
}

/* The member named key of an object, or NULL. */
static const struct json *json_get(const struct json *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJ) {
        return NULL;
    }
    for (size_t i = 0; i < obj->n; i++) {
        if (strcmp(obj->keys[i], key) == 0) {
            return obj->items[i];
        }
    }
    return NULL;
}

#endif
