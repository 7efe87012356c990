#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The write-stall timer counts the kernel taking bytes, not whole write
requests (docs/design.md D12: "write_stall_timeout without the kernel taking
a byte"; docs/internals/relay.md).

On the copying path (zero_copy_streams = 0) one write request holds up to one
read of the relay's 256 KiB read buffer. The relay holds that memory until the
request's callback runs, and counts it for backpressure (status queued_bytes),
but a reader that is slow and still reading makes the kernel take bytes of the
request all along: that is progress, however long the whole request takes.

- steady: a reader that empties its socket once a second (SO_RCVBUF 16 KiB,
  about 25-30 KB/s) takes 640 KiB with write_stall_timeout 5 s (five reads' margin for a
  reader thread delayed on a loaded machine), while the
  relay holds write requests of up to 256 KiB (checked: queued_bytes_peak is
  more than drains in 5 s). It must not be reset: every byte arrives
  (SHA-256), then EOF, and "write stalled" is never logged. Counting whole
  requests (256 KiB take about 9 s here), the relay resets it ("write
  stalled").
- stopped: the reader reads nothing: the stream is reset for the write stall
  after write_stall_timeout, not before (lower bound by construction: every
  byte was sent after the clock started; 10 ms below it for the relay's loop
  clock, whole milliseconds), and within 5 s more (a loaded
  2-core machine under ASan, ctest -j2).

Both run in a private network namespace (unshare -n; needs root, skips with
77 without it) so that two host-wide TCP settings can be set for this test
alone, as a reader across a real network has them:
  - tcp_wmem max 64 KiB and reno: on loopback the relay's send buffer
    autotunes with the congestion window (64 KiB segments, or BBR's cwnd at a
    small MSS) to several hundred KiB or MiB, and the kernel wakes a writer
    only when a third of it is free, so libuv's queue size itself would move
    in steps longer than the timeout. The reader also sets MSS 1400.
  - The reader empties its whole receive buffer at each read, so its window
    reopens by more than the head of the relay's send queue: the relay sets
    TCP_USER_TIMEOUT = write_stall_timeout on legs, and Linux's zero-window
    persist timer aborts a leg whose window reopens by less (4-32 KiB reads
    into a larger buffer were aborted by the kernel, ETIMEDOUT, "write
    stalled (nothing acknowledged)"), whatever the relay's timer does.
"""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import lrharness as h
import lrproto as p

KIB = 1024
TOTAL = 640 * KIB
STEP = 1024 * KIB  # everything buffered, every PERIOD s
PERIOD = 1.0
RCV = 16 * KIB
STALL_S = 5
SKIP = 77


def reexec_in_netns():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("sysctl"):
        print("SKIP: needs root, unshare and sysctl")
        return SKIP
    env = dict(os.environ, LR_IN_NETNS="1")
    return subprocess.run(["unshare", "-n", sys.executable] + sys.argv, env=env).returncode


def netns_setup():
    """Loopback up; per-namespace TCP settings of a real path (see above)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["sysctl", "-q", "-w", "net.ipv4.tcp_wmem=4096 16384 65536"], check=True)
    subprocess.run(["sysctl", "-q", "-w", "net.ipv4.tcp_congestion_control=reno"], check=True)


def slow_leg(r, ticket):
    """A leg whose kernel takes little: a small receive buffer, MSS 1400."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCV)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
    s.settimeout(5)
    s.connect((r.host, r.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(p.preamble(2) + ticket)
    return s


def stream(r, link):
    sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
    ta, tb = p.open_stream(sa, sb, 1)
    la, lb = p.leg(r, ta["ticket"]), slow_leg(r, tb["ticket"])
    p.recv_exact(la, 1), p.recv_exact(lb, 1)  # SPLICED
    return [sa, sb, la, lb]


def writer(s, data, out):
    # sendall's timeout bounds the whole call, and the whole call waits for
    # the slow reader: bound it by the test's own deadline, not connect's.
    s.settimeout(150)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out.append("done")
    except OSError as e:
        out.append(type(e).__name__)


def steady(c):
    r = h.Relay(fast=False, limits={"write_stall_timeout": "%ds" % STALL_S,
                                    "zero_copy_streams": "0"})
    socks = []
    try:
        r.start()
        link = r.add_link_live("steady")
        socks = stream(r, link)
        la, lb = socks[2], socks[3]
        data = bytes(range(256)) * (TOTAL // 256)
        wout = []
        t = threading.Thread(target=writer, args=(la, data, wout))
        t0 = time.time()
        t.start()
        got = hashlib.sha256()
        n, end = 0, None
        lb.settimeout(10)
        while end is None and time.time() - t0 < 120:
            try:
                d = lb.recv(STEP)
                if not d:
                    end = "eof"
                    break
                got.update(d)
                n += len(d)
            except ConnectionResetError:
                end = "reset"
            except socket.timeout:
                end = "timeout"
            time.sleep(PERIOD)
        dt = time.time() - t0
        t.join(10)
        st = r.status()
        print("steady: %d of %d bytes in %.1f s (%.0f B/s), end %s, queued peak %d, writer %s"
              % (n, TOTAL, dt, n / dt, end, st["queued_bytes_peak"], wout))
        c.check("steady: the stream stayed on the copying path",
                st["streams_zero_copy_total"] == 0, st["streams_zero_copy_total"])
        c.check("steady: a write request held more than drains in write_stall_timeout",
                st["queued_bytes_peak"] > n / dt * STALL_S, st["queued_bytes_peak"])
        c.check("steady: not reset: every byte arrived intact, then EOF",
                end == "eof" and n == TOTAL
                and got.digest() == hashlib.sha256(data).digest(), (end, n))
        c.check("steady: the writer finished", wout == ["done"], wout)
        c.check("steady: no write stall logged", "write stalled" not in r.log())
    finally:
        for s in socks:
            s.close()
        if c.failed:
            print(r.log()[-3000:])
        r.close()


def stopped(c):
    r = h.Relay(fast=False, limits={"write_stall_timeout": "%ds" % STALL_S,
                                    "zero_copy_streams": "0"})
    socks = []
    try:
        r.start()
        link = r.add_link_live("stopped")
        socks = stream(r, link)
        la = socks[2]
        wout = []
        t0 = time.time()
        t = threading.Thread(target=writer, args=(la, b"x" * (4 * KIB * KIB), wout))
        t.start()
        ok = h.wait_for(lambda: "write stalled" in r.log(), timeout=STALL_S + 30)
        el = time.time() - t0
        t.join(10)
        print("stopped: reset after %.2f s, writer %s" % (el, wout))
        c.check("stopped: reset for the write stall", ok)
        c.check("stopped: not before write_stall_timeout, within 5 s more",
                STALL_S - 0.01 <= el < STALL_S + 5, "%.2f s" % el)
    finally:
        for s in socks:
            s.close()
        if c.failed:
            print(r.log()[-3000:])
        r.close()


def main():
    if os.environ.get("LR_IN_NETNS") != "1":
        return reexec_in_netns()
    netns_setup()
    c = h.Checks()
    steady(c)
    stopped(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
