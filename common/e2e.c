/* SPDX-License-Identifier: MIT */
/*
 * e2e — see e2e.h, docs/protocol.md §7 and docs/internals/e2e.md.
 */
#include "e2e.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "e2epriv.h"
#include "frame.h"
#include "suite.h"

#define RESUME_LABEL "linkrelay/1 resume"

#define PROLOGUE_LEN (sizeof(E2E_PROLOGUE) - 1 + E2E_LINK_ID_LEN + 8)
_Static_assert(PROLOGUE_LEN == E2ELS_PROLOGUE_LEN, "e2els.h knows the prologue's length");

static void ev_raise(struct e2e *s, enum e2e_event_type t)
{
    s->events |= 1u << t;
}

static void fail(struct e2e *s, int err, int detail)
{
    if (s->state == ST_DEAD)
        return;
    if (s->state == ST_HS && s->role == E2E_INITIATOR && s->ls.mode == E2ELS_KEYED) {
        e2els_failed(&s->ls, s->ls_store); /* the next stream runs the KK (D46) */
        err = err == E2E_E_HS_EOF ? E2E_E_SESSION : err;
    }
    e2els_hs_stop(&s->ls); /* no session key stays in a dead stream */
    s->state = ST_DEAD;
    s->err = err;
    s->detail = detail;
    sodium_memzero(s->recv_key, sizeof(s->recv_key));
    ev_raise(s, E2E_EV_ERROR);
}

/* Appends one handshake message carrying HELLO, framed, to the output: a
 * KK message, or a session-keyed frame (§7.4). */
static int hs_write(struct e2e *s)
{
    uint8_t hello[SUITE_HELLO_MAX];
    uint8_t msg[FRAME_HDR_LEN + FRAME_MAX_HANDSHAKE];
    size_t mlen, hlen = suite_hello_encode(s->resume_cap > 0, resume_ack_every(s->resume_cap),
                                           s->offer, hello);
    uint8_t *out = msg + FRAME_HDR_LEN;
    bool keyed = s->ls.mode == E2ELS_KEYED;
    int rc;

    if (!keyed)
        rc = noise_hs_write_message(&s->hs, hello, hlen, out, FRAME_MAX_HANDSHAKE, &mlen);
    else if (s->role == E2E_INITIATOR)
        rc = e2els_write_i(&s->ls, hello, hlen, out, FRAME_MAX_HANDSHAKE, &mlen);
    else
        rc = e2els_write_r(&s->ls, hello, hlen, out, FRAME_MAX_HANDSHAKE, &mlen);
    if (rc != 0)
        return rc;
    msg[0] = (uint8_t)(mlen >> 8 | (keyed ? E2ELS_FRAME_BIT >> 8 : 0));
    msg[1] = (uint8_t)mlen;
    return bq_append(&s->out, msg, FRAME_HDR_LEN + mlen);
}

