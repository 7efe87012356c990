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
