/* SPDX-License-Identifier: MIT */
/*
 * Tests for pump_eof_was_reset() (agent/pump.c): an end of stream that
 * follows a reset already reported to a write is told from a clean close.
 * Real TCP sockets on loopback.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lrcheck.h"
#include "lrsock.h"
#include "pump.h"

struct pair {
    int client, server;
};

static struct pair connected(void)
{
    struct pair p;

    lrsock_pair(&p.client, &p.server);
    return p;
}

/* Waits (bounded) until the peer's FIN or RST has reached fd. */
static void wait_hup(int fd)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN | POLLRDHUP};

    ck_assert_int_eq(poll(&pf, 1, 10000), 1);
}

static void reset_close(int fd)
{
    struct linger l = {1, 0};

    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    close(fd);
}

START_TEST(test_reset_seen_by_write_first)
{
    struct pair p = connected();
    char c;

    reset_close(p.server);
    wait_hup(p.client);
    /* The write takes the reset; the read that follows sees only EOF. */
    ck_assert_int_eq(send(p.client, "x", 1, MSG_NOSIGNAL), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    ck_assert_int_eq(read(p.client, &c, 1), 0);
    ck_assert(pump_eof_was_reset(p.client, false));
    close(p.client);
}
END_TEST

START_TEST(test_clean_close)
{
    struct pair p = connected();
    char c;

    ck_assert_int_eq(shutdown(p.server, SHUT_WR), 0);
    wait_hup(p.client);
    ck_assert_int_eq(read(p.client, &c, 1), 0);
    ck_assert(!pump_eof_was_reset(p.client, false));
    /* still a clean close after we wrote to the half-closed peer */
    ck_assert_int_eq(send(p.client, "x", 1, MSG_NOSIGNAL), 1);
    ck_assert(!pump_eof_was_reset(p.client, false));
    close(p.server);
    close(p.client);
}
END_TEST

START_TEST(test_clean_close_after_our_shutdown)
{
    struct pair p = connected();
    char c;

    ck_assert_int_eq(shutdown(p.client, SHUT_WR), 0);
    ck_assert_int_eq(read(p.server, &c, 1), 0);
    close(p.server);
    wait_hup(p.client);
    ck_assert_int_eq(read(p.client, &c, 1), 0);
    /* The state cannot tell this from a reset (both CLOSED), and no write
     * can have taken a reset: the caller says it shut down. */
    ck_assert(pump_eof_was_reset(p.client, false));
    ck_assert(!pump_eof_was_reset(p.client, true));
    close(p.client);
}
END_TEST

START_TEST(test_not_tcp)
{
    int fds[2];

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert(!pump_eof_was_reset(fds[0], false));
    close(fds[0]);
    close(fds[1]);
    ck_assert(!pump_eof_was_reset(-1, false));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pump_eof");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_reset_seen_by_write_first);
    tcase_add_test(tc, test_clean_close);
    tcase_add_test(tc, test_clean_close_after_our_shutdown);
    tcase_add_test(tc, test_not_tcp);
    suite_add_tcase(s, tc);
    return lrcheck_run(s);
}
