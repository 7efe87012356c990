/* SPDX-License-Identifier: MIT */
#include "cfgparse.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFGPARSE_MAX_SECTIONS 1024

void cfgparse_error_format(const struct cfgparse_error *e, char *out, size_t cap)
{
    if (cap == 0)
        return;
    if (e->line > 0)
        snprintf(out, cap, "line %d: %s", e->line, e->msg);
    else
        snprintf(out, cap, "%s", e->msg);
}

int cfgparse_fail(struct cfgparse_error *e, int line, const char *fmt, ...)
{
    va_list ap;

    e->line = line;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/*
 * The INI driver (docs/internals/keys-tokens.md). We split the text into
 * lines and trim them; inih classifies each line, so the line number is ours
 * and the INI syntax is inih's. Each line is one ini_parse_string call on
 *
 *   [a]     a section of our own ("[b]" when the line starts "[a"),
 *   LINE    the line with ';' and '#' after its first character masked to
 *           'x' (no build may read inline comments), at most
 *           CFGPARSE_INIH_HEAD characters of it (upstream's default line
 *           buffer is 200 bytes), and a mark 'x',
 *   x=x     the sentinel, always the last pair inih reports; its section
 *           tells whether LINE was a section header, and which.
 *
 * With nothing before LINE to continue and LINE never inih's first line,
 * the result does not depend on the options inih was compiled with. inih
 * hands over copies, so names and values come from our copy of the line, by
 * the lengths inih reported: a key's name starts the line, a section's name
 * follows the '[', a value ends at the mark (the line's end) and is as long
 * as inih's minus the mark; if that is only the mark, the value starts past
 * what inih saw, after whitespace.
 */
#define CFGPARSE_INIH_HEAD 190

/* One pair inih reported. */
struct ini_pair {
    size_t name_len, value_len; /* value_len includes the mark */
    int no_value;               /* value NULL (INI_ALLOW_NO_VALUE) */
    int sentinel;               /* the pair is "x=x" */
    size_t section_len;         /* of its section, which is cut to fit: */
    char section[CFGPARSE_MAX_SECTION + 2];
};

/* What inih made of the three lines: the last two pairs it reported. */
struct ini_result {
    int pairs;
    struct ini_pair prev, last;
};

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct ini_result *r = user;
    struct ini_pair *q = &r->last;

    if (name == NULL) /* a new section (INI_CALL_HANDLER_ON_NEW_SECTION) */
        return 1;
    r->prev = r->last;
    r->pairs++;
    q->name_len = strlen(name);
    q->value_len = value != NULL ? strlen(value) : 0;
    q->no_value = value == NULL;
    q->sentinel = value != NULL && strcmp(name, "x") == 0 && strcmp(value, "x") == 0;
    q->section_len = strlen(section);
    snprintf(q->section, sizeof(q->section), "%s", section);
    return 1;
}

#if INI_HANDLER_LINENO
static int ini_cb(void *user, const char *section, const char *name, const char *value, int lineno)
{
    (void)lineno;
    return on_pair(user, section, name, value);
}
#else
static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    return on_pair(user, section, name, value);
}
#endif

/* The state of one cfgparse_ini call. */
struct driver {
    const struct cfgparse_ops *ops;
    void *user;
    struct cfgparse_error *err;
    char section[CFGPARSE_MAX_SECTION + 1];
    int nsections;
    char feed[CFGPARSE_INIH_HEAD + 16]; /* the three lines for inih */
};

