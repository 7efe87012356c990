/* SPDX-License-Identifier: MIT */
#include "admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adminsrv.h"
#include "conn.h"
#include "keys.h"
#include "lrjson.h"

struct admin {
    struct adminsrv *srv;
    struct index *index;
    struct sync *sync;
    const struct admin_ops *ops;
    void *arg;
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

static void admin_command(void *arg, struct adminsrv_client *cl, const char *cmd)
{
    struct admin *a = arg;

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

int admin_start(uv_loop_t *loop, const char *path, unsigned mode, struct index *index,
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
    rc = adminsrv_start(loop, path, mode, "linkrelay", &admin_srv_ops, a, &a->srv);
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
    adminsrv_stop(a->srv);
    free(a);
}
