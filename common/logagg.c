/* SPDX-License-Identifier: MIT */
#include "logagg.h"

#include <string.h>

void logagg_init(struct logagg *a)
{
    memset(a, 0, sizeof(*a));
}

/* The key as a slot stores it: at most LOGAGG_KEY_MAX - 1 bytes. */
static bool key_eq(const struct logagg_slot *s, const char *key)
{
    size_t n = strnlen(key, LOGAGG_KEY_MAX - 1);
    return strlen(s->key) == n && memcmp(s->key, key, n) == 0;
}

bool logagg_admit(struct logagg *a, const char *key, uint64_t now_ms)
{
    struct logagg_slot *free_slot = NULL;

    for (int i = 0; i < LOGAGG_SLOTS; i++) {
        struct logagg_slot *s = &a->slot[i];
        if (!s->used) {
            if (free_slot == NULL)
                free_slot = s;
            continue;
        }
        if (!key_eq(s, key))
            continue;
        /* Counted also after the window ended and before logagg_expire ran:
         * the count then goes into the summary that is due. */
        s->held++;
        return false;
    }
    if (free_slot != NULL) {
        size_t n = strnlen(key, LOGAGG_KEY_MAX - 1);
        memcpy(free_slot->key, key, n);
        free_slot->key[n] = '\0';
        free_slot->since_ms = now_ms;
        free_slot->held = 0;
        free_slot->used = true;
    }
    return true;
}

void logagg_expire(struct logagg *a, uint64_t now_ms, bool all, logagg_say_fn say, void *arg)
{
    for (int i = 0; i < LOGAGG_SLOTS; i++) {
        struct logagg_slot *s = &a->slot[i];
        uint64_t age;
        if (!s->used)
            continue;
        age = now_ms > s->since_ms ? now_ms - s->since_ms : 0;
        if (!all && age < LOGAGG_WINDOW_MS)
            continue;
        if (s->held > 0)
            say(arg, s->key, s->held, age);
        else
            s->used = false;
        s->held = 0;
        s->since_ms = now_ms;
        if (all)
            s->used = false;
    }
}