static int driver_syntax_error(struct driver *d, const char *line, size_t len, int lineno)
{
    /* A ']', '=' or ':' past what inih saw ends a name far too long. */
    const char *rest = line + CFGPARSE_INIH_HEAD;
    size_t nrest = len > CFGPARSE_INIH_HEAD ? len - CFGPARSE_INIH_HEAD : 0;

    if (line[0] == '[' && nrest > 0 && memchr(rest, ']', nrest) != NULL)
        return cfgparse_fail(d->err, lineno, "section name too long (max %d characters)",
                             CFGPARSE_MAX_SECTION);
    if (line[0] == '[')
        return cfgparse_fail(d->err, lineno, "missing ']' in section header");
    if (nrest > 0 && (memchr(rest, '=', nrest) != NULL || memchr(rest, ':', nrest) != NULL))
        return cfgparse_fail(d->err, lineno, "key name too long (max %d characters)",
                             CFGPARSE_INIH_HEAD - 1);
    return cfgparse_fail(d->err, lineno, "syntax error: expected 'key = value' or '[section]'");
}

/* A section header whose name (after the '[') inih found n characters long. */
static int driver_section(struct driver *d, const char *line, size_t n, int lineno)
{
    if (n > CFGPARSE_MAX_SECTION)
        return cfgparse_fail(d->err, lineno, "section name too long (max %d characters)",
                             CFGPARSE_MAX_SECTION);
    if (d->nsections == CFGPARSE_MAX_SECTIONS)
        return cfgparse_fail(d->err, lineno, "too many sections (max %d)", CFGPARSE_MAX_SECTIONS);
    d->nsections++;
    memcpy(d->section, line + 1, n);
    d->section[n] = '\0';
    return d->ops->section(d->user, d->section, lineno, d->err);
}

/* One trimmed, non-empty line of len characters in our writable copy (of
 * at least len + 1 bytes): what inih makes of it, then our callbacks. */
static int driver_line(struct driver *d, char *line, size_t len, int lineno)
{
    size_t head = len < CFGPARSE_INIH_HEAD ? len : CFGPARSE_INIH_HEAD, fed = head + 1, start;
    char own = len > 1 && line[1] == 'a' ? 'b' : 'a';
    char *p = d->feed;
    struct ini_result r;
    struct ini_pair *q;
    int rc;

    p += snprintf(p, 8, "[%c]\n", own);
    for (size_t i = 0; i < head; i++)
        *p++ = i > 0 && (line[i] == ';' || line[i] == '#') ? 'x' : line[i];
    memcpy(p, "x\nx=x\n", sizeof("x\nx=x\n"));
    memset(&r, 0, sizeof(r));
    rc = ini_parse_string(d->feed, ini_cb, &r);
    if (rc == -2) {
        cfgparse_fail(d->err, 0, "out of memory");
        return -ENOMEM;
    }
    if (rc == 2 || (rc == 0 && r.pairs == 2 && r.prev.no_value))
        return driver_syntax_error(d, line, len, lineno);
    if (rc != 0 || !r.last.sentinel || r.pairs < 1 || r.pairs > 2)
        return cfgparse_fail(d->err, lineno,
                             "internal error: inih read the line in parts (INI_MAX_LINE < 200?)");
    if (r.pairs == 1) {
        q = &r.last;
        if (q->section_len == 1 && q->section[0] == own)
            return 0; /* a comment */
        return driver_section(d, line, q->section_len, lineno);
    }
    /* A key (see above for where its name and value are), read in our own
     * section, and the sentinel in it too. */
    q = &r.prev;
    if (q->section_len != 1 || q->section[0] != own || r.last.section_len != 1 ||
        r.last.section[0] != own || q->value_len == 0 || q->value_len > fed ||
        q->name_len >= fed - q->value_len)
        return cfgparse_fail(d->err, lineno,
                             "internal error: inih read the line in parts (INI_MAX_LINE < 200?)");
    start = fed - q->value_len;
    if (q->value_len == 1)
        while (start < len && isspace((unsigned char)line[start]))
            start++;
    line[q->name_len] = '\0';
    line[len] = '\0';
    return d->ops->key(d->user, d->section, line, line + start, lineno, d->err);
}

int cfgparse_ini(const char *text, const struct cfgparse_ops *ops, void *user,
                 struct cfgparse_error *err)
{
    struct driver *d;
    size_t size = strnlen(text, CFGPARSE_MAX_SIZE + 1);
    const char *p = text, *end = text + size;
    char *line;
    int lineno = 0, rc = 0;

