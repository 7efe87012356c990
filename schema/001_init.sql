-- SPDX-License-Identifier: MIT
-- 001_init: the link registry, per-stream accounting, per-link totals and the
-- event log. See docs/internals/registry.md. Only public keys are stored
-- (never a private key or a token). Times are milliseconds since the epoch.

CREATE TABLE links (
    id          BLOB    PRIMARY KEY CHECK (length(id) = 16),
    name        TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    a_key       BLOB    NOT NULL CHECK (length(a_key) = 32),
    a_next_key  BLOB    CHECK (a_next_key IS NULL OR length(a_next_key) = 32),
    a_key_gen   INTEGER NOT NULL DEFAULT 1,
    b_key       BLOB    NOT NULL CHECK (length(b_key) = 32),
    b_next_key  BLOB    CHECK (b_next_key IS NULL OR length(b_next_key) = 32),
    b_key_gen   INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;

-- One row per closed stream. Removed with its link.
CREATE TABLE streams (
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
                 CHECK (cause IN ('fin', 'reset', 'timeout', 'revoked', 'limit', 'error'))
);
CREATE INDEX streams_by_link ON streams (link_id, ended_ms);

-- Running totals per link, updated in the same transaction as the stream rows.
CREATE TABLE link_totals (
    link_id        BLOB    PRIMARY KEY REFERENCES links (id) ON DELETE CASCADE,
    streams        INTEGER NOT NULL DEFAULT 0,
    bytes_a_to_b   INTEGER NOT NULL DEFAULT 0,
    bytes_b_to_a   INTEGER NOT NULL DEFAULT 0,
    last_cause     TEXT,
    last_closed_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The event log. link_id is deliberately not a foreign key: the history of a
-- removed link stays readable.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms   INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    link_id BLOB    CHECK (link_id IS NULL OR length(link_id) = 16),
    addr    TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT '',
    count   INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1)
);
CREATE INDEX events_by_link ON events (link_id, id);
