/* SPDX-License-Identifier: MIT */
#include "redirect.h"

#include "log.h"

bool redirect_take(struct redirect *rd, const struct msg_redirect *m, const char *name)
{
    char text[MSG_MAX_ADDR + 1], shown[ADDR_TEXT_SIZE];
    size_t n = 0;

    if (rd->in_row >= REDIRECT_MAX_IN_ROW) {
        log_warnx("link %s: relay redirected again (%u in a row without coming online); not "
                  "following, back to the configured relays",
                  name, rd->in_row);
        rd->in_row = 0;
        rd->n = rd->idx = 0;
        rd->refused++;
        return false;
    }
    for (size_t i = 0; i < m->n && n < AGENTCFG_MAX_ADDRS; i++) {
        if (msg_str_cstr(&m->addr[i], text, sizeof(text)) == 0 &&
            addr_parse(text, 0, &rd->addr[n]) == 0)
            n++;
    }
    if (n == 0) {
        log_warnx("link %s: relay redirected to no usable address; not following", name);
        rd->refused++;
        return false;
    }
    if (addr_format(&rd->addr[0], shown, sizeof(shown)) != 0)
        shown[0] = '\0';
    log_info("link %s: relay redirected to the link's home (%s, %zu address(es)); following", name,
             shown, n);
    rd->n = n;
    rd->idx = 0;
    rd->in_row++;
    rd->taken = true;
    rd->followed++;
    return true;
}

const struct addr_spec *redirect_next(const struct redirect *rd)
{
    return rd->idx < rd->n ? &rd->addr[rd->idx] : NULL;
}

bool redirect_down(struct redirect *rd, bool was_online)
{
    if (rd->taken) {
        rd->taken = false;
        return true;
    }
    if (was_online || ++rd->idx >= rd->n)
        rd->n = rd->idx = 0; /* the home failed, or all its addresses: the list */
    return false;
}

void redirect_online(struct redirect *rd)
{
    rd->in_row = 0;
}
