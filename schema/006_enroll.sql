-- SPDX-License-Identifier: MIT
-- 006_enroll: enrollment codes (docs/design.md D30). One row per link side
-- that was given a code instead of a private key. hash is
-- BLAKE2b-256("linkrelay/1 enroll hash" || verifier), the verifier being what
-- the agent sends in AUTH; neither the code nor the verifier is stored.
-- anchor is the public key derived from the code that the side was registered
-- with until it enrolled: the relay never accepts it for a session, only the
-- enrolled agent's endorsement made with it. uses_left counts down from uses
-- at each enrollment; the row stays (spent) so that a reuse is told "spent".
CREATE TABLE enrollments (
    link_id    BLOB    NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    side       INTEGER NOT NULL CHECK (side IN (0, 1)),
    hash       BLOB    NOT NULL CHECK (length(hash) = 32),
    anchor     BLOB    NOT NULL CHECK (length(anchor) = 32),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    uses       INTEGER NOT NULL CHECK (uses BETWEEN 1 AND 100),
    uses_left  INTEGER NOT NULL CHECK (uses_left BETWEEN 0 AND uses),
    last_ms    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (link_id, side)
) WITHOUT ROWID;
