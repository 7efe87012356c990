#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stream outlives its relay's drain (docs/design.md D25, D24): with
drain_timeout 2 s, `linkrelay --takeover` takes the listening socket over,
the old relay drains, and at the deadline cuts a stream that is still
carrying an interactive session through two linkagents. The stream resumes
on the successor: every answer right before, across and after the cut,
nothing reset at either end, both agents log the resumption, and the old
relay exits 0 after saying it closed the stream at drain_timeout.
"""
import os
import socket
import subprocess
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import lrproto as p


def interactive(s, stop, res):
    """A line, its echo, the next line: until stop."""
    i = 0
    while not stop.is_set():
        q = b"line %06d\n" % i
        try:
            s.sendall(q)
            got = p.recv_exact(s, len(q), 60)
        except OSError as e:
            res["error"] = repr(e)
            return
        res["ok" if got == q else "wrong"] += 1
        i += 1
        time.sleep(0.005)


def main():
    c = h.Checks()
    relay = ah.fixed_port_relay(limits={"drain_timeout": "2s"})
    rig = ah.Rig(relay=relay)
    new = None
    stop = threading.Event()
    try:
        r = rig.start_relay()
        lport, srv = rig.pair("echo")
        s = socket.create_connection(("127.0.0.1", lport), timeout=15)
        res = {"ok": 0, "wrong": 0}
        t = threading.Thread(target=interactive, args=(s, stop, res), daemon=True)
        t.start()
        h.wait_for(lambda: res["ok"] >= 20, timeout=20)
        old = r.proc
        ready = os.path.join(r.top, "ready-2")
        new = h.LogProc([h.RELAY, "--state-dir", r.dir, "--ready-file", ready, "--takeover"],
                        os.path.join(r.top, "relay-2.log"))
        new.start()
        c.check("successor ready", h.wait_for(lambda: os.path.exists(ready), timeout=15),
                new.log()[-800:])
        try:
            rc = old.wait(30)
        except subprocess.TimeoutExpired:
            rc = "hung"
        c.check("the old relay cut the stream at drain_timeout and exited 0",
                rc == 0 and "drain_timeout reached with 1 streams open" in r.log(),
                (rc, r.log()[-1200:]))
        r.proc = None
        ok_at_cut = res["ok"]
        c.check("the session goes on after the cut",
                h.wait_for(lambda: res["ok"] >= ok_at_cut + 100 or "error" in res, timeout=60),
                res)
        stop.set()
        t.join(70)
        c.check("every answer right, no error or reset", res["wrong"] == 0
                and "error" not in res and res["ok"] >= ok_at_cut + 100, res)
        c.check("both agents resumed the stream on the successor",
                rig.a.wait_log("stream resumed on a new leg")
                and rig.b.wait_log("stream resumed on a new leg"))
        st = r.ctl_json("status")  # the admin socket is the successor's now
        c.check("the successor carries the resumed stream", st["streams_open"] == 1, st)
        c.check("no stream reset by either agent", "resetting" not in rig.a.log() + rig.b.log())
        s.shutdown(socket.SHUT_WR)
        c.check("the session ends cleanly", p.read_until_close(s, 10)[1] == "eof")
        s.close()
        c.check("the device side saw no reset", srv.ends.count("reset") == 0, srv.ends)
        c.check("successor stops with 0", new.stop() == 0)
        new = None
    finally:
        stop.set()
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
