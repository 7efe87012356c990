/* SPDX-License-Identifier: MIT */
/*
 * reach — can this host open a TCP connection to "host:port"? (`linkctl
 * probe`). The name is resolved with getaddrinfo_a and every address is
 * tried, all within one deadline, so a dead DNS server or a black-holed
 * address costs at most timeout_ms. The connection is closed at once;
 * nothing is sent.
 */
#ifndef LR_REACH_H
#define LR_REACH_H

#include <stddef.h>

#define REACH_TIMEOUT_MS 2000

/* 0 when a connection was accepted, else a negative errno (-ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH, ...; -ENOENT: the name does not resolve,
 * -EINVAL: not "host:port"), with a short reason in why. */
int reach_tcp(const char *hostport, int timeout_ms, char *why, size_t whylen);

#endif