/* Split(): keys both directions and queues our secretstream header. */
static int hs_finish(struct e2e *s)
{
    uint8_t send_key[REC_KEY_LEN], header[REC_HEADER_LEN];
    int rc;

    rc = 0;
    if (s->ls.mode == E2ELS_KEYED) /* the keys from the transcript (§7.4) */
        e2els_keys(&s->ls, s->role == E2E_INITIATOR, send_key, s->recv_key, s->rk);
    s->resumable = s->ls.mode == E2ELS_KEYED && s->resume_cap > 0 && s->peer_offer;
    if (s->ls.mode != E2ELS_KEYED && s->resume_cap > 0 && s->peer_offer) {
        rc = noise_hs_export_key(&s->hs, (const uint8_t *)RESUME_LABEL, sizeof(RESUME_LABEL) - 1,
                                 s->rk);
        s->resumable = rc == 0;
    }
    if (rc == 0 && (s->offer & s->peer_suites & SUITE_OFFER_LINK_SESSION) != 0)
        rc = e2els_export(&s->ls, &s->hs); /* usable: e2els_ready */
    if (s->ls_store != NULL)
        ++*(s->ls.mode == E2ELS_KEYED ? &s->ls_store->keyed : &s->ls_store->kk);
    s->suite = (uint8_t)suite_choose(s->offer, s->peer_suites);
    s->oob = s->resumable && (s->offer & s->peer_suites & SUITE_OFFER_STREAM_ACK) != 0;
    s->keep = s->resumable && (s->offer & s->peer_suites & SUITE_OFFER_KEEP_LEG) != 0; /* D48 */
    s->share = s->keep && (s->offer & s->peer_suites & SUITE_OFFER_SHARE_LEG) != 0;    /* D58 */
    if (!s->oob && s->peer_ack_every > RESUME_ACK_MIN)
        s->peer_ack_every = RESUME_ACK_MIN; /* in-band only: D32's stall (D43) */
    if (rc == 0 && s->ls.mode != E2ELS_KEYED)
        rc = noise_hs_split_keys(&s->hs, send_key, s->recv_key);
    if (rc == 0)
        rc = rec_tx_init_suite(&s->tx, (enum rec_suite)s->suite, send_key, header);
    if (rc == 0 && s->resumable)
        rc = rec_tx_set_resumable(&s->tx);
    sodium_memzero(send_key, sizeof(send_key));
    noise_hs_wipe(&s->hs);
    if (rc != 0)
        return rc;
    rc = bq_append(&s->out, header, sizeof(header));
    if (rc != 0)
        return rc;
    s->tx_ready = true;
    s->state = ST_HEADER;
    /* The initiator read message 2: the peer holds it. The responder sent
     * message 2: it answers the peer's streams keyed with it at once (the
     * peer may use it from now), its own only after the peer's header. */
    e2els_ready(&s->ls, s->ls_store, s->role == E2E_INITIATOR);
    ev_raise(s, E2E_EV_HANDSHAKE);
    return 0;
}

/* The payload of a handshake frame: a KK message's, or a session-keyed
 * frame's (§7.4); *err is the failure's error. */
static int hs_read(struct e2e *s, bool keyed, const struct frame *f, uint8_t *payload, size_t *plen,
                   int *err)
{
    int rc;

    if (!keyed) /* a keyed initiator never wrote message 1: out of turn */
        return noise_hs_read_message(&s->hs, f->body, f->len, payload, FRAME_MAX_HANDSHAKE, plen);
    if (s->role == E2E_INITIATOR)
        return s->ls.mode != E2ELS_KEYED
                   ? -EPROTO
                   : e2els_read_r(&s->ls, f->body, f->len, payload, FRAME_MAX_HANDSHAKE, plen);
    rc = e2els_read_i(&s->ls, s->ls_store, f->body, f->len, payload, FRAME_MAX_HANDSHAKE, plen);
    *err = rc == -ENOENT ? E2E_E_SESSION : *err;
    return rc;
}

/* One handshake frame from the input; 1 if one was handled, 0 if more is needed. */
static int step_handshake(struct e2e *s)
{
    const uint8_t *p;
    size_t n, plen;
    struct frame f;
    uint8_t payload[FRAME_MAX_HANDSHAKE];
    int rc, err = E2E_E_HANDSHAKE;
    bool keyed;

    p = bq_peek(&s->in, &n);
    rc = e2els_frame(p, n, &f.body, &f.len);
    keyed = rc == 1;
    f.consumed = keyed ? FRAME_HDR_LEN + f.len : 0;
    if (rc == 0)
        rc = frame_parse(p, n, FRAME_MAX_HANDSHAKE, &f, NULL);
    if (rc == -EAGAIN)
        return 0;
    if (rc < 0) {
        fail(s, E2E_E_HANDSHAKE, rc);
        return -1;
    }
    rc = hs_read(s, keyed, &f, payload, &plen, &err);
    if (rc == 0)
        rc = suite_hello_check(payload, plen, &s->peer_offer, &s->peer_ack_every, &s->peer_suites);
    sodium_memzero(payload, sizeof(payload));
    (void)bq_consume(&s->in, f.consumed);
    if (keyed || (s->peer_suites & SUITE_OFFER_LINK_SESSION) == 0)
        s->offer &= ~SUITE_OFFER_LINK_SESSION; /* a session comes from a KK that both ask */
    if (rc == 0 && s->role == E2E_RESPONDER)
        rc = hs_write(s);
    if (rc == 0 && !keyed && !noise_hs_done(&s->hs))
        rc = NOISE_ERR_STATE; /* KK has two messages: both are done here */
    if (rc == 0)
        rc = hs_finish(s);
    if (rc != 0) {
        fail(s, err, rc);
        return -1;
    }
    return 1;
}