    memset(err, 0, sizeof(*err));
    if (size > CFGPARSE_MAX_SIZE) {
        cfgparse_fail(err, 0, "configuration larger than %d bytes", CFGPARSE_MAX_SIZE);
        return -E2BIG;
    }
    d = calloc(1, sizeof(*d));
    line = malloc(CFGPARSE_MAX_LINE + 1);
    if (d == NULL || line == NULL) {
        cfgparse_fail(err, 0, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    d->ops = ops;
    d->user = user;
    d->err = err;
    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p), i = 0;
        lineno++;
        if (len > CFGPARSE_MAX_LINE) {
            rc = cfgparse_fail(err, lineno, "line too long (max %d characters)", CFGPARSE_MAX_LINE);
            break;
        }
        if (lineno == 1 && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
            i = 3;
        while (i < len && isspace((unsigned char)p[i]))
            i++;
        while (len > i && isspace((unsigned char)p[len - 1]))
            len--;
        if (len > i) {
            memcpy(line, p + i, len - i);
            rc = driver_line(d, line, len - i, lineno);
        }
        p = nl ? nl + 1 : end;
    }
out:
    if (line != NULL)
        sodium_memzero(line, CFGPARSE_MAX_LINE + 1); /* agent keys pass through */
    if (d != NULL)
        sodium_memzero(d, sizeof(*d));
    free(line);
    free(d);
    return rc;
}

/* Decimal digits at s; sets *end past them. -EINVAL if none, -ERANGE on
 * overflow of 2^53 (far above any limit, and exact in a double). */
static int parse_digits(const char *s, uint64_t *v, const char **end)
{
    uint64_t x = 0;
    size_t i = 0;

    while (s[i] >= '0' && s[i] <= '9') {
        x = x * 10 + (uint64_t)(s[i] - '0');
        if (x > (1ULL << 53))
            return -ERANGE;
        i++;
    }
    if (i == 0)
        return -EINVAL;
    *v = x;
    *end = s + i;
    return 0;
}

static int scaled(uint64_t v, uint64_t mul, uint64_t min, uint64_t max, uint64_t *out)
{
    if (v > max / mul)
        return -ERANGE;
    v *= mul;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

struct cfg_unit {
    const char *unit;
    uint64_t mul;
};

/* A decimal number followed by one of the units (exact match, "" allowed). */
static int parse_with_units(const char *s, const struct cfg_unit *units, size_t n, uint64_t min,
                            uint64_t max, uint64_t *out)
{
    const char *end;
    uint64_t v;
    int rc = parse_digits(s, &v, &end);

    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strcmp(end, units[i].unit) == 0)
            return scaled(v, units[i].mul, min, max, out);
    return -EINVAL;
}

int cfgparse_duration(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
    static const struct cfg_unit units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};

    return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), min_ms, max_ms, out);
}

int cfgparse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    static const struct cfg_unit units[] = {
        {"", 1},           {"K", 1024},        {"k", 1024},
        {"KiB", 1024},     {"M", 1024 * 1024}, {"MiB", 1024 * 1024},
        {"G", 1ULL << 30}, {"GiB", 1ULL << 30}};

    return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), min, max, out);
}

int cfgparse_rate(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *end;
    uint64_t v;
    int rc = parse_digits(s, &v, &end);

    if (rc != 0)
        return rc;
    if (strcmp(end, "") != 0 && strcmp(end, "/s") != 0)
        return -EINVAL;
    return scaled(v, 1, min, max, out);
}

