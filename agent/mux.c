/* SPDX-License-Identifier: MIT */
/*
 * mux — see mux.h, docs/protocol.md §7.6 and docs/design.md D58.
 */
#include "agent/mux.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define MUX_SLOTS  256u /* above MUX_CHANNELS_MAX: chains of one, mostly */
#define MUX_IN_CAP (MUX_HDR_LEN + MUX_DATA_MAX + 65536u)

struct muxchan {
    struct leg leg;        /* first: the holders' view (leg.h) */
    struct mux *mux;       /* NULL once closed or detached (the mux went) */
    struct muxchan *hnext; /* in mux->slot[tag % MUX_SLOTS] */
    uint32_t tag;
    uint64_t unacked; /* DATA bytes sent and not credited */
    uint64_t held;    /* DATA bytes received and not credited */
    uint64_t taken;   /* of held: taken by the holder, credit due */
    uint8_t *pend;    /* received, not yet taken (pend_off..+pend_len) */
    size_t pend_off, pend_len, pend_cap;
    bool end_in;            /* END came: EOF once pend is taken */
    int err;                /* RST came, or the mux went: told once pend is taken */
    bool told;              /* the EOF or the error was read */
    bool end_out;           /* END sent (or RST received: nothing more goes) */
    bool got;               /* a DATA came on it */
    uint64_t reads_at_open; /* the mux's reads when it opened */
    uv_idle_t kick;         /* callbacks from the loop: pend, the shutdown's */
    uv_shutdown_t *sreq;
    uv_shutdown_cb scb;
};

struct mux {
    struct leg *leg; /* the TCP leg; its .data is the mux */
    bool initiator, closing;
    const struct mux_ops *ops;
    void *arg;
    struct mux_stats *stats;
    uint32_t last_tag; /* the highest tag opened (initiator) or seen */
    struct muxchan *slot[MUX_SLOTS];
    size_t n_chans;
    uint64_t idle_since;
    uint8_t *out; /* this turn's frames */
    size_t out_len, out_cap;
    uv_prepare_t flush;
    uv_timer_t drain; /* mux_close: the deadline of a FIN behind queued frames */
    uv_shutdown_t sreq;
    bool leg_closed;
    bool dead;         /* its path found dead (mux_chan_fail, a keepalive timeout) */
    bool refused;      /* the peer reset a channel before it sent on it: no new ones */
    uint64_t reads;    /* reads of the shared leg that brought bytes */
    size_t shuts;      /* channels whose shutdown callback waits for the flush */
    uint32_t drain_ms; /* MUX_DRAIN_MS unless set */
    int handles;       /* the leg, flush and drain, until closed: then freed */
    uint8_t *in;       /* MUX_IN_CAP bytes, while frames are read or a channel is open */
    size_t in_len;
};

static void mux_fail(struct mux *m, bool reset, bool drain, const char *why);

static struct muxchan *chan_of(struct leg *l)
{
    return (struct muxchan *)(void *)l;
}

/* ---- output: the turn's frames, one write ---- */

static void on_written(uv_write_t *req, int status)
{
    struct mux *m = req->data;

    free(req); /* leg_write_or_queue's */
    if (status < 0 && status != UV_ECANCELED)
        mux_fail(m, true, false, uv_strerror(status));
}

static void flush_now(struct mux *m)
{
    int rc;

    if (m->closing || m->out_len == 0)
        return;
    rc = leg_write_or_queue((uv_stream_t *)&m->leg->tcp, m->out, m->out_len, on_written, m);
    if (rc < 0) {
        mux_fail(m, true, false, uv_strerror(rc));
        return;
    }
    m->stats->writes++;
    m->out_len = 0;
    if (m->out_cap > 2 * MUX_OUT_FLUSH) { /* a burst's buffer goes back */
        free(m->out);
        m->out = NULL;
        m->out_cap = 0;
    }
}

static void kick(struct muxchan *c);

static void on_flush(uv_prepare_t *h)
{
    struct mux *m = h->data;

    (void)uv_prepare_stop(h);
    flush_now(m);
    for (size_t i = 0; m->shuts > 0 && !m->closing && i < MUX_SLOTS; i++)
        for (struct muxchan *c = m->slot[i]; c != NULL; c = c->hnext)
            if (c->scb != NULL)
                kick(c); /* its END has left: the callback, from the loop */
    m->shuts = 0;
}

