/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "page_assets.h"

/* What the loop renders: the exposition (with readiness), or the status
 * page's JSON (metrics_ops.status). */
enum { SNAP_METRICS, SNAP_STATUS, SNAP_KINDS };

/* One rendered exposition or status document: immutable once handed over,
 * freed by whoever drops the last reference (the loop replacing it, or a
 * response sent). */
struct metrics_snap {
    atomic_int refs;
    bool ready;
    uint64_t made_ms; /* CLOCK_MONOTONIC */
    int rc;           /* 0, or why text is NULL (-E2BIG, -ENOMEM) */
    size_t len;
    char *text;
};

struct metrics {
    uv_loop_t *loop;
    uv_async_t wake; /* HTTP thread → loop: render a snapshot */
    const struct metrics_ops *ops;
    void *arg;
    struct MHD_Daemon *daemon;
    char name[ADDR_TEXT_SIZE];

    /* Shared with the HTTP thread, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a new snapshot or stopping */
    struct metrics_snap *snap[SNAP_KINDS];
    uint64_t gen[SNAP_KINDS]; /* snapshots made */
    bool want[SNAP_KINDS];    /* asked for since the last wake */
    bool stopping;
    uint32_t loop_wait_ms; /* METRICS_LOOP_WAIT_MS; tests set it (metrics_set_loop_wait) */
};

static uint64_t metrics_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void metrics_snap_unref(void *arg)
{
    struct metrics_snap *s = arg;

    if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1) {
        free(s->text);
        free(s);
    }
}

/* ---- the loop's side ---- */

/* The text of one kind into s; s->text NULL (and s->rc why) on failure. */
static void metrics_render(struct metrics *m, int kind, struct metrics_snap *s)
{
    struct promtext pt;

    s->ready = m->ops->ready(m->arg);
    if (kind == SNAP_STATUS) {
        s->text = m->ops->status(m->arg, &s->len);
        s->rc = s->text == NULL ? -ENOMEM : 0;
        if (s->text != NULL && s->len > METRICS_MAX_TEXT) {
            free(s->text);
            s->text = NULL;
            s->rc = -E2BIG;
        }
        return;
    }
    promtext_init(&pt, METRICS_MAX_TEXT);
    m->ops->render(m->arg, &pt);
    s->rc = promtext_take(&pt, &s->text, &s->len);
}

/* Renders and hands over the snapshots asked for; a render that fails (too
 * large, out of memory) is handed over too, so the waiting request answers
 * 500. */
static void metrics_on_wake(uv_async_t *h)
{
    struct metrics *m = h->data;
    bool want[SNAP_KINDS];

    pthread_mutex_lock(&m->mu);
    memcpy(want, m->want, sizeof(want));
    memset(m->want, 0, sizeof(m->want));
    pthread_mutex_unlock(&m->mu);
    for (int k = 0; k < SNAP_KINDS; k++) {
        struct metrics_snap *s, *old;

        if (!want[k])
            continue;
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return; /* the request times out with 503 */
        atomic_init(&s->refs, 1);
        metrics_render(m, k, s);
        s->made_ms = metrics_mono_ms();
        pthread_mutex_lock(&m->mu);
        old = m->snap[k];
        m->snap[k] = s;
        m->gen[k]++;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        metrics_snap_unref(old);
    }
}

/* ---- the HTTP thread's side ---- */

/* A snapshot at most METRICS_FRESH_MS old, with a reference for the caller;
 * NULL when the loop did not make one within loop_wait_ms or the
 * relay is stopping. */
static struct metrics_snap *metrics_fresh(struct metrics *m, int kind)
{
    struct metrics_snap *s = NULL;
    struct timespec deadline;
    uint64_t want;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += m->loop_wait_ms / 1000;
    deadline.tv_nsec += (long)(m->loop_wait_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&m->mu);
    if (m->snap[kind] == NULL || metrics_mono_ms() - m->snap[kind]->made_ms > METRICS_FRESH_MS) {
        want = m->gen[kind] + 1;
        m->want[kind] = true;
        uv_async_send(&m->wake);
        while (m->gen[kind] < want && !m->stopping)
            if (pthread_cond_timedwait(&m->cv, &m->mu, &deadline) == ETIMEDOUT)
                break;
        if (m->gen[kind] < want)
            goto out;
    }
    if (!m->stopping) {
        s = m->snap[kind];
        atomic_fetch_add(&s->refs, 1);
    }
out:
    pthread_mutex_unlock(&m->mu);
    return s;
}

/* On every answer: nothing but this origin's own files runs or loads. */
static void metrics_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy", METRICS_CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

