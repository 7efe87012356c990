/* SPDX-License-Identifier: MIT */
/*
 * relaykey — the relay's static key file (docs/internals/registry.md).
 *
 * The file holds the relay's current X25519 key pair and optionally a next
 * one (rotation overlap), each with a one-byte key id. Text, one entry per
 * line, '#' starts a comment line, blank lines are ignored:
 *
 *     # linkrelay relay key file — secret, keep it 0600
 *     current 1 lrkey1...
 *     next 2 lrkey1... until 1796593100823
 *
 * `until` (optional, ms since the epoch) ends the overlap of a rotation
 * (`linkctl relay rotate-key`, docs/design.md D21): from then on the next key
 * is the current one and the old current key is retired (relaykey_settle;
 * the file itself is rewritten only by the next rotation).
 *
 * Only private keys are stored; the public keys are derived on load. Key ids
 * are 0..255; current and next must differ.
 *
 * The file is created with mode 0600 atomically (temp file in the same
 * directory, fsync, rename, fsync of the directory), so a crash leaves either
 * no file or a complete one. relaykey_load refuses a file that group or
 * others may read or write (-EPERM, "chmod 600 it"): the key authenticates
 * the relay to every agent.
 *
 * Functions return 0 or a negative errno and, when errbuf is not NULL, write
 * a one-line reason into it. struct relaykey holds secrets: callers wipe it
 * with relaykey_wipe when done.
 */
#ifndef LR_RELAYKEY_H
#define LR_RELAYKEY_H

#include <stddef.h>
#include <stdint.h>

#define RELAYKEY_LEN        32
#define RELAYKEY_DEFAULT_ID 1 /* key id of a freshly created file */

struct relaykey_entry {
    uint8_t id;
    uint8_t pub[RELAYKEY_LEN];
    uint8_t priv[RELAYKEY_LEN];
};

struct relaykey {
    struct relaykey_entry current;
    int has_next;
    struct relaykey_entry next;
    int64_t next_until_ms; /* the overlap's end, 0: none (only with has_next) */
};

/* Loads path. -ENOENT if it does not exist, -EPERM if group/other have any
 * access, -EINVAL on a malformed file (the reason names the line). */
int relaykey_load(const char *path, struct relaykey *out, char *errbuf, size_t errlen);
/* Creates path with a fresh current key (id RELAYKEY_DEFAULT_ID), atomically,
 * mode 0600. -EEXIST if the file exists (never overwrites). */
int relaykey_create(const char *path, struct relaykey *out, char *errbuf, size_t errlen);
/* Loads path, or creates it if it does not exist (then *created = 1). Two
 * processes racing here both end up with the same key. created may be NULL. */
int relaykey_load_or_create(const char *path, struct relaykey *out, int *created, char *errbuf,
                            size_t errlen);
/* Writes k to path atomically (0600), replacing any existing file. Used by
 * key rotation tooling and tests. */
int relaykey_save(const char *path, const struct relaykey *k, char *errbuf, size_t errlen);
/* Ends a due overlap: when k has a next key whose until is at or before
 * now_ms, the next key becomes current and the old one is gone. Returns 1 if
 * it did, else 0. Everyone who uses the key file settles it after loading
 * (relay, linkctl), so a deadline holds without the file being rewritten. */
int relaykey_settle(struct relaykey *k, int64_t now_ms);
/* Returns the entry with key id `id`, or NULL. The pointer is into k. */
const struct relaykey_entry *relaykey_by_id(const struct relaykey *k, uint8_t id);
/* Zeroes the secrets in k (sodium_memzero). Accepts NULL. */
void relaykey_wipe(struct relaykey *k);

#endif
