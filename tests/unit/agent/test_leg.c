/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/leg.c: a stream leg's handle that changes holders while
 * it reads (docs/design.md D54), and its close, plain or with an RST, also
 * after a shutdown. Real TCP sockets on loopback and a real libuv loop.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lrcheck.h"
#include "lrsock.h"
#include "leg.h"
#include "pump.h"

/* A holder: what its callbacks saw. */
struct holder {
    char name;
    char got[16];
    size_t n;
    int eofs, errs, closes;
    bool reading_in_eof; /* leg->reading as the EOF callback saw it */
    struct leg *leg;
    char buf[64];
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct holder *o = h->data;

    (void)suggested;
    *buf = uv_buf_init(o->buf, sizeof(o->buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct holder *o = s->data;

    if (nread == UV_EOF) {
        o->eofs++;
        o->reading_in_eof = o->leg->reading;
    } else if (nread < 0) {
        o->errs++;
    } else if (nread > 0) {
        ck_assert_uint_lt(o->n + (size_t)nread, sizeof(o->got));
        memcpy(o->got + o->n, buf->base, (size_t)nread);
        o->n += (size_t)nread;
    }
}

static void on_close(uv_handle_t *h)
{
    ((struct holder *)h->data)->closes++;
}

struct fixture {
    uv_loop_t loop;
    int peer; /* the other end, blocking */
    struct leg *leg;
};

static void setup_pair(struct fixture *f, void *holder)
{
    int fd, err = 0;

    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    lrsock_pair(&f->peer, &fd);
    f->leg = leg_new(&f->loop, holder, &err);
    ck_assert_ptr_nonnull(f->leg);
    ck_assert_int_eq(uv_tcp_open(&f->leg->tcp, fd), 0);
}

/* Runs the loop until cond holds (bounded: 2,000 turns of at most 5 ms). */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        for (int turns_ = 0; !(cond) && turns_ < 2000; turns_++) {                                 \
            uv_update_time(&(f)->loop);                                                            \
            (void)uv_run(&(f)->loop, UV_RUN_NOWAIT);                                               \
            if (!(cond))                                                                           \
                usleep(5000);                                                                      \
        }                                                                                          \
        ck_assert(cond);                                                                           \
    } while (0)

static int shut_done;

static void on_shut(uv_shutdown_t *req, int status)
{
    (void)req;
    ck_assert_int_eq(status, 0);
    shut_done++;
}

/* Our side shuts down; the peer reads our FIN. */
static void shut_down(struct fixture *f)
{
    static uv_shutdown_t sreq;
    char c;

    shut_done = 0;
    ck_assert_int_eq(uv_shutdown(&sreq, (uv_stream_t *)&f->leg->tcp, on_shut), 0);
    RUN_UNTIL(f, shut_done == 1);
    ck_assert_int_eq(read(f->peer, &c, 1), 0);
}

static void teardown_loop(struct fixture *f)
{
    (void)uv_run(&f->loop, UV_RUN_DEFAULT); /* close callbacks */
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
    close(f->peer);
}

/* The leg goes from holder a to holder b while it reads: b's callbacks get
 * the next bytes, a's nothing more, and it never stopped reading. */
START_TEST(test_holder_change_while_reading)
{
    struct fixture f;
    struct holder a = {.name = 'a'}, b = {.name = 'b'};

    setup_pair(&f, &a);
    a.leg = b.leg = f.leg;
    ck_assert_int_eq(leg_read(f.leg, on_alloc, on_read), 0);
    ck_assert(f.leg->reading);
    ck_assert_int_eq(write(f.peer, "x", 1), 1);
    RUN_UNTIL(&f, a.n == 1);
    f.leg->tcp.data = &b;
    ck_assert_int_eq(leg_read(f.leg, on_alloc, on_read), 0); /* only the callbacks */
    ck_assert(f.leg->reading);
    ck_assert(uv_is_active((uv_handle_t *)&f.leg->tcp));
    ck_assert_int_eq(write(f.peer, "yz", 2), 2);
    RUN_UNTIL(&f, b.n == 2);
    ck_assert_int_eq(memcmp(b.got, "yz", 2), 0);
    ck_assert_uint_eq(a.n, 1);
    ck_assert_int_eq(shutdown(f.peer, SHUT_WR), 0);
    RUN_UNTIL(&f, b.eofs == 1);
    ck_assert(!b.reading_in_eof); /* libuv stopped reading at the EOF */
    ck_assert(!f.leg->reading);
    ck_assert_int_eq(a.eofs, 0);
    leg_close(f.leg, false, on_close);
    teardown_loop(&f);
    ck_assert_int_eq(b.closes, 1);
    ck_assert_int_eq(a.closes, 0);
}
END_TEST

static struct holder *nobufs_next; /* where on_read_nobufs moves the leg */
static int nobufs_switch_rc = -1;

static void on_alloc_none(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h, (void)suggested;
    *buf = uv_buf_init(NULL, 0);
}

/* No room (UV_ENOBUFS): libuv goes on reading, so the leg still reads and
 * a move only swaps the callbacks. */
static void on_read_nobufs(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct holder *o = s->data;

    (void)buf;
    if (nread != UV_ENOBUFS || nobufs_next == NULL)
        return;
    o->errs++;
    ck_assert(o->leg->reading);
    s->data = nobufs_next;
    nobufs_switch_rc = leg_read(o->leg, on_alloc, on_read);
    nobufs_next = NULL;
}

START_TEST(test_nobufs_keeps_reading)
{
    struct fixture f;
    struct holder a = {.name = 'a'}, b = {.name = 'b'};

    setup_pair(&f, &a);
    a.leg = b.leg = f.leg;
    nobufs_next = &b;
    ck_assert_int_eq(leg_read(f.leg, on_alloc_none, on_read_nobufs), 0);
    ck_assert_int_eq(write(f.peer, "nb", 2), 2);
    RUN_UNTIL(&f, b.n == 2);
    ck_assert_int_eq(a.errs, 1);
    ck_assert_int_eq(nobufs_switch_rc, 0); /* a swap, not a second uv_read_start */
    ck_assert(f.leg->reading);
    leg_close(f.leg, false, on_close);
    teardown_loop(&f);
    ck_assert_int_eq(b.closes, 1);
}
END_TEST

/* A stopped leg starts again on leg_read and reads into the new callbacks. */
START_TEST(test_stop_then_read)
{
    struct fixture f;
    struct holder a = {.name = 'a'};

    setup_pair(&f, &a);
    a.leg = f.leg;
    ck_assert_int_eq(leg_read(f.leg, on_alloc, on_read), 0);
    leg_read_stop(f.leg);
    ck_assert(!f.leg->reading);
    ck_assert_int_eq(write(f.peer, "q", 1), 1);
    for (int i = 0; i < 20; i++) {
        (void)uv_run(&f.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    ck_assert_uint_eq(a.n, 0); /* not read while stopped */
    ck_assert_int_eq(leg_read(f.leg, on_alloc, on_read), 0);
    RUN_UNTIL(&f, a.n == 1);
    leg_close(f.leg, false, on_close);
    teardown_loop(&f);
    ck_assert_int_eq(a.closes, 1);
}
END_TEST

/* The peer's view of our close: a FIN (CLOSE_WAIT) for a plain close, an
 * RST (CLOSED) for a reset, also after a shutdown (libuv refuses
 * uv_tcp_close_reset then: SO_LINGER 0). pump_eof_was_reset reads the
 * state. */
static void close_and_check(bool shut_first, bool reset)
{
    struct fixture f;
    struct holder a = {.name = 'a'};
    char c;

    setup_pair(&f, &a);
    a.leg = f.leg;
    if (shut_first)
        shut_down(&f);
    leg_close(f.leg, reset, on_close);
    (void)uv_run(&f.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.closes, 1);
    if (!shut_first)
        ck_assert_int_eq(reset ? -1 : 0, (int)read(f.peer, &c, 1));
    ck_assert(pump_eof_was_reset(f.peer, false) == reset);
    ck_assert_int_eq(uv_loop_close(&f.loop), 0);
    close(f.peer);
}

START_TEST(test_close_plain)
{
    close_and_check(false, false);
}
END_TEST

START_TEST(test_close_reset)
{
    close_and_check(false, true);
}
END_TEST

START_TEST(test_close_reset_after_shutdown)
{
    close_and_check(true, true);
}
END_TEST

/* leg_tcp_close_reset on a handle that is not a leg (the stream's local
 * socket) after a shutdown. */
START_TEST(test_tcp_close_reset_after_shutdown)
{
    struct fixture f;
    struct holder a = {.name = 'a'};

    setup_pair(&f, &a);
    shut_down(&f);
    leg_tcp_close_reset(&f.leg->tcp, on_close);
    (void)uv_run(&f.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.closes, 1);
    ck_assert(pump_eof_was_reset(f.peer, false));
    ck_assert_int_eq(uv_loop_close(&f.loop), 0);
    close(f.peer);
    free(f.leg); /* closed as a plain handle: its memory is ours */
}
END_TEST

static Suite *leg_suite(void)
{
    Suite *s = suite_create("leg");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_holder_change_while_reading);
    tcase_add_test(tc, test_stop_then_read);
    tcase_add_test(tc, test_nobufs_keeps_reading);
    tcase_add_test(tc, test_close_plain);
    tcase_add_test(tc, test_close_reset);
    tcase_add_test(tc, test_close_reset_after_shutdown);
    tcase_add_test(tc, test_tcp_close_reset_after_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lrcheck_run(leg_suite());
}
