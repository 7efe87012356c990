/* SPDX-License-Identifier: MIT */
/*
 * lrsock — a connected TCP pair on loopback for the unit tests that need
 * real sockets (blocking; the caller owns and closes both ends).
 */
#ifndef LR_LRSOCK_H
#define LR_LRSOCK_H

#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* *client connected to *server (the accepted end) through a listener on
 * 127.0.0.1 that is closed again. */
static inline void lrsock_pair(int *client, int *server)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int ls = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(ls, 0);
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(ls, 1), 0);
    ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(*client, 0);
    ck_assert_int_eq(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
    *server = accept(ls, NULL, NULL);
    ck_assert_int_ge(*server, 0);
    close(ls);
}

#endif
