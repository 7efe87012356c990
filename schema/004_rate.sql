-- SPDX-License-Identifier: MIT
-- 004_rate: bandwidth limits per link and direction (docs/design.md D28), in
-- bytes per second; 0 = no limit. The relay shapes: it stops reading a
-- direction's sender while the link's byte bucket is empty.
ALTER TABLE links ADD COLUMN rate_a_to_b INTEGER NOT NULL DEFAULT 0;
ALTER TABLE links ADD COLUMN rate_b_to_a INTEGER NOT NULL DEFAULT 0;
