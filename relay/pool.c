/* SPDX-License-Identifier: MIT */
#include "pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hrw.h"
#include "db.h"
#include "log.h"
#include "poolage.h"
#include "poolprobe.h"
#include "relay/stream.h"
#include "selfcheck.h"
#include "wallclock.h"

_Static_assert(SELFCHECK_FAILING_SIZE <= STORE_MEMBER_FAILING_MAX + 1,
               "every failing address fits the member row");

/* Moves after a change of the view go out in batches this far apart,
 * spread over member_timeout (D41). */
#define POOL_MOVE_TICK_MS 50u

/* An AUTH held while its link's home is checked (D41). */
struct pool_wait {
    struct pool_wait *next;
    struct conn *c;
    uint8_t link[STORE_LINK_ID_LEN];
};

/* A check of one member in flight: the row it started from and the AUTHs
 * that wait for it. */
struct pool_check {
    struct pool *p;
    struct poolprobe *pr; /* NULL: slot free */
    struct store_member m;
    struct pool_wait *waiters;
};

/* A member found dead now (every address refused) in the row it had then:
 * out of this member's view until that row changes (a new beat). */
struct pool_down {
    char id[STORE_MEMBER_ID_MAX + 1];
    int64_t beat_ms, started_ms;
};

struct pool {
    uv_loop_t *loop;
    struct index *index;
    pool_send_fn send;   /* the session module's, from its first pool_redirect */
    pool_serve_fn serve; /* likewise: an AUTH held for a check goes on there */
    const struct relaycfg *cfg;
    const struct stats *stats;
    const struct selfcheck *sc; /* NULL: addresses taken as usable */
    struct store *st;
    uv_timer_t timer;
    uv_work_t work;
    bool busy, stopped;
    int64_t started_ms;
    /* The worker's input (copied on the loop before queueing) and output. */
    struct store_member self;
    char addrs_tmp[STORE_MEMBER_ADDRS_MAX + 1];
    struct store_member rows[POOL_MAX_MEMBERS];
    size_t n_rows, n_over;
    int rc;
    char err[256];
    /* The loop's view: the members of the last successful read. */
    struct store_member mem[POOL_MAX_MEMBERS];
    size_t n_mem;
    bool alive[POOL_MAX_MEMBERS]; /* as logged at the last beat */
    unsigned n_alive;
    /* The last stretch this relay could not read the rows (D44): it does
     * not age anyone's beat. read_ms: wall clock of the last good read. */
    struct poolage_gap gap;
    int64_t read_ms;
    uint64_t redirects, moved;
    /* Checks of homes before a REDIRECT (D41). */
    struct pool_check check[POOL_MAX_MEMBERS];
    struct pool_down down[POOL_MAX_MEMBERS];
    size_t n_down;
    uint64_t checks, found_dead;
    /* Links to move after a change of the view (D41): n_move ids, the
     * first move_next moved; move_batch per tick of move_timer. */
    uv_timer_t move_timer;
    uint8_t (*move_id)[STORE_LINK_ID_LEN];
    size_t n_move, move_next, move_cap, move_batch;
    uint64_t move_start, move_every; /* loop time of the first batch; ms between batches */
    /* Leaving the pool (D39). leaving, leave_start_ms, drain_deadline and
     * moved_out are the loop's; work_leave is its copy for the worker;
     * left and left_ms are the worker's, read by the loop after it. */
    bool leaving, work_leave, left, moved_out;
    int64_t leave_start_ms, left_ms; /* wall clock */
    uint64_t drain_deadline;         /* loop time: GOING_AWAY's seconds */
};

static const struct store_member *pool_home(const struct pool *p,
                                            const uint8_t id[STORE_LINK_ID_LEN]);
static void pool_leave_check(struct pool *p);

/* This member's advertise list as one space-separated text; -E2BIG when it
 * does not fit the row or a REDIRECT (protocol.md §5). */
