/* SPDX-License-Identifier: MIT */
/*
 * relaykey — the relay's static key file. See relaykey.h.
 */
#include "relaykey.h"

#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RELAYKEY_FILE_MAX 4096 /* bytes; a real file is ~150 */

__attribute__((format(printf, 4, 5))) static int fail(char *errbuf, size_t errlen, int r,
                                                      const char *fmt, ...)
{
    if (errbuf != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* Parses "0".."255" without sign or leading zeros. */
static int parse_id(const char *s, uint8_t *out)
{
    unsigned v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 3 || (n > 1 && s[0] == '0')) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 255) {
        return -EINVAL;
    }
    *out = (uint8_t)v;
    return 0;
}

/* Parses one "current|next ID lrkey1..." line into k. */
/* The overlap's end: decimal ms since the epoch, 1..2^53. */
static int parse_until(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (*s == '\0' || strlen(s) > 16) {
        return -EINVAL;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -EINVAL;
        }
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > (INT64_C(1) << 53)) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_line(char *line, int lineno, struct relaykey *k, int *seen_current,
                      const char *path, char *errbuf, size_t errlen)
{
    char *save = NULL;
    char *word = strtok_r(line, " \t", &save);
    char *idtext = strtok_r(NULL, " \t", &save);
    char *keytext = strtok_r(NULL, " \t", &save);
    char *until = strtok_r(NULL, " \t", &save), *untiltext = strtok_r(NULL, " \t", &save);
    struct relaykey_entry *e;
    if (word == NULL || idtext == NULL || keytext == NULL ||
        (until != NULL && (strcmp(word, "next") != 0 || strcmp(until, "until") != 0 ||
                           untiltext == NULL || strtok_r(NULL, " \t", &save) != NULL))) {
        return fail(errbuf, errlen, -EINVAL,
                    "%s: line %d: expected 'current <key id> lrkey1...' or 'next <key id> "
                    "lrkey1... [until <ms>]'",
                    path, lineno);
    }
    if (untiltext != NULL && parse_until(untiltext, &k->next_until_ms) != 0) {
        return fail(errbuf, errlen, -EINVAL,
                    "%s: line %d: until: milliseconds since the epoch, 1..2^53", path, lineno);
    }
    if (strcmp(word, "current") == 0) {
        if (*seen_current) {
            return fail(errbuf, errlen, -EINVAL, "%s: line %d: second 'current' key", path, lineno);
        }
        e = &k->current;
        *seen_current = 1;
    } else if (strcmp(word, "next") == 0) {
        if (k->has_next) {
            return fail(errbuf, errlen, -EINVAL, "%s: line %d: second 'next' key", path, lineno);
        }
        e = &k->next;
        k->has_next = 1;
    } else {
        return fail(errbuf, errlen, -EINVAL, "%s: line %d: unknown entry '%s'", path, lineno, word);
    }
    if (parse_id(idtext, &e->id) != 0) {
        return fail(errbuf, errlen, -EINVAL, "%s: line %d: key id must be 0..255", path, lineno);
    }
    size_t pos = 0;
    int r = key_priv_decode(keytext, e->priv, &pos);
    if (r != 0) {
        char why[96];
        key_format_error(r, pos, why, sizeof(why));
        return fail(errbuf, errlen, -EINVAL, "%s: line %d: private key: %s", path, lineno, why);
    }
    if (key_pub_from_priv(e->priv, e->pub) != 0) {
        return fail(errbuf, errlen, -EINVAL, "%s: line %d: unusable private key", path, lineno);
    }
    return 0;
}

static int parse_text(char *text, struct relaykey *k, const char *path, char *errbuf, size_t errlen)
{
    int seen_current = 0, lineno = 0, r = 0;
    memset(k, 0, sizeof(*k));
    /* Split by hand so empty lines still count for the line numbers. */
    for (char *line = text; line != NULL && r == 0;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        lineno++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r') {
            line[len - 1] = '\0';
        }
        char *p = line + strspn(line, " \t");
        if (*p != '\0' && *p != '#') {
            r = parse_line(p, lineno, k, &seen_current, path, errbuf, errlen);
        }
        line = nl ? nl + 1 : NULL;
    }
    if (r == 0 && !seen_current) {
        r = fail(errbuf, errlen, -EINVAL, "%s: no 'current' key", path);
    }
    if (r == 0 && k->has_next && k->next.id == k->current.id) {
        r = fail(errbuf, errlen, -EINVAL, "%s: current and next key have the same id %u", path,
                 k->current.id);
    }
    if (r < 0) {
        relaykey_wipe(k);
    }
    return r;
}

int relaykey_load(const char *path, struct relaykey *out, char *errbuf, size_t errlen)
{
    struct stat sb;
    char buf[RELAYKEY_FILE_MAX + 1];
    struct relaykey k;
    ssize_t n;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        return fail(errbuf, errlen, -e, "relay key file %s: %s", path, strerror(e));
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(errbuf, errlen, -EINVAL, "relay key file %s: not a regular file", path);
    }
    if (sb.st_mode & 077) {
        close(fd);
        return fail(errbuf, errlen, -EPERM,
                    "relay key file %s has mode %04o: group and others must have no access "
                    "(chmod 600 it)",
                    path, (unsigned)(sb.st_mode & 07777));
    }
    while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            close(fd);
            sodium_memzero(buf, sizeof(buf));
            return fail(errbuf, errlen, -e, "relay key file %s: %s", path, strerror(e));
        }
        len += (size_t)n;
    }
    close(fd);
    if (len > RELAYKEY_FILE_MAX) {
        sodium_memzero(buf, sizeof(buf));
        return fail(errbuf, errlen, -EINVAL, "relay key file %s: larger than %d bytes", path,
                    RELAYKEY_FILE_MAX);
    }
    buf[len] = '\0';
    int r = parse_text(buf, &k, path, errbuf, errlen);
    sodium_memzero(buf, sizeof(buf));
    if (r == 0) {
        *out = k;
        relaykey_wipe(&k);
    }
    return r;
}