static int step_header(struct e2e *s)
{
    uint8_t header[REC_HEADER_LEN];
    int rc;

    if (bq_len(&s->in) < REC_HEADER_LEN)
        return 0;
    memcpy(header, bq_peek(&s->in, &(size_t){0}), REC_HEADER_LEN);
    (void)bq_consume(&s->in, REC_HEADER_LEN);
    rc = rec_rx_init_suite(&s->rx, (enum rec_suite)s->suite, s->recv_key, header);
    sodium_memzero(s->recv_key, sizeof(s->recv_key));
    if (rc == 0) /* the initiator's header: it holds the session (D46) */
        e2els_ready(&s->ls, s->ls_store, true);
    if (rc == 0 && s->resuming)
        rc = rec_rx_resume_setup(&s->rx, s->rx_recv, s->rx_acked, s->peer_final);
    else if (rc == 0 && s->resumable)
        rc = rec_rx_set_resumable(&s->rx);
    s->resuming = false;
    if (rc != 0) {
        fail(s, E2E_E_RECORD, rc);
        return -1;
    }
    s->state = ST_OPEN;
    return 1;
}

/* A resumed leg's first frame: the peer's resume HELLO (§7.3). */
static int step_rhello(struct e2e *s)
{
    const uint8_t *p;
    size_t n;
    struct frame f;
    uint8_t peer_nonce[RESUME_NONCE_LEN];
    uint8_t header[REC_HEADER_LEN], frame[REC_CTRL_FRAME_MAX];
    size_t flen;
    int rc;

    p = bq_peek(&s->in, &n);
    rc = frame_parse(p, n, FRAME_MAX_HANDSHAKE, &f, NULL);
    if (rc == -EAGAIN)
        return 0;
    rc = rc != 0 ? RESUME_E_HELLO
                 : resume_hello_check(s->rk, s->role ^ 1, s->epoch, f.body, f.len, peer_nonce);
    if (rc != 0) {
        s->hello_refused++;
        s->hello_old += rc == RESUME_E_EPOCH;
        e2e_leg_lost(s); /* back to suspended: this leg is not our peer's */
        s->err = E2E_E_RESUME;
        s->detail = 0;
        ev_raise(s, E2E_EV_LEG_FAILED);
        return 0;
    }
    (void)bq_consume(&s->in, f.consumed);
    rc = resume_open_epoch(s->rk, s->role, s->epoch, s->nonce, peer_nonce, s->suite, &s->tx,
                           s->recv_key, header);
    if (rc == 0)
        rc = rec_tx_resume(&s->tx, s->rx_recv, s->peer_final ? REC_RESUME_FINAL : 0, frame,
                           sizeof(frame), &flen);
    if (rc == 0 &&
        (bq_append(&s->out, header, sizeof(header)) != 0 || bq_append(&s->out, frame, flen) != 0))
        rc = REC_E_NOBUFS; /* cannot happen: the output was emptied for the leg */
    if (rc != 0) {
        fail(s, E2E_E_RECORD, rc);
        return -1;
    }
    s->resuming = true;
    s->awaiting_resume = true;
    s->state = ST_HEADER;
    return 1;
}

static void peer_reset(struct e2e *s, const struct rec_record *r)
{
    s->peer_reason = r->reason;
    s->peer_text_len = r->len <= sizeof(s->peer_text) ? r->len : sizeof(s->peer_text);
    if (s->peer_text_len > 0)
        memcpy(s->peer_text, r->data, s->peer_text_len);
    s->state = ST_DEAD;
    ev_raise(s, E2E_EV_PEER_RESET);
}

/* The peer's RESUME record: replay from its offset (§7.3). */
static int on_resume(struct e2e *s, const struct rec_record *r)
{
    bool got_final = (r->reason & REC_RESUME_FINAL) != 0;

    if (resume_tx_rewind(&s->rt, &s->tx, r->value, got_final) != 0)
        return E2E_E_RESUME;
    if (!got_final && s->rt.final_ever) {
        s->final_sent = false; /* FINAL goes again, after the replay */
        s->final_pending = true;
    }
    s->awaiting_resume = false;
    ev_raise(s, E2E_EV_RESUMED);
    return 0;
}

