/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the relay and agent config parsers on arbitrary text (a
 * NUL-terminated copy). Accepted relay configs must normalise to text that
 * parses back to the same normalised text; the agent normaliser must never
 * print a link's private key (in any form that key_priv_encode gives).
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentcfg.h"
#include "relaycfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_relay(const char *s)
{
    static struct relaycfg cfg, again;
    struct cfgparse_error err;
    char *t1 = NULL, *t2 = NULL;

    if (relaycfg_parse(s, &cfg, &err) != 0) {
        if (err.msg[0] == '\0')
            abort(); /* every failure says why */
        return;
    }
    if (relaycfg_format(&cfg, &t1) != 0)
        abort();
    if (relaycfg_parse(t1, &again, &err) != 0 || relaycfg_format(&again, &t2) != 0 ||
        strcmp(t1, t2) != 0)
        abort();
    free(t1);
    free(t2);
}

/* Occurrences of needle in hay (overlapping ones too). */
static size_t count_in(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void check_agent(const char *s)
{
    struct agentcfg *cfg = NULL;
    struct cfgparse_error err;
    char *t = NULL;

    if (agentcfg_parse(s, &cfg, &err) != 0) {
        if (cfg != NULL || err.msg[0] == '\0')
            abort();
        return;
    }
    if (agentcfg_format(cfg, &t) != 0)
        abort();
    for (size_t i = 0; i < cfg->n_links; i++) {
        char k[KEY_TEXT_SIZE];
        if (!cfg->links[i].has_priv)
            continue;
        key_priv_encode(cfg->links[i].priv, k);
        /* The key's own line must be gone; the input may also carry the
         * key's text in other values (a path, a name), which are echoed. */
        size_t in = count_in(s, k + KEY_PREFIX_LEN), allowed = in > 0 ? in - 1 : 0;
        if (count_in(t, k + KEY_PREFIX_LEN) > allowed || strstr(t, "<secret>") == NULL)
            abort();
        sodium_memzero(k, sizeof(k));
    }
    free(t);
    agentcfg_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char *s;

    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    check_relay(s);
    check_agent(s);
    free(s);
    return 0;
}
