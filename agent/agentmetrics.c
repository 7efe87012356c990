/* SPDX-License-Identifier: MIT */
#include "agentmetrics.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "agent.h"
#include "link.h"
#include "streamfin.h"

#define LBL(n, v) ((struct promtext_label){(n), (v)})

/* The families, in the order they are written; each walks every link. */
enum am_family {
    AM_SESSION_UP,
    AM_RELAY_INFO,
    AM_ONLINE_SINCE,
    AM_PEER_UP,
    AM_RECONNECTS,
    AM_STREAMS_OPEN,
    AM_STREAMS_OPENED,
    AM_BYTES,
    AM_E2E_FAILURES,
    AM_PEER_KEYS_REFUSED,
    AM_REDIRECTS,
    AM_COUNT
};

static const struct {
    const char *name, *type, *help;
} am_fam[AM_COUNT] = {
    {"linkagent_link_session_up", "gauge", "1 while the link's control session to a relay is up."},
    {"linkagent_link_relay_info", "gauge",
     "1, with the address of the relay the link's control session is connected to."},
    {"linkagent_link_online_since_seconds", "gauge",
     "When the link's control session came up, in seconds since the Unix epoch."},
    {"linkagent_link_peer_up", "gauge", "1 while the relay says the link's other side is online."},
    {"linkagent_link_reconnects_total", "counter",
     "Control sessions of the link that came up after its first."},
    {"linkagent_link_streams_open", "gauge", "The link's streams now."},
    {"linkagent_link_streams_opened_total", "counter",
     "Streams of the link this agent carried, opened here or by the peer."},
    {"linkagent_link_stream_bytes_total", "counter",
     "Bytes of the link's streams: sent to the peer, received and delivered locally."},
    {"linkagent_link_e2e_handshake_failures_total", "counter",
     "Streams spliced by the relay whose end-to-end handshake never finished."},
    {"linkagent_link_peer_keys_refused_total", "counter",
     "Peer keys the relay named that no key this agent trusts endorsed; ignored."},
    {"linkagent_link_redirects_followed_total", "counter",
     "REDIRECTs to the link's home relay in a pool the link followed (D34)."},
};

/* "ip:port" of where the session is connected. */
static void am_relay_name(const struct link *lk, char *out, size_t cap)
{
    const struct sockaddr_storage *ss = &lk->so.relay_sa;
    char host[INET6_ADDRSTRLEN] = "";

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(s6, host, sizeof(host));
        snprintf(out, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        uv_ip4_name(s4, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, ntohs(s4->sin_port));
    }
}

static void am_link(const struct agent *ag, const struct link *lk, enum am_family f,
                    struct promtext *pt)
{
    const char *name = am_fam[f].name;
    struct promtext_label lb[2] = {LBL("link", lk->cfg.name), LBL("", "")};
    char relay[64];
    struct timespec now;
    uint64_t bytes[2];

    switch (f) {
    case AM_SESSION_UP:
        promtext_u64(pt, name, lb, 1, lk->online);
        break;
    case AM_RELAY_INFO:
        if (!lk->online)
            break;
        am_relay_name(lk, relay, sizeof(relay));
        lb[1] = LBL("relay", relay);
        promtext_u64(pt, name, lb, 2, 1);
        break;
    case AM_ONLINE_SINCE:
        if (!lk->online)
            break;
        clock_gettime(CLOCK_REALTIME, &now);
        promtext_f64(pt, name, lb, 1,
                     (double)now.tv_sec + (double)now.tv_nsec / 1e9 -
                         (double)(uv_now(ag->loop) - lk->online_since_ms) / 1000.0);
        break;
    case AM_PEER_UP:
        promtext_u64(pt, name, lb, 1, lk->online && lk->peer_online);
        break;
    case AM_RECONNECTS:
        promtext_u64(pt, name, lb, 1, lk->sessions_up > 0 ? lk->sessions_up - 1 : 0);
        break;
    case AM_STREAMS_OPEN:
        promtext_u64(pt, name, lb, 1, lk->so.n_streams);
        break;
    case AM_STREAMS_OPENED:
        promtext_u64(pt, name, lb, 1, lk->so.opened);
        break;
    case AM_BYTES:
        /* Closed streams' totals plus what the open ones moved so far. */
        bytes[0] = lk->closed_bytes[0];
        bytes[1] = lk->closed_bytes[1];
        for (const struct stream *st = lk->so.streams; st != NULL; st = st->next) {
            if (st->io.e2e != NULL) {
                bytes[0] += e2e_bytes_sent(st->io.e2e);
                bytes[1] += e2e_bytes_delivered(st->io.e2e);
            }
        }
        lb[1] = LBL("direction", "sent");
        promtext_u64(pt, name, lb, 2, bytes[0]);
        lb[1] = LBL("direction", "received");
        promtext_u64(pt, name, lb, 2, bytes[1]);
        break;
    case AM_E2E_FAILURES:
        promtext_u64(pt, name, lb, 1, lk->e2e_failures);
        break;
    case AM_REDIRECTS:
        promtext_u64(pt, name, lb, 1, lk->redir.followed);
        break;
    default:
        promtext_u64(pt, name, lb, 1, lk->peer_keys_refused);
        break;
    }
}

