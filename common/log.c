/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

/*
 * The only process-wide state in the tree: a log sink is a property of the
 * process, not of a relay or agent context, and every module may need it.
 */
static const char *log_prog = "linkrelay";
static enum log_level log_max = LOG_LEVEL_INFO;
static int log_journal; /* stderr is the journal: lines carry "<N>" priorities */

/* systemd sets JOURNAL_STREAM=DEV:INO for a service whose stderr is a
 * journal stream; that it names our stderr (and not one we inherited and
 * redirected) is checked against fstat(2), as sd-daemon(3) says to. */
static int log_stderr_is_journal(void)
{
    const char *v = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    int n = 0;

    if (v == NULL || sscanf(v, "%llu:%llu%n", &dev, &ino, &n) != 2 || v[n] != '\0')
        return 0;
    if (fstat(2, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *progname, enum log_level level)
{
    log_prog = progname;
    log_max = level;
    log_journal = log_stderr_is_journal();
}

enum log_level log_get_level(void)
{
    return log_max;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

__attribute__((format(printf, 3, 0))) static void log_vline(enum log_level lvl, int errnum,
                                                            const char *fmt, va_list ap)
{
    static const char *const tags[] = {"error", "warn", "info", "debug"};
    /* syslog priorities (sd-daemon.h's SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG) */
    static const char *const prio[] = {"<3>", "<4>", "<6>", "<7>"};
    char msg[1024], when[48] = "";

    if (lvl > log_max)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (getenv("LOG_TIME") != NULL) {
        struct timespec ts;
        struct tm tm;
        char sec[24];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when, sizeof(when), "%s.%03ldZ ", sec, ts.tv_nsec / 1000000L);
    }
    /* One write per line; the priority, when there is one, comes first. */
    if (errnum != 0)
        fprintf(stderr, "%s%s%s: %s: %s: %s\n", log_journal ? prio[lvl] : "", when, log_prog,
                tags[lvl], msg, strerror(errnum));
    else
        fprintf(stderr, "%s%s%s: %s: %s\n", log_journal ? prio[lvl] : "", when, log_prog, tags[lvl],
                msg);
}

#define LOG_BODY(lvl, errnum)                                                                      \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_vline((lvl), (errnum), fmt, ap);                                                       \
        va_end(ap);                                                                                \
    } while (0)

void log_debug(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void log_info(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_INFO, 0);
}

void log_warn(const char *fmt, ...)
{
    int saved = errno;
    LOG_BODY(LOG_LEVEL_WARN, saved);
}

void log_warnx(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_WARN, 0);
}

void log_error(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, 0);
}

void fatal(const char *fmt, ...)
{
    LOG_BODY(LOG_LEVEL_ERROR, 0);
    exit(1);
}
