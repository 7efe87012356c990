/* SPDX-License-Identifier: MIT */
/*
 * json — small JSON writer and bounded parser. See json.h.
 */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ---- */

void json_w_init(struct json_w *w, FILE *f)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
}

/* Writes the comma before a value if one is due. */
static void pre_value(struct json_w *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->need_comma[w->depth]) {
        fputc(',', w->f);
    }
    w->need_comma[w->depth] = 1;
}

static void open_nest(struct json_w *w, char c)
{
    pre_value(w);
    fputc(c, w->f);
    if (w->depth < JSON_MAX_DEPTH) {
        w->depth++;
        w->need_comma[w->depth] = 0;
    }
}

static void close_nest(struct json_w *w, char c)
{
    if (w->depth > 0) {
        w->depth--;
    }
    fputc(c, w->f);
}

void json_obj_begin(struct json_w *w)
{
    open_nest(w, '{');
}

void json_obj_end(struct json_w *w)
{
    close_nest(w, '}');
}

void json_arr_begin(struct json_w *w)
{
    open_nest(w, '[');
}

void json_arr_end(struct json_w *w)
{
    close_nest(w, ']');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min, cp;
    if (c < 0x80) {
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

void json_write_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s != '\0') {
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else if (c >= 0x80) {
            size_t n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
                continue;
            }
            fwrite(s, 1, n, f);
            s += n;
            continue;
        } else {
            fputc((int)c, f);
        }
        s++;
    }
    fputc('"', f);
}

void json_key(struct json_w *w, const char *key)
{
    pre_value(w);
    json_write_string(w->f, key);
    fputc(':', w->f);
    w->after_key = 1;
}

void json_str(struct json_w *w, const char *s)
{
    pre_value(w);
    json_write_string(w->f, s);
}

void json_int(struct json_w *w, int64_t v)
{
    pre_value(w);
    fprintf(w->f, "%" PRId64, v);
}

void json_uint(struct json_w *w, uint64_t v)
{
    pre_value(w);
    fprintf(w->f, "%" PRIu64, v);
}

void json_bool(struct json_w *w, int v)
{
    pre_value(w);
    fputs(v ? "true" : "false", w->f);
}

void json_null(struct json_w *w)
{
    pre_value(w);
    fputs("null", w->f);
}

void json_kv_str(struct json_w *w, const char *key, const char *s)
{
    json_key(w, key);
    json_str(w, s);
}

void json_kv_int(struct json_w *w, const char *key, int64_t v)
{
    json_key(w, key);
    json_int(w, v);
}

void json_kv_uint(struct json_w *w, const char *key, uint64_t v)
{
    json_key(w, key);
    json_uint(w, v);
}

void json_kv_bool(struct json_w *w, const char *key, int v)
{
    json_key(w, key);
    json_bool(w, v);
}

void json_val_write(struct json_w *w, const struct json_val *v)
{
    switch (v->type) {
    case JSON_NULL:
        json_null(w);
        break;
    case JSON_BOOL:
        json_bool(w, v->b);
        break;
    case JSON_NUM:
        if (v->is_int) {
            json_int(w, v->i);
        } else {
            pre_value(w);
            fprintf(w->f, "%.17g", v->num);
        }
        break;
    case JSON_STR:
        json_str(w, v->str);
        break;
    case JSON_ARR:
        json_arr_begin(w);
        for (size_t i = 0; i < v->n; i++) {
            json_val_write(w, &v->items[i]);
        }
        json_arr_end(w);
        break;
    case JSON_OBJ:
        json_obj_begin(w);
        for (size_t i = 0; i < v->n; i++) {
            json_key(w, v->keys[i]);
            json_val_write(w, &v->items[i]);
        }
        json_obj_end(w);
        break;
    }
}

/* ---- parser ---- */

struct parser {
    const char *p;
    const char *end;
};

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static int parse_value(struct parser *ps, struct json_val *v, int depth);

static void val_done(struct json_val *v)
{
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys != NULL) {
            free(v->keys[i]);
        }
        val_done(&v->items[i]);
    }
    free(v->keys);
    free(v->items);
}

void json_free(struct json_val *v)
{
    if (v != NULL) {
        val_done(v);
        free(v);
    }
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            return -EINVAL;
        }
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a \u escape (after the 'u'), combining surrogate pairs. */
static int parse_u_escape(struct parser *ps, unsigned *cp)
{
    unsigned hi, lo;
    if (ps->end - ps->p < 4 || hex4(ps->p, &hi) != 0) {
        return -EINVAL;
    }
    ps->p += 4;
    if (hi >= 0xdc00 && hi <= 0xdfff) {
        return -EINVAL;
    }
    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
            hex4(ps->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
            return -EINVAL;
        }
        ps->p += 6;
        hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (hi == 0) {
        return -EINVAL; /* no NUL inside C strings */
    }
    *cp = hi;
    return 0;
}

static int parse_escape(struct parser *ps, char *o, size_t *olen)
{
    char c = *ps->p++;
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c != '\0' ? strchr(from, c) : NULL;
    if (hit != NULL) {
        o[(*olen)++] = to[hit - from];
        return 0;
    }
    if (c == 'u') {
        unsigned cp;
        if (parse_u_escape(ps, &cp) != 0) {
            return -EINVAL;
        }
        *olen += put_utf8(o + *olen, cp);
        return 0;
    }
    return -EINVAL;
}

