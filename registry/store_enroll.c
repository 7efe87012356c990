/* SPDX-License-Identifier: MIT */
/*
 * store_enroll — enrollment codes in the registry (schema/006_enroll.sql,
 * docs/design.md D30): only a hash of each code's verifier is kept.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_int.h"

/* Enrollment is rare: its two statements are prepared per call, on the
 * store's connection, outside store.c's cache (db_finalize after). */
static const char sql_set[] =
    "INSERT INTO enrollments (link_id, side, hash, anchor, created_ms, expires_ms, "
    "uses, uses_left) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (link_id, side) DO "
    "UPDATE SET hash = excluded.hash, anchor = excluded.anchor, created_ms = excluded.created_ms, "
    "expires_ms = excluded.expires_ms, uses = excluded.uses, uses_left = excluded.uses_left, "
    "last_ms = 0";
static const char sql_spend[] =
    "UPDATE enrollments SET uses_left = uses_left - 1, last_ms = ?4 WHERE link_id = ?1 AND "
    "side = ?2 AND hash = ?3 AND uses_left > 0 AND expires_ms > ?4";

static int prepare(struct store *st, const char *sql, struct db_stmt **out)
{
    int r = db_prepare(store_handle(st), sql, out);
    return r == 0 ? 0 : store_db_fail(st, r, "prepare enrollment statement");
}

static int side_ok(struct store *st, int side)
{
    if (side != STORE_SIDE_A && side != STORE_SIDE_B) {
        store_set_err(st, "bad side %d", side);
        return -EINVAL;
    }
    return 0;
}

int store_enroll_set(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                     const uint8_t hash[STORE_ENROLL_HASH_LEN], const uint8_t anchor[STORE_KEY_LEN],
                     int64_t expires_ms, uint32_t uses)
{
    struct db_stmt *s;
    int64_t now = store_now_ms();
    char text[96];
    int r = side_ok(st, side);

    if (r == 0 && (uses < 1 || uses > STORE_ENROLL_USES_MAX)) {
        store_set_err(st, "uses %u out of range 1..%d", uses, STORE_ENROLL_USES_MAX);
        r = -EINVAL;
    }
    if (r == 0)
        r = store_tx_begin(st);
    if (r < 0)
        return r;
    r = prepare(st, sql_set, &s);
    if (r == 0) {
        db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
        db_bind_int64(s, 2, side);
        db_bind_blob(s, 3, hash, STORE_ENROLL_HASH_LEN);
        db_bind_blob(s, 4, anchor, STORE_KEY_LEN);
        db_bind_int64(s, 5, now);
        db_bind_int64(s, 6, expires_ms);
        db_bind_int64(s, 7, uses);
        r = store_stmt_done(st, s, "set enrollment");
        db_finalize(s);
    }
    if (r == 0) {
        snprintf(text, sizeof(text), "side %c: %u use%s, expires in %" PRId64 " s", 'a' + side,
                 uses, uses == 1 ? "" : "s", (expires_ms - now + 999) / 1000);
        r = store_event_insert(st, now, "enroll_issued", id, NULL, text, 1);
    }
    if (r < 0)
        return store_tx_fail(st, r);
    return store_tx_commit(st);
}

int store_enroll_spend(struct store *st, const uint8_t id[STORE_LINK_ID_LEN], int side,
                       const uint8_t hash[STORE_ENROLL_HASH_LEN], const uint8_t key[STORE_KEY_LEN],
                       int64_t now_ms)
{
    struct db_stmt *s;
    char fp[STORE_KEY_FP_SIZE], text[96];
    int r = side_ok(st, side);

    if (r == 0)
        r = store_tx_begin(st);
    if (r < 0)
        return r;
    int changed = 0;
    r = prepare(st, sql_spend, &s);
    if (r == 0) {
        db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
        db_bind_int64(s, 2, side);
        db_bind_blob(s, 3, hash, STORE_ENROLL_HASH_LEN);
        db_bind_int64(s, 4, now_ms);
        r = store_stmt_done(st, s, "spend enrollment");
        changed = r == 0 ? db_changes(db_stmt_db(s)) : 0;
        db_finalize(s);
    }
    if (r == 0 && changed == 0) {
        store_set_err(st, "side %c: no usable enrollment code (expired, spent or replaced)",
                      'a' + side);
        r = -ENOENT;
    }
    if (r == 0)
        r = store_stmt_get(st, side == STORE_SIDE_A ? S_LINK_ROTATE_A : S_LINK_ROTATE_B, &s);
    if (r == 0) {
        db_bind_blob(s, 1, id, STORE_LINK_ID_LEN);
        db_bind_blob(s, 2, key, STORE_KEY_LEN);
        db_bind_int64(s, 3, now_ms);
        r = store_stmt_done(st, s, "set enrolled key");
    }
    if (r == 0) {
        store_key_fp(key, fp);
        snprintf(text, sizeof(text), "side %c: key %s", 'a' + side, fp);
        r = store_event_insert(st, now_ms, "enrolled", id, NULL, text, 1);
    }
    if (r < 0)
        return store_tx_fail(st, r);
    return store_tx_commit(st);
}
