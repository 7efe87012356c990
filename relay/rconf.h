/* SPDX-License-Identifier: MIT */
/*
 * rconf — the relay's effective configuration from its sources, in order of
 * precedence: command-line flags, then the environment (LINKRELAY_STATE_DIR),
 * then the config file, then the defaults (registry/relaycfg.c).
 *
 * The config file is --config FILE (must exist) or STATE_DIR/linkrelay.conf
 * (optional). Paths not set anywhere derive from the state directory:
 * relay.key, linkrelay.db and admin.sock in it. Used at start-up and on
 * SIGHUP (a small local file read; the only file read on the loop).
 */
#ifndef LR_RCONF_H
#define LR_RCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "relaycfg.h"

struct rconf_cli {
    const char *listen[RELAYCFG_MAX_ADDRS];
    size_t n_listen;
    const char *advertise[RELAYCFG_MAX_ADDRS];
    size_t n_advertise;
    const char *state_dir;
    const char *config;
    const char *key_file;
    const char *database;
    const char *admin_socket;
    const char *log_level;
    const char *metrics_listen; /* "off" or HOST:PORT */
    bool takeover;              /* --takeover: listeners from the running relay (D25) */
};

/* Builds the configuration. Returns 0, or -EINVAL/-ENOENT/-EIO with a
 * one-line reason in err. *out is written only on success; *config_path
 * (cap RELAYCFG_PATH_MAX) gets the file used or "" when none. */
int rconf_load(const struct rconf_cli *cli, struct relaycfg *out, char *config_path, char *err,
               size_t errlen);

#endif
