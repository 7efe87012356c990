/* SPDX-License-Identifier: MIT */
/*
 * db_target — what the layer's users and its backends need to know about a
 * database target before opening it: which backend it names, and how it may
 * be shown without its password (db.h). Calls nothing of the layer.
 */
#include "db.h"

#include <stdio.h>
#include <string.h>

bool db_target_is_pg(const char *target)
{
    return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

void db_target_shown(const char *target, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = target;
    const char *auth = strstr(target, "://");
    const char *at = auth ? strpbrk(auth + 3, "@/?") : NULL;
    const char *colon = auth ? strchr(auth + 3, ':') : NULL;
    if (cap == 0) {
        return;
    }
    /* scheme://user:PASSWORD@host: keep up to the colon, hide to the @ */
    bool hide_userinfo = at != NULL && *at == '@' && colon != NULL && colon < at;
    while (*p != '\0' && o + 1 < cap) {
        if (hide_userinfo && p == colon + 1) {
            o += (size_t)snprintf(out + o, cap - o, "***");
            p = at;
            continue;
        }
        if (auth != NULL && p > auth && strncmp(p, "password=", 9) == 0 &&
            (p[-1] == '?' || p[-1] == '&')) {
            o += (size_t)snprintf(out + o, cap - o, "password=***");
            p += strcspn(p, "&");
            continue;
        }
        out[o++] = *p++;
    }
    out[o < cap ? o : cap - 1] = '\0';
}
