/* SPDX-License-Identifier: MIT */
/*
 * ctl — shared machinery of linkctl. See ctl.h and docs/linkctl.md.
 */
#include "ctl.h"

#include "adminc.h"
#include "cfgparse.h"
#include "db.h"
#include "fmt.h"
#include "relaykey.h"
#include "statedir.h"
#include "store.h"
#include "token.h"
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ctl_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("linkctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EXIT_FAIL;
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("linkctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'linkctl %s%s--help'.\n", cmd, *cmd ? " " : "");
    return CTL_EXIT_USAGE;
}

void ctl_warn(const char *fmt, ...)
{
    va_list ap;
    fputs("linkctl: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int ctl_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) {
        return 0;
    }
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') {
        return 0;
    }
    if (*i + 1 >= argc) {
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int ctl_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int ctl_relay_addr_add(struct ctl *c, const char *text)
{
    struct addr_spec a;
    char t[TOKEN_ADDR_MAX + 1];
    int r = addr_parse(text, 0, &a);
    if (r != 0) {
        return ctl_usage_error("", "--relay-addr '%s': %s", text, addr_strerror(r));
    }
    if (addr_is_unspecified(&a)) {
        return ctl_usage_error("",
                               "--relay-addr '%s': an agent cannot connect to the wildcard "
                               "address; give the relay's reachable address",
                               text);
    }
    if (addr_format(&a, t, sizeof(t)) != 0) {
        return ctl_usage_error("", "--relay-addr '%s': longer than a token takes (%d bytes)", text,
                               TOKEN_ADDR_MAX);
    }
    if (c->n_relay_addr == TOKEN_MAX_ADDRS) {
        return ctl_usage_error("", "--relay-addr: at most %d addresses", TOKEN_MAX_ADDRS);
    }
    c->relay_addr[c->n_relay_addr++] = a;
    return 0;
}

int ctl_shared_opt(struct ctl *c, int argc, char **argv, int *i, const char *cmd, int *taken)
{
    const char *addr = NULL;
    int m;

    *taken = 0;
    if (strcmp(argv[*i], "--json") == 0) {
        c->json = 1;
        *taken = 1;
        return 0;
    }
    m = ctl_opt_value(argc, argv, i, "--relay-addr", &addr);
    if (m < 0) {
        return ctl_usage_error(cmd, "option --relay-addr needs a value");
    }
    *taken = m > 0;
    return m > 0 ? ctl_relay_addr_add(c, addr) : 0;
}

int ctl_args(struct ctl *c, const struct ctl_argspec *spec, int argc, char **argv)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        int m = 0;
        if (ctl_is_help(argv[i])) {
            fputs(spec->help, stdout);
            return -1;
        }
        /* --json and --relay-addr are global but read where a user types
         * them too: after the command ("linkctl link add X --relay-addr A"). */
        int r = ctl_shared_opt(c, argc, argv, &i, spec->cmd, &m);
        if (r != 0) {
            return r;
        }
        if (m > 0) {
            continue;
        }
        for (int k = 0; spec->names != NULL && spec->names[k] != NULL && m == 0; k++) {
            m = ctl_opt_value(argc, argv, &i, spec->names[k], &spec->vals[k]);
            if (m < 0) {
                return ctl_usage_error(spec->cmd, "option %s needs a value", spec->names[k]);
            }
        }
        if (m > 0) {
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return ctl_usage_error(spec->cmd, "unknown option '%s'", argv[i]);
        }
        if (npos >= spec->npos) {
            return ctl_usage_error(spec->cmd, "unexpected argument '%s'", argv[i]);
        }
        spec->pos[npos++] = argv[i];
    }
    if (npos < spec->npos) {
        return ctl_usage_error(spec->cmd, "missing %s", spec->missing);
    }
    return 0;
}

static int set_path(char *dst, const char *src, const char *what)
{
    if (snprintf(dst, PATH_MAX, "%s", src) >= PATH_MAX) {
        return ctl_fail("%s path too long", what);
    }
    return CTL_EXIT_OK;
}

