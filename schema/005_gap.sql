-- SPDX-License-Identifier: MIT
-- 005_gap: migration 005 belongs to another branch of issue 18 (quota18).
-- This file only keeps the numbering 001, 002, ... without a gap on the
-- retention18 branch (cmake/schema_embed.cmake requires it); the merge
-- replaces it by that branch's 005.
SELECT 1;