/* One record from the input; 1 if handled, 0 if more input or plaintext room
 * is needed, -1 on failure. */
static int step_record(struct e2e *s)
{
    const uint8_t *p;
    size_t n;
    struct frame f;
    struct rec_record r;
    int rc;

    p = bq_peek(&s->in, &n);
    rc = frame_parse(p, n, REC_BODY_MAX, &f, NULL);
    if (rc == -EAGAIN)
        return 0;
    if (rc != 0) {
        fail(s, E2E_E_FRAME, rc);
        return -1;
    }
    if (f.len > REC_ABYTES && bq_space(&s->plain) < f.len - REC_ABYTES)
        return 0; /* the plaintext might not fit: wait for the application */
    rc = rec_rx_open(&s->rx, f.body, f.len,
                     s->resumable ? resume_tx_bound(&s->rt) : rec_tx_offset(&s->tx), s->scratch,
                     sizeof(s->scratch), &r);
    if (rc != 0) {
        fail(s, E2E_E_RECORD, rc);
        return -1;
    }
    if (r.type == REC_DATA)
        rc = bq_append(&s->plain, r.data, r.len);
    else if (r.type == REC_FINAL)
        s->peer_final = true;
    else if (r.type == REC_RESET)
        peer_reset(s, &r);
    else if (r.type == REC_ACK && s->resumable)
        resume_tx_ack(&s->rt, r.value);
    else if (r.type == REC_RESUME)
        rc = on_resume(s, &r);
    else if (r.type == REC_FINISHED && s->role == E2E_INITIATOR)
        s->peer_finished = true; /* the responder finished (§7.3) */
    else if (r.type == REC_FINISHED)
        rc = REC_E_FINISHED; /* only the responder sends it */
    /* The plaintext, of any record type: what rec_rx_open wrote there. */
    sodium_memzero(s->scratch, f.len - REC_ABYTES);
    (void)bq_consume(&s->in, f.consumed);
    if (rc != 0) {
        fail(s, rc == E2E_E_RESUME ? E2E_E_RESUME : E2E_E_RECORD, rc);
        return -1;
    }
    return 1;
}

/* A resumable stream's responder is done (§7.3): its FINAL acknowledged, the
 * peer's FINAL delivered and acknowledged; FINISHED tells the initiator. */
static bool finish_due(const struct e2e *s)
{
    return s->resumable && s->role == E2E_RESPONDER && !s->finished_sent && s->final_sent &&
           s->rt.peer_got_final && s->peer_final_told && !s->ack_due &&
           s->acked == s->delivered + 1;
}

/* Seals pending ACK, FINAL and RESET records while there is room, and data
 * from the replay buffer of a resumable stream. */
static void flush_ctrl(struct e2e *s)
{
    uint8_t *dst;
    size_t room, len;
    int rc;

    if (!s->tx_ready || s->tx_ended || s->state == ST_SUSPENDED || s->state == ST_RHELLO)
        return;
    for (;;) {
        dst = bq_reserve(&s->out, &room);
        if (dst == NULL || room < REC_CTRL_FRAME_MAX)
            return;
        if (s->reset_pending) {
            rc = rec_tx_reset(&s->tx, s->my_reason, s->my_text, s->my_text_len, dst, room, &len);
            s->reset_pending = false;
            s->tx_ended = true;
            s->state = ST_DEAD; /* no event: the local side asked for it */
        } else if (s->awaiting_resume) {
            return; /* nothing before the peer's offset is known */
        } else if (s->ack_due || (s->ack_lazy && (s->final_pending || resume_tx_pending(&s->rt)))) {
            uint64_t v = s->delivered + (s->resumable && s->peer_final_told ? 1 : 0);
            rc = rec_tx_ack(&s->tx, v, dst, room, &len);
            s->ack_due = s->ack_lazy = false;
            s->acked = v;
        } else if (s->resumable && resume_tx_pending(&s->rt)) {
            rc = resume_tx_pump(&s->rt, &s->tx, dst, room, E2E_CTRL_RESERVE, &len);
            if (rc == 1)
                return; /* no room */
        } else if (s->final_pending) {
            rc = rec_tx_final(&s->tx, dst, room, &len);
            s->final_pending = false;
            s->tx_ended = !s->resumable; /* resumable: ACKs may follow (§7.3) */
            s->final_sent = true;
            s->rt.final_ever = true;
        } else if (finish_due(s)) {
            rc = rec_tx_finished(&s->tx, s->acked, dst, room, &len);
            s->tx_ended = s->finished_sent = true; /* nothing follows it */
        } else {
            return;
        }
        if (rc != 0) {
            fail(s, E2E_E_RECORD, rc);
            return;
        }
        (void)bq_commit(&s->out, len);
        if (s->tx_ended)
            return;
    }
}

