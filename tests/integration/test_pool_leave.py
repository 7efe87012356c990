#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A pool member leaving on SIGTERM (docs/design.md D39): three members on
one registry with member_timeout 30 s (heartbeat 250 ms) and a 60 s drain;
a link made on the pool (its tokens list the three members, the home first)
online at its home H with one stream open through it. SIGTERM to H:
- H removes its members row: `linkctl pool` no longer lists it, and the
  two others log that it left and count two members alive
  (linkrelay_pool_members_alive), all well before member_timeout (without
  the removal they would count H alive for 30 s: the check fails);
- H then sends both sessions REDIRECT reason draining (its log says the
  member leaves the pool) and the two agents come online at the link's new
  home (the rendezvous hash over the two others) before member_timeout;
- the stream opened before stays on H's legs and still echoes; a new
  stream goes through the new home;
- when the old stream ends, H's drain ends and it exits 0.
The time from the SIGTERM to both agents online at the new home is printed.
"""
import socket
import sys
import time

import agentharness as ah
import lrharness as h
import poolharness as ph
import promharness as prom

TIMEOUT_S = 30


def main():
    c = h.Checks()
    pool = ph.Pool(3, timeout="%ds" % TIMEOUT_S, heartbeat="250ms",
                   limits={"drain_timeout": "60s"})
    rig = None
    s = None
    try:
        pool.start()
        r1 = pool.members["r1"]
        rig = ah.Rig(relay=r1)
        out = rig.link("lv")
        hid = pool.home(out["id"])
        home = pool.members[hid]
        rest = sorted(set(pool.members) - {hid})
        nid = ph.home(rest, out["id"])
        new = pool.members[nid]
        c.check("the token's first address is the home",
                out["token_addrs"][0] == home.advertised, out["token_addrs"])
        srv = rig.server("echo")
        lport = ah.free_port()
        b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port, relay=False)
        a = rig.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport, relay=False)
        for ag in (a, b):
            c.check("agent %s online at the home %s" % (ag.name, hid),
                    ag.wait_log("online via relay %s" % home.advertised, timeout=30), ag.log())
        s = None
        for _ in range(100):  # the peer may not be online at a's relay yet
            s = socket.create_connection(("127.0.0.1", lport), timeout=10)
            s.sendall(b"before")
            try:
                if s.recv(100) == b"before":
                    break
            except OSError:
                pass
            s.close()
            s = None
            time.sleep(0.1)
        c.check("a stream open through the home", s is not None)

        t0 = time.monotonic()
        home.proc.send_signal(15)
        for mid in rest:
            m = pool.members[mid]
            c.check("member %s saw %s leave" % (mid, hid),
                    h.wait_for(lambda: "pool: member %s left the pool" % hid in m.log(),
                               timeout=TIMEOUT_S - 5),
                    m.log()[-2000:])
            c.check("member %s counts two members alive" % mid,
                    prom.value(prom.scrape_after(m.metrics_port()),
                               "linkrelay_pool_members_alive") == 2)
        js = new.ctl_json("pool")
        c.check("linkctl pool no longer lists %s" % hid,
                sorted(x["id"] for x in js["members"]) == rest, js)
        for ag in (a, b):
            c.check("agent %s online at the new home %s" % (ag.name, nid),
                    ag.wait_log("online via relay %s" % new.advertised,
                                timeout=max(1, TIMEOUT_S - 5 - (time.monotonic() - t0))),
                    ag.log())
        took = time.monotonic() - t0
        print("both agents online at the new home %.2f s after the SIGTERM (member_timeout %d s)"
              % (took, TIMEOUT_S))
        c.check("before member_timeout", took < TIMEOUT_S, took)
        c.check("%s sent REDIRECT draining" % hid, "this member leaves the pool" in home.log(),
                home.log()[-400:])
        c.check("%s is still draining" % hid, home.proc.poll() is None)
        s.sendall(b"after")
        got = b""
        while len(got) < 5:
            d = s.recv(100)
            if not d:
                break
            got += d
        c.check("the old stream still echoes over %s's legs" % hid, got == b"after", got)
        data = b"leave" * 20000
        ok = h.wait_for(lambda: ah.roundtrip(lport, data, timeout=10) == (data, "eof"),
                        timeout=20)
        c.check("a new stream through the new home", ok)
        s.close()
        s = None
        try:
            rc = home.proc.wait(30)
        except Exception:
            rc = "still running"
        c.check("%s exits 0 once its last stream ended" % hid, rc == 0, rc)
        home.proc = None
    finally:
        if s is not None:
            s.close()
        ph.close_all(c, pool, rig)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
