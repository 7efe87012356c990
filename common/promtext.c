/* SPDX-License-Identifier: MIT */
#include "promtext.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void promtext_init(struct promtext *pt, size_t max)
{
    memset(pt, 0, sizeof(*pt));
    pt->max = max;
}

void promtext_done(struct promtext *pt)
{
    free(pt->p);
    pt->p = NULL;
    pt->len = pt->cap = 0;
}

/* Room for n more bytes and the NUL; false (and failed) when there is none. */
static bool promtext_room(struct promtext *pt, size_t n)
{
    size_t need, cap;
    char *p;

    if (pt->err != 0)
        return false;
    need = pt->len + n + 1;
    if (need > pt->max) {
        pt->err = -E2BIG;
        return false;
    }
    if (need <= pt->cap)
        return true;
    cap = pt->cap == 0 ? 4096 : pt->cap;
    while (cap < need)
        cap *= 2;
    if (cap > pt->max)
        cap = pt->max;
    p = realloc(pt->p, cap);
    if (p == NULL) {
        pt->err = -ENOMEM;
        return false;
    }
    pt->p = p;
    pt->cap = cap;
    return true;
}

static void promtext_put(struct promtext *pt, const char *s, size_t n)
{
    if (!promtext_room(pt, n))
        return;
    memcpy(pt->p + pt->len, s, n);
    pt->len += n;
    pt->p[pt->len] = '\0';
}

static void promtext_puts(struct promtext *pt, const char *s)
{
    promtext_put(pt, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t promtext_utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Text with backslash and newline escaped, and the double quote too in a
 * label value (the format's two escaping rules); bytes that are not UTF-8
 * become U+FFFD, so the exposition stays valid whatever a name holds. */
static void promtext_escaped(struct promtext *pt, const char *s, bool quote)
{
    const unsigned char *u = (const unsigned char *)s;

    while (*u != '\0') {
        size_t n = promtext_utf8_len(u);
        if (n == 0) {
            promtext_puts(pt, "\xef\xbf\xbd");
            u++;
        } else if (*u == '\\') {
            promtext_puts(pt, "\\\\");
            u++;
        } else if (*u == '\n') {
            promtext_puts(pt, "\\n");
            u++;
        } else if (*u == '"' && quote) {
            promtext_puts(pt, "\\\"");
            u++;
        } else {
            promtext_put(pt, (const char *)u, n);
            u += n;
        }
    }
}

void promtext_family(struct promtext *pt, const char *name, const char *type, const char *help)
{
    promtext_puts(pt, "# HELP ");
    promtext_puts(pt, name);
    promtext_puts(pt, " ");
    promtext_escaped(pt, help, false);
    promtext_puts(pt, "\n# TYPE ");
    promtext_puts(pt, name);
    promtext_puts(pt, " ");
    promtext_puts(pt, type);
    promtext_puts(pt, "\n");
}

static void promtext_series(struct promtext *pt, const char *name,
                            const struct promtext_label *labels, size_t n)
{
    promtext_puts(pt, name);
    if (n == 0)
        return;
    promtext_puts(pt, "{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            promtext_puts(pt, ",");
        promtext_puts(pt, labels[i].name);
        promtext_puts(pt, "=\"");
        promtext_escaped(pt, labels[i].value, true);
        promtext_puts(pt, "\"");
    }
    promtext_puts(pt, "}");
}

void promtext_u64(struct promtext *pt, const char *name, const struct promtext_label *labels,
                  size_t n, uint64_t value)
{
    char num[32];

    promtext_series(pt, name, labels, n);
    snprintf(num, sizeof(num), " %" PRIu64 "\n", value);
    promtext_puts(pt, num);
}

void promtext_f64(struct promtext *pt, const char *name, const struct promtext_label *labels,
                  size_t n, double value)
{
    char num[48];

    promtext_series(pt, name, labels, n);
    if (isnan(value))
        snprintf(num, sizeof(num), " NaN\n");
    else if (isinf(value))
        snprintf(num, sizeof(num), " %sInf\n", value < 0 ? "-" : "+");
    else {
        /* The shortest of %.15g and %.17g that reads back as the same value. */
        snprintf(num, sizeof(num), " %.15g\n", value);
        if (strtod(num, NULL) != value)
            snprintf(num, sizeof(num), " %.17g\n", value);
    }
    promtext_puts(pt, num);
}

int promtext_take(struct promtext *pt, char **text, size_t *len)
{
    int rc;

    if (pt->err == 0 && pt->p == NULL && promtext_room(pt, 0))
        pt->p[0] = '\0';
    rc = pt->err;
    if (rc != 0) {
        promtext_done(pt);
        pt->err = 0;
        return rc;
    }
    *text = pt->p;
    *len = pt->len;
    pt->p = NULL;
    pt->len = pt->cap = 0;
    return 0;
}
