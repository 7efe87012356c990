/* SPDX-License-Identifier: MIT */
#include "advert.h"

#include <string.h>

size_t advert_addrs_msg(const struct relaycfg *cfg, struct msg *m,
                        char buf[RELAYCFG_MAX_ADDRS][ADDR_TEXT_SIZE])
{
    memset(m, 0, sizeof(*m));
    m->type = MSG_ADDRS;
    for (size_t i = 0; i < cfg->n_advertise && i < MSG_MAX_ADDRS; i++) {
        if (addr_format(&cfg->advertise[i], buf[i], ADDR_TEXT_SIZE) != 0)
            continue;
        m->u.addrs.addr[m->u.addrs.n].p = (const uint8_t *)buf[i];
        m->u.addrs.addr[m->u.addrs.n].len = strlen(buf[i]);
        m->u.addrs.n++;
    }
    return m->u.addrs.n;
}

void advert_welcome_msg(const struct relaycfg *cfg, bool peer_online, const char *version,
                        struct msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = MSG_WELCOME;
    m->u.welcome.keepalive_s = (uint16_t)(cfg->limits.keepalive_ms / 1000);
    m->u.welcome.dead_after_s = (uint16_t)(cfg->limits.dead_after_ms / 1000);
    if (m->u.welcome.keepalive_s == 0)
        m->u.welcome.keepalive_s = 1;
    if (m->u.welcome.dead_after_s == 0)
        m->u.welcome.dead_after_s = 1;
    m->u.welcome.peer_online = peer_online;
    m->u.welcome.max_streams = cfg->limits.max_streams_per_link > 65535
                                   ? 65535
                                   : (uint16_t)cfg->limits.max_streams_per_link;
    m->u.welcome.relay_version.p = (const uint8_t *)version;
    m->u.welcome.relay_version.len = strlen(version);
}
