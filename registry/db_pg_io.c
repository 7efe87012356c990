/* SPDX-License-Identifier: MIT */
/*
 * db_pg_io — connect and collect results by a deadline (db_pg_io.h), and the
 * process-wide deadline itself (db.h db_set_deadline).
 */
#include "db.h"
#include "db_pg_io.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic uint32_t pg_deadline_ms = DB_DEADLINE_DEFAULT_MS;

void db_set_deadline(uint32_t ms)
{
    atomic_store(&pg_deadline_ms, ms > 0 ? ms : DB_DEADLINE_DEFAULT_MS);
}

uint32_t db_deadline(void)
{
    return atomic_load(&pg_deadline_ms);
}

int64_t pg_io_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the socket has one of ev (or an error or hang-up, which the
 * next libpq call reports) or the deadline passes (-ETIMEDOUT). */
static int pg_io_wait(PGconn *c, short ev, int64_t deadline, short *revents)
{
    for (;;) {
        int64_t left = deadline - pg_io_now_ms();
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        struct pollfd p = {.fd = PQsocket(c), .events = ev};
        if (p.fd < 0) {
            return -EIO;
        }
        int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0) {
            *revents = p.revents;
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

PGconn *pg_io_connect(const char *const *keys, const char *const *vals, int64_t deadline, char *err,
                      size_t errlen, int *timed_out)
{
    *timed_out = 0;
    PGconn *c = PQconnectStartParams(keys, vals, 1);
    if (c == NULL) {
        snprintf(err, errlen, "%s", "");
        return NULL;
    }
    /* libpq's rule: start as if PQconnectPoll had said WRITING. */
    PostgresPollingStatusType st =
        PQstatus(c) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        short rev;
        int r = pg_io_wait(c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, &rev);
        if (r == -ETIMEDOUT) {
            *timed_out = 1;
            snprintf(err, errlen, "no answer from the server to connect");
            PQfinish(c);
            return NULL;
        }
        st = PQconnectPoll(c);
    }
    if (st == PGRES_POLLING_FAILED || PQsetnonblocking(c, 1) != 0) {
        const char *m = PQerrorMessage(c);
        snprintf(err, errlen, "%.*s", (int)strcspn(m, "\n"), m);
        PQfinish(c);
        return NULL;
    }
    return c;
}

int pg_io_result(PGconn *c, int64_t deadline, PGresult **out)
{
    *out = NULL;
    short rev;
    int f;
    while ((f = PQflush(c)) > 0) { /* the query did not fit the socket */
        int r = pg_io_wait(c, POLLIN | POLLOUT, deadline, &rev);
        if (r < 0) {
            return r == -ETIMEDOUT ? r : 0;
        }
        if ((rev & POLLIN) && !PQconsumeInput(c)) {
            return 0;
        }
    }
    if (f < 0) {
        return 0;
    }
    PGresult *keep = NULL;
    for (;;) {
        while (PQisBusy(c)) {
            int r = pg_io_wait(c, POLLIN, deadline, &rev);
            if (r < 0 || !PQconsumeInput(c)) {
                PQclear(keep);
                return r == -ETIMEDOUT ? r : 0;
            }
        }
        PGresult *res = PQgetResult(c);
        if (res == NULL) {
            break;
        }
        ExecStatusType es = keep ? PQresultStatus(keep) : PGRES_EMPTY_QUERY;
        if (keep != NULL && es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
            PQclear(res); /* an earlier one failed: that one is the answer */
        } else {
            PQclear(keep);
            keep = res;
        }
        if (PQstatus(c) == CONNECTION_BAD) {
            break;
        }
    }
    *out = keep;
    return 0;
}
