#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A restart that cuts nothing (docs/design.md D25): `linkrelay --takeover`
takes the listening socket over from the running relay, which drains.
  - an interactive stream (request/response loop through two linkagents)
    carries on across the handover and ends on its own; the old relay then
    exits 0;
  - the agents hear GOING_AWAY, re-dial the same address (the successor now
    answers there) without resetting their streams, and new streams go
    through the successor;
  - control sessions opened in a loop during the handover are all served
    (WELCOME): none refused, none reset; so are streams opened through the
    agents one after the other meanwhile: none refused, none failed (a
    stream caught in D25's window is OPENed again by its agent);
  - the successor answers the admin socket;
  - --takeover with no relay running, and from a relay already draining,
    fails with a clear error.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import agentharness as ah
import lrharness as h
import lrproto as p


def ask(s, i):
    q = b"line %05d\n" % i
    s.sendall(q)
    return p.recv_exact(s, len(q), 10) == q


def hammer(r, link, stop, counts):
    """Control sessions of a second link, one after the other, until stop."""
    while not stop.is_set():
        try:
            sess = p.Session(r, link, 0)
            ok = sess.welcome[0] == 0x01
            sess.close()
            counts["served" if ok else "bad"] += 1
        except ConnectionRefusedError:
            counts["refused"] += 1
        except (ConnectionResetError, BrokenPipeError):
            counts["reset"] += 1
        except Exception as e:  # a timeout or a short read: not served
            counts["other"] += 1
            counts.setdefault("why", repr(e))


def streams(lport, stop, counts):
    """New streams through the agents, one after the other, until stop."""
    data = b"x" * 2000
    while not stop.is_set():
        try:
            got, end = ah.roundtrip(lport, data, timeout=20)
            counts["ok" if got == data and end == "eof" else "failed"] += 1
            if got != data or end != "eof":
                counts.setdefault("how", end)
        except OSError as e:
            counts["failed"] += 1
            counts.setdefault("how", repr(e))


def successor(r, tag):
    ready = os.path.join(r.top, "ready-" + tag)
    proc = h.LogProc([h.RELAY, "--state-dir", r.dir, "--ready-file", ready, "--takeover"],
                     os.path.join(r.top, "relay-%s.log" % tag))
    return proc, ready


def metrics_up(port):
    """The relay's /metrics answers on port (the successor's, after a takeover)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as f:
            return b"linkrelay_" in f.read()
    except OSError:
        return False


def failed_successor(c, r, mport):
    """A successor that takes the sockets and then fails to start (its
    metrics address is taken) never says ready: the relay serves on, gets
    its metrics endpoint back, and no connection is refused meanwhile."""
    conf = os.path.join(r.dir, "linkrelay.conf")
    with open(conf) as f:
        good = f.read()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        with open(conf, "w") as f:
            f.write(good.replace("metrics_listen = 127.0.0.1:%d" % mport,
                                 "metrics_listen = 127.0.0.1:%d" % blocker.getsockname()[1]))
        probe2 = r.add_link("probe2")
        stop, counts = threading.Event(), {"served": 0, "bad": 0, "refused": 0, "reset": 0,
                                           "other": 0}
        t = threading.Thread(target=hammer, args=(r, probe2, stop, counts), daemon=True)
        t.start()
        h.wait_for(lambda: counts["served"] >= 10, timeout=10)
        bad, _ = successor(r, "bad")
        bad.start()
        rc = bad.proc.wait(20)
        c.check("a successor that cannot start exits 1 after taking the sockets",
                rc == 1 and "taken over" in bad.log(), (rc, bad.log()[-600:]))
        bad.stop()
        c.check("the relay hears it and serves on",
                h.wait_for(lambda: "did not become ready; serving on" in r.log(), timeout=10))
        served = counts["served"]
        h.wait_for(lambda: counts["served"] >= served + 10, timeout=10)
        stop.set()
        t.join(15)
        c.check("no connection refused or reset across the failed takeover",
                counts["served"] >= 20 and counts["refused"] == 0 and counts["reset"] == 0
                and counts["other"] == 0, counts)
        st = r.ctl_json("status")
        c.check("its admin socket still answers: serving", st["state"] == "serving", st)
        c.check("its metrics endpoint is back", h.wait_for(lambda: metrics_up(mport), timeout=5))
    finally:
        blocker.close()
        with open(conf, "w") as f:
            f.write(good)


def main():
    c = h.Checks()
    mport = ah.free_port()
    relay = ah.fixed_port_relay(limits={"drain_timeout": "30s"})
    with open(os.path.join(relay.dir, "linkrelay.conf")) as f:
        text = f.read()
    with open(os.path.join(relay.dir, "linkrelay.conf"), "w") as f:
        f.write(text.replace("[relay]\n", "[relay]\nmetrics_listen = 127.0.0.1:%d\n" % mport, 1))
    rig = ah.Rig(relay=relay)
    new = None
    try:
        r = rig.start_relay()
        lport, srv = rig.pair("echo")
        probe = r.add_link("probe")
        failed_successor(c, r, mport)
        s = socket.create_connection(("127.0.0.1", lport), timeout=15)
        c.check("interactive stream up", all(ask(s, i) for i in range(5)))

        stop, counts = threading.Event(), {"served": 0, "bad": 0, "refused": 0, "reset": 0,
                                           "other": 0}
        t = threading.Thread(target=hammer, args=(r, probe, stop, counts), daemon=True)
        t.start()
        scounts = {"ok": 0, "failed": 0}
        t2 = threading.Thread(target=streams, args=(lport, stop, scounts), daemon=True)
        t2.start()
        h.wait_for(lambda: counts["served"] >= 20 and scounts["ok"] >= 10, timeout=10)
        old = r.proc
        new, ready = successor(r, "2")
        new.start()
        c.check("successor ready", h.wait_for(lambda: os.path.exists(ready), timeout=10),
                new.log())
        c.check("old relay handed over and drains",
                h.wait_for(lambda: "the successor is ready; draining" in r.log(), timeout=5),
                r.log()[-2000:])
        c.check("successor took the socket over", "taken over from the running relay" in new.log())
        c.check("the successor serves the metrics endpoint (the old one let go of it)",
                new.alive() and metrics_up(mport), new.log()[-800:])
        # The stream lives on while the agents move.
        c.check("agents re-dial on GOING_AWAY", rig.a.wait_log("relay going away")
                and rig.b.wait_log("relay going away"))
        c.check("both agents online via the successor", rig.a.wait_log("online via relay", 2)
                and rig.b.wait_log("online via relay", 2))
        c.check("the interactive stream goes on across the handover",
                all(ask(s, i) for i in range(5, 45)))
        served_before, ok_before = counts["served"], scounts["ok"]
        h.wait_for(lambda: counts["served"] >= served_before + 20
                   and scounts["ok"] >= ok_before + 10, timeout=10)
        stop.set()
        t.join(15)
        t2.join(30)
        # None refused, none failed: the stream whose STREAM the old relay
        # sent just before the switch and whose legs then reached the
        # successor ("no such stream", D25's window) is OPENed again by the
        # listen-side agent, its local connection having carried nothing.
        nostream = rig.a.count("relay has no such stream (its ticket")
        c.check("new streams through the agents during the handover: none refused, none failed",
                scounts["ok"] >= 20 and scounts["failed"] == 0 and nostream == 0,
                (scounts, nostream, rig.a.count("opening it again")))
        c.check("control sessions during the handover: all served, none refused or reset",
                counts["served"] >= 40 and counts["refused"] == 0 and counts["reset"] == 0
                and counts["other"] == 0 and counts["bad"] == 0, counts)
        c.check("old relay still runs while its stream is open", old.poll() is None)
        data = os.urandom(100000)
        got, end = ah.roundtrip(lport, data, timeout=10)
        c.check("a new stream goes through the successor", got == data and end == "eof", end)
        st = r.ctl_json("status")
        c.check("the admin socket is the successor's", st["state"] == "serving"
                and st["streams_total"] >= 1, st)
        c.check("no stream reset at the device side but those OPENed again",
                srv.ends.count("reset") <= rig.a.count("opening it again"),
                srv.ends.count("reset"))
        s.shutdown(socket.SHUT_WR)
        c.check("interactive stream ends cleanly", p.read_until_close(s, 10)[1] == "eof")
        s.close()
        try:
            rc = old.wait(15)
        except subprocess.TimeoutExpired:
            rc = "hung"
        c.check("old relay exits 0 once its stream ended",
                rc == 0 and "drain: no stream left" in r.log()
                and "stopped cleanly" in r.log(), rc)
        r.proc = None
        gone = r.ctl("status", check=False)
        c.check("after the old relay stopped, the admin socket is still the successor's",
                gone.returncode == 0, gone.stderr)

        # A takeover from a relay that is draining already is refused. A
        # stream through the agents keeps the successor draining meanwhile.
        s2 = socket.create_connection(("127.0.0.1", lport), timeout=15)
        c.check("a stream through the successor", ask(s2, 1))
        new.send_signal(signal.SIGTERM)
        c.check("successor drains", new.wait_log("draining:"))
        third, _ = successor(r, "3")
        third.start()
        rc3 = third.proc.wait(15)
        c.check("nothing to take over from a draining relay: exit 1, clear error",
                rc3 == 1 and "its listening sockets are closed" in third.log(),
                (rc3, third.log()[-500:]))
        third.stop()
        c.check("the successor's stream goes on while it drains", ask(s2, 2))
        s2.close()
        try:
            rc2 = new.proc.wait(15)
        except subprocess.TimeoutExpired:
            rc2 = "hung"
        c.check("successor exits 0 once its stream is gone", rc2 == 0
                and "drain: no stream left" in new.log(), (rc2, new.log()[-500:]))
        new.stop()
        c.check("successor loop clean", "stopped cleanly" in new.log()
                and "handle still open" not in new.log())
        new = None
        fourth, _ = successor(r, "4")
        fourth.start()
        rc4 = fourth.proc.wait(15)
        c.check("--takeover with no relay running: exit 1, says so",
                rc4 == 1 and "no relay answers" in fourth.log(), (rc4, fourth.log()[-500:]))
        fourth.stop()
    finally:
        if new is not None:
            new.kill()
        if c.failed:
            rig.dump()
            if new is not None:
                print(new.log()[-3000:])
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
