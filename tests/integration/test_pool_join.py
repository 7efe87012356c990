#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A member joining a pool takes the links it now homes, moved to it
(docs/design.md D34): two members on one registry, a link online at its
home among them; a third member joins whose id the test picks so that the
rendezvous hash makes it the link's new home, tried offline over candidate
ids. The candidates are not independent: all of them must beat the larger
of r1's and r2's weights M, and none of N does with probability
E[M^N] = 2/(N+2) (about 1 % for N = 200, seen in CI). So the test tries
N = 20,000 candidates for a link and, if none wins, adds another link (a new
random id): five links all failing has odds (1e-4)^5. Once the old home sees the new member alive, it sends
REDIRECT to both of the link's sessions; both agents come online at the
new member and a stream works through it. The old home logs the move.
"""
import sys

import agentharness as ah
import lrharness as h
import poolharness as ph


def main():
    c = h.Checks()
    pool = ph.Pool(2)
    rig = None
    joined = None
    try:
        pool.start()
        r1 = pool.members["r1"]
        rig = ah.Rig(relay=r1)
        args = []
        for m in pool.members.values():
            args += ["--relay-addr", m.advertised]
        out, cand = None, None
        for n in range(5):
            out = rig.link("jn%d" % n, *args)
            cand = next((x for x in ("j%d" % i for i in range(20000))
                         if ph.home(["r1", "r2", x], out["id"]) == x), None)
            if cand is not None:
                break
            rig.relay.ctl("link", "rm", out["name"])
        name = out["name"]
        c.check("a member id that the link's rendezvous order puts first", cand is not None)
        if cand is None:
            return c.done()
        old = pool.members[pool.home(out["id"])]
        srv = rig.server("echo")
        lport = ah.free_port()
        b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port, relay=False)
        a = rig.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport, relay=False)
        for ag in (a, b):
            c.check("agent %s online at the home %s" % (ag.name, old.member_id),
                    ag.wait_log("online via relay %s" % old.advertised, timeout=30), ag.log())
        joined = ph.Member(pool.shared, cand, "127.0.0.9")
        joined.start()
        for ag in (a, b):
            c.check("agent %s moved to the new member %s" % (ag.name, cand),
                    ag.wait_log("online via relay %s" % joined.advertised, timeout=30), ag.log())
        c.check("the old home logged the move",
                "pool: link %s moves to its home, member %s" % (name, cand) in old.log())
        data = b"join" * 25000
        ok = h.wait_for(lambda: ah.roundtrip(lport, data, timeout=10) == (data, "eof"),
                        timeout=20)
        c.check("a stream through the new member", ok)
        c.check("the new member carried it", "link %s side" % name in joined.log())
    finally:
        if c.failed:
            if rig is not None:
                rig.dump()
            pool.dump()
            if joined is not None:
                print(joined.log()[-3000:])
        if joined is not None:
            joined.close()
        if rig is not None:
            rig.close()
        pool.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
