/* SPDX-License-Identifier: MIT */
#include "exposition.h"

#include <stdio.h>
#include <string.h>

#include "acct.h"
#include "enrollgate.h"
#include "index.h"
#include "prune.h"
#include "relay.h"
#include "sync.h"

#define LBL(n, v) ((struct promtext_label){(n), (v)})

static const char *const side_name[2] = {"a", "b"};
static const char *const dir_name[2] = {"a_to_b", "b_to_a"};

/* One family with one unlabelled sample. */
static void expo_one(struct promtext *pt, const char *name, const char *type, const char *help,
                     uint64_t v)
{
    promtext_family(pt, name, type, help);
    promtext_u64(pt, name, NULL, 0, v);
}

/* A family with one label whose values are names[0..n). */
static void expo_by(struct promtext *pt, const char *name, const char *type, const char *help,
                    const char *label, const char *(*names)(int), const uint64_t *v, int n)
{
    promtext_family(pt, name, type, help);
    for (int i = 0; i < n; i++) {
        struct promtext_label l = LBL(label, names(i));
        promtext_u64(pt, name, &l, 1, v[i]);
    }
}

static const char *expo_side(int i)
{
    return side_name[i];
}

static const char *expo_dir(int i)
{
    return dir_name[i];
}

static const char *expo_cause(int i)
{
    return store_cause_name(i);
}

static const char *expo_fail(int i)
{
    return stats_fail_name((enum stats_fail)i);
}

static const char *expo_enroll(int i)
{
    return enrollgate_name(i);
}

static const char *expo_limit(int i)
{
    return admit_name((enum admit_kind)i);
}

/* ---- links ---- */

struct expo_links {
    const struct relay *r;
    struct promtext *pt;
    int what; /* which per-link family is being written */
    uint32_t seen, up;
};

enum { EXPO_COUNT, EXPO_SIDE_UP, EXPO_STREAMS_OPEN, EXPO_SPLICED, EXPO_BYTES };

static void expo_link(void *arg, struct index_link *l)
{
    struct expo_links *x = arg;
    struct promtext_label lb[2] = {LBL("link", l->name), LBL("", "")};

    if (x->what == EXPO_COUNT) {
        x->up += l->session[0] != NULL && l->session[1] != NULL;
        return;
    }
    if (x->seen++ >= x->r->cfg.metrics_max_links)
        return;
    switch (x->what) {
    case EXPO_SIDE_UP:
        for (int s = 0; s < 2; s++) {
            lb[1] = LBL("side", side_name[s]);
            promtext_u64(x->pt, "linkrelay_link_session_up", lb, 2, l->session[s] != NULL);
        }
        break;
    case EXPO_STREAMS_OPEN:
        promtext_u64(x->pt, "linkrelay_link_streams_open", lb, 1, l->n_streams);
        break;
    case EXPO_SPLICED:
        promtext_u64(x->pt, "linkrelay_link_streams_spliced_total", lb, 1, l->streams_total);
        break;
    default:
        for (int d = 0; d < 2; d++) {
            lb[1] = LBL("direction", dir_name[d]);
            promtext_u64(x->pt, "linkrelay_link_stream_bytes_total", lb, 2, l->bytes[d]);
        }
        break;
    }
}

static void expo_per_link(const struct relay *r, struct promtext *pt)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"linkrelay_link_session_up", "gauge", "1 when the link side's control session is up."},
        {"linkrelay_link_streams_open", "gauge", "Streams of the link pending or spliced now."},
        {"linkrelay_link_streams_spliced_total", "counter",
         "Streams of the link spliced since the relay started."},
        {"linkrelay_link_stream_bytes_total", "counter",
         "Bytes forwarded between the link's sides, by direction, since the relay started."},
    };
    struct expo_links x = {r, pt, 0, 0, 0};
    size_t n = index_count(r->index);

    for (int i = 0; i < 4; i++) {
        promtext_family(pt, fam[i].name, fam[i].type, fam[i].help);
        x.what = EXPO_SIDE_UP + i;
        x.seen = 0;
        index_foreach(r->index, expo_link, &x);
    }
    expo_one(pt, "linkrelay_metrics_links_omitted", "gauge",
             "Links left out of the per-link series (over metrics_max_links).",
             n > r->cfg.metrics_max_links ? n - r->cfg.metrics_max_links : 0);
}

