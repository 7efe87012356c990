/* SPDX-License-Identifier: MIT */
#include "admin.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "keys.h"
#include "log.h"
#include "lrjson.h"
#include "relaycfg.h"
#include "takeover.h"

struct admin_client {
    uv_pipe_t pipe;
    uv_timer_t timer;
    struct admin *a;
    struct admin_client *prev, *next;
    int refs; /* open handles + a pending sync */
    bool closing, answered;
    bool takeover; /* sockets handed over: waiting for the successor's `ready` */
    size_t len;
    char buf[ADMIN_MAX_REQUEST + 1];
};

struct admin {
    uv_pipe_t server;
    uv_loop_t *loop;
    struct index *index;
    struct sync *sync;
    const struct admin_ops *ops;
    void *arg;
    char path[RELAYCFG_PATH_MAX];
    struct admin_client *clients;
    size_t n_clients;
    bool stopped;
    bool released; /* the path belongs to a successor now (takeover) */
    int refs;      /* the server handle + clients */
};

static void admin_unref(struct admin *a)
{
    if (--a->refs == 0)
        free(a);
}

static void admin_client_unref(struct admin_client *cl)
{
    struct admin *a = cl->a;

    if (--cl->refs > 0)
        return;
    free(cl);
    admin_unref(a);
}

static void admin_client_close_cb(uv_handle_t *h)
{
    admin_client_unref(h->data);
}

static void admin_client_close(struct admin_client *cl)
{
    struct admin *a = cl->a;

    if (cl->closing)
        return;
    cl->closing = true;
    if (cl->prev != NULL)
        cl->prev->next = cl->next;
    else
        a->clients = cl->next;
    if (cl->next != NULL)
        cl->next->prev = cl->prev;
    a->n_clients--;
    uv_close((uv_handle_t *)&cl->pipe, admin_client_close_cb);
    uv_close((uv_handle_t *)&cl->timer, admin_client_close_cb);
}

struct admin_wr {
    uv_write_t req;
    struct admin_client *cl;
    size_t len;
    char data[];
};

static void admin_write_cb(uv_write_t *req, int status)
{
    struct admin_wr *w = (struct admin_wr *)req;

    (void)status;
    admin_client_close(w->cl);
    free(w);
}

/* Sends text plus a newline, then closes. */
static void admin_reply(struct admin_client *cl, const char *text, size_t len)
{
    struct admin_wr *w;
    uv_buf_t b;

    if (cl->closing || cl->answered)
        return;
    cl->answered = true;
    w = malloc(sizeof(*w) + len + 1);
    if (w == NULL) {
        admin_client_close(cl);
        return;
    }
    memcpy(w->data, text, len);
    w->data[len] = '\n';
    w->len = len + 1;
    w->cl = cl;
    b = uv_buf_init(w->data, (unsigned)w->len);
    if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, admin_write_cb) != 0) {
        free(w);
        admin_client_close(cl);
    }
}

/* Sends v (compact JSON, lrjson.h) plus a newline, then closes; takes v. A
 * NULL v (out of memory while building it) closes without a reply. */
static void admin_reply_json(struct admin_client *cl, json_t *v)
{
    char *text = v != NULL ? json_dumps(v, LRJSON_DUMP_FLAGS) : NULL;

    json_decref(v);
    if (text == NULL) {
        admin_client_close(cl);
        return;
    }
    admin_reply(cl, text, strlen(text));
    free(text);
}

static void admin_error(struct admin_client *cl, const char *why)
{
    admin_reply_json(cl, json_pack("{s:s}", "error", why));
}

static json_t *admin_side(const struct index_link *l, int side)
{
    const struct conn *c = l->session[side];

    if (c == NULL)
        return json_pack("{s:b}", "online", 0);
    return json_pack("{s:b, s:I, s:s}", "online", 1, "since_ms", lrjson_u64(l->since_ms[side]),
                     "addr", c->peer);
}

struct admin_links {
    json_t *arr;
    bool failed;
};

static void admin_link(void *arg, struct index_link *l)
{
    struct admin_links *x = arg;
    char id[LINKID_TEXT_SIZE];
    json_t *v;

    linkid_encode(l->id, id);
    /* The name comes from the database: lrjson_str keeps the reply valid
     * JSON whatever its bytes. */
    v = json_pack("{s:s, s:o, s:b, s:o, s:o, s:I, s:I, s:I, s:I}", "id", id, "name",
                  lrjson_str(l->name), "enabled", l->enabled ? 1 : 0, "a", admin_side(l, 0), "b",
                  admin_side(l, 1), "streams_open", lrjson_u64(l->n_streams), "streams_total",
                  lrjson_u64(l->streams_total), "bytes_a_to_b", lrjson_u64(l->bytes[0]),
                  "bytes_b_to_a", lrjson_u64(l->bytes[1]));
    if (v == NULL || json_array_append_new(x->arr, v) != 0)
        x->failed = true;
}

static json_t *admin_links(struct admin *a)
{
    struct admin_links x = {json_array(), false};

    if (x.arr == NULL)
        return NULL;
    index_foreach(a->index, admin_link, &x);
    if (x.failed) {
        json_decref(x.arr);
        return NULL;
    }
    return json_pack("{s:o}", "links", x.arr);
}

