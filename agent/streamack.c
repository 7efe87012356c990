/* SPDX-License-Identifier: MIT */
#include "streamack.h"

#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "agent/pump.h"

void streamack_out(void *owner, uint64_t offset, const uint8_t mac[E2E_ACK_MAC_LEN])
{
    struct stream *st = owner;
    struct msg_stream_ack a = {.stream_id = st->leg_id, .offset = offset};

    if (st->own == NULL || st->state != STREAM_RUNNING || st->leg_id == 0)
        return;
    memcpy(a.mac, mac, sizeof(a.mac));
    if (st->own->ops->send_stream_ack(st->own->arg, &a) == 0)
        st->env->acks[STREAMACK_SENT]++;
}

void streamack_in(struct stream_owner *own, const struct msg_stream_ack *a)
{
    struct stream *st;
    int rc;

    /* Only a running stream's leg id is current: a suspended one's may be
     * an id of an earlier relay process, which a new stream now has. */
    for (st = own->streams; st != NULL; st = st->next)
        if (st->state == STREAM_RUNNING && st->leg_id == a->stream_id && e2e_oob(st->io.e2e))
            break;
    if (st == NULL) {
        own->env->acks[STREAMACK_UNKNOWN]++;
        log_debug("link %s: STREAM_ACK for no running stream (%" PRIu64 "); ignored",
                  own->cfg->name, a->stream_id);
        return;
    }
    rc = e2e_oob_ack_in(st->io.e2e, a->offset, a->mac);
    if (rc < 0) {
        own->env->acks[STREAMACK_REFUSED]++;
        stream_log(st, LOG_LEVEL_WARN, "STREAM_ACK refused (%s): ignored", e2e_strerror(rc));
        return;
    }
    own->env->acks[STREAMACK_TAKEN]++;
    if (rc == 1)
        pump_run(&st->io); /* room in the replay buffer: local reads may go on */
}
