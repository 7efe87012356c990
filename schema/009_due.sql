-- SPDX-License-Identifier: MIT
-- 009_due: the key overlaps still running, by deadline (docs/design.md D42).
-- A relay ends the overlaps whose deadline passed (store_links_expire) at
-- start-up and whenever a deadline it knows of is due; without these
-- indexes that query read every link, so a relay's start grew with the
-- registry. Partial: only the links with a next key are in them.
CREATE INDEX links_a_due ON links (a_next_until_ms) WHERE a_next_key IS NOT NULL;
CREATE INDEX links_b_due ON links (b_next_until_ms) WHERE b_next_key IS NOT NULL;