/* Writes the text of k to fd; returns 0 or -errno. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int format_text(const struct relaykey *k, char *out, size_t cap)
{
    char cur[KEY_TEXT_SIZE], nxt[KEY_TEXT_SIZE];
    int n;
    key_priv_encode(k->current.priv, cur);
    if (k->has_next && k->next_until_ms > 0) {
        key_priv_encode(k->next.priv, nxt);
        n = snprintf(out, cap,
                     "# linkrelay relay key file: secret, keep it mode 0600\n"
                     "current %u %s\nnext %u %s until %lld\n",
                     k->current.id, cur, k->next.id, nxt, (long long)k->next_until_ms);
    } else if (k->has_next) {
        key_priv_encode(k->next.priv, nxt);
        n = snprintf(out, cap,
                     "# linkrelay relay key file: secret, keep it mode 0600\n"
                     "current %u %s\nnext %u %s\n",
                     k->current.id, cur, k->next.id, nxt);
    } else {
        n = snprintf(out, cap,
                     "# linkrelay relay key file: secret, keep it mode 0600\ncurrent %u %s\n",
                     k->current.id, cur);
    }
    sodium_memzero(cur, sizeof(cur));
    sodium_memzero(nxt, sizeof(nxt));
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static void fsync_dir(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Writes k into a fresh temp file next to path (0600, fsynced); the temp
 * name goes to tmp. */
static int write_temp(const char *path, const struct relaykey *k, char *tmp, size_t tmpcap)
{
    char text[512];
    int n = format_text(k, text, sizeof(text));
    if (n < 0) {
        return n;
    }
    if ((size_t)snprintf(tmp, tmpcap, "%s.tmp.XXXXXX", path) >= tmpcap) {
        sodium_memzero(text, sizeof(text));
        return -ENAMETOOLONG;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        sodium_memzero(text, sizeof(text));
        return -errno;
    }
    int r = fchmod(fd, 0600) == 0 ? 0 : -errno;
    if (r == 0) {
        r = write_all(fd, text, (size_t)n);
    }
    if (r == 0 && fsync(fd) != 0) {
        r = -errno;
    }
    sodium_memzero(text, sizeof(text));
    if (close(fd) != 0 && r == 0) {
        r = -errno;
    }
    if (r < 0) {
        unlink(tmp);
    }
    return r;
}

/* Atomically puts k at path: link() when the file must not exist yet
 * (fails with -EEXIST), rename() when it may be replaced. */
static int install(const char *path, const struct relaykey *k, int replace, char *errbuf,
                   size_t errlen)
{
    char tmp[4096];
    int r = write_temp(path, k, tmp, sizeof(tmp));
    if (r < 0) {
        return fail(errbuf, errlen, r, "relay key file %s: cannot write: %s", path, strerror(-r));
    }
    if (replace) {
        r = rename(tmp, path) == 0 ? 0 : -errno;
    } else {
        r = link(tmp, path) == 0 ? 0 : -errno;
        unlink(tmp);
    }
    if (r < 0) {
        if (replace) {
            unlink(tmp);
        }
        return fail(errbuf, errlen, r, "relay key file %s: %s", path, strerror(-r));
    }
    fsync_dir(path);
    return 0;
}

int relaykey_create(const char *path, struct relaykey *out, char *errbuf, size_t errlen)
{
    struct relaykey k;
    memset(&k, 0, sizeof(k));
    k.current.id = RELAYKEY_DEFAULT_ID;
    key_keypair_new(k.current.priv, k.current.pub);
    int r = install(path, &k, 0, errbuf, errlen);
    if (r == 0) {
        *out = k;
    }
    relaykey_wipe(&k);
    return r;
}

int relaykey_save(const char *path, const struct relaykey *k, char *errbuf, size_t errlen)
{
    if (k->has_next && k->next.id == k->current.id) {
        return fail(errbuf, errlen, -EINVAL, "current and next key have the same id %u",
                    k->current.id);
    }
    return install(path, k, 1, errbuf, errlen);
}

int relaykey_load_or_create(const char *path, struct relaykey *out, int *created, char *errbuf,
                            size_t errlen)
{
    int r = relaykey_load(path, out, errbuf, errlen);
    if (r != -ENOENT) {
        if (r == 0 && created != NULL) {
            *created = 0;
        }
        return r;
    }
    r = relaykey_create(path, out, errbuf, errlen);
    if (r == 0) {
        if (created != NULL) {
            *created = 1;
        }
        return 0;
    }
    if (r == -EEXIST) {
        /* Another process created it between our load and create. */
        r = relaykey_load(path, out, errbuf, errlen);
        if (r == 0 && created != NULL) {
            *created = 0;
        }
    }
    return r;
}

int relaykey_settle(struct relaykey *k, int64_t now_ms)
{
    if (!k->has_next || k->next_until_ms <= 0 || now_ms < k->next_until_ms) {
        return 0;
    }
    k->current = k->next;
    sodium_memzero(&k->next, sizeof(k->next));
    k->has_next = 0;
    k->next_until_ms = 0;
    return 1;
}

const struct relaykey_entry *relaykey_by_id(const struct relaykey *k, uint8_t id)
{
    if (k->current.id == id) {
        return &k->current;
    }
    if (k->has_next && k->next.id == id) {
        return &k->next;
    }
    return NULL;
}

void relaykey_wipe(struct relaykey *k)
{
    if (k != NULL) {
        sodium_memzero(k, sizeof(*k));
    }
}
