#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kept stream legs (design.md D48, protocol.md §7.5) meet resumption and
revocation, with the real programs:

  - (first) a kept leg that ends after the opener sent its first frame and
    before the answer, or that gets no answer in time: see take_unanswered();
  - a stream that runs on a kept leg resumes (§7.3) when linkrelay is
    killed and started again in its middle: every byte arrives once and in
    order, the client sees a clean end; the agents' kept legs from before
    the kill are gone (their control sessions went down);
  - take_unanswered(): a kept leg that ends after the opener sent its first
    frame and before the answer (b stopped with SIGSTOP, a's leg then aborted
    by the kernel, `ss -K`), or that stays up with no answer for 3 s (b
    stopped, a path that died silently): a OPENs the stream anew with the
    same local connection; once b runs again the client's bytes come back
    and nothing was reset; a counts one fallback;
  - injected_first_frame(): bytes that are no first frame, written on a's
    idle kept leg from outside (as a relay could inject them), make b end
    that stream at once with no connection to its target left open;
  - revoking the link closes the idle kept legs on both sides: their
    gauges fall to 0 and the relay has no stream open.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import agentharness as ah
import lrharness as h
import promharness as ph


def legs(port):
    ms = ph.scrape_after(port)
    return {k: ph.value(ms, "linkagent_stream_legs_total", link="lnk", leg=k)
            for k in ("new", "kept", "fallback")}


def idle(port, role="opener"):
    return ph.value(ph.scrape_after(port), "linkagent_kept_legs", link="lnk", role=role)


def kill_restart(r, down_s=0.5):
    r.proc.kill()
    r.proc.wait()
    r.proc = None
    time.sleep(down_s)
    r.start()


def echo_part(s, data):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        b = s.recv(65536)
        if not b:
            break
        got += b
    return got


def relay_socks(pid, port):
    """The local ports of pid's established TCP connections to port."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", "dport", "=", ":%d" % port],
                         capture_output=True, text=True).stdout
    return {int(m.group(1)) for line in out.splitlines() if "pid=%d," % pid in line
            for m in [re.search(r":(\d+)\s+\S+:%d\b" % port, line)] if m}


def kill_sock(lport, port):
    return subprocess.run(["ss", "-K", "state", "established", "sport", "=", ":%d" % lport,
                           "dport", "=", ":%d" % port], capture_output=True).returncode == 0


RST_WHY = "kept stream leg ended before the peer answered"
LATE_WHY = "no answer on the kept stream leg in time"


def sock_fd(pid, lport):
    """The descriptor in pid of its TCP socket with local port lport."""
    inodes = set()
    for name in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        with open(name) as f:
            for line in f.readlines()[1:]:
                x = line.split()
                if int(x[1].rsplit(":", 1)[1], 16) == lport:
                    inodes.add(x[9])
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return int(fd)
    return None


def inject(pid, fd, data):
    """Writes data on pid's socket fd from here (pidfd_getfd, root): bytes
    that look to the relay as if a sent them, as a relay could inject."""
    pidfd = os.pidfd_open(pid)
    try:
        try:
            mine = h.pidfd_getfd(pidfd, fd)
        except OSError:
            return False
        try:
            return os.write(mine, data) == len(data)
        finally:
            os.close(mine)
    finally:
        os.close(pidfd)


def target_conns(pid, port):
    """pid's established connections to port, by their local address: a
    set, so one opened meanwhile shows even if another ended (the streams
    waiting for resumption end at resume_timeout)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", "dport", "=", ":%d" % port],
                         capture_output=True, text=True).stdout
    return {line.split()[2] for line in out.splitlines() if "pid=%d," % pid in line}


def control_ports(r):
    """a's control connection's port, as the relay shows it."""
    addr = r.ctl_json("link", "show", "lnk").get("live", {}).get("a", {}).get("addr", "")
    return {int(addr.rsplit(":", 1)[1])} if ":" in addr else set()


