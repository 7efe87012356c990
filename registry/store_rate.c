// SPDX-License-Identifier: MIT
/*
 * store_rate — a link's bandwidth limits per direction (docs/design.md D28):
 * bytes per second in links.rate_a_to_b and links.rate_b_to_a (schema 004),
 * 0 for none. See store.h; the statement is in store.c's table
 * (store_int.h), the arrow runs store_rate.c → store.c.
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>

/* The UPDATE; part of the caller's transaction. */
static int store_rate_write(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                            const uint64_t rate[2])
{
    struct db_stmt *s;
    int r;

    for (int dir = 0; dir < 2; dir++) {
        if (!STORE_RATE_VALID(rate[dir])) {
            store_set_err(st,
                          "rate %" PRIu64 " bytes/s is out of range: %llu..%llu bytes/s, or none",
                          rate[dir], STORE_RATE_MIN, STORE_RATE_MAX);
            return -EINVAL;
        }
    }
    r = store_stmt_get(st, S_LINK_SET_RATE, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    db_bind_int64(s, 2, (int64_t)rate[0]);
    db_bind_int64(s, 3, store_now_ms());
    db_bind_int64(s, 4, (int64_t)rate[1]);
    r = store_stmt_done(st, s, "set rate");
    if (r == 0 && db_changes(db_stmt_db(s)) == 0) {
        store_set_err(st, "no such link");
        r = -ENOENT;
    }
    return r;
}

int store_link_set_rate(struct store *st, const uint8_t id[STORE_LINK_ID_LEN],
                        const uint64_t rate[2], const char *detail)
{
    int r = store_tx_begin(st);

    if (r < 0) {
        return r;
    }
    r = store_rate_write(st, id, rate);
    if (r == 0) {
        r = store_event_insert(st, store_now_ms(), "rate", id, NULL, detail, 1);
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}
