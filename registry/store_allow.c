/* SPDX-License-Identifier: MIT */
/*
 * store_allow — per-link source allowlists (docs/design.md D27): the
 * link_allow table (schema/003_allow.sql), read by linkctl and by the relay's
 * sync worker, written by linkctl. See store.h; the statements are in
 * store.c's table (store_int.h), the arrow runs store_allow.c → store.c.
 *
 * Rows are checked when read back too: the database is the relay's own, but
 * a row edited by hand that does not parse must not widen a list, so it marks
 * its side invalid (store_allow.invalid) instead of being dropped silently.
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool store_allow_limited(const struct store_allow *a, int side)
{
    return a->n[side] > 0 || a->invalid[side];
}

/* One row into a: its side's list, or the side marked invalid. */
void store_allow_row(struct db_stmt *s, struct store_allow *a)
{
    char text[CIDR_TEXT_MAX + 2];
    int side = (int)db_col_int64(s, 1);
    struct cidr c;

    if (side != STORE_SIDE_A && side != STORE_SIDE_B)
        return; /* the table's CHECK keeps it out */
    store_col_text(s, 2, text, sizeof(text));
    if (a->n[side] == STORE_ALLOW_MAX || cidr_parse(text, &c) != 0) {
        a->invalid[side] = true;
        return;
    }
    a->cidr[side][a->n[side]++] = c;
}

int store_allow_get(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], struct store_allow *out)
{
    struct store_allow a;
    struct db_stmt *s;
    int r = store_stmt_get(st, S_ALLOW_LINK, &s);
    int rc;

    if (r < 0)
        return r;
    memset(&a, 0, sizeof(a));
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    while ((rc = db_step(s)) == DB_ROW)
        store_allow_row(s, &a);
    if (rc != DB_DONE)
        return store_db_fail(st, rc, "read allowlist");
    *out = a;
    return 0;
}

static void side_text(const struct store_allow *a, int side, char *out, size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    if (!store_allow_limited(a, side)) {
        snprintf(out, cap, "any");
        return;
    }
    for (uint32_t i = 0; i < a->n[side]; i++) {
        char t[CIDR_TEXT_SIZE];
        int n;
        if (cidr_format(&a->cidr[side][i], t, sizeof(t)) != 0)
            continue;
        n = snprintf(out + used, cap - used, "%s%s", used > 0 ? " " : "", t);
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
    if (a->invalid[side])
        snprintf(out + used, cap - used, "%sinvalid rows", used > 0 ? " " : "");
    else if (a->n[side] == 0)
        snprintf(out, cap, "none");
}

void store_allow_text(const struct store_allow *a, char *out, size_t cap)
{
    char side[2][STORE_ALLOW_MAX * CIDR_TEXT_SIZE + 16];

    side_text(a, 0, side[0], sizeof(side[0]));
    side_text(a, 1, side[1], sizeof(side[1]));
    int n = snprintf(out, cap, "a: %s; b: %s", side[0], side[1]);
    /* Two full lists (16 entries a side) do not fit a log line's detail:
     * say the text was cut rather than end mid-address. */
    if (n > 0 && (size_t)n >= cap && cap >= 4)
        memcpy(out + cap - 4, "...", 4);
}

/* The writes of store_allow_set; part of its transaction. */
static int allow_write(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                       const struct store_allow *a)
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_ALLOW_CLEAR, &s);

    if (r < 0)
        return r;
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    db_bind_int64(s, 2, side);
    r = store_stmt_done(st, s, "clear allowlist");
    for (uint32_t i = 0; r == 0 && i < a->n[side]; i++) {
        char text[CIDR_TEXT_SIZE];
        r = cidr_format(&a->cidr[side][i], text, sizeof(text));
        if (r == 0)
            r = store_stmt_get(st, S_ALLOW_INSERT, &s);
        if (r < 0)
            break;
        db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
        db_bind_int64(s, 2, side);
        db_bind_text(s, 3, text);
        r = store_stmt_done(st, s, "insert allowlist entry");
    }
    return r;
}

int store_allow_set(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], unsigned sides,
                    const struct store_allow *a, const char *detail)
{
    struct store_allow now;
    char text[STORE_DETAIL_MAX + 1];
    int exists = 0, r;

    if ((sides & 3u) == 0 || (sides & ~3u) != 0 || a->n[0] > STORE_ALLOW_MAX ||
        a->n[1] > STORE_ALLOW_MAX) {
        store_set_err(st, "bad allowlist: at most %d entries per side", STORE_ALLOW_MAX);
        return -EINVAL;
    }
    r = store_tx_begin(st);
    if (r < 0)
        return r;
    r = store_link_exists(st, id, &exists);
    if (r == 0 && !exists) {
        store_set_err(st, "no such link");
        r = -ENOENT;
    }
    for (int side = 0; r == 0 && side < 2; side++) {
        if (sides & (1u << side))
            r = allow_write(st, id, side, a);
    }
    if (r == 0)
        r = store_allow_get(st, id, &now);
    if (r == 0) {
        char lists[STORE_DETAIL_MAX + 1];
        store_allow_text(&now, lists, sizeof(lists));
        /* Cut to the event's detail size: the lists last. */
        if (snprintf(text, sizeof(text), "%s%s%s", detail != NULL ? detail : "",
                     detail != NULL ? "; " : "", lists) < 0)
            text[0] = '\0';
        r = store_event_insert(st, store_now_ms(), "allow", id, NULL, text, 1);
    }
    if (r < 0)
        return store_tx_fail(st, r);
    return store_tx_commit(st);
}

int store_allow_load(struct store *st, store_allow_cb cb, void *arg)
{
    uint8_t id[STORE_LINK_ID_LEN], cur[STORE_LINK_ID_LEN];
    struct store_allow a;
    bool have = false;
    struct db_stmt *s;
    int r = store_stmt_get(st, S_ALLOW_ALL, &s);
    int rc;

    if (r < 0)
        return r;
    memset(&a, 0, sizeof(a));
    while ((rc = db_step(s)) == DB_ROW) {
        store_col_blob(s, 0, id, STORE_LINK_ID_LEN, NULL);
        if (have && memcmp(id, cur, sizeof(id)) != 0) {
            r = cb(arg, cur, &a);
            if (r != 0) {
                db_reset(s);
                return r;
            }
            memset(&a, 0, sizeof(a));
        }
        memcpy(cur, id, sizeof(cur));
        have = true;
        store_allow_row(s, &a);
    }
    if (rc != DB_DONE)
        return store_db_fail(st, rc, "read allowlists");
    return have ? cb(arg, cur, &a) : 0;
}
