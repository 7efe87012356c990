/* SPDX-License-Identifier: MIT */
/*
 * The part of inih's API that upstream (github.com/benhoyt/inih) has in every
 * build configuration, declared from its documentation; not inih's header.
 * tests/CMakeLists.txt compiles common/cfgparse.c against this file alone, so
 * the build breaks if cfgparse uses anything else, such as the run-time
 * option variables (ini_allow_multiline and friends) that only Debian's
 * libinih has. INI_HANDLER_LINENO is the one option that changes the API.
 */
#ifndef LR_UPSTREAM_INI_H
#define LR_UPSTREAM_INI_H

#include <stdio.h>

#ifndef INI_HANDLER_LINENO
#define INI_HANDLER_LINENO 0
#endif

#if INI_HANDLER_LINENO
typedef int (*ini_handler)(void *user, const char *section, const char *name, const char *value,
                           int lineno);
#else
typedef int (*ini_handler)(void *user, const char *section, const char *name, const char *value);
#endif
typedef char *(*ini_reader)(char *str, int num, void *stream);

int ini_parse(const char *filename, ini_handler handler, void *user);
int ini_parse_file(FILE *file, ini_handler handler, void *user);
int ini_parse_stream(ini_reader reader, void *stream, ini_handler handler, void *user);
int ini_parse_string(const char *string, ini_handler handler, void *user);

#endif
