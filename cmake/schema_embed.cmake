# SPDX-License-Identifier: MIT
# Generates a C source holding every schema/NNN_name.sql as a migration
# (run as `cmake -DSCHEMA_DIR=... -DOUT=... -P schema_embed.cmake`). schema/
# stays the single source of truth; the build re-runs this when a file
# changes. The files must be numbered 001, 002, ... without gaps.
file(GLOB sqls "${SCHEMA_DIR}/[0-9][0-9][0-9]_*.sql")
list(SORT sqls)
set(body "")
set(table "")
set(expect 1)
foreach(f ${sqls})
  get_filename_component(base ${f} NAME_WE)
  string(SUBSTRING ${base} 0 3 num)
  math(EXPR v "${num}")
  if(NOT v EQUAL expect)
    message(FATAL_ERROR "schema: ${base}.sql: expected migration number ${expect}")
  endif()
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char sql_${v}[] = {${hex}0x00};\n")
  string(APPEND table "    {${v}, \"${base}\", sql_${v}},\n")
  math(EXPR expect "${expect} + 1")
endforeach()
if(expect EQUAL 1)
  message(FATAL_ERROR "schema: no migrations in ${SCHEMA_DIR}")
endif()
math(EXPR count "${expect} - 1")
file(WRITE ${OUT}.tmp "/* Generated from the files schema/NNN_name.sql by cmake/schema_embed.cmake. Do not edit. */
#include \"schema_sql.h\"

${body}
const struct schema_migration schema_migrations[] = {
${table}};
const int schema_migrations_count = ${count};
")
file(RENAME ${OUT}.tmp ${OUT})
