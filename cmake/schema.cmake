# SPDX-License-Identifier: MIT
# Embeds schema/*.sql into lrregistry: a C file generated into the build
# directory, added to the library through LR_REGISTRY_GENERATED (see
# registry/CMakeLists.txt). It is generated at configure time, and every .sql
# file is a configure dependency, so editing or adding a migration re-runs the
# generator on the next build. schema/ stays the single source of truth.
file(GLOB LR_SCHEMA_SQL CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/schema/*.sql)
set(LR_SCHEMA_C ${CMAKE_BINARY_DIR}/generated/schema_sql.c)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/generated)
execute_process(
  COMMAND ${CMAKE_COMMAND} -DSCHEMA_DIR=${PROJECT_SOURCE_DIR}/schema -DOUT=${LR_SCHEMA_C}
          -P ${PROJECT_SOURCE_DIR}/cmake/schema_embed.cmake
  RESULT_VARIABLE lr_schema_rc)
if(NOT lr_schema_rc EQUAL 0)
  message(FATAL_ERROR "embedding schema/*.sql failed")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${LR_SCHEMA_SQL} ${PROJECT_SOURCE_DIR}/cmake/schema_embed.cmake)
list(APPEND LR_REGISTRY_GENERATED ${LR_SCHEMA_C})
