/* SPDX-License-Identifier: MIT */
/*
 * streamowner — what a stream takes from its owner's shared state: the kept
 * static-static DH and the link sessions (D45, D46) for its e2e session,
 * the owner's tick and its clear (kept finished streams, kept legs, D48).
 * Split out of stream.c; calls nothing of it.
 */
#include "agent/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/streamfin.h"
#include "agent/streamkeep.h"

/* The static-static DH of the link's two keys for this stream's handshake:
 * computed once and kept in the owner while neither key changes (a rotation
 * or the relay's PEER_KEY changes one, which wipes the link sessions too,
 * D46); NULL (computed in the handshake, where a bad key fails) when it
 * cannot be. */
static const uint8_t *own_ss(struct stream_owner *own)
{
    const uint8_t *peer = own->has_peer_live ? own->peer_live : own->cfg->peer_pub;

    if (own->has_ss && sodium_memcmp(own->ss_pub, own->cfg->pub, KEY_LEN) == 0 &&
        sodium_memcmp(own->ss_peer, peer, KEY_LEN) == 0)
        return own->ss;
    e2els_store_clear(&own->ls);
    own->has_ss = noise_dh(own->ss, own->cfg->priv, peer) == 0;
    if (!own->has_ss)
        return NULL;
    memcpy(own->ss_pub, own->cfg->pub, KEY_LEN);
    memcpy(own->ss_peer, peer, KEY_LEN);
    return own->ss;
}

void stream_owner_tick(struct stream_owner *own, uint64_t now_ms)
{
    (void)own_ss(own); /* a key that changed wipes the link sessions now */
    e2els_store_tick(&own->ls, now_ms);
    streamkeep_tick(own, now_ms); /* and the kept legs with them (D48) */
}

void stream_owner_clear(struct stream_owner *own)
{
    streamfin_clear(own);
    streamkeep_clear(own);
}

int stream_session_init(struct stream *st, struct stream_owner *own)
{
    unsigned offer = st->env->suites;

    /* STREAM_ACK names a stream by its leg pair's id, which a shared leg's
     * streams have in common; and a channel's in-band ACKs never wait
     * behind another stream's bytes (D58). */
    if (leg_is_channel(st->io.leg))
        offer &= ~SUITE_OFFER_STREAM_ACK;
    if (st->io.e2e != NULL)
        e2e_done(st->io.e2e);
    else if ((st->io.e2e = malloc(sizeof(*st->io.e2e))) == NULL)
        return -ENOMEM;
    /* The peer's key: the one its live session uses, when the relay said
     * (PEER_KEY, D21), else the configured one. */
    e2els_store_tick(&own->ls, uv_now(st->loop));
    if (e2e_init_ls(st->io.e2e, st->role, own->cfg->priv, own->cfg->pub, own_ss(own),
                    own->has_peer_live ? own->peer_live : own->cfg->peer_pub, own->cfg->link_id,
                    st->stream_id, st->env->resume_timeout_ms != 0 ? st->env->resume_buffer : 0,
                    offer, &own->ls) != 0) {
        free(st->io.e2e);
        st->io.e2e = NULL;
        return -EINVAL;
    }
    st->io.held_total = &st->env->resume_held;
    st->io.held_cap = st->env->resume_total_cap;
    return 0;
}
