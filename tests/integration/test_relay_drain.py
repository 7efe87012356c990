#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay drains (docs/design.md D25), with the Python test peer:
  - SIGTERM with drain_timeout: every session gets GOING_AWAY (seconds =
    drain_timeout), the listener is closed (a new connection is refused),
    `linkctl status` says draining with the time left, a spliced stream
    carries a request/response loop on, and once it ends the relay exits 0
    long before drain_timeout;
  - drain_timeout reached: exit 0, not before drain_timeout (lower bound
    exact), within drain_timeout + the 2 s session flush + 3 s slack; the
    stream left is reset;
  - a second SIGTERM during the drain stops at once (streams reset);
  - `linkctl relay drain --timeout D` drains a running relay; refused with a
    clear error when already draining, with a bad duration, and when the
    relay is not running;
  - a newer session of the same link side replaces the old one (CLOSE
    replaced) and the stream spliced meanwhile goes on;
  - with two linkagents: both leave the draining relay's session on
    GOING_AWAY and re-dial, their stream carries on until it ends, and the
    relay then exits 0 (the takeover case: test_relay_takeover.py).
"""
import signal
import socket
import subprocess
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import lrproto as p


def spliced(r, l):
    sa, sb = p.Session(r, l, 0), p.Session(r, l, 1)
    ta, tb = p.open_stream(sa, sb, 1)
    la, lb = p.leg(r, ta["ticket"]), p.leg(r, tb["ticket"])
    p.recv_exact(la, 1), p.recv_exact(lb, 1)
    return sa, sb, la, lb


def exchange(la, lb, rounds, pause=0.0):
    """A request/response loop: la asks, lb answers. True if all came back."""
    for i in range(rounds):
        q = b"req %04d\n" % i
        la.sendall(q)
        if p.recv_exact(lb, len(q)) != q:
            return False
        lb.sendall(b"ok " + q)
        if p.recv_exact(la, len(q) + 3) != b"ok " + q:
            return False
        time.sleep(pause)
    return True


def waiter(proc, ended):
    t = threading.Thread(target=lambda: (proc.wait(60), ended.append(time.time())), daemon=True)
    t.start()
    return t


def refused(r):
    try:
        socket.create_connection((r.host, r.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def drain_until_streams_end(c):
    r = h.Relay(limits={"drain_timeout": "10s"})
    try:
        r.start()
        l = r.add_link("d1")
        sa, sb, la, lb = spliced(r, l)
        c.check("stream works before", exchange(la, lb, 5))
        ended = []
        t0 = time.time()
        r.proc.send_signal(signal.SIGTERM)
        w = waiter(r.proc, ended)
        ga = [s.expect(0x08, 5) for s in (sa, sb)]
        c.check("both sessions told GOING_AWAY with seconds = drain_timeout",
                all(m[1:3] == b"\x00\x0a" and b"relay draining" in m for m in ga),
                [m.hex() for m in ga])
        c.check("the listener is closed while draining", refused(r))
        st = r.ctl_json("status")
        c.check("status: draining, time left within drain_timeout",
                st["state"] == "draining" and 0 < st["drain_left_ms"] <= 10000, st)
        human = r.ctl("status").stdout
        c.check("linkctl status says draining", "draining" in human, human)
        c.check("the interactive stream goes on during the drain",
                exchange(la, lb, 20, 0.05))
        c.check("relay still running while its stream is open", r.proc.poll() is None)
        la.shutdown(socket.SHUT_WR), lb.shutdown(socket.SHUT_WR)
        p.read_until_close(la, 5), p.read_until_close(lb, 5)
        la.close(), lb.close()
        w.join(15)
        dt = ended[0] - t0 if ended else float("inf")
        rc = r.stop()
        c.check("exits 0 once its stream ended, well before drain_timeout",
                rc == 0 and dt < 8 and "drain: no stream left" in r.log(), "rc %s %.2f s" % (rc, dt))
    finally:
        r.close()


def drain_timeout_reached(c):
    r = h.Relay(limits={"drain_timeout": "2s"})
    try:
        r.start()
        sa, sb, la, lb = spliced(r, r.add_link("d2"))
        ended = []
        t0 = time.time()
        r.proc.send_signal(signal.SIGTERM)
        w = waiter(r.proc, ended)
        ends = [p.read_until_close(s, 12)[1] for s in (la, lb)]
        w.join(15)
        dt = ended[0] - t0 if ended else float("inf")
        rc = r.stop()
        c.check("streams left at drain_timeout are reset", ends == ["reset", "reset"], ends)
        # Lower bound exact: the drain timer fires drain_timeout after the
        # signal, which came after t0. Upper: + the drain check (0.1 s), the
        # sessions' CLOSE flush (2 s, relay/conn.c) and 3 s for a loaded host.
        c.check("exit 0 not before drain_timeout and within drain_timeout + 5.1 s",
                rc == 0 and 2.0 <= dt < 7.1 and "drain_timeout reached" in r.log(),
                "rc %s %.2f s" % (rc, dt))
    finally:
        r.close()


def second_sigterm(c):
    r = h.Relay(limits={"drain_timeout": "60s"})
    try:
        r.start()
        sa, sb, la, lb = spliced(r, r.add_link("d3"))
        r.proc.send_signal(signal.SIGTERM)
        c.check("draining", h.wait_for(lambda: "draining:" in r.log(), timeout=5))
        ended = []
        t0 = time.time()
        r.proc.send_signal(signal.SIGTERM)
        w = waiter(r.proc, ended)
        ends = [p.read_until_close(s, 10)[1] for s in (la, lb)]
        w.join(15)
        dt = ended[0] - t0 if ended else float("inf")
        rc = r.stop()
        c.check("second SIGTERM stops at once: streams reset, exit 0 within 5 s",
                ends == ["reset", "reset"] and rc == 0 and dt < 5, "%s rc %s %.2f s" % (ends, rc, dt))
    finally:
        r.close()


def linkctl_drain(c):
    r = h.Relay(limits={"drain_timeout": "60s"})
    try:
        r.start()
        sa, sb, la, lb = spliced(r, r.add_link("d4"))
        bad = r.ctl("relay", "drain", "--timeout", "soon", check=False)
        c.check("bad --timeout: usage error", bad.returncode == 2 and "--timeout" in bad.stderr,
                (bad.returncode, bad.stderr))
        ok = r.ctl("relay", "drain", "--timeout", "20s", check=False)
        c.check("linkctl relay drain: exit 0, says draining",
                ok.returncode == 0 and "relay draining" in ok.stdout, (ok.returncode, ok.stdout,
                                                                       ok.stderr))
        m = sa.expect(0x08, 5)
        c.check("GOING_AWAY carries the requested 20 s", m[1:3] == b"\x00\x14", m.hex())
        again = r.ctl("relay", "drain", check=False)
        c.check("a second drain is refused: already draining",
                again.returncode == 1 and "already draining" in again.stderr,
                (again.returncode, again.stderr))
        la.close(), lb.close()
        c.check("exits 0 once the stream is gone", r.proc.wait(10) == 0)
        r.proc = None
        gone = r.ctl("relay", "drain", check=False)
        c.check("not running: exit 1, says so", gone.returncode == 1
                and "relay not running" in gone.stderr, (gone.returncode, gone.stderr))
    except subprocess.TimeoutExpired:
        c.check("relay exited after linkctl relay drain", False)
    finally:
        r.close()


def replaced_keeps_streams(c):
    r = h.Relay()
    try:
        r.start()
        l = r.add_link("d5")
        sa, sb, la, lb = spliced(r, l)
        sa2 = p.Session(r, l, 0)
        m = sa.expect(0x05, 5)
        c.check("old session told CLOSE replaced", m[1] == 4, m.hex())
        c.check("the stream spliced under the old session goes on", exchange(la, lb, 10))
        sa2.open(7)
        got = p.parse_stream(sa2.expect(0x03))
        c.check("the new session opens streams", got["req"] == 7)
    finally:
        r.close()


def agents_keep_streams(c):
    """Two linkagents: on GOING_AWAY they leave the draining relay's session
    and re-dial (nothing answers there: no successor), and the stream they
    carry goes on until it ends; then the relay exits."""
    rig = ah.Rig(fixed_port=True, limits={"drain_timeout": "20s"})
    try:
        r = rig.start_relay()
        lport, srv = rig.pair("echo")
        s = socket.create_connection(("127.0.0.1", lport), timeout=15)

        def echo(i):
            q = b"line %04d\n" % i
            s.sendall(q)
            return p.recv_exact(s, len(q), 10) == q
        c.check("agents: stream up", all(echo(i) for i in range(5)))
        r.proc.send_signal(signal.SIGTERM)
        c.check("agents: both hear GOING_AWAY and leave the session",
                rig.a.wait_log("relay going away") and rig.b.wait_log("relay going away"))
        c.check("agents: they re-dial and find the listener closed",
                rig.a.wait_log("connect failed", timeout=10), rig.a.log()[-1500:])
        c.check("agents: the stream goes on during the drain",
                all(echo(i) for i in range(5, 25)) and r.proc.poll() is None)
        s.shutdown(socket.SHUT_WR)
        c.check("agents: the stream ends cleanly", p.read_until_close(s, 10)[1] == "eof")
        s.close()
        try:
            rc = r.proc.wait(15)
        except subprocess.TimeoutExpired:
            rc = "hung"
        c.check("agents: the relay exits 0 once the stream ended",
                rc == 0 and "drain: no stream left" in r.log(), rc)
        c.check("agents: no reset at the device side", "reset" not in srv.ends, srv.ends)
    finally:
        rig.close()


def main():
    c = h.Checks()
    for case in (drain_until_streams_end, drain_timeout_reached, second_sigterm, linkctl_drain,
                 replaced_keeps_streams, agents_keep_streams):
        case(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