/* Room for n more bytes of output; false without memory. */
static bool out_room(struct mux *m, size_t n)
{
    size_t cap = m->out_cap != 0 ? m->out_cap : 4096;
    uint8_t *p;

    if (m->out_len + n <= m->out_cap)
        return true;
    while (cap < m->out_len + n)
        cap *= 2;
    p = realloc(m->out, cap);
    if (p == NULL)
        return false;
    m->out = p;
    m->out_cap = cap;
    return true;
}

/* One frame (payload: DATA only) into this turn's output. */
static int put_frame(struct mux *m, uint8_t type, uint32_t tag, uint32_t len,
                     const uint8_t *payload)
{
    struct buf b;

    if (!out_room(m, MUX_HDR_LEN + (payload != NULL ? len : 0)))
        return UV_ENOMEM;
    buf_init(&b, m->out + m->out_len, MUX_HDR_LEN); /* room checked: cannot fail */
    (void)buf_put_u8(&b, type);
    (void)buf_put_u32(&b, tag);
    (void)buf_put_u32(&b, len);
    m->out_len += MUX_HDR_LEN;
    if (payload != NULL) {
        memcpy(m->out + m->out_len, payload, len);
        m->out_len += len;
    }
    m->stats->frames_out++;
    if (m->out_len >= MUX_OUT_FLUSH)
        flush_now(m);
    else if (!uv_is_active((uv_handle_t *)&m->flush))
        (void)uv_prepare_start(&m->flush, on_flush);
    return 0;
}

/* ---- channels ---- */

static struct muxchan *chan_find(const struct mux *m, uint32_t tag)
{
    struct muxchan *c = m->slot[tag % MUX_SLOTS];

    while (c != NULL && c->tag != tag)
        c = c->hnext;
    return c;
}

static void chan_unlink(struct muxchan *c)
{
    struct mux *m = c->mux;
    struct muxchan **pp = &m->slot[c->tag % MUX_SLOTS];

    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    c->hnext = NULL;
    c->mux = NULL;
    if (--m->n_chans == 0)
        m->idle_since = uv_now(m->leg->tcp.loop);
}

static void kick(struct muxchan *c);

/* Credit for what the holder took, once a step of it is due. */
static void chan_credit(struct muxchan *c)
{
    if (c->mux == NULL || c->mux->closing || c->end_in || c->taken < MUX_CREDIT_STEP)
        return;
    if (put_frame(c->mux, MUX_CREDIT, c->tag, (uint32_t)c->taken, NULL) != 0) {
        mux_fail(c->mux, true, false, "out of memory");
        return;
    }
    c->held -= c->taken;
    c->taken = 0;
}

/* Gives the holder bytes from src while it reads, as libuv would (its
 * alloc, then its read callback); returns how many it took. */
static size_t chan_give(struct muxchan *c, const uint8_t *src, size_t len)
{
    struct leg *l = &c->leg;
    size_t done = 0, n;
    uv_buf_t b;

    while (done < len && l->reading && !l->closing) {
        b = uv_buf_init(NULL, 0);
        l->alloc_cb((uv_handle_t *)&l->tcp, len - done, &b);
        if (b.base == NULL || b.len == 0) {
            l->read_cb((uv_stream_t *)&l->tcp, UV_ENOBUFS, &b);
            break;
        }
        n = len - done < b.len ? len - done : b.len;
        memcpy(b.base, src + done, n);
        done += n;
        c->taken += n;
        l->read_cb((uv_stream_t *)&l->tcp, (ssize_t)n, &b);
    }
    return done;
}

/* What was kept goes to the holder while it reads; then the EOF or the
 * error, once. */
static void chan_feed(struct muxchan *c)
{
    struct leg *l = &c->leg;
    uv_buf_t b = uv_buf_init(NULL, 0);
    size_t n = 0;

    if (c->pend_len > 0)
        n = chan_give(c, c->pend + c->pend_off, c->pend_len);
    c->pend_off += n;
    c->pend_len -= n;
    if (c->pend_len == 0)
        c->pend_off = 0;
    if (c->pend_len == 0 && (c->end_in || c->err != 0) && !c->told && l->reading && !l->closing) {
        c->told = true;
        l->reading = false;
        l->read_cb((uv_stream_t *)&l->tcp, c->err != 0 ? c->err : UV_EOF, &b);
    }
    chan_credit(c);
}

