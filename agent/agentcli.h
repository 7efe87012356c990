/* SPDX-License-Identifier: MIT */
/*
 * agentcli — the one-link configuration of `linkagent --token ...` (the
 * command-line counterpart of agentcfg.c's [link NAME] sections).
 *
 * Pure: the caller reads --token-file and --key-file and passes their text;
 * nothing here does I/O. Errors come back as one line for a human that names
 * what is wrong ("invalid token: checksum mismatch (likely a typo)",
 * "--listen 'x': missing ':port'", ...).
 */
#ifndef LR_AGENTCLI_H
#define LR_AGENTCLI_H

#include <stddef.h>

#include "agentcfg.h"

struct agentcli_opts {
    const char *token;    /* token text (required) */
    const char *key_text; /* private key text for a token without one, or NULL */
    const char *connect;  /* or NULL */
    const char *policy;   /* "on-demand", "immediate" or NULL */
    const char *const *listen;
    size_t n_listen;
    const char *const *relay; /* replaces the token's list when n_relay > 0 */
    size_t n_relay;
};

/*
 * Builds a whole configuration (one link; the command-line defaults of
 * agentcfg_defaults: backoff 0.5 s to 30 s, the rest as in a file). Returns 0 and *out (free
 * with agentcfg_free), or -EINVAL with err filled, or -ENOMEM.
 */
int agentcli_config(const struct agentcli_opts *o, struct agentcfg **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Keeps [A-Za-z0-9._-] of a token's free-form name (others become '_'),
 * at most AGENTCFG_NAME_MAX characters; "link" if nothing is left. */
void agentcli_safe_name(const char *in, char *out, size_t cap);

#endif