static enum MHD_Result metrics_queue_text(struct MHD_Connection *conn, unsigned status,
                                          const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    metrics_headers(r);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- process figures, read on the HTTP thread (never on the loop: with
 * many fds, counting them takes a while) ---- */

static uint64_t metrics_open_fds(void)
{
    struct stat sb;
    struct dirent *e;
    uint64_t n = 0;
    DIR *d;

    /* Linux 6.2 and later give the count as the directory's size. */
    if (stat("/proc/self/fd", &sb) == 0 && sb.st_size > 0)
        return (uint64_t)sb.st_size;
    d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own fd */
}

/* When the process started, in seconds since the epoch: its start in clock
 * ticks after boot (/proc/self/stat field 22) plus the boot time; 0 when
 * unknown. */
static double metrics_start_time(void)
{
    char buf[1024], *p;
    unsigned long long ticks = 0, btime = 0;
    size_t n;
    FILE *f = fopen("/proc/self/stat", "r");

    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL || sscanf(p + 1,
                            " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                            "%*d %*d %llu",
                            &ticks) != 1)
        return 0;
    f = fopen("/proc/stat", "r");
    if (f == NULL)
        return 0;
    while (fgets(buf, sizeof(buf), f) != NULL)
        if (sscanf(buf, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    return btime == 0 ? 0 : (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static void metrics_gauge(struct promtext *pt, const char *name, const char *help, uint64_t v)
{
    promtext_family(pt, name, "gauge", help);
    promtext_u64(pt, name, NULL, 0, v);
}

/* The process_* families, with the names Prometheus client libraries use. */
static void metrics_process(struct promtext *pt)
{
    unsigned long long vsize = 0, rss = 0;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    struct rusage ru;
    struct rlimit rl;
    double cpu = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f != NULL) {
        if (fscanf(f, "%llu %llu", &vsize, &rss) != 2)
            vsize = rss = 0;
        fclose(f);
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
              ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    promtext_family(pt, "process_cpu_seconds_total", "counter",
                    "User and system CPU time spent, in seconds.");
    promtext_f64(pt, "process_cpu_seconds_total", NULL, 0, cpu);
    metrics_gauge(pt, "process_resident_memory_bytes", "Resident memory size in bytes.",
                  rss * page);
    metrics_gauge(pt, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                  vsize * page);
    metrics_gauge(pt, "process_open_fds", "Open file descriptors.", metrics_open_fds());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        metrics_gauge(pt, "process_max_fds", "The limit of open file descriptors.", rl.rlim_cur);
    promtext_family(pt, "process_start_time_seconds", "gauge",
                    "When the process started, in seconds since the Unix epoch.");
    promtext_f64(pt, "process_start_time_seconds", NULL, 0, metrics_start_time());
}

/* /metrics: the loop's snapshot, then the process figures, copied into one
 * buffer the response owns; the snapshot's reference is dropped here. */
static enum MHD_Result metrics_queue_snap(struct MHD_Connection *conn, struct metrics_snap *s)
{
    struct MHD_Response *r;
    struct promtext pt;
    enum MHD_Result rc;
    char *proc = NULL, *body = NULL;
    size_t plen = 0, len;

    if (s->text == NULL) {
        metrics_snap_unref(s);
        return metrics_queue_text(
            conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
            "the exposition could not be made (too large or out of memory)\n");
    }
    promtext_init(&pt, METRICS_MAX_PROCESS_TEXT);
    metrics_process(&pt);
    if (promtext_take(&pt, &proc, &plen) == 0)
        body = malloc(s->len + plen);
    len = s->len + plen;
    if (body != NULL) {
        memcpy(body, s->text, s->len);
        memcpy(body + s->len, proc, plen);
    }
    free(proc);
    metrics_snap_unref(s);
    if (body == NULL)
        return MHD_NO;
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, PROMTEXT_CONTENT_TYPE);
    metrics_headers(r);
    rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* A response with the snapshot's text, which it owns until sent; the
 * reference is dropped then (metrics_snap_unref as the free callback). */
static enum MHD_Result metrics_queue_status(struct MHD_Connection *conn, struct metrics_snap *s)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    if (s->text == NULL) {
        metrics_snap_unref(s);
        return metrics_queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "the status could not be made (too large or out of memory)\n");
    }
    r = MHD_create_response_from_buffer_with_free_callback_cls(s->len, s->text, metrics_snap_unref,
                                                               s);
    if (r == NULL) {
        metrics_snap_unref(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    metrics_headers(r);
    rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* One of the page's files, embedded in the binary (page_assets.h). */
static enum MHD_Result metrics_queue_asset(struct MHD_Connection *conn, const struct page_asset *a)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(a->len, (void *)(uintptr_t)a->data, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    metrics_headers(r);
    rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* The embedded file served at url, when the owner has a status page. */
static const struct page_asset *metrics_asset(const struct metrics *m, const char *url)
{
    if (m->ops->status == NULL)
        return NULL;
    for (size_t i = 0; i < page_assets_count; i++)
        if (strcmp(url, page_assets[i].url) == 0)
            return &page_assets[i];
    return NULL;
}

/* Answers at once, on the first call (headers read): a request body is
 * never read, libmicrohttpd closes the connection after the answer. */
static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **req_cls)
{
    struct metrics *m = cls;
    const struct page_asset *asset;
    struct metrics_snap *s;
    enum MHD_Result rc;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return metrics_queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    asset = metrics_asset(m, url);
    if (asset != NULL)
        return metrics_queue_asset(conn, asset);
    if (strcmp(url, "/status.json") == 0 && m->ops->status != NULL) {
        s = metrics_fresh(m, SNAP_STATUS);
        if (s == NULL)
            return metrics_queue_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                      "event loop not answering, or stopping\n");
        return metrics_queue_status(conn, s);
    }
    if (strcmp(url, "/metrics") != 0 && strcmp(url, "/healthz") != 0 && strcmp(url, "/readyz") != 0)
        return metrics_queue_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    s = metrics_fresh(m, SNAP_METRICS);
    if (s == NULL)
        return metrics_queue_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "event loop not answering, or stopping\n");
    if (strcmp(url, "/metrics") == 0)
        return metrics_queue_snap(conn, s);
    if (strcmp(url, "/healthz") == 0)
        rc = metrics_queue_text(conn, MHD_HTTP_OK, "ok\n");
    else if (s->ready)
        rc = metrics_queue_text(conn, MHD_HTTP_OK, "ready\n");
    else
        rc = metrics_queue_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    metrics_snap_unref(s);
    return rc;
}

/* ---- start and stop ---- */

static void metrics_close_cb(uv_handle_t *h)
{
    struct metrics *m = h->data;

    for (int k = 0; k < SNAP_KINDS; k++)
        metrics_snap_unref(m->snap[k]);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The daemon on sa; its thread is born with every signal blocked, so that
 * the program's signals are handled where libuv expects them. */
static struct MHD_Daemon *metrics_daemon(struct metrics *m, const struct sockaddr *sa)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    sigset_t all, old;
    struct MHD_Daemon *d;

    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    d = MHD_start_daemon(flags, 0, NULL, NULL, metrics_handler, m, MHD_OPTION_SOCK_ADDR, sa,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CONNS,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CONNS_PER_IP,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_MEMORY,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
                         MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)METRICS_MAX_CONNS,
                         MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return d;
}

int metrics_start(uv_loop_t *loop, const struct addr_spec *listen, const struct metrics_ops *ops,
                  void *arg, struct metrics **out)
{
    struct metrics *m = calloc(1, sizeof(*m));
    struct addrinfo hints, *res = NULL;
    char port[8], text[ADDR_TEXT_SIZE];
    const union MHD_DaemonInfo *bound;
    struct addr_spec named;
    pthread_condattr_t ca;
    int rc;

    if (m == NULL)
        return -ENOMEM;
    addr_format(listen, text, sizeof(text));
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = listen->family_hint;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", listen->port);
    rc = getaddrinfo(listen->host, port, &hints, &res);
    if (rc != 0) {
        log_error("metrics_listen %s: %s", text, gai_strerror(rc));
        free(m);
        return -EINVAL;
    }
    m->loop = loop;
    m->ops = ops;
    m->arg = arg;
    m->loop_wait_ms = METRICS_LOOP_WAIT_MS;
    pthread_mutex_init(&m->mu, NULL);
    /* Deadlines are on the monotonic clock (metrics_fresh). */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    m->daemon = metrics_daemon(m, res->ai_addr);
    freeaddrinfo(res);
    if (m->daemon == NULL) {
        /* libmicrohttpd says no more than that it failed: binding is the
         * step that fails in practice. */
        log_error("metrics_listen %s: cannot listen there (address in use or not local?)", text);
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        free(m);
        return -EADDRINUSE;
    }
    /* The name with the port the kernel picked (for metrics_listen port 0). */
    named = *listen;
    bound = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (bound != NULL)
        named.port = bound->port;
    if (addr_format(&named, m->name, sizeof(m->name)) != 0)
        snprintf(m->name, sizeof(m->name), "%s", text);
    /* Every address includes the public ones: say so, once. */
    if (addr_is_unspecified(listen))
        log_warnx("metrics_listen %s answers on every address, without authentication: bind it "
                  "to a private one (loopback, a management network)",
                  m->name);
    uv_async_init(loop, &m->wake, metrics_on_wake);
    m->wake.data = m;
    /* The listener alone does not keep the loop running. */
    uv_unref((uv_handle_t *)&m->wake);
    *out = m;
    return 0;
}

const char *metrics_name(const struct metrics *m)
{
    return m->name;
}

void metrics_set_loop_wait(struct metrics *m, uint32_t ms)
{
    pthread_mutex_lock(&m->mu);
    m->loop_wait_ms = ms;
    pthread_mutex_unlock(&m->mu);
}

void metrics_stop(struct metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    /* Joins the thread: a request waiting for a snapshot was just woken. */
    MHD_stop_daemon(m->daemon);
    m->daemon = NULL;
    uv_close((uv_handle_t *)&m->wake, metrics_close_cb);
}