static int pool_self_addrs(const struct relaycfg *cfg, char *out, size_t cap)
{
    size_t off = 0, wire = 3; /* type, reason, n */

    out[0] = '\0';
    for (size_t i = 0; i < cfg->n_advertise; i++) {
        char a[ADDR_TEXT_SIZE];
        int n;
        if (addr_format(&cfg->advertise[i], a, sizeof(a)) != 0)
            return -EINVAL;
        wire += 1 + strlen(a);
        n = snprintf(out + off, cap - off, "%s%s", off ? " " : "", a);
        if (n < 0 || (size_t)n >= cap - off || wire > MSG_MAX_LEN)
            return -E2BIG;
        off += (size_t)n;
    }
    return cfg->n_advertise == 0 ? -EINVAL : 0;
}

static void pool_fill_self(struct pool *p)
{
    struct store_member *m = &p->self;

    snprintf(m->id, sizeof(m->id), "%s", p->cfg->pool.member_id);
    /* advertise applies on SIGHUP; a list that does not do (emptied, or too
     * long for a REDIRECT) leaves the last good one in the row. */
    if (pool_self_addrs(p->cfg, p->addrs_tmp, sizeof(p->addrs_tmp)) == 0)
        memcpy(m->addrs, p->addrs_tmp, sizeof(m->addrs));
    m->sessions = p->stats->agents;
    m->streams = p->stats->streams_open;
    m->started_ms = p->started_ms;
    /* The single place a member's eligibility is written (D34): the
     * advertised-address self-check's verdict (D35: usable until every
     * address has failed its last check; always with checks off). */
    m->addrs_ok = p->sc == NULL || selfcheck_usable(p->sc);
    m->addrs_failing[0] = '\0'; /* which addresses fail, for `linkctl pool` */
    if (p->sc != NULL)
        selfcheck_failing(p->sc, m->addrs_failing, sizeof(m->addrs_failing));
}

void pool_set_selfcheck(struct pool *p, const struct selfcheck *sc)
{
    if (p != NULL)
        p->sc = sc;
}

static int pool_collect(void *arg, const struct store_member *m)
{
    struct pool *p = arg;

    if (p->n_rows == POOL_MAX_MEMBERS) {
        p->n_over++;
        return 0;
    }
    p->rows[p->n_rows++] = *m;
    return 0;
}

/* Worker: beat (or, leaving, remove this member's row once), then read
 * every member. */
static void pool_work_cb(uv_work_t *w)
{
    struct pool *p = w->data;

    p->n_rows = p->n_over = 0;
    if (p->work_leave) {
        p->rc = p->left ? 0 : store_member_leave(p->st, p->self.id, p->self.started_ms);
        if (p->rc == 0 && !p->left) {
            p->left = true;
            p->left_ms = (int64_t)wallclock_ms();
        }
    } else {
        p->self.beat_ms = (int64_t)wallclock_ms();
        p->rc = store_member_beat(p->st, &p->self);
    }
    if (p->rc == 0)
        p->rc = store_members_load(p->st, pool_collect, p);
    if (p->rc != 0)
        snprintf(p->err, sizeof(p->err), "%s", store_errmsg(p->st));
}

bool pool_eligible(const struct pool *p, const struct store_member *m, int64_t now_ms)
{
    return m->addrs_ok &&
           poolage_age(m->beat_ms, now_ms, &p->gap) <= (int64_t)p->cfg->pool.member_timeout_ms;
}

static bool pool_is_down(const struct pool *p, const struct store_member *m)
{
    for (size_t i = 0; i < p->n_down; i++)
        if (strcmp(p->down[i].id, m->id) == 0 && p->down[i].beat_ms == m->beat_ms &&
            p->down[i].started_ms == m->started_ms)
            return true;
    return false;
}

/* In this member's view: eligible, and not found dead since its last beat
 * (D41). */
static bool pool_live(const struct pool *p, const struct store_member *m, int64_t now_ms)
{
    return pool_eligible(p, m, now_ms) && !pool_is_down(p, m);
}

/* After a beat: a member found dead that has beaten since (a row changed,
 * or gone) is judged by its row again. */
static void pool_prune_down(struct pool *p)
{
    size_t k = 0;

    for (size_t i = 0; i < p->n_down; i++) {
        bool same = false;
        for (size_t j = 0; j < p->n_mem && !same; j++)
            same = strcmp(p->mem[j].id, p->down[i].id) == 0 &&
                   p->mem[j].beat_ms == p->down[i].beat_ms &&
                   p->mem[j].started_ms == p->down[i].started_ms;
        if (same)
            p->down[k++] = p->down[i];
        else
            log_info("pool: member %s has beaten since it was found dead; judged by its row "
                     "again",
                     p->down[i].id);
    }
    p->n_down = k;
}

