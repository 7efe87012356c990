/* SPDX-License-Identifier: MIT */
#include "rconf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#define RCONF_DEFAULT_ADMIN "/run/linkrelay/admin.sock" /* relaycfg's default */

/* Reads a whole small file; -ENOENT, -E2BIG, -EIO. *out is heap, NUL-ended. */
static int rconf_read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;

    if (f == NULL)
        return -errno;
    buf = malloc(CFGPARSE_MAX_SIZE + 2);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    n = fread(buf, 1, CFGPARSE_MAX_SIZE + 1, f);
    if (ferror(f)) {
        fclose(f);
        free(buf);
        return -EIO;
    }
    fclose(f);
    if (n > CFGPARSE_MAX_SIZE) {
        free(buf);
        return -E2BIG;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int rconf_path(char *dst, const char *a, const char *b, char *err, size_t errlen)
{
    int n = b != NULL ? snprintf(dst, RELAYCFG_PATH_MAX, "%s/%s", a, b)
                      : snprintf(dst, RELAYCFG_PATH_MAX, "%s", a);

    if (n < 0 || n >= RELAYCFG_PATH_MAX) {
        snprintf(err, errlen, "path too long: %s", a);
        return -EINVAL;
    }
    return 0;
}

static int rconf_addrs(const char *const *text, size_t n, unsigned flags, struct addr_spec *out,
                       size_t *nout, const char *what, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = addr_parse(text[i], flags, &out[i]);
        if (rc != 0) {
            snprintf(err, errlen, "%s '%s': %s", what, text[i], addr_strerror(rc));
            return -EINVAL;
        }
    }
    *nout = n;
    return 0;
}

/* Flags win over the file: applied after parsing. */
static int rconf_apply_cli(const struct rconf_cli *cli, const char *state_dir, struct relaycfg *cfg,
                           char *err, size_t errlen)
{
    char derived[RELAYCFG_PATH_MAX];
    int rc = 0;

    if (cli->n_listen > 0)
        rc = rconf_addrs(cli->listen, cli->n_listen, ADDR_PORT0_OK, cfg->listen, &cfg->n_listen,
                         "--listen", err, errlen);
    if (rc == 0 && cli->n_advertise > 0)
        rc = rconf_addrs(cli->advertise, cli->n_advertise, 0, cfg->advertise, &cfg->n_advertise,
                         "--advertise", err, errlen);
    if (rc != 0)
        return rc;
    if (state_dir != NULL) {
        /* Paths the file derived from its own state_dir follow the new one. */
        if (rconf_path(derived, cfg->state_dir, "relay.key", err, errlen) == 0 &&
            strcmp(derived, cfg->key_file) == 0)
            cfg->key_file[0] = '\0';
        if (rconf_path(derived, cfg->state_dir, "linkrelay.db", err, errlen) == 0 &&
            strcmp(derived, cfg->database) == 0)
            cfg->database[0] = '\0';
        if (rconf_path(cfg->state_dir, state_dir, NULL, err, errlen) != 0)
            return -EINVAL;
    }
    if (cli->key_file != NULL && rconf_path(cfg->key_file, cli->key_file, NULL, err, errlen) != 0)
        return -EINVAL;
    if (cli->database != NULL && rconf_path(cfg->database, cli->database, NULL, err, errlen) != 0)
        return -EINVAL;
    if (cli->admin_socket != NULL &&
        rconf_path(cfg->admin_socket, cli->admin_socket, NULL, err, errlen) != 0)
        return -EINVAL;
    if (cfg->key_file[0] == '\0' &&
        rconf_path(cfg->key_file, cfg->state_dir, "relay.key", err, errlen) != 0)
        return -EINVAL;
    if (cfg->database[0] == '\0' &&
        rconf_path(cfg->database, cfg->state_dir, "linkrelay.db", err, errlen) != 0)
        return -EINVAL;
    /* The admin socket lives in the state directory unless configured. */
    if (strcmp(cfg->admin_socket, RCONF_DEFAULT_ADMIN) == 0 &&
        rconf_path(cfg->admin_socket, cfg->state_dir, "admin.sock", err, errlen) != 0)
        return -EINVAL;
    if (cli->metrics_listen != NULL) {
        rc = relaycfg_set_metrics_listen(cfg, cli->metrics_listen);
        if (rc != 0) {
            snprintf(err, errlen, "--metrics-listen '%s': %s (use off or HOST:PORT)",
                     cli->metrics_listen, addr_strerror(rc));
            return -EINVAL;
        }
    }
    if (cli->log_level != NULL && log_level_parse(cli->log_level, &cfg->log_level) != 0) {
        snprintf(err, errlen, "--log-level '%s': use error, warn, info or debug", cli->log_level);
        return -EINVAL;
    }
    return 0;
}

int rconf_load(const struct rconf_cli *cli, struct relaycfg *out, char *config_path, char *err,
               size_t errlen)
{
    const char *env = getenv("LINKRELAY_STATE_DIR");
    const char *state_dir = cli->state_dir != NULL            ? cli->state_dir
                            : (env != NULL && env[0] != '\0') ? env
                                                              : NULL;
    char path[RELAYCFG_PATH_MAX];
    struct relaycfg cfg;
    struct cfgparse_error perr;
    char *text = NULL, msg[300];
    bool required = cli->config != NULL;
    int rc;

    if (required)
        rc = rconf_path(path, cli->config, NULL, err, errlen);
    else if (state_dir == NULL && access(RELAYCFG_SYSTEM_CONFIG, F_OK) == 0)
        rc = rconf_path(path, RELAYCFG_SYSTEM_CONFIG, NULL, err, errlen);
    else
        rc = rconf_path(path, state_dir != NULL ? state_dir : "/var/lib/linkrelay",
                        "linkrelay.conf", err, errlen);
    if (rc != 0)
        return rc;
    rc = rconf_read_file(path, &text);
    if (rc == -ENOENT && !required) {
        path[0] = '\0';
        rc = 0;
    } else if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    relaycfg_defaults(&cfg);
    rc = relaycfg_parse(text != NULL ? text : "", &cfg, &perr);
    free(text);
    if (rc != 0) {
        cfgparse_error_format(&perr, msg, sizeof(msg));
        snprintf(err, errlen, "%s: %s", path[0] != '\0' ? path : "config", msg);
        return rc;
    }
    rc = rconf_apply_cli(cli, state_dir, &cfg, err, errlen);
    if (rc != 0)
        return rc;
    memcpy(config_path, path, strlen(path) + 1);
    *out = cfg;
    return 0;
}
