-- SPDX-License-Identifier: MIT
-- 003_gap: migration 003 belongs to another branch of issue 18 (allow18).
-- This file only keeps the numbering 001, 002, ... without a gap on the rate18
-- branch (cmake/schema_embed.cmake requires it); the merge replaces it by
-- that branch's 003.
SELECT 1;