/* REDIRECT to home's addresses on c (reason home; draining when this
 * member leaves or hands an online link over), then c closes once it is
 * written; false when home's row has no address to send. */
static bool pool_send_redirect(struct pool *p, struct conn *c, const struct store_member *home,
                               bool handover)
{
    struct msg m;

    memset(&m, 0, sizeof(m));
    m.type = MSG_REDIRECT;
    /* Reason draining: an agent online here hands the link over (D39). */
    m.u.redirect.reason = p->leaving || handover ? MSG_REDIRECT_DRAINING : MSG_REDIRECT_HOME;
    /* The row's list: addresses separated by single spaces. */
    for (const char *s = home->addrs; *s != '\0' && m.u.redirect.n < MSG_MAX_ADDRS;) {
        size_t len = strcspn(s, " ");
        if (len > 0 && len <= MSG_MAX_ADDR) {
            m.u.redirect.addr[m.u.redirect.n].p = (const uint8_t *)s;
            m.u.redirect.addr[m.u.redirect.n++].len = len;
        }
        s += len + (s[len] == ' ');
    }
    if (m.u.redirect.n == 0) {
        log_warnx("pool: member %s has no usable address (%s); serving the link here", home->id,
                  home->addrs);
        return false;
    }
    if (p->send(c, &m) != 0) {
        conn_close(c, CONN_END_FIN, "cannot send REDIRECT");
        return true;
    }
    p->redirects++;
    log_info("conn %" PRIu64 " %s: redirected to the link's home, member %s (%s)%s", c->id, c->peer,
             home->id, home->addrs,
             p->leaving ? ", this member leaves the pool"
             : handover ? ", handed over"
                        : "");
    conn_close(c, CONN_END_FLUSH, "redirected");
    return true;
}

/* After the members changed: a link with a session here whose home is now
 * another member is handed over there (both sides get REDIRECT draining:
 * their agents keep the OPENs waiting, D39), so that both sides meet again
 * on one relay. When both sessions resume streams (AUTH flags bit 0), the
 * link's spliced streams are reset here: each agent suspends its stream
 * and resumes it through the home (§7.3), nothing lost; otherwise they keep
 * their legs here until they end. */
static void pool_move_one(void *arg, struct index_link *l)
{
    struct pool *p = arg;
    const struct store_member *home;
    bool resume =
        l->session[0] != NULL && l->session[1] != NULL && l->resumable[0] && l->resumable[1];
    unsigned reset = 0;

    if ((l->session[0] == NULL && l->session[1] == NULL) || (home = pool_home(p, l->id)) == NULL ||
        strcmp(home->id, p->cfg->pool.member_id) == 0)
        return;
    p->moved++;
    for (int side = 0; side < 2; side++) {
        struct conn *c = l->session[side];
        if (c != NULL && c->state == CONN_UP)
            (void)pool_send_redirect(p, c, home, true);
    }
    for (struct stream *s = l->streams, *nx; resume && s != NULL; s = nx) {
        nx = stream_next(s);
        if (stream_leg_conn(s, 0) != NULL && stream_leg_conn(s, 1) != NULL) {
            stream_finish(s, STORE_CAUSE_RESET, "link moved to its home: resumes there");
            reset++;
        }
    }
    log_info("pool: link %s moves to its home, member %s (move %zu of %zu, %" PRIu64
             " ms into the spread; %u stream(s) to resume there)",
             l->name, home->id, p->move_next + 1, p->n_move, uv_now(p->loop) - p->move_start,
             reset);
}

static void pool_move_collect(void *arg, struct index_link *l)
{
    struct pool *p = arg;
    const struct store_member *home;

    if ((l->session[0] == NULL && l->session[1] == NULL) || (home = pool_home(p, l->id)) == NULL ||
        strcmp(home->id, p->cfg->pool.member_id) == 0)
        return;
    if (p->n_move == p->move_cap) {
        size_t cap = p->move_cap ? 2 * p->move_cap : 64;
        void *n = realloc(p->move_id, cap * sizeof(p->move_id[0]));
        if (n == NULL)
            return; /* moved at the next change of the view */
        p->move_id = n;
        p->move_cap = cap;
    }
    memcpy(p->move_id[p->n_move++], l->id, STORE_LINK_ID_LEN);
}

