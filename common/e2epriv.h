/* SPDX-License-Identifier: MIT */
/*
 * e2epriv — the states of struct e2e, shared by the files of the e2e module
 * (e2e.c, e2eresume.c) and nobody else.
 */
#ifndef LR_E2EPRIV_H
#define LR_E2EPRIV_H

#include <stddef.h>
#include <string.h>

#include "e2e.h"

enum {
    ST_HS = 0,        /* waiting for the peer's handshake message */
    ST_HEADER = 1,    /* handshake done, waiting for the peer's 24-byte header */
    ST_OPEN = 2,      /* records */
    ST_DEAD = 3,      /* failed, or reset by either side: nothing more moves in */
    ST_SUSPENDED = 4, /* resumable, no leg (§7.3) */
    ST_RHELLO = 5,    /* a resumed leg: our resume HELLO queued, waiting for theirs */
};

/*
 * struct e2e is about 210 KiB, almost all of it the FIFOs' memory at its end
 * (in_mem onwards). A new stream clears only the fields before them
 * (E2E_HEAD_LEN bytes), so pages of the buffers a short stream never uses
 * are never touched (docs/design.md D45); the FIFOs track how far they were
 * written (bq_top), which is what e2e_done wipes of plain_mem.
 */
#define E2E_HEAD_LEN offsetof(struct e2e, in_mem)

/* A kept leg's stream has read the peer's last record (e2e_keep, D48):
 * what follows on the leg is the next stream's (e2ekeep.c). */
bool e2e_peer_done(const struct e2e *s);

static inline void e2e_clear(struct e2e *s)
{
    memset(s, 0, E2E_HEAD_LEN);
}

#endif
