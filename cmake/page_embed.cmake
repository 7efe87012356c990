# SPDX-License-Identifier: MIT
# Generates a C source holding the status page's files, httpd/page/*, as
# struct page_asset (httpd/page_assets.h); run as
# `cmake -DPAGE_DIR=... -DOUT=... -P page_embed.cmake` by httpd/CMakeLists.txt
# whenever a file there changes. index.html is served at "/", every other file
# at "/NAME"; the Content-Type comes from the extension.
file(GLOB files "${PAGE_DIR}/*.html" "${PAGE_DIR}/*.css" "${PAGE_DIR}/*.js")
list(SORT files)
set(body "")
set(table "")
set(i 0)
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  get_filename_component(ext ${f} LAST_EXT)
  if(ext STREQUAL ".html")
    set(type "text/html; charset=utf-8")
  elseif(ext STREQUAL ".css")
    set(type "text/css; charset=utf-8")
  else()
    set(type "text/javascript; charset=utf-8")
  endif()
  if(name STREQUAL "index.html")
    set(url "/")
  else()
    set(url "/${name}")
  endif()
  file(READ ${f} hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const unsigned char page_${i}[] = {${hex}0x00};\n")
  string(APPEND table "    {\"${url}\", \"${type}\", page_${i}, ${len}},\n")
  math(EXPR i "${i} + 1")
endforeach()
if(i EQUAL 0)
  message(FATAL_ERROR "page: no files in ${PAGE_DIR}")
endif()
file(WRITE ${OUT}.tmp "/* Generated from httpd/page/ by cmake/page_embed.cmake. Do not edit. */
#include \"page_assets.h\"

${body}
const struct page_asset page_assets[] = {
${table}};
const size_t page_assets_count = ${i};
")
file(RENAME ${OUT}.tmp ${OUT})
