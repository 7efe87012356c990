/* SPDX-License-Identifier: MIT */
/*
 * db_pg — the layer's PostgreSQL backend (db.h) on libpq, called from a
 * worker thread (D33). Every connect and statement goes through libpq's
 * asynchronous API under one deadline per call (db_pg_io.h, D38): a server
 * that does not answer in time costs the call -EIO and the connection,
 * which is made again at a later call. A statement keeps its SQL with ?N
 * turned into $N and runs (PQsendQueryParams) at the first step: parameters
 * typed and in binary (int8, bytea; text as text), results in text format
 * (one parser for every column type: integers with strtoll, bytea from its
 * hex form). Writers take one transaction advisory lock, so they run one at
 * a time as SQLite's do.
 * The schema version and the change counter live in the one-row table
 * lr_meta; statement triggers on the tracked tables bump the counter.
 */
#include "db.h"
#include "db_int.h"
#include "db_pg_io.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs of PostgreSQL's built-in types (catalog/pg_type.dat). */
#define PG_BYTEA 17
#define PG_INT8  20
#define PG_TEXT  25

/* The key of the transaction advisory lock every writer takes ("lrwr"). */
#define PG_WRITE_LOCK 0x6c727772

/* The longest a connect may take, deadline or not (libpq's connect_timeout
 * is given too, in seconds, for what libpq checks itself). */
#define PG_CONNECT_MS 5000

/* How much longer than the server's statement_timeout (db_deadline()) the
 * client waits for an answer before it gives the connection up. */
#define PG_SLACK_MS 1000

struct pg_db {
    struct db base;
    PGconn *c;    /* NULL after a deadline passed, until the next connect */
    char *target; /* the URL, to connect again */
    int64_t changes;
    bool tx;            /* between a BEGIN and its COMMIT/ROLLBACK */
    int64_t hold_until; /* no new connect before (pg_io_now_ms) */
};

/* The parameters as PQsendQueryParams takes them: parallel arrays of n. */
struct pg_params {
    const char **vals;
    int *lens;
    int *fmts; /* 0 text, 1 binary */
    Oid *types;
    uint64_t *be; /* int8 values in network order, pointed at by vals */
};

struct pg_stmt {
    struct db_stmt base;
    char *sql;
    int n;
    struct pg_params p;
    PGresult *res;
    int row; /* the current row; -1 before the first step */
};

static PGconn *pg_c(struct db *db)
{
    return ((struct pg_db *)db)->c;
}

static struct pg_stmt *pg_st(struct db_stmt *s)
{
    return (struct pg_stmt *)s;
}

/* Maps a failed result (or a connection failure, res NULL) to an errno. */
static int pg_fail(struct db *db, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL) {
        msg = pg_c(db) != NULL ? PQerrorMessage(pg_c(db)) : "no connection";
    }
    db_seterr(db, "%.*s", (int)strcspn(msg, "\n"), msg);
    if (state == NULL) {
        return -EIO; /* no answer from the server: the connection */
    }
    if (strcmp(state, "23505") == 0) {
        return -EEXIST; /* unique_violation */
    }
    if (strncmp(state, "23", 2) == 0) {
        return -EINVAL; /* check, not null, foreign key */
    }
    if (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strcmp(state, "57014") == 0) {
        return -EBUSY; /* lock timeout, serialization, deadlock, cancelled */
    }
    if (strcmp(state, "53200") == 0) {
        return -ENOMEM;
    }
    return -EIO;
}

static int pg_connect(struct pg_db *d, int64_t deadline);

/* A lost connection is made again before the next statement, outside a
 * transaction only (the transaction's work is gone with it: the calls fail
 * until its COMMIT or ROLLBACK), and not before hold_until after a server
 * that did not answer. */
static int pg_ready(struct db *db, int64_t deadline)
{
    struct pg_db *d = (struct pg_db *)db;
    if (d->c != NULL && PQstatus(d->c) == CONNECTION_OK) {
        return 0;
    }
    if (d->tx) {
        db_seterr(db, "the connection was lost in a transaction");
        return -EIO;
    }
    int64_t now = pg_io_now_ms();
    if (now < d->hold_until) {
        /* one text for every call until then: callers log each text once */
        db_seterr(db, "no answer from the server within %u ms; not tried again yet",
                  db_deadline() + PG_SLACK_MS);
        return -EIO;
    }
    PQfinish(d->c);
    d->c = NULL;
    return pg_connect(d, deadline);
}

/* What send (a PQsend... call's result, on d->c) queued, answered by the
 * deadline: 0 with *res (NULL when the connection failed, pg_fail says
 * why), or -EIO when the deadline passed: the connection is closed (a
 * query is pending on it) and no connect is tried for one deadline more. */
