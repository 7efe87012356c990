-- SPDX-License-Identifier: MIT
-- 005_quota: byte quotas per link (docs/design.md D29).
--
-- One row per link with a quota: at most limit_bytes relayed per period (a
-- UTC day or a UTC calendar month), counting the bytes of both directions.
-- linkctl writes limit_bytes and period; the relay alone writes used_bytes
-- and period_start_ms (the start of the period used_bytes counts in, ms
-- since the epoch; 0 before the relay first counted). No row: no quota.
CREATE TABLE link_quota (
    link_id         BLOB    PRIMARY KEY REFERENCES links (id) ON DELETE CASCADE,
    limit_bytes     INTEGER NOT NULL CHECK (limit_bytes >= 0),
    period          TEXT    NOT NULL CHECK (period IN ('day', 'month')),
    used_bytes      INTEGER NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
    period_start_ms INTEGER NOT NULL DEFAULT 0,
    updated_ms      INTEGER NOT NULL
) WITHOUT ROWID;

-- A stream the relay reset because its link went past its quota is closed
-- with cause 'quota'. SQLite cannot change a CHECK in place: the streams
-- table is rebuilt, every row kept with its seq, inside the migration's
-- transaction (store.c runs each migration in one; a failure keeps the old
-- table and version).
CREATE TABLE streams_new (
    seq          INTEGER PRIMARY KEY,
    link_id      BLOB    NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    stream_id    INTEGER NOT NULL,
    opener       INTEGER NOT NULL CHECK (opener IN (0, 1)),
    started_ms   INTEGER NOT NULL,
    ended_ms     INTEGER NOT NULL,
    wait_ms      INTEGER NOT NULL,
    bytes_a_to_b INTEGER NOT NULL,
    bytes_b_to_a INTEGER NOT NULL,
    cause        TEXT    NOT NULL
                 CHECK (cause IN ('fin', 'reset', 'timeout', 'revoked', 'limit', 'error', 'quota'))
);
INSERT INTO streams_new (seq, link_id, stream_id, opener, started_ms, ended_ms, wait_ms,
                         bytes_a_to_b, bytes_b_to_a, cause)
    SELECT seq, link_id, stream_id, opener, started_ms, ended_ms, wait_ms,
           bytes_a_to_b, bytes_b_to_a, cause FROM streams;
DROP TABLE streams;
ALTER TABLE streams_new RENAME TO streams;
CREATE INDEX streams_by_link ON streams (link_id, ended_ms);
