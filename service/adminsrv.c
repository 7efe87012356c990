/* SPDX-License-Identifier: MIT */
/*
 * adminsrv — see adminsrv.h.
 */
#include "adminsrv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "lrjson.h"

struct adminsrv_client {
    uv_pipe_t pipe;
    uv_timer_t timer;
    struct adminsrv *s;
    struct adminsrv_client *prev, *next;
    int refs; /* open handles + holds */
    bool closing, answered;
    bool more; /* adminsrv_more: one more line, or NULL at the end */
    size_t len;
    char buf[ADMINSRV_MAX_REQUEST + 1];
};

struct adminsrv {
    uv_pipe_t server;
    uv_loop_t *loop;
    const struct adminsrv_ops *ops;
    void *arg;
    char path[ADMINSRV_PATH_MAX];
    struct adminsrv_client *clients;
    size_t n_clients;
    bool stopped;
    bool let_go; /* the path is a successor's (adminsrv_let_go) */
    int refs;    /* the server handle + clients (+ the owner's after let_go) */
};

static void srv_unref(struct adminsrv *s)
{
    if (--s->refs == 0)
        free(s);
}

void adminsrv_hold(struct adminsrv_client *cl)
{
    cl->refs++;
}

void adminsrv_release(struct adminsrv_client *cl)
{
    struct adminsrv *s = cl->s;

    if (--cl->refs > 0)
        return;
    free(cl);
    srv_unref(s);
}

static void client_close_cb(uv_handle_t *h)
{
    adminsrv_release(h->data);
}

static void client_close(struct adminsrv_client *cl)
{
    struct adminsrv *s = cl->s;

    if (cl->closing)
        return;
    cl->closing = true;
    if (cl->prev != NULL)
        cl->prev->next = cl->next;
    else
        s->clients = cl->next;
    if (cl->next != NULL)
        cl->next->prev = cl->prev;
    s->n_clients--;
    uv_close((uv_handle_t *)&cl->pipe, client_close_cb);
    uv_close((uv_handle_t *)&cl->timer, client_close_cb);
}

struct srv_wr {
    uv_write_t req;
    struct adminsrv_client *cl;
    char data[];
};

static void write_cb(uv_write_t *req, int status)
{
    struct srv_wr *w = (struct srv_wr *)req;

    (void)status;
    client_close(w->cl);
    free(w);
}

/* Sends text plus a newline, then closes. */
static void reply(struct adminsrv_client *cl, const char *text, size_t len)
{
    struct srv_wr *w;
    uv_buf_t b;

    if (cl->closing || cl->answered)
        return;
    cl->answered = true;
    w = malloc(sizeof(*w) + len + 1);
    if (w == NULL) {
        client_close(cl);
        return;
    }
    memcpy(w->data, text, len);
    w->data[len] = '\n';
    w->cl = cl;
    b = uv_buf_init(w->data, (unsigned)len + 1);
    if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, write_cb) != 0) {
        free(w);
        client_close(cl);
    }
}

void adminsrv_reply_json(struct adminsrv_client *cl, json_t *v)
{
    char *text = v != NULL && !cl->closing ? json_dumps(v, LRJSON_DUMP_FLAGS) : NULL;

    json_decref(v);
    if (text == NULL) {
        client_close(cl);
        return;
    }
    reply(cl, text, strlen(text));
    free(text);
}

void adminsrv_error(struct adminsrv_client *cl, const char *why)
{
    adminsrv_reply_json(cl, json_pack("{s:s}", "error", why));
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct adminsrv_client *cl = h->data;

    (void)suggested;
    buf->base = cl->buf + cl->len;
    buf->len = ADMINSRV_MAX_REQUEST - cl->len;
}

/* A client kept for one more line ends without it: the owner hears NULL. */
static void more_end(struct adminsrv_client *cl)
{
    if (!cl->more || cl->closing)
        return;
    cl->more = false;
    cl->s->ops->request(cl->s->arg, cl, NULL);
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct adminsrv_client *cl = h->data;
    char *nl;

    (void)buf;
    if (cl->closing || nread == 0)
        return;
    if (nread < 0) {
        more_end(cl);
        client_close(cl);
        return;
    }
    cl->len += (size_t)nread;
    cl->buf[cl->len] = '\0';
    nl = memchr(cl->buf, '\n', cl->len);
    if (nl == NULL) {
        if (cl->len >= ADMINSRV_MAX_REQUEST) {
            uv_read_stop(h);
            adminsrv_error(cl, "request too long");
        }
        return;
    }
    *nl = '\0';
    if (nl > cl->buf && nl[-1] == '\r')
        nl[-1] = '\0';
    uv_read_stop(h);
    cl->more = false;
    cl->s->ops->request(cl->s->arg, cl, cl->buf);
}