static void pool_move_tick(uv_timer_t *t)
{
    struct pool *p = t->data;
    size_t end = p->move_next + p->move_batch;

    if (end > p->n_move || p->leaving) /* leaving: pool_out_one moves them all */
        end = p->n_move;
    for (; p->move_next < end && !p->leaving; p->move_next++) {
        struct index_link *l = index_find(p->index, p->move_id[p->move_next]);
        if (l != NULL)
            pool_move_one(p, l); /* the home as the view is now */
    }
    if (p->move_next == p->n_move) {
        uv_timer_stop(&p->move_timer);
        p->n_move = p->move_next = 0;
    }
}

/* The view changed: the links here whose home is now another member move
 * there, not all at once: spread evenly over member_timeout, one batch
 * every member_timeout / n (at least POOL_MOVE_TICK_MS apart, batches then
 * of several links), the first at once (D41). A change while a spread runs
 * starts a new one with the links still to move. */
static void pool_moves(struct pool *p)
{
    uint64_t w = p->cfg->pool.member_timeout_ms, every;

    if (p->send == NULL || p->stopped || p->leaving)
        return;
    p->n_move = p->move_next = 0;
    index_foreach(p->index, pool_move_collect, p);
    if (p->n_move == 0) {
        uv_timer_stop(&p->move_timer);
        return;
    }
    every = w / p->n_move;
    if (every < POOL_MOVE_TICK_MS)
        every = POOL_MOVE_TICK_MS;
    p->move_every = every;
    p->move_batch = (size_t)((p->n_move * every + w - 1) / w);
    p->move_start = uv_now(p->loop);
    log_info("pool: %zu link(s) move to other members, %zu every %" PRIu64 " ms", p->n_move,
             p->move_batch, every);
    uv_timer_start(&p->move_timer, pool_move_tick, 0, every);
}

/* Logs members that came alive or died since the last beat. */
static bool pool_log_changes(struct pool *p, const bool *was, const struct store_member *old,
                             size_t n_old)
{
    int64_t now = (int64_t)wallclock_ms();
    bool changed = false;

    p->n_alive = 0;
    for (size_t i = 0; i < p->n_mem; i++) {
        bool before = false;
        p->alive[i] = pool_live(p, &p->mem[i], now);
        p->n_alive += p->alive[i];
        for (size_t j = 0; j < n_old; j++)
            if (strcmp(old[j].id, p->mem[i].id) == 0)
                before = was[j];
        if (before != p->alive[i]) {
            log_info("pool: member %s %s (%s)", p->mem[i].id, p->alive[i] ? "alive" : "dead",
                     p->mem[i].addrs);
            changed = true;
        }
    }
    /* A row that is gone was removed by its member leaving (D39) or by
     * `linkctl pool forget`. */
    for (size_t j = 0; j < n_old; j++) {
        bool still = false;
        for (size_t i = 0; i < p->n_mem && !still; i++)
            still = strcmp(old[j].id, p->mem[i].id) == 0;
        if (!still && was[j] && strcmp(old[j].id, p->self.id) != 0) {
            log_info("pool: member %s left the pool (%s)", old[j].id, old[j].addrs);
            changed = true;
        }
    }
    return changed;
}

static void pool_after_cb(uv_work_t *w, int status)
{
    struct pool *p = w->data;
    static struct store_member old[POOL_MAX_MEMBERS];
    bool was[POOL_MAX_MEMBERS];
    size_t n_old = p->n_mem;

    p->busy = false;
    if (status != 0 || p->rc != 0) {
        log_warnx("pool: heartbeat failed: %s", status != 0 ? uv_strerror(status) : p->err);
        if (p->gap.from == 0 || p->gap.to != 0) /* a gap starts at the last good read */
            p->gap = (struct poolage_gap){.from = p->read_ms, .to = 0};
        if (p->leaving && !p->moved_out && !p->stopped)
            pool_leave_check(p); /* member_timeout bounds a leave the registry refuses */
        return;
    }
    p->read_ms = p->self.beat_ms; /* the worker read the rows just after this */
    if (p->gap.from != 0 && p->gap.to == 0)
        p->gap.to = p->read_ms;
    if (p->n_over > 0)
        log_warnx("pool: %zu member rows beyond %d ignored", p->n_over, POOL_MAX_MEMBERS);
    memcpy(old, p->mem, n_old * sizeof(old[0]));
    memcpy(was, p->alive, sizeof(was));
    memcpy(p->mem, p->rows, p->n_rows * sizeof(p->mem[0]));
    p->n_mem = p->n_rows;
    pool_prune_down(p);
    if (pool_log_changes(p, was, old, n_old))
        pool_moves(p);
    if (p->leaving && !p->moved_out && !p->stopped)
        pool_leave_check(p);
}

