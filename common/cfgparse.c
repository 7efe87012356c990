/* SPDX-License-Identifier: MIT */
#include "cfgparse.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
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

/* One section header found by the pre-scan. */
struct scan_section {
    int line;
    size_t off, len; /* the name inside the brackets, in the text */
};

/* The pre-scan's view of the text and the state of the inih pass. */
struct scan {
    const char *text;
    const struct cfgparse_ops *ops;
    void *user;
    struct cfgparse_error *err;
    int *keylines; /* line of the k-th "key = value" line */
    size_t nkeys, nkeys_cap, k;
    struct scan_section *sections;
    size_t nsections, next_section;
    int failed;
    /* The first error the pre-scan found: keys before it still go to the
     * handlers first, so errors come out in file order. */
    int stop_line;
    struct cfgparse_error scan_err;
};

/*
 * Classifies one line exactly as inih does with our options (BOM skipped on
 * line 1, whitespace stripped, ';'/'#' comments at the start only, '[' starts
 * a section, otherwise '=' or ':' separates a key). Syntax errors are
 * reported here, so inih itself only ever fails through our handler.
 */
static int scan_line(struct scan *s, const char *p, size_t len, int line)
{
    size_t i = 0, end = len;

    if (line == 1 && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < end && isspace((unsigned char)p[i]))
        i++;
    while (end > i && isspace((unsigned char)p[end - 1]))
        end--;
    if (i == end || p[i] == ';' || p[i] == '#')
        return 0;
    if (p[i] == '[') {
        const char *close = memchr(p + i, ']', end - i);
        struct scan_section *sec;
        if (close == NULL)
            return cfgparse_fail(&s->scan_err, line, "missing ']' in section header");
        if ((size_t)(close - p) - i - 1 > CFGPARSE_MAX_SECTION)
            return cfgparse_fail(&s->scan_err, line, "section name too long (max %d characters)",
                                 CFGPARSE_MAX_SECTION);
        if (s->nsections == CFGPARSE_MAX_SECTIONS)
            return cfgparse_fail(&s->scan_err, line, "too many sections (max %d)",
                                 CFGPARSE_MAX_SECTIONS);
        sec = &s->sections[s->nsections++];
        sec->line = line;
        sec->off = (size_t)(p - s->text) + i + 1;
        sec->len = (size_t)(close - p) - i - 1;
        return 0;
    }
    for (size_t j = i; j < end; j++) {
        if (p[j] == '=' || p[j] == ':') {
            s->keylines[s->nkeys++] = line;
            return 0;
        }
    }
    return cfgparse_fail(&s->scan_err, line, "syntax error: expected 'key = value' or '[section]'");
}

static int scan_text(struct scan *s, size_t size)
{
    const char *p = s->text;
    int line = 0;

    while (p < s->text + size) {
        const char *nl = memchr(p, '\n', (size_t)(s->text + size - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(s->text + size - p);
        int rc;
        line++;
        if (len > CFGPARSE_MAX_LINE)
            rc = cfgparse_fail(&s->scan_err, line, "line too long (max %d characters)",
                               CFGPARSE_MAX_LINE);
        else
            rc = scan_line(s, p, len, line);
        if (rc != 0) {
            s->stop_line = line;
            return 0;
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return 0;
}

/* Reports the section headers above line (all when line is 0). */
static int flush_sections(struct scan *s, int line)
{
    while (s->next_section < s->nsections &&
           (line == 0 || s->sections[s->next_section].line < line)) {
        struct scan_section *sec = &s->sections[s->next_section++];
        char name[CFGPARSE_MAX_SECTION + 1];
        int rc;
        memcpy(name, s->text + sec->off, sec->len);
        name[sec->len] = '\0';
        rc = s->ops->section(s->user, name, sec->line, s->err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    struct scan *s = user;
    int line;

    if (s->failed)
        return 1;
    if (s->k >= s->nkeys) {
        /* At the pre-scan's error (inih may read a cut long line as a key),
         * or the two disagree about the text: stop either way. */
        if (s->stop_line == 0)
            s->failed = cfgparse_fail(s->err, 0, "internal error: configuration not understood");
        return 0;
    }
    line = s->keylines[s->k++];
    if (flush_sections(s, line) != 0 ||
        s->ops->key(s->user, section, name, value, line, s->err) != 0) {
        s->failed = -EINVAL;
        return 0;
    }
    return 1;
}

static void set_ini_options(void)
{
    ini_allow_multiline = false;
    ini_allow_bom = true;
    ini_allow_inline_comments = false;
    ini_allow_no_value = false;
    ini_stop_on_first_error = true;
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = CFGPARSE_MAX_LINE + 3;
}

int cfgparse_ini(const char *text, const struct cfgparse_ops *ops, void *user,
                 struct cfgparse_error *err)
{
    struct scan s;
    size_t size = strnlen(text, CFGPARSE_MAX_SIZE + 1), lines = 1;
    int rc;

    memset(err, 0, sizeof(*err));
    if (size > CFGPARSE_MAX_SIZE) {
        cfgparse_fail(err, 0, "configuration larger than %d bytes", CFGPARSE_MAX_SIZE);
        return -E2BIG;
    }
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    memset(&s, 0, sizeof(s));
    s.text = text;
    s.ops = ops;
    s.user = user;
    s.err = err;
    s.keylines = calloc(lines, sizeof(*s.keylines));
    s.sections = calloc(CFGPARSE_MAX_SECTIONS, sizeof(*s.sections));
    if (s.keylines == NULL || s.sections == NULL) {
        rc = -ENOMEM;
        cfgparse_fail(err, 0, "out of memory");
        goto out;
    }
    rc = scan_text(&s, size);
    if (rc != 0)
        goto out;
    set_ini_options();
    rc = ini_parse_string(text, ini_cb, &s);
    if (rc == -2) {
        rc = -ENOMEM;
        cfgparse_fail(err, 0, "out of memory");
    } else if (s.failed) {
        rc = -EINVAL;
    } else if (s.k != s.nkeys) {
        rc = cfgparse_fail(err, 0, "internal error: configuration not understood");
    } else if (s.stop_line != 0) {
        /* Sections above the bad line first, then the pre-scan's error. */
        rc = flush_sections(&s, s.stop_line);
        if (rc == 0) {
            *err = s.scan_err;
            rc = -EINVAL;
        }
    } else if (rc != 0) {
        rc = cfgparse_fail(err, rc, "syntax error");
    } else {
        rc = flush_sections(&s, 0);
    }
out:
    free(s.keylines);
    free(s.sections);
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
