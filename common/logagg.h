/* SPDX-License-Identifier: MIT */
/*
 * logagg — aggregation of floods of identical log lines (STYLE.md: "aggregate
 * floods of identical failures").
 *
 * Pure bookkeeping, no I/O and no logging: the caller asks logagg_admit()
 * whether to say a line now, and logagg_expire() hands it, once per window,
 * the lines it held back with their counts. A key is the line without what
 * varies per occurrence (e.g. "link cam: relay refused to open a stream:
 * peer_offline", without the stream number).
 *
 * The first line of a key is said at once; further lines of that key within
 * LOGAGG_WINDOW_MS are counted. When the window ends with lines held, one
 * summary is due and a new window starts for the key (a flood that goes on
 * produces one summary per window and nothing else); a window that ends with
 * nothing held frees the key. At most LOGAGG_SLOTS keys are tracked; a line
 * of a further key is always said (never lost, only not aggregated).
 *
 * struct logagg is fixed-size, embedded by its owner; zero it with
 * logagg_init. Keys are copied (truncated to LOGAGG_KEY_MAX - 1 bytes).
 */
#ifndef LR_LOGAGG_H
#define LR_LOGAGG_H

#include <stdbool.h>
#include <stdint.h>

#define LOGAGG_SLOTS     32
#define LOGAGG_KEY_MAX   256
#define LOGAGG_WINDOW_MS 10000u

struct logagg_slot {
    char key[LOGAGG_KEY_MAX];
    uint64_t since_ms; /* start of the key's window */
    uint32_t held;     /* lines counted, not said, in this window */
    bool used;
};

struct logagg {
    struct logagg_slot slot[LOGAGG_SLOTS];
};

void logagg_init(struct logagg *a);

/* True: say the line now. False: it was counted for the key's summary. */
bool logagg_admit(struct logagg *a, const char *key, uint64_t now_ms);

/* Called by logagg_expire for each key whose window ended with lines held:
 * n lines of key were held back in the window_ms that just ended. */
typedef void (*logagg_say_fn)(void *arg, const char *key, uint32_t n, uint64_t window_ms);

/* Ends the windows that are over at now_ms (all of them when all is true: at
 * exit, so no count is lost) and calls say for those that held lines. */
void logagg_expire(struct logagg *a, uint64_t now_ms, bool all, logagg_say_fn say, void *arg);

#endif