/* After input was processed: the peer's FINAL is told once all is delivered;
 * EOF with nothing more to process is judged. */
static void check_end(struct e2e *s, bool blocked)
{
    int rc;

    if (s->peer_final && !s->peer_final_told && bq_len(&s->plain) == 0 && s->state != ST_DEAD) {
        s->peer_final_told = true;
        /* "on FINAL" (§7.2), total + 1 when resumable; while our direction
         * is open, a resumable stream's rides with our next record if it
         * frees little of the peer's replay buffer (D55). */
        if (s->resumable && !s->final_sent && !s->final_pending &&
            s->delivered - s->acked <= E2E_LAZY_ACK_MAX)
            s->ack_lazy = true;
        else if (s->delivered != s->acked || s->resumable)
            s->ack_due = true;
        ev_raise(s, E2E_EV_PEER_FINAL);
    }
    if (!s->peer_eof || blocked || s->state == ST_DEAD || s->state == ST_SUSPENDED)
        return;
    if (s->state != ST_OPEN) {
        fail(s, E2E_E_HS_EOF, 0);
        return;
    }
    if (bq_len(&s->in) != 0 && !e2e_peer_done(s)) {
        fail(s, E2E_E_TRUNCATED, REC_E_TRUNCATED); /* a partial record */
        return;
    }
    rc = rec_rx_eof(&s->rx);
    if (rc != 0)
        fail(s, E2E_E_TRUNCATED, rc);
}

static void process(struct e2e *s)
{
    bool blocked = false;
    int rc = 1;

    while (rc == 1 && s->state != ST_DEAD && s->state != ST_SUSPENDED) {
        if (e2e_peer_done(s))
            break; /* the rest is the next stream's (D48) */
        if (s->state == ST_HS)
            rc = step_handshake(s);
        else if (s->state == ST_RHELLO)
            rc = step_rhello(s);
        else if (s->state == ST_HEADER)
            rc = step_header(s);
        else if (s->rx.state != REC_RX_OPEN)
            rc = bq_len(&s->in) > 0 ? step_record(s) : 0; /* fails: after end */
        else
            rc = step_record(s);
    }
    if (rc == 0 && s->state == ST_OPEN && !e2e_peer_done(s) && bq_len(&s->in) >= FRAME_HDR_LEN) {
        const uint8_t *p = bq_peek(&s->in, &(size_t){0});
        size_t flen = ((size_t)p[0] << 8) | p[1];
        blocked = bq_len(&s->in) >= FRAME_HDR_LEN + flen; /* whole frame, no room */
    }
    check_end(s, blocked);
    flush_ctrl(s);
}

