/* SPDX-License-Identifier: MIT */
/*
 * relaykeys — see relaykeys.h.
 */
#include "relaykeys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

static int parse_line(char *line, struct relaykeys_entry *e)
{
    char *save = NULL, *end = NULL;
    char *old = strtok_r(line, " \t", &save);
    char *id = strtok_r(NULL, " \t", &save);
    char *pub = strtok_r(NULL, " \t", &save);
    unsigned long v;
    size_t pos = 0;

    if (old == NULL || id == NULL || pub == NULL || strtok_r(NULL, " \t", &save) != NULL)
        return -EINVAL;
    if (id[0] < '0' || id[0] > '9' || strlen(id) > 3)
        return -EINVAL;
    v = strtoul(id, &end, 10);
    if (*end != '\0' || v > 255)
        return -EINVAL;
    e->id = (uint8_t)v;
    if (key_pub_decode(old, e->old_pub, &pos) != 0 || key_pub_decode(pub, e->pub, &pos) != 0)
        return -EINVAL;
    return 0;
}

int relaykeys_parse(const char *text, struct relaykeys *out, char *err, size_t errlen)
{
    char buf[RELAYKEYS_MAX_SIZE + 1];
    struct relaykeys k;
    int lineno = 0;

    memset(&k, 0, sizeof(k));
    if (strlen(text) > RELAYKEYS_MAX_SIZE) {
        snprintf(err, errlen, "larger than %d bytes", RELAYKEYS_MAX_SIZE);
        return -EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", text);
    for (char *line = buf, *nl; line != NULL; line = nl) {
        struct relaykeys_entry e;
        char *p;
        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl++ = '\0';
        lineno++;
        p = line + strspn(line, " \t\r");
        if (*p == '\0' || *p == '#')
            continue;
        line[strcspn(line, "\r")] = '\0';
        if (parse_line(p, &e) != 0) {
            snprintf(err, errlen,
                     "line %d: expected 'lrpub1<old key> <key id 0..255> "
                     "lrpub1<new key>'",
                     lineno);
            return -EINVAL;
        }
        relaykeys_add(&k, e.old_pub, e.id, e.pub);
    }
    *out = k;
    return 0;
}

int relaykeys_read(const char *path, struct relaykeys *out, char *err, size_t errlen)
{
    char buf[RELAYKEYS_MAX_SIZE + 2];
    size_t n;
    int rc;
    FILE *f = fopen(path, "r");

    if (f == NULL && errno == ENOENT) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n > RELAYKEYS_MAX_SIZE || memchr(buf, '\0', n) != NULL) {
        snprintf(err, errlen, "%s: larger than %d bytes or not text", path, RELAYKEYS_MAX_SIZE);
        return -EINVAL;
    }
    rc = relaykeys_parse(buf, out, err, errlen);
    if (rc != 0) {
        char why[200];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "%s: %s", path, why);
    }
    return rc;
}

int relaykeys_write(const char *path, const struct relaykeys *k, const char *title)
{
    char tmp[4096], old[KEY_TEXT_SIZE], pub[KEY_TEXT_SIZE];
    FILE *f;
    int fd, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    f = fdopen(fd, "w");
    if (f == NULL) {
        rc = -errno;
        close(fd);
        unlink(tmp);
        return rc;
    }
    fprintf(f, "# %s\n", title);
    for (size_t i = 0; i < k->n; i++) {
        key_pub_encode(k->e[i].old_pub, old);
        key_pub_encode(k->e[i].pub, pub);
        fprintf(f, "%s %u %s\n", old, k->e[i].id, pub);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

void relaykeys_add(struct relaykeys *k, const uint8_t old_pub[KEY_LEN], uint8_t id,
                   const uint8_t pub[KEY_LEN])
{
    struct relaykeys_entry *e = NULL;

    for (size_t i = 0; i < k->n && e == NULL; i++) {
        if (sodium_memcmp(k->e[i].old_pub, old_pub, KEY_LEN) == 0)
            e = &k->e[i];
    }
    if (e == NULL) {
        if (k->n == RELAYKEYS_MAX) {
            memmove(&k->e[0], &k->e[1], (RELAYKEYS_MAX - 1) * sizeof(k->e[0]));
            k->n--;
        }
        e = &k->e[k->n++];
        memcpy(e->old_pub, old_pub, KEY_LEN);
    }
    e->id = id;
    memcpy(e->pub, pub, KEY_LEN);
}

void relaykeys_apply(const struct relaykeys *k, uint8_t *id, uint8_t pub[KEY_LEN])
{
    /* At most one hop per entry: a cycle in a hand-edited file ends too. */
    for (size_t hop = 0; hop < k->n; hop++) {
        const struct relaykeys_entry *e = NULL;
        for (size_t i = 0; i < k->n && e == NULL; i++) {
            if (sodium_memcmp(k->e[i].old_pub, pub, KEY_LEN) == 0)
                e = &k->e[i];
        }
        if (e == NULL || sodium_memcmp(e->pub, pub, KEY_LEN) == 0)
            return;
        *id = e->id;
        memcpy(pub, e->pub, KEY_LEN);
    }
}
