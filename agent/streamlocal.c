/* SPDX-License-Identifier: MIT */
/*
 * streamlocal — see streamlocal.h.
 */
#include "agent/streamlocal.h"

#include <stdio.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>

#include "log.h"
#include "agent/streamend.h"

static void on_local_connect(uv_connect_t *req, int status)
{
    struct stream *st = req->data;
    char what[ADDR_TEXT_SIZE + 64];

    if (status == UV_ECANCELED || st->state == STREAM_CLOSING)
        return;
    if (status < 0) {
        snprintf(what, sizeof(what), "connect to the local target failed: %s", uv_strerror(status));
        stream_log(st, LOG_LEVEL_WARN, "%s", what);
        pump_reset(&st->io, REC_RESET_CONNECT_FAILED, what);
        return;
    }
    (void)uv_tcp_nodelay(&st->io.local, 1);
    st->io.local_connected = true;
    pump_run(&st->io);
}

static void local_connect(struct stream *st, const struct sockaddr *sa);

static void on_local_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct stream *st = req->data;
    char what[128];

    st->gai_pending = false;
    if (status == UV_ECANCELED || st->state == STREAM_CLOSING) {
        uv_freeaddrinfo(res);
        streamend_release(st);
        return;
    }
    streamend_release(st); /* the request; the timer still holds the struct */
    if (status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        snprintf(what, sizeof(what), "cannot resolve the local target: %s", uv_strerror(status));
        stream_log(st, LOG_LEVEL_WARN, "%s", what);
        pump_reset(&st->io, REC_RESET_CONNECT_FAILED, what);
        return;
    }
    local_connect(st, res->ai_addr);
    uv_freeaddrinfo(res);
}

/* Connects the local side to sa (a copy is taken by the kernel call). */
static void local_connect(struct stream *st, const struct sockaddr *sa)
{
    char what[128];
    int rc;

    rc = uv_tcp_init(st->loop, &st->io.local);
    if (rc == 0) {
        st->local_inited = true;
        st->refs++;
        st->local_creq.data = st;
        rc = uv_tcp_connect(&st->local_creq, &st->io.local, sa, on_local_connect);
    }
    if (rc != 0) {
        snprintf(what, sizeof(what), "connect to the local target failed: %s", uv_strerror(rc));
        stream_log(st, LOG_LEVEL_WARN, "%s", what);
        pump_reset(&st->io, REC_RESET_CONNECT_FAILED, what);
    }
}

/* Dials the link's configured local target: never an address from the peer. */
void streamlocal_dial(struct stream *st, struct stream_owner *own)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    union {
        struct sockaddr any;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } sa;
    char port[8];

    if (st->state == STREAM_CLOSING)
        return; /* nothing may be dialled for a stream that ends: no handle would close it */
    st->io.dial_local = true;
    if (!own->cfg->has_connect) {
        stream_log(st, LOG_LEVEL_WARN,
                   "the peer opened a stream but this side has no "
                   "connect target; refusing it");
        pump_reset(&st->io, REC_RESET_CONNECT_FAILED, "no connect target configured");
        return;
    }
    /* An address literal needs no resolver: connect at once, without the
     * thread pool's round trip per stream (D45). */
    if (uv_ip4_addr(own->cfg->connect.host, own->cfg->connect.port, &sa.v4) == 0 ||
        uv_ip6_addr(own->cfg->connect.host, own->cfg->connect.port, &sa.v6) == 0) {
        local_connect(st, &sa.any);
        return;
    }
    snprintf(port, sizeof(port), "%u", own->cfg->connect.port);
    st->gai.data = st;
    if (uv_getaddrinfo(st->loop, &st->gai, on_local_resolved, own->cfg->connect.host, port,
                       &hints) != 0) {
        pump_reset(&st->io, REC_RESET_CONNECT_FAILED, "cannot resolve the local target");
        return;
    }
    st->gai_pending = true;
    st->refs++;
}
