/* SPDX-License-Identifier: MIT */
/*
 * suite — see suite.h and docs/protocol.md §7.1.
 */
#include "suite.h"

#include <errno.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "buf.h"

static const char *const cfg_names[] = {"auto", "chacha20-poly1305", "aes-256-gcm"};

int suite_cfg_parse(const char *s, enum suite_cfg *out)
{
    if (s == NULL || out == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(cfg_names) / sizeof(cfg_names[0]); i++) {
        if (strcmp(s, cfg_names[i]) == 0) {
            *out = (enum suite_cfg)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *suite_cfg_name(enum suite_cfg c)
{
    return (unsigned)c < sizeof(cfg_names) / sizeof(cfg_names[0]) ? cfg_names[c] : "unknown";
}

const char *suite_name(enum rec_suite s)
{
    switch (s) {
    case REC_SUITE_CHACHA20_POLY1305:
        return "chacha20-poly1305";
    case REC_SUITE_AES256_GCM:
        return "aes-256-gcm";
    default:
        return "unknown";
    }
}

bool suite_cpu_aes(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;

    if (__get_cpuid(1, &a, &b, &c, &d) == 0)
        return false;
    return (c & bit_AES) != 0 && (c & bit_PCLMUL) != 0;
#elif defined(__aarch64__) && defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP);

    return (hw & HWCAP_AES) != 0 && (hw & HWCAP_PMULL) != 0;
#else
    return false;
#endif
}

unsigned suite_offer(enum suite_cfg cfg, bool cpu_aes)
{
    if (cfg == SUITE_CFG_AES || (cfg == SUITE_CFG_AUTO && cpu_aes))
        return SUITE_OFFER_ALL;
    return SUITE_OFFER_CHACHA;
}

enum rec_suite suite_choose(unsigned mine, unsigned theirs)
{
    unsigned both = mine & theirs;

    return (both & SUITE_BIT(REC_SUITE_AES256_GCM)) != 0 ? REC_SUITE_AES256_GCM
                                                         : REC_SUITE_CHACHA20_POLY1305;
}

size_t suite_hello_encode(bool resume, uint32_t ack_every, unsigned offer,
                          uint8_t out[SUITE_HELLO_MAX])
{
    size_t n = resume_offer_encode(resume, ack_every, out);

    if ((offer & SUITE_BIT(REC_SUITE_AES256_GCM)) != 0) {
        out[n++] = SUITE_ITEM_SUITES;
        out[n++] = 1;
        out[n++] = REC_SUITE_AES256_GCM;
        out[2] = (uint8_t)(out[2] + 3); /* the str8's length */
    }
    if (resume && (offer & SUITE_OFFER_STREAM_ACK) != 0) {
        out[n++] = SUITE_ITEM_STREAM_ACK;
        out[n++] = 0;
        out[2] = (uint8_t)(out[2] + 2);
    }
    if ((offer & SUITE_OFFER_LINK_SESSION) != 0) {
        out[n++] = SUITE_ITEM_LINK_SESSION;
        out[n++] = 0;
        out[2] = (uint8_t)(out[2] + 2);
    }
    if ((offer & SUITE_OFFER_KEEP_LEG) != 0) {
        out[n++] = SUITE_ITEM_KEEP_LEG;
        out[n++] = 0;
        out[2] = (uint8_t)(out[2] + 2);
    }
    if ((offer & SUITE_OFFER_SHARE_LEG) != 0) {
        out[n++] = SUITE_ITEM_SHARE_LEG;
        out[n++] = 0;
        out[2] = (uint8_t)(out[2] + 2);
    }
    return n;
}

/* The suites, stream_ack, link_session, keep_leg and share_leg items of ext; unknown items and ids
 * are skipped. */
static int ext_parse(const uint8_t *p, size_t len, unsigned *offer)
{
    struct cur c;
    uint8_t type;
    const uint8_t *v;
    size_t vlen;

    cur_init(&c, p, len);
    while (cur_remaining(&c) > 0) {
        if (cur_u8(&c, &type) != 0 || cur_str8(&c, &v, &vlen) != 0)
            return -EBADMSG;
        if (type == SUITE_ITEM_STREAM_ACK)
            *offer |= SUITE_OFFER_STREAM_ACK;
        if (type == SUITE_ITEM_LINK_SESSION)
            *offer |= SUITE_OFFER_LINK_SESSION;
        if (type == SUITE_ITEM_KEEP_LEG)
            *offer |= SUITE_OFFER_KEEP_LEG;
        if (type == SUITE_ITEM_SHARE_LEG)
            *offer |= SUITE_OFFER_SHARE_LEG;
        if (type != SUITE_ITEM_SUITES)
            continue;
        for (size_t i = 0; i < vlen; i++)
            if (v[i] == REC_SUITE_AES256_GCM)
                *offer |= SUITE_BIT(REC_SUITE_AES256_GCM);
    }
    return 0;
}

int suite_hello_check(const uint8_t *p, size_t len, bool *resume, uint32_t *ack_every,
                      unsigned *offer)
{
    unsigned o = SUITE_OFFER_CHACHA;
    uint32_t ack = 0;
    bool r = false;
    size_t skip = 0;

    /* Version, flags, the str8 running to the end, ack_every (D32). */
    if (resume_offer_check(p, len, &r, &ack) != 0)
        return -EBADMSG;
    if (r)
        skip = p[2] >= 4 ? 4 : p[2]; /* ack_every, or an older agent's content */
    if (ext_parse(p + 3 + skip, (size_t)p[2] - skip, &o) != 0)
        return -EBADMSG;
    if (!r)
        o &= ~SUITE_OFFER_STREAM_ACK; /* nothing to acknowledge without resumption */
    *resume = r;
    *ack_every = ack;
    *offer = o;
    return 0;
}