static void pool_timer_cb(uv_timer_t *t)
{
    struct pool *p = t->data;

    if (p->busy || p->stopped)
        return;
    pool_fill_self(p);
    p->work_leave = p->leaving;
    p->busy = true;
    if (uv_queue_work(p->loop, &p->work, pool_work_cb, pool_after_cb) != 0)
        p->busy = false;
}

int pool_new(uv_loop_t *loop, const struct relaycfg *cfg, const struct stats *stats,
             struct index *index, struct pool **out)
{
    struct pool *p;
    char err[256];
    int rc;

    *out = NULL;
    if (cfg->pool.member_id[0] == '\0')
        return 0;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    rc = pool_self_addrs(cfg, p->self.addrs, sizeof(p->self.addrs));
    if (rc != 0) {
        log_error("pool: member %s needs advertise addresses that fit a REDIRECT (%s)",
                  cfg->pool.member_id, rc == -E2BIG ? "too long" : "none set");
        free(p);
        return -EINVAL;
    }
    rc = store_open(cfg->database, 0, &p->st, err, sizeof(err));
    if (rc == 0 && store_pool_relaxed(p->st) != 0) {
        snprintf(err, sizeof(err), "%s", store_errmsg(p->st));
        store_close(p->st);
        rc = -EIO;
    }
    if (rc != 0) {
        char shown[1024]; /* no password in the log */

        db_target_shown(cfg->database, shown, sizeof(shown));
        log_error("pool: cannot open %s: %s", shown, err);
        free(p);
        return rc;
    }
    p->loop = loop;
    p->cfg = cfg;
    p->stats = stats;
    p->index = index;
    p->started_ms = (int64_t)wallclock_ms();
    p->work.data = p;
    pool_fill_self(p);
    pool_work_cb(&p->work); /* the first beat, before the relay listens */
    if (p->rc != 0) {
        log_error("pool: first heartbeat failed: %s", p->err);
        store_close(p->st);
        free(p);
        return -EIO;
    }
    pool_after_cb(&p->work, 0);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_init(loop, &p->move_timer);
    p->move_timer.data = p;
    log_info("pool: member %s (%s); member_timeout %ums, heartbeat %ums, %u member(s) alive",
             p->self.id, p->self.addrs, cfg->pool.member_timeout_ms, cfg->pool.heartbeat_ms,
             p->n_alive);
    *out = p;
    return 0;
}

void pool_start(struct pool *p)
{
    if (p != NULL)
        uv_timer_start(&p->timer, pool_timer_cb, p->cfg->pool.heartbeat_ms,
                       p->cfg->pool.heartbeat_ms);
}

/* The home of id among the eligible members; NULL when none is. */
static const struct store_member *pool_home(const struct pool *p,
                                            const uint8_t id[STORE_LINK_ID_LEN])
{
    const char *ids[POOL_MAX_MEMBERS];
    int64_t now = (int64_t)wallclock_ms();
    int i;

    /* A member that leaves homes nothing, even before its row is gone. */
    for (size_t j = 0; j < p->n_mem; j++)
        ids[j] =
            pool_live(p, &p->mem[j], now) && !(p->leaving && strcmp(p->mem[j].id, p->self.id) == 0)
                ? p->mem[j].id
                : NULL;
    i = hrw_pick(ids, p->n_mem, id, STORE_LINK_ID_LEN);
    return i < 0 ? NULL : &p->mem[i];
}

