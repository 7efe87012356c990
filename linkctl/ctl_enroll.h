/* SPDX-License-Identifier: MIT */
/*
 * ctl_enroll — `linkctl link add --enroll SIDE [--expires D] [--uses N]`
 * (docs/design.md D30): the options, the code and its anchor key, the
 * registry row, and what `link add` and `link show` print about it.
 */
#ifndef LR_CTL_ENROLL_H
#define LR_CTL_ENROLL_H

#include <jansson.h>
#include <stdint.h>

#include "enroll.h"
#include "store.h"

#define CTL_ENROLL_EXPIRES_DEFAULT_MS (24ull * 3600 * 1000)
#define CTL_ENROLL_EXPIRES_MAX_MS     (720ull * 3600 * 1000)

struct ctl_enroll {
    int side; /* -1: no --enroll */
    uint64_t expires_ms;
    uint32_t uses;
    int64_t until_ms; /* wall clock, set by ctl_enroll_prepare */
    uint8_t secret[ENROLL_SECRET_LEN];
    uint8_t hash[STORE_ENROLL_HASH_LEN];
    char code[ENROLL_TEXT_SIZE];
};

/* --enroll, --expires, --uses (each may be NULL) into e; 0, or CTL_EXIT_USAGE
 * after a message naming the option and its range. */
int ctl_enroll_parse(const char *cmd, const char *side, const char *expires, const char *uses,
                     struct ctl_enroll *e);
/* A new code for e->side of link id: anchor gets the key to register for the
 * side (the anchor's public key). 0 or -1 (message printed). */
int ctl_enroll_prepare(struct ctl_enroll *e, const uint8_t id[STORE_LINK_ID_LEN],
                       uint8_t anchor[STORE_KEY_LEN]);
/* Writes the row (store_enroll_set); 0 or -1 (message printed). */
int ctl_enroll_store(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                     const struct ctl_enroll *e, const uint8_t anchor[STORE_KEY_LEN]);
/* link add, text: the code, its limits and the side's token (no key). */
void ctl_enroll_print(const struct ctl_enroll *e, const char *token);
/* link add --json: {"side","code","expires_ms","uses"}. */
json_t *ctl_enroll_json(const struct ctl_enroll *e);
/* link show: one line per side with a code; and its JSON (null: none). */
void ctl_enroll_show(const struct store_link *l);
json_t *ctl_enroll_show_json(const struct store_enroll *e);
/* "pending", "spent" or "expired". */
const char *ctl_enroll_state(const struct store_enroll *e, int64_t now_ms);
/* Wipes the secret. */
void ctl_enroll_wipe(struct ctl_enroll *e);

#endif
