#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kept stream legs (design.md D48, protocol.md §7.5) meet resumption and
revocation, with the real programs:

  - (first) a kept leg that ends after the opener sent its first frame and
    before the answer: see fallback() below;
  - a stream that runs on a kept leg resumes (§7.3) when linkrelay is
    killed and started again in its middle: every byte arrives once and in
    order, the client sees a clean end; the agents' kept legs from before
    the kill are gone (their control sessions went down);
  - fallback(): a kept leg that ends after the opener sent its first frame
    and before the answer (b stopped with SIGSTOP, a's leg then aborted by the kernel,
    `ss -K`): a OPENs the stream anew with the same local connection; once b
    runs again the client's bytes come back and nothing was reset; a counts
    one fallback;
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


def fallback(c, r, a, b, la, pa):
    """Module docstring, third point."""
    control = relay_socks(a.proc.pid, r.port)
    c.check("a stream leaves a kept leg", ah.works(la, 5000)
            and h.wait_for(lambda: idle(pa) == 1, 5))
    leg = relay_socks(a.proc.pid, r.port) - control
    c.check("a's kept leg found", len(leg) == 1, (control, leg))
    before = legs(pa)
    b.proc.send_signal(signal.SIGSTOP)
    try:
        s = socket.create_connection(("127.0.0.1", la), timeout=20)
        data = os.urandom(50000)
        s.sendall(data)
        c.check("a took the kept leg", h.wait_for(lambda: idle(pa) == 0, 5))
        c.check("its leg aborted before b answered", len(leg) == 1 and kill_sock(leg.pop(), r.port))
        c.check("a OPENs the stream anew", a.wait_log("kept stream leg ended before the peer "
                                                     "answered"))
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
    rig = ah.Rig(fixed_port=True)
    try:
        r = rig.start_relay()
        srv = rig.server("echo")
        toks = rig.link("lnk")["tokens"]
        la = ah.free_port()
        common = "backoff_min = 100ms\nbackoff_max = 1s\nkeep_idle = 30s"
        b = rig.conf_agent("b", toks["b"], "connect = 127.0.0.1:%d" % srv.port, common)
        a = rig.conf_agent("a", toks["a"], "listen = 127.0.0.1:%d" % la, common)
        c.check("agents online", h.wait_for(lambda: "peer online" in a.log()
                                            and "peer online" in b.log(), 20))
        pa, pb = ah.metrics_port(a), ah.metrics_port(b)
        fallback(c, r, a, b, la, pa)

        c.check("a first stream leaves a kept leg", ah.works(la, 5000)
                and h.wait_for(lambda: idle(pa) == 1 and idle(pb, "answer") == 1, 5))
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
