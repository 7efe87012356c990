-- SPDX-License-Identifier: MIT
-- 003_allow: per-link source allowlists (docs/design.md D27). One row per
-- side and address prefix, in canonical text (common/cidr.c: "198.18.0.0/15",
-- "fd00::/8"). A side without rows accepts every source; a side with rows
-- accepts control sessions and stream legs only from addresses inside one of
-- them. At most 16 rows per side (linkctl refuses more; the relay treats a
-- side with more, or with a row it cannot parse, as refusing what no valid
-- row allows).
CREATE TABLE link_allow (
    link_id BLOB    NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    side    INTEGER NOT NULL CHECK (side IN (0, 1)),
    cidr    TEXT    NOT NULL CHECK (length(cidr) BETWEEN 1 AND 64),
    PRIMARY KEY (link_id, side, cidr)
) WITHOUT ROWID;