static void admin_sync_done(void *arg, int rc, size_t n)
{
    struct admin_client *cl = arg;

    if (rc == 0)
        admin_reply_json(cl, json_pack("{s:b, s:I}", "ok", 1, "links", lrjson_u64(n)));
    else
        admin_error(cl, rc == -ECANCELED ? "sync failed: relay stopping"
                                         : "sync failed: registry read error");
    admin_client_unref(cl);
}

/* `drain` or `drain MS` (MS: 0..3600000, digits only). */
static void admin_drain(struct admin_client *cl, const char *arg)
{
    struct admin *a = cl->a;
    uint32_t ms = UINT32_MAX;
    int rc;

    if (*arg != '\0') {
        uint64_t v = 0;
        size_t n = 0;
        for (; arg[n] >= '0' && arg[n] <= '9' && n < 8; n++)
            v = v * 10 + (uint64_t)(arg[n] - '0');
        if (n == 0 || arg[n] != '\0' || v > 3600000) {
            admin_error(cl, "drain: the timeout must be 0..3600000 ms");
            return;
        }
        ms = (uint32_t)v;
    }
    rc = a->ops->drain(a->arg, ms);
    if (rc == -EALREADY)
        admin_error(cl, "the relay is already draining or stopping");
    else if (rc != 0)
        admin_error(cl, "drain failed");
    else
        admin_reply_json(cl, a->ops->status(a->arg));
}

static void admin_server_close_cb(uv_handle_t *h);
static void admin_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void admin_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);
static void admin_timeout(uv_timer_t *t);

/* Lets go of the path: a successor binds it (takeover) once this relay
 * closed its end of the takeover connection. Closing the server removes
 * the file (libuv does); clients already connected are answered, and
 * admin_stop does not touch the path again. */
static void admin_release(struct admin *a)
{
    if (a->released || a->stopped)
        return;
    a->released = true;
    a->refs++; /* the owner's hold, until admin_stop */
    uv_close((uv_handle_t *)&a->server, admin_server_close_cb);
}

/* `takeover`: the listening sockets go to the successor with the reply,
 * then this relay drains (D25). */
static void admin_takeover(struct admin_client *cl)
{
    struct admin *a = cl->a;
    int fds[TAKEOVER_MAX_FDS];
    char text[64];
    size_t n = 0;
    uv_os_fd_t cfd;
    int len, rc;

    rc = a->ops->listeners(a->arg, fds, TAKEOVER_MAX_FDS, &n);
    if (rc != 0 || n == 0) {
        admin_error(cl, rc == -EBUSY ? "a takeover is under way"
                                     : "the relay is draining or stopping: its listening "
                                       "sockets are closed");
        return;
    }
    len = snprintf(text, sizeof(text), "{\"ok\":true,\"listeners\":%zu}\n", n);
    rc = uv_fileno((uv_handle_t *)&cl->pipe, &cfd);
    if (rc == 0)
        rc = takeover_send(cfd, text, (size_t)len, fds, n);
    cl->answered = true;
    if (rc != 0) {
        log_warnx("takeover: listening sockets not handed over: %s", strerror(-rc));
        admin_client_close(cl);
        a->ops->takeover_failed(a->arg);
        return;
    }
    /* Both processes accept on the sockets now (one accept queue: nothing
     * is lost either way) until the successor says `ready`. */
    log_info("takeover: %zu listening sockets handed to a successor; serving on until it is "
             "ready",
             n);
    cl->takeover = true;
    cl->len = 0;
    uv_timer_start(&cl->timer, admin_timeout, TAKEOVER_CONFIRM_MS, 0);
    uv_read_start((uv_stream_t *)&cl->pipe, admin_alloc, admin_read);
}

/* The successor's last word: `ready` (it serves; this relay drains and lets
 * go of the admin path, which the successor binds next), or nothing (it
 * failed: this relay goes on as before). */
static void admin_takeover_end(struct admin_client *cl, bool ready)
{
    struct admin *a = cl->a;

    cl->takeover = false;
    if (!ready) {
        admin_client_close(cl);
        log_warnx("takeover: the successor did not become ready; serving on");
        a->ops->takeover_failed(a->arg);
        return;
    }
    log_info("takeover: the successor is ready; draining");
    /* libuv removes a pipe server's file when it closes it (uv_close, at
     * once): that is done before the successor, which waits for this
     * connection's end, binds its own there. */
    admin_release(a);
    admin_client_close(cl);
    (void)a->ops->drain(a->arg, UINT32_MAX);
}