/* A check said every address of m refused (nothing listens there: its
 * process is gone): m is out of this member's view until its row shows a
 * new beat, and the links here follow as on any change of the view. */
static void pool_found_dead(struct pool *p, const struct store_member *m)
{
    bool changed = false;

    if (p->n_down < POOL_MAX_MEMBERS && !pool_is_down(p, m)) {
        struct pool_down *d = &p->down[p->n_down++];
        snprintf(d->id, sizeof(d->id), "%s", m->id);
        d->beat_ms = m->beat_ms;
        d->started_ms = m->started_ms;
    }
    p->found_dead++;
    for (size_t i = 0; i < p->n_mem; i++)
        if (p->alive[i] && pool_is_down(p, &p->mem[i])) {
            p->alive[i] = false;
            p->n_alive--;
            changed = true;
        }
    log_info("pool: member %s dead now: every address refused (%s); until it beats again", m->id,
             m->addrs);
    if (changed)
        pool_moves(p);
}

/* An AUTH held for a check goes on: served here, or redirected to the home
 * of the view as it is now. */
static void pool_go_on(struct pool *p, struct conn *c, const uint8_t id[STORE_LINK_ID_LEN])
{
    struct index_link *l = index_find(p->index, id);
    const struct store_member *home = pool_home(p, id);

    if (c->state != CONN_UP)
        return;
    if (l == NULL || !l->enabled) { /* the agent's next AUTH is told why */
        conn_close(c, CONN_END_FIN, "link removed or revoked while its home was checked");
        return;
    }
    if (home == NULL || strcmp(home->id, p->cfg->pool.member_id) == 0 ||
        !pool_send_redirect(p, c, home, false))
        p->serve(c, l);
}

static void pool_checked(void *arg, enum poolprobe_verdict v)
{
    struct pool_check *ck = arg;
    struct pool *p = ck->p;
    struct pool_wait *w = ck->waiters;

    ck->pr = NULL;
    ck->waiters = NULL;
    log_debug("pool: member %s checked: %s", ck->m.id, poolprobe_name(v));
    if (v == POOLPROBE_REFUSED)
        pool_found_dead(p, &ck->m);
    while (w != NULL) {
        struct pool_wait *nx = w->next;
        pool_go_on(p, w->c, w->link);
        free(w);
        w = nx;
    }
}

/* Holds c until home is checked (joining a check of it in flight); false
 * when it cannot (no memory). */
static bool pool_hold(struct pool *p, struct conn *c, const uint8_t id[STORE_LINK_ID_LEN],
                      const struct store_member *home)
{
    struct pool_check *ck = NULL, *free_ck = NULL;
    struct pool_wait *w;

    for (size_t i = 0; i < POOL_MAX_MEMBERS && ck == NULL; i++) {
        if (p->check[i].pr != NULL && strcmp(p->check[i].m.id, home->id) == 0)
            ck = &p->check[i];
        else if (p->check[i].pr == NULL && free_ck == NULL)
            free_ck = &p->check[i];
    }
    if (ck == NULL && free_ck == NULL)
        return false;
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return false;
    if (ck == NULL) {
        ck = free_ck;
        ck->p = p;
        ck->m = *home;
        ck->pr = poolprobe_start(p->loop, home->addrs, p->cfg->pool.heartbeat_ms, pool_checked, ck);
        if (ck->pr == NULL) {
            free(w);
            return false;
        }
        p->checks++;
    }
    w->c = c;
    memcpy(w->link, id, STORE_LINK_ID_LEN);
    w->next = ck->waiters;
    ck->waiters = w;
    return true;
}

bool pool_redirect(struct pool *p, struct conn *c, const uint8_t id[STORE_LINK_ID_LEN],
                   pool_send_fn send, pool_serve_fn serve)
{
    const struct store_member *home;

    if (p == NULL)
        return false;
    p->send = send;
    p->serve = serve;
    home = pool_home(p, id);
    if (home == NULL || strcmp(home->id, p->cfg->pool.member_id) == 0)
        return false;
    /* Before sending an agent to another member, see that something
     * listens there (D41): a killed member's links are served within a
     * round trip, not member_timeout later. */
    if (serve != NULL && !p->stopped && pool_hold(p, c, id, home))
        return true;
    return pool_send_redirect(p, c, home, false);
}

