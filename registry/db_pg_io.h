/* SPDX-License-Identifier: MIT */
/*
 * db_pg_io — libpq's asynchronous API under one deadline (D38): db_pg.c runs
 * every connect and every statement through these, on the calling (worker)
 * thread, so no call waits on the server past the deadline db_set_deadline
 * set. None of these blocks in libpq: the connection is non-blocking and the
 * waits are poll() on PQsocket with the time left.
 */
#ifndef LR_DB_PG_IO_H
#define LR_DB_PG_IO_H

#include <libpq-fe.h>
#include <stdint.h>

/* The monotonic clock in milliseconds. */
int64_t pg_io_now_ms(void);

/* Connects with keys/vals (PQconnectStartParams, expand_dbname) by the
 * deadline (a pg_io_now_ms time). Returns the connection, non-blocking, or
 * NULL with the reason in err ("" out of memory); *timed_out is set when the
 * deadline passed. */
PGconn *pg_io_connect(const char *const *keys, const char *const *vals, int64_t deadline, char *err,
                      size_t errlen, int *timed_out);

/* Sends what the caller queued (PQsendQuery...) and collects the results by
 * the deadline, as PQexec does: the first failed result, else the last one.
 * Returns 0 with *out (NULL when the connection failed: PQerrorMessage says
 * why), or -ETIMEDOUT with *out NULL: the connection is then unusable (a
 * query is still pending on it) and the caller must PQfinish it. */
int pg_io_result(PGconn *c, int64_t deadline, PGresult **out);

#endif