int e2e_init_ls(struct e2e *s, enum e2e_role role, const uint8_t priv[E2E_KEY_LEN],
                const uint8_t *pub, const uint8_t *ss, const uint8_t peer_pub[E2E_KEY_LEN],
                const uint8_t link_id[E2E_LINK_ID_LEN], uint64_t stream_id, uint64_t resume_cap,
                unsigned offer, struct e2els_store *ls)
{
    uint8_t prologue[PROLOGUE_LEN];
    struct buf b;
    int rc;

    if (s == NULL || priv == NULL || peer_pub == NULL || link_id == NULL ||
        (role != E2E_INITIATOR && role != E2E_RESPONDER) ||
        (resume_cap > 0 && resume_cap < E2E_RESUME_MIN) ||
        (offer & ~(SUITE_OFFER_ALL | SUITE_OFFER_STREAM_ACK | SUITE_OFFER_KEEP_LEG |
                   SUITE_OFFER_SHARE_LEG)) != 0)
        return E2E_E_ARG;
    e2e_clear(s);
    s->role = (uint8_t)role;
    s->offer = offer | SUITE_OFFER_CHACHA;
    s->resume_cap = resume_cap;
    resume_tx_init(&s->rt, resume_cap);
    s->state = ST_HS;
    bq_init(&s->in, s->in_mem, sizeof(s->in_mem));
    bq_init(&s->plain, s->plain_mem, sizeof(s->plain_mem));
    bq_init(&s->out, s->out_mem, sizeof(s->out_mem));
    buf_init(&b, prologue, sizeof(prologue));
    if (buf_put_bytes(&b, E2E_PROLOGUE, sizeof(E2E_PROLOGUE) - 1) != 0 ||
        buf_put_bytes(&b, link_id, E2E_LINK_ID_LEN) != 0 || buf_put_u64(&b, stream_id) != 0)
        return E2E_E_ARG;
    memcpy(s->ls.prologue, prologue, sizeof(prologue));
    if (e2els_hs_begin(&s->ls, ls, role == E2E_INITIATOR, priv, pub, peer_pub) != 0)
        return E2E_E_ARG;
    s->ls_store = ls;
    if (ls != NULL && role == E2E_INITIATOR)
        (void)e2els_begin(ls, &s->ls); /* keyed by a session, or a KK that asks for one */
    if (ls != NULL && (role == E2E_RESPONDER || s->ls.mode == E2ELS_ASK))
        s->offer |= SUITE_OFFER_LINK_SESSION;
    rc = noise_hs_init_pub(&s->hs, NOISE_KK, role == E2E_INITIATOR, prologue, sizeof(prologue),
                           priv, pub, peer_pub);
    if (rc == 0 && ss != NULL)
        rc = noise_hs_set_ss(&s->hs, ss);
    if (rc == 0 && role == E2E_INITIATOR)
        rc = hs_write(s);
    if (rc != 0) {
        e2e_done(s);
        return E2E_E_HANDSHAKE;
    }
    return 0;
}

void e2e_done(struct e2e *s)
{
    if (s == NULL)
        return;
    noise_hs_wipe(&s->hs);
    rec_tx_done(&s->tx);
    rec_rx_done(&s->rx);
    resume_tx_done(&s->rt);
    /* Plaintext was only ever in plain_mem (as far as that FIFO was written)
     * and scratch (wiped after each record); in_mem and out_mem hold
     * records and handshake messages as they travel. */
    sodium_memzero(s->plain_mem, bq_top(&s->plain));
    sodium_memzero(s, E2E_HEAD_LEN);
}

size_t e2e_in_space(const struct e2e *s)
{
    if (s->state == ST_DEAD || s->state == ST_SUSPENDED || s->peer_eof)
        return 0;
    return bq_space(&s->in);
}

int e2e_feed(struct e2e *s, const uint8_t *p, size_t n, size_t *consumed)
{
    size_t took = 0, room, k;
    uint8_t *dst;

    if (s == NULL || (p == NULL && n > 0))
        return E2E_E_ARG;
    if (s->state == ST_DEAD)
        return E2E_E_DEAD;
    /* Loop: processing frees input room, so one call may take a lot. */
    while (took < n && (dst = e2e_in_reserve(s, &room)) != NULL) {
        k = n - took < room ? n - took : room;
        memcpy(dst, p + took, k);
        took += k;
        (void)e2e_in_commit(s, k);
        if (s->state == ST_DEAD)
            break;
    }
    if (consumed != NULL)
        *consumed = took;
    return 0;
}

uint8_t *e2e_in_reserve(struct e2e *s, size_t *len)
{
    if (e2e_in_space(s) == 0)
        return NULL;
    return bq_reserve(&s->in, len);
}

int e2e_in_commit(struct e2e *s, size_t n)
{
    if (s->state == ST_DEAD)
        return E2E_E_DEAD;
    if (bq_commit(&s->in, n) != 0)
        return E2E_E_ARG;
    process(s);
    return 0;
}

void e2e_eof(struct e2e *s)
{
    if (s->peer_eof)
        return;
    s->peer_eof = true;
    process(s);
}

const uint8_t *e2e_out_peek(const struct e2e *s, size_t *len)
{
    return bq_peek(&s->out, len);
}

int e2e_out_consume(struct e2e *s, size_t n)
{
    if (bq_consume(&s->out, n) != 0)
        return E2E_E_ARG;
    flush_ctrl(s);
    return 0;
}

