/* SPDX-License-Identifier: MIT */
/*
 * statuscli — see statuscli.h; the output is described in docs/linkagent.md
 * "STATUS".
 */
#include "statuscli.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adminc.h"
#include "fmt.h"
#include "lrjson.h"
#include "rundir.h"

#define STATUSCLI_MAX_AGENTS 256 /* sockets looked at in the runtime directory */
#define STATUSCLI_TIMEOUT_MS 3000

static const char statuscli_help[] =
    "usage: linkagent status [--json] [--admin-socket PATH]\n"
    "\n"
    "Asks the agents running on this host (their admin sockets in the runtime\n"
    "directory, or the one at PATH) and prints each link: state and since when,\n"
    "the relay and its key id, the last error and its cause, the peer, streams,\n"
    "bytes, the addresses the relay advertised.\n"
    "\n"
    "  --json               one JSON object for scripts\n"
    "  --admin-socket PATH  ask only the agent at PATH\n"
    "\n"
    "Exit: 0 every link is up, 1 a link is not up (or an agent did not answer),\n"
    "2 usage error, 3 no agent answered.\n";

struct found {
    char path[256];
    long pid;
};

static int by_pid(const void *x, const void *y)
{
    const struct found *a = x, *b = y;

    return (a->pid > b->pid) - (a->pid < b->pid);
}

/* The agent sockets in dir, by process id; *n of them. */
static int list_sockets(const char *dir, struct found *out, size_t cap, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    pid_t pid;

    *n = 0;
    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL && *n < cap) {
        if (!rundir_is_socket_name(e->d_name, &pid) ||
            snprintf(out[*n].path, sizeof(out[*n].path), "%s/%s", dir, e->d_name) >=
                (int)sizeof(out[*n].path))
            continue;
        out[*n].pid = (long)pid;
        (*n)++;
    }
    closedir(d);
    qsort(out, *n, sizeof(*out), by_pid);
    return 0;
}

static long long jint(const json_t *v, const char *key)
{
    const json_t *m = json_object_get(v, key);

    return json_is_integer(m) ? (long long)json_integer_value(m) : 0;
}

static const char *jstr(const json_t *v, const char *key, const char *dflt)
{
    const json_t *m = json_object_get(v, key);

    return json_is_string(m) ? json_string_value(m) : dflt;
}

static void print_list(const char *label, const json_t *arr)
{
    size_t i;
    const json_t *a;

    printf("    %-12s", label);
    if (json_array_size(arr) == 0)
        printf(" -");
    json_array_foreach(arr, i, a)
    {
        printf("%s %s", i > 0 ? "," : "", json_is_string(a) ? json_string_value(a) : "?");
    }
    printf("\n");
}

/* "2026-12-06 22:00:00Z (3m04s ago)" */
static void print_when(const char *label, long long at, long long now)
{
    char t[64], d[64];

    fmt_time(at, t, sizeof(t));
    fmt_duration((now - at) / 1000, d, sizeof(d));
    printf("%s %s (%s ago)", label, t, d);
}

static void print_link(const json_t *l, long long now)
{
    const char *state = jstr(l, "state", "?");
    const json_t *err = json_object_get(l, "last_error");
    const json_t *retry = json_object_get(l, "retry_in_ms");

    printf("  link %s (side %s, id %s)\n", jstr(l, "name", "?"), jstr(l, "side", "?"),
           jstr(l, "link_id", "?"));
    printf("    %-12s %s,", "state:", state);
    print_when(" since", jint(l, "state_since_ms"), now);
    if (json_is_integer(retry))
        printf(", next attempt in %lld ms", (long long)json_integer_value(retry));
    printf("\n");
    printf("    %-12s %s (relay key id %lld, %s)\n", "relay:", jstr(l, "relay", "-"),
           jint(l, "relay_key_id"), jstr(l, "relay_key", "?"));
    printf("    %-12s %s\n", "peer:",
           json_is_true(json_object_get(l, "peer_online")) ? "online"
           : strcmp(state, "up") == 0                      ? "offline"
                                                           : "unknown (not connected)");
    printf("    %-12s %lld open (%lld suspended); bytes out %lld, in %lld\n",
           "streams:", jint(l, "streams_open"), jint(l, "streams_suspended"), jint(l, "bytes_out"),
           jint(l, "bytes_in"));
    if (json_is_object(err)) {
        printf("    %-12s", "last error:");
        print_when("", jint(err, "at_ms"), now);
        printf(" relay %s: %s\n", jstr(err, "relay", "?"), jstr(err, "cause", "?"));
    } else {
        printf("    %-12s none\n", "last error:");
    }
    print_list("relays:", json_object_get(l, "relays"));
    print_list("advertised:", json_object_get(l, "advertised"));
}

