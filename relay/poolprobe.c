/* SPDX-License-Identifier: MIT */
#include "poolprobe.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "msg.h"

struct poolprobe_slot {
    struct poolprobe *pr;
    uv_tcp_t tcp;
    uv_connect_t req;
    bool open; /* tcp initialised: closed at the end */
};

struct poolprobe {
    poolprobe_cb cb;
    void *arg;
    uv_timer_t timer;
    struct poolprobe_slot slot[MSG_MAX_ADDRS];
    size_t n, answered, refused, handles; /* n: slots dialled; handles: not yet closed */
    bool done, up, unusable;              /* unusable: an address not dialled */
};

static void poolprobe_closed(uv_handle_t *h)
{
    struct poolprobe *pr = h->data;

    if (--pr->handles == 0)
        free(pr);
}

static void poolprobe_close_all(struct poolprobe *pr)
{
    uv_timer_stop(&pr->timer);
    uv_close((uv_handle_t *)&pr->timer, poolprobe_closed);
    for (size_t i = 0; i < pr->n; i++)
        if (pr->slot[i].open && !uv_is_closing((uv_handle_t *)&pr->slot[i].tcp))
            uv_close((uv_handle_t *)&pr->slot[i].tcp, poolprobe_closed);
}

static void poolprobe_end(struct poolprobe *pr, enum poolprobe_verdict v)
{
    if (pr->done)
        return;
    pr->done = true;
    pr->cb(pr->arg, v);
    poolprobe_close_all(pr);
}

static void poolprobe_connected(uv_connect_t *req, int status)
{
    struct poolprobe_slot *s = req->data;
    struct poolprobe *pr = s->pr;

    if (pr->done)
        return; /* cancelled by the close, or the verdict is in */
    pr->answered++;
    if (status == 0)
        pr->up = true;
    else if (status == UV_ECONNREFUSED)
        pr->refused++;
    if (pr->up)
        poolprobe_end(pr, POOLPROBE_UP);
    else if (pr->answered == pr->n)
        poolprobe_end(pr, pr->refused == pr->n && !pr->unusable ? POOLPROBE_REFUSED
                                                                : POOLPROBE_UNKNOWN);
}

static void poolprobe_timeout(uv_timer_t *t)
{
    poolprobe_end(t->data, POOLPROBE_UNKNOWN);
}

/* Starts slot i's connect to text; false when it is not an IP address
 * (no resolver here) or the connect cannot start. */
static bool poolprobe_dial(uv_loop_t *loop, struct poolprobe *pr, const char *text)
{
    struct poolprobe_slot *s = &pr->slot[pr->n];
    struct sockaddr_storage ss;
    struct addr_spec a;
    int rc;

    if (addr_parse(text, 0, &a) != 0 || a.family_hint == AF_UNSPEC)
        return false;
    memset(&ss, 0, sizeof(ss));
    rc = a.family_hint == AF_INET6 ? uv_ip6_addr(a.host, a.port, (struct sockaddr_in6 *)&ss)
                                   : uv_ip4_addr(a.host, a.port, (struct sockaddr_in *)&ss);
    if (rc != 0 || uv_tcp_init(loop, &s->tcp) != 0)
        return false;
    s->pr = pr;
    s->open = true;
    s->tcp.data = pr;
    s->req.data = s;
    pr->handles++;
    pr->n++;
    if (uv_tcp_connect(&s->req, &s->tcp, (const struct sockaddr *)&ss, poolprobe_connected) != 0) {
        pr->answered++; /* answered, not refused */
        return false;
    }
    return true;
}

struct poolprobe *poolprobe_start(uv_loop_t *loop, const char *addrs, uint32_t timeout_ms,
                                  poolprobe_cb cb, void *arg)
{
    struct poolprobe *pr = calloc(1, sizeof(*pr));

    if (pr == NULL)
        return NULL;
    pr->cb = cb;
    pr->arg = arg;
    uv_timer_init(loop, &pr->timer);
    pr->timer.data = pr;
    pr->handles = 1;
    for (const char *s = addrs; *s != '\0' && pr->n < MSG_MAX_ADDRS;) {
        size_t len = strcspn(s, " ");
        char text[MSG_MAX_ADDR + 1];

        if (len > 0 && len <= MSG_MAX_ADDR) {
            memcpy(text, s, len);
            text[len] = '\0';
            if (!poolprobe_dial(loop, pr, text))
                pr->unusable = true; /* never known refused: "unknown" at most */
        }
        s += len + (s[len] == ' ');
    }
    uv_timer_start(&pr->timer, poolprobe_timeout, timeout_ms, 0);
    return pr;
}

void poolprobe_cancel(struct poolprobe *pr)
{
    if (pr == NULL || pr->done)
        return;
    pr->done = true;
    poolprobe_close_all(pr);
}

const char *poolprobe_name(enum poolprobe_verdict v)
{
    return v == POOLPROBE_UP ? "up" : v == POOLPROBE_REFUSED ? "refused every address" : "unknown";
}