static int pg_wait(struct db *db, int sent, int64_t deadline, PGresult **res)
{
    struct pg_db *d = (struct pg_db *)db;
    *res = NULL;
    if (!sent) {
        return 0;
    }
    if (pg_io_result(d->c, deadline, res) == -ETIMEDOUT) {
        PQfinish(d->c);
        d->c = NULL;
        d->hold_until = pg_io_now_ms() + db_deadline();
        db_seterr(db, "no answer from the server within %u ms: connection closed",
                  db_deadline() + PG_SLACK_MS);
        return -EIO;
    }
    return 0;
}

/* A call's deadline: the server's statement_timeout and a slack for its
 * answer to arrive. */
static int64_t pg_deadline_from_now(void)
{
    return pg_io_now_ms() + db_deadline() + PG_SLACK_MS;
}

static void pg_close(struct db *db)
{
    struct pg_db *d = (struct pg_db *)db;
    PQfinish(d->c);
    free(d->target);
    free(d);
}

/* SQLite's ?N (and bare ?) become $N, outside string literals. Returns
 * the highest parameter number in *n. */
static char *pg_sql(const char *sql, int *n)
{
    size_t len = strlen(sql);
    char *out = malloc(len + 1 + len * 3); /* a bare ? may become $NNNN */
    size_t o = 0;
    int next = 1, max = 0;
    bool quoted = false;
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = sql[i];
        if (ch == '\'') {
            quoted = !quoted;
        }
        if (ch != '?' || quoted) {
            out[o++] = ch;
            continue;
        }
        out[o++] = '$';
        if (sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            int v = 0;
            while (sql[i + 1] >= '0' && sql[i + 1] <= '9') {
                v = v * 10 + (sql[i + 1] - '0');
                out[o++] = sql[++i];
            }
            max = v > max ? v : max;
        } else {
            o += (size_t)snprintf(out + o, 8, "%d", next);
            max = next > max ? next : max;
            next++;
        }
    }
    out[o] = '\0';
    *n = max;
    return out;
}

static void pg_params_free(struct pg_params *p)
{
    free(p->vals);
    free(p->lens);
    free(p->fmts);
    free(p->types);
    free(p->be);
}

static int pg_params_alloc(struct pg_params *p, int n)
{
    size_t k = n > 0 ? (size_t)n : 1;
    p->vals = calloc(k, sizeof(*p->vals));
    p->lens = calloc(k, sizeof(*p->lens));
    p->fmts = calloc(k, sizeof(*p->fmts));
    p->types = calloc(k, sizeof(*p->types));
    p->be = calloc(k, sizeof(*p->be));
    if (!p->vals || !p->lens || !p->fmts || !p->types || !p->be) {
        pg_params_free(p);
        return -ENOMEM;
    }
    return 0;
}

static int pg_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
    struct pg_stmt *st = calloc(1, sizeof(*st));
    if (st != NULL) {
        st->sql = pg_sql(sql, &st->n);
    }
    if (st == NULL || st->sql == NULL || pg_params_alloc(&st->p, st->n) < 0) {
        if (st != NULL) {
            free(st->sql);
        }
        free(st);
        db_seterr(db, "out of memory");
        return -ENOMEM;
    }
    st->base.db = db;
    st->row = -1;
    *out = &st->base;
    return 0;
}

static void pg_reset(struct db_stmt *s)
{
    struct pg_stmt *st = pg_st(s);
    PQclear(st->res);
    st->res = NULL;
    st->row = -1;
}

static void pg_clear_bindings(struct db_stmt *s)
{
    struct pg_stmt *st = pg_st(s);
    for (int i = 0; i < st->n; i++) {
        st->p.vals[i] = NULL;
        st->p.lens[i] = st->p.fmts[i] = 0;
        st->p.types[i] = 0;
    }
}

static void pg_finalize(struct db_stmt *s)
{
    struct pg_stmt *st = pg_st(s);
    PQclear(st->res);
    pg_params_free(&st->p);
    free(st->sql);
    free(st);
}

static int pg_param_count(const struct db_stmt *s)
{
    return ((const struct pg_stmt *)s)->n;
}

/* Sets parameter idx (1-based); val NULL binds NULL. */
static int pg_set(struct db_stmt *s, int idx, const char *val, int len, int fmt, Oid type)
{
    struct pg_stmt *st = pg_st(s);
    if (idx < 1 || idx > st->n) {
        db_seterr(s->db, "bind: no parameter ?%d", idx);
        return -EINVAL;
    }
    st->p.vals[idx - 1] = val;
    st->p.lens[idx - 1] = len;
    st->p.fmts[idx - 1] = fmt;
    st->p.types[idx - 1] = type;
    return 0;
}

