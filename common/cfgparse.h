/* SPDX-License-Identifier: MIT */
/*
 * cfgparse — what linkrelay.conf and linkagent.conf have in common: the INI
 * driver (inih on a string) with line-numbered errors, and the value syntaxes
 * (durations, sizes, rates, counts, octal modes) and their canonical forms.
 *
 * Sans-I/O: the caller reads the file and hands over a NUL-terminated string
 * of at most CFGPARSE_MAX_SIZE bytes.
 */
#ifndef LR_CFGPARSE_H
#define LR_CFGPARSE_H

#include <stddef.h>
#include <stdint.h>

#define CFGPARSE_MAX_SIZE    (1024 * 1024) /* bytes of config text */
#define CFGPARSE_MAX_LINE    8192          /* characters of one line */
#define CFGPARSE_MAX_SECTION 48            /* characters inside [ ] */

/* Where parsing failed: line is 1-based (0 when no line applies, e.g. a
 * missing required key), msg a full sentence without the line prefix. */
struct cfgparse_error {
    int line;
    char msg[256];
};

/* "line N: msg" or just msg when line is 0. */
void cfgparse_error_format(const struct cfgparse_error *e, char *out, size_t cap);

/* Sets e (line and printf-style message). Returns -EINVAL for convenience. */
int cfgparse_fail(struct cfgparse_error *e, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Callbacks of cfgparse_ini. section is the text between the brackets ("" for
 * keys before any section). Return 0 to go on, negative to stop (after
 * filling the error through cfgparse_fail with the given line).
 */
struct cfgparse_ops {
    int (*section)(void *user, const char *section, int line, struct cfgparse_error *err);
    int (*key)(void *user, const char *section, const char *name, const char *value, int line,
               struct cfgparse_error *err);
};

/*
 * Reads text as INI: "[section]" headers, "key = value" or "key: value"
 * lines, whitespace around names and values stripped, whole-line comments
 * starting with '#' or ';', no inline comments (values may contain ';'), no
 * continuation lines, a UTF-8 BOM allowed at the start. We split the text
 * into lines and check size and line length; inih (ini_parse_string, its
 * API in every upstream build) reads each line, the same way whatever
 * options it was compiled with. A line over 190 characters must have its
 * '=', ':' or ']' within them. Every section header, even of an empty
 * section, and every key go to ops in file order with their line. Stops at
 * the first error, whether a syntax error or a callback's. Returns 0,
 * -EINVAL (err filled), -E2BIG (over CFGPARSE_MAX_SIZE) or -ENOMEM, or a
 * callback's negative return. Touches no global state; text is only read.
 */
int cfgparse_ini(const char *text, const struct cfgparse_ops *ops, void *user,
                 struct cfgparse_error *err);

/*
 * Value syntaxes; each returns 0 or -EINVAL (bad syntax) / -ERANGE (outside
 * [min, max]) and writes *out only on success.
 * duration: digits with unit ms, s, m or h; plain digits are seconds
 *           ("500ms", "10s", "2m", "1h", "25"). Result in milliseconds.
 * size:     digits with optional K, M, G (also KiB, MiB, GiB; powers of 1024);
 *           plain digits are bytes ("64K", "4096").
 * rate:     "N/s" or plain N, per second.
 * byterate: bytes per second (docs/design.md D28): digits with optional K,
 *           M, G (also KiB, MiB, GiB; powers of 1024, as a size) for bytes,
 *           or with bit, kbit, Mbit, Gbit (powers of 1000, as network links
 *           are sold) for bits, which must make whole bytes; an optional
 *           "/s" after either ("100Mbit" = 12500000, "64K/s" = 65536).
 * count:    plain decimal digits.
 * mode:     octal digits (a leading 0 is allowed), at most 0777.
 */
int cfgparse_duration(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out);
int cfgparse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cfgparse_rate(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cfgparse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cfgparse_byterate(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cfgparse_mode(const char *s, unsigned *out);

/* Canonical text of a duration ("90s", "500ms", "2m", "1h": the largest unit
 * that divides it) and of a size ("64K", "4096"). Always NUL-terminate. */
void cfgparse_fmt_duration(uint64_t ms, char *out, size_t cap);
void cfgparse_fmt_size(uint64_t bytes, char *out, size_t cap);
/* A byte rate as bits per second in the largest decimal unit that divides
 * it ("100Mbit/s", "8200bit/s"); cfgparse_byterate reads it back. */
void cfgparse_fmt_bitrate(uint64_t bytes_per_s, char *out, size_t cap);

/* A growing text buffer for the normalisers. Zero-initialise; after any
 * failed append oom is set and later appends do nothing; the caller takes p
 * (NUL-terminated) or frees it. */
struct cfgparse_buf {
    char *p;
    size_t len, cap;
    int oom;
};
void cfgparse_buf_printf(struct cfgparse_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Returns the names "error", "warn", "info", "debug" of enum log_level. */
const char *cfgparse_log_level_name(int level);

#endif
