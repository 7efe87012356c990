-- SPDX-License-Identifier: MIT
-- 007_retention: accounting and event retention (docs/design.md D31). The
-- relay deletes stream rows older than accounting_retention and events older
-- than events_retention (linkrelay.conf(5)) in bounded batches; in the same
-- transaction that deletes stream rows it adds them to stream_days, one row
-- per link and UTC day (day = ended_ms / 86400000), so per-day figures of a
-- link stay what they were. link_totals is never touched by pruning.
CREATE TABLE stream_days (
    link_id      BLOB    NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    day          INTEGER NOT NULL,
    streams      INTEGER NOT NULL CHECK (streams >= 1),
    bytes_a_to_b INTEGER NOT NULL,
    bytes_b_to_a INTEGER NOT NULL,
    PRIMARY KEY (link_id, day)
) WITHOUT ROWID;
-- The prune finds its batches by age without scanning the young rows.
CREATE INDEX streams_by_end ON streams (ended_ms);
CREATE INDEX events_by_ts ON events (ts_ms);