/* ---- the advertised addresses' self-check (D35) ---- */

static const char *expo_check_result(int i)
{
    return selfcheck_result_name(i + SELFCHECK_OK);
}

static void expo_selfcheck(const struct selfcheck *sc, struct promtext *pt)
{
    promtext_family(pt, "linkrelay_advertise_ok", "gauge",
                    "1 when the advertised address passed its last self-check (it reaches this "
                    "relay and proved its key), else 0.");
    for (size_t i = 0; i < sc->n; i++) {
        struct promtext_label l = LBL("addr", sc->addr[i].text);
        promtext_u64(pt, "linkrelay_advertise_ok", &l, 1, sc->addr[i].state == SELFCHECK_OK);
    }
    expo_one(pt, "linkrelay_advertise_usable", "gauge",
             "0 when every advertised address failed its last self-check, else 1.",
             selfcheck_usable(sc));
    expo_by(pt, "linkrelay_advertise_checks_total", "counter",
            "Advertised-address self-checks finished, by result.", "result", expo_check_result,
            sc->checks + SELFCHECK_OK, SELFCHECK_COUNT - SELFCHECK_OK);
    expo_one(pt, "linkrelay_advertise_checks_answered_total", "counter",
             "Self-check connections this relay recognised as its own and answered.", sc->answered);
}

/* ---- the whole exposition ---- */

static void expo_streams(const struct relay *r, struct promtext *pt)
{
    const struct stats *st = &r->stats;

    expo_one(pt, "linkrelay_streams_open", "gauge", "Streams pending (tickets out) or spliced now.",
             st->streams_open);
    expo_by(pt, "linkrelay_streams_opened_total", "counter",
            "Streams the relay made (tickets handed out), by the link side that asked.", "side",
            expo_side, st->streams_opened, 2);
    expo_one(pt, "linkrelay_streams_spliced_total", "counter",
             "Streams whose two legs the relay spliced.", st->streams_total);
    expo_by(pt, "linkrelay_streams_closed_total", "counter", "Streams closed, by cause.", "cause",
            expo_cause, st->streams_closed, STORE_CAUSE_COUNT);
    expo_one(pt, "linkrelay_quota_refused_total", "counter",
             "OPENs refused because the link's byte quota is used up.", st->quota_refused);
    expo_one(pt, "linkrelay_quota_exceeded_total", "counter",
             "Times a link went past its byte quota and its streams were reset.", st->quota_resets);
    expo_by(pt, "linkrelay_stream_bytes_total", "counter",
            "Bytes forwarded between link sides, by direction.", "direction", expo_dir, st->bytes,
            2);
    expo_one(pt, "linkrelay_zero_copy_streams", "gauge", "Streams forwarding with splice(2) now.",
             r->zc.streams);
    expo_one(pt, "linkrelay_zero_copy_streams_total", "counter",
             "Streams ever moved to splice(2) forwarding.", st->zc_total);
    expo_one(pt, "linkrelay_resume_requests_total", "counter",
             "RESUMEs the relay made a pending stream for (docs/protocol.md 7.3).",
             st->resume_asked);
    expo_one(pt, "linkrelay_resume_paired_total", "counter",
             "RESUMEs whose two legs the relay spliced.", st->resume_paired);
    expo_one(pt, "linkrelay_resume_unmatched_total", "counter",
             "RESUMEs whose peer leg never came (the tickets expired unpaired).",
             st->resume_unmatched);
    expo_one(pt, "linkrelay_leg_lost_ended_total", "counter",
             "LEG_LOSTs that ended a stream of the sender's link (docs/protocol.md 7.3).",
             st->leg_lost[1]);
    expo_one(pt, "linkrelay_stream_acks_passed_total", "counter",
             "STREAM_ACKs passed on to the other side of their link (D43).", st->stream_acks[1]);
    expo_one(pt, "linkrelay_stream_acks_dropped_total", "counter",
             "STREAM_ACKs dropped: the other side offline or not taking them.", st->stream_acks[0]);
    expo_one(pt, "linkrelay_leg_lost_ignored_total", "counter",
             "LEG_LOSTs that named no stream (ended already, another link's or side's).",
             st->leg_lost[0]);
    expo_one(pt, "linkrelay_queued_bytes", "gauge",
             "Bytes read from one stream leg and not yet taken by the other's socket.", st->queued);
    expo_one(pt, "linkrelay_zero_copy_queued_bytes", "gauge", "Bytes held in zero-copy pipes.",
             st->zc_queued);
    expo_one(pt, "linkrelay_held_bytes", "gauge",
             "Bytes held for stream readers, copies and pipes, as the held_total cap counts them.",
             r->hold.held);
    expo_one(pt, "linkrelay_held_cap_bytes", "gauge", "The held_total cap (docs/design.md D40).",
             r->hold.cap);
    expo_one(pt, "linkrelay_held_cap_total", "counter",
             "Reads the held_total cap cut short or held back (docs/design.md D40).",
             r->hold.holds);
}

