/* SPDX-License-Identifier: MIT */
#include "admin.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adminsrv.h"
#include "conn.h"
#include "keys.h"
#include "log.h"
#include "lrjson.h"
#include "takeover.h"

struct admin {
    struct adminsrv *srv;
    struct index *index;
    struct sync *sync;
    const struct admin_ops *ops;
    void *arg;
    struct adminsrv_client *takeover; /* sockets handed over, waiting for `ready` */
};

/* The side's refused keys (index_auth_fail), or null. */
static json_t *admin_authfail(const struct index_authfail *f)
{
    if (f->cause == NULL)
        return json_null();
    return json_pack("{s:s, s:I, s:I, s:s, s:s}", "cause", f->cause, "count", lrjson_u64(f->count),
                     "at_ms", lrjson_u64(f->at_ms), "addr", f->addr, "key_fp", f->key_fp);
}

static json_t *admin_side(const struct index_link *l, int side)
{
    const struct conn *c = l->session[side];

    if (c == NULL)
        return json_pack("{s:b, s:o}", "online", 0, "auth_fail",
                         admin_authfail(&l->authfail[side]));
    return json_pack("{s:b, s:I, s:s, s:o}", "online", 1, "since_ms", lrjson_u64(l->since_ms[side]),
                     "addr", c->peer, "auth_fail", admin_authfail(&l->authfail[side]));
}

struct admin_links {
    json_t *arr;
    bool failed;
};

/* The link's byte quota as the relay counts it now (D29), or null. */
static json_t *admin_quota(const struct index_quota *q)
{
    if (!q->on)
        return json_null();
    return json_pack(
        "{s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "limit_bytes", lrjson_u64(q->limit), "period",
        store_quota_period_name(q->period), "used_bytes", lrjson_u64(q->used), "period_start_ms",
        (json_int_t)q->start_ms, "resets_ms",
        (json_int_t)(q->start_ms != 0 ? store_quota_period_next(q->period, q->start_ms) : 0),
        "refused", lrjson_u64(q->refused), "exceeded", lrjson_u64(q->resets));
}

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
    /* The bandwidth limits in effect (D28), bytes/s, 0 = none; the byte quota
     * (D29). */
    if (v != NULL && (json_object_set_new(v, "rate",
                                          json_pack("{s:I, s:I}", "a_to_b", lrjson_u64(l->rate[0]),
                                                    "b_to_a", lrjson_u64(l->rate[1]))) != 0 ||
                      json_object_set_new(v, "quota", admin_quota(&l->quota)) != 0)) {
        json_decref(v);
        v = NULL;
    }
    if (v == NULL || json_array_append_new(x->arr, v) != 0)
        x->failed = true;
}

json_t *admin_links_json(const struct index *index)
{
    struct admin_links x = {json_array(), false};

    if (x.arr == NULL)
        return NULL;
    index_foreach(index, admin_link, &x);
    if (x.failed) {
        json_decref(x.arr);
        return NULL;
    }
    return json_pack("{s:o}", "links", x.arr);
}

static void admin_sync_done(void *arg, int rc, size_t n)
{
    struct adminsrv_client *cl = arg;

    if (rc == 0)
        adminsrv_reply_json(cl, json_pack("{s:b, s:I}", "ok", 1, "links", lrjson_u64(n)));
    else
        adminsrv_error(cl, rc == -ECANCELED ? "sync failed: relay stopping"
                                            : "sync failed: registry read error");
    adminsrv_release(cl);
}

/* `drain` or `drain MS` (MS: 0..3600000, digits only). */
static void admin_drain(struct admin *a, struct adminsrv_client *cl, const char *arg)
{
    uint32_t ms = UINT32_MAX;
    int rc;

    if (*arg != '\0') {
        uint64_t v = 0;
        size_t n = 0;
        for (; arg[n] >= '0' && arg[n] <= '9' && n < 8; n++)
            v = v * 10 + (uint64_t)(arg[n] - '0');
        if (n == 0 || arg[n] != '\0' || v > 3600000) {
            adminsrv_error(cl, "drain: the timeout must be 0..3600000 ms");
            return;
        }
        ms = (uint32_t)v;
    }
    rc = a->ops->drain(a->arg, ms);
    if (rc == -EALREADY)
        adminsrv_error(cl, "the relay is already draining or stopping");
    else if (rc != 0)
        adminsrv_error(cl, "drain failed");
    else
        adminsrv_reply_json(cl, a->ops->status(a->arg));
}