/* Prints one agent's reply; true when every link is up. */
static bool print_agent(const char *path, const json_t *v)
{
    long long now = jint(v, "now_ms");
    const json_t *links = json_object_get(v, "links"), *l;
    const json_t *res = json_object_get(v, "resume");
    char up[64];
    bool all_up = true;
    size_t i;

    fmt_duration((now - jint(v, "started_ms")) / 1000, up, sizeof(up));
    printf("agent %lld: %s, version %s, up %s, admin socket %s\n", jint(v, "pid"),
           jstr(v, "config", "command line (--token)"), jstr(v, "version", "?"), up, path);
    if (json_is_object(res))
        printf("  resumption: %lld resumed, refused %lld bad_hello, %lld old_epoch, %lld "
               "unknown_id, %lld expired; %lld bytes held\n",
               jint(res, "resumed"), jint(res, "refused_bad_hello"), jint(res, "refused_old_epoch"),
               jint(res, "unknown_id"), jint(res, "expired"), jint(res, "buffer_bytes"));
    json_array_foreach(links, i, l)
    {
        print_link(l, now);
        all_up = all_up && strcmp(jstr(l, "state", ""), "up") == 0;
    }
    return all_up;
}

static bool json_all_up(const json_t *v)
{
    const json_t *l;
    size_t i;

    json_array_foreach(json_object_get(v, "links"), i, l)
    {
        if (strcmp(jstr(l, "state", ""), "up") != 0)
            return false;
    }
    return true;
}

struct run {
    bool json;
    json_t *agents; /* --json: what each agent said, and its socket */
    size_t answered, failed;
    bool all_up;
};

/* Asks one agent. Stale sockets (nobody accepts) are skipped unless asked
 * for by --admin-socket (explicit). */
static void ask(struct run *r, const char *path, bool explicit)
{
    char *text = NULL;
    json_t *v;
    int rc = adminc_request(path, "status", STATUSCLI_TIMEOUT_MS, &text);

    if (rc != 0 && adminc_not_running(rc) && !explicit)
        return;
    v = rc == 0 ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (rc != 0 || !json_is_object(v) || json_object_get(v, "error") != NULL) {
        if (rc == 0)
            fprintf(stderr, "linkagent: %s: %s\n", path,
                    v != NULL ? jstr(v, "error", "malformed reply") : "malformed reply");
        else if (adminc_not_running(rc))
            fprintf(stderr, "linkagent: %s: no agent answers (not running)\n", path);
        else
            fprintf(stderr, "linkagent: %s: %s\n", path, strerror(-rc));
        json_decref(v);
        r->failed++;
        return;
    }
    r->answered++;
    if (r->json) {
        r->all_up = json_all_up(v) && r->all_up;
        json_object_set_new(v, "admin_socket", lrjson_str(path));
        json_array_append_new(r->agents, v);
        return;
    }
    if (r->answered > 1)
        printf("\n");
    r->all_up = print_agent(path, v) && r->all_up;
    json_decref(v);
}

static int parse(int argc, char **argv, struct run *r, const char **sock)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s", statuscli_help);
            return -1;
        }
        if (strcmp(argv[i], "--json") == 0)
            r->json = true;
        else if (strcmp(argv[i], "--admin-socket") == 0 && i + 1 < argc)
            *sock = argv[++i];
        else if (strncmp(argv[i], "--admin-socket=", 15) == 0)
            *sock = argv[i] + 15;
        else {
            fprintf(stderr,
                    "linkagent: status: unknown option or missing value: '%s' (see "
                    "`linkagent status --help`)\n",
                    argv[i]);
            return STATUSCLI_USAGE;
        }
    }
    return 0;
}

int statuscli_main(int argc, char **argv)
{
    static struct found found[STATUSCLI_MAX_AGENTS];
    struct run r = {.all_up = true};
    const char *sock = NULL;
    char dir[256] = "";
    size_t n = 0;
    int rc = parse(argc, argv, &r, &sock);

    if (rc != 0)
        return rc < 0 ? STATUSCLI_ALL_UP : rc;
    if (r.json && (r.agents = json_array()) == NULL)
        return STATUSCLI_NO_AGENT;
    if (sock != NULL) {
        ask(&r, sock, true);
    } else {
        rc = rundir_path(dir, sizeof(dir));
        if (rc == 0)
            rc = list_sockets(dir, found, STATUSCLI_MAX_AGENTS, &n);
        if (rc != 0 && rc != -ENOENT)
            fprintf(stderr, "linkagent: runtime directory %s: %s\n", dir, strerror(-rc));
        for (size_t i = 0; i < n; i++)
            ask(&r, found[i].path, false);
        if (r.answered + r.failed == 0)
            fprintf(stderr, "linkagent: no agent running (no admin socket answers in %s)\n", dir);
    }
    if (r.json) {
        json_t *all = json_pack("{s:o}", "agents", r.agents);
        char *text = all != NULL ? json_dumps(all, LRJSON_DUMP_FLAGS) : NULL;

        if (text != NULL)
            printf("%s\n", text);
        free(text);
        json_decref(all);
    }
    if (r.answered == 0)
        return STATUSCLI_NO_AGENT;
    return r.all_up && r.failed == 0 ? STATUSCLI_ALL_UP : STATUSCLI_NOT_UP;
}