int cfgparse_byterate(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    /* mul: bytes per unit, or bits per unit for the bit units (div 8). */
    static const struct {
        const char *unit;
        uint64_t mul, div;
    } units[] = {
        {"", 1, 1},
        {"K", 1024, 1},
        {"k", 1024, 1},
        {"KiB", 1024, 1},
        {"M", 1024 * 1024, 1},
        {"MiB", 1024 * 1024, 1},
        {"G", 1ULL << 30, 1},
        {"GiB", 1ULL << 30, 1},
        {"bit", 1, 8},
        {"kbit", 1000, 8},
        {"Kbit", 1000, 8},
        {"Mbit", 1000000, 8},
        {"Gbit", 1000000000, 8},
    };
    char unit[8];
    const char *end;
    size_t len;
    uint64_t v;
    int rc = parse_digits(s, &v, &end);

    if (rc != 0)
        return rc;
    len = strlen(end);
    if (len >= 2 && strcmp(end + len - 2, "/s") == 0)
        len -= 2;
    if (len >= sizeof(unit))
        return -EINVAL;
    memcpy(unit, end, len);
    unit[len] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        if (v > UINT64_MAX / units[i].mul)
            return -ERANGE;
        v *= units[i].mul;
        if (v % units[i].div != 0)
            return -EINVAL; /* bits that make no whole byte */
        return scaled(v / units[i].div, 1, min, max, out);
    }
    return -EINVAL;
}

int cfgparse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *end;
    uint64_t v;
    int rc = parse_digits(s, &v, &end);

    if (rc != 0)
        return rc;
    if (*end != '\0')
        return -EINVAL;
    return scaled(v, 1, min, max, out);
}

int cfgparse_mode(const char *s, unsigned *out)
{
    unsigned v = 0;
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '7' || i == 4)
            return -EINVAL;
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (i == 0)
        return -EINVAL;
    if (v > 0777)
        return -ERANGE;
    *out = v;
    return 0;
}

void cfgparse_fmt_duration(uint64_t ms, char *out, size_t cap)
{
    if (ms != 0 && ms % 3600000 == 0)
        snprintf(out, cap, "%lluh", (unsigned long long)(ms / 3600000));
    else if (ms != 0 && ms % 60000 == 0)
        snprintf(out, cap, "%llum", (unsigned long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(out, cap, "%llus", (unsigned long long)(ms / 1000));
    else
        snprintf(out, cap, "%llums", (unsigned long long)ms);
}

void cfgparse_fmt_size(uint64_t bytes, char *out, size_t cap)
{
    if (bytes != 0 && bytes % (1ULL << 30) == 0)
        snprintf(out, cap, "%lluG", (unsigned long long)(bytes >> 30));
    else if (bytes != 0 && bytes % (1ULL << 20) == 0)
        snprintf(out, cap, "%lluM", (unsigned long long)(bytes >> 20));
    else if (bytes != 0 && bytes % 1024 == 0)
        snprintf(out, cap, "%lluK", (unsigned long long)(bytes >> 10));
    else
        snprintf(out, cap, "%llu", (unsigned long long)bytes);
}

void cfgparse_fmt_bitrate(uint64_t bytes_per_s, char *out, size_t cap)
{
    static const struct {
        const char *unit;
        uint64_t div;
    } units[] = {{"Gbit", 1000000000}, {"Mbit", 1000000}, {"kbit", 1000}};
    uint64_t bits = bytes_per_s * 8;

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (bits != 0 && bits % units[i].div == 0) {
            snprintf(out, cap, "%llu%s/s", (unsigned long long)(bits / units[i].div),
                     units[i].unit);
            return;
        }
    }
    snprintf(out, cap, "%llubit/s", (unsigned long long)bits);
}

void cfgparse_buf_printf(struct cfgparse_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->p == NULL ? NULL : b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t ncap = b->cap == 0 ? 4096 : b->cap * 2;
            char *np;
            while (ncap - b->len <= (size_t)n)
                ncap *= 2;
            np = realloc(b->p, ncap);
            if (np == NULL) {
                b->oom = 1;
                return;
            }
            b->p = np;
            b->cap = ncap;
        }
    }
}

const char *cfgparse_log_level_name(int level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    return level >= 0 && level < 4 ? names[level] : "info";
}