/* `takeover`: the listening sockets go to the successor with the reply;
 * both accept on them (one accept queue: nothing is lost either way) until
 * it says `ready` (D25). */
static void admin_takeover(struct admin *a, struct adminsrv_client *cl)
{
    int fds[TAKEOVER_MAX_FDS], fd, len, rc;
    char text[64];
    size_t n = 0;

    rc = a->ops->listeners(a->arg, fds, TAKEOVER_MAX_FDS, &n);
    if (rc != 0 || n == 0) {
        adminsrv_error(cl, rc == -EBUSY ? "a takeover is under way"
                                        : "the relay is draining or stopping: its listening "
                                          "sockets are closed");
        return;
    }
    len = snprintf(text, sizeof(text), "{\"ok\":true,\"listeners\":%zu}\n", n);
    fd = adminsrv_fd(cl);
    rc = fd < 0 ? -EPIPE : takeover_send(fd, text, (size_t)len, fds, n);
    if (rc != 0) {
        log_warnx("takeover: listening sockets not handed over: %s", strerror(-rc));
        adminsrv_close(cl);
        a->ops->takeover_failed(a->arg);
        return;
    }
    log_info("takeover: %zu listening sockets handed to a successor; serving on until it is "
             "ready",
             n);
    a->takeover = cl;
    adminsrv_more(cl, TAKEOVER_CONFIRM_MS);
}

/* The successor's last word: `ready` (it serves; this relay lets go of the
 * admin path, then closes the connection, after which the successor binds
 * the path, and drains), or nothing (it failed: this relay goes on). */
static void admin_takeover_end(struct admin *a, struct adminsrv_client *cl, const char *line)
{
    a->takeover = NULL;
    if (line == NULL || strcmp(line, "ready") != 0) {
        adminsrv_close(cl);
        log_warnx("takeover: the successor did not become ready; serving on");
        a->ops->takeover_failed(a->arg);
        return;
    }
    log_info("takeover: the successor is ready; draining");
    adminsrv_let_go(a->srv);
    adminsrv_close(cl);
    (void)a->ops->drain(a->arg, UINT32_MAX);
}

static void admin_command(void *arg, struct adminsrv_client *cl, const char *cmd)
{
    struct admin *a = arg;

    if (cl == a->takeover) {
        admin_takeover_end(a, cl, cmd);
        return;
    }
    if (cmd == NULL)
        return;
    if (strcmp(cmd, "takeover") == 0) {
        admin_takeover(a, cl);
        return;
    }
    if (strcmp(cmd, "drain") == 0 || strncmp(cmd, "drain ", 6) == 0) {
        admin_drain(a, cl, cmd[5] == ' ' ? cmd + 6 : "");
        return;
    }

    if (strcmp(cmd, "sync") == 0) {
        adminsrv_hold(cl);
        if (sync_request(a->sync, admin_sync_done, cl) != 0) {
            adminsrv_release(cl);
            adminsrv_error(cl, "busy");
        }
        return;
    }
    if (strcmp(cmd, "status") == 0)
        adminsrv_reply_json(cl, a->ops->status(a->arg));
    else if (strcmp(cmd, "links") == 0)
        adminsrv_reply_json(cl, admin_links_json(a->index));
    else if (strcmp(cmd, "relay-key") == 0 && a->ops->relay_key != NULL)
        adminsrv_reply_json(cl, a->ops->relay_key(a->arg));
    else
        adminsrv_error(cl, "unknown command");
}

static const struct adminsrv_ops admin_srv_ops = {admin_command};

int admin_start(uv_loop_t *loop, const char *path, unsigned mode, bool replace, struct index *index,
                struct sync *sync, const struct admin_ops *ops, void *arg, struct admin **out)
{
    struct admin *a = calloc(1, sizeof(*a));
    int rc;

    if (a == NULL)
        return -ENOMEM;
    a->index = index;
    a->sync = sync;
    a->ops = ops;
    a->arg = arg;
    rc = (replace ? adminsrv_start_over : adminsrv_start)(loop, path, mode, "linkrelay",
                                                          &admin_srv_ops, a, &a->srv);
    if (rc != 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void admin_stop(struct admin *a)
{
    if (a == NULL)
        return;
    a->takeover = NULL;
    adminsrv_stop(a->srv);
    free(a);
}