static void expo_admission(const struct relay *r, struct promtext *pt)
{
    struct expo_links x = {r, pt, EXPO_COUNT, 0, 0};

    index_foreach(r->index, expo_link, &x);
    expo_one(pt, "linkrelay_links", "gauge",
             "Links the relay holds: with a session or stream, or used within the linger (D42).",
             index_count(r->index));
    expo_one(pt, "linkrelay_links_up", "gauge", "Links with both sides' control sessions up.",
             x.up);
    expo_one(pt, "linkrelay_sessions", "gauge", "Agents' control sessions up (authenticated).",
             r->stats.agents);
    expo_one(pt, "linkrelay_connections", "gauge",
             "Open agent connections (control and stream legs).", r->admit.conns);
    expo_one(pt, "linkrelay_connections_pending", "gauge",
             "Connections not yet authenticated or paired.", r->admit.pending);
    expo_one(pt, "linkrelay_connections_limit", "gauge", "max_conns in effect.",
             r->admit.cfg.max_conns);
    expo_one(pt, "linkrelay_connections_pending_limit", "gauge", "max_pending in effect.",
             r->admit.cfg.max_pending);
    expo_one(pt, "linkrelay_admission_addresses", "gauge",
             "Source addresses the admission limits track now.", r->admit.nips);
    expo_by(pt, "linkrelay_auth_failures_total", "counter",
            "Connections refused before authentication or pairing, by reason.", "reason", expo_fail,
            r->stats.fail, STATS_FAIL_COUNT);
    expo_by(pt, "linkrelay_enrollments_total", "counter",
            "Enrollments (AUTH with a code, D30) by result: ok, or why refused.", "result",
            expo_enroll, r->stats.enroll, ENROLLGATE_COUNT);
    expo_by(pt, "linkrelay_limit_refusals_total", "counter",
            "Connections and requests refused by a limit, by limit.", "limit", expo_limit,
            r->admit.hit, ADMIT_COUNT);
}

