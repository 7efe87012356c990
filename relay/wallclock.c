/* SPDX-License-Identifier: MIT */
#include "wallclock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The test hook (wallclock.h): the offset in the file named by
 * WALLCLOCK_TEST_ENV, read at every call; 0 when unset, unreadable or not a
 * number. */
static int64_t wallclock_test_offset(void)
{
    const char *path = getenv(WALLCLOCK_TEST_ENV);
    char buf[32], *end;
    long long v;
    size_t n;
    FILE *f;

    if (path == NULL || path[0] == '\0')
        return 0;
    f = fopen(path, "re");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    v = strtoll(buf, &end, 10);
    if (end == buf)
        return 0;
    return (int64_t)v;
}

uint64_t wallclock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + wallclock_test_offset());
}