static int pg_bind_int64(struct db_stmt *s, int idx, int64_t v)
{
    struct pg_stmt *st = pg_st(s);
    if (idx >= 1 && idx <= st->n) {
        st->p.be[idx - 1] = htobe64((uint64_t)v);
    }
    return pg_set(s, idx, idx >= 1 && idx <= st->n ? (const char *)&st->p.be[idx - 1] : NULL, 8, 1,
                  PG_INT8);
}

static int pg_bind_blob(struct db_stmt *s, int idx, const void *ptr, size_t n)
{
    if (n > INT32_MAX) {
        db_seterr(s->db, "bind: blob of %zu bytes", n);
        return -EINVAL;
    }
    /* NULL binds a NULL bytea; an empty blob is not NULL: any non-NULL
     * pointer with length 0. */
    return pg_set(s, idx, ptr == NULL ? NULL : n > 0 ? ptr : "", (int)n, 1, PG_BYTEA);
}

static int pg_bind_text(struct db_stmt *s, int idx, const char *t)
{
    return pg_set(s, idx, t, 0, 0, PG_TEXT);
}

static int pg_bind_null(struct db_stmt *s, int idx)
{
    return pg_set(s, idx, NULL, 0, 0, 0);
}

static int pg_run(struct db_stmt *s)
{
    struct pg_stmt *st = pg_st(s);
    struct pg_db *d = (struct pg_db *)s->db;
    int64_t deadline = pg_deadline_from_now();
    int r = pg_ready(s->db, deadline);
    if (r < 0) {
        return r;
    }
    r = pg_wait(
        s->db,
        PQsendQueryParams(d->c, st->sql, st->n, st->p.types, st->p.vals, st->p.lens, st->p.fmts, 0),
        deadline, &st->res);
    if (r < 0) {
        return r;
    }
    ExecStatusType es = PQresultStatus(st->res);
    if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK) {
        r = pg_fail(s->db, st->res);
        PQclear(st->res);
        st->res = NULL;
        return r;
    }
    const char *ct = PQcmdTuples(st->res);
    if (ct[0] != '\0') {
        d->changes = strtoll(ct, NULL, 10);
    }
    st->row = 0;
    return 0;
}

static int pg_step(struct db_stmt *s)
{
    struct pg_stmt *st = pg_st(s);
    if (st->res == NULL) {
        int r = pg_run(s);
        if (r < 0) {
            return r;
        }
    } else {
        st->row++;
    }
    return st->row < PQntuples(st->res) ? DB_ROW : DB_DONE;
}

/* The current row's value of col, NULL for NULL or no such row/column. */
static const char *pg_val(struct db_stmt *s, int col)
{
    struct pg_stmt *st = pg_st(s);
    if (st->res == NULL || st->row < 0 || st->row >= PQntuples(st->res) || col < 0 ||
        col >= PQnfields(st->res) || PQgetisnull(st->res, st->row, col)) {
        return NULL;
    }
    return PQgetvalue(st->res, st->row, col);
}

static bool pg_col_null(struct db_stmt *s, int col)
{
    return pg_val(s, col) == NULL;
}

static int64_t pg_col_int64(struct db_stmt *s, int col)
{
    const char *v = pg_val(s, col);
    if (v == NULL) {
        return 0;
    }
    if (v[0] == 't' || v[0] == 'f') {
        return v[0] == 't'; /* a boolean */
    }
    return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct db_stmt *s, int col)
{
    return pg_val(s, col);
}

static bool pg_is_bytea(struct db_stmt *s, int col)
{
    return PQftype(pg_st(s)->res, col) == PG_BYTEA;
}

static size_t pg_col_bytes(struct db_stmt *s, int col)
{
    const char *v = pg_val(s, col);
    if (v == NULL) {
        return 0;
    }
    size_t n = strlen(v);
    /* bytea_output = hex (set at connect): "\x" and two digits a byte */
    return pg_is_bytea(s, col) && n >= 2 ? (n - 2) / 2 : n;
}

