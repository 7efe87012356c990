/* SPDX-License-Identifier: MIT */
/*
 * poolprobe — is a pool member's process still there? (docs/design.md D41)
 *
 * A TCP connect to every address of a member's row at once, nothing sent:
 * the first connect that completes says "up" (closed at once); when every
 * address refused (ECONNREFUSED: nothing listens there, as after kill -9)
 * it says "refused"; anything else (a timeout, an unreachable network, a
 * hostname, which is not resolved here) says "unknown" and leaves the
 * member to member_timeout. The callback runs once, on the loop, never
 * from inside poolprobe_start; then the probe frees itself.
 */
#ifndef LR_POOLPROBE_H
#define LR_POOLPROBE_H

#include <stdint.h>

#include <uv.h>

enum poolprobe_verdict {
    POOLPROBE_UP,      /* a connect completed */
    POOLPROBE_REFUSED, /* every address refused */
    POOLPROBE_UNKNOWN, /* neither, within the timeout */
};

struct poolprobe;
typedef void (*poolprobe_cb)(void *arg, enum poolprobe_verdict v);

/* addrs: a member row's list (addresses separated by single spaces). NULL
 * when nothing could be started (no memory): the caller decides as for
 * "unknown". */
struct poolprobe *poolprobe_start(uv_loop_t *loop, const char *addrs, uint32_t timeout_ms,
                                  poolprobe_cb cb, void *arg);
/* The callback is not called; the handles close and the memory goes. */
void poolprobe_cancel(struct poolprobe *pr);
const char *poolprobe_name(enum poolprobe_verdict v);

#endif
