#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""kill -9 of the home of a live link in a pool of three relays on one
registry file (docs/design.md D34), with a stream in flight both ways:

- both agents come online again at the new home (the rendezvous hash over
  the two survivors) and the stream resumes there (§7.3): every byte arrives
  at both ends, once and in order (SHA-256 at both ends), no reset;
- the time from the kill until both agents are online again is printed, and
  asserted against a bound that holds by construction from the configured
  timers: the survivors see the home dead within member_timeout (1 s) plus
  one heartbeat (250 ms); an agent retries at most backoff_max (1 s)
  apart; a retry meets a survivor that is the home or redirects at once
  (two handshakes, each bounded by handshake_timeout, 2 s). That is 6.75 s;
  5 s more are allowed for a loaded machine and the sanitizers. (The
  issue's target, 2 s, is a figure to read off the output, not a timed test.
  Since D41 the survivor an agent reaches finds the killed home's port
  refused and serves the link at once; test_pool_killnow covers that.)

The kill comes in the middle by construction: once both ends have received
a quarter of the stream, and neither sender writes past seven eighths
before it.
"""
import os
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import poolharness as ph
from test_agent_resume import MIB, Target, check_transfer, start_transfer

TIMEOUT_S, HEARTBEAT_S, BACKOFF_MAX_S, HANDSHAKE_S = 1.0, 0.25, 1.0, 2.0
BOUND_S = TIMEOUT_S + HEARTBEAT_S + BACKOFF_MAX_S + 2 * HANDSHAKE_S + 5.0


def conf_agent(rig, name, token, relays, role_line):
    path = os.path.join(rig.tmp, "%s.conf" % name)
    with open(path, "w") as f:
        f.write("[agent]\n")
        for r in relays:
            f.write("relay = %s\n" % r)
        f.write("backoff_min = 100ms\nbackoff_max = 1s\n\n[link pl]\ntoken = %s\n%s\n"
                % (token, role_line))
    os.chmod(path, 0o600)
    return rig.agent_args(name, ["--config", path])


def main():
    c = h.Checks()
    total = (4 if h.sanitized(ah.AGENT) else 16) * MIB
    pool = ph.Pool(3, timeout="1s", heartbeat="250ms")
    rig = None
    tgt = Target()
    killed = threading.Event()
    try:
        pool.start()
        rig = ah.Rig(relay=pool.members["r1"])
        # Every member in the tokens (the relays an agent dials, in order).
        order = [m.advertised for m in pool.members.values()]
        args = []
        for addr in order:
            args += ["--relay-addr", addr]
        out = rig.link("pl", *args)
        hid = pool.home(out["id"])
        home = pool.members[hid]
        survivors = sorted(set(pool.members) - {hid})
        nid = pool.home(out["id"], survivors)
        new = pool.members[nid]
        lport = ah.free_port()
        b = conf_agent(rig, "b", out["tokens"]["b"], order, "connect = 127.0.0.1:%d" % tgt.port)
        a = conf_agent(rig, "a", out["tokens"]["a"], order, "listen = 127.0.0.1:%d" % lport)
        for ag in (a, b):
            c.check("agent %s online at the home %s" % (ag.name, hid),
                    ag.wait_log("online via relay %s" % home.advertised, timeout=30), ag.log())
        c.check("peer online", h.wait_for(lambda: "peer online" in a.log() + b.log(), timeout=10))
        ea, eb, ta, tb = start_transfer(lport, tgt, total, [(total * 7 // 8, killed)])
        h.wait_for(lambda: ea.got >= total // 4 and eb.got >= total // 4, timeout=300, step=0.01)
        mid = ea.sent < total and eb.sent < total
        n_a = a.count("online via relay %s" % new.advertised)
        n_b = b.count("online via relay %s" % new.advertised)
        t0 = time.time()
        pool.kill(hid)
        killed.set()
        c.check("home killed mid-transfer", mid, (ea.got, eb.got, ea.sent, eb.sent))
        ok = h.wait_for(lambda: a.count("online via relay %s" % new.advertised) > n_a
                        and b.count("online via relay %s" % new.advertised) > n_b,
                        timeout=60, step=0.01)
        took = time.time() - t0
        print("failover: both agents online at the new home %s %.2f s after kill -9 of %s"
              % (nid, took, hid), flush=True)
        c.check("both agents online at the new home %s" % nid, ok)
        c.check("within %.2f s of the kill (by construction)" % BOUND_S, took <= BOUND_S, took)
        check_transfer(c, ea, eb, ta, tb, (a, b))
        # The survivor an agent reached found it dead by its refused port at
        # once (D41); the other by its heartbeat within member_timeout.
        c.check("survivors saw the home dead", h.wait_for(
            lambda: all("pool: member %s dead" % hid in pool.members[m].log() for m in survivors),
            timeout=TIMEOUT_S + HEARTBEAT_S + 10))
        for x in (ea, eb):
            x.s.close()
    finally:
        killed.set()
        ph.close_all(c, pool, rig)
        tgt.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