def injected_first_frame(c, r, a, b, la, pa, pb, srv):
    """Bytes that are no valid first frame reach b's idle answering leg (a
    relay injecting them): b ends that stream at once and leaves nothing
    behind, above all no new connection to its target (each injection would
    otherwise leave one open, with its stream, for ever)."""
    # The streams b answered on the legs a gave up above wait for their
    # resumption (resume_timeout) with their target connections: count.
    n0 = target_conns(b.proc.pid, srv.port)
    c.check("inject: a stream leaves a kept leg", ah.works(la, 1000)
            and h.wait_for(lambda: idle(pa) == 1 and idle(pb, "answer") == 1, 5))
    control = control_ports(r)
    leg = relay_socks(a.proc.pid, r.port) - control
    fd = sock_fd(a.proc.pid, leg.pop()) if len(control) == 1 and len(leg) == 1 else None
    c.check("inject: a's kept leg found", fd is not None, (control, leg))
    fails = b.count("end-to-end handshake failed")
    c.check("inject: bytes written on a's kept leg", fd is not None
            and inject(a.proc.pid, fd, b"\x7f\xff" + bytes(30)))
    c.check("inject: b refuses them as a first frame",
            b.wait_log("end-to-end handshake failed", n=fails + 1), b.log()[-1500:])
    c.check("inject: the kept legs are gone on both sides",
            h.wait_for(lambda: idle(pa) == 0 and idle(pb, "answer") == 0, 10),
            (idle(pa), idle(pb, "answer")))
    time.sleep(0.5)  # a dial b started would have connected by now (loopback)
    new = target_conns(b.proc.pid, srv.port) - n0
    c.check("inject: b opened no connection to its target", not new, (n0, new))
    c.check("inject: a stream after works", ah.works(la, 5000))


def take_unanswered(c, r, a, b, la, pa, abort):
    """b stopped; a client's connection takes a's kept leg. abort: the leg
    is then aborted by the kernel (`ss -K`), else it stays up and b just
    never answers. Either way a OPENs the stream anew (the log line says
    which trigger it was); once b runs again the client's bytes come back
    and a counts one fallback and one new leg."""
    control = relay_socks(a.proc.pid, r.port)
    c.check("a stream leaves a kept leg", ah.works(la, 5000)
            and h.wait_for(lambda: idle(pa) >= 1, 5))
    leg = relay_socks(a.proc.pid, r.port) - control
    if abort:  # the first kept leg of the run: the control connection was there before
        c.check("a's kept leg found", len(leg) == 1, (control, leg))
    before = legs(pa)
    n_rst, n_late = a.count(RST_WHY), a.count(LATE_WHY)
    b.proc.send_signal(signal.SIGSTOP)
    try:
        s = socket.create_connection(("127.0.0.1", la), timeout=30)
        data = os.urandom(50000)
        s.sendall(data)
        t0 = time.monotonic()
        c.check("a took the kept leg", h.wait_for(lambda: idle(pa) == 0, 5))
        if abort:
            # The answer deadline (3 s) may pass first on a slow machine:
            # then the leg is gone already and the other trigger fired.
            c.check("its leg aborted before b answered", len(leg) == 1 and kill_sock(leg.pop(),
                                                                                   r.port))
            c.check("a OPENs the stream anew", h.wait_for(
                lambda: a.count(RST_WHY) + a.count(LATE_WHY) == n_rst + n_late + 1, 15))
            print("fallback after an abort, by", "the abort" if a.count(RST_WHY) > n_rst
                  else "the answer deadline")
        else:
            c.check("a OPENs the stream anew when b does not answer in time",
                    a.wait_log(LATE_WHY, n=n_late + 1, timeout=15), a.log()[-1500:])
            took = time.monotonic() - t0
            print("fallback %.2f s after the connection" % took)
            c.check("not before the answer deadline", took >= 2.9, took)
            c.check("and not by a reset of the leg", a.count(RST_WHY) == n_rst)
    finally:
        b.proc.send_signal(signal.SIGCONT)
    got = echo_part(s, b"")
    while len(got) < len(data):
        x = s.recv(65536)
        if not x:
            break
        got += x
    s.shutdown(socket.SHUT_WR)
    end = s.recv(10)
    s.close()
    c.check("the client's bytes came back, then a clean end", got == data and end == b"",
            (len(got), end))
    after = legs(pa)
    c.check("a counts one fallback, and the stream on a new leg",
            after["fallback"] == before["fallback"] + 1 and after["new"] == before["new"] + 1,
            (before, after))


