/* SPDX-License-Identifier: MIT */
/*
 * e2eresume — the resume ids of a stream's epochs (e2e_resume_next,
 * e2e_resume_match, e2e_resume_held: declared in e2e.h) and what a finished
 * stream keeps to answer a resume (docs/protocol.md §7.3, "A finished
 * stream"), sans-I/O.
 *
 * A resumable stream's responder is finished when its FINAL was
 * acknowledged, it acknowledged the initiator's FINAL, and it sealed FINISHED.
 * If the leg dies before FINISHED reached the initiator, the initiator
 * suspends and sends RESUME; the responder answers from a struct e2e_fin,
 * kept by its owner for resume_timeout instead of the whole session: the
 * resume key, the last epoch started, the two totals and the record suite
 * (no buffers, no record keys). e2e_fin_restore makes a session out of it again, suspended,
 * whose resumed leg carries only the RESUME records and FINISHED. The
 * restored session accepts no data (the peer's FINAL was received: any DATA
 * is a record after the end) and has none to send.
 */
#ifndef LR_E2ERESUME_H
#define LR_E2ERESUME_H

#include <stdint.h>

#include "e2e.h"

struct e2e_fin {
    uint8_t rk[RESUME_KEY_LEN];
    uint32_t epoch;    /* the last epoch started: its id and earlier are spent */
    uint64_t sent;     /* our data bytes, all acknowledged, FINAL included */
    uint64_t received; /* the peer's data bytes, all delivered, FINAL included */
    uint64_t cap;      /* the replay buffer's bound (e2e_init_resumable) */
    uint8_t suite;     /* the record suite the handshake chose (enum rec_suite, D37) */
};

/*
 * What the responder of a resumable stream keeps once it has nothing left
 * to send or deliver: its FINAL acknowledged, the peer's FINAL delivered and
 * acknowledged (FINISHED need not have left). 0, or E2E_E_RESUME for any
 * other stream (an initiator, not resumable, failed, data outstanding).
 */
int e2e_fin_save(const struct e2e *s, struct e2e_fin *f);
/* A session on caller memory (as e2e_init), suspended, from what was kept;
 * then e2e_resume_start and the rest as for any suspended stream. 0 or
 * E2E_E_ARG. e2e_done when done. */
int e2e_fin_restore(struct e2e *s, const struct e2e_fin *f);
/* The epoch of a RESUMED's resume id for it (e2e_resume_match). */
int e2e_fin_match(const struct e2e_fin *f, const uint8_t id[RESUME_ID_LEN], uint32_t *epoch);
void e2e_fin_wipe(struct e2e_fin *f);

#endif
