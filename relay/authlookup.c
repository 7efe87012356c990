/* SPDX-License-Identifier: MIT */
#include "authlookup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct authlookup {
    struct sync *sync;
    struct conn *c;
    struct auth a;
    uint8_t spub[32];
    authlookup_resume_fn resume;
    bool pending;
    int rc;
};

static void authlookup_done(void *arg, int rc)
{
    struct authlookup *al = arg;
    struct auth a = al->a;
    uint8_t spub[32];

    /* Copies: resume may close the connection, which frees al. */
    memcpy(spub, al->spub, sizeof(spub));
    al->pending = false;
    al->rc = rc;
    al->resume(al->c, &a, spub);
    sodium_memzero(&a, sizeof(a));
}

bool authlookup_wait(struct authlookup **slot, struct sync *s, struct conn *c, const struct auth *a,
                     const uint8_t *spub, authlookup_resume_fn resume)
{
    struct authlookup *al = *slot;

    if (s == NULL || al != NULL)
        return false;
    if ((al = calloc(1, sizeof(*al))) == NULL)
        return false; /* answered: unknown link, as before it could wait */
    *slot = al;
    al->sync = s;
    al->c = c;
    al->a = *a;
    memcpy(al->spub, spub, sizeof(al->spub));
    al->resume = resume;
    if (sync_degraded(s)) {
        al->rc = -EIO;
        return false;
    }
    al->rc = sync_lookup(s, a->link_id, authlookup_done, al);
    al->pending = al->rc == 0;
    return al->pending;
}

bool authlookup_pending(const struct authlookup *al)
{
    return al != NULL && al->pending;
}

bool authlookup_failed(const struct authlookup *al)
{
    return al != NULL && !al->pending && al->rc != 0;
}

void authlookup_free(struct authlookup **slot)
{
    struct authlookup *al = *slot;

    if (al == NULL)
        return;
    if (al->pending)
        sync_lookup_cancel(al->sync, al);
    sodium_memzero(al, sizeof(*al));
    free(al);
    *slot = NULL;
}
