/* SPDX-License-Identifier: MIT */
#include "stats.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "acct.h"
#include "log.h"

const char *stats_fail_name(enum stats_fail f)
{
    static const char *const names[STATS_FAIL_COUNT] = {
        "preamble",     "key_id", "handshake",          "auth",    "unknown_link",
        "bad_key",      "ticket", "ticket_expired",     "timeout", "preauth_bytes",
        "closed_early", "limit",  "source_not_allowed",
    };
    if ((unsigned)f >= STATS_FAIL_COUNT)
        return "unknown";
    return names[f];
}

void stats_init(struct stats *st, uint64_t now_ms)
{
    memset(st, 0, sizeof(*st));
    st->fail_window_ms = now_ms;
    logagg_init(&st->refusals);
}

void stats_hold(uint64_t *count, uint64_t *peak, uint64_t n)
{
    *count += n;
    if (*count > *peak)
        *peak = *count;
}

/* "1.2.3.4:5555" / "[::1]:5555" → the address without the port. */
static void stats_strip_port(const char *peer, char *out, size_t cap)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon != NULL ? (size_t)(colon - peer) : strlen(peer);

    if (n > 0 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

void stats_count_fail(struct stats *st, enum stats_fail f, const char *peer)
{
    char addr[sizeof(st->fails[0].addr)];
    size_t i;

    st->fail[f]++;
    st->auth_failures++;
    stats_strip_port(peer, addr, sizeof(addr));
    for (i = 0; i < st->n_fails; i++) {
        if (st->fails[i].why == f && strcmp(st->fails[i].addr, addr) == 0) {
            st->fails[i].count++;
            return;
        }
    }
    if (st->n_fails == STATS_FAIL_SLOTS) {
        st->fails_other++;
        return;
    }
    /* First of its kind in this window: said now, the rest in the summary. */
    log_info("refused %s: %s", peer, stats_fail_name(f));
    st->fails[st->n_fails].why = f;
    memcpy(st->fails[st->n_fails].addr, addr, sizeof(addr));
    st->fails[st->n_fails].count = 1;
    st->n_fails++;
}

void stats_log_refusal(struct stats *st, uint64_t now_ms, const char *fmt, ...)
{
    char key[LOGAGG_KEY_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    if (logagg_admit(&st->refusals, key, now_ms))
        log_info("%s", key);
}

static void stats_say_refusals(void *arg, const char *key, uint32_t n, uint64_t window_ms)
{
    (void)arg;
    log_warnx("%s (%" PRIu32 " more in the last %" PRIu64 " s)", key, n, (window_ms + 500) / 1000);
}

/* End of an aggregation window: one line and one event row per source. */
static void stats_flush_fails(struct stats *st)
{
    for (size_t i = 0; i < st->n_fails; i++) {
        struct stats_failagg *fa = &st->fails[i];
        if (fa->count > 1)
            log_warnx("refused %" PRIu32 " connections from %s in %d s: %s", fa->count, fa->addr,
                      STATS_FAIL_WINDOW_MS / 1000, stats_fail_name(fa->why));
        acct_event(st->acct, "auth_fail", NULL, fa->addr, stats_fail_name(fa->why), fa->count);
    }
    if (st->fails_other > 0) {
        log_warnx("refused %" PRIu64 " more connections from other sources in %d s",
                  st->fails_other, STATS_FAIL_WINDOW_MS / 1000);
        acct_event(st->acct, "auth_fail", NULL, "", "other sources", (uint32_t)st->fails_other);
    }
    st->n_fails = 0;
    st->fails_other = 0;
}

void stats_tick(struct stats *st, uint64_t now_ms)
{
    logagg_expire(&st->refusals, now_ms, false, stats_say_refusals, NULL);
    if (now_ms - st->fail_window_ms >= STATS_FAIL_WINDOW_MS) {
        stats_flush_fails(st);
        st->fail_window_ms = now_ms;
    }
}

void stats_flush(struct stats *st, uint64_t now_ms)
{
    stats_flush_fails(st);
    logagg_expire(&st->refusals, now_ms, true, stats_say_refusals, NULL);
}
