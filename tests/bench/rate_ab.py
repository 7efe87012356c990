#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Bandwidth limits (docs/design.md D28): does a --rate limit hold over a
window, and do other links keep their throughput?

Usage: /usr/bin/python3 tests/bench/rate_ab.py BUILD [--rate 100Mbit]
           [--secs 10] [--warmup 1] [--reps 1]

One relay (BUILD/relay/linkrelay, any build type) on loopback with two links:
L limited to --rate a->b, U unlimited. Each stream is one raw leg pair (the
integration tests' Python test peer) whose sender and receiver each run in a
forked process of their own (no shared interpreter lock between links). Three
phases of warmup + secs each: U alone, L and U together, L alone. For L: the
bytes its receiver got in the secs window after warmup, as a fraction of
rate * secs (1.00 = exactly the limit; the issue's target is within 5 %).
For U: MB/s alone and beside L. The relay's CPU time per GB moved in each
phase is read from /proc (the senders and receivers are Python: on a loaded
machine they, not the relay, set U's MB/s; the relay's CPU per GB says
whether L costs U anything). Prints a Markdown table with the load average before and after. Every
process started here is stopped by PID; the relay's temp directory is removed.
"""
import argparse
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
import lrharness as h  # noqa: E402
import lrproto as p  # noqa: E402

CHUNK = 256 * 1024


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(fn):
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    return pid


class Flow:
    """One stream: a forked sender that writes until killed, a forked
    receiver that counts bytes and writes (bytes at window start, bytes at
    window end) to a pipe."""

    def __init__(self, r, sa, sb, req_id, t_start, warmup, secs):
        ta, tb = p.open_stream(sa, sb, req_id)
        la, lb = p.leg(r, ta["ticket"]), p.leg(r, tb["ticket"])
        p.recv_exact(la, 1), p.recv_exact(lb, 1)
        rd, wr = os.pipe()
        self.rd = rd

        def send():
            buf = os.urandom(CHUNK)
            try:
                while True:
                    la.sendall(buf)
            except OSError:
                pass

        def recv():
            got, marks = 0, []
            edges = [t_start + warmup, t_start + warmup + secs]
            lb.settimeout(5)
            while edges:
                try:
                    d = lb.recv(1 << 20)
                except OSError:
                    break
                if not d:
                    break
                now = time.monotonic()
                while edges and now >= edges[0]:
                    marks.append(got)
                    edges.pop(0)
                got += len(d)
            os.write(wr, ("%s\n" % " ".join(map(str, marks))).encode())

        self.pids = [child(send), child(recv)]
        os.close(wr)
        la.close(), lb.close()

    def result(self):
        """Bytes received in the window (None if it ended early)."""
        data = b""
        while True:
            d = os.read(self.rd, 256)
            if not d:
                break
            data += d
        os.close(self.rd)
        marks = [int(x) for x in data.split()]
        return marks[1] - marks[0] if len(marks) == 2 else None

    def stop(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)


def phase(r, flows_spec, warmup, secs):
    """flows_spec: list of (sa, sb). Returns ([bytes in window], relay CPU s)."""
    t0 = time.monotonic()
    flows = [Flow(r, sa, sb, i + 1, t0, warmup, secs) for i, (sa, sb) in enumerate(flows_spec)]
    c0 = cpu_s(r.proc.pid)
    time.sleep(warmup + secs + 0.5)
    c1 = cpu_s(r.proc.pid)
    try:
        res = [f.result() for f in flows]
    finally:
        for f in flows:
            f.stop()
    h.wait_for(lambda: r.status()["streams_open"] == 0, timeout=10)
    return res, c1 - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--rate", default="100Mbit")
    ap.add_argument("--secs", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=1)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    h.BUILD, h.RELAY = build, os.path.join(build, "relay", "linkrelay")
    h.LINKCTL, h.PEER = os.path.join(build, "linkctl", "linkctl"), os.path.join(
        build, "tests", "lr_testpeer")
    load0 = os.getloadavg()
    r = h.Relay(limits={"dead_after": "600s"}, log_level="warn")
    rows = []
    sessions = []
    try:
        r.start()
        lk = r.add_link_live("L")
        uk = r.add_link_live("U")
        r.ctl("link", "set", "L", "--rate-a-to-b", a.rate)
        rate = r.ctl_json("link", "show", "L")["rate"]["a_to_b"]
        h.wait_for(lambda: any(l["name"] == "L" and l["rate"]["a_to_b"] == rate
                               for l in r.admin("links")["links"]), timeout=10)
        L = (p.Session(r, lk, 0), p.Session(r, lk, 1))
        U = (p.Session(r, uk, 0), p.Session(r, uk, 1))
        sessions = [*L, *U]
        for rep in range(a.reps):
            (u_alone,), cpu_u = phase(r, [U], a.warmup, a.secs)
            (l_both, u_both), cpu_b = phase(r, [L, U], a.warmup, a.secs)
            (l_alone,), cpu_l = phase(r, [L], a.warmup, a.secs)
            rows.append((rep + 1, l_alone / (rate * a.secs), l_both / (rate * a.secs),
                         u_alone / a.secs / 1e6, u_both / a.secs / 1e6,
                         cpu_u / (u_alone / 1e9), cpu_b / ((l_both + u_both) / 1e9),
                         cpu_l / (l_alone / 1e9)))
            print("rep %d done" % (rep + 1), file=sys.stderr, flush=True)
    finally:
        for s in sessions:
            s.close()
        r.close()
    load1 = os.getloadavg()
    print("rate %s = %d bytes/s a->b on link L; window %g s after %g s warmup; %s"
          % (a.rate, rate, a.secs, a.warmup, socket.gethostname()))
    print("load average before %.2f %.2f %.2f, after %.2f %.2f %.2f\n" % (*load0, *load1))
    print("| rep | L alone / limit | L beside U / limit | U alone MB/s | U beside L MB/s "
          "| relay CPU s/GB: U alone | L+U | L alone |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| %d | %.4f | %.4f | %.0f | %.0f | %.2f | %.2f | %.2f |" % row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
