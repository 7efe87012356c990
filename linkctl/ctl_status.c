/* SPDX-License-Identifier: MIT */
/*
 * ctl_status — `linkctl status`: the relay-wide live state from the admin
 * socket. See docs/linkctl.md.
 */
#include "ctl.h"

#include "adminc.h"
#include "keys.h"
#include "relaykey.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char status_help[] =
    "usage: linkctl status [--json]\n"
    "\n"
    "Relay-wide live state from the admin socket: version, uptime, agents\n"
    "connected, pending handshakes, streams open and total, bytes each way, auth\n"
    "failures, limits hit, whether each advertised address reaches this relay.\n"
    "Exits 1 with \"relay not running\" when no relay answers.\n";

/* "3s ago", or "never" for a null time (wall-clock ms). */
static void status_ago(const json_t *t, int64_t now_ms, char *out, size_t cap)
{
    char d[48];

    if (!json_is_integer(t)) {
        snprintf(out, cap, "never");
        return;
    }
    ctl_fmt_duration((now_ms - json_integer_value(t) + 500) / 1000, d, sizeof(d));
    snprintf(out, cap, "%s ago", d);
}

/* The advertised addresses' self-check (design.md D35): one line for the
 * relay, one per address. */
static void status_selfcheck(const json_t *sc)
{
    const json_t *addrs = json_object_get(sc, "addresses"), *a;
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    size_t i, n = json_array_size(addrs), pass = 0;
    char every[48], checked[64], ok[64], since[64];

    if (sc == NULL)
        return;
    if (ctl_json_int(sc, "interval_ms") == 0 || n == 0) {
        printf("self-check:    off (%s)\n",
               n == 0 ? "no address advertised" : "advertise_check_interval = 0");
        return;
    }
    json_array_foreach(addrs, i, a)
    {
        pass += strcmp(ctl_json_str(a, "state", ""), "ok") == 0;
    }
    if (ctl_json_int(sc, "interval_ms") % 1000 != 0)
        snprintf(every, sizeof(every), "%lld ms", ctl_json_int(sc, "interval_ms"));
    else
        ctl_fmt_duration(ctl_json_int(sc, "interval_ms") / 1000, every, sizeof(every));
    if (json_is_true(json_object_get(sc, "usable")))
        printf("self-check:    every %s, %zu of %zu advertised addresses reach this relay\n", every,
               pass, n);
    else
        printf("self-check:    every %s, NONE of %zu advertised addresses reaches this relay: "
               "agents given them cannot connect\n",
               every, n);
    json_array_foreach(addrs, i, a)
    {
        const char *state = ctl_json_str(a, "state", "?"), *detail = ctl_json_str(a, "detail", "");
        status_ago(json_object_get(a, "last_check_ms"), now_ms, checked, sizeof(checked));
        status_ago(json_object_get(a, "last_ok_ms"), now_ms, ok, sizeof(ok));
        status_ago(json_object_get(a, "since_ms"), now_ms, since, sizeof(since));
        if (strcmp(state, "none") == 0)
            printf("  %s: not checked yet\n", ctl_json_str(a, "addr", "?"));
        else if (strcmp(state, "ok") == 0)
            printf("  %s: ok, checked %s%s%s\n", ctl_json_str(a, "addr", "?"), checked,
                   detail[0] != '\0' ? "; " : "", detail);
        else
            printf("  %s: %s (%s), failing since %s, checked %s, last ok %s\n",
                   ctl_json_str(a, "addr", "?"), state, detail, since, checked, ok);
    }
}

static void status_human(const json_t *v)
{
    char up[64];
    ctl_fmt_duration(ctl_json_int(v, "uptime_s"), up, sizeof(up));
    printf("relay:         running, version %s, up %s\n", ctl_json_str(v, "version", "?"), up);
    if (strcmp(ctl_json_str(v, "state", "serving"), "draining") == 0) {
        ctl_fmt_duration((ctl_json_int(v, "drain_left_ms") + 999) / 1000, up, sizeof(up));
        printf("state:         draining, stops when its streams end or in %s\n", up);
    }
    printf("agents:        %lld connected, %lld pending\n", ctl_json_int(v, "agents"),
           ctl_json_int(v, "pending"));
    printf("streams:       %lld open (%lld zero-copy), %lld total\n",
           ctl_json_int(v, "streams_open"), ctl_json_int(v, "streams_zero_copy"),
           ctl_json_int(v, "streams_total"));
    printf("bytes:         a->b %lld, b->a %lld\n", ctl_json_int(v, "bytes_a_to_b"),
           ctl_json_int(v, "bytes_b_to_a"));
    printf("queued:        %lld bytes (peak %lld), zero-copy pipes %lld (peak %lld)\n",
           ctl_json_int(v, "queued_bytes"), ctl_json_int(v, "queued_bytes_peak"),
           ctl_json_int(v, "zero_copy_queued_bytes"),
           ctl_json_int(v, "zero_copy_queued_bytes_peak"));
    printf("held:          %lld bytes (peak %lld) of cap %lld, reads held by the cap %lld\n",
           ctl_json_int(v, "held_bytes"), ctl_json_int(v, "held_bytes_peak"),
           ctl_json_int(v, "held_cap"), ctl_json_int(v, "held_cap_total"));
    printf("auth failures: %lld\n", ctl_json_int(v, "auth_failures"));
    printf("limits hit:    ");
    int any = 0;
    const char *name;
    const json_t *n;
    json_object_foreach((json_t *)json_object_get(v, "limits_hit"), name, n)
    {
        if (json_is_integer(n) && json_integer_value(n) > 0) {
            printf("%s%s %lld", any ? ", " : "", name, (long long)json_integer_value(n));
            any = 1;
        }
    }
    printf("%s\n", any ? "" : "none");
    ctl_print_addr_list("listen:", json_object_get(v, "listen"));
    ctl_print_addr_list("advertise:", json_object_get(v, "advertise"));
    status_selfcheck(json_object_get(v, "advertise_check"));
    printf("relay key:     %s (id %lld)\n", ctl_json_str(v, "relay_key", "?"),
           ctl_json_int(v, "relay_key_id"));
}

/* Reports a failed admin request: "relay not running" or the error. */
static int admin_failed(struct ctl *c, int r)
{
    if (adminc_not_running(r)) {
        return ctl_fail("relay not running (no relay answers on %s)", c->admin_socket);
    }
    if (r == -EPROTO) {
        return ctl_fail("admin socket %s: malformed reply", c->admin_socket);
    }
    return ctl_fail("admin socket %s: %s", c->admin_socket, strerror(-r));
}

int ctl_status_main(struct ctl *c, int argc, char **argv)
{
    const char *pos[1];
    json_t *v = NULL;
    int r = ctl_simple_args(c, "status", status_help, argc, argv, NULL, NULL, pos, 0);
    if (r != 0) {
        return r < 0 ? CTL_EXIT_OK : r;
    }
    r = ctl_admin(c, "status", &v);
    if (r < 0) {
        return admin_failed(c, r);
    }
    if (json_object_get(v, "error") != NULL) {
        r = ctl_fail("relay: %s", ctl_json_str(v, "error", "error"));
        json_decref(v);
        return r;
    }
    if (c->json) {
        return ctl_json_print(v);
    }
    status_human(v);
    json_decref(v);
    return CTL_EXIT_OK;
}
