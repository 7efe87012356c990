/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus of tests/fuzz/fuzz_rec.c into the directory given as
 * the only argument (committed as tests/fuzz/corpus/rec/). Deterministic: the
 * fixed key and header of rec_fuzz.h make the same bytes on every run.
 *
 *   <build>/tests/gen_rec_corpus tests/fuzz/corpus/rec
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../fuzz/rec_fuzz.h"

#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_REKEY   crypto_secretstream_xchacha20poly1305_TAG_REKEY
#define TAG_FINAL   crypto_secretstream_xchacha20poly1305_TAG_FINAL

/* One seed file being built. */
struct seed {
    uint8_t b[3 * REC_FRAME_MAX];
    size_t len;
    crypto_secretstream_xchacha20poly1305_state st;
};

static void seed_start(struct seed *s, uint8_t mode)
{
    s->b[0] = mode;
    s->len = 1;
    rec_fuzz_push_state(&s->st);
}

/* Record plaintexts. Each returns its length in p. */
static size_t pt_u64(uint8_t *p, uint8_t type, uint64_t v)
{
    p[0] = type;
    for (int i = 8; i >= 1; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return 9;
}

static size_t pt_data(uint8_t *p, uint64_t off, size_t n)
{
    pt_u64(p, REC_DATA, off);
    for (size_t i = 0; i < n; i++)
        p[9 + i] = (uint8_t)('a' + i % 26);
    return 9 + n;
}

static size_t pt_reset(uint8_t *p, uint8_t reason, const char *text)
{
    size_t n = strlen(text);
    p[0] = REC_RESET;
    p[1] = reason;
    p[2] = (uint8_t)n;
    memcpy(p + 3, text, n);
    return 3 + n;
}

/* Appends a sealed frame (modes 0/1). */
static void add_frame(struct seed *s, const uint8_t *pt, size_t n, unsigned char tag)
{
    unsigned long long blen = 0;
    crypto_secretstream_xchacha20poly1305_push(&s->st, s->b + s->len + 2, &blen, pt, n, NULL, 0,
                                               tag);
    s->b[s->len] = (uint8_t)(blen >> 8);
    s->b[s->len + 1] = (uint8_t)blen;
    s->len += 2 + (size_t)blen;
}

/* Appends an item for the harness to seal (mode 3). */
static void add_item(struct seed *s, const uint8_t *pt, size_t n, unsigned char tag)
{
    s->b[s->len] = tag;
    s->b[s->len + 1] = (uint8_t)(n >> 8);
    s->b[s->len + 2] = (uint8_t)n;
    memcpy(s->b + s->len + 3, pt, n);
    s->len += 3 + n;
}

static int seed_write(const char *dir, const char *name, const struct seed *s)
{
    char path[4096];
    FILE *f;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return -ENAMETOOLONG;
    f = fopen(path, "wb");
    if (f == NULL)
        return -errno;
    if (fwrite(s->b, 1, s->len, f) != s->len) {
        fclose(f);
        return -EIO;
    }
    return fclose(f) == 0 ? 0 : -EIO;
}

static struct seed s;
static uint8_t pt[REC_PLAIN_MAX];

static int frames_seeds(const char *dir)
{
    int rc = 0;

    for (uint8_t mode = REC_FUZZ_FRAMES; mode <= REC_FUZZ_INPLACE; mode++) {
        const char *sfx = mode == REC_FUZZ_FRAMES ? "" : "-inplace";
        char name[64];

        seed_start(&s, mode); /* DATA, ACK, FINAL */
        add_frame(&s, pt, pt_data(pt, 0, 5), TAG_MESSAGE);
        add_frame(&s, pt, pt_u64(pt, REC_ACK, 5), TAG_MESSAGE);
        add_frame(&s, pt, pt_u64(pt, REC_FINAL, 5), TAG_FINAL);
        snprintf(name, sizeof(name), "frames-basic%s", sfx);
        rc |= seed_write(dir, name, &s);

        seed_start(&s, mode); /* the largest DATA, then FINAL */
        add_frame(&s, pt, pt_data(pt, 0, REC_DATA_MAX), TAG_MESSAGE);
        add_frame(&s, pt, pt_u64(pt, REC_FINAL, REC_DATA_MAX), TAG_FINAL);
        snprintf(name, sizeof(name), "frames-max%s", sfx);
        rc |= seed_write(dir, name, &s);

        seed_start(&s, mode); /* RESET */
        add_frame(&s, pt, pt_reset(pt, REC_RESET_CONNECT_FAILED, "connection refused"), TAG_FINAL);
        snprintf(name, sizeof(name), "frames-reset%s", sfx);
        rc |= seed_write(dir, name, &s);

        seed_start(&s, mode); /* truncated: no FINAL */
        add_frame(&s, pt, pt_data(pt, 0, 1), TAG_MESSAGE);
        snprintf(name, sizeof(name), "frames-truncated%s", sfx);
        rc |= seed_write(dir, name, &s);
    }
    return rc;
}

static int plain_seeds(const char *dir)
{
    char text[REC_TEXT_MAX + 1];
    int rc = 0;

    memset(text, 't', REC_TEXT_MAX);
    text[REC_TEXT_MAX] = '\0';
    seed_start(&s, REC_FUZZ_PLAIN);
    s.len += pt_data(s.b + 1, 7, 3);
    rc |= seed_write(dir, "plain-data", &s);
    seed_start(&s, REC_FUZZ_PLAIN);
    s.len += pt_u64(s.b + 1, REC_ACK, 1000);
    rc |= seed_write(dir, "plain-ack", &s);
    seed_start(&s, REC_FUZZ_PLAIN);
    s.len += pt_u64(s.b + 1, REC_FINAL, 42);
    rc |= seed_write(dir, "plain-final", &s);
    seed_start(&s, REC_FUZZ_PLAIN);
    s.len += pt_reset(s.b + 1, REC_RESET_LOCAL, "");
    rc |= seed_write(dir, "plain-reset", &s);
    seed_start(&s, REC_FUZZ_PLAIN);
    s.len += pt_reset(s.b + 1, REC_RESET_PROTOCOL, text);
    rc |= seed_write(dir, "plain-reset-max", &s);
    seed_start(&s, REC_FUZZ_PLAIN); /* RESUME (§7.3): received, flags */
    s.len += pt_u64(s.b + 1, REC_RESUME, 77);
    s.b[s.len++] = REC_RESUME_FINAL;
    rc |= seed_write(dir, "plain-resume", &s);
    seed_start(&s, REC_FUZZ_PLAIN); /* FINISHED (§7.3): received */
    s.len += pt_u64(s.b + 1, REC_FINISHED, 78);
    rc |= seed_write(dir, "plain-finished", &s);
    return rc;
}

static int sealed_seeds(const char *dir)
{
    int rc = 0;

    /* interval 2 (m bits 2..4 = 1): the second and fourth records rekey */
    seed_start(&s, REC_FUZZ_SEALED | 1 << 2);
    add_item(&s, pt, pt_data(pt, 0, 4), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_ACK, 9), TAG_REKEY);
    add_item(&s, pt, pt_data(pt, 4, 2), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_ACK, 10), TAG_REKEY);
    add_item(&s, pt, pt_u64(pt, REC_FINAL, 6), TAG_FINAL);
    rc |= seed_write(dir, "sealed-rekey", &s);

    seed_start(&s, REC_FUZZ_SEALED | 0x20); /* in place, interval 1: every record rekeys */
    add_item(&s, pt, pt_data(pt, 0, 3), TAG_REKEY);
    add_item(&s, pt, pt_reset(pt, REC_RESET_SHUTDOWN, "bye"), TAG_FINAL);
    rc |= seed_write(dir, "sealed-reset-inplace", &s);

    seed_start(&s, REC_FUZZ_SEALED | 7 << 2); /* interval 8 */
    add_item(&s, pt, pt_data(pt, 0, 300), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_FINAL, 300), TAG_FINAL);
    rc |= seed_write(dir, "sealed-final", &s);

    /* Resumption (§7.3, rec_fuzz.h m >> 6). A resumable direction: FINAL
     * with the tag of its position, ACKs after it. */
    seed_start(&s, REC_FUZZ_SEALED | 1 << 6);
    add_item(&s, pt, pt_data(pt, 0, 20), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_FINAL, 20), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_ACK, 40), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_ACK, 41), TAG_MESSAGE);
    rc |= seed_write(dir, "sealed-resumable-final-ack", &s);

    /* The responder's end: FINAL, the ACK of ours, FINISHED (all we sent + 1). */
    seed_start(&s, REC_FUZZ_SEALED | 1 << 6);
    add_item(&s, pt, pt_data(pt, 0, 20), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_FINAL, 20), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_ACK, REC_FUZZ_SENT), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_FINISHED, REC_FUZZ_SENT), TAG_MESSAGE);
    rc |= seed_write(dir, "sealed-resumable-finished", &s);

    /* A resumed epoch: RESUME first, DATA where the last epoch stopped. */
    seed_start(&s, REC_FUZZ_SEALED | 2 << 6);
    pt[9] = 0;
    add_item(&s, pt, pt_u64(pt, REC_RESUME, 600) + 1, TAG_MESSAGE);
    add_item(&s, pt, pt_data(pt, REC_FUZZ_RESUMED_AT, 10), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_ACK, REC_FUZZ_RESUMED_ACK + 1), TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_FINAL, REC_FUZZ_RESUMED_AT + 10), TAG_MESSAGE);
    rc |= seed_write(dir, "sealed-resumed", &s);

    /* A resumed epoch after the peer's FINAL: RESUME (our FINAL received), ACKs. */
    seed_start(&s, REC_FUZZ_SEALED | 3 << 6);
    pt[9] = REC_RESUME_FINAL;
    add_item(&s, pt, pt_u64(pt, REC_RESUME, 700) + 1, TAG_MESSAGE);
    add_item(&s, pt, pt_u64(pt, REC_ACK, 701), TAG_MESSAGE);
    rc |= seed_write(dir, "sealed-resumed-after-final", &s);

    /* The same, then DATA: refused after an authentic body (REC_E_AFTER_END). */
    seed_start(&s, REC_FUZZ_SEALED | 3 << 6);
    pt[9] = 0;
    add_item(&s, pt, pt_u64(pt, REC_RESUME, 700) + 1, TAG_MESSAGE);
    add_item(&s, pt, pt_data(pt, REC_FUZZ_RESUMED_AT, 1), TAG_MESSAGE);
    rc |= seed_write(dir, "sealed-resumed-data-after-final", &s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_rec_corpus DIR\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    if (frames_seeds(argv[1]) != 0 || plain_seeds(argv[1]) != 0 || sealed_seeds(argv[1]) != 0) {
        fprintf(stderr, "gen_rec_corpus: cannot write seeds to %s\n", argv[1]);
        return 1;
    }
    return 0;
}