static int pg_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool pg_col_blob(struct db_stmt *s, int col, void *dst, size_t len)
{
    const char *v = pg_val(s, col);
    uint8_t *d = dst;
    if (v != NULL && pg_is_bytea(s, col) && v[0] == '\\' && v[1] == 'x' &&
        strlen(v) == 2 + 2 * len) {
        size_t i;
        for (i = 0; i < len; i++) {
            int hi = pg_hexval(v[2 + 2 * i]), lo = pg_hexval(v[3 + 2 * i]);
            if (hi < 0 || lo < 0) {
                break;
            }
            d[i] = (uint8_t)(hi << 4 | lo);
        }
        if (i == len) {
            return true;
        }
    }
    memset(dst, 0, len);
    return false;
}

static int64_t pg_changes(struct db *db)
{
    return ((struct pg_db *)db)->changes;
}

static int pg_exec(struct db *db, const char *sql)
{
    int64_t deadline = pg_deadline_from_now();
    int r = pg_ready(db, deadline);
    PGresult *res;
    if (r == 0) {
        r = pg_wait(db, PQsendQuery(pg_c(db), sql), deadline, &res);
    }
    if (r < 0) {
        return r;
    }
    ExecStatusType es = PQresultStatus(res);
    r = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK ? 0 : pg_fail(db, res);
    PQclear(res);
    return r;
}

static int pg_begin(struct db *db)
{
    int r = pg_exec(db, "BEGIN");
    ((struct pg_db *)db)->tx = r == 0;
    if (r == 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d)", PG_WRITE_LOCK);
        r = pg_exec(db, sql);
        if (r < 0) {
            char saved[DB_ERR_MAX];
            memcpy(saved, db->err, sizeof(saved));
            (void)db->ops->rollback(db);
            memcpy(db->err, saved, sizeof(saved));
        }
    }
    return r;
}

static int pg_commit(struct db *db)
{
    int r = pg_exec(db, "COMMIT");
    ((struct pg_db *)db)->tx = false;
    return r;
}

/* With the connection gone, so is the transaction: the server rolled it
 * back when the connection closed. */
static int pg_rollback(struct db *db)
{
    struct pg_db *d = (struct pg_db *)db;
    int r = d->c != NULL && PQstatus(d->c) == CONNECTION_OK ? pg_exec(db, "ROLLBACK") : 0;
    d->tx = false;
    return r;
}

static bool pg_in_tx(struct db *db)
{
    return ((struct pg_db *)db)->tx;
}

