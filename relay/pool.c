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
#include "selfcheck.h"
#include "wallclock.h"

struct pool {
    uv_loop_t *loop;
    struct index *index;
    pool_send_fn send; /* the session module's, from its first pool_redirect */
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

/* REDIRECT (reason home) to home's addresses on c, then c closes once it is
 * written; false when home's row has no address to send. */
static bool pool_send_redirect(struct pool *p, struct conn *c, const struct store_member *home)
{
    struct msg m;

    memset(&m, 0, sizeof(m));
    m.type = MSG_REDIRECT;
    m.u.redirect.reason = p->leaving ? MSG_REDIRECT_DRAINING : MSG_REDIRECT_HOME;
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
             home->id, home->addrs, p->leaving ? ", this member leaves the pool" : "");
    conn_close(c, CONN_END_FLUSH, "redirected");
    return true;
}

/* After the members changed: a link with a session here whose home is now
 * another member is moved there (both sides get REDIRECT), so that both
 * sides meet again on one relay. */
static void pool_move_one(void *arg, struct index_link *l)
{
    struct pool *p = arg;
    const struct store_member *home;

    if ((l->session[0] == NULL && l->session[1] == NULL) || (home = pool_home(p, l->id)) == NULL ||
        strcmp(home->id, p->cfg->pool.member_id) == 0)
        return;
    log_info("pool: link %s moves to its home, member %s", l->name, home->id);
    p->moved++;
    for (int side = 0; side < 2; side++) {
        struct conn *c = l->session[side];
        if (c != NULL && c->state == CONN_UP)
            (void)pool_send_redirect(p, c, home);
    }
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
        p->alive[i] = pool_eligible(p, &p->mem[i], now);
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
    if (pool_log_changes(p, was, old, n_old) && p->send != NULL && !p->stopped && !p->leaving)
        index_foreach(p->index, pool_move_one, p);
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
        ids[j] = pool_eligible(p, &p->mem[j], now) &&
                         !(p->leaving && strcmp(p->mem[j].id, p->self.id) == 0)
                     ? p->mem[j].id
                     : NULL;
    i = hrw_pick(ids, p->n_mem, id, STORE_LINK_ID_LEN);
    return i < 0 ? NULL : &p->mem[i];
}

bool pool_redirect(struct pool *p, struct conn *c, const uint8_t id[STORE_LINK_ID_LEN],
                   pool_send_fn send)
{
    const struct store_member *home;

    if (p == NULL)
        return false;
    p->send = send;
    home = pool_home(p, id);
    if (home == NULL || strcmp(home->id, p->cfg->pool.member_id) == 0)
        return false;
    return pool_send_redirect(p, c, home);
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
        if (home == NULL || !pool_send_redirect(p, c, home))
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
        if (strcmp(p->mem[i].id, p->self.id) != 0 && pool_eligible(p, &p->mem[i], now))
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
}

void pool_free(struct pool *p)
{
    if (p == NULL)
        return;
    store_close(p->st);
    free(p);
}
