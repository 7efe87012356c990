/* SPDX-License-Identifier: MIT */
/*
 * store_rotate — the end of a key rotation's overlap (docs/design.md D21):
 * setting a side's key or next key (store_link_rotate, store_link_set_next),
 * promoting a side's next key to current, when its agent switched or when the
 * overlap's deadline passed, and keeping the endorsement a side's agent
 * sent for its new key. See store.h; the statements are in store.c's
 * table (store_int.h), the arrow runs store_rotate.c → store.c.
 */
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>

/* The UPDATE and its event; part of the caller's transaction. */
static int promote_one(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                       const uint8_t key[STORE_KEY_LEN], int64_t ts, const char *detail)
{
    struct db_stmt *s;
    struct store_link old;
    char fp[STORE_KEY_FP_SIZE], text[STORE_DETAIL_MAX + 1];
    int r = store_link_get(st, id, &old);
    if (r == 0) {
        r = store_stmt_get(st, side == STORE_SIDE_A ? S_LINK_PROMOTE_A : S_LINK_PROMOTE_B, &s);
    }
    if (r < 0) {
        return r;
    }
    store_key_fp(old.key[side], fp);
    snprintf(text, sizeof(text), "side %c: %s%sold key %s", 'a' + side,
             detail != NULL ? detail : "", detail != NULL ? "; " : "", fp);
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    db_bind_blob(s, 2, key, STORE_KEY_LEN);
    db_bind_int64(s, 3, ts);
    r = store_stmt_done(st, s, "promote next key");
    if (r == 0 && db_changes(db_stmt_db(s)) == 0) {
        store_set_err(st, "no such link, or its side %c has another next key", 'a' + side);
        r = -ENOENT;
    }
    if (r == 0) {
        r = store_event_insert(st, ts, "rotated", id, NULL, text, 1);
    }
    return r;
}

int store_link_promote(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                       const uint8_t key[STORE_KEY_LEN], const char *detail)
{
    int r;
    if (side != STORE_SIDE_A && side != STORE_SIDE_B) {
        store_set_err(st, "bad side %d", side);
        return -EINVAL;
    }
    r = store_tx_begin(st);
    if (r < 0) {
        return r;
    }
    r = promote_one(st, id, side, key, store_now_ms(), detail);
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    return store_tx_commit(st);
}

/* The first link with a due overlap: its id, and per side the next key and
 * whether that side is due. 1 found, 0 none, or a negative errno. */
static int first_due(struct store *st, int64_t now_ms, uint8_t id[STORE_LINK_ID_LEN],
                     uint8_t key[2][STORE_KEY_LEN], int due[2])
{
    struct db_stmt *s;
    int r = store_stmt_get(st, S_LINK_DUE, &s);
    int rc;
    if (r < 0) {
        return r;
    }
    db_bind_int64(s, 1, now_ms);
    rc = db_step(s);
    if (rc == DB_ROW) {
        store_col_blob(s, 0, id, STORE_LINK_ID_LEN, NULL);
        for (int side = 0; side < 2; side++) {
            int64_t until = db_col_int64(s, 3 + side);
            int present = 0;
            store_col_blob(s, 1 + side, key[side], STORE_KEY_LEN, &present);
            due[side] = present && until > 0 && until <= now_ms;
        }
    }
    db_reset(s);
    if (rc != DB_ROW && rc != DB_DONE) {
        return store_db_fail(st, rc, "find due overlaps");
    }
    return rc == DB_ROW;
}

int store_links_expire(struct store *st, int64_t now_ms, size_t *n)
{
    uint8_t id[STORE_LINK_ID_LEN], key[2][STORE_KEY_LEN];
    int due[2];
    size_t count = 0;
    int64_t ts = store_now_ms();
    int r = store_tx_begin(st);
    if (r < 0) {
        return r;
    }
    /* Each promotion takes its row out of the query's result: one row at a
     * time, without holding a statement open across the UPDATEs. */
    while ((r = first_due(st, now_ms, id, key, due)) == 1) {
        for (int side = 0; side < 2 && r >= 0; side++) {
            char detail[64];
            if (!due[side]) {
                continue;
            }
            snprintf(detail, sizeof(detail), "overlap ended, the old key retired");
            r = promote_one(st, id, side, key[side], ts, detail);
            count++;
        }
        if (r < 0) {
            break;
        }
    }
    if (r < 0) {
        return store_tx_fail(st, r);
    }
    r = store_tx_commit(st);
    if (r == 0 && n != NULL) {
        *n = count;
    }
    return r;
}

int store_link_endorse(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                       const uint8_t e[STORE_ENDORSE_LEN])
{
    struct db_stmt *s;
    int r;
    if (side != STORE_SIDE_A && side != STORE_SIDE_B) {
        store_set_err(st, "bad side %d", side);
        return -EINVAL;
    }
    r = store_stmt_get(st, side == STORE_SIDE_A ? S_LINK_ENDORSE_A : S_LINK_ENDORSE_B, &s);
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    db_bind_blob(s, 2, e, STORE_ENDORSE_LEN);
    db_bind_blob(s, 3, e, STORE_KEY_LEN);
    r = store_stmt_done(st, s, "store endorsement");
    if (r == 0 && db_changes(db_stmt_db(s)) == 0) {
        store_set_err(st, "no such link, or the key is not side %c's", 'a' + side);
        r = -ENOENT;
    }
    return r;
}

static int check_side(struct store *st, int side)
{
    if (side != STORE_SIDE_A && side != STORE_SIDE_B) {
        store_set_err(st, "bad side %d", side);
        return -EINVAL;
    }
    return 0;
}

void store_key_fp(const uint8_t key[STORE_KEY_LEN], char out[STORE_KEY_FP_SIZE])
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < STORE_KEY_FP_BYTES; i++) {
        out[2 * i] = hex[key[i] >> 4];
        out[2 * i + 1] = hex[key[i] & 15];
    }
    out[2 * STORE_KEY_FP_BYTES] = '\0';
}

int store_link_rotate(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                      const uint8_t key[STORE_KEY_LEN], const char *detail)
{
    struct db_stmt *s;
    struct store_link old;
    char fp[STORE_KEY_FP_SIZE], text[STORE_DETAIL_MAX + 1];
    int r = check_side(st, side);
    if (r == 0) {
        r = store_link_get(st, id, &old);
    }
    if (r == 0) {
        r = store_stmt_get(st, side == STORE_SIDE_A ? S_LINK_ROTATE_A : S_LINK_ROTATE_B, &s);
    }
    if (r < 0) {
        return r;
    }
    store_key_fp(old.key[side], fp);
    snprintf(text, sizeof(text), "%s%sold key %s", detail != NULL ? detail : "",
             detail != NULL ? "; " : "", fp);
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    db_bind_blob(s, 2, key, STORE_KEY_LEN);
    return store_link_change(st, s, id, "rotated", text);
}

int store_link_set_next(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                        const uint8_t *key, int64_t until_ms, const char *detail)
{
    struct db_stmt *s;
    int r = check_side(st, side);
    if (r == 0) {
        r = store_stmt_get(st, side == STORE_SIDE_A ? S_LINK_NEXT_A : S_LINK_NEXT_B, &s);
    }
    if (r < 0) {
        return r;
    }
    db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
    store_bind_key_or_null(s, 2, key != NULL, key);
    db_bind_int64(s, 4, key != NULL && until_ms > 0 ? until_ms : 0);
    return store_link_change(st, s, id, "next_key", detail);
}
