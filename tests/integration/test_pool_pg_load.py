#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The database restarted under load (issue 15 "Tests": "database restarted
under load (live streams unaffected, AUTH recovers)"; docs/design.md D38,
D44), with many agents: test_pool_pg_netns restarts the server under one
stream and one AUTH probe, this test under a stream on each of LINKS links.

Three members on loopback (poolharness, 127.0.0.2..4) share a PostgreSQL
server of this test's own (tests/pgfix.sh start in a temporary directory,
reached on its Unix socket; stopped in `finally`, also on failure), with
registry_timeout 2 s and the pool's defaults (member_timeout 2 s,
heartbeat 500 ms). One linkagent process per side carries every link (one
`[link NAME]` section each, only its pool token), side a listening on a
port per link, side b connecting to a listener of the test per link.

- Every link opens a stream that carries SIZE bytes each way (8 MiB, 1 MiB
  under the sanitizers; LR_POOLPGLOAD_MIB sets it). Its senders wait at
  half until the server is down, and at three quarters until every member
  accepts AUTHs again after its restart: each stream carries data before,
  during and after the outage.
- The server stops (pgfix.sh down). Every member logs that it refuses new
  AUTHs (registry_timeout); a new AUTH at a link's home is told CLOSE
  limit "registry unavailable, try again" and counted. Then the senders go
  on, and every stream must reach three quarters both ways while the
  server is still down.
- The server starts again (pgfix.sh up): every member logs that it
  accepts AUTHs again. Every stream ends with every byte once, in order
  (SHA-256 at both ends), a clean end, no reset and no resumption in
  either agent, and no link's control session reconnected
  (linkagent_link_reconnects_total unchanged); no member's view of the
  pool changed across the outage (D44).
- AUTH recovers for many agents at once: NEW more links made on the
  server after its restart, their two agents (one process per side) all
  online at their homes (the rendezvous hash), each link carrying an
  exchange; side a of the first links restarted, all LINKS of its sessions
  online at their homes again; the probe's AUTH answered with WELCOME;
  no AUTH refused after the restart on any member.