static bool pend_add(struct muxchan *c, const uint8_t *p, size_t n)
{
    size_t cap = c->pend_cap != 0 ? c->pend_cap : 4096;
    uint8_t *q;

    if (c->pend_off > 0 && c->pend_off + c->pend_len + n > c->pend_cap) {
        memmove(c->pend, c->pend + c->pend_off, c->pend_len);
        c->pend_off = 0;
    }
    if (c->pend_len + n > c->pend_cap) {
        while (cap < c->pend_len + n)
            cap *= 2;
        q = realloc(c->pend, cap);
        if (q == NULL)
            return false;
        c->pend = q;
        c->pend_cap = cap;
    }
    memcpy(c->pend + c->pend_off + c->pend_len, p, n);
    c->pend_len += n;
    return true;
}

static void on_kick(uv_idle_t *h)
{
    struct muxchan *c = h->data;
    uv_shutdown_cb cb = c->scb;

    (void)uv_idle_stop(h);
    if (c->leg.closing)
        return;
    if (cb != NULL) {
        c->scb = NULL;
        cb(c->sreq, c->mux != NULL ? 0 : UV_ECONNRESET);
        if (c->leg.closing)
            return;
    }
    chan_feed(c);
    /* The shared leg went: a holder that does not read may wait for credit
     * (as a TCP leg's holder waits for its writes, whose callbacks would
     * bring the error); its next write fails. */
    if (c->mux == NULL && !c->told && !c->leg.closing && c->leg.credit_cb != NULL)
        c->leg.credit_cb(&c->leg);
}

static void kick(struct muxchan *c)
{
    if (!c->leg.closing)
        (void)uv_idle_start(&c->kick, on_kick);
}

static int chan_read_start(struct leg *l)
{
    struct muxchan *c = chan_of(l);

    if (c->pend_len > 0 || ((c->end_in || c->err != 0) && !c->told))
        kick(c);
    return 0;
}

static void chan_read_stop(struct leg *l)
{
    (void)l; /* what comes is kept (within the window) */
}

static int chan_write(struct leg *l, const uint8_t *buf, size_t len)
{
    struct muxchan *c = chan_of(l);
    size_t n;
    int rc;

    if (c->mux == NULL || c->mux->closing || c->err != 0)
        return UV_ECONNRESET;
    if (c->end_out)
        return UV_EPIPE;
    if (c->unacked + len > MUX_WINDOW)
        return UV_ENOBUFS; /* a holder that does not wait on leg_queued */
    while (len > 0) {
        n = len < MUX_DATA_MAX ? len : MUX_DATA_MAX;
        rc = put_frame(c->mux, MUX_DATA, c->tag, (uint32_t)n, buf);
        if (rc != 0)
            return rc;
        c->unacked += n;
        buf += n;
        len -= n;
        if (c->mux == NULL || c->mux->closing) /* a flush failed */
            return UV_ECONNRESET;
    }
    return 0;
}

static size_t chan_queued(const struct leg *l)
{
    return (size_t)((const struct muxchan *)(const void *)l)->unacked;
}

static int chan_shutdown(struct leg *l, uv_shutdown_t *req, uv_shutdown_cb cb)
{
    struct muxchan *c = chan_of(l);

    if (c->mux == NULL || c->mux->closing || c->end_out || c->scb != NULL)
        return UV_ENOTCONN;
    if (put_frame(c->mux, MUX_END, c->tag, 0, NULL) != 0)
        return UV_ENOMEM;
    c->end_out = true;
    /* The callback comes after the turn's write has taken the END (on_flush),
     * so its 0 means what a TCP shutdown's does. */
    c->sreq = req;
    c->scb = cb;
    c->mux->shuts++;
    if (!uv_is_active((uv_handle_t *)&c->mux->flush))
        (void)uv_prepare_start(&c->mux->flush, on_flush);
    return 0;
}

