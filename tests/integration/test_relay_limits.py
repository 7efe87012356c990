#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay admission limits (docs/protocol.md §9), each at its default and
exercised at the limit: exactly the limit is admitted, one more is refused
(closed without a byte) and counted in limits_hit. Where one default would hide
another (pending per address caps a rate test), the other one is raised in that
relay's config and said so.
  max_pending_per_ip 64, max_pending 1024 (17 source addresses on 127/8),
  conn_rate_per_ip 200/s burst 400, max_conns_per_ip 4096, max_conns = fd
  limit - 64 (the relay raises its soft limit to the hard one first),
  max_streams_per_link 256 (OPEN_FAIL stream_limit), preauth_bytes 4096,
  handshake_timeout 10 s and ticket_expiry 10 s (timed); and the relay's own
  bound on what it queues to a control session that does not read (64 KiB).
"""
import os
import socket
import struct
import sys
import time

import lrharness as h
import lrproto as p


def conn_from(r, src):
    s = socket.create_connection((r.host, r.port), timeout=5, source_address=(src, 0))
    return s


def counts(r):
    """(connections open, connections refused by conn_rate_per_ip)."""
    st = r.status()
    return st["conns"], st["limits_hit"]["conn_rate_per_ip"]


def hit(r, name):
    return r.status()["limits_hit"][name]


def pending_tests(c):
    r = h.Relay(fast=False)
    socks = []
    try:
        r.start()
        link = r.add_link("lim")
        h.wait_for(lambda: r.admin("links")["links"])
        # Long waits run in the background while the rest goes on.
        # Each close is timestamped by a thread when it happens. The relay
        # starts handshake_timeout when it accepts, after t_idle, and
        # ticket_expiry when it takes the OPEN, after t_open and before
        # t_opened: so the closes come no sooner than 10 s after t_idle and
        # t_open (less 10 ms of ms rounding), and, with 2 s of margin for a
        # loaded machine, less than 12 s after t_idle's connect and t_opened.
        t_idle = time.time()
        idle = p.connect(r)
        t_idled = time.time()
        w_idle = h.CloseWatch(idle, 30)
        sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
        t_open = time.time()
        ta, tb = p.open_stream(sa, sb, 1)
        t_opened = time.time()
        lone = p.leg(r, ta["ticket"])
        w_lone = h.CloseWatch(lone, 30)

        for i in range(64):
            socks.append(conn_from(r, "127.0.0.2"))
        extra = conn_from(r, "127.0.0.2")
        c.check("max_pending_per_ip: 64 admitted, 65th refused", h.closed_now(extra)
                and not h.closed_now(socks[-1], 0.05) and hit(r, "max_pending_per_ip") == 1)
        extra.close()
        # Total pending: 64 from 127.0.0.2 plus idle, lone (2) → fill to 1024.
        n = 1024 - 64 - 2
        ip = 3
        while n > 0:
            k = min(64, n)
            for i in range(k):
                socks.append(conn_from(r, "127.0.0.%d" % ip))
            n -= k
            ip += 1
        # Connected is not yet accepted: wait until the relay has them all.
        h.wait_for(lambda: r.status()["pending"] == 1024, timeout=20, step=0.1)
        c.check("1024 pending", r.status()["pending"] == 1024, r.status()["pending"])
        extra = conn_from(r, "127.0.0.%d" % (ip + 1))
        c.check("max_pending: 1025th refused", h.closed_now(extra)
                and hit(r, "max_pending") == 1)
        extra.close()
        for s in socks:
            s.close()
        socks = []

        # max_streams_per_link: 256 OPENs get STREAMs (one is pending already).
        ok = True
        for i in range(2, 257):
            sa.open(i)
        for i in range(2, 257):
            m = sa.expect(0x03)
            ok = ok and p.parse_stream(m)["req"] == i
        sa.open(999)
        of = sa.expect(0x04)
        c.check("max_streams_per_link: 256 streams, 257th OPEN_FAIL stream_limit",
                ok and of == b"\x04" + struct.pack(">I", 999) + b"\x02", of.hex())
        c.check("streams_open 256", r.status()["streams_open"] == 256)
        c.check("counted", hit(r, "max_streams_per_link") == 1)

        w_idle.wait(30)
        ok = w_idle.at is not None and 9.99 <= w_idle.at - t_idle and w_idle.at - t_idled < 12
        c.check("handshake_timeout: idle connection closed after 10 s", ok and w_idle.data == b""
                and w_idle.end in ("eof", "reset"), "%s after %.2f s" % (
                    w_idle.end, (w_idle.at or time.time()) - t_idle))
        w_lone.wait(30)
        ok = w_lone.at is not None and 9.99 <= w_lone.at - t_open and w_lone.at - t_opened < 12
        # The leg took its ticket, so the relay says 0x00 (no such stream,
        # protocol.md §6.1) before the reset.
        c.check("ticket_expiry: lone leg told 0x00, then reset after 10 s",
                ok and w_lone.data == b"\x00" and w_lone.end == "reset", "%r %s after %.2f s" % (
                    w_lone.data, w_lone.end, (w_lone.at or time.time()) - t_open))
        sa.close()
        sb.close()
    finally:
        for s in socks:
            s.close()
        if c.failed:
            print(r.log()[-3000:])
        r.close()


def preauth_tests(c):
    r = h.Relay(fast=False)
    try:
        r.start()
        link = r.add_link("pre")
        h.wait_for(lambda: r.admin("links")["links"])
        sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
        ta, tb = p.open_stream(sa, sb, 1)
        early = os.urandom(4096 - 40)
        la = p.leg(r, ta["ticket"], early)
        time.sleep(0.2)
        lb = p.leg(r, tb["ticket"])
        ok = p.recv_exact(la, 1) == b"\x01" and p.recv_exact(lb, 1) == b"\x01"
        ok = ok and p.recv_exact(lb, len(early)) == early
        c.check("preauth_bytes: exactly 4096 before pairing is forwarded", ok)
        la.close(), lb.close()
        ta, tb = p.open_stream(sa, sb, 2)
        la = p.leg(r, ta["ticket"], early + b"x")
        d, how = p.read_until_close(la, 3)
        c.check("preauth_bytes: 4097 refused", d == b"" and how != "timeout"
                and hit(r, "preauth_bytes") == 1)
        sa.close(), sb.close()
    finally:
        if c.failed:
            print(r.log()[-3000:])
        r.close()


def rate_test(c):
    # Pending limits raised so that only the rate can refuse.
    r = h.Relay(fast=False, limits={"max_pending": "100000", "max_pending_per_ip": "100000"})
    socks = []
    try:
        r.start()
        t0 = time.time()
        for i in range(450):
            socks.append(conn_from(r, "127.0.0.40"))
        # The relay accepts (and charges the bucket) between t0 and the moment
        # it has counted all 450, which may be well after the last connect
        # returned (the backlog holds them): refills are bounded by that span.
        h.wait_for(lambda: sum(counts(r)) == 450, timeout=20, step=0.05)
        admitted, refused = counts(r)
        dt = time.time() - t0
        c.check("conn_rate_per_ip: burst 400 admitted, then 200/s",
                admitted + refused == 450 and 400 <= admitted <= 400 + 200 * dt + 1,
                "admitted %d refused %d in %.3f s" % (admitted, refused, dt))
        for s in socks:
            s.close()
        socks = []
        time.sleep(0.3)
        # Another address has its own bucket.
        s = conn_from(r, "127.0.0.41")
        c.check("another address is not limited", not h.closed_now(s, 0.1))
        s.close()
    finally:
        for s in socks:
            s.close()
        r.close()


def conns_per_ip_test(c):
    r = h.Relay(fast=False, limits={"max_pending": "100000", "max_pending_per_ip": "100000",
                                    "conn_rate_per_ip": "100000/s",
                                    "conn_burst_per_ip": "100000"})
    socks = []
    try:
        r.start()
        for i in range(4096):
            socks.append(conn_from(r, "127.0.0.50"))
        h.wait_for(lambda: r.status()["conns"] == 4096, timeout=30, step=0.1)
        extra = conn_from(r, "127.0.0.50")
        c.check("max_conns_per_ip: 4096 admitted, 4097th refused", h.closed_now(extra)
                and r.status()["conns"] == 4096 and hit(r, "max_conns_per_ip") == 1)
        extra.close()
    finally:
        for s in socks:
            s.close()
        r.close()


def max_conns_test(c):
    # By default the zero-copy pipes' fds come off the budget: 256 - 64 = 192,
    # at most half of it for zero_copy_streams (192 / 8 = 24 streams, 96 fds).
    r = h.Relay(fast=False, nofile=(128, 256))
    try:
        r.start()
        c.check("default: 24 zero-copy streams' fds reserved, max_conns = 192 - 96",
                "max_conns 96; zero_copy_streams 24" in r.log(), r.log()[-600:])
        c.check("clean shutdown", r.stop() == 0)
    finally:
        r.close()
    # Soft fd limit 128, hard 256: the relay raises to 256, max_conns = 192.
    r = h.Relay(fast=False, nofile=(128, 256), limits={"zero_copy_streams": "0"})
    socks = []
    try:
        r.start()
        c.check("fd limit raised to hard, max_conns = 256 - 64",
                "max_conns 192; zero_copy_streams 0" in r.log())
        for i in range(192):
            socks.append(conn_from(r, "127.0.0.%d" % (60 + i // 50)))
        h.wait_for(lambda: r.status()["conns"] == 192, timeout=20, step=0.1)
        extra = conn_from(r, "127.0.0.70")
        c.check("max_conns: 192 admitted, 193rd refused", h.closed_now(extra)
                and r.status()["conns"] == 192 and hit(r, "max_conns") == 1)
        extra.close()
        for s in socks:
            s.close()
        socks = []
        c.check("clean shutdown", r.stop() == 0)
    finally:
        for s in socks:
            s.close()
        r.close()


def ctrl_queue_test(c):
    """A control session that never reads cannot make the relay queue without
    bound: past 64 KiB queued it is dropped (limits_hit control_queue)."""
    r = h.Relay(fast=False, limits={"max_streams_per_link": "65535", "ticket_expiry": "60s"})
    try:
        with h.live_rss():
            r.start()
        link = r.add_link("deaf")
        h.wait_for(lambda: r.admin("links")["links"])
        sa = p.Session(r, link, 0)
        sb = p.Session(r, link, 1)
        sb.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        rss0 = r.rss_kib()
        # Each OPEN queues one ~70-byte STREAM to b, which never reads.
        for i in range(1, 40001):
            sa.s.sendall(p.frame(sa.tx.encrypt_with_ad(b"", b"\x20" + struct.pack(">I", i))))
            if i % 2000 == 0:
                try:
                    while True:
                        sa.recv(0.01)
                except Exception:
                    pass
                if hit(r, "control_queue") > 0:
                    break
        c.check("deaf control session dropped past its queue bound",
                h.wait_for(lambda: hit(r, "control_queue") == 1, 5), r.status()["limits_hit"])
        # A backstop on RSS: the relay accounts bytes queued to stream legs
        # (status queued_bytes*) but has no count of a control session's
        # queue, so RSS it is. In the sanitizer build the relay runs without
        # ASan's quarantine (h.live_rss()), so freed blocks do not count,
        # and the bound is the plain one x 9/8 (shadow) + 1 MiB of redzones
        # (the queue is at most 64 KiB of ~70-byte frames, about 1,000
        # blocks with at most ~150 B of redzone and header each, 150 KiB;
        # the rest for the per-OPEN buffers in use at a time) + 4 MiB for
        # ASan's own bookkeeping (h.asan_rss_bound).
        bound = h.asan_rss_bound(16 * 1024, 1024) if h.sanitized() else 16 * 1024
        grew = r.rss_kib() - rss0
        c.check("relay memory stayed bounded (RSS growth < %d KiB%s)"
                % (bound, ", sanitizer build, no quarantine" if h.sanitized() else ""),
                grew < bound, "%d KiB" % grew)
        c.check("the deaf side is offline now",
                h.wait_for(lambda: not r.admin("links")["links"][0]["b"]["online"]))
        sa.close()
        sb.close()
    finally:
        r.close()


def main():
    c = h.Checks()
    ctrl_queue_test(c)
    preauth_tests(c)
    rate_test(c)
    conns_per_ip_test(c)
    max_conns_test(c)
    pending_tests(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
