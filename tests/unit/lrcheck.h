/* SPDX-License-Identifier: MIT */
/*
 * lrcheck — the one main() every Check suite shares: initialise libsodium,
 * run the suite (forking per test unless CK_FORK=no), exit non-zero on any
 * failure.
 */
#ifndef LR_LRCHECK_H
#define LR_LRCHECK_H

#include <check.h>
#include <sodium.h>
#include <stdlib.h>

static inline int lrcheck_run(Suite *s)
{
    SRunner *sr;
    int failed;

    if (sodium_init() < 0)
        return EXIT_FAILURE;
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
