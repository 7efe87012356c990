/* SPDX-License-Identifier: MIT */
/*
 * fmt — see fmt.h.
 */
#include "fmt.h"

#include <stdio.h>
#include <time.h>

void fmt_time(int64_t ms, char *out, size_t cap)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);

    if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, cap, "-");
        return;
    }
    if (strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "-");
}

void fmt_duration(int64_t s, char *out, size_t cap)
{
    int64_t d, h, m, sec;

    if (s < 0)
        s = 0;
    d = s / 86400;
    h = s / 3600 % 24;
    m = s / 60 % 60;
    sec = s % 60;
    if (d > 0)
        snprintf(out, cap, "%lldd%02lldh%02lldm%02llds", (long long)d, (long long)h, (long long)m,
                 (long long)sec);
    else if (h > 0)
        snprintf(out, cap, "%lldh%02lldm%02llds", (long long)h, (long long)m, (long long)sec);
    else if (m > 0)
        snprintf(out, cap, "%lldm%02llds", (long long)m, (long long)sec);
    else
        snprintf(out, cap, "%llds", (long long)sec);
}
