/* SPDX-License-Identifier: MIT */
/*
 * streamrevive — see streamrevive.h and docs/internals/agent.md "Resumption".
 */
#include "agent/streamrevive.h"

#include <stdlib.h>

#include "log.h"
#include "agent/stream.h"
#include "agent/streamfin.h"

bool streamrevive_answer(struct stream_owner *own, const struct msg_stream *m)
{
    uint64_t now = uv_now(own->env->loop);
    struct streamfin f;
    struct stream *st;
    uint32_t epoch;

    if (streamfin_take(own, m->resume_id, now, &f, &epoch) != 0)
        return false;
    if ((st = stream_bare(own)) == NULL) {
        e2e_fin_wipe(&f.fin);
        return true;
    }
    st->io.e2e = malloc(sizeof(*st->io.e2e));
    if (st->io.e2e == NULL || e2e_fin_restore(st->io.e2e, &f.fin) != 0) {
        free(st->io.e2e);
        st->io.e2e = NULL;
        e2e_fin_wipe(&f.fin);
        stream_close(st);
        return true;
    }
    e2e_fin_wipe(&f.fin);
    st->revived = true;
    st->fin_until_ms = f.until_ms;
    st->stream_id = f.stream_id;
    st->role = E2E_RESPONDER;
    st->keepalive_ms = own->leg_keepalive_ms;
    st->dead_ms = own->leg_dead_ms;
    st->io.local_eof = st->io.local_shut = st->io.local_shut_done = true; /* ended both ways */
    st->io.held_total = &st->env->resume_held;
    st->io.held_cap = st->env->resume_total_cap;
    st->resume_until_ms = now + STREAM_SETUP_MS; /* its leg's deadline */
    st->state = STREAM_SUSPENDED;
    own->env->resume_finished++;
    stream_log(st, LOG_LEVEL_INFO, "the peer resumes a finished stream; answering on a new leg");
    stream_on_resumed(st, m, epoch);
    return true;
}