static void on_chan_closed(uv_handle_t *h)
{
    struct muxchan *c = h->data;

    if (c->scb != NULL)
        c->scb(c->sreq, UV_ECANCELED);
    if (c->leg.close_cb != NULL)
        c->leg.close_cb((uv_handle_t *)&c->leg.tcp);
    free(c->pend);
    free(c);
}

static void chan_close(struct leg *l, bool reset)
{
    struct muxchan *c = chan_of(l);
    struct mux *m = c->mux;

    if (m != NULL) {
        if (!m->closing && (reset || !c->end_out) && !(c->err != 0 && c->end_out))
            (void)put_frame(m, reset ? MUX_RST : MUX_END, c->tag, 0, NULL);
        if (c->mux != NULL) /* put_frame's flush may have failed the mux */
            chan_unlink(c);
    }
    (void)uv_idle_stop(&c->kick);
    uv_close((uv_handle_t *)&c->kick, on_chan_closed);
}

static uv_tcp_t *chan_carrier(struct leg *l)
{
    struct muxchan *c = chan_of(l);

    return c->mux != NULL && !c->mux->closing ? &c->mux->leg->tcp : NULL;
}

static const struct leg_ops chan_ops = {
    .read_start = chan_read_start,
    .read_stop = chan_read_stop,
    .write = chan_write,
    .queued = chan_queued,
    .shutdown = chan_shutdown,
    .close = chan_close,
    .carrier = chan_carrier,
};

static struct muxchan *chan_new(struct mux *m, uint32_t tag)
{
    struct muxchan *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->leg.ops = &chan_ops;
    c->leg.tcp.loop = m->leg->tcp.loop;
    (void)uv_idle_init(m->leg->tcp.loop, &c->kick);
    c->kick.data = c;
    c->mux = m;
    c->tag = tag;
    c->hnext = m->slot[tag % MUX_SLOTS];
    m->slot[tag % MUX_SLOTS] = c;
    m->n_chans++;
    m->stats->channels++;
    return c;
}

/* ---- input: frames to their channels ---- */

static void proto_fail(struct mux *m, const char *why)
{
    m->stats->proto_errors++;
    mux_fail(m, true, false, why);
}

static void on_data(struct mux *m, uint32_t tag, const uint8_t *p, size_t len)
{
    struct muxchan *c = chan_find(m, tag);
    size_t n = 0;

    if (c == NULL && tag <= m->last_tag)
        return; /* a channel closed here: what its peer sent before it knew */
    if (c == NULL && m->initiator) {
        proto_fail(m, "the peer sent on a channel never opened");
        return;
    }
    if (c == NULL) {
        m->last_tag = tag;
        if (m->n_chans >= MUX_CHANNELS_MAX || (c = chan_new(m, tag)) == NULL) {
            if (put_frame(m, MUX_RST, tag, 0, NULL) != 0)
                mux_fail(m, true, false, "out of memory");
            return; /* the opener's stream takes a leg of its own */
        }
        c->held = len;
        if (!pend_add(c, p, len)) {
            leg_close(&c->leg, true, NULL); /* never handed to the owner */
            mux_fail(m, true, false, "out of memory");
            return;
        }
        m->ops->channel(m->arg, m, &c->leg);
        return;
    }
    if (c->end_in || c->err != 0) {
        proto_fail(m, "the peer sent on a channel after its end");
        return;
    }
    if (c->held + len > MUX_WINDOW) {
        proto_fail(m, "the peer sent beyond a channel's window");
        return;
    }
    c->held += len;
    c->got = true;
    if (c->pend_len == 0)
        n = chan_give(c, p, len);
    if (n < len && !c->leg.closing && !pend_add(c, p + n, len - n)) {
        mux_fail(m, true, false, "out of memory");
        return;
    }
    chan_credit(c);
}

