-- SPDX-License-Identifier: MIT
-- 008_pool: a pool of relays sharing this registry (docs/design.md D34).
--
-- members: one row per relay of the pool, written by that relay's heartbeat
-- (every heartbeat interval, from a worker thread). id is the relay's
-- member_id (config); addrs its admin-set advertise list, space-separated
-- "host:port" as agents get them; load its control sessions and streams at
-- the beat; beat_ms the wall clock (ms since the epoch) of the last beat;
-- started_ms when the relay process started. addrs_ok is where a member's
-- eligibility for homing links is recorded: 1 while its advertised addresses
-- are usable (written as 1 by every beat until the advertised-address
-- self-check sets it). A member whose beat_ms is older than member_timeout
-- is dead; rows of dead members stay until `linkctl pool forget`.
CREATE TABLE members (
    id         TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    addrs      TEXT    NOT NULL CHECK (length(addrs) BETWEEN 1 AND 4096),
    sessions   INTEGER NOT NULL DEFAULT 0,
    streams    INTEGER NOT NULL DEFAULT 0,
    beat_ms    INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    addrs_ok   INTEGER NOT NULL DEFAULT 1 CHECK (addrs_ok IN (0, 1))
) WITHOUT ROWID;

-- links_version: bumped by every change to what a relay's link snapshot
-- reads (links, enrollments, link_allow, link_quota). A relay reloads its
-- snapshot when this changes, not on any commit (PRAGMA data_version), so
-- heartbeats and accounting writes do not cause reloads. The triggers are
-- SQLite's: on PostgreSQL the same four tables' statement triggers bump
-- lr_meta.data_version (D33, db_track_changes), which store_links_version
-- reads instead, and this table stays at 1.
CREATE TABLE registry_version (
    one           INTEGER PRIMARY KEY CHECK (one = 1),
    links_version INTEGER NOT NULL
);
INSERT INTO registry_version (one, links_version) VALUES (1, 1);

-- sqlite only: begin

CREATE TRIGGER links_ins AFTER INSERT ON links BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER links_upd AFTER UPDATE ON links BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER links_del AFTER DELETE ON links BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER enrollments_ins AFTER INSERT ON enrollments BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER enrollments_upd AFTER UPDATE ON enrollments BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER enrollments_del AFTER DELETE ON enrollments BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER link_allow_ins AFTER INSERT ON link_allow BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER link_allow_upd AFTER UPDATE ON link_allow BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER link_allow_del AFTER DELETE ON link_allow BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER link_quota_ins AFTER INSERT ON link_quota BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER link_quota_upd AFTER UPDATE ON link_quota BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
CREATE TRIGGER link_quota_del AFTER DELETE ON link_quota BEGIN
    UPDATE registry_version SET links_version = links_version + 1;
END;
-- sqlite only: end
