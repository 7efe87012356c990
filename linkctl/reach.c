/* SPDX-License-Identifier: MIT */
/*
 * reach — see reach.h.
 */
#include "reach.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A lookup that ran past its deadline: glibc still writes into it, so it
 * is kept (reachable from here) until the process ends. */
struct reach_lookup {
    struct gaicb cb;
    struct addrinfo hints;
    char port[8];
    char host[sizeof(((struct addr_spec *)NULL)->host)];
    struct reach_lookup *next;
};
static struct reach_lookup *reach_abandoned;

/* getaddrinfo within the deadline (glibc's getaddrinfo_a). */
static int resolve(const struct addr_spec *a, int64_t deadline, struct addrinfo **out)
{
    struct reach_lookup *lk = calloc(1, sizeof(*lk));
    struct gaicb *list[1];
    int rc;

    if (lk == NULL)
        return -ENOMEM;
    snprintf(lk->port, sizeof(lk->port), "%u", a->port);
    snprintf(lk->host, sizeof(lk->host), "%s", a->host);
    lk->hints.ai_socktype = SOCK_STREAM;
    lk->cb.ar_name = lk->host;
    lk->cb.ar_service = lk->port;
    lk->cb.ar_request = &lk->hints;
    list[0] = &lk->cb;
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
        free(lk);
        return -EAGAIN;
    }
    while ((rc = gai_error(&lk->cb)) == EAI_INPROGRESS) {
        int64_t left = deadline - mono_ms();
        struct timespec ts = {left / 1000, (left % 1000) * 1000000};

        if (left <= 0) {
            if (gai_cancel(&lk->cb) == EAI_CANCELED) {
                free(lk);
            } else {
                lk->next = reach_abandoned;
                reach_abandoned = lk;
            }
            return -ETIMEDOUT;
        }
        gai_suspend((const struct gaicb *const *)list, 1, &ts);
    }
    if (rc == 0)
        *out = lk->cb.ar_result;
    free(lk);
    return rc == 0 ? 0 : -ENOENT;
}

/* One connect within the deadline: 0 or -errno. */
static int try_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = 0;
    socklen_t len = sizeof(err);

    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            err = errno;
            close(fd);
            return -err;
        }
        for (;;) {
            int64_t left = deadline - mono_ms();
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = left > 0 ? poll(&p, 1, (int)left) : 0;

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(fd);
                return -ETIMEDOUT;
            }
            break;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
    }
    close(fd);
    return -err;
}

int reach_tcp(const char *hostport, int timeout_ms, char *why, size_t whylen)
{
    int64_t deadline = mono_ms() + timeout_ms;
    struct addr_spec a;
    struct addrinfo *res = NULL;
    int rc = addr_parse(hostport, 0, &a);

    if (rc != 0) {
        snprintf(why, whylen, "not a host:port address");
        return -EINVAL;
    }
    rc = resolve(&a, deadline, &res);
    if (rc != 0) {
        snprintf(why, whylen, "%s",
                 rc == -ENOENT ? "the name does not resolve" : "name resolution timed out");
        return rc;
    }
    rc = -ENOENT;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        rc = try_one(ai, deadline);
        if (rc == 0 || rc == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (rc == 0)
        snprintf(why, whylen, "reachable");
    else
        snprintf(why, whylen, "connect: %s",
                 rc == -ETIMEDOUT ? "no answer (timed out)" : strerror(-rc));
    return rc;
}
