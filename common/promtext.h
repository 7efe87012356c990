/* SPDX-License-Identifier: MIT */
/*
 * promtext — writes the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): a family's
 * "# HELP" and "# TYPE" lines, then its samples, label values escaped.
 *
 * Sans-I/O: text goes into a heap buffer that grows up to a hard maximum
 * given at init. Past it (or when memory runs out) the writer stops and
 * promtext_take fails, so a caller never serves a cut-off exposition. The
 * caller writes every sample of a family right after its promtext_family
 * (the format wants a family's samples together) and passes metric and label
 * names that are valid Prometheus names; only label values and help text are
 * escaped here.
 */
#ifndef LR_PROMTEXT_H
#define LR_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROMTEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct promtext {
    char *p;
    size_t len, cap, max;
    int err; /* 0, or -E2BIG (over max) or -ENOMEM: the text is unusable */
};

struct promtext_label {
    const char *name;
    const char *value; /* any bytes: escaped, bytes that are not UTF-8 replaced */
};

/* An empty writer whose text may grow to max bytes. */
void promtext_init(struct promtext *pt, size_t max);
/* Frees the text (NULL-safe on a taken writer). */
void promtext_done(struct promtext *pt);
/* "# HELP name help" and "# TYPE name type"; type is "counter", "gauge", ... */
void promtext_family(struct promtext *pt, const char *name, const char *type, const char *help);
/* One sample "name{l1="v1",...} value"; n labels (0: no braces). */
void promtext_u64(struct promtext *pt, const char *name, const struct promtext_label *labels,
                  size_t n, uint64_t value);
void promtext_f64(struct promtext *pt, const char *name, const struct promtext_label *labels,
                  size_t n, double value);
/* Hands over the NUL-terminated text (the caller frees it) and its length;
 * -E2BIG when it grew past max, -ENOMEM when memory ran out. The writer is
 * empty afterwards either way. */
int promtext_take(struct promtext *pt, char **text, size_t *len);

#endif
