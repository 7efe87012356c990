/* SPDX-License-Identifier: MIT */
/*
 * schema_sql — the SQL migrations of schema/, embedded at build time
 * (cmake/schema_embed.cmake generates schema_sql.c in the build directory).
 * schema_migrations[i] has version i + 1; the array is static, read-only data.
 */
#ifndef LR_SCHEMA_SQL_H
#define LR_SCHEMA_SQL_H

struct schema_migration {
    int version;      /* NNN of schema/NNN_name.sql */
    const char *name; /* "NNN_name" */
    const char *sql;  /* the file's text, NUL-terminated */
};

extern const struct schema_migration schema_migrations[];
extern const int schema_migrations_count;

#endif
