/* SPDX-License-Identifier: MIT */
/*
 * lr_bench — benchmark client for linkrelay and the tools it is compared with
 * (tests/bench/run.py drives it; docs/performance.md has the results).
 *
 * usage: lr_bench TEST [options]
 *   --via relay --relay H:P --relay-pub lrpub1.. --key-id N --link HEX --a-key K --b-key K
 *   --via tcp --connect H:P (forwarder) --listen H:P (where the forwarder connects)
 * tests:
 *   pair      --n N --rate R --window W   new streams, time to first byte through
 *             [--dump FILE]                 (FILE: "start_us ttfb_us [3 phases]" per stream)
 *   bulk      --n K --ms T [--both|--reverse] [--mbps M]  K streams pushing bytes for
 *                                          T ms, a->b (--reverse: b->a; --both: both)
 *                                          (M: all of them together at M Mbit/s)
 *   rtt       --count N --size S           ping-pong on one stream
 *   stall     --n N --ms T [--warm B]      N streams whose reader (leg b) never reads
 *                                          (after reading B bytes each, if --warm);
 *                                          leg a writes until nothing more is taken for
 *                                          T ms, then "phase=stalled" (waits on stdin)
 *   idle      --n N                        N idle streams; waits for a line on stdin
 *                                          at "phase=..." lines; then one byte each way
 *   sessions  --links FILE                 one control session per link side in FILE
 *                                          ("HEX lrkey_a lrkey_b" per line); waits on stdin
 *   --watch PID (repeatable): CPU seconds of PID during the timed phase (/proc/PID/stat).
 * Output: key=value lines on stdout, the last one "result=ok|fail".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <sodium.h>

#include "bench.h"
#include "keys.h"

#define BULK_CHUNK (256 * 1024)

/* ---- CPU of watched processes ---- */