static void on_control(struct mux *m, uint8_t type, uint32_t tag, uint32_t len)
{
    struct muxchan *c = chan_find(m, tag);

    if (type == MUX_CREDIT && (len == 0 || (c != NULL && len > c->unacked))) {
        proto_fail(m, "a credit for bytes never sent");
        return;
    }
    if (type != MUX_CREDIT && len != 0) {
        proto_fail(m, "a malformed frame");
        return;
    }
    if (c == NULL)
        return; /* closed here already, or never opened at the peer */
    if (type == MUX_CREDIT) {
        c->unacked -= len;
        if (c->leg.credit_cb != NULL && !c->leg.closing)
            c->leg.credit_cb(&c->leg);
        return;
    }
    if (type == MUX_END && c->end_in) {
        proto_fail(m, "a channel ended twice");
        return;
    }
    if (type == MUX_END) {
        c->end_in = true;
    } else {
        if (m->initiator && !c->got)
            m->refused = true; /* at its limit, or refusing: take no more here */
        c->err = UV_ECONNRESET;
        c->end_out = true; /* the peer takes nothing more */
        c->pend_len = c->pend_off = 0;
    }
    chan_feed(c);
}

static void parse(struct mux *m)
{
    size_t off = 0;

    while (!m->closing && m->in_len - off >= MUX_HDR_LEN) {
        const uint8_t *h = m->in + off;
        struct cur hc;
        uint8_t type = 0;
        uint32_t tag = 0, len = 0;

        cur_init(&hc, h, MUX_HDR_LEN); /* a whole header is there: cannot fail */
        (void)cur_u8(&hc, &type);
        (void)cur_u32(&hc, &tag);
        (void)cur_u32(&hc, &len);

        if (type == MUX_DATA) {
            if (len == 0 || len > MUX_DATA_MAX) {
                proto_fail(m, "a DATA frame of a wrong length");
                return;
            }
            if (m->in_len - off < MUX_HDR_LEN + len)
                break;
            off += MUX_HDR_LEN + len;
            on_data(m, tag, h + MUX_HDR_LEN, len);
        } else if (type == MUX_END || type == MUX_RST || type == MUX_CREDIT) {
            off += MUX_HDR_LEN;
            on_control(m, type, tag, len);
        } else {
            proto_fail(m, "a frame of an unknown type");
            return;
        }
    }
    if (m->closing)
        return;
    memmove(m->in, m->in + off, m->in_len - off);
    m->in_len -= off;
    if (m->in_len == 0 && m->n_chans == 0) { /* an idle shared leg holds no buffer */
        free(m->in);
        m->in = NULL;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mux *m = h->data;

    (void)suggested;
    if (m->in == NULL && (m->in = malloc(MUX_IN_CAP)) == NULL) {
        *buf = uv_buf_init(NULL, 0); /* UV_ENOBUFS: on_read fails the mux */
        return;
    }
    *buf = uv_buf_init((char *)m->in + m->in_len, (unsigned)(MUX_IN_CAP - m->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct mux *m = s->data;

    (void)buf;
    if (nread == 0 || m->closing)
        return;
    if (nread < 0) {
        m->dead = nread == UV_ETIMEDOUT; /* our kernel gave up: the relay may not know */
        mux_fail(m, nread != UV_EOF, false,
                 nread == UV_EOF ? "the shared leg ended" : uv_strerror((int)nread));
        return;
    }
    m->in_len += (size_t)nread;
    m->reads++;
    parse(m);
}

/* ---- the shared leg's life ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct mux *m = h->data;

    if (--m->handles > 0)
        return;
    free(m->out);
    free(m->in);
    free(m);
}

static void close_leg(struct mux *m, bool reset)
{
    if (m->leg_closed)
        return;
    m->leg_closed = true;
    (void)uv_timer_stop(&m->drain);
    leg_close(m->leg, reset, on_handle_closed);
    uv_close((uv_handle_t *)&m->drain, on_handle_closed);
}

static void on_drained(uv_shutdown_t *req, int status)
{
    close_leg(req->data, status < 0);
}

static void on_drain_deadline(uv_timer_t *t)
{
    close_leg(t->data, true);
}

/* The shared leg goes: every channel is detached (it reads UV_ECONNRESET
 * after what it had), the owner told; with drain, what is queued for the
 * kernel goes first, behind a FIN, within MUX_DRAIN_MS. */
static void mux_fail(struct mux *m, bool reset, bool drain, const char *why)
{
    if (m->closing)
        return;
    m->closing = true;
    for (size_t i = 0; i < MUX_SLOTS; i++) {
        struct muxchan *c;

        while ((c = m->slot[i]) != NULL) {
            m->slot[i] = c->hnext;
            c->hnext = NULL;
            c->mux = NULL;
            if (c->err == 0)
                c->err = UV_ECONNRESET;
            kick(c); /* a holder that reads gets the error; one that waits on credit, a wake-up */
        }
    }
    m->n_chans = 0;
    (void)uv_prepare_stop(&m->flush);
    m->ops->down(m->arg, m, why, m->dead);
    uv_close((uv_handle_t *)&m->flush, on_handle_closed);
    if (drain && !reset && leg_queued(m->leg) > 0) {
        m->sreq.data = m;
        if (uv_shutdown(&m->sreq, (uv_stream_t *)&m->leg->tcp, on_drained) == 0) {
            (void)uv_timer_start(&m->drain, on_drain_deadline, m->drain_ms, 0);
            return;
        }
    }
    close_leg(m, reset);
}

struct mux *mux_new(struct leg *leg, bool initiator, const uint8_t *rest, size_t rest_len,
                    const struct mux_ops *ops, void *arg, struct mux_stats *stats, int *err)
{
    void *holder = leg->tcp.data;
    struct mux *m;
    int rc;

    if (rest_len > MUX_IN_CAP) {
        *err = UV_EPROTO;
        return NULL;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        *err = UV_ENOMEM;
        return NULL;
    }
    m->leg = leg;
    m->initiator = initiator;
    m->ops = ops;
    m->arg = arg;
    m->stats = stats;
    m->idle_since = uv_now(leg->tcp.loop);
    m->drain_ms = MUX_DRAIN_MS;
    if (rest_len > 0) {
        if ((m->in = malloc(MUX_IN_CAP)) == NULL) {
            free(m);
            *err = UV_ENOMEM;
            return NULL;
        }
        memcpy(m->in, rest, rest_len);
    }
    m->in_len = rest_len;
    (void)uv_prepare_init(leg->tcp.loop, &m->flush);
    m->flush.data = m;
    (void)uv_timer_init(leg->tcp.loop, &m->drain);
    m->drain.data = m;
    m->handles = 2; /* the leg counts once the mux holds it */
    leg->tcp.data = m;
    rc = leg_read(leg, on_alloc, on_read);
    if (rc != 0) {
        leg->tcp.data = holder; /* still the caller's */
        *err = rc;
        m->closing = m->leg_closed = true;
        uv_close((uv_handle_t *)&m->flush, on_handle_closed);
        uv_close((uv_handle_t *)&m->drain, on_handle_closed);
        return NULL;
    }
    m->handles = 3;
    return m;
}

void mux_start(struct mux *m)
{
    if (!m->closing && m->in_len > 0)
        parse(m);
}

bool mux_can_open(const struct mux *m)
{
    return m->initiator && !m->closing && !m->refused && m->n_chans < MUX_CHANNELS_MAX &&
           m->last_tag < UINT32_MAX;
}

struct leg *mux_open(struct mux *m)
{
    struct muxchan *c;

    if (!mux_can_open(m))
        return NULL;
    c = chan_new(m, m->last_tag + 1);
    if (c == NULL)
        return NULL;
    m->last_tag++;
    c->reads_at_open = m->reads;
    return &c->leg;
}

size_t mux_channels(const struct mux *m)
{
    return m->n_chans;
}

uint64_t mux_idle_since(const struct mux *m)
{
    return m->idle_since;
}

size_t mux_take_first(struct leg *l, uint8_t *buf, size_t max)
{
    struct muxchan *c = chan_of(l);
    size_t n = c->pend_len < max ? c->pend_len : max;

    if (n == 0)
        return 0;
    memcpy(buf, c->pend + c->pend_off, n);
    c->pend_off += n;
    c->pend_len -= n;
    if (c->pend_len == 0)
        c->pend_off = 0;
    c->taken += n;
    return n;
}

void mux_chan_fail(struct leg *l, bool unless_heard, const char *why)
{
    struct muxchan *c = chan_of(l);

    if (c->mux == NULL || (unless_heard && c->mux->reads != c->reads_at_open))
        return;
    c->mux->dead = true;
    mux_fail(c->mux, true, false, why);
}

void mux_set_drain_ms(struct mux *m, uint32_t ms)
{
    m->drain_ms = ms;
}

void mux_close(struct mux *m)
{
    flush_now(m);
    mux_fail(m, false, true, "closed");
}
