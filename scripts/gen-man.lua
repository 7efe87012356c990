-- SPDX-License-Identifier: MIT
-- pandoc filter for scripts/gen-man.sh: a Markdown table becomes a definition
-- list in the man page (.TP paragraphs, the man idiom), because tbl tables of
-- the widths docs/ uses do not fit an 80-column terminal and groff warns.
-- The first column is the term. With two columns the second is the text;
-- with more, the last column is the text and the middle ones follow it as
-- one "header: value; header: value" paragraph.

local function inlines_of(blocks)
  local out = {}
  for _, b in ipairs(blocks) do
    if b.content then
      if #out > 0 then table.insert(out, pandoc.Space()) end
      for _, i in ipairs(b.content) do table.insert(out, i) end
    end
  end
  return out
end

function Table(tbl)
  local t = pandoc.utils.to_simple_table(tbl)
  local items = {}
  for _, row in ipairs(t.rows) do
    local body = {}
    for _, b in ipairs(row[#row]) do table.insert(body, b) end
    if #row > 2 then
      local extra = {}
      for c = 2, #row - 1 do
        if #extra > 0 then
          table.insert(extra, pandoc.Str(";"))
          table.insert(extra, pandoc.Space())
        end
        for _, i in ipairs(inlines_of(t.headers[c])) do table.insert(extra, i) end
        table.insert(extra, pandoc.Str(":"))
        table.insert(extra, pandoc.Space())
        for _, i in ipairs(inlines_of(row[c])) do table.insert(extra, i) end
      end
      table.insert(body, pandoc.Para(extra))
    end
    table.insert(items, { inlines_of(row[1]), { body } })
  end
  return pandoc.DefinitionList(items)
end