/* Link sessions (docs/protocol.md §7.4, D46), all links together. */
static void am_link_sessions(const struct agent *ag, struct promtext *pt)
{
    static const char *const ev[] = {"made", "refused", "failed"};
    uint64_t kk = 0, keyed = 0, held = 0, n[3] = {0, 0, 0};

    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next) {
        kk += lk->so.ls.kk;
        keyed += lk->so.ls.keyed;
        held += e2els_store_count(&lk->so.ls);
        n[0] += lk->so.ls.made;
        n[1] += lk->so.ls.refused;
        n[2] += lk->so.ls.failed;
    }
    promtext_family(pt, "linkagent_streams_total", "counter",
                    "Streams whose end-to-end handshake finished, by handshake: kk (the full "
                    "Noise KK), session (keyed by a link session, no X25519).");
    promtext_u64(pt, "linkagent_streams_total", &LBL("handshake", "kk"), 1, kk);
    promtext_u64(pt, "linkagent_streams_total", &LBL("handshake", "session"), 1, keyed);
    promtext_family(pt, "linkagent_link_sessions", "gauge",
                    "Link sessions held (in memory only; at most 2 per link).");
    promtext_u64(pt, "linkagent_link_sessions", NULL, 0, held);
    promtext_family(pt, "linkagent_link_sessions_total", "counter",
                    "Link session events: made (held here), refused (a peer's session-keyed "
                    "stream with an id not held here), failed (a session-keyed stream of ours "
                    "that ended before the answer; its session is dropped).");
    for (int i = 0; i < 3; i++)
        promtext_u64(pt, "linkagent_link_sessions_total", &LBL("event", ev[i]), 1, n[i]);
}

/* A gauge per link and role (opener, answer): the size_t[2] at off in the
 * link's struct streamkeep_list (kept legs' n, shared legs' n_mux). */
static void am_by_role(const struct agent *ag, struct promtext *pt, const char *name,
                       const char *help, size_t off)
{
    static const char *const role[] = {"opener", "answer"};

    promtext_family(pt, name, "gauge", help);
    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next)
        for (int r = 0; r < 2; r++) {
            const size_t *n = (const size_t *)(const void *)((const char *)&lk->so.keep + off);
            struct promtext_label l[2] = {LBL("link", lk->cfg.name), LBL("role", role[r])};

            promtext_u64(pt, name, l, 2, n[r]);
        }
}

/* Shared legs (agent/mux.h, D58), per link. */
static void am_shared(const struct agent *ag, struct promtext *pt)
{
    am_by_role(ag, pt, "linkagent_shared_legs",
               "Shared stream legs (D58), by role: opener (this side opens their "
               "channels), answer (the peer does).",
               offsetof(struct streamkeep_list, n_mux));
    promtext_family(pt, "linkagent_shared_leg_channels", "gauge",
                    "Channels open on the link's shared legs (one per stream on them).");
    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next) {
        struct promtext_label l[1] = {LBL("link", lk->cfg.name)};
        uint64_t n = 0;

        for (int r = 0; r < 2; r++)
            for (const struct keepmux *km = lk->so.keep.mux_head[r]; km != NULL; km = km->next)
                n += mux_channels(km->mux);
        promtext_u64(pt, "linkagent_shared_leg_channels", l, 1, n);
    }
    promtext_family(pt, "linkagent_shared_leg_writes_total", "counter",
                    "Writes to shared legs: the frames of a turn of the loop go in one.");
    promtext_family(pt, "linkagent_shared_leg_frames_total", "counter",
                    "Frames written to shared legs (DATA, END, RST, CREDIT).");
    promtext_family(pt, "linkagent_shared_leg_errors_total", "counter",
                    "Shared legs reset for a peer's protocol error (a frame that breaks "
                    "docs/protocol.md 7.6).");
    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next) {
        struct promtext_label l[1] = {LBL("link", lk->cfg.name)};
        const struct mux_stats *s = &lk->so.keep.mux;

        promtext_u64(pt, "linkagent_shared_leg_writes_total", l, 1, s->writes);
        promtext_u64(pt, "linkagent_shared_leg_frames_total", l, 1, s->frames_out);
        promtext_u64(pt, "linkagent_shared_leg_errors_total", l, 1, s->proto_errors);
    }
}

/* Kept legs (agent/streamkeep.h, D48), per link. */
static void am_keep(const struct agent *ag, struct promtext *pt)
{
    static const char *const leg[] = {"new", "kept", "fallback", "shared"};

    am_by_role(ag, pt, "linkagent_kept_legs",
               "Idle kept stream legs (D48), by role: opener (this side opens the next "
               "stream on it), answer (the peer does).",
               offsetof(struct streamkeep_list, n));
    promtext_family(pt, "linkagent_stream_legs_total", "counter",
                    "Streams whose handshake finished, by how their leg came: new (OPEN, "
                    "STREAM, a new connection), kept (a kept leg, D48), shared (a channel "
                    "of a shared leg, D58); and fallback: streams whose kept or shared leg "
                    "ended before the answer, OPENed anew.");
    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next) {
        const uint64_t v[4] = {lk->so.keep.new_legs, lk->so.keep.kept_legs, lk->so.keep.fallbacks,
                               lk->so.keep.shared_legs};

        for (int i = 0; i < 4; i++) {
            struct promtext_label l[2] = {LBL("link", lk->cfg.name), LBL("leg", leg[i])};
            promtext_u64(pt, "linkagent_stream_legs_total", l, 2, v[i]);
        }
    }
    am_shared(ag, pt);
}