static void on_timeout(uv_timer_t *t)
{
    more_end(t->data);
    client_close(t->data);
}

int adminsrv_fd(struct adminsrv_client *cl)
{
    uv_os_fd_t fd;

    return !cl->closing && uv_fileno((uv_handle_t *)&cl->pipe, &fd) == 0 ? fd : -1;
}

void adminsrv_more(struct adminsrv_client *cl, uint32_t timeout_ms)
{
    if (cl->closing)
        return;
    cl->more = true;
    cl->answered = true;
    cl->len = 0;
    uv_timer_start(&cl->timer, on_timeout, timeout_ms, 0);
    uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
}

void adminsrv_close(struct adminsrv_client *cl)
{
    client_close(cl);
}

static void on_accept(uv_stream_t *server, int status)
{
    struct adminsrv *s = server->data;
    struct adminsrv_client *cl;

    if (status != 0 || s->stopped)
        return;
    cl = calloc(1, sizeof(*cl));
    if (cl == NULL)
        return;
    cl->s = s;
    s->refs++;
    uv_pipe_init(s->loop, &cl->pipe, 0);
    uv_timer_init(s->loop, &cl->timer);
    cl->pipe.data = cl;
    cl->timer.data = cl;
    cl->refs = 2;
    cl->next = s->clients;
    if (s->clients != NULL)
        s->clients->prev = cl;
    s->clients = cl;
    s->n_clients++;
    if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0 || s->n_clients > ADMINSRV_MAX_CLIENTS) {
        client_close(cl);
        return;
    }
    uv_timer_start(&cl->timer, on_timeout, ADMINSRV_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
}

static void server_close_cb(uv_handle_t *h)
{
    srv_unref(h->data);
}

/* Start-up only: does something accept on path? */
static bool in_use(const char *path)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool used;

    if (fd < 0)
        return false;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    used = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return used;
}

static int bind_listen(struct adminsrv *s, const char *path, unsigned mode)
{
    mode_t old;
    int rc;

    /* The socket is born with the right mode: no window where it is wider. */
    old = umask(0777 & ~(mode_t)mode);
    rc = uv_pipe_bind(&s->server, path);
    umask(old);
    if (rc == 0 && chmod(path, (mode_t)mode) != 0)
        rc = -errno;
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->server, 16, on_accept);
    return rc;
}

static int start(uv_loop_t *loop, const char *path, unsigned mode, const char *who, bool over,
                 const struct adminsrv_ops *ops, void *arg, struct adminsrv **out)
{
    struct adminsrv *s;
    struct stat sb;
    int rc;

    if (strlen(path) >= sizeof(s->path) ||
        strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
        log_error("admin socket %s: path too long (at most %zu bytes)", path, sizeof(s->path) - 1);
        return -ENAMETOOLONG;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    memcpy(s->path, path, strlen(path) + 1);
    s->loop = loop;
    s->ops = ops;
    s->arg = arg;
    s->refs = 1;
    uv_pipe_init(loop, &s->server, 0);
    s->server.data = s;
    /* A socket file left by a process that died is replaced; one that still
     * answers belongs to a running one, and anything else is not ours. */
    if (!over && lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) && in_use(path)) {
        log_error("admin socket %s: another %s is running with it", path, who);
        rc = -EADDRINUSE;
    } else {
        if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
            unlink(path);
        rc = bind_listen(s, path, mode);
        if (rc != 0)
            log_error("admin socket %s: %s", path, uv_strerror(rc));
    }
    if (rc != 0) {
        s->stopped = true;
        uv_close((uv_handle_t *)&s->server, server_close_cb);
        return rc;
    }
    *out = s;
    return 0;
}

int adminsrv_start(uv_loop_t *loop, const char *path, unsigned mode, const char *who,
                   const struct adminsrv_ops *ops, void *arg, struct adminsrv **out)
{
    return start(loop, path, mode, who, false, ops, arg, out);
}

int adminsrv_start_over(uv_loop_t *loop, const char *path, unsigned mode, const char *who,
                        const struct adminsrv_ops *ops, void *arg, struct adminsrv **out)
{
    return start(loop, path, mode, who, true, ops, arg, out);
}

void adminsrv_let_go(struct adminsrv *s)
{
    if (s->stopped || s->let_go)
        return;
    s->let_go = true;
    s->refs++; /* the owner's, until adminsrv_stop */
    uv_close((uv_handle_t *)&s->server, server_close_cb);
}

void adminsrv_stop(struct adminsrv *s)
{
    if (s == NULL || s->stopped)
        return;
    s->stopped = true;
    while (s->clients != NULL)
        client_close(s->clients);
    if (s->let_go) {
        srv_unref(s);
        return;
    }
    unlink(s->path);
    uv_close((uv_handle_t *)&s->server, server_close_cb);
}