"""
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

import agentharness as ah
import lrharness as h
import poolharness as ph
import poolns as pn
import promharness as prom
from test_agent_resume import MIB, End, Target

LINKS = 16
NEW = 8
REFUSED = "s.close reason=limit text=registry unavailable, try again"


def size():
    if os.environ.get("LR_POOLPGLOAD_MIB"):
        return int(os.environ["LR_POOLPGLOAD_MIB"]) * MIB
    return (1 if h.sanitized(ah.AGENT) else 8) * MIB


def online_at_homes(c, pool, what, agents, homes, n0=None):
    """Waits until each agent logged every link of homes ({name: member
    id}) online at its home, more often than n0[(agent, name)] if given."""
    def text(n):
        return "link %s: online via relay %s" % (n, pool.members[homes[n]].advertised)

    for ag in agents:
        def done():
            log = ag.log()
            return all(log.count(text(n)) > (n0[ag.name, n] if n0 else 0) for n in homes)
        ok = h.wait_for(done, timeout=60)
        c.check("%s: agent %s has all %d links online at their homes" % (what, ag.name, len(homes)),
                ok, "" if ok else ag.log()[-3000:])


def counts(ag, homes, pool):
    return {(ag.name, n): ag.count("link %s: online via relay %s"
                                   % (n, pool.members[homes[n]].advertised)) for n in homes}


def scrape_links(port, names, metric):
    ms = prom.scrape(port)
    return {n: prom.value(ms, metric, link=n) for n in names}


def refused(pool):
    return {m: prom.value(prom.scrape(pool.members[m].metrics_port()),
                          "linkrelay_registry_auth_refused_total") for m in sorted(pool.members)}


def main():
    c = h.Checks()
    total = size()
    tmp = tempfile.mkdtemp(prefix="test_pool_pg_load.")
    pglink = os.path.join(tmp, "pg")
    pool = rig = None
    pg_up = False
    down, up = threading.Event(), threading.Event()
    targets = []
    t_start = time.time()
    try:
        print(pn.pgfix("start", pglink), flush=True)
        pg_up = True
        pool = ph.Pool(3, timeout="2s", heartbeat="500ms", database=pn.pg_url(pglink),
                       extra_relay={"registry_timeout": "2s"})
        pool.start()
        rig = ah.Rig(relay=pool.members["r1"])
        homes, outs = {}, {}
        for i in range(LINKS):
            name = "pg%02d" % i
            outs[name] = rig.link(name)
            homes[name] = pool.home(outs[name]["id"])
        names = sorted(homes)
        per = {m: sum(1 for x in homes.values() if x == m) for m in sorted(pool.members)}
        print("%d links, homed %s" % (LINKS, per), flush=True)
        ports = {n: ah.free_port() for n in names}
        targets = [Target() for _ in names]
        tgt = dict(zip(names, targets))
        a = rig.links_agent("a", [(n, outs[n]["tokens"]["a"], "listen = 127.0.0.1:%d" % ports[n])
                                  for n in names])
        b = rig.links_agent("b", [(n, outs[n]["tokens"]["b"],
                                   "connect = 127.0.0.1:%d" % tgt[n].port) for n in names])
        online_at_homes(c, pool, "start", (a, b), homes)
        pa, pb = ah.metrics_port(a), ah.metrics_port(b)
        c.check("every link's peer online at both agents",
                h.wait_for(lambda: all(v == 1 for p in (pa, pb) for v in
                                       scrape_links(p, names, "linkagent_link_peer_up").values()),
                           timeout=30))
        probe = rig.relay.add_link("probe")
        ph_id = pool.home(probe["id"])
        phome = pool.members[ph_id]
        rc, _, out = phome.peer(probe, "session", "--side", "a", "--hold-ms", "300")
        ok = "s.welcome" in out and REFUSED not in out
        c.check("the probe link's AUTH at its home %s: WELCOME" % ph_id, ok,
                "" if ok else out[-500:])
        if c.failed:
            return c.done()
        rec0 = {s: scrape_links(p, names, "linkagent_link_reconnects_total")
                for s, p in (("a", pa), ("b", pb))}

        ends = []
        for i, n in enumerate(names):
            cli = socket.create_connection(("127.0.0.1", ports[n]), timeout=120)
            srv = tgt[n].accept()
            gates = [(total // 2, down), (total * 3 // 4, up)]
            ea = End(cli, b"host-%s" % n.encode(), total, gates)
            eb = End(srv, b"dev-%s" % n.encode(), total, gates)
            ts = [threading.Thread(target=e.run, daemon=True) for e in (ea, eb)]
            for t in ts:
                t.start()
            ends.append((n, ea, eb, ts))

        def all_got(k):
            return all(ea.got >= k and eb.got >= k for _, ea, eb, _ in ends)
        ok = h.wait_for(lambda: all_got(total // 4), timeout=300, step=0.01)
        c.check("%d streams carry data both ways" % LINKS, ok,
                "" if ok else [(n, ea.got, eb.got) for n, ea, eb, _ in ends])
        live = list(pool.members.values())
        views = {m.member_id: m.log().count("pool: member ") for m in live}
        ref0 = refused(pool)

        t_down = time.time()
        pn.pgfix("down", pglink)
        ok = h.wait_for(lambda: all("refusing new AUTHs" in m.log() for m in live), timeout=60)
        c.check("every member refuses new AUTHs once the registry is not read for 2 s", ok,
                {m.member_id: "refusing new AUTHs" in m.log() for m in live})
        rc, _, out = phome.peer(probe, "session", "--side", "a", "--hold-ms", "300")
        c.check("a new AUTH during the outage: CLOSE limit, registry unavailable", REFUSED in out,
                "" if REFUSED in out else out[-500:])
        c.check("the refusal is counted at %s" % ph_id,
                refused(pool)[ph_id] >= (ref0[ph_id] or 0) + 1, refused(pool))
        got = sum(ea.got + eb.got for _, ea, eb, _ in ends)
        down.set()
        flowed = h.wait_for(lambda: all_got(total * 3 // 4), timeout=300, step=0.01)
        still = not any("accepting new AUTHs" in m.log() for m in live)
        c.check("every stream moves from half to three quarters both ways while the database "
                "is down", flowed and still,
                "" if flowed and still else [(n, ea.got, eb.got) for n, ea, eb, _ in ends])
        moved = sum(ea.got + eb.got for _, ea, eb, _ in ends) - got

        t_up = time.time()
        pn.pgfix("up", pglink)
        print("database down %.2f s (pgfix down to up); the %d streams moved %.1f MiB "
              "meanwhile" % (time.time() - t_down, LINKS, moved / MIB), flush=True)
        ok = h.wait_for(lambda: all("accepting new AUTHs" in m.log() for m in live), timeout=60)
        c.check("every member accepts AUTHs again", ok,
                {m.member_id: "accepting new AUTHs" in m.log() for m in live})
        print("PostgreSQL back, every member accepting AUTHs %.2f s after pgfix up"
              % (time.time() - t_up), flush=True)
        ref1 = refused(pool)
        up.set()  # the last quarter of every stream goes after the restart
        for _, ea, eb, ts in ends:
            for t in ts:
                t.join(300)
        bad = [(n, ea.end, eb.end, ea.got, eb.got, eb.sent, ea.sent) for n, ea, eb, _ in ends
               if not (ea.end == "ok" and eb.end == "ok" and ea.got == eb.sent
                       and eb.got == ea.sent
                       and ea.h.hexdigest() == eb.sent_h.hexdigest()
                       and eb.h.hexdigest() == ea.sent_h.hexdigest())]
        c.check("all %d streams intact both ways (SHA-256 at both ends), clean ends" % LINKS,
                not bad, bad)
        c.check("no stream reset or resumed in either agent",
                not any(t in ag.log() for ag in (a, b) for t in ("resetting", "stream resumed")),
                [l for ag in (a, b) for l in ag.log().splitlines()
                 if "resetting" in l or "stream resumed" in l][:10])
        rec1 = {s: scrape_links(p, names, "linkagent_link_reconnects_total")
                for s, p in (("a", pa), ("b", pb))}
        c.check("no link's control session reconnected (both agents)", rec1 == rec0,
                "" if rec1 == rec0 else (rec0, rec1))
        same = {m.member_id: m.log().count("pool: member ") for m in live} == views
        c.check("no member's view of the pool changed with the outage", same,
                "" if same else [l for m in live for l in m.log().splitlines()
                                 if "pool: member " in l])
        for _, ea, eb, _ in ends:
            ea.s.close()
            eb.s.close()

        # AUTH recovers: new links made on the restarted server, and side a
        # of the first links restarted.
        t_auth = time.time()
        srv = rig.server("echo")
        nhomes, nouts = {}, {}
        for i in range(NEW):
            name = "pn%02d" % i
            nouts[name] = rig.link(name)
            nhomes[name] = pool.home(nouts[name]["id"])
        nports = {n: ah.free_port() for n in nhomes}
        na = rig.links_agent("na", [(n, nouts[n]["tokens"]["a"],
                                     "listen = 127.0.0.1:%d" % nports[n]) for n in sorted(nhomes)])
        nb = rig.links_agent("nb", [(n, nouts[n]["tokens"]["b"],
                                     "connect = 127.0.0.1:%d" % srv.port) for n in sorted(nhomes)])
        n0 = counts(a, homes, pool)
        c.check("side a of the first links stops", a.stop() == 0)
        a.start()
        online_at_homes(c, pool, "after the restart, new links", (na, nb), nhomes)
        online_at_homes(c, pool, "after the restart, side a restarted", (a,), homes, n0)
        print("after the restart: %d new AUTHs (%d new links, both sides; side a of %d links) "
              "online at their homes %.2f s after the first linkctl link add"
              % (2 * NEW + LINKS, NEW, LINKS, time.time() - t_auth), flush=True)
        slow = set(nports)

        def exchanged():
            for n in sorted(slow):
                if ah.works(nports[n], 20000):
                    slow.discard(n)
            return not slow
        h.wait_for(exchanged, timeout=30)
        c.check("every new link carries an exchange", not slow, sorted(slow))
        rc, _, out = phome.peer(probe, "session", "--side", "a", "--hold-ms", "300")
        ok = "s.welcome" in out and REFUSED not in out
        c.check("the probe's AUTH after the restart: WELCOME", ok, "" if ok else out[-500:])
        c.check("no AUTH refused on any member after the restart", refused(pool) == ref1,
                (ref1, refused(pool)))
        print("whole test %.1f s (%d MiB each way per stream)" % (time.time() - t_start,
                                                                  total // MIB), flush=True)
    finally:
        down.set()
        up.set()
        try:
            if pool is not None:
                ph.close_all(c, pool, rig)
        finally:
            for t in targets:
                t.close()
            if pg_up:
                pn.pgfix("stop", pglink)
            shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
