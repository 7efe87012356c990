/* SPDX-License-Identifier: MIT */
/*
 * sdlisten — see sdlisten.h.
 */
#include "sdlisten.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

/* Whether fd is a listening TCP socket of AF_INET or AF_INET6. */
static int sdlisten_is_tcp_listener(int fd)
{
    return sd_is_socket(fd, AF_INET, SOCK_STREAM, 1) > 0 ||
           sd_is_socket(fd, AF_INET6, SOCK_STREAM, 1) > 0;
}

int sdlisten_take(int *fds, size_t cap, size_t *n, char *err, size_t errlen)
{
    int k = sd_listen_fds(1), bad = -1;

    *n = 0;
    if (k < 0) {
        snprintf(err, errlen, "socket activation: $LISTEN_FDS/$LISTEN_PID: %s", strerror(-k));
        return -1;
    }
    for (int i = 0; i < k && bad < 0; i++)
        if (!sdlisten_is_tcp_listener(SD_LISTEN_FDS_START + i))
            bad = SD_LISTEN_FDS_START + i;
    if (bad >= 0 || (size_t)k > cap) {
        if (bad >= 0)
            snprintf(err, errlen, "socket activation: fd %d is not a listening TCP socket", bad);
        else
            snprintf(err, errlen, "socket activation: %d sockets passed, at most %zu", k, cap);
        for (int i = 0; i < k; i++)
            close(SD_LISTEN_FDS_START + i);
        return -1;
    }
    for (int i = 0; i < k; i++)
        fds[i] = SD_LISTEN_FDS_START + i;
    *n = (size_t)k;
    return 0;
}
