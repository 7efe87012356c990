-- SPDX-License-Identifier: MIT
-- 004_gap: migration 004 belongs to another branch of issue 18 (rate18).
-- This file only keeps the numbering 001, 002, ... without a gap on the
-- retention18 branch (cmake/schema_embed.cmake requires it); the merge
-- replaces it by that branch's 004.
SELECT 1;