/* One integer from a query of one row and column. */
static int pg_int(struct db *db, const char *sql, int64_t *out)
{
    int64_t deadline = pg_deadline_from_now();
    int r = pg_ready(db, deadline);
    PGresult *res;
    if (r == 0) {
        r = pg_wait(db, PQsendQuery(pg_c(db), sql), deadline, &res);
    }
    if (r < 0) {
        return r;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        r = pg_fail(db, res);
    } else if (PQntuples(res) != 1 || PQnfields(res) != 1) {
        db_seterr(db, "%s: not one value", sql);
        r = -EIO;
    } else {
        *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    return r;
}

static int pg_schema_version(struct db *db, int64_t *out)
{
    int64_t has;
    int r = pg_int(db, "SELECT count(*) FROM pg_class WHERE oid = to_regclass('lr_meta')", &has);
    if (r == 0 && has == 0) {
        *out = 0;
        return 0;
    }
    return r < 0 ? r : pg_int(db, "SELECT schema_version FROM lr_meta", out);
}

#define PG_META                                                                                    \
    "CREATE TABLE IF NOT EXISTS lr_meta (one BIGINT PRIMARY KEY DEFAULT 1 CHECK (one = 1), "       \
    "schema_version BIGINT NOT NULL DEFAULT 0, data_version BIGINT NOT NULL DEFAULT 0);"           \
    "INSERT INTO lr_meta DEFAULT VALUES ON CONFLICT DO NOTHING;"

static int pg_set_schema_version(struct db *db, int64_t v)
{
    char sql[512];
    snprintf(sql, sizeof(sql), PG_META "UPDATE lr_meta SET schema_version = %" PRId64, v);
    return pg_exec(db, sql);
}

static int pg_track_changes(struct db *db, const char *const *tables)
{
    int r = pg_exec(db, PG_META "CREATE OR REPLACE FUNCTION lr_bump() RETURNS trigger "
                                "LANGUAGE plpgsql AS $$ BEGIN "
                                "UPDATE lr_meta SET data_version = data_version + 1; "
                                "RETURN NULL; END $$");
    for (size_t i = 0; r == 0 && tables[i] != NULL; i++) {
        char sql[512];
        int n = snprintf(sql, sizeof(sql),
                         "CREATE OR REPLACE TRIGGER lr_bump_%s AFTER INSERT OR UPDATE OR DELETE "
                         "OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION lr_bump()",
                         tables[i], tables[i]);
        if (n < 0 || (size_t)n >= sizeof(sql)) {
            db_seterr(db, "table name too long: %s", tables[i]);
            return -EINVAL;
        }
        r = pg_exec(db, sql);
    }
    return r;
}

static int pg_data_version(struct db *db, int64_t *out)
{
    return pg_int(db, "SELECT data_version FROM lr_meta", out);
}

static const struct db_ops pg_ops = {
    .close = pg_close,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .clear_bindings = pg_clear_bindings,
    .param_count = pg_param_count,
    .bind_int64 = pg_bind_int64,
    .bind_blob = pg_bind_blob,
    .bind_text = pg_bind_text,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_null = pg_col_null,
    .col_int64 = pg_col_int64,
    .col_text = pg_col_text,
    .col_bytes = pg_col_bytes,
    .col_blob = pg_col_blob,
    .changes = pg_changes,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_tx = pg_in_tx,
    .schema_version = pg_schema_version,
    .set_schema_version = pg_set_schema_version,
    .track_changes = pg_track_changes,
    .data_version = pg_data_version,
};

/* The session settings every connection gets, in the startup packet
 * (libpq's "options"), so a connection made again has them too: lock
 * waits bounded as SQLite's busy timeout, a statement bounded by the
 * deadline (%u: db_deadline() at connect; a slow server that answers ends
 * its statement itself, keeping the connection, before the client gives up
 * PG_SLACK_MS later, D38), bytea in hex, no notices on stderr. */
#define PG_OPTIONS                                                                                 \
    "-c lock_timeout=5000 -c statement_timeout=%u -c bytea_output=hex "                            \
    "-c client_min_messages=warning"

static void pg_no_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Connects d to d->target by the deadline (and PG_CONNECT_MS). On failure
 * d->c is NULL and the reason in d's error; after no answer in time, no
 * connect is tried for one deadline more. */
static int pg_connect(struct pg_db *d, int64_t deadline)
{
    /* dbname first with expand_dbname: the URL; the keywords after it win
     * over the URL's: a 5 s bound on connecting, our name, the session
     * settings, and over TCP a dead peer noticed within about 10 s, idle
     * (keepalives after 5 s, 3 probes 2 s apart) or with data unacknowledged
     * (tcp_user_timeout 10 s); both are ignored on a Unix socket (D38). */
    const char *const keys[] = {"dbname",
                                "connect_timeout",
                                "application_name",
                                "options",
                                "keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "tcp_user_timeout",
                                NULL};
    char options[160];
    snprintf(options, sizeof(options), PG_OPTIONS, db_deadline());
    const char *const vals[] = {d->target, "5", "linkrelay", options, "1",
                                "5",       "2", "3",         "10000", NULL};
    int64_t cap = pg_io_now_ms() + PG_CONNECT_MS;
    int timed_out;
    char why[DB_ERR_MAX];
    d->c = pg_io_connect(keys, vals, deadline < cap ? deadline : cap, why, sizeof(why), &timed_out);
    if (d->c == NULL) {
        if (timed_out) {
            /* the bound, not the time measured: one text each time */
            uint32_t ms = db_deadline() + PG_SLACK_MS;
            d->hold_until = pg_io_now_ms() + db_deadline();
            db_seterr(&d->base, "%s within %u ms", why, ms < PG_CONNECT_MS ? ms : PG_CONNECT_MS);
        } else {
            db_seterr(&d->base, "%s", why[0] != '\0' ? why : "out of memory");
        }
        return timed_out ? -EIO : why[0] != '\0' ? -EIO : -ENOMEM;
    }
    PQsetNoticeProcessor(d->c, pg_no_notice, NULL);
    return 0;
}

int db_pg_open(const char *conninfo, struct db **out, char *errbuf, size_t errlen)
{
    struct pg_db *d = calloc(1, sizeof(*d));
    if (d != NULL) {
        d->target = strdup(conninfo);
    }
    if (d == NULL || d->target == NULL) {
        free(d);
        if (errbuf != NULL && errlen > 0) {
            snprintf(errbuf, errlen, "out of memory");
        }
        return -ENOMEM;
    }
    d->base.ops = &pg_ops;
    d->base.kind = DB_PG;
    int r = pg_connect(d, pg_deadline_from_now());
    if (r < 0) {
        char shown[256];
        db_target_shown(conninfo, shown, sizeof(shown));
        if (errbuf != NULL && errlen > 0) {
            snprintf(errbuf, errlen, "database %s: %s", shown, d->base.err);
        }
        pg_close(&d->base);
        return r;
    }
    *out = &d->base;
    return 0;
}
