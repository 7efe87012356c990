/* SPDX-License-Identifier: MIT */
/*
 * lr_bench — shared declarations of the benchmark client (tests/bench/).
 *
 * bench_pair.c makes "pairs": two connected sockets (leg a, leg b) such that
 * bytes written to one arrive at the other through the system under test:
 *   via relay  both legs are linkrelay stream legs of one link (control
 *              sessions with Noise XK, OPEN, STREAM tickets, SPLICED byte);
 *   via tcp    leg a connects to a forwarder address (haproxy, ssh -L, an
 *              agent's listener, or our own listener for "direct"); leg b is
 *              the connection the forwarder makes to our listener.
 * lr_bench.c runs the workloads (pairing rate, bulk, ping-pong, idle) on them.
 * Every descriptor made here is owned by the caller of pairs_run (keep mode)
 * or closed here (pairing-rate mode).
 */
#ifndef LR_BENCH_H
#define LR_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "noise.h"

#define BENCH_MAX_WATCH 8

struct bench_cfg {
    bool via_relay;
    /* relay */
    struct sockaddr_storage relay_sa;
    socklen_t relay_len;
    uint8_t relay_pub[32];
    int key_id;
    uint8_t link[16];
    uint8_t key[2][32];
    /* tcp */
    struct sockaddr_storage fwd_sa, lis_sa;
    socklen_t fwd_len, lis_len;
    /* workload */
    long n;           /* streams */
    long rate;        /* new streams per second, 0 = as fast as possible */
    long window;      /* streams being set up at once */
    long ms;          /* duration of timed phases */
    long count;       /* ping-pong round trips */
    long size;        /* ping-pong message size */
    bool both;        /* bulk: both directions */
    bool reverse;     /* bulk: b->a only (leg b sends) */
    long mbps;        /* bulk: pace of all streams together, Mbit/s (0: unpaced) */
    long warm;        /* stall: bytes each stream carries a->b, read, before the stall */
    const char *dump; /* pair: per-stream start and times written here (--dump) */
    pid_t watch[BENCH_MAX_WATCH];
    int nwatch;
};

/* Control session of one link side (blocking socket, Noise transport keys). */
struct bench_sess {
    int fd;
    struct noise_cs tx, rx;
};

struct bench_pairer {
    const struct bench_cfg *cfg;
    struct bench_sess s[2]; /* via relay */
    int lfd;                /* via tcp: our listener */
};

/* Result of pairs_run. lat_us[i] is stream i's time from its start (OPEN sent,
 * or connect() called) to its first byte arriving on leg b; -1 if it failed. */
struct pairs_result {
    long ok, failed;
    double elapsed_s;
    /* In: NULL, or n entries each (via the relay; -1 for a failed stream):
     * [0] OPEN sent -> both STREAM messages read, [1] -> SPLICED read on
     * leg a (both legs connected and their tickets written in between),
     * [2] -> the first byte read on leg b. The three add up to lat_us. */
    double *phase_us[3];
    /* In: NULL, or n entries: stream i's start, bench_now_us() (--dump). */
    uint64_t *start_us;
};

uint64_t bench_now_us(void);
void bench_die(const char *what);
int bench_dial(const struct sockaddr_storage *sa, socklen_t len);
int bench_parse_addr(const char *hostport, struct sockaddr_storage *sa, socklen_t *len);
void bench_raise_nofile(void);

/* Opens what the pairs need (control sessions or the listener); 0 or -errno. */
int pairer_open(struct bench_pairer *p, const struct bench_cfg *cfg);
void pairer_close(struct bench_pairer *p);
/* Answers PINGs on the control sessions without blocking. */
void pairer_service(struct bench_pairer *p);

/* Sets up n pairs, at most `window` at once, started at `rate` per second (0:
 * as fast as possible). keep: legs go to legs[i][0..1] (blocking mode, caller
 * closes); else they are closed once the first byte arrived. lat_us has n
 * entries. Returns 0, or -ETIMEDOUT when the whole run took over 300 s. */
int pairs_run(struct bench_pairer *p, long n, long rate, long window, int (*legs)[2],
              double *lat_us, struct pairs_result *res);

/* Control session for one side of a link given by raw keys (sessions test). */
int bench_sess_open(const struct bench_cfg *cfg, const uint8_t link[16], const uint8_t key[32],
                    int side, struct bench_sess *s);

#endif
