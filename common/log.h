/* SPDX-License-Identifier: MIT */
/*
 * log — the one logging API of the programs (relayd style).
 *
 * common/ itself never logs: its functions return errors and the daemon decides
 * what to say, once, where it decides. This module is the exception by design:
 * it is the process-wide sink the three programs share. It writes one line per
 * call to stderr (journald picks stderr up under systemd), prefixed with a
 * level and, when LOG_TIME is set, a timestamp. When stderr is the journal
 * ($JOURNAL_STREAM names it, checked at log_init), each line starts with its
 * syslog priority, "<3>" error to "<7>" debug, so `journalctl -p warning`
 * selects by level.
 */
#ifndef LR_LOG_H
#define LR_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

/* Sets the program name and the most verbose level printed. */
void log_init(const char *progname, enum log_level level);
/* Parses "error", "warn", "info", "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
enum log_level log_get_level(void);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs at error level and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
