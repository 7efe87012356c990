/* SPDX-License-Identifier: MIT */
/*
 * page_assets — the status page's files (httpd/page/), embedded in the
 * binary at build time by cmake/page_embed.cmake (the generated
 * page_assets.c): no file is read and nothing is fetched at run time.
 */
#ifndef LR_PAGE_ASSETS_H
#define LR_PAGE_ASSETS_H

#include <stddef.h>

struct page_asset {
    const char *url;  /* "/", "/page.js", ... */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

extern const struct page_asset page_assets[];
extern const size_t page_assets_count;

#endif