static double proc_cpu_s(pid_t pid)
{
    char path[64], text[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1.0;
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    p = strrchr(text, ')');
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1.0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void cpu_snap(const struct bench_cfg *c, double *out)
{
    for (int i = 0; i < c->nwatch; i++)
        out[i] = proc_cpu_s(c->watch[i]);
    out[c->nwatch] = 0;
    {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        out[c->nwatch] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
}

static void cpu_print(const struct bench_cfg *c, const double *a, const double *b)
{
    for (int i = 0; i < c->nwatch; i++)
        printf("cpu.%d=%.4f\n", (int)c->watch[i], b[i] - a[i]);
    printf("cpu.self=%.4f\n", b[c->nwatch] - a[c->nwatch]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Percentile of a sorted array (nearest rank). */
static double pct(const double *v, long n, double p)
{
    long k = (long)((double)n * p / 100.0 + 0.999999) - 1;

    if (n == 0)
        return -1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void close_legs(int (*legs)[2], long n)
{
    for (long i = 0; i < n; i++)
        for (int s = 0; s < 2; s++)
            if (legs[i][s] >= 0)
                close(legs[i][s]);
}

/* Makes n kept pairs (as fast as possible, 64 at once); dies on failure. */
static int (*make_pairs(struct bench_pairer *p, long n))[2]
{
    int(*legs)[2] = malloc((size_t)n * sizeof(*legs));
    double *lat = malloc((size_t)n * sizeof(double));
    struct pairs_result res = {0};

    if (legs == NULL || lat == NULL)
        bench_die("alloc");
    for (long i = 0; i < n; i++)
        legs[i][0] = legs[i][1] = -1;
    if (pairs_run(p, n, 0, 64, legs, lat, &res) != 0 || res.ok != n) {
        printf("setup.ok=%ld setup.failed=%ld\n", res.ok, res.failed);
        bench_die("could not set up the streams");
    }
    printf("setup.n=%ld setup.s=%.3f\n", n, res.elapsed_s);
    free(lat);
    return legs;
}

/* ---- pair: new streams per second, time to first byte ---- */

/* --dump: one line per stream, its start (µs, monotonic), time to first
 * byte and (via the relay) the three phases; -1 for a failed stream. */
static void pair_dump(const char *path, long n, const double *lat, const struct pairs_result *res)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        bench_die("--dump: cannot open the file");
    for (long i = 0; i < n; i++) {
        fprintf(f, "%" PRIu64 " %.0f", res->start_us[i], lat[i]);
        for (int k = 0; k < 3 && res->phase_us[k] != NULL; k++)
            fprintf(f, " %.0f", res->phase_us[k][i]);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        bench_die("--dump: write failed");
}

static int test_pair(struct bench_pairer *p, const struct bench_cfg *c)
{
    double *lat = malloc((size_t)c->n * sizeof(double)), *ok;
    double a[BENCH_MAX_WATCH + 1], b[BENCH_MAX_WATCH + 1];
    static const char *const phase_name[3] = {"stream", "spliced", "byte"};
    struct pairs_result res = {0};
    long m = 0;

    if (lat == NULL)
        bench_die("alloc");
    for (int k = 0; k < 3 && c->via_relay; k++)
        if ((res.phase_us[k] = malloc((size_t)c->n * sizeof(double))) == NULL)
            bench_die("alloc");
    if (c->dump != NULL && (res.start_us = calloc((size_t)c->n, sizeof(uint64_t))) == NULL)
        bench_die("alloc");
    cpu_snap(c, a);
    int rc = pairs_run(p, c->n, c->rate, c->window, NULL, lat, &res);
    cpu_snap(c, b);
    if (c->dump != NULL)
        pair_dump(c->dump, c->n, lat, &res);
    ok = lat;
    for (long i = 0; i < c->n; i++)
        if (lat[i] >= 0)
            ok[m++] = lat[i];
    qsort(ok, (size_t)m, sizeof(double), cmp_double);
    printf("pair.n=%ld pair.ok=%ld pair.failed=%ld pair.s=%.4f pair.rate=%.1f\n", c->n, res.ok,
           res.failed, res.elapsed_s, (double)res.ok / res.elapsed_s);
    printf("pair.p50_us=%.1f pair.p99_us=%.1f pair.max_us=%.1f\n", pct(ok, m, 50), pct(ok, m, 99),
           pct(ok, m, 100));
    /* Where the time to first byte goes (via the relay): OPEN -> both
     * STREAMs, -> SPLICED on leg a, -> the byte on leg b. */
    for (int k = 0; k < 3 && res.phase_us[k] != NULL; k++) {
        long pm = 0;
        for (long i = 0; i < c->n; i++)
            if (res.phase_us[k][i] >= 0)
                res.phase_us[k][pm++] = res.phase_us[k][i];
        qsort(res.phase_us[k], (size_t)pm, sizeof(double), cmp_double);
        printf("pair.%s_p50_us=%.1f pair.%s_p99_us=%.1f\n", phase_name[k],
               pct(res.phase_us[k], pm, 50), phase_name[k], pct(res.phase_us[k], pm, 99));
        free(res.phase_us[k]);
    }
    cpu_print(c, a, b);
    free(res.start_us);
    free(lat);
    return rc == 0 && res.failed == 0 ? 0 : 1;
}

/* ---- bulk: K streams, one way or both ---- */

struct bulk {
    int (*legs)[2];
    long n;
    bool both;
    bool reverse; /* only leg b sends */
    long mbps;    /* 0: as fast as possible; else the pace of each sending side */
    uint64_t deadline;
    atomic_bool stop;
    uint64_t *rx[2]; /* rx[1][i]: a->b bytes of stream i; rx[0][i]: b->a */
    int err;
};

struct bulk_thr {
    struct bulk *b;
    int side;
};

static void *bulk_side(void *arg)
{
    struct bulk_thr *t = arg;
    struct bulk *b = t->b;
    int side = t->side, ep = epoll_create1(EPOLL_CLOEXEC);
    bool sends = b->both || side == (b->reverse ? 1 : 0);
    uint8_t *buf = malloc(BULK_CHUNK);
    struct epoll_event evs[512];

    if (buf == NULL || ep < 0)
        bench_die("bulk alloc");
    randombytes_buf(buf, BULK_CHUNK);
    for (long i = 0; i < b->n; i++) {
        int fd = b->legs[i][side];
        struct epoll_event ev = {.events = EPOLLIN | (sends ? EPOLLOUT : 0u),
                                 .data.u64 = (uint64_t)i};
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            bench_die("epoll_ctl");
    }
    uint64_t t0 = bench_now_us(), sent = 0;
    while (!atomic_load(&b->stop)) {
        int ne = epoll_wait(ep, evs, 512, 20);
        uint64_t now = bench_now_us();
        /* Paced (--mbps): this side may have sent mbps * elapsed bits so far. */
        bool may_send = b->mbps == 0 || (double)sent * 8 < (double)(now - t0) * (double)b->mbps;
        if (now >= b->deadline)
            atomic_store(&b->stop, true);
        if (!may_send)
            usleep(200);
        for (int k = 0; k < ne; k++) {
            long i = (long)evs[k].data.u64;
            int fd = b->legs[i][side];
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = recv(fd, buf, BULK_CHUNK, MSG_DONTWAIT);
                if (r > 0)
                    b->rx[side][i] += (uint64_t)r;
                else if (r == 0 || errno != EAGAIN)
                    b->err = r == 0 ? EPIPE : errno;
            }
            if ((evs[k].events & EPOLLOUT) && may_send) {
                ssize_t w =
                    send(fd, buf, b->mbps ? 16384 : BULK_CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN)
                    b->err = errno;
                if (w > 0)
                    sent += (uint64_t)w;
            }
        }
        if (b->err != 0)
            atomic_store(&b->stop, true);
    }
    close(ep);
    free(buf);
    return NULL;
}

static void rate_stats(const char *name, const uint64_t *rx, long n, double secs)
{
    double *v = malloc((size_t)n * sizeof(double)), sum = 0;

    if (v == NULL)
        bench_die("alloc");
    for (long i = 0; i < n; i++) {
        v[i] = (double)rx[i] * 8 / secs / 1e6;
        sum += (double)rx[i];
    }
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    printf("%s.bytes=%.0f %s.gbps=%.3f %s.stream_min_mbps=%.1f %s.stream_med_mbps=%.1f "
           "%s.stream_max_mbps=%.1f\n",
           name, sum, name, sum * 8 / secs / 1e9, name, v[0], name, pct(v, n, 50), name, v[n - 1]);
    free(v);
}

static int test_bulk(struct bench_pairer *p, const struct bench_cfg *c)
{
    struct bulk b;
    struct bulk_thr t[2];
    pthread_t th[2];
    double a0[BENCH_MAX_WATCH + 1], a1[BENCH_MAX_WATCH + 1];
    uint64_t t0, t1;

    memset(&b, 0, sizeof(b));
    b.n = c->n;
    b.both = c->both;
    b.reverse = c->reverse;
    b.mbps = c->mbps;
    b.legs = make_pairs(p, c->n);
    b.rx[0] = calloc((size_t)c->n, sizeof(uint64_t));
    b.rx[1] = calloc((size_t)c->n, sizeof(uint64_t));
    if (b.rx[0] == NULL || b.rx[1] == NULL)
        bench_die("alloc");
    atomic_init(&b.stop, false);
    cpu_snap(c, a0);
    t0 = bench_now_us();
    b.deadline = t0 + (uint64_t)c->ms * 1000u;
    for (int s = 0; s < 2; s++) {
        t[s] = (struct bulk_thr){.b = &b, .side = s};
        pthread_create(&th[s], NULL, bulk_side, &t[s]);
    }
    for (int s = 0; s < 2; s++)
        pthread_join(th[s], NULL);
    t1 = bench_now_us();
    cpu_snap(c, a1);
    double secs = (double)(t1 - t0) / 1e6;
    printf("bulk.streams=%ld bulk.both=%d bulk.s=%.3f bulk.err=%d\n", c->n, c->both, secs, b.err);
    rate_stats("a2b", b.rx[1], c->n, secs);
    if (c->both || c->reverse)
        rate_stats("b2a", b.rx[0], c->n, secs);
    cpu_print(c, a0, a1);
    close_legs(b.legs, c->n);
    free(b.legs);
    free(b.rx[0]);
    free(b.rx[1]);
    return b.err == 0 ? 0 : 1;
}

/* ---- rtt: ping-pong on one stream ---- */

static int rd_n(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int test_rtt(struct bench_pairer *p, const struct bench_cfg *c)
{
    int(*legs)[2] = make_pairs(p, 1);
    long warm = c->count / 10 + 10, n = c->count;
    double *v = malloc((size_t)n * sizeof(double));
    uint8_t buf[65536];
    double a0[BENCH_MAX_WATCH + 1], a1[BENCH_MAX_WATCH + 1];
    size_t sz = (size_t)c->size;

    if (v == NULL || sz == 0 || sz > sizeof(buf))
        bench_die("rtt args");
    memset(buf, 0x5a, sz);
    cpu_snap(c, a0);
    for (long i = -warm; i < n; i++) {
        uint64_t t = bench_now_us();
        if (send(legs[0][0], buf, sz, MSG_NOSIGNAL) != (ssize_t)sz || rd_n(legs[0][1], buf, sz) ||
            send(legs[0][1], buf, sz, MSG_NOSIGNAL) != (ssize_t)sz || rd_n(legs[0][0], buf, sz))
            bench_die("ping-pong");
        if (i >= 0)
            v[i] = (double)(bench_now_us() - t);
        if ((i & 1023) == 0)
            pairer_service(p);
    }
    cpu_snap(c, a1);
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    printf("rtt.n=%ld rtt.size=%zu rtt.p50_us=%.1f rtt.p99_us=%.1f rtt.max_us=%.1f\n", n, sz,
           pct(v, n, 50), pct(v, n, 99), pct(v, n, 100));
    cpu_print(c, a0, a1);
    close_legs(legs, 1);
    free(legs);
    free(v);
    return 0;
}

/* ---- idle: N idle streams, then one byte each way on every one ---- */

/* Prints a phase line and waits for a line on stdin, answering PINGs. */
static void phase(struct bench_pairer *p, struct bench_sess *extra, long nextra, const char *name)
{
    char line[64];

    printf("phase=%s\n", name);
    fflush(stdout);
    for (;;) {
        struct pollfd pf = {.fd = 0, .events = POLLIN};
        if (poll(&pf, 1, 200) > 0) {
            if (fgets(line, sizeof(line), stdin) == NULL)
                bench_die("stdin closed");
            return;
        }
        if (p != NULL)
            pairer_service(p);
        for (long i = 0; i < nextra; i++) {
            struct bench_pairer q = {.s = {extra[i], {.fd = -1}}, .lfd = -1};
            pairer_service(&q);
        }
    }
}

static int test_idle(struct bench_pairer *p, const struct bench_cfg *c)
{
    int(*legs)[2];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    uint8_t *got = calloc((size_t)c->n, 1), x = 0x42;
    long done = 0, failed = 0;
    uint64_t deadline;
    struct epoll_event evs[512];

    if (got == NULL || ep < 0)
        bench_die("alloc");
    phase(p, NULL, 0, "sessions");
    legs = make_pairs(p, c->n);
    phase(p, NULL, 0, "ready");
    for (long i = 0; i < c->n; i++) {
        for (int s = 0; s < 2; s++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i << 1 | (unsigned)s};
            fcntl(legs[i][s], F_SETFL, fcntl(legs[i][s], F_GETFL) | O_NONBLOCK);
            if (send(legs[i][s], &x, 1, MSG_NOSIGNAL) != 1 ||
                epoll_ctl(ep, EPOLL_CTL_ADD, legs[i][s], &ev) != 0)
                failed++;
        }
    }
    deadline = bench_now_us() + 30000000u;
    while (done + failed < 2 * c->n && bench_now_us() < deadline) {
        int ne = epoll_wait(ep, evs, 512, 200);
        pairer_service(p);
        for (int k = 0; k < ne; k++) {
            long i = (long)(evs[k].data.u64 >> 1);
            int s = (int)(evs[k].data.u64 & 1);
            uint8_t b;
            ssize_t r = recv(legs[i][s], &b, 1, MSG_DONTWAIT);
            epoll_ctl(ep, EPOLL_CTL_DEL, legs[i][s], NULL);
            if (r == 1 && b == x && !(got[i] & (1u << s))) {
                got[i] |= (uint8_t)(1u << s);
                done++;
            } else {
                failed++;
            }
        }
    }
    long both = 0;
    for (long i = 0; i < c->n; i++)
        both += got[i] == 3;
    printf("idle.n=%ld idle.passed=%ld idle.bytes_ok=%ld\n", c->n, both, done);
    phase(p, NULL, 0, "checked");
    close(ep);
    close_legs(legs, c->n);
    free(legs);
    free(got);
    return both == c->n ? 0 : 1;
}

/* ---- stall: N streams whose reader stopped (memory under backpressure) ---- */

static int test_stall(struct bench_pairer *p, const struct bench_cfg *c)
{
    int(*legs)[2];
    uint8_t *buf = malloc(BULK_CHUNK);
    uint64_t sent = 0, last_progress, t0;
    int err = 0;

    if (buf == NULL)
        bench_die("alloc");
    memset(buf, 0x5a, BULK_CHUNK);
    legs = make_pairs(p, c->n);
    /* --warm: each stream first carries B bytes a->b, read by b (a reader
     * that reads for a while, then stops). */
    for (long i = 0; i < c->n && err == 0; i++)
        for (long done = 0; done < c->warm && err == 0;) {
            size_t len = (size_t)(c->warm - done < BULK_CHUNK ? c->warm - done : BULK_CHUNK);
            if (send(legs[i][0], buf, len, MSG_NOSIGNAL) != (ssize_t)len)
                err = errno ? errno : EIO;
            for (size_t got = 0; got < len && err == 0;) {
                ssize_t r = recv(legs[i][1], buf, len - got, 0);
                if (r <= 0)
                    err = r < 0 ? errno : EPIPE;
                else
                    got += (size_t)r;
            }
            done += (long)len;
        }
    for (long i = 0; i < c->n; i++)
        fcntl(legs[i][0], F_SETFL, fcntl(legs[i][0], F_GETFL) | O_NONBLOCK);
    t0 = last_progress = bench_now_us();
    /* Write on every leg a until none has taken a byte for --ms. */
    while (err == 0 && bench_now_us() - last_progress < (uint64_t)c->ms * 1000u) {
        bool progress = false;
        for (long i = 0; i < c->n; i++) {
            ssize_t w;
            while ((w = send(legs[i][0], buf, BULK_CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL)) > 0) {
                sent += (uint64_t)w;
                progress = true;
            }
            if (w < 0 && errno != EAGAIN)
                err = errno;
        }
        if (progress)
            last_progress = bench_now_us();
        pairer_service(p);
        usleep(20000);
    }
    printf("stall.n=%ld stall.sent=%" PRIu64 " stall.s=%.3f stall.err=%d\n", c->n, sent,
           (double)(bench_now_us() - t0) / 1e6, err);
    phase(p, NULL, 0, "stalled");
    close_legs(legs, c->n);
    free(legs);
    free(buf);
    return err == 0 ? 0 : 1;
}

/* ---- sessions: control sessions held idle (relay memory per agent) ---- */

static int test_sessions(const struct bench_cfg *c, const char *file)
{
    FILE *f = fopen(file, "r");
    char hex[64], ka[128], kb[128];
    struct bench_sess *s = NULL;
    long n = 0, cap = 0;

    if (f == NULL)
        bench_die("--links file");
    phase(NULL, NULL, 0, "before");
    while (fscanf(f, "%63s %127s %127s", hex, ka, kb) == 3) {
        uint8_t link[16], key[2][32];
        size_t pos;
        if (linkid_decode(hex, link, &pos) != 0 || key_priv_decode(ka, key[0], &pos) != 0 ||
            key_priv_decode(kb, key[1], &pos) != 0)
            bench_die("bad line in --links file");
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 64;
            s = realloc(s, (size_t)cap * sizeof(*s));
            if (s == NULL)
                bench_die("alloc");
        }
        for (int side = 0; side < 2; side++)
            if (bench_sess_open(c, link, key[side], side, &s[n++]) != 0)
                bench_die("session");
        sodium_memzero(key, sizeof(key));
    }
    fclose(f);
    printf("sessions.n=%ld\n", n);
    phase(NULL, s, n, "ready");
    for (long i = 0; i < n; i++)
        close(s[i].fd);
    free(s);
    return 0;
}

/* ---- options ---- */

static long num(const char *v)
{
    char *end;
    long x = strtol(v, &end, 10);

    if (*v == '\0' || *end != '\0' || x < 0)
        bench_die("bad number");
    return x;
}

static void parse_key(const char *v, uint8_t out[32], bool pub)
{
    size_t pos;

    if ((pub ? key_pub_decode(v, out, &pos) : key_priv_decode(v, out, &pos)) != 0)
        bench_die("bad key");
}

static const char *parse_opts(int argc, char **argv, struct bench_cfg *c, const char **links)
{
    const char *test = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (a[0] != '-') {
            test = a;
            continue;
        }
        if (strcmp(a, "--both") == 0 || strcmp(a, "--reverse") == 0) {
            *(a[2] == 'b' ? &c->both : &c->reverse) = true;
            continue;
        }
        i++;
        if (strcmp(a, "--via") == 0)
            c->via_relay = strcmp(v, "relay") == 0;
        else if (strcmp(a, "--relay") == 0 && bench_parse_addr(v, &c->relay_sa, &c->relay_len))
            bench_die("bad --relay");
        else if (strcmp(a, "--connect") == 0 && bench_parse_addr(v, &c->fwd_sa, &c->fwd_len))
            bench_die("bad --connect");
        else if (strcmp(a, "--listen") == 0 && bench_parse_addr(v, &c->lis_sa, &c->lis_len))
            bench_die("bad --listen");
        else if (strcmp(a, "--relay-pub") == 0)
            parse_key(v, c->relay_pub, true);
        else if (strcmp(a, "--a-key") == 0 || strcmp(a, "--b-key") == 0)
            parse_key(v, c->key[a[2] == 'b'], false);
        else if (strcmp(a, "--link") == 0) {
            size_t pos;
            if (linkid_decode(v, c->link, &pos) != 0)
                bench_die("bad --link");
        } else if (strcmp(a, "--key-id") == 0)
            c->key_id = (int)num(v);
        else if (strcmp(a, "--n") == 0)
            c->n = num(v);
        else if (strcmp(a, "--rate") == 0)
            c->rate = num(v);
        else if (strcmp(a, "--window") == 0)
            c->window = num(v);
        else if (strcmp(a, "--ms") == 0)
            c->ms = num(v);
        else if (strcmp(a, "--count") == 0)
            c->count = num(v);
        else if (strcmp(a, "--mbps") == 0)
            c->mbps = num(v);
        else if (strcmp(a, "--warm") == 0)
            c->warm = num(v);
        else if (strcmp(a, "--size") == 0)
            c->size = num(v);
        else if (strcmp(a, "--links") == 0)
            *links = v;
        else if (strcmp(a, "--dump") == 0)
            c->dump = v;
        else if (strcmp(a, "--watch") == 0 && c->nwatch < BENCH_MAX_WATCH)
            c->watch[c->nwatch++] = (pid_t)num(v);
        else if (strcmp(a, "--relay") != 0 && strcmp(a, "--connect") != 0 &&
                 strcmp(a, "--listen") != 0 && strcmp(a, "--watch") != 0)
            bench_die("unknown option");
    }
    return test;
}

int main(int argc, char **argv)
{
    struct bench_cfg c;
    struct bench_pairer p;
    const char *test, *links = NULL;
    int rc = 1;

    if (sodium_init() < 0)
        return 1;
    memset(&c, 0, sizeof(c));
    c.n = 1;
    c.window = 64;
    c.ms = 3000;
    c.count = 10000;
    c.size = 64;
    test = parse_opts(argc, argv, &c, &links);
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_raise_nofile();
    if (test == NULL)
        bench_die("usage: lr_bench pair|bulk|rtt|idle|stall|sessions [options]");
    if (strcmp(test, "sessions") == 0) {
        rc = test_sessions(&c, links != NULL ? links : "");
        printf("result=%s\n", rc == 0 ? "ok" : "fail");
        return rc;
    }
    if (pairer_open(&p, &c) != 0)
        bench_die("cannot open the control sessions or the listener");
    if (strcmp(test, "pair") == 0)
        rc = test_pair(&p, &c);
    else if (strcmp(test, "bulk") == 0)
        rc = test_bulk(&p, &c);
    else if (strcmp(test, "rtt") == 0)
        rc = test_rtt(&p, &c);
    else if (strcmp(test, "idle") == 0)
        rc = test_idle(&p, &c);
    else if (strcmp(test, "stall") == 0)
        rc = test_stall(&p, &c);
    else
        bench_die("unknown test");
    pairer_close(&p);
    printf("result=%s\n", rc == 0 ? "ok" : "fail");
    return rc;
}
