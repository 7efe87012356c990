/* SPDX-License-Identifier: MIT */
/*
 * status — see status.h. The reply's members are listed in
 * docs/linkagent.md "ADMIN SOCKET".
 */
#include "agent/status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adminsrv.h"
#include "keys.h"
#include "link.h"
#include "lrjson.h"
#include "agent/session.h"
#include "streamfin.h"

struct status {
    struct adminsrv *srv;
    uv_loop_t *loop;
    struct status_src src;
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The link's state in one word (docs/linkagent.md). */
static const char *link_state(const struct link *lk)
{
    if (lk->session == NULL)
        return lk->revoked ? "revoked" : "backoff";
    switch (lk->session->state) {
    case SESSION_RESOLVING:
        return "resolving";
    case SESSION_CONNECTING:
        return "connecting";
    case SESSION_WAIT_MSG2:
    case SESSION_WAIT_WELCOME:
        return "handshake";
    case SESSION_ONLINE:
        return "up";
    case SESSION_CLOSING:
        break;
    }
    return "backoff";
}

static json_t *addr_list(const struct addr_spec *a, size_t n)
{
    json_t *arr = json_array();
    char text[ADDR_TEXT_SIZE];

    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (addr_format(&a[i], text, sizeof(text)) == 0 &&
            json_array_append_new(arr, lrjson_str(text)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *last_error(const struct link *lk)
{
    if (lk->last_error[0] == '\0')
        return json_null();
    return json_pack("{s:o, s:o, s:I}", "cause", lrjson_str(lk->last_error), "relay",
                     lrjson_str(lk->last_error_relay), "at_ms", lrjson_u64(lk->last_error_ms));
}

/* Bytes of the closed streams plus those of the open ones; and the open
 * ones suspended (§7.3: their leg lost, waiting to be resumed). */
static void link_bytes(const struct link *lk, uint64_t *out, uint64_t *in, uint64_t *susp)
{
    *out = lk->closed_bytes[0];
    *in = lk->closed_bytes[1];
    *susp = 0;
    for (const struct stream *st = lk->so.streams; st != NULL; st = st->next) {
        *susp += st->state == STREAM_SUSPENDED || st->state == STREAM_RESUMING;
        if (st->io.e2e != NULL) {
            *out += e2e_bytes_sent(st->io.e2e);
            *in += e2e_bytes_delivered(st->io.e2e);
        }
    }
}

static json_t *link_json(const struct link *lk)
{
    char id[LINKID_TEXT_SIZE], rkey[KEY_TEXT_SIZE];
    const char *state = link_state(lk);
    bool up = strcmp(state, "up") == 0;
    uint64_t out, in, susp;
    json_t *retry = json_null(), *j;
    const struct streamkeep_list *kl = &lk->so.keep;

    linkid_encode(lk->cfg.link_id, id);
    key_pub_encode(lk->cfg.relay_pub, rkey);
    link_bytes(lk, &out, &in, &susp);
    if (lk->session == NULL && uv_is_active((const uv_handle_t *)&lk->retry_timer))
        retry = json_integer(lrjson_u64(uv_timer_get_due_in(&lk->retry_timer)));
    j = json_pack(
        "{s:o, s:s, s:s, s:s, s:o, s:s, s:i, s:s, s:I, s:o, s:o, s:b, s:I, s:I, "
        "s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
        "name", lrjson_str(lk->cfg.name), "link_id", id, "side", lk->cfg.side == 0 ? "a" : "b",
        "state", state, "relay", lk->session != NULL ? lrjson_str(lk->session->addr) : json_null(),
        "relay_key", rkey, "relay_key_id", (int)lk->cfg.relay_key_id, "policy",
        lk->cfg.policy == AGENTCFG_IMMEDIATE ? "immediate" : "on-demand", "state_since_ms",
        lrjson_u64(lk->state_since_ms), "retry_in_ms", retry, "last_error", last_error(lk),
        "peer_online", up && lk->peer_online, "streams_open", lrjson_u64(lk->so.n_streams),
        "streams_suspended", lrjson_u64(susp), "bytes_out", lrjson_u64(out), "bytes_in",
        lrjson_u64(in), "sessions_up", lrjson_u64(lk->sessions_up), "sessions_failed",
        lrjson_u64(lk->sessions_failed), "relays", addr_list(lk->cfg.relays, lk->cfg.n_relays),
        "advertised", addr_list(lk->learned, lk->n_learned), "listen",
        addr_list(lk->cfg.listen, lk->cfg.n_listen));
    /* Kept legs (D48): idle ones by role, streams by how their leg came. */
    if (j != NULL)
        (void)json_object_set_new(
            j, "kept_legs",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "idle_opener",
                      lrjson_u64(kl->n[0]), "idle_answer", lrjson_u64(kl->n[1]), "streams_new_leg",
                      lrjson_u64(kl->new_legs), "streams_kept_leg", lrjson_u64(kl->kept_legs),
                      "fallbacks", lrjson_u64(kl->fallbacks), "shared_opener",
                      lrjson_u64(kl->n_mux[0]), "shared_answer", lrjson_u64(kl->n_mux[1]),
                      "streams_shared_leg", lrjson_u64(kl->shared_legs)));
    return j;
}

/* The agent's resumption counters (§7.3; every link shares them). */
static json_t *resume_json(const struct link *lk)
{
    const struct stream_env *e = lk != NULL ? lk->so.env : NULL;

    if (e == NULL)
        return json_null();
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "resumed", lrjson_u64(e->resumed),
                     "refused_bad_hello", lrjson_u64(e->resume_refused[STREAM_REFUSED_BAD_HELLO]),
                     "refused_old_epoch", lrjson_u64(e->resume_refused[STREAM_REFUSED_OLD_EPOCH]),
                     "unknown_id", lrjson_u64(e->resume_unknown), "expired",
                     lrjson_u64(e->resume_expired), "buffer_bytes",
                     lrjson_u64(streamfin_replay_bytes(e)), "finished_answered",
                     lrjson_u64(e->resume_finished), "finished_kept", lrjson_u64(e->fins_kept));
}

static json_t *status_json(const struct status *s)
{
    json_t *links = json_array();
    uint64_t now = now_ms();

    if (links == NULL)
        return NULL;
    for (const struct link *lk = *s->src.links; lk != NULL; lk = lk->next) {
        if (json_array_append_new(links, link_json(lk)) != 0) {
            json_decref(links);
            return NULL;
        }
    }
    return json_pack("{s:I, s:s, s:o, s:I, s:I, s:o, s:o}", "pid", (json_int_t)getpid(), "version",
                     LINKRELAY_VERSION, "config",
                     s->src.config_path != NULL ? lrjson_str(s->src.config_path) : json_null(),
                     "started_ms", lrjson_u64(s->src.started_ms), "now_ms", lrjson_u64(now),
                     "resume", resume_json(*s->src.links), "links", links);
}

static void on_request(void *arg, struct adminsrv_client *cl, const char *line)
{
    struct status *s = arg;

    if (strcmp(line, "status") == 0)
        adminsrv_reply_json(cl, status_json(s));
    else
        adminsrv_error(cl, "unknown command (this agent answers: status)");
}

static const struct adminsrv_ops status_srv_ops = {on_request};

int status_start(uv_loop_t *loop, const char *path, const struct status_src *src,
                 struct status **out)
{
    struct status *s = calloc(1, sizeof(*s));
    int rc;

    if (s == NULL)
        return -ENOMEM;
    s->loop = loop;
    s->src = *src;
    rc = adminsrv_start(loop, path, 0600, "linkagent", &status_srv_ops, s, &s->srv);
    if (rc != 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void status_stop(struct status *s)
{
    if (s == NULL)
        return;
    adminsrv_stop(s->srv);
    free(s);
}
