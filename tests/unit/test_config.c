/* SPDX-License-Identifier: MIT */
/* Unit tests for common/cfgparse.c, relaycfg.c and agentcfg.c. */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentcfg.h"
#include "cfgparse.h"
#include "keys.h"
#include "relaycfg.h"
#include "token.h"
#include "lrcheck.h"

/* ---------- value syntaxes ---------- */

START_TEST(test_duration)
{
    uint64_t v = 0;

    ck_assert_int_eq(cfgparse_duration("500ms", 0, 1000000, &v), 0);
    ck_assert_uint_eq(v, 500);
    ck_assert_int_eq(cfgparse_duration("10s", 0, 1000000, &v), 0);
    ck_assert_uint_eq(v, 10000);
    ck_assert_int_eq(cfgparse_duration("2m", 0, 1000000, &v), 0);
    ck_assert_uint_eq(v, 120000);
    ck_assert_int_eq(cfgparse_duration("1h", 0, 10000000, &v), 0);
    ck_assert_uint_eq(v, 3600000);
    ck_assert_int_eq(cfgparse_duration("25", 0, 1000000, &v), 0);
    ck_assert_uint_eq(v, 25000);
    ck_assert_int_eq(cfgparse_duration("0", 0, 1000000, &v), 0);
    ck_assert_uint_eq(v, 0);
    /* Limits: exact, one unit under, one over. */
    ck_assert_int_eq(cfgparse_duration("100ms", 100, 2000, &v), 0);
    ck_assert_int_eq(cfgparse_duration("99ms", 100, 2000, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_duration("2000ms", 100, 2000, &v), 0);
    ck_assert_int_eq(cfgparse_duration("2001ms", 100, 2000, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_duration("3s", 100, 2000, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_duration("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_duration("9007199254740992h", 0, UINT64_MAX, &v), -ERANGE);
    v = 7;
    static const char *const bad[] = {"",     "s",   "10 s",  " 10s",  "10s ", "-1",  "+1",
                                      "1.5s", "10S", "10sec", "10ms5", "0x10", "10d", "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cfgparse_duration(bad[i], 0, UINT64_MAX, &v) == -EINVAL, "%s", bad[i]);
    ck_assert_uint_eq(v, 7); /* untouched on failure */
}
END_TEST

/* Byte rates (D28): bytes with powers of 1024, bits with powers of 1000,
 * whole bytes only, an optional /s, the bounds exactly; max_rate reads them,
 * "none" is 0, the effective configuration writes them back. */
START_TEST(test_byterate_max_rate)
{
    const uint64_t lo = 1000, hi = 1ULL << 40;
    struct relaycfg cfg, again;
    struct cfgparse_error err;
    uint64_t v = 7;
    char *text = NULL, b[40];

    ck_assert_int_eq(cfgparse_byterate("1000", lo, hi, &v), 0);
    ck_assert_uint_eq(v, 1000);
    ck_assert_int_eq(cfgparse_byterate("8kbit", lo, hi, &v), 0);
    ck_assert_uint_eq(v, 1000);
    ck_assert_int_eq(cfgparse_byterate("100Mbit/s", lo, hi, &v), 0);
    ck_assert_uint_eq(v, 12500000);
    ck_assert_int_eq(cfgparse_byterate("1Gbit", lo, hi, &v), 0);
    ck_assert_uint_eq(v, 125000000);
    ck_assert_int_eq(cfgparse_byterate("64K/s", lo, hi, &v), 0);
    ck_assert_uint_eq(v, 65536);
    ck_assert_int_eq(cfgparse_byterate("12MiB", lo, hi, &v), 0);
    ck_assert_uint_eq(v, 12582912);
    ck_assert_int_eq(cfgparse_byterate("1024G", lo, hi, &v), 0);
    ck_assert_uint_eq(v, hi);
    ck_assert_int_eq(cfgparse_byterate("8000bit", lo, hi, &v), 0);
    ck_assert_uint_eq(v, 1000);
    v = 7;
    ck_assert_int_eq(cfgparse_byterate("999", lo, hi, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_byterate("7999bit", lo, hi, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_byterate("1025G", lo, hi, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_byterate("9007199254740993", lo, hi, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_byterate("9007199254740992Gbit", lo, hi, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_byterate("12.5M", lo, hi, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_byterate("12MB", lo, hi, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_byterate("1Mbit/s/s", lo, hi, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_byterate("/s", lo, hi, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_byterate("", lo, hi, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_byterate("1 M", lo, hi, &v), -EINVAL);
    ck_assert_uint_eq(v, 7);
    cfgparse_fmt_bitrate(12500000, b, sizeof(b));
    ck_assert_str_eq(b, "100Mbit/s");
    cfgparse_fmt_bitrate(1000, b, sizeof(b));
    ck_assert_str_eq(b, "8kbit/s");
    cfgparse_fmt_bitrate(1048576, b, sizeof(b));
    ck_assert_str_eq(b, "8388608bit/s");

    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.limits.max_rate, 0);
    ck_assert_int_eq(relaycfg_parse("[limits]\nmax_rate = 100Mbit\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.limits.max_rate, 12500000);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "max_rate = 12500000\n"));
    ck_assert_int_eq(relaycfg_parse(text, &again, &err), 0);
    ck_assert_uint_eq(again.limits.max_rate, 12500000);
    free(text);
    ck_assert_int_eq(relaycfg_parse("[limits]\nmax_rate = 1024G\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.limits.max_rate, hi);
    ck_assert_int_eq(relaycfg_parse("[limits]\nmax_rate = none\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.limits.max_rate, 0);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "max_rate = none\n"));
    free(text);
    ck_assert_int_eq(relaycfg_parse("[limits]\nmax_rate = 999\n", &cfg, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "max_rate: '999' is out of range (1000..1099511627776)");
    ck_assert_int_eq(relaycfg_parse("[limits]\nmax_rate = 0\n", &cfg, &err), -EINVAL);
    ck_assert_int_eq(relaycfg_parse("[limits]\nmax_rate = fast\n", &cfg, &err), -EINVAL);
    ck_assert_str_eq(err.msg,
                     "max_rate: 'fast' is not none or a byte rate like 12500000, 64K, 100Mbit");
}
END_TEST

START_TEST(test_size_rate_count_mode)
{
    uint64_t v = 0;
    unsigned m = 0;

    ck_assert_int_eq(cfgparse_size("64K", 0, 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 65536);
    ck_assert_int_eq(cfgparse_size("64k", 0, 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 65536);
    ck_assert_int_eq(cfgparse_size("4096", 0, 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(cfgparse_size("1MiB", 0, 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 1048576);
    ck_assert_int_eq(cfgparse_size("2M", 0, 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 2097152);
    ck_assert_int_eq(cfgparse_size("1G", 0, 1ULL << 40, &v), 0);
    ck_assert_uint_eq(v, 1073741824);
    ck_assert_int_eq(cfgparse_size("4K", 4096, 8192, &v), 0);
    ck_assert_int_eq(cfgparse_size("4095", 4096, 8192, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_size("8193", 4096, 8192, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_size("64KB", 0, 1ULL << 40, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_size("K", 0, 1ULL << 40, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_size("1 K", 0, 1ULL << 40, &v), -EINVAL);

    ck_assert_int_eq(cfgparse_rate("200/s", 1, 1000, &v), 0);
    ck_assert_uint_eq(v, 200);
    ck_assert_int_eq(cfgparse_rate("200", 1, 1000, &v), 0);
    ck_assert_int_eq(cfgparse_rate("1001/s", 1, 1000, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_rate("0/s", 1, 1000, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_rate("200/m", 1, 1000, &v), -EINVAL);
    ck_assert_int_eq(cfgparse_rate("/s", 1, 1000, &v), -EINVAL);

    ck_assert_int_eq(cfgparse_count("65535", 1, 65535, &v), 0);
    ck_assert_int_eq(cfgparse_count("65536", 1, 65535, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_count("0", 1, 65535, &v), -ERANGE);
    ck_assert_int_eq(cfgparse_count("12a", 1, 65535, &v), -EINVAL);

    ck_assert_int_eq(cfgparse_mode("0600", &m), 0);
    ck_assert_uint_eq(m, 0600);
    ck_assert_int_eq(cfgparse_mode("660", &m), 0);
    ck_assert_uint_eq(m, 0660);
    ck_assert_int_eq(cfgparse_mode("0777", &m), 0);
    ck_assert_int_eq(cfgparse_mode("0800", &m), -EINVAL);
    ck_assert_int_eq(cfgparse_mode("01000", &m), -EINVAL);
    ck_assert_int_eq(cfgparse_mode("1000", &m), -ERANGE);
    ck_assert_int_eq(cfgparse_mode("", &m), -EINVAL);
    ck_assert_int_eq(cfgparse_mode("rw", &m), -EINVAL);
}
END_TEST

START_TEST(test_fmt)
{
    static const struct {
        uint64_t ms;
        const char *s;
    } d[] = {{0, "0s"},      {500, "500ms"}, {1500, "1500ms"}, {10000, "10s"},
             {90000, "90s"}, {120000, "2m"}, {3600000, "1h"},  {5400000, "90m"}};
    static const struct {
        uint64_t b;
        const char *s;
    } z[] = {{0, "0"},       {4096, "4K"},    {4097, "4097"},
             {65536, "64K"}, {1048576, "1M"}, {1ULL << 30, "1G"}};
    char buf[32];

    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        uint64_t back = 0;
        cfgparse_fmt_duration(d[i].ms, buf, sizeof(buf));
        ck_assert_str_eq(buf, d[i].s);
        ck_assert_int_eq(cfgparse_duration(buf, 0, UINT64_MAX, &back), 0);
        ck_assert_uint_eq(back, d[i].ms);
    }
    for (size_t i = 0; i < sizeof(z) / sizeof(z[0]); i++) {
        uint64_t back = 0;
        cfgparse_fmt_size(z[i].b, buf, sizeof(buf));
        ck_assert_str_eq(buf, z[i].s);
        ck_assert_int_eq(cfgparse_size(buf, 0, UINT64_MAX, &back), 0);
        ck_assert_uint_eq(back, z[i].b);
    }
}
END_TEST

/* ---------- the INI driver ---------- */

struct rec {
    char log[4096];
    int fail_line;
};

static void rec_add(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_add(struct rec *r, const char *fmt, ...)
{
    size_t n = strlen(r->log);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->log + n, sizeof(r->log) - n, fmt, ap);
    va_end(ap);
}

static int rec_section(void *user, const char *section, int line, struct cfgparse_error *err)
{
    rec_add(user, "S%d[%s]", line, section);
    (void)err;
    return 0;
}

static int rec_key(void *user, const char *section, const char *name, const char *value, int line,
                   struct cfgparse_error *err)
{
    struct rec *r = user;

    rec_add(r, "K%d[%s]%s=%s;", line, section, name, value);
    if (line == r->fail_line)
        return cfgparse_fail(err, line, "refused %s", name);
    return 0;
}

static const struct cfgparse_ops rec_ops = {rec_section, rec_key};

static int run_ini(const char *text, struct rec *r, struct cfgparse_error *err)
{
    memset(r->log, 0, sizeof(r->log));
    return cfgparse_ini(text, &rec_ops, r, err);
}

START_TEST(test_ini_driver)
{
    struct rec r = {.fail_line = -1};
    struct cfgparse_error err;
    char msg[400];

    ck_assert_int_eq(run_ini("\xef\xbb\xbf# comment\n; other\n\n[a]\n x = 1 \ny: two ; not a "
                             "comment\r\n[empty]\n[b c]\nz=\n",
                             &r, &err),
                     0);
    ck_assert_str_eq(r.log, "S4[a]K5[a]x=1;K6[a]y=two ; not a comment;S7[empty]S8[b c]K9[b c]z=;");
    /* Sections are reported in file order, also before a later key. */
    ck_assert_int_eq(run_ini("k=v\n[s]\n", &r, &err), 0);
    ck_assert_str_eq(r.log, "K1[]k=v;S2[s]");

    /* Syntax errors carry their line. */
    ck_assert_int_eq(run_ini("[a]\nx=1\nnovalue\ny=2\n", &r, &err), -EINVAL);
    cfgparse_error_format(&err, msg, sizeof(msg));
    ck_assert_str_eq(msg, "line 3: syntax error: expected 'key = value' or '[section]'");
    /* Keys above the bad line were handed over, nothing below it. */
    ck_assert_str_eq(r.log, "S1[a]K2[a]x=1;");
    /* Errors come out in file order: a handler's error above a syntax error
     * wins; a section above it is reported before it. */
    r.fail_line = 2;
    ck_assert_int_eq(run_ini("[a]\nx=1\nnovalue\n", &r, &err), -EINVAL);
    ck_assert_int_eq(err.line, 2);
    ck_assert_str_eq(err.msg, "refused x");
    r.fail_line = -1;
    ck_assert_int_eq(run_ini("[a]\n[b]\nnovalue\n[c]\n", &r, &err), -EINVAL);
    ck_assert_str_eq(r.log, "S1[a]S2[b]");
    ck_assert_int_eq(err.line, 3);
    ck_assert_int_eq(run_ini("[a]\n\n[broken\n", &r, &err), -EINVAL);
    ck_assert_int_eq(err.line, 3);
    ck_assert_str_eq(err.msg, "missing ']' in section header");
    /* Continuation lines are not a thing. */
    ck_assert_int_eq(run_ini("[a]\nx=1\n  more\n", &r, &err), -EINVAL);
    ck_assert_int_eq(err.line, 3);

    /* A handler error stops at its line. */
    r.fail_line = 4;
    ck_assert_int_eq(run_ini("[a]\nx=1\n\ny=2\nz=3\n", &r, &err), -EINVAL);
    cfgparse_error_format(&err, msg, sizeof(msg));
    ck_assert_str_eq(msg, "line 4: refused y");
    ck_assert_ptr_null(strstr(r.log, "z="));
    r.fail_line = -1;
}
END_TEST

START_TEST(test_ini_limits)
{
    struct rec r = {.fail_line = -1};
    struct cfgparse_error err;
    char *text = malloc(CFGPARSE_MAX_SIZE + 16);
    size_t n;

    ck_assert_ptr_nonnull(text);
    /* A line of exactly CFGPARSE_MAX_LINE characters, then one more. */
    n = (size_t)snprintf(text, 64, "[a]\nk=");
    memset(text + n, 'v', CFGPARSE_MAX_LINE - 2);
    snprintf(text + n + CFGPARSE_MAX_LINE - 2, 8, "\n");
    ck_assert_int_eq(run_ini(text, &r, &err), 0);
    memset(text + n, 'v', CFGPARSE_MAX_LINE - 1);
    snprintf(text + n + CFGPARSE_MAX_LINE - 1, 8, "\n");
    ck_assert_int_eq(run_ini(text, &r, &err), -EINVAL);
    ck_assert_int_eq(err.line, 2);
    ck_assert_str_eq(err.msg, "line too long (max 8192 characters)");
    /* Section names: 48 characters ok, 49 not. */
    text[0] = '[';
    memset(text + 1, 's', 48);
    snprintf(text + 49, 8, "]\n");
    ck_assert_int_eq(run_ini(text, &r, &err), 0);
    memset(text + 1, 's', 49);
    snprintf(text + 50, 8, "]\n");
    ck_assert_int_eq(run_ini(text, &r, &err), -EINVAL);
    ck_assert_int_eq(err.line, 1);
    /* Size: exactly 1 MiB of comments is fine, one byte more is not. */
    for (size_t i = 0; i < CFGPARSE_MAX_SIZE; i += 64) {
        memset(text + i, '#', 63);
        text[i + 63] = '\n';
    }
    text[CFGPARSE_MAX_SIZE] = '\0';
    ck_assert_int_eq(run_ini(text, &r, &err), 0);
    text[CFGPARSE_MAX_SIZE] = '#';
    text[CFGPARSE_MAX_SIZE + 1] = '\0';
    ck_assert_int_eq(run_ini(text, &r, &err), -E2BIG);
    free(text);
}
END_TEST

/* ---------- relay config ---------- */

static void relay_err(const char *text, const char *want)
{
    struct relaycfg cfg;
    struct cfgparse_error err;
    char msg[400];
    int rc = relaycfg_parse(text, &cfg, &err);

    ck_assert_msg(rc < 0, "accepted: %s", text);
    cfgparse_error_format(&err, msg, sizeof(msg));
    ck_assert_msg(strcmp(msg, want) == 0, "got '%s', want '%s'", msg, want);
}

START_TEST(test_relay_defaults)
{
    struct relaycfg cfg;
    struct cfgparse_error err;
    const struct relaycfg_limits *l = &cfg.limits;

    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.n_listen, 2);
    ck_assert_str_eq(cfg.listen[0].host, "0.0.0.0");
    ck_assert_uint_eq(cfg.listen[0].port, 7700);
    ck_assert_str_eq(cfg.listen[1].host, "::");
    ck_assert_uint_eq(cfg.listen[1].port, 7700);
    ck_assert_uint_eq(cfg.n_advertise, 0);
    ck_assert_str_eq(cfg.state_dir, "/var/lib/linkrelay");
    ck_assert_str_eq(cfg.key_file, "/var/lib/linkrelay/relay.key");
    ck_assert_str_eq(cfg.database, "/var/lib/linkrelay/linkrelay.db");
    /* The programs put an unset admin socket into STATE_DIR (relaycfg.h). */
    ck_assert_str_eq(cfg.admin_socket, RELAYCFG_ADMIN_SOCKET_UNSET);
    /* relay/rconf.c compares with its own copy of this text. */
    ck_assert_str_eq(RELAYCFG_ADMIN_SOCKET_UNSET, "/run/linkrelay/admin.sock");
    ck_assert_uint_eq(cfg.admin_socket_mode, 0600);
    ck_assert_int_eq(cfg.log_level, LOG_LEVEL_INFO);
    /* docs/protocol.md §9 */
    ck_assert_uint_eq(l->handshake_timeout_ms, 10000);
    ck_assert_uint_eq(l->preauth_bytes, 4096);
    ck_assert_uint_eq(l->max_pending, 1024);
    ck_assert_uint_eq(l->max_pending_per_ip, 64);
    ck_assert_uint_eq(l->conn_rate_per_ip, 200);
    ck_assert_uint_eq(l->conn_burst_per_ip, 400);
    ck_assert_uint_eq(l->max_conns_per_ip, 4096);
    ck_assert_uint_eq(l->max_conns, 0);
    ck_assert_uint_eq(l->max_streams_per_link, 256);
    ck_assert_uint_eq(l->open_rate_per_link, 5000);
    ck_assert_uint_eq(l->open_burst_per_link, 10000);
    ck_assert_uint_eq(l->keepalive_ms, 25000);
    ck_assert_uint_eq(l->dead_after_ms, 90000);
    ck_assert_uint_eq(l->ticket_expiry_ms, 10000);
    ck_assert_uint_eq(l->splice_buffer, 262144);
    ck_assert_uint_eq(l->halfclose_timeout_ms, 60000);
    ck_assert_uint_eq(l->write_stall_timeout_ms, 30000);
    ck_assert_uint_eq(l->zero_copy_streams, 256);
    ck_assert_uint_eq(l->zero_copy_buffer, 1048576);
    ck_assert_uint_eq(l->drain_timeout_ms, 30000);
    ck_assert_uint_eq(l->held_total, 256u * 1024 * 1024);
    ck_assert_uint_eq(l->held_floor, 65536);
}
END_TEST

/* [relay] registry_timeout (D38): default 10 s, 1 s..1 h, in the effective
 * configuration; a PostgreSQL URL's password is shown there as ***. */
START_TEST(test_relay_registry_timeout)
{
    struct relaycfg cfg, again;
    struct cfgparse_error err;
    char *text = NULL;

    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.registry_timeout_ms, 10000);
    ck_assert_uint_eq(cfg.link_linger_ms, 10000); /* [relay] link_linger (D42) */
    ck_assert_int_eq(relaycfg_parse("[relay]\nlink_linger = 1s\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.link_linger_ms, 1000);
    ck_assert_int_eq(relaycfg_parse("[relay]\nlink_linger = 24h\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.link_linger_ms, 86400000);
    ck_assert_int_eq(relaycfg_parse("[relay]\nlink_linger = 999ms\n", &cfg, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "link_linger"));
    ck_assert_int_eq(relaycfg_parse("[relay]\nlink_linger = 86401s\n", &cfg, &err), -EINVAL);
    ck_assert_int_eq(relaycfg_parse("[relay]\nregistry_timeout = 1s\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.registry_timeout_ms, 1000);
    ck_assert_int_eq(relaycfg_parse("[relay]\nregistry_timeout = 1h\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.registry_timeout_ms, 3600000);
    ck_assert_int_eq(relaycfg_parse("[relay]\nregistry_timeout = 999ms\n", &cfg, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "registry_timeout"));
    ck_assert_int_eq(relaycfg_parse("[relay]\nregistry_timeout = 3601s\n", &cfg, &err), -EINVAL);
    ck_assert_int_eq(relaycfg_parse("[relay]\nregistry_timeout = 2500ms\n"
                                    "database = postgresql://lr:s3cret@db.example/reg\n",
                                    &cfg, &err),
                     0);
    ck_assert_str_eq(cfg.database, "postgresql://lr:s3cret@db.example/reg");
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "registry_timeout = 2500ms\n"));
    ck_assert_ptr_nonnull(strstr(text, "link_linger = 10s\n"));
    ck_assert_ptr_nonnull(strstr(text, "database = postgresql://lr:***@db.example/reg\n"));
    ck_assert_ptr_null(strstr(text, "s3cret"));
    ck_assert_int_eq(relaycfg_parse(text, &again, &err), 0);
    ck_assert_uint_eq(again.registry_timeout_ms, 2500);
    free(text);
}
END_TEST

static const char full_relay[] = "# test\n"
                                 "[relay]\n"
                                 "listen = 127.0.0.1:0\n"
                                 "listen = [::1]:7701\n"
                                 "advertise = relay.example.com:443\n"
                                 "state_dir = /tmp/lr state\n"
                                 "admin_socket = /tmp/lr.sock\n"
                                 "admin_socket_mode = 0660\n"
                                 "log_level = debug\n"
                                 "database = /tmp/x.db\n"
                                 "[limits]\n"
                                 "handshake_timeout = 500ms\n"
                                 "preauth_bytes = 8K\n"
                                 "max_pending = 10\n"
                                 "max_pending_per_ip = 10\n"
                                 "conn_rate_per_ip = 5/s\n"
                                 "conn_burst_per_ip = 6\n"
                                 "max_conns_per_ip = 7\n"
                                 "max_conns = 100\n"
                                 "max_streams_per_link = 65535\n"
                                 "open_rate_per_link = 0\n"
                                 "open_burst_per_link = 10000000\n"
                                 "keepalive = 1\n"
                                 "dead_after = 3s\n"
                                 "ticket_expiry = 2m\n"
                                 "splice_buffer = 1M\n"
                                 "halfclose_timeout = 1h\n"
                                 "write_stall_timeout = 45s\n"
                                 "zero_copy_streams = 65536\n"
                                 "zero_copy_buffer = 64M\n"
                                 "drain_timeout = 1h\n";

START_TEST(test_relay_full)
{
    struct relaycfg cfg, again;
    struct cfgparse_error err;
    char *text = NULL, *text2 = NULL;

    ck_assert_int_eq(relaycfg_parse(full_relay, &cfg, &err), 0);
    ck_assert_uint_eq(cfg.n_listen, 2);
    ck_assert_uint_eq(cfg.listen[0].port, 0);
    ck_assert_str_eq(cfg.listen[1].host, "::1");
    ck_assert_uint_eq(cfg.n_advertise, 1);
    ck_assert_str_eq(cfg.advertise[0].host, "relay.example.com");
    ck_assert_str_eq(cfg.key_file, "/tmp/lr state/relay.key");
    ck_assert_str_eq(cfg.database, "/tmp/x.db");
    ck_assert_uint_eq(cfg.admin_socket_mode, 0660);
    ck_assert_int_eq(cfg.log_level, LOG_LEVEL_DEBUG);
    ck_assert_uint_eq(cfg.limits.handshake_timeout_ms, 500);
    ck_assert_uint_eq(cfg.limits.preauth_bytes, 8192);
    ck_assert_uint_eq(cfg.limits.conn_rate_per_ip, 5);
    ck_assert_uint_eq(cfg.limits.conn_burst_per_ip, 6);
    ck_assert_uint_eq(cfg.limits.max_conns, 100);
    ck_assert_uint_eq(cfg.limits.max_streams_per_link, 65535);
    ck_assert_uint_eq(cfg.limits.open_rate_per_link, 0);
    ck_assert_uint_eq(cfg.limits.open_burst_per_link, 10000000);
    ck_assert_uint_eq(cfg.limits.keepalive_ms, 1000);
    ck_assert_uint_eq(cfg.limits.dead_after_ms, 3000);
    ck_assert_uint_eq(cfg.limits.ticket_expiry_ms, 120000);
    ck_assert_uint_eq(cfg.limits.splice_buffer, 1048576);
    ck_assert_uint_eq(cfg.limits.halfclose_timeout_ms, 3600000);
    ck_assert_uint_eq(cfg.limits.write_stall_timeout_ms, 45000);
    ck_assert_uint_eq(cfg.limits.zero_copy_streams, 65536);
    ck_assert_uint_eq(cfg.limits.zero_copy_buffer, 64u * 1024 * 1024);
    ck_assert_uint_eq(cfg.limits.drain_timeout_ms, 3600000);
    /* The normalised text parses back to the same configuration. */
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "listen = [::1]:7701\n"));
    ck_assert_ptr_nonnull(strstr(text, "conn_rate_per_ip = 5/s\n"));
    ck_assert_ptr_nonnull(strstr(text, "open_rate_per_link = 0/s\n"));
    ck_assert_ptr_nonnull(strstr(text, "open_burst_per_link = 10000000\n"));
    ck_assert_ptr_nonnull(strstr(text, "admin_socket_mode = 0660\n"));
    ck_assert_int_eq(relaycfg_parse(text, &again, &err), 0);
    ck_assert_int_eq(relaycfg_format(&again, &text2), 0);
    ck_assert_str_eq(text, text2);
    free(text);
    free(text2);
    /* Defaults format too, with max_conns = auto. */
    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "max_conns = auto\n"));
    ck_assert_ptr_nonnull(strstr(text, "keepalive = 25s\n"));
    ck_assert_ptr_nonnull(strstr(text, "splice_buffer = 256K\n"));
    ck_assert_ptr_nonnull(strstr(text, "zero_copy_streams = 256\n"));
    ck_assert_ptr_nonnull(strstr(text, "zero_copy_buffer = 1M\n"));
    ck_assert_ptr_nonnull(strstr(text, "open_rate_per_link = 5000/s\n"));
    ck_assert_ptr_nonnull(strstr(text, "open_burst_per_link = 10000\n"));
    ck_assert_int_eq(relaycfg_parse(text, &again, &err), 0);
    free(text);
    /* zero_copy_streams = 0 (never splice) is the lower limit. */
    ck_assert_int_eq(relaycfg_parse("[limits]\nzero_copy_streams = 0\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.limits.zero_copy_streams, 0);
    ck_assert_int_eq(relaycfg_parse("[limits]\nzero_copy_buffer = 256K\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.limits.zero_copy_buffer, 262144);
    /* held_total and held_floor (D40) at both ends of their ranges. */
    ck_assert_int_eq(relaycfg_parse("[limits]\nheld_total = 1M\nheld_floor = 4096\n", &cfg, &err),
                     0);
    ck_assert_uint_eq(cfg.limits.held_total, 1048576);
    ck_assert_uint_eq(cfg.limits.held_floor, 4096);
    ck_assert_int_eq(relaycfg_parse("[limits]\nheld_total = 2G\nheld_floor = 64M\n", &cfg, &err),
                     0);
    ck_assert_uint_eq(cfg.limits.held_total, 2147483648u);
    ck_assert_uint_eq(cfg.limits.held_floor, 67108864);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "held_total = 2G\n"));
    ck_assert_ptr_nonnull(strstr(text, "held_floor = 64M\n"));
    free(text);
    /* drain_timeout = 0 (SIGTERM stops at once, D25) is the lower limit. */
    ck_assert_int_eq(relaycfg_parse("[limits]\ndrain_timeout = 0\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.limits.drain_timeout_ms, 0);
    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "drain_timeout = 30s\n"));
    free(text);
}
END_TEST

START_TEST(test_relay_errors)
{
    relay_err("[relay]\nlisten = 0.0.0.0:1\n\n\n\n\nlisen = 1.2.3.4:5\n",
              "line 7: unknown key 'lisen' in [relay]");
    relay_err("[relay]\n[relya]\n", "line 2: unknown section [relya]");
    relay_err("[limits]\n[relay]\n[limits]\n", "line 3: duplicate section [limits]");
    relay_err("log_level = info\n", "line 1: key 'log_level' outside any section");
    relay_err("[relay]\nlog_level = info\nlog_level = debug\n",
              "line 3: duplicate key 'log_level' (first set on line 2)");
    relay_err("[relay]\nlog_level = loud\n",
              "line 2: log_level: 'loud' is not error, warn, info or debug");
    relay_err("[relay]\nlisten = example.com:7700\n",
              "line 2: listen 'example.com:7700': a numeric IP address is required here");
    relay_err("[relay]\nlisten = 1.2.3.4\n", "line 2: listen '1.2.3.4': missing ':port'");
    relay_err("[relay]\nadvertise = relay.example.com:0\n",
              "line 2: advertise 'relay.example.com:0': port 0 is not allowed here");
    relay_err("[relay]\nlisten = 1.2.3.4:5\nlisten = 1.2.3.4:5\n",
              "line 3: duplicate listen address '1.2.3.4:5'");
    relay_err("[relay]\nadmin_socket_mode = 0666\n",
              "line 2: admin_socket_mode 0666 gives others access; use 0600 or 0660");
    relay_err("[relay]\nadmin_socket_mode = 0686\n",
              "line 2: admin_socket_mode: '0686' is not an octal mode");
    relay_err("[relay]\nstate_dir =\n", "line 2: state_dir must not be empty");
    /* The first error in the file is the one reported. */
    relay_err("[relay]\nlisen = 1.2.3.4:5\n[link]\nx\n", "line 2: unknown key 'lisen' in [relay]");
    relay_err("[relay]\n[bogus]\nx\n", "line 2: unknown section [bogus]");
    relay_err("[relay]\nlog_level = info\nx\n", "line 3: syntax error: expected 'key = value' or "
                                                "'[section]'");
}
END_TEST

START_TEST(test_relay_limit_errors)
{
    relay_err("[limits]\nkeepalive = 90s\n",
              "line 2: keepalive (90s) must be less than dead_after (90s)");
    relay_err("[limits]\ndead_after = 20s\n\nkeepalive=20\n",
              "line 4: keepalive (20s) must be less than dead_after (20s)");
    relay_err("[limits]\nkeepalive = 1500ms\n",
              "line 2: keepalive must be whole seconds (agents get it in seconds)");
    relay_err("[limits]\nkeepalive = 0s\n", "line 2: keepalive: '0s' is out of range (1s..1h)");
    relay_err("[limits]\ndead_after = 65536\n",
              "line 2: dead_after: '65536' is out of range (2s..65535s)");
    relay_err("[limits]\nhandshake_timeout = 10 s\n",
              "line 2: handshake_timeout: '10 s' is not a duration like 500ms, 10s, 2m, 1h "
              "(plain numbers are seconds)");
    relay_err("[limits]\nsplice_buffer = 4095\n",
              "line 2: splice_buffer: '4095' is out of range (4096..67108864)");
    relay_err("[limits]\nsplice_buffer = 64KB\n",
              "line 2: splice_buffer: '64KB' is not a size like 4096, 64K, 1M");
    relay_err("[limits]\nconn_rate_per_ip = 10/min\n",
              "line 2: conn_rate_per_ip: '10/min' is not a rate like 200/s");
    relay_err("[limits]\nmax_streams_per_link = 65536\n",
              "line 2: max_streams_per_link: '65536' is out of range (1..65535)");
    relay_err("[limits]\nzero_copy_streams = 65537\n",
              "line 2: zero_copy_streams: '65537' is out of range (0..65536)");
    relay_err("[limits]\nzero_copy_buffer = 262143\n",
              "line 2: zero_copy_buffer: '262143' is out of range (262144..67108864)");
    relay_err("[limits]\nzero_copy_buffer = 65M\n",
              "line 2: zero_copy_buffer: '65M' is out of range (262144..67108864)");
    relay_err("[limits]\nheld_total = 1048575\n",
              "line 2: held_total: '1048575' is out of range (1048576..2147483648)");
    relay_err("[limits]\nheld_total = 2049M\n",
              "line 2: held_total: '2049M' is out of range (1048576..2147483648)");
    relay_err("[limits]\nheld_floor = 4095\n",
              "line 2: held_floor: '4095' is out of range (4096..67108864)");
    relay_err("[limits]\nheld_floor = 65M\n",
              "line 2: held_floor: '65M' is out of range (4096..67108864)");
    relay_err("[limits]\nzero_copy_streams = -1\n",
              "line 2: zero_copy_streams: '-1' is not a whole number");
    relay_err("[limits]\nmax_conns = many\n",
              "line 2: max_conns: 'many' is not 'auto' or a whole number");
    relay_err("[limits]\nmax_pending = 10\n",
              "line 2: max_pending_per_ip (64) must not exceed max_pending (10)");
    relay_err("[limits]\nmax_pending_per_ip = 2000\n",
              "line 2: max_pending_per_ip (2000) must not exceed max_pending (1024)");
    relay_err("[limits]\nmax_conns = 100\nmax_conns_per_ip = 101\n",
              "line 3: max_conns_per_ip (101) must not exceed max_conns (100)");
    relay_err("[limits]\nmax_conns = 100\nmax_conns_per_ip = 100\nmax_pending = 0\n",
              "line 4: max_pending: '0' is out of range (1..1000000)");
    relay_err("[limits]\ndrain_timeout = 3601s\n",
              "line 2: drain_timeout: '3601s' is out of range (0s..1h)");
    relay_err("[limits]\ndrain_timeout = soon\n",
              "line 2: drain_timeout: 'soon' is not a duration like 500ms, 10s, 2m, 1h "
              "(plain numbers are seconds)");
    relay_err("[limits]\npreauth_bytes = 255\n",
              "line 2: preauth_bytes: '255' is out of range (256..1048576)");
}
END_TEST

/* [accounting] (D31): accounting_retention and events_retention, whole days
 * with or without a 'd', 0 (for ever) .. 36500; defaults 90d; formatted and
 * read back; one past the end, a unit other than d, and a bad section
 * refused with the line. */
START_TEST(test_relay_retention)
{
    struct relaycfg cfg, again;
    struct cfgparse_error err;
    char *text = NULL;

    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.retention.accounting_days, 90);
    ck_assert_uint_eq(cfg.retention.events_days, 90);
    ck_assert_int_eq(relaycfg_parse("[accounting]\naccounting_retention = 0\n"
                                    "events_retention = 36500d\n",
                                    &cfg, &err),
                     0);
    ck_assert_uint_eq(cfg.retention.accounting_days, 0);
    ck_assert_uint_eq(cfg.retention.events_days, 36500);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "\n[accounting]\naccounting_retention = 0d\n"
                                       "events_retention = 36500d\n"));
    ck_assert_int_eq(relaycfg_parse(text, &again, &err), 0);
    ck_assert_uint_eq(again.retention.accounting_days, 0);
    ck_assert_uint_eq(again.retention.events_days, 36500);
    free(text);
    ck_assert_int_eq(relaycfg_parse("[accounting]\nevents_retention = 7\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.retention.events_days, 7);
    relay_err("[accounting]\naccounting_retention = 36501d\n",
              "line 2: accounting_retention: '36501d' is out of range (0..36500)");
    relay_err("[accounting]\nevents_retention = 2w\n",
              "line 2: events_retention: '2w' is not a number of days like 90d or 90 (0 = for "
              "ever)");
    relay_err("[accounting]\nevents_retention = d\n",
              "line 2: events_retention: 'd' is not a number of days like 90d or 90 (0 = for "
              "ever)");
    relay_err("[limits]\nevents_retention = 1\n",
              "line 2: unknown key 'events_retention' in [limits]");
}
END_TEST

/* [pool] (D34): member_id off by default or 1..64 of [A-Za-z0-9._-];
 * member_timeout 300ms..600s (2 s), heartbeat 50ms..200s (500 ms) and at
 * most a third of member_timeout; round trip through relaycfg_format. */
START_TEST(test_relay_pool)
{
    struct relaycfg cfg, again;
    struct cfgparse_error err;
    char id64[65], text64[128];
    char *text = NULL;

    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_str_eq(cfg.pool.member_id, "");
    ck_assert_uint_eq(cfg.pool.member_timeout_ms, 2000);
    ck_assert_uint_eq(cfg.pool.heartbeat_ms, 500);
    ck_assert_int_eq(relaycfg_parse("[pool]\nmember_id = relay-1.a_B\nmember_timeout = 300ms\n"
                                    "heartbeat = 100ms\n",
                                    &cfg, &err),
                     0);
    ck_assert_str_eq(cfg.pool.member_id, "relay-1.a_B");
    ck_assert_uint_eq(cfg.pool.member_timeout_ms, 300);
    ck_assert_uint_eq(cfg.pool.heartbeat_ms, 100);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "\n[pool]\nmember_id = relay-1.a_B\n"
                                       "member_timeout = 300ms\nheartbeat = 100ms\n"));
    ck_assert_int_eq(relaycfg_parse(text, &again, &err), 0);
    ck_assert_str_eq(again.pool.member_id, "relay-1.a_B");
    free(text);
    ck_assert_int_eq(relaycfg_parse("[pool]\nmember_id = off\n", &cfg, &err), 0);
    ck_assert_str_eq(cfg.pool.member_id, "");
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "\n[pool]\nmember_id = off\n"));
    free(text);
    memset(id64, 'x', 64);
    id64[64] = '\0';
    snprintf(text64, sizeof(text64), "[pool]\nmember_id = %s\n", id64);
    ck_assert_int_eq(relaycfg_parse(text64, &cfg, &err), 0);
    ck_assert_str_eq(cfg.pool.member_id, id64);
    snprintf(text64, sizeof(text64), "[pool]\nmember_id = %sx\n", id64);
    ck_assert_int_eq(relaycfg_parse(text64, &cfg, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "use off or 1..64"));
    relay_err("[pool]\nmember_id = a b\n",
              "line 2: member_id 'a b': use off or 1..64 of A-Z a-z 0-9 . _ -");
    relay_err("[pool]\nmember_id = r/1\n",
              "line 2: member_id 'r/1': use off or 1..64 of A-Z a-z 0-9 . _ -");
    relay_err("[pool]\nmember_timeout = 299ms\nheartbeat = 50ms\n",
              "line 2: member_timeout: '299ms' is out of range (300ms..10m)");
    relay_err("[pool]\nheartbeat = 49ms\n",
              "line 2: heartbeat: '49ms' is out of range (50ms..200s)");
    relay_err("[pool]\nmember_timeout = 1s\nheartbeat = 334ms\n",
              "line 3: heartbeat (334ms) must be at most a third of member_timeout (1000ms)");
    ck_assert_int_eq(
        relaycfg_parse("[pool]\nmember_timeout = 1500ms\nheartbeat = 500ms\n", &cfg, &err), 0);
}
END_TEST

/* open_rate_per_link 0..1000000 (0 = unlimited), open_burst_per_link
 * 1..10000000: each end accepted, one past each end refused with the key and
 * the line. */
START_TEST(test_relay_open_rate_limits)
{
    struct relaycfg cfg;
    struct cfgparse_error err;

    ck_assert_int_eq(relaycfg_parse("[limits]\nopen_rate_per_link = 1000000/s\n"
                                    "open_burst_per_link = 1\n",
                                    &cfg, &err),
                     0);
    ck_assert_uint_eq(cfg.limits.open_rate_per_link, 1000000);
    ck_assert_uint_eq(cfg.limits.open_burst_per_link, 1);
    ck_assert_int_eq(relaycfg_parse("[limits]\nopen_rate_per_link = 1\n"
                                    "open_burst_per_link = 10000000\n",
                                    &cfg, &err),
                     0);
    ck_assert_uint_eq(cfg.limits.open_rate_per_link, 1);
    ck_assert_uint_eq(cfg.limits.open_burst_per_link, 10000000);
    ck_assert_int_eq(relaycfg_parse("[limits]\nopen_rate_per_link = 0/s\n", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.limits.open_rate_per_link, 0);
    relay_err("[limits]\nopen_rate_per_link = 1000001/s\n",
              "line 2: open_rate_per_link: '1000001/s' is out of range (0..1000000)");
    relay_err("[limits]\nmax_streams_per_link = 7\n\nopen_burst_per_link = 0\n",
              "line 4: open_burst_per_link: '0' is out of range (1..10000000)");
    relay_err("[limits]\nopen_burst_per_link = 10000001\n",
              "line 2: open_burst_per_link: '10000001' is out of range (1..10000000)");
    relay_err("[limits]\nopen_rate_per_link = 10/min\n",
              "line 2: open_rate_per_link: '10/min' is not a rate like 200/s");
    relay_err("[limits]\nopen_rate_per_link = -1\n",
              "line 2: open_rate_per_link: '-1' is not a rate like 200/s");
    relay_err("[limits]\nopen_burst_per_link = 5/s\n",
              "line 2: open_burst_per_link: '5/s' is not a whole number");
    relay_err("[limits]\nopen_burst_per_link = 5\nopen_burst_per_link = 6\n",
              "line 3: duplicate key 'open_burst_per_link' (first set on line 2)");
    relay_err("[relay]\nopen_rate_per_link = 5\n",
              "line 2: unknown key 'open_rate_per_link' in [relay]");
}
END_TEST

/* An advertised address travels as str8: 255 bytes ok, 256 not. */
START_TEST(test_relay_advertise_length)
{
    char text[1024], host[300];
    struct relaycfg cfg;
    struct cfgparse_error err;

    /* 63+1+63+1+63+1+57 = 249 characters of host, ":65535" -> 255 bytes. */
    memset(host, 'h', 249);
    host[63] = host[127] = host[191] = '.';
    host[249] = '\0';
    snprintf(text, sizeof(text), "[relay]\nadvertise = %s:65535\n", host);
    ck_assert_int_eq(relaycfg_parse(text, &cfg, &err), 0);
    ck_assert_uint_eq(strlen(cfg.advertise[0].host) + 6, 255);
    host[249] = 'h';
    host[250] = '\0';
    snprintf(text, sizeof(text), "[relay]\nadvertise = %s:65535\n", host);
    relay_err(text, "line 2: advertise address longer than 255 bytes");
}
END_TEST

/* The advertised-address self-check (D35): defaults 1m and 5s; the
 * interval 0 (off) .. 1 day, the timeout 100 ms .. 5 min, each at its
 * bounds and one past; formatted and read back. */
START_TEST(test_relay_advertise_check)
{
    struct relaycfg cfg, again;
    struct cfgparse_error err;
    char *text = NULL;

    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_uint_eq(cfg.advertise_check_interval_ms, 60000);
    ck_assert_uint_eq(cfg.advertise_check_timeout_ms, 5000);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "advertise_check_interval = 1m\n"));
    ck_assert_ptr_nonnull(strstr(text, "advertise_check_timeout = 5s\n"));
    free(text);
    ck_assert_int_eq(relaycfg_parse("[relay]\nadvertise_check_interval = 0\n"
                                    "advertise_check_timeout = 100ms\n",
                                    &cfg, &err),
                     0);
    ck_assert_uint_eq(cfg.advertise_check_interval_ms, 0);
    ck_assert_uint_eq(cfg.advertise_check_timeout_ms, 100);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_int_eq(relaycfg_parse(text, &again, &err), 0);
    ck_assert_uint_eq(again.advertise_check_interval_ms, 0);
    ck_assert_uint_eq(again.advertise_check_timeout_ms, 100);
    free(text);
    ck_assert_int_eq(relaycfg_parse("[relay]\nadvertise_check_interval = 24h\n"
                                    "advertise_check_timeout = 5m\n",
                                    &cfg, &err),
                     0);
    ck_assert_uint_eq(cfg.advertise_check_interval_ms, 86400000);
    ck_assert_uint_eq(cfg.advertise_check_timeout_ms, 300000);
    relay_err("[relay]\nadvertise_check_interval = 86401s\n",
              "line 2: advertise_check_interval: '86401s' is out of range (0s..24h)");
    relay_err("[relay]\nadvertise_check_timeout = 99ms\n",
              "line 2: advertise_check_timeout: '99ms' is out of range (100ms..5m)");
    relay_err("[relay]\nadvertise_check_timeout = 301s\n",
              "line 2: advertise_check_timeout: '301s' is out of range (100ms..5m)");
    relay_err("[relay]\nadvertise_check_interval = often\n",
              "line 2: advertise_check_interval: 'often' is not a duration like 500ms, 10s, 2m, "
              "1h (plain numbers are seconds)");
}
END_TEST

START_TEST(test_relay_listen_count)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), "[relay]\n");
    struct relaycfg cfg;
    struct cfgparse_error err;

    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "listen = 127.0.0.%d:7700\n"
                              "advertise = r%d.example:7700\n",
                              i + 1, i);
    ck_assert_int_eq(relaycfg_parse(text, &cfg, &err), 0);
    ck_assert_uint_eq(cfg.n_listen, 16);
    ck_assert_uint_eq(cfg.n_advertise, 16);
    snprintf(text + n, sizeof(text) - n, "listen = 127.0.1.1:7700\n");
    relay_err(text, "line 34: too many listen addresses (max 16)");
    snprintf(text + n, sizeof(text) - n, "advertise = x.example:1\n");
    relay_err(text, "line 34: too many advertise addresses (max 16)");
}
END_TEST

START_TEST(test_relay_metrics)
{
    struct relaycfg cfg;
    struct cfgparse_error err;
    char *text = NULL;

    /* Off by default, per-link series off, 100 links at most. */
    ck_assert_int_eq(relaycfg_parse("", &cfg, &err), 0);
    ck_assert_int_eq(cfg.has_metrics_listen, 0);
    ck_assert_uint_eq(cfg.metrics_per_link, 0);
    ck_assert_uint_eq(cfg.metrics_max_links, 100);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "metrics_listen = off\nmetrics_per_link = off\n"
                                       "metrics_max_links = 100\n"));
    free(text);
    ck_assert_int_eq(relaycfg_parse("[relay]\nmetrics_listen = 127.0.0.1:9477\n"
                                    "metrics_per_link = on\nmetrics_max_links = 10000\n",
                                    &cfg, &err),
                     0);
    ck_assert_int_eq(cfg.has_metrics_listen, 1);
    ck_assert_str_eq(cfg.metrics_listen.host, "127.0.0.1");
    ck_assert_uint_eq(cfg.metrics_listen.port, 9477);
    ck_assert_uint_eq(cfg.metrics_per_link, 1);
    ck_assert_uint_eq(cfg.metrics_max_links, 10000);
    ck_assert_int_eq(relaycfg_format(&cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "metrics_listen = 127.0.0.1:9477\nmetrics_per_link = on\n"
                                       "metrics_max_links = 10000\n"));
    free(text);
    ck_assert_int_eq(relaycfg_parse("[relay]\nmetrics_listen = [::1]:0\n", &cfg, &err), 0);
    ck_assert_str_eq(cfg.metrics_listen.host, "::1");
    ck_assert_uint_eq(cfg.metrics_listen.port, 0);
    ck_assert_int_eq(
        relaycfg_parse("[relay]\nmetrics_listen = off\nmetrics_max_links = 1\n", &cfg, &err), 0);
    ck_assert_int_eq(cfg.has_metrics_listen, 0);
    ck_assert_uint_eq(cfg.metrics_max_links, 1);
    relay_err("[relay]\nmetrics_listen = localhost:9477\n",
              "line 2: metrics_listen 'localhost:9477': a numeric IP address is required here "
              "(use off or HOST:PORT)");
    relay_err("[relay]\nmetrics_listen = 9477\n",
              "line 2: metrics_listen '9477': missing ':port' (use off or HOST:PORT)");
    relay_err("[relay]\nmetrics_per_link = yes\n",
              "line 2: metrics_per_link: 'yes' is not on or off");
    relay_err("[relay]\nmetrics_max_links = 0\n",
              "line 2: metrics_max_links: '0' is out of range (1..10000)");
    relay_err("[relay]\nmetrics_max_links = 10001\n",
              "line 2: metrics_max_links: '10001' is out of range (1..10000)");
}
END_TEST

/* ---------- agent config ---------- */

struct fixture {
    char relay_pub[KEY_TEXT_SIZE], peer_pub[KEY_TEXT_SIZE], priv[KEY_TEXT_SIZE];
    char own_pub[KEY_TEXT_SIZE];
    char id[LINKID_TEXT_SIZE];
    char token[TOKEN_TEXT_SIZE], byo_token[TOKEN_TEXT_SIZE];
    struct token t;
};

static void fixture_make(struct fixture *f)
{
    uint8_t priv[KEY_LEN], pub[KEY_LEN];

    memset(f, 0, sizeof(*f));
    key_keypair_new(priv, pub);
    key_pub_encode(pub, f->relay_pub);
    memcpy(f->t.relay_pub, pub, KEY_LEN);
    key_keypair_new(priv, pub);
    key_pub_encode(pub, f->peer_pub);
    memcpy(f->t.peer_pub, pub, KEY_LEN);
    key_keypair_new(priv, pub);
    key_priv_encode(priv, f->priv);
    key_pub_encode(pub, f->own_pub);
    memcpy(f->t.priv, priv, KEY_LEN);
    linkid_new(f->t.link_id);
    linkid_encode(f->t.link_id, f->id);
    f->t.version = 1;
    f->t.flags = TOKEN_FLAG_PRIV;
    f->t.side = 1;
    f->t.relay_key_id = 3;
    f->t.n_addrs = 1;
    snprintf(f->t.addrs[0], sizeof(f->t.addrs[0]), "relay.example.com:7700");
    snprintf(f->t.name, sizeof(f->t.name), "cam");
    ck_assert_int_eq(token_encode(&f->t, f->token, sizeof(f->token)), 0);
    f->t.flags = 0;
    ck_assert_int_eq(token_encode(&f->t, f->byo_token, sizeof(f->byo_token)), 0);
}

static struct agentcfg *agent_ok(const char *text)
{
    struct agentcfg *cfg = NULL;
    struct cfgparse_error err;
    char msg[400];
    int rc = agentcfg_parse(text, &cfg, &err);

    cfgparse_error_format(&err, msg, sizeof(msg));
    ck_assert_msg(rc == 0, "rejected (%s): %s", msg, text);
    return cfg;
}

static void agent_err(const char *text, const char *want)
{
    struct agentcfg *cfg = NULL;
    struct cfgparse_error err;
    char msg[400];
    int rc = agentcfg_parse(text, &cfg, &err);

    ck_assert_msg(rc < 0, "accepted: %s", text);
    ck_assert_ptr_null(cfg);
    cfgparse_error_format(&err, msg, sizeof(msg));
    ck_assert_msg(strcmp(msg, want) == 0, "got '%s', want '%s'", msg, want);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char buf[32][16384];
    static int k;
    va_list ap;
    char *b = buf[k++ % 32];

    va_start(ap, f);
    vsnprintf(b, sizeof(buf[0]), f, ap);
    va_end(ap);
    return b;
}

START_TEST(test_agent_token_link)
{
    struct fixture f;
    struct agentcfg *cfg;
    const struct agentcfg_link *l;

    fixture_make(&f);
    cfg = agent_ok(fmt("[link cam]\ntoken = %s\nlisten = 127.0.0.1:8554\n", f.token));
    ck_assert_uint_eq(cfg->n_links, 1);
    l = &cfg->links[0];
    ck_assert_str_eq(l->name, "cam");
    ck_assert(l->from_token);
    ck_assert(l->has_priv);
    ck_assert_mem_eq(l->priv, f.t.priv, KEY_LEN);
    ck_assert_mem_eq(l->link_id, f.t.link_id, LINKID_LEN);
    ck_assert_uint_eq(l->side, 1);
    ck_assert_mem_eq(l->peer_pub, f.t.peer_pub, KEY_LEN);
    ck_assert_mem_eq(l->relay_pub, f.t.relay_pub, KEY_LEN);
    ck_assert_uint_eq(l->relay_key_id, 3);
    ck_assert_uint_eq(l->n_relays, 1);
    ck_assert_str_eq(l->relays[0].host, "relay.example.com");
    ck_assert_uint_eq(l->n_listen, 1);
    ck_assert(!l->has_connect);
    ck_assert_int_eq(l->policy, AGENTCFG_ON_DEMAND);
    ck_assert_uint_eq(cfg->keepalive_ms, 25000);
    ck_assert_uint_eq(cfg->backoff_min_ms, 1000);
    ck_assert_uint_eq(cfg->backoff_max_ms, 60000);
    ck_assert_uint_eq(cfg->open_queue, 256);
    ck_assert_uint_eq(cfg->open_wait_ms, 5000);
    ck_assert_uint_eq(cfg->resume_timeout_ms, 60000);
    ck_assert_uint_eq(cfg->resume_buffer, 4u << 20);
    ck_assert_uint_eq(cfg->resume_buffer_total, 256u << 20);
    ck_assert_int_eq(cfg->cipher, SUITE_CFG_AUTO);
    agentcfg_free(cfg);
    agentcfg_free(NULL);
}
END_TEST

/* open_queue 0..4096 and open_wait 0..60s, each at both ends and one past;
 * both are printed back by agentcfg_format. */
START_TEST(test_agent_open_queue_wait)
{
    struct fixture f;
    struct agentcfg *cfg;
    const char *link;
    char *text = NULL;

    fixture_make(&f);
    link = fmt("[link cam]\ntoken = %s\nlisten = 127.0.0.1:8554\n", f.token);
    cfg = agent_ok(fmt("[agent]\nopen_queue = 0\nopen_wait = 0\n%s", link));
    ck_assert_uint_eq(cfg->open_queue, 0);
    ck_assert_uint_eq(cfg->open_wait_ms, 0);
    agentcfg_free(cfg);
    cfg = agent_ok(fmt("[agent]\nopen_queue = 4096\nopen_wait = 60s\n%s", link));
    ck_assert_uint_eq(cfg->open_queue, 4096);
    ck_assert_uint_eq(cfg->open_wait_ms, 60000);
    agentcfg_free(cfg);
    cfg = agent_ok(fmt("[agent]\nopen_queue = 17\nopen_wait = 1500ms\n%s", link));
    ck_assert_int_eq(agentcfg_format(cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "open_queue = 17\nopen_wait = 1500ms\n"));
    free(text);
    agentcfg_free(cfg);
    agent_err(fmt("[agent]\nopen_queue = 4097\n%s", link),
              "line 2: open_queue: '4097' is out of range (0..4096)");
    agent_err(fmt("[agent]\nopen_queue = -1\n%s", link),
              "line 2: open_queue: '-1' is not a whole number");
    agent_err(fmt("[agent]\nopen_wait = 60001ms\n%s", link),
              "line 2: open_wait: '60001ms' is out of range (0..60s)");
    agent_err(fmt("[agent]\nopen_wait = soon\n%s", link),
              "line 2: open_wait: 'soon' is not a duration like 500ms, 10s, 2m, 1h");
    agent_err(fmt("[agent]\nopen_queue = 1\nopen_queue = 2\n%s", link),
              "line 3: duplicate key 'open_queue' (first set on line 2)");
}
END_TEST

/* resume_timeout 0..1h, resume_buffer 128KiB..1GiB, resume_buffer_total
 * 128KiB..64GiB: both ends, one past, printed back by agentcfg_format. */
START_TEST(test_agent_resume_keys)
{
    struct fixture f;
    struct agentcfg *cfg;
    const char *link;
    char *text = NULL;

    fixture_make(&f);
    link = fmt("[link cam]\ntoken = %s\nlisten = 127.0.0.1:8554\n", f.token);
    cfg = agent_ok(fmt("[agent]\nresume_timeout = 0\nresume_buffer = 128KiB\n"
                       "resume_buffer_total = 128KiB\n%s",
                       link));
    ck_assert_uint_eq(cfg->resume_timeout_ms, 0);
    ck_assert_uint_eq(cfg->resume_buffer, 128u << 10);
    ck_assert_uint_eq(cfg->resume_buffer_total, 128u << 10);
    agentcfg_free(cfg);
    cfg = agent_ok(fmt("[agent]\nresume_timeout = 1h\nresume_buffer = 1GiB\n"
                       "resume_buffer_total = 64GiB\n%s",
                       link));
    ck_assert_uint_eq(cfg->resume_timeout_ms, 3600000);
    ck_assert_uint_eq(cfg->resume_buffer, 1ull << 30);
    ck_assert_uint_eq(cfg->resume_buffer_total, 64ull << 30);
    ck_assert_int_eq(agentcfg_format(cfg, &text), 0);
    ck_assert_ptr_nonnull(
        strstr(text, "resume_timeout = 1h\nresume_buffer = 1G\nresume_buffer_total = 64G\n"));
    free(text);
    agentcfg_free(cfg);
    agent_err(fmt("[agent]\nresume_timeout = 3600001ms\n%s", link),
              "line 2: resume_timeout: '3600001ms' is out of range (0..1h)");
    agent_err(fmt("[agent]\nresume_buffer = 131071\n%s", link),
              "line 2: resume_buffer: '131071' is out of range (128KiB..1GiB)");
    agent_err(fmt("[agent]\nresume_buffer_total = 65GiB\n%s", link),
              "line 2: resume_buffer_total: '65GiB' is out of range (128KiB..64GiB)");
}
END_TEST

/* keep_legs 0..1024 (default 64), keep_idle 1s..1h (default 15s): both
 * ends, one past, not a number, printed back (D48). */
START_TEST(test_agent_keep_keys)
{
    struct fixture f;
    struct agentcfg *cfg;
    const char *link;
    char *text = NULL;

    fixture_make(&f);
    link = fmt("[link cam]\ntoken = %s\nlisten = 127.0.0.1:8554\n", f.token);
    cfg = agent_ok(fmt("[agent]\n%s", link));
    ck_assert_uint_eq(cfg->keep_legs, 64);
    ck_assert_uint_eq(cfg->keep_idle_ms, 15000);
    agentcfg_free(cfg);
    cfg = agent_ok(fmt("[agent]\nkeep_legs = 0\nkeep_idle = 1s\n%s", link));
    ck_assert_uint_eq(cfg->keep_legs, 0);
    ck_assert_uint_eq(cfg->keep_idle_ms, 1000);
    agentcfg_free(cfg);
    cfg = agent_ok(fmt("[agent]\nkeep_legs = 1024\nkeep_idle = 1h\n%s", link));
    ck_assert_uint_eq(cfg->keep_legs, 1024);
    ck_assert_uint_eq(cfg->keep_idle_ms, 3600000);
    ck_assert_int_eq(agentcfg_format(cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "keep_legs = 1024\nkeep_idle = 1h\n"));
    free(text);
    agentcfg_free(cfg);
    agent_err(fmt("[agent]\nkeep_legs = 1025\n%s", link),
              "line 2: keep_legs: '1025' is out of range (0..1024)");
    agent_err(fmt("[agent]\nkeep_legs = many\n%s", link),
              "line 2: keep_legs: 'many' is not a whole number");
    agent_err(fmt("[agent]\nkeep_idle = 999ms\n%s", link),
              "line 2: keep_idle: '999ms' is out of range (1s..1h)");
    agent_err(fmt("[agent]\nkeep_idle = 3601s\n%s", link),
              "line 2: keep_idle: '3601s' is out of range (1s..1h)");
}
END_TEST

/* cipher: the three values, printed back; anything else is refused with
 * the list (D37). */
START_TEST(test_agent_cipher_key)
{
    static const char *const v[] = {"auto", "chacha20-poly1305", "aes-256-gcm"};
    struct fixture f;
    struct agentcfg *cfg;
    const char *link;
    char *text = NULL;

    fixture_make(&f);
    link = fmt("[link cam]\ntoken = %s\nlisten = 127.0.0.1:8554\n", f.token);
    for (int i = 0; i < 3; i++) {
        cfg = agent_ok(fmt("[agent]\ncipher = %s\n%s", v[i], link));
        ck_assert_int_eq(cfg->cipher, (enum suite_cfg)i);
        ck_assert_int_eq(agentcfg_format(cfg, &text), 0);
        ck_assert_ptr_nonnull(strstr(text, fmt("cipher = %s\n", v[i])));
        free(text);
        agentcfg_free(cfg);
    }
    agent_err(fmt("[agent]\ncipher = aes-128-gcm\n%s", link),
              "line 2: cipher: 'aes-128-gcm' is not auto, chacha20-poly1305 or aes-256-gcm");
    agent_err(fmt("[agent]\ncipher = \n%s", link),
              "line 2: cipher: '' is not auto, chacha20-poly1305 or aes-256-gcm");
    agent_err(fmt("[agent]\ncipher = auto\ncipher = auto\n%s", link),
              "line 3: duplicate key 'cipher' (first set on line 2)");
}
END_TEST

START_TEST(test_agent_explicit_link)
{
    struct fixture f;
    struct agentcfg *cfg;
    const struct agentcfg_link *l;
    char *text = NULL;

    fixture_make(&f);
    cfg = agent_ok(fmt("[agent]\nrelay = 198.18.0.1:7700\nrelay = relay2.example:7700\n"
                       "relay_key = %s\nrelay_key_id = 255\nlog_level = warn\nkeepalive = 5s\n"
                       "backoff_min = 200ms\nbackoff_max = 2m\n\n"
                       "[link plc.1]\nkey = %s\nlink_id = %s\nside = a\npeer_key = %s\n"
                       "connect = 192.168.1.10:502\npolicy = immediate\n",
                       f.relay_pub, f.priv, f.id, f.peer_pub));
    l = &cfg->links[0];
    ck_assert(!l->from_token);
    ck_assert(l->has_priv);
    ck_assert_mem_eq(l->priv, f.t.priv, KEY_LEN);
    ck_assert_uint_eq(l->side, 0);
    ck_assert_uint_eq(l->n_relays, 2);
    ck_assert_str_eq(l->relays[1].host, "relay2.example");
    ck_assert_uint_eq(l->relay_key_id, 255);
    ck_assert_mem_eq(l->relay_pub, f.t.relay_pub, KEY_LEN);
    ck_assert(l->has_connect);
    ck_assert_uint_eq(l->connect.port, 502);
    ck_assert_int_eq(l->policy, AGENTCFG_IMMEDIATE);
    ck_assert_int_eq(cfg->log_level, LOG_LEVEL_WARN);
    ck_assert_uint_eq(cfg->keepalive_ms, 5000);
    ck_assert_uint_eq(cfg->backoff_min_ms, 200);
    ck_assert_uint_eq(cfg->backoff_max_ms, 120000);
    /* The normaliser redacts the key. */
    ck_assert_int_eq(agentcfg_format(cfg, &text), 0);
    ck_assert_ptr_null(strstr(text, "lrkey1"));
    ck_assert_ptr_null(strstr(text, f.priv + 6));
    ck_assert_ptr_nonnull(strstr(text, "key = <secret>\n"));
    ck_assert_ptr_nonnull(strstr(text, "policy = immediate\n"));
    ck_assert_ptr_nonnull(strstr(text, "backoff_min = 200ms\n"));
    ck_assert_ptr_nonnull(strstr(text, fmt("link_id = %s\n", f.id)));
    free(text);
    agentcfg_free(cfg);

    /* A token link's output shows neither the token nor its key. */
    cfg = agent_ok(fmt("[link cam]\ntoken = %s\nlisten = 127.0.0.1:0\n", f.token));
    ck_assert_int_eq(agentcfg_format(cfg, &text), 0);
    ck_assert_ptr_null(strstr(text, "lrtok1"));
    ck_assert_ptr_null(strstr(text, "lrkey1"));
    ck_assert_ptr_nonnull(strstr(text, "token = <secret>\n"));
    free(text);
    agentcfg_free(cfg);
}
END_TEST

START_TEST(test_agent_byo_token_key_file)
{
    struct fixture f;
    struct agentcfg *cfg;
    struct agentcfg_link *l;
    size_t pos = 0;

    fixture_make(&f);
    agent_err(fmt("[link cam]\ntoken = %s\nlisten = 127.0.0.1:1\n", f.byo_token),
              "line 1: link 'cam': the token has no private key; set key or key_file");
    cfg = agent_ok(fmt("[link cam]\ntoken = %s\nkey_file = /etc/linkagent/cam.key\n"
                       "listen = 127.0.0.1:1\n",
                       f.byo_token));
    l = &cfg->links[0];
    ck_assert(!l->has_priv);
    ck_assert_str_eq(l->key_file, "/etc/linkagent/cam.key");
    /* The caller reads the file and hands its text over. */
    ck_assert_int_eq(agentcfg_link_set_key(l, fmt("%s", f.own_pub), &pos), KEY_ERR_KIND_PUB);
    ck_assert_int_eq(agentcfg_link_set_key(l, fmt("  lrkey1abc!\n"), &pos), KEY_ERR_BAD_CHAR);
    ck_assert_uint_eq(pos, 12);
    ck_assert(!l->has_priv);
    ck_assert_int_eq(agentcfg_link_set_key(l, fmt("%s\n", f.priv), &pos), 0);
    ck_assert(l->has_priv);
    ck_assert_mem_eq(l->priv, f.t.priv, KEY_LEN);
    agentcfg_free(cfg);
    cfg = agent_ok(
        fmt("[link cam]\ntoken = %s\nkey = %s\nlisten = 127.0.0.1:1\n", f.byo_token, f.priv));
    ck_assert(cfg->links[0].has_priv);
    agentcfg_free(cfg);
}
END_TEST

START_TEST(test_agent_errors)
{
    struct fixture f;
    const char *tok;

    fixture_make(&f);
    tok = fmt("[link cam]\ntoken = %s\n", f.token);
    agent_err("", "no links: add a [link NAME] section");
    agent_err("[agent]\nrelay = 1.2.3.4:5\n", "no links: add a [link NAME] section");
    agent_err(fmt("%slisten = 127.0.0.1:1\nlisen = 1.2.3.4:5\n", tok),
              "line 4: unknown key 'lisen' in [link cam]");
    agent_err("[agent]\nrelays = 1.2.3.4:5\n", "line 2: unknown key 'relays' in [agent]");
    agent_err("[agnet]\n", "line 1: unknown section [agnet]");
    agent_err("[link]\n", "line 1: a link section needs a name: [link NAME]");
    agent_err("[link a b]\n", "line 1: bad link name 'a b' (1..40 of A-Z a-z 0-9 . _ -)");
    agent_err(fmt("%slisten = 127.0.0.1:1\n\n[link cam]\n", tok),
              "line 5: duplicate section [link cam] (first on line 1)");
    agent_err(tok, "line 1: link 'cam' needs listen or connect (or both)");
    agent_err(fmt("%sconnect = 127.0.0.1:1\nconnect = 127.0.0.1:2\n", tok),
              "line 4: duplicate key 'connect' (first set on line 3)");
    agent_err(fmt("%sconnect = 127.0.0.1:0\n", tok),
              "line 3: connect '127.0.0.1:0': port 0 is not allowed here");
    agent_err(fmt("%slisten = localhost:1\n", tok),
              "line 3: listen 'localhost:1': a numeric IP address is required here");
    agent_err(fmt("%slisten = 127.0.0.1:1\nside = a\n", tok),
              "line 4: link 'cam': side is set by the token");
    agent_err(fmt("%slisten = 127.0.0.1:1\nlink_id = %s\n", tok, f.id),
              "line 4: link 'cam': link_id is set by the token");
    agent_err(fmt("%slisten = 127.0.0.1:1\nkey = %s\n", tok, f.priv),
              "line 4: link 'cam': the token already holds the private key");
    agent_err(fmt("%slisten = 127.0.0.1:1\npolicy = always\n", tok),
              "line 4: policy: 'always' is not on-demand or immediate");
    /* Typos in secrets are reported without echoing them. */
    {
        char bad[TOKEN_TEXT_SIZE];
        snprintf(bad, sizeof(bad), "%s", f.token);
        bad[20] = bad[20] == 'a' ? 'b' : 'a';
        agent_err(fmt("[link cam]\ntoken = %s\n", bad),
                  "line 2: token: checksum mismatch (likely a typo)");
        bad[20] = '1';
        agent_err(fmt("[link cam]\ntoken = %s\n", bad),
                  "line 2: token: bad character at position 21");
        agent_err(fmt("[link cam]\ntoken = %s\n", f.priv),
                  "line 2: token: wrong kind: this is a private key, not a token");
        snprintf(bad, sizeof(bad), "%s", f.priv);
        bad[30] = bad[30] == 'a' ? 'b' : 'a';
        agent_err(fmt("[link x]\nkey = %s\n", bad), "line 2: key: checksum mismatch (a typo?)");
    }
}
END_TEST

START_TEST(test_agent_explicit_errors)
{
    struct fixture f;
    const char *head, *ag;
    char zero[KEY_TEXT_SIZE];
    uint8_t z[KEY_LEN] = {0};

    fixture_make(&f);
    ag = fmt("[agent]\nrelay = 1.2.3.4:5\nrelay_key = %s\n", f.relay_pub);
    head = fmt("[link x]\nkey = %s\nlink_id = %s\nside = b\n", f.priv, f.id);
    agent_err(fmt("%s%speer_key = %s\nconnect = 1.2.3.4:9\n", ag, head, f.peer_pub + 1),
              "line 8: peer_key: not a linkrelay key (unknown prefix)");
    agent_err(fmt("%sconnect = 1.2.3.4:9\n", head),
              "line 1: link 'x': missing peer_key (or a token)");
    agent_err(fmt("%speer_key = %s\nconnect = 1.2.3.4:9\n", head, f.peer_pub),
              "line 1: link 'x' has no token, so [agent] needs relay and relay_key");
    agent_err(fmt("%s%speer_key = %s\nconnect = 1.2.3.4:9\n", ag, head, f.own_pub),
              "line 4: link 'x': peer_key is this side's own public key");
    key_pub_encode(z, zero);
    agent_err(fmt("%s%speer_key = %s\n", ag, head, zero),
              "line 8: peer_key: invalid public key (all-zero or low-order point)");
    agent_err(fmt("%s[link x]\nlink_id = %s\nside = b\npeer_key = %s\nlisten = 127.0.0.1:1\n", ag,
                  f.id, f.peer_pub),
              "line 4: link 'x': missing key or key_file");
    agent_err(fmt("%s%skey_file = /k\npeer_key = %s\nlisten = 127.0.0.1:1\n", ag, head, f.peer_pub),
              "line 8: link 'x': set key or key_file, not both");
    agent_err(fmt("[link x]\nside = c\n"), "line 2: side: 'c' is not a or b");
    agent_err(fmt("[link x]\nlink_id = %.31s\n", f.id),
              "line 2: link_id (32 hex digits): truncated");
    agent_err(fmt("[link x]\nlink_id = %.31sg\n", f.id),
              "line 2: link_id (32 hex digits): bad character at position 32");
    agent_err("[agent]\nbackoff_min = 10s\nbackoff_max = 5s\n",
              "line 3: backoff_min must not exceed backoff_max");
    agent_err("[agent]\nkeepalive = 0\n", "line 2: keepalive: '0' is out of range (1s..1h)");
    agent_err("[agent]\nrelay_key_id = 256\n",
              "line 2: relay_key_id: '256' is out of range (0..255)");
    agent_err("[agent]\nrelay = 1.2.3.4:0\n",
              "line 2: relay '1.2.3.4:0': port 0 is not allowed here");
    agent_err(fmt("%s%speer_key = %s\nlisten = 127.0.0.1:5\n[link y]\nkey = %s\nlink_id = %s\n"
                  "side = a\npeer_key = %s\nlisten = 127.0.0.1:5\n",
                  ag, head, f.peer_pub, f.priv, f.id, f.peer_pub),
              "line 15: link 'y' listens on an address of link 'x'");
}
END_TEST

START_TEST(test_agent_metrics)
{
    struct fixture f;
    struct agentcfg *cfg;
    char *text = NULL;

    fixture_make(&f);
    cfg = agent_ok(fmt("[link cam]\ntoken = %s\nlisten = 127.0.0.1:8554\n", f.token));
    ck_assert_int_eq(cfg->has_metrics_listen, 0);
    ck_assert_int_eq(agentcfg_format(cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "metrics_listen = off\n"));
    free(text);
    agentcfg_free(cfg);
    cfg = agent_ok(fmt("[agent]\nmetrics_listen = [::1]:9478\n[link cam]\ntoken = %s\n"
                       "listen = 127.0.0.1:8554\n",
                       f.token));
    ck_assert_int_eq(cfg->has_metrics_listen, 1);
    ck_assert_str_eq(cfg->metrics_listen.host, "::1");
    ck_assert_uint_eq(cfg->metrics_listen.port, 9478);
    ck_assert_int_eq(agentcfg_format(cfg, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "metrics_listen = [::1]:9478\n"));
    free(text);
    ck_assert_int_eq(agentcfg_set_metrics_listen(cfg, "off"), 0);
    ck_assert_int_eq(cfg->has_metrics_listen, 0);
    agentcfg_free(cfg);
    agent_err(fmt("[agent]\nmetrics_listen = host.example:1\n[link cam]\ntoken = %s\n"
                  "listen = 127.0.0.1:8554\n",
                  f.token),
              "line 2: metrics_listen 'host.example:1': a numeric IP address is required here "
              "(use off or HOST:PORT)");
}
END_TEST

START_TEST(test_agent_counts)
{
    struct fixture f;
    static char text[512 * 1024];
    struct agentcfg *cfg;
    size_t n = 0;

    fixture_make(&f);
    /* 16 listen addresses in one link: ok; 17: rejected. */
    n = (size_t)snprintf(text, sizeof(text), "[link cam]\ntoken = %s\n", f.token);
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "listen = 127.0.0.1:%d\n", 1000 + i);
    cfg = agent_ok(text);
    ck_assert_uint_eq(cfg->links[0].n_listen, 16);
    agentcfg_free(cfg);
    snprintf(text + n, sizeof(text) - n, "listen = 127.0.0.1:2000\n");
    agent_err(text, "line 19: too many listen addresses (max 16)");

    /* 64 links: ok; 65: rejected at the 65th header (3 lines per link). */
    n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "[link l%d]\ntoken = %s\nlisten = 127.0.0.1:%d\n", i, f.token,
                              1000 + i);
    cfg = agent_ok(text);
    ck_assert_uint_eq(cfg->n_links, 64);
    ck_assert_str_eq(cfg->links[63].name, "l63");
    agentcfg_free(cfg);
    snprintf(text + n, sizeof(text) - n, "[link l64]\ntoken = %s\nlisten = 127.0.0.1:2\n", f.token);
    agent_err(text, "line 193: too many links (max 64)");

    /* Link names: 40 characters ok, 41 not. */
    snprintf(text, sizeof(text), "[link %040d]\ntoken = %s\nconnect = 1.2.3.4:5\n", 0, f.token);
    cfg = agent_ok(text);
    agentcfg_free(cfg);
    snprintf(text, sizeof(text), "[link %041d]\ntoken = %s\nconnect = 1.2.3.4:5\n", 0, f.token);
    agent_err(text, "line 1: bad link name '00000000000000000000000000000000000000000' (1..40 of "
                    "A-Z a-z 0-9 . _ -)");
}
END_TEST

START_TEST(test_agent_size_limit)
{
    char *text = malloc(CFGPARSE_MAX_SIZE + 2);
    struct agentcfg *cfg = NULL;
    struct cfgparse_error err;

    ck_assert_ptr_nonnull(text);
    memset(text, '#', CFGPARSE_MAX_SIZE + 1);
    text[CFGPARSE_MAX_SIZE + 1] = '\0';
    ck_assert_int_eq(agentcfg_parse(text, &cfg, &err), -E2BIG);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err.msg, "configuration larger than 1048576 bytes");
    free(text);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_duration);
    tcase_add_test(tc, test_size_rate_count_mode);
    tcase_add_test(tc, test_byterate_max_rate);
    tcase_add_test(tc, test_fmt);
    tcase_add_test(tc, test_ini_driver);
    tcase_add_test(tc, test_ini_limits);
    tcase_add_test(tc, test_relay_defaults);
    tcase_add_test(tc, test_relay_full);
    tcase_add_test(tc, test_relay_errors);
    tcase_add_test(tc, test_relay_limit_errors);
    tcase_add_test(tc, test_relay_open_rate_limits);
    tcase_add_test(tc, test_relay_retention);
    tcase_add_test(tc, test_relay_pool);
    tcase_add_test(tc, test_relay_listen_count);
    tcase_add_test(tc, test_relay_advertise_check);
    tcase_add_test(tc, test_relay_metrics);
    tcase_add_test(tc, test_agent_metrics);
    tcase_add_test(tc, test_relay_advertise_length);
    tcase_add_test(tc, test_agent_token_link);
    tcase_add_test(tc, test_agent_explicit_link);
    tcase_add_test(tc, test_agent_byo_token_key_file);
    tcase_add_test(tc, test_agent_errors);
    tcase_add_test(tc, test_agent_explicit_errors);
    tcase_add_test(tc, test_agent_counts);
    tcase_add_test(tc, test_agent_size_limit);
    tcase_add_test(tc, test_agent_open_queue_wait);
    tcase_add_test(tc, test_agent_resume_keys);
    tcase_add_test(tc, test_agent_keep_keys);
    tcase_add_test(tc, test_agent_cipher_key);
    tcase_add_test(tc, test_relay_registry_timeout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(config_suite());
}
