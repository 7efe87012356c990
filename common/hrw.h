/* SPDX-License-Identifier: MIT */
/*
 * hrw — rendezvous (highest-random-weight) hashing of a link id over pool
 * members (docs/design.md D34): each member's weight for a link is a keyed
 * BLAKE2b-64 of (member id length ‖ member id ‖ link id); the link's home is
 * the member of highest weight, ties (never seen in practice) to the lower
 * id. Removing a member moves only the links it was home of; adding one
 * takes for it only the links it now outweighs (about 1/n of them).
 * Sans-I/O, pure.
 */
#ifndef LR_HRW_H
#define LR_HRW_H

#include <stddef.h>
#include <stdint.h>

/* The weight of member (a NUL-terminated id of 1..255 bytes) for id. */
uint64_t hrw_weight(const char *member, const uint8_t *id, size_t idlen);
/* The index of the home of id among members[0..n) (NULL entries are
 * skipped); -1 when there is none. */
int hrw_pick(const char *const *members, size_t n, const uint8_t *id, size_t idlen);

#endif
