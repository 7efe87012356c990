/* SPDX-License-Identifier: MIT */
/*
 * relaykeys — the relay keys linkagent learned (RELAY_KEY, docs/protocol.md
 * §5.2, design.md D21), kept beside the config file as FILE.relaykeys, so a
 * relay key rotation needs no new token.
 *
 * The file maps a relay key an agent pins (from a token or relay_key) to the
 * key the relay announced as its next one, one line each, '#' comments:
 *
 *     lrpub1<old> 2 lrpub1<new>
 *
 * relaykeys_apply follows the map (old → new → newer, at most
 * RELAYKEYS_MAX hops), so a link configured with an older key uses the
 * newest one learned; a key the operator configures that the map does not
 * name is used as it is. The file holds public keys only, but it decides
 * whom the agent trusts as its relay: it is written like the key files
 * (mode 0600, temporary file, fsync, rename).
 *
 * The peer keys a link took from PEER_KEY with a valid endorsement (D21)
 * are kept the same way in FILE.peerkeys: old peer key, the peer's side
 * (0 = a, 1 = b) in place of the key id, new peer key.
 *
 * Functions return 0 or a negative errno; the readers write a one-line
 * reason into err.
 */
#ifndef LR_AGENT_RELAYKEYS_H
#define LR_AGENT_RELAYKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define RELAYKEYS_MAX      64   /* entries; the oldest goes first */
#define RELAYKEYS_MAX_SIZE 8192 /* bytes of the file */

struct relaykeys_entry {
    uint8_t old_pub[KEY_LEN];
    uint8_t id;
    uint8_t pub[KEY_LEN];
};

struct relaykeys {
    size_t n;
    struct relaykeys_entry e[RELAYKEYS_MAX];
};

/* Parses text (NUL-terminated) into *out. -EINVAL with err naming the line. */
int relaykeys_parse(const char *text, struct relaykeys *out, char *err, size_t errlen);
/* Reads and parses path; a missing file is an empty map (0). */
int relaykeys_read(const char *path, struct relaykeys *out, char *err, size_t errlen);
/* Writes k to path atomically with mode 0600, title as its first line's
 * comment. */
int relaykeys_write(const char *path, const struct relaykeys *k, const char *title);
/* Adds old → (id, pub), replacing an entry for old; when full, drops the
 * oldest entry. */
void relaykeys_add(struct relaykeys *k, const uint8_t old_pub[KEY_LEN], uint8_t id,
                   const uint8_t pub[KEY_LEN]);
/* Replaces (*id, pub) by what the map says they became, following it. */
void relaykeys_apply(const struct relaykeys *k, uint8_t *id, uint8_t pub[KEY_LEN]);

#endif