def main():
    c = h.Checks()
    # b is stopped for the answer deadline (3 s) and more: the relay must
    # not call it dead meanwhile, nor expire the fallback's ticket.
    rig = ah.Rig(fixed_port=True, limits={"dead_after": "30s", "ticket_expiry": "15s"})
    try:
        r = rig.start_relay()
        srv = rig.server("echo")
        toks = rig.link("lnk")["tokens"]
        la = ah.free_port()
        # Kept legs as with peers before D58 (shared legs: test_agent_sharedleg).
        common = "backoff_min = 100ms\nbackoff_max = 1s\nkeep_idle = 30s\nshare_legs = no"
        b = rig.conf_agent("b", toks["b"], "connect = 127.0.0.1:%d" % srv.port, common)
        a = rig.conf_agent("a", toks["a"], "listen = 127.0.0.1:%d" % la, common)
        c.check("agents online", h.wait_for(lambda: "peer online" in a.log()
                                            and "peer online" in b.log(), 20))
        pa, pb = ah.metrics_port(a), ah.metrics_port(b)
        take_unanswered(c, r, a, b, la, pa, abort=True)
        take_unanswered(c, r, a, b, la, pa, abort=False)

        c.check("a first stream leaves a kept leg", ah.works(la, 5000)
                and h.wait_for(lambda: idle(pa) == 1 and idle(pb, "answer") == 1, 5),
                (idle(pa), idle(pb, "answer")))
        kept0 = legs(pa)["kept"]
        s = socket.create_connection(("127.0.0.1", la), timeout=20)
        one, two = os.urandom(200000), os.urandom(300000)
        got = echo_part(s, one)
        c.check("the second stream runs on the kept leg",
                got == one and h.wait_for(lambda: legs(pa)["kept"] == kept0 + 1, 5), legs(pa))
        online = a.count("peer online")
        kill_restart(r)
        c.check("agents online again", a.wait_log("peer online", n=online + 1, timeout=30))
        got = echo_part(s, two)
        s.shutdown(socket.SHUT_WR)
        rest = b""
        while True:
            x = s.recv(65536)
            if not x:
                break
            rest += x
        s.close()
        c.check("after the relay's restart every byte came back once, then a clean end",
                got == two and rest == b"", (len(got), len(rest)))
        c.check("both agents resumed the stream", a.wait_log("stream resumed on a new leg")
                and b.wait_log("stream resumed on a new leg"))
        c.check("the resumed stream's leg is kept when it ends",
                h.wait_for(lambda: idle(pa) == 1 and idle(pb, "answer") == 1, 5),
                (idle(pa), idle(pb, "answer")))
        kept = legs(pa)["kept"]
        c.check("a stream after works, on it", ah.works(la, 5000)
                and h.wait_for(lambda: legs(pa)["kept"] == kept + 1, 5), legs(pa))

        injected_first_frame(c, r, a, b, la, pa, pb, srv)

        r.ctl("link", "revoke", "lnk")
        c.check("revocation closes the kept legs on both sides",
                h.wait_for(lambda: idle(pa) == 0 and idle(pb, "answer") == 0, 10),
                (idle(pa), idle(pb, "answer")))
        c.check("the relay has no stream open",
                h.wait_for(lambda: r.ctl_json("status")["streams_open"] == 0, 10))
    finally:
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