const uint8_t *e2e_plain_peek(const struct e2e *s, size_t *len)
{
    if (s->state == ST_DEAD) {
        *len = 0;
        return NULL;
    }
    return bq_peek(&s->plain, len);
}

int e2e_plain_consume(struct e2e *s, size_t n)
{
    if (s->state == ST_DEAD)
        return E2E_E_DEAD;
    if (bq_consume(&s->plain, n) != 0)
        return E2E_E_ARG;
    s->delivered += n;
    if (s->delivered >= s->acked &&
        s->delivered - s->acked >= (s->resumable ? s->peer_ack_every : E2E_ACK_EVERY))
        s->ack_due = true;
    process(s); /* room for records that waited, and maybe FINAL */
    return 0;
}

size_t e2e_send_space(const struct e2e *s)
{
    const size_t full = REC_FRAME_HDR + REC_PLAIN_MAX + REC_ABYTES;
    const size_t over = REC_FRAME_HDR + 1 + 8 + REC_ABYTES;
    size_t room = bq_space(&s->out), space;

    if (!s->tx_ready || s->tx_ended || s->final_pending || s->reset_pending || s->final_sent ||
        s->state == ST_DEAD)
        return 0;
    if (s->resumable) {
        space = resume_tx_space(&s->rt);
        if (s->state == ST_SUSPENDED || s->state == ST_RHELLO || s->awaiting_resume)
            return space; /* no leg to seal for: the replay buffer takes it, to its bound */
        /* A leg: no more than the output can seal now, as without resumption,
         * so a local read goes out in one write (docs/performance.md). */
        room = resume_tx_sealable(&s->rt, room, E2E_CTRL_RESERVE);
        return space < room ? space : room;
    }
    if (room <= E2E_CTRL_RESERVE)
        return 0;
    room -= E2E_CTRL_RESERVE;
    return (room / full) * REC_DATA_MAX + (room % full > over ? room % full - over : 0);
}

/* Resumable: the data goes into the replay buffer, the pump seals it. */
static int send_replay(struct e2e *s, const uint8_t *p, size_t n, size_t *accepted)
{
    size_t k = e2e_send_space(s);

    if (k > n)
        k = n;
    if (k > 0 && replay_append(&s->rt.rp, p, k) != 0)
        k = 0; /* no memory now: like a full buffer, the caller waits */
    flush_ctrl(s);
    if (accepted != NULL)
        *accepted = k;
    return s->state == ST_DEAD ? E2E_E_DEAD : 0;
}

int e2e_send(struct e2e *s, const uint8_t *p, size_t n, size_t *accepted)
{
    const size_t over = REC_FRAME_HDR + 1 + 8 + REC_ABYTES;
    size_t took = 0, room, k, len;
    uint8_t *dst;
    int rc;

    if (s == NULL || (p == NULL && n > 0))
        return E2E_E_ARG;
    if (s->state == ST_DEAD)
        return E2E_E_DEAD;
    if (s->tx_ended || s->final_pending || s->reset_pending || s->final_sent)
        return E2E_E_ENDED;
    if (!s->tx_ready)
        return E2E_E_AGAIN;
    if (s->resumable)
        return send_replay(s, p, n, accepted);
    while (took < n) {
        dst = bq_reserve(&s->out, &room);
        if (dst == NULL || room <= E2E_CTRL_RESERVE + over)
            break;
        k = n - took;
        if (k > REC_DATA_MAX)
            k = REC_DATA_MAX;
        if (k > room - E2E_CTRL_RESERVE - over)
            k = room - E2E_CTRL_RESERVE - over;
        rc = rec_tx_data(&s->tx, p + took, k, dst, room, &len);
        if (rc != 0) {
            fail(s, E2E_E_RECORD, rc);
            return E2E_E_DEAD;
        }
        (void)bq_commit(&s->out, len);
        took += k;
    }
    if (accepted != NULL)
        *accepted = took;
    return 0;
}

int e2e_shutdown(struct e2e *s)
{
    if (s->state == ST_DEAD)
        return E2E_E_DEAD;
    if (s->tx_ended || s->final_pending || s->reset_pending || s->final_sent)
        return E2E_E_ENDED;
    s->final_pending = true;
    flush_ctrl(s);
    return 0;
}