/* Retention (D31): what the prune deleted, off the loop. */
static void expo_retention(const struct relay *r, struct promtext *pt)
{
    struct prune_counts c;
    struct promtext_label l;

    prune_counts_get(r->prune, &c);
    promtext_family(pt, "linkrelay_retention_pruned_total", "counter",
                    "Registry rows deleted by retention (stream rows are kept as per-day sums).");
    l = LBL("table", "streams");
    promtext_u64(pt, "linkrelay_retention_pruned_total", &l, 1, c.streams);
    l = LBL("table", "events");
    promtext_u64(pt, "linkrelay_retention_pruned_total", &l, 1, c.events);
    expo_one(pt, "linkrelay_retention_batches_total", "counter",
             "Retention transactions that deleted rows (at most 1000 rows each).", c.batches);
    expo_one(pt, "linkrelay_retention_runs_total", "counter", "Retention runs finished.", c.runs);
    expo_one(pt, "linkrelay_retention_failures_total", "counter",
             "Retention runs that ended on a database error.", c.failures);
    expo_one(pt, "linkrelay_retention_running", "gauge", "1 while a retention run is in progress.",
             c.running);
}

void exposition_render(void *arg, struct promtext *pt)
{
    const struct relay *r = arg;
    struct promtext_label v = LBL("version", LINKRELAY_VERSION);
    uint64_t now = uv_now(r->loop);

    promtext_family(pt, "linkrelay_build_info", "gauge", "The relay's version, as a label.");
    promtext_u64(pt, "linkrelay_build_info", &v, 1, 1);
    expo_one(pt, "linkrelay_ready", "gauge", "1 when /readyz answers 200.", exposition_ready(arg));
    expo_admission(r, pt);
    expo_streams(r, pt);
    promtext_family(pt, "linkrelay_registry_sync_age_seconds", "gauge",
                    "Time since the relay last read the registry without error.");
    promtext_f64(pt, "linkrelay_registry_sync_age_seconds", NULL, 0,
                 (double)(now - sync_last_ok_ms(r->sync)) / 1000.0);
    expo_one(pt, "linkrelay_registry_loads_total", "counter",
             "Link snapshots loaded after another connection changed the links.",
             sync_loads(r->sync));
    expo_one(pt, "linkrelay_registry_link_reads_total", "counter",
             "Links read from the registry by id for AUTHs of links the relay did not hold (D42).",
             sync_lookups(r->sync));
    expo_one(pt, "linkrelay_registry_degraded", "gauge",
             "1 while new AUTHs are refused: no registry read for registry_timeout (D38).",
             sync_degraded(r->sync));
    expo_one(pt, "linkrelay_registry_auth_refused_total", "counter",
             "AUTHs refused because the registry was not read for registry_timeout (D38).",
             sync_refused(r->sync));
    expo_one(pt, "linkrelay_pool_redirects_total", "counter",
             "AUTHs answered with REDIRECT to the link's home member (D34).",
             pool_redirects(r->pool));
    expo_one(pt, "linkrelay_pool_members_alive", "gauge",
             "Pool members alive: heartbeat within member_timeout, advertised addresses "
             "passing their self-check, not found dead since (0 outside a pool).",
             pool_alive(r->pool));
    expo_one(pt, "linkrelay_pool_home_checks_total", "counter",
             "Connects to a link's home member before a REDIRECT (D41).", pool_checks(r->pool));
    expo_one(pt, "linkrelay_pool_members_found_dead_total", "counter",
             "Home checks where every address of the member refused: dead now (D41).",
             pool_found_dead_total(r->pool));
    expo_one(pt, "linkrelay_accounting_backlog", "gauge",
             "Accounting and event rows queued, not yet written to the registry.",
             acct_backlog(r->acct));
    expo_one(pt, "linkrelay_accounting_dropped_total", "counter",
             "Accounting and event rows dropped because the queue was full.",
             acct_dropped(r->acct));
    expo_retention(r, pt);
    expo_selfcheck(&r->selfcheck, pt);
    if (r->cfg.metrics_per_link)
        expo_per_link(r, pt);
}

bool exposition_ready(void *arg)
{
    const struct relay *r = arg;

    return !r->stopping && r->n_listeners == r->cfg.n_listen && r->sync != NULL &&
           uv_now(r->loop) - sync_last_ok_ms(r->sync) < EXPOSITION_REGISTRY_STALE_MS;
}