static void admin_command(struct admin_client *cl, const char *cmd)
{
    struct admin *a = cl->a;

    if (strcmp(cmd, "takeover") == 0) {
        admin_takeover(cl);
        return;
    }

    if (strcmp(cmd, "drain") == 0 || strncmp(cmd, "drain ", 6) == 0) {
        admin_drain(cl, cmd[5] == ' ' ? cmd + 6 : "");
        return;
    }

    if (strcmp(cmd, "sync") == 0) {
        cl->refs++;
        if (sync_request(a->sync, admin_sync_done, cl) != 0) {
            cl->refs--;
            admin_error(cl, "busy");
        }
        return;
    }
    if (strcmp(cmd, "status") == 0)
        admin_reply_json(cl, a->ops->status(a->arg));
    else if (strcmp(cmd, "links") == 0)
        admin_reply_json(cl, admin_links(a));
    else if (strcmp(cmd, "relay-key") == 0 && a->ops->relay_key != NULL)
        admin_reply_json(cl, a->ops->relay_key(a->arg));
    else
        admin_error(cl, "unknown command");
}

static void admin_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct admin_client *cl = h->data;

    (void)suggested;
    buf->base = cl->buf + cl->len;
    buf->len = ADMIN_MAX_REQUEST - cl->len;
}

static void admin_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct admin_client *cl = h->data;
    char *nl;

    (void)buf;
    if (cl->closing || nread == 0)
        return;
    if (nread < 0) {
        if (cl->takeover)
            admin_takeover_end(cl, false);
        else
            admin_client_close(cl);
        return;
    }
    cl->len += (size_t)nread;
    cl->buf[cl->len] = '\0';
    nl = memchr(cl->buf, '\n', cl->len);
    if (nl == NULL) {
        if (cl->len >= ADMIN_MAX_REQUEST)
            admin_error(cl, "request too long");
        return;
    }
    *nl = '\0';
    if (nl > cl->buf && nl[-1] == '\r')
        nl[-1] = '\0';
    uv_read_stop(h);
    if (cl->takeover)
        admin_takeover_end(cl, strcmp(cl->buf, "ready") == 0);
    else
        admin_command(cl, cl->buf);
}

static void admin_timeout(uv_timer_t *t)
{
    struct admin_client *cl = t->data;

    if (cl->takeover)
        admin_takeover_end(cl, false);
    else
        admin_client_close(cl);
}

static void admin_accept(uv_stream_t *server, int status)
{
    struct admin *a = server->data;
    struct admin_client *cl;

    if (status != 0 || a->stopped)
        return;
    cl = calloc(1, sizeof(*cl));
    if (cl == NULL)
        return;
    cl->a = a;
    a->refs++;
    uv_pipe_init(a->loop, &cl->pipe, 0);
    uv_timer_init(a->loop, &cl->timer);
    cl->pipe.data = cl;
    cl->timer.data = cl;
    cl->refs = 2;
    cl->next = a->clients;
    if (a->clients != NULL)
        a->clients->prev = cl;
    a->clients = cl;
    a->n_clients++;
    if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0 || a->n_clients > ADMIN_MAX_CLIENTS) {
        admin_client_close(cl);
        return;
    }
    uv_timer_start(&cl->timer, admin_timeout, ADMIN_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&cl->pipe, admin_alloc, admin_read);
}

static void admin_server_close_cb(uv_handle_t *h)
{
    admin_unref(h->data);
}

/* Start-up only (before the loop runs): does something accept on path? */
static bool admin_in_use(const char *path)
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

int admin_start(uv_loop_t *loop, const char *path, unsigned mode, bool replace, struct index *index,
                struct sync *sync, const struct admin_ops *ops, void *arg, struct admin **out)
{
    struct admin *a = calloc(1, sizeof(*a));
    struct stat sb;
    mode_t old;
    int rc;

    if (a == NULL)
        return -ENOMEM;
    if (strlen(path) >= sizeof(a->path)) {
        free(a);
        return -ENAMETOOLONG;
    }
    memcpy(a->path, path, strlen(path) + 1);
    a->loop = loop;
    a->index = index;
    a->sync = sync;
    a->ops = ops;
    a->arg = arg;
    a->refs = 1;
    uv_pipe_init(loop, &a->server, 0);
    a->server.data = a;
    /* A socket file left by a relay that died is replaced; one that still
     * answers belongs to a running relay, and anything else is not ours. */
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
        if (!replace && admin_in_use(path)) {
            log_error("admin socket %s: another linkrelay is running with it", path);
            a->stopped = true;
            uv_close((uv_handle_t *)&a->server, admin_server_close_cb);
            return -EADDRINUSE;
        }
        unlink(path);
    }
    /* The socket is born with the right mode: no window where it is wider. */
    old = umask(0777 & ~(mode_t)mode);
    rc = uv_pipe_bind(&a->server, path);
    umask(old);
    if (rc == 0 && chmod(path, (mode_t)mode) != 0)
        rc = -errno;
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->server, 16, admin_accept);
    if (rc != 0) {
        log_error("admin socket %s: %s", path, uv_strerror(rc));
        a->stopped = true;
        uv_close((uv_handle_t *)&a->server, admin_server_close_cb);
        return rc;
    }
    *out = a;
    return 0;
}

void admin_stop(struct admin *a)
{
    if (a == NULL || a->stopped)
        return;
    a->stopped = true;
    while (a->clients != NULL)
        admin_client_close(a->clients);
    if (a->released) {
        admin_unref(a);
        return;
    }
    unlink(a->path);
    uv_close((uv_handle_t *)&a->server, admin_server_close_cb);
}