/* Parses a string (at the opening quote) into a fresh heap buffer. */
static int parse_string(struct parser *ps, char **out)
{
    /* Output is never longer than the input span. */
    const char *start = ++ps->p;
    size_t olen = 0;
    char *o = malloc((size_t)(ps->end - start) + 1);
    if (o == NULL) {
        return -ENOMEM;
    }
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            free(o);
            return -EINVAL;
        }
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end || parse_escape(ps, o, &olen) != 0) {
                free(o);
                return -EINVAL;
            }
            continue;
        }
        o[olen++] = (char)c;
        ps->p++;
    }
    if (ps->p >= ps->end) {
        free(o);
        return -EINVAL;
    }
    ps->p++;
    o[olen] = '\0';
    *out = o;
    return 0;
}

static int parse_number(struct parser *ps, struct json_val *v)
{
    const char *s = ps->p;
    const char *q = s;
    int is_int = 1;
    if (q < ps->end && *q == '-') {
        q++;
    }
    if (q >= ps->end || *q < '0' || *q > '9' ||
        (*q == '0' && q + 1 < ps->end && q[1] >= '0' && q[1] <= '9')) {
        return -EINVAL;
    }
    while (q < ps->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
                           *q == '+' || *q == '-')) {
        if (*q == '.' || *q == 'e' || *q == 'E') {
            is_int = 0;
        }
        q++;
    }
    char buf[64];
    size_t n = (size_t)(q - s);
    if (n >= sizeof(buf)) {
        return -EINVAL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *endp;
    errno = 0;
    v->type = JSON_NUM;
    v->num = strtod(buf, &endp);
    if (*endp != '\0') {
        return -EINVAL;
    }
    if (is_int) {
        errno = 0;
        long long ll = strtoll(buf, &endp, 10);
        if (errno == 0 && *endp == '\0') {
            v->is_int = 1;
            v->i = ll;
        }
    }
    ps->p = q;
    return 0;
}

static int parse_literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        return -EINVAL;
    }
    ps->p += n;
    return 0;
}

/* Appends a fresh zeroed item to v (array or object); returns it. */
static struct json_val *add_item(struct json_val *v, size_t *cap)
{
    if (v->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct json_val *ni = realloc(v->items, ncap * sizeof(*ni));
        if (ni == NULL) {
            return NULL;
        }
        v->items = ni;
        if (v->type == JSON_OBJ) {
            char **nk = realloc(v->keys, ncap * sizeof(*nk));
            if (nk == NULL) {
                return NULL;
            }
            v->keys = nk;
        }
        *cap = ncap;
    }
    memset(&v->items[v->n], 0, sizeof(v->items[0]));
    if (v->type == JSON_OBJ) {
        v->keys[v->n] = NULL;
    }
    return &v->items[v->n++];
}

static int parse_container(struct parser *ps, struct json_val *v, int depth, char close)
{
    size_t cap = 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        if (close == '}') {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                return -EINVAL;
            }
            int r = parse_string(ps, &key);
            if (r != 0) {
                return r;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                return -EINVAL;
            }
            ps->p++;
        }
        struct json_val *item = add_item(v, &cap);
        if (item == NULL) {
            free(key);
            return -ENOMEM;
        }
        if (close == '}') {
            v->keys[v->n - 1] = key;
        }
        int r = parse_value(ps, item, depth + 1);
        if (r != 0) {
            return r;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        return -EINVAL;
    }
}

static int parse_value(struct parser *ps, struct json_val *v, int depth)
{
    if (depth > JSON_MAX_DEPTH) {
        return -EINVAL;
    }
    skip_ws(ps);
    if (ps->p >= ps->end) {
        return -EINVAL;
    }
    switch (*ps->p) {
    case '{':
        v->type = JSON_OBJ;
        return parse_container(ps, v, depth, '}');
    case '[':
        v->type = JSON_ARR;
        return parse_container(ps, v, depth, ']');
    case '"':
        v->type = JSON_STR;
        return parse_string(ps, &v->str);
    case 't':
        v->type = JSON_BOOL;
        v->b = 1;
        return parse_literal(ps, "true");
    case 'f':
        v->type = JSON_BOOL;
        return parse_literal(ps, "false");
    case 'n':
        v->type = JSON_NULL;
        return parse_literal(ps, "null");
    default:
        return parse_number(ps, v);
    }
}

int json_parse(const char *text, size_t len, struct json_val **out)
{
    if (len > JSON_MAX_INPUT) {
        return -EINVAL;
    }
    struct parser ps = {text, text + len};
    struct json_val *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    int r = parse_value(&ps, v, 0);
    if (r == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            r = -EINVAL;
        }
    }
    if (r != 0) {
        json_free(v);
        return r;
    }
    *out = v;
    return 0;
}

const struct json_val *json_get(const struct json_val *v, const char *key)
{
    if (v == NULL || v->type != JSON_OBJ) {
        return NULL;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->keys[i], key) == 0) {
            return &v->items[i];
        }
    }
    return NULL;
}

int64_t json_get_int(const struct json_val *v, const char *key, int64_t dflt)
{
    const struct json_val *m = json_get(v, key);
    return m != NULL && m->type == JSON_NUM && m->is_int ? m->i : dflt;
}

const char *json_get_str(const struct json_val *v, const char *key, const char *dflt)
{
    const struct json_val *m = json_get(v, key);
    return m != NULL && m->type == JSON_STR ? m->str : dflt;
}

int json_get_bool(const struct json_val *v, const char *key, int dflt)
{
    const struct json_val *m = json_get(v, key);
    return m != NULL && m->type == JSON_BOOL ? m->b : dflt;
}