void pool_forget(struct pool *p, const struct conn *c)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < POOL_MAX_MEMBERS; i++)
        for (struct pool_wait **w = &p->check[i].waiters; *w != NULL;) {
            struct pool_wait *x = *w;
            if (x->c == c) {
                *w = x->next;
                free(x);
            } else {
                w = &x->next;
            }
        }
}

/* Leaving, once the others have seen it: each link here goes to its next
 * home (REDIRECT reason draining); a link no other member may home gets
 * GOING_AWAY (D25) and stays until the drain ends. */
static void pool_out_one(void *arg, struct index_link *l)
{
    struct pool *p = arg;
    const struct store_member *home = pool_home(p, l->id);
    uint64_t now = uv_now(p->loop), left = p->drain_deadline > now ? p->drain_deadline - now : 0;
    struct msg m;

    memset(&m, 0, sizeof(m));
    m.type = MSG_GOING_AWAY;
    m.u.going_away.seconds = (uint16_t)((left + 999) / 1000);
    m.u.going_away.text.p = (const uint8_t *)"relay draining";
    m.u.going_away.text.len = strlen("relay draining");
    for (int side = 0; side < 2; side++) {
        struct conn *c = l->session[side];
        if (c == NULL || c->state != CONN_UP)
            continue;
        if (home == NULL || !pool_send_redirect(p, c, home, false))
            (void)p->send(c, &m);
    }
}

/* Leaving: the others have seen this member's row gone when each live one
 * has beaten since it was removed (a beat reads every row after writing
 * its own), or member_timeout after the leave began (they count it dead by
 * then whatever happened to the row). Then the links move out. */
static void pool_leave_check(struct pool *p)
{
    int64_t now = (int64_t)wallclock_ms();
    bool seen = p->left;

    for (size_t i = 0; seen && i < p->n_mem; i++)
        if (strcmp(p->mem[i].id, p->self.id) != 0 && pool_live(p, &p->mem[i], now))
            seen = p->mem[i].beat_ms > p->left_ms;
    if (!seen && now - p->leave_start_ms <= (int64_t)p->cfg->pool.member_timeout_ms)
        return;
    p->moved_out = true;
    log_info("pool: member %s left the pool (%s); moving its links", p->self.id,
             seen ? "every live member has seen it" : "member_timeout passed");
    if (p->send != NULL)
        index_foreach(p->index, pool_out_one, p);
}

bool pool_leave(struct pool *p, uint64_t drain_deadline)
{
    if (p == NULL || p->stopped || p->leaving)
        return false;
    p->leaving = true;
    p->leave_start_ms = (int64_t)wallclock_ms();
    p->drain_deadline = drain_deadline;
    log_info("pool: member %s leaves the pool: removing its row", p->self.id);
    pool_timer_cb(&p->timer); /* at once; with a beat in flight, at the next tick */
    return true;
}

bool pool_leaving(const struct pool *p)
{
    return p != NULL && p->leaving && !p->moved_out && !p->stopped;
}

uint64_t pool_checks(const struct pool *p)
{
    return p != NULL ? p->checks : 0;
}

uint64_t pool_found_dead_total(const struct pool *p)
{
    return p != NULL ? p->found_dead : 0;
}

uint64_t pool_redirects(const struct pool *p)
{
    return p != NULL ? p->redirects : 0;
}

unsigned pool_alive(const struct pool *p)
{
    return p != NULL ? p->n_alive : 0;
}

void pool_stop(struct pool *p)
{
    if (p == NULL || p->stopped)
        return;
    p->stopped = true;
    uv_close((uv_handle_t *)&p->timer, NULL);
    uv_close((uv_handle_t *)&p->move_timer, NULL);
    for (size_t i = 0; i < POOL_MAX_MEMBERS; i++) {
        struct pool_check *ck = &p->check[i];
        poolprobe_cancel(ck->pr);
        ck->pr = NULL;
        while (ck->waiters != NULL) {
            struct pool_wait *nx = ck->waiters->next;
            free(ck->waiters);
            ck->waiters = nx;
        }
    }
}

void pool_free(struct pool *p)
{
    if (p == NULL)
        return;
    store_close(p->st);
    free(p->move_id);
    free(p);
}