void agentmetrics_render(void *arg, struct promtext *pt)
{
    const struct agent *ag = arg;
    struct promtext_label v = LBL("version", LINKRELAY_VERSION);
    uint64_t n = 0, n_susp = 0;

    promtext_family(pt, "linkagent_build_info", "gauge", "The agent's version, as a label.");
    promtext_u64(pt, "linkagent_build_info", &v, 1, 1);
    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next)
        n++;
    promtext_family(pt, "linkagent_links", "gauge", "Links the agent runs.");
    promtext_u64(pt, "linkagent_links", NULL, 0, n);
    /* Stream resumption (docs/protocol.md §7.3), all links together. */
    promtext_family(pt, "linkagent_resume_buffer_bytes", "gauge",
                    "Bytes sent and not yet acknowledged, held for replay (all streams).");
    promtext_u64(pt, "linkagent_resume_buffer_bytes", NULL, 0,
                 streamfin_replay_bytes(&ag->streams));
    promtext_family(pt, "linkagent_streams_resumed_total", "counter",
                    "Streams resumed on a new leg after their leg died.");
    promtext_u64(pt, "linkagent_streams_resumed_total", NULL, 0, ag->streams.resumed);
    promtext_family(pt, "linkagent_resume_expired_total", "counter",
                    "Suspended streams reset because resume_timeout passed.");
    promtext_u64(pt, "linkagent_resume_expired_total", NULL, 0, ag->streams.resume_expired);
    promtext_family(pt, "linkagent_resume_refused_total", "counter",
                    "Resumed legs refused, by reason: bad_hello (not the peer's for this "
                    "stream), old_epoch (the peer's of an earlier epoch, replayed).");
    for (int i = 0; i < 2; i++) {
        struct promtext_label why =
            LBL("reason", i == STREAM_REFUSED_OLD_EPOCH ? "old_epoch" : "bad_hello");
        promtext_u64(pt, "linkagent_resume_refused_total", &why, 1, ag->streams.resume_refused[i]);
    }
    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next)
        for (const struct stream *st = lk->so.streams; st != NULL; st = st->next)
            n_susp +=
                (st->state == STREAM_SUSPENDED || st->state == STREAM_RESUMING) && !st->revived;
    promtext_family(pt, "linkagent_streams_suspended", "gauge",
                    "Resumable streams whose leg is lost, waiting to be resumed (all links).");
    promtext_u64(pt, "linkagent_streams_suspended", NULL, 0, n_susp);
    promtext_family(pt, "linkagent_resume_unknown_total", "counter",
                    "RESUMED messages whose resume id matched no stream.");
    promtext_u64(pt, "linkagent_resume_unknown_total", NULL, 0, ag->streams.resume_unknown);
    promtext_family(pt, "linkagent_resume_finished_total", "counter",
                    "Resumes of finished streams answered from their kept state (a leg "
                    "carrying only the RESUME records and FINISHED).");
    promtext_u64(pt, "linkagent_resume_finished_total", NULL, 0, ag->streams.resume_finished);
    promtext_family(pt, "linkagent_resume_finished_kept", "gauge",
                    "Finished streams whose resume state is kept for resume_timeout.");
    promtext_u64(pt, "linkagent_resume_finished_kept", NULL, 0, ag->streams.fins_kept);
    promtext_family(pt, "linkagent_stream_acks_total", "counter",
                    "STREAM_ACKs (D43) by event: sent, taken (from the peer, verified), "
                    "refused (wrong mac or offset), unknown (no running stream).");
    for (int i = 0; i < 4; i++) {
        static const char *const ev[] = {"sent", "taken", "refused", "unknown"};
        struct promtext_label l = LBL("event", ev[i]);
        promtext_u64(pt, "linkagent_stream_acks_total", &l, 1, ag->streams.acks[i]);
    }
    am_link_sessions(ag, pt);
    am_keep(ag, pt);
    for (int f = 0; f < AM_COUNT; f++) {
        promtext_family(pt, am_fam[f].name, am_fam[f].type, am_fam[f].help);
        for (const struct link *lk = ag->links; lk != NULL; lk = lk->next)
            am_link(ag, lk, (enum am_family)f, pt);
    }
}

bool agentmetrics_ready(void *arg)
{
    const struct agent *ag = arg;

    if (ag->stopping || ag->links == NULL)
        return false;
    for (const struct link *lk = ag->links; lk != NULL; lk = lk->next)
        if (!lk->online)
            return false;
    return true;
}
