/* SPDX-License-Identifier: MIT */
/*
 * e2epriv — the states of struct e2e, shared by the files of the e2e module
 * (e2e.c, e2eresume.c) and nobody else.
 */
#ifndef LR_E2EPRIV_H
#define LR_E2EPRIV_H

enum {
    ST_HS = 0,        /* waiting for the peer's handshake message */
    ST_HEADER = 1,    /* handshake done, waiting for the peer's 24-byte header */
    ST_OPEN = 2,      /* records */
    ST_DEAD = 3,      /* failed, or reset by either side: nothing more moves in */
    ST_SUSPENDED = 4, /* resumable, no leg (§7.3) */
    ST_RHELLO = 5,    /* a resumed leg: our resume HELLO queued, waiting for theirs */
};

#endif