static int join_path(char *dst, const char *dir, const char *name)
{
    if (snprintf(dst, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
        return ctl_fail("state directory path too long");
    }
    return CTL_EXIT_OK;
}

/* Reads the whole config file (at most CFGPARSE_MAX_SIZE bytes). */
static int read_text(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return -errno;
    }
    char *buf = malloc(CFGPARSE_MAX_SIZE + 2);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, CFGPARSE_MAX_SIZE + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return -EIO;
    }
    if (n > CFGPARSE_MAX_SIZE) {
        free(buf);
        return -E2BIG;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int load_config(struct ctl *c, int must_exist)
{
    char *text = NULL;
    struct cfgparse_error perr;
    char why[320];
    int r = read_text(c->config, &text);
    if (r == -ENOENT && !must_exist) {
        return CTL_EXIT_OK;
    }
    if (r < 0) {
        return ctl_fail("config %s: %s", c->config, strerror(-r));
    }
    memset(&perr, 0, sizeof(perr));
    r = relaycfg_parse(text, &c->cfg, &perr);
    free(text);
    if (r < 0) {
        cfgparse_error_format(&perr, why, sizeof(why));
        return ctl_fail("config %s: %s", c->config, why);
    }
    c->have_config = 1;
    return CTL_EXIT_OK;
}

/* flag > config (when the config sets it) > DIR/name. relaycfg fills
 * key_file and database from its own state_dir when the file does not set
 * them, so a value equal to the default or to "<config state_dir>/name"
 * counts as not set. */
static int pick(char *dst, const char *flag, const char *cfgval, const char *dfltval,
                const char *cfg_dir, const char *dir, const char *name, const char *what)
{
    char derived[PATH_MAX];
    if (flag != NULL) {
        return set_path(dst, flag, what);
    }
    snprintf(derived, sizeof(derived), "%s/%s", cfg_dir, name);
    if (cfgval[0] != '\0' && strcmp(cfgval, dfltval) != 0 && strcmp(cfgval, derived) != 0) {
        return set_path(dst, cfgval, what);
    }
    return join_path(dst, dir, name);
}

int ctl_resolve(struct ctl *c)
{
    struct relaycfg dflt;
    const char *env = getenv(CTL_ENV_STATE_DIR);
    const char *dir = c->opt_state_dir;
    int r;
    if (dir == NULL && env != NULL && env[0] != '\0') {
        dir = env;
    }
    r = set_path(c->state_dir, dir != NULL ? dir : CTL_DEFAULT_STATE_DIR, "state directory");
    if (r == CTL_EXIT_OK) {
        if (c->opt_config != NULL) {
            r = set_path(c->config, c->opt_config, "config");
        } else if (dir == NULL && access(RELAYCFG_SYSTEM_CONFIG, F_OK) == 0) {
            /* The packages' config, which their unit gives the relay. */
            r = set_path(c->config, RELAYCFG_SYSTEM_CONFIG, "config");
        } else {
            r = join_path(c->config, c->state_dir, "linkrelay.conf");
        }
    }
    relaycfg_defaults(&c->cfg);
    relaycfg_defaults(&dflt);
    if (r == CTL_EXIT_OK) {
        r = load_config(c, c->opt_config != NULL);
    }
    if (r != CTL_EXIT_OK) {
        return r;
    }
    /* The config's state_dir applies only when neither flag nor env set one. */
    if (dir == NULL && strcmp(c->cfg.state_dir, dflt.state_dir) != 0) {
        r = set_path(c->state_dir, c->cfg.state_dir, "state directory");
    }
    if (r == CTL_EXIT_OK) {
        r = pick(c->database, c->opt_database, c->cfg.database, dflt.database, c->cfg.state_dir,
                 c->state_dir, "linkrelay.db", "database");
    }
    if (r == CTL_EXIT_OK) {
        r = pick(c->key_file, c->opt_key_file, c->cfg.key_file, dflt.key_file, c->cfg.state_dir,
                 c->state_dir, "relay.key", "key file");
    }
    if (r == CTL_EXIT_OK) {
        r = pick(c->admin_socket, c->opt_admin_socket, c->cfg.admin_socket, dflt.admin_socket,
                 c->cfg.state_dir, c->state_dir, "admin.sock", "admin socket");
    }
    return r;
}

int ctl_ensure_state_dir(const struct ctl *c)
{
    int created;
    return statedir_ensure(c->state_dir, &created);
}

int ctl_store_open(struct ctl *c, int create, struct store **out)
{
    char err[512];
    int r;
    if (create) {
        r = ctl_ensure_state_dir(c);
        if (r < 0) {
            ctl_fail("state directory %s: %s", c->state_dir, strerror(-r));
            return r;
        }
    } else if (!db_target_is_pg(c->database) && access(c->database, F_OK) != 0 && errno == ENOENT) {
        return -ENOENT;
    }
    db_set_deadline(c->cfg.registry_timeout_ms); /* the config's bound on a call (D38) */
    r = store_open(c->database, create ? STORE_OPEN_CREATE : 0, out, err, sizeof(err));
    if (r < 0) {
        ctl_fail("%s", err);
    }
    return r;
}

int ctl_relay_key(struct ctl *c, int create, struct relaykey *out)
{
    char err[512];
    int r;
    if (create) {
        r = ctl_ensure_state_dir(c);
        if (r < 0) {
            ctl_fail("state directory %s: %s", c->state_dir, strerror(-r));
            return r;
        }
        r = relaykey_load_or_create(c->key_file, out, NULL, err, sizeof(err));
    } else {
        r = relaykey_load(c->key_file, out, err, sizeof(err));
    }
    if (r < 0) {
        ctl_fail("%s", err);
        return r;
    }
    /* A next key whose overlap is over is the current key (D21). */
    (void)relaykey_settle(out, ctl_now_ms());
    return r;
}

int ctl_admin(struct ctl *c, const char *request, json_t **reply)
{
    char *line = NULL;
    json_t *v;
    int r = adminc_request(c->admin_socket, request, ADMINC_TIMEOUT_MS, &line);
    if (r < 0) {
        return r;
    }
    /* adminc_request already stops at ADMINC_REPLY_MAX bytes; checked again
     * here because this is where the bound for the parser matters. Any
     * top-level value is taken, as before; the callers look for members. */
    size_t len = strlen(line);
    v = len <= ADMINC_REPLY_MAX ? json_loadb(line, len, JSON_DECODE_ANY, NULL) : NULL;
    free(line);
    if (v == NULL) {
        return -EPROTO;
    }
    *reply = v;
    return 0;
}

json_t *ctl_relay_status(struct ctl *c)
{
    json_t *v = NULL;
    int r = ctl_admin(c, "status", &v);
    if (r == 0 && json_object_get(v, "error") != NULL) {
        ctl_warn("admin socket %s: the relay answered 'status' with an error: %s", c->admin_socket,
                 ctl_json_str(v, "error", "?"));
        json_decref(v);
        return NULL;
    }
    if (r < 0 && !adminc_not_running(r)) {
        ctl_warn("admin socket %s: %s; going on as if the relay were not running", c->admin_socket,
                 r == -EPROTO ? "malformed reply" : strerror(-r));
    }
    return r == 0 ? v : NULL;
}

void ctl_admin_sync(struct ctl *c)
{
    json_t *v = NULL;
    int r = ctl_admin(c, "sync", &v);
    if (r < 0 && !adminc_not_running(r)) {
        ctl_warn("change saved, but the relay did not confirm it (admin socket %s: %s); it "
                 "applies the change within a second anyway",
                 c->admin_socket, strerror(-r));
    }
    json_decref(v);
}

int ctl_json_print(json_t *v)
{
    int oom = v == NULL;
    int r = oom ? -1 : json_dumpf(v, stdout, LRJSON_DUMP_FLAGS);
    json_decref(v);
    if (r != 0) {
        return ctl_fail("cannot write the JSON output%s", oom ? ": out of memory" : "");
    }
    fputc('\n', stdout);
    return CTL_EXIT_OK;
}

const char *ctl_json_str(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : dflt;
}

void ctl_fmt_time(int64_t ms, char *out, size_t cap)
{
    fmt_time(ms, out, cap);
}

void ctl_fmt_duration(int64_t s, char *out, size_t cap)
{
    fmt_duration(s, out, cap);
}

const char *ctl_side_name(int side)
{
    return side == 0 ? "a" : "b";
}

int ctl_side_parse(const char *s, int *side)
{
    if (strcmp(s, "a") == 0 || strcmp(s, "A") == 0) {
        *side = 0;
        return 0;
    }
    if (strcmp(s, "b") == 0 || strcmp(s, "B") == 0) {
        *side = 1;
        return 0;
    }
    return -EINVAL;
}

void ctl_event_detail(const char *what, char *out, size_t cap)
{
    snprintf(out, cap, "%s by linkctl (uid %u)", what, (unsigned)getuid());
}
/* Parses the options every command here takes: --help, --json, and the
 * value options listed in names (NULL-terminated) into vals. */
int ctl_simple_args(struct ctl *c, const char *cmd, const char *help, int argc, char **argv,
                    const char *const *names, const char **vals, const char **pos, int maxpos)
{
    const struct ctl_argspec spec = {cmd, help, names, vals, pos, maxpos, "argument"};
    return ctl_args(c, &spec, argc, argv);
}

void ctl_print_addr_list(const char *label, const json_t *arr)
{
    size_t i;
    const json_t *item;
    printf("%-15s", label);
    if (json_array_size(arr) == 0) {
        printf("-\n");
        return;
    }
    json_array_foreach(arr, i, item)
    {
        printf("%s%s", i ? ", " : "", json_is_string(item) ? json_string_value(item) : "?");
    }
    printf("\n");
}

/* Integer member key of v; 0 when missing or not an integer. */
long long ctl_json_int(const json_t *v, const char *key)
{
    return json_integer_value(json_object_get(v, key));
}

/* Decodes a public key given on the command line; prints why on failure. */
int ctl_decode_pub(const char *opt, const char *text, uint8_t pub[32])
{
    size_t pos = 0;
    char why[128];
    int r = key_pub_decode(text, pub, &pos);
    if (r != 0) {
        key_format_error(r, pos, why, sizeof(why));
        ctl_fail("%s: %s", opt, why);
        return -EINVAL;
    }
    return 0;
}

/* Builds the token text of one side. priv may be NULL (bring-your-own key). */
int ctl_make_token(const struct store_link *l, int side, const uint8_t *priv,
                   const struct relaykey *rk, const struct ctl_addrs *addrs, char *out, size_t cap)
{
    struct token t;
    memset(&t, 0, sizeof(t));
    t.version = TOKEN_VERSION;
    t.flags = priv != NULL ? TOKEN_FLAG_PRIV : 0;
    memcpy(t.link_id, l->id, LINKID_LEN);
    t.side = (uint8_t)side;
    /* During a relay key rotation new tokens pin the next key: the relay
     * accepts it already, and it outlives the current one (D21). */
    const struct relaykey_entry *rke = rk->has_next ? &rk->next : &rk->current;
    t.relay_key_id = rke->id;
    memcpy(t.relay_pub, rke->pub, KEY_LEN);
    memcpy(t.peer_pub, l->key[1 - side], KEY_LEN);
    if (priv != NULL) {
        memcpy(t.priv, priv, KEY_LEN);
    }
    t.n_addrs = (uint8_t)addrs->n;
    for (size_t i = 0; i < addrs->n; i++) {
        memcpy(t.addrs[i], addrs->addr[i], sizeof(t.addrs[i]));
    }
    snprintf(t.name, sizeof(t.name), "%s", l->name);
    int r = token_encode(&t, out, cap);
    token_wipe(&t);
    if (r != 0) {
        ctl_fail("cannot build the token of side %s: %s", ctl_side_name(side), token_strerror(r));
        return -EINVAL;
    }
    return 0;
}

/* Opens the registry and finds the link named by the argument; prints the
 * failure (unknown link) itself. */
int ctl_open_link(struct ctl *c, const char *what, int create, struct store **st,
                  struct store_link *l)
{
    int r = ctl_store_open(c, create, st);
    if (r == -ENOENT) {
        ctl_fail("no such link: %s", what);
        return r;
    }
    if (r < 0) {
        return r;
    }
    r = store_link_find(*st, what, l);
    if (r < 0) {
        ctl_fail("%s", store_errmsg(*st));
        store_close(*st);
        *st = NULL;
    }
    return r;
}

int64_t ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_parse_overlap(const char *cmd, const char *text, uint64_t *ms)
{
    int r = cfgparse_duration(text, 0, CTL_OVERLAP_MAX_MS, ms);
    if (r == 0 && (*ms == 0 || *ms >= CTL_OVERLAP_MIN_MS)) {
        return 0;
    }
    if (r == -EINVAL) {
        return ctl_usage_error(cmd, "--overlap: '%s' is not a duration (digits with ms, s, m or h)",
                               text);
    }
    return ctl_usage_error(cmd, "--overlap: '%s' is out of range: 0 (none) or 1s..720h", text);
}