int e2e_reset(struct e2e *s, uint8_t reason, const char *text)
{
    size_t len = text != NULL ? strlen(text) : 0;

    if (reason < REC_RESET_LOCAL || reason > REC_RESET_SHUTDOWN)
        return E2E_E_ARG;
    if (s->state == ST_DEAD)
        return E2E_E_DEAD;
    if (s->tx_ended)
        return E2E_E_ENDED;
    if (s->state == ST_SUSPENDED || s->state == ST_RHELLO) {
        s->state = ST_DEAD; /* no leg to tell: the peer's resume timer will */
        return 0;
    }
    if (len > sizeof(s->my_text))
        len = sizeof(s->my_text);
    s->my_reason = reason;
    memcpy(s->my_text, text != NULL ? text : "", len);
    s->my_text_len = len;
    s->reset_pending = true;
    s->final_pending = false;
    s->ack_due = s->ack_lazy = false;
    /* Nothing is delivered any more; the RESET still goes out. */
    bq_consume(&s->plain, bq_len(&s->plain));
    flush_ctrl(s); /* before the handshake: goes out right after it */
    return 0;
}

int e2e_next_event(struct e2e *s, struct e2e_event *ev)
{
    static const enum e2e_event_type order[] = {E2E_EV_HANDSHAKE,  E2E_EV_RESUMED,
                                                E2E_EV_PEER_FINAL, E2E_EV_PEER_RESET,
                                                E2E_EV_LEG_FAILED, E2E_EV_ERROR};

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if ((s->events & (1u << order[i])) == 0)
            continue;
        s->events &= ~(1u << order[i]);
        memset(ev, 0, sizeof(*ev));
        ev->type = order[i];
        if (order[i] == E2E_EV_ERROR || order[i] == E2E_EV_LEG_FAILED) {
            ev->err = s->err;
            ev->detail = s->detail;
        } else if (order[i] == E2E_EV_PEER_RESET) {
            ev->reason = s->peer_reason;
            ev->text = s->peer_text;
            ev->text_len = s->peer_text_len;
        }
        return 1;
    }
    return 0;
}

bool e2e_finished(const struct e2e *s)
{
    if (!s->final_sent || bq_len(&s->out) != 0 || !s->peer_final_told || s->state != ST_OPEN)
        return false;
    /* Resumable: our FINAL acknowledged and our ACK of theirs sealed (§7.3). */
    return !s->resumable || (s->rt.peer_got_final && !s->ack_due && s->acked == s->delivered + 1 &&
                             (s->role == E2E_INITIATOR ? s->peer_finished : s->finished_sent));
}

int e2e_leg_lost(struct e2e *s)
{
    if (!s->resumable || s->state == ST_DEAD || s->state == ST_HS || e2e_finished(s)) {
        e2e_eof(s);
        return 0;
    }
    if (s->state == ST_OPEN) { /* the rx of this epoch is the one that counts */
        s->rx_recv = rec_rx_received(&s->rx);
        s->rx_acked = s->rx.acked;
    }
    /* Records not yet opened are dropped: the peer replays from rx_recv. */
    e2els_hs_stop(&s->ls); /* a session not confirmed by now is not added */
    rec_tx_done(&s->tx);
    rec_rx_done(&s->rx);
    sodium_memzero(s->recv_key, sizeof(s->recv_key));
    (void)bq_consume(&s->in, bq_len(&s->in));
    (void)bq_consume(&s->out, bq_len(&s->out));
    s->awaiting_resume = s->resuming = s->peer_eof = false;
    s->tx_ended = s->finished_sent = false; /* FINISHED goes again on the next leg */
    s->state = ST_SUSPENDED;
    return 1;
}

int e2e_resume_start(struct e2e *s, uint32_t epoch)
{
    uint8_t hello[FRAME_HDR_LEN + RESUME_HELLO_LEN];

    if (!s->resumable || s->state == ST_DEAD || epoch <= s->epoch)
        return E2E_E_RESUME;
    if (s->state != ST_SUSPENDED && e2e_leg_lost(s) != 1)
        return E2E_E_RESUME;
    s->epoch = epoch;
    randombytes_buf(s->nonce, sizeof(s->nonce));
    resume_hello_frame(s->rk, s->role, epoch, s->nonce, hello);
    (void)bq_append(&s->out, hello, sizeof(hello)); /* the output is empty */
    s->state = ST_RHELLO;
    return 0;
}
