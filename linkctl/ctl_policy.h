/* SPDX-License-Identifier: MIT */
/*
 * ctl_policy — per-link policy in linkctl (issue 18): `linkctl link set` and
 * the policy options `link add` shares with it. Each setting has its own
 * functions, named after it: the byte quota (--quota BYTES/PERIOD|none,
 * D29, below) and the source allowlist (docs/design.md D27):
 *
 *   --allow CIDR     both sides      --allow-a CIDR / --allow-b CIDR  one side
 *   --allow none     clears (both, or the side of --allow-a/-b none)
 *
 * Repeatable. On `link set` the lists of the sides named are replaced by what
 * is given; a side not named keeps its list. The bandwidth limits (D28):
 *
 *   --rate R         both directions  --rate-a-to-b R / --rate-b-to-a R  one
 *   --rate none      no limit
 */
#ifndef LR_CTL_POLICY_H
#define LR_CTL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ctl.h"
#include "store.h"

/* The allowlist options of one command line. */
struct ctl_allow_opt {
    unsigned sides; /* bit 0: side a named, bit 1: side b named */
    struct store_allow lists;
};

/* Takes every --allow, --allow-a and --allow-b (and its value) out of
 * argv[1..*argc), parsed and checked, so the command's own parser sees the
 * rest. CTL_EXIT_OK, or CTL_EXIT_USAGE after printing why (cmd, e.g.
 * "link set", names the command); nothing is written either way. */
int ctl_allow_take(const char *cmd, int *argc, char **argv, struct ctl_allow_opt *o);
/* Stores the lists of the sides o names (store_allow_set); prints why on a
 * failure (CTL_EXIT_FAIL). CTL_EXIT_OK when o names no side. */
int ctl_allow_store(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                    const struct ctl_allow_opt *o);
/* {"a": [...], "b": [...]}: each side's prefixes, [] when it accepts every
 * source; an invalid side (store_allow.invalid) adds "a_invalid": true. */
json_t *ctl_allow_json(const struct store_allow *a);
/* "allow a:       198.18.0.0/15 ...", "allow b:       any" lines. */
void ctl_allow_print(const struct store_allow *a);

/* The bandwidth limits (docs/design.md D28). */
/* --rate, --rate-a-to-b, --rate-b-to-a (NULL: absent) of `link add` into
 * rate[] (0: none); 0, or -1 after printing a usage error. */
int ctl_rate_opts_parse(const char *both, const char *a_to_b, const char *b_to_a, uint64_t out[2]);
/* "none" or "N bytes/s (M bit/s)", in at most CTL_RATE_TEXT bytes. */
#define CTL_RATE_TEXT 80
void ctl_rate_text(uint64_t rate, char *out, size_t cap);
/* Sets obj's "rate": {"a_to_b": N|null, "b_to_a": N|null}; 0 or -1. */
int ctl_rate_json(json_t *obj, const uint64_t rate[2]);

/* The byte quota (D29): --quota
 * BYTES/PERIOD or none, parsed in full (CTL_EXIT_USAGE after printing why)
 * before ctl_policy_quota_store writes it (CTL_EXIT_OK, or CTL_EXIT_FAIL
 * after printing why); what `link show` prints of a link's quota (l as
 * filled by store_quota_get). */
struct ctl_quota {
    int clear; /* --quota none */
    uint64_t limit;
    int period; /* enum store_quota_period */
};
int ctl_policy_quota_parse(const char *cmd, const char *text, struct ctl_quota *out);
int ctl_policy_quota_store(struct store *st, const uint8_t *id, const struct ctl_quota *q);
json_t *ctl_policy_quota_json(const struct store_link *l);
void ctl_policy_quota_print(const struct store_link *l);

/* `linkctl link set NAME|ID [policy options]` (argv[0] = "set"). */
int ctl_link_set(struct ctl *c, int argc, char **argv);

#endif
