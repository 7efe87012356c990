#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A member joining a pool takes only the links it now homes, handed over
gracefully and not all at once (docs/design.md D34, D41).

Two members r1, r2 on one registry (member_timeout 2 s, heartbeat 250 ms);
the joining member's id is fixed (j1) and links are added until three of
them are homed at r1 now and at j1 once it joins, and one stays at r1
(each link independently: its id is random). Two agents serve all four
links from config files (one per side); the first moved link carries a
resumable stream, 16 MiB each way (4 MiB under the sanitizers), that is
held at seven eighths until the moves are done, so it crosses the join.
Then j1 joins:

- r1 hands the three links over (REDIRECT draining), spread over
  member_timeout: one every 2000 / 3 ms, the first at once. Each move logs
  its offset from the first on r1's loop clock, and the k-th is asserted
  not before (k - 1) * 666 ms (with all moves at once, D34's behaviour, it
  fails);
- every agent of a moved link comes online at j1; the staying link's agents
  never leave r1;
- the live stream's legs on r1 are reset by the move and both agents resume
  it through j1 (§7.3): SHA-256 equal at both ends, clean ends, no reset of
  the local connections (with the legs kept on r1, D34, it never resumes
  and the check fails);
- a new stream of a moved link goes through j1.
"""
import os
import re
import sys
import threading

import agentharness as ah
import lrharness as h
import poolharness as ph
import promharness as prom
from test_agent_resume import MIB, Target, check_transfer, start_transfer

JOIN, W_MS, N_MOVED = "j1", 2000, 3


def conf(rig, name, lines):
    path = os.path.join(rig.tmp, "%s.conf" % name)
    with open(path, "w") as f:
        f.write("[agent]\n")
        for ln in lines:
            f.write(ln)
    os.chmod(path, 0o600)
    return rig.agent_args(name, ["--config", path])


def main():
    c = h.Checks()
    total = (4 if h.sanitized(ah.AGENT) else 16) * MIB
    pool = ph.Pool(2, timeout="2s", heartbeat="250ms")
    rig = None
    joined = None
    tgt = Target()
    gate = threading.Event()
    try:
        pool.start()
        r1 = pool.members["r1"]
        rig = ah.Rig(relay=r1)
        args = []
        for m in pool.members.values():
            args += ["--relay-addr", m.advertised]
        moved, stay = [], None
        for n in range(100):
            out = rig.link("jn%d" % n, *args)
            if ph.home(["r1", "r2"], out["id"]) != "r1":
                continue
            if ph.home(["r1", "r2", JOIN], out["id"]) == JOIN:
                if len(moved) < N_MOVED:
                    moved.append(out)
            elif stay is None:
                stay = out
            if len(moved) == N_MOVED and stay is not None:
                break
        c.check("%d links that %s takes from r1, one that stays" % (N_MOVED, JOIN),
                len(moved) == N_MOVED and stay is not None, (len(moved), stay))
        if c.failed:
            return c.done()
        links = moved + [stay]
        srv = rig.server("echo")
        lport = {}
        a_lines, b_lines = [], []
        for i, o in enumerate(links):
            lport[o["name"]] = ah.free_port()
            dst = tgt.port if i == 0 else srv.port
            a_lines.append("\n[link %s]\ntoken = %s\nlisten = 127.0.0.1:%d\n"
                           % (o["name"], o["tokens"]["a"], lport[o["name"]]))
            b_lines.append("\n[link %s]\ntoken = %s\nconnect = 127.0.0.1:%d\n"
                           % (o["name"], o["tokens"]["b"], dst))
        b = conf(rig, "b", b_lines)
        a = conf(rig, "a", a_lines)
        for ag in (a, b):
            for o in links:
                c.check("agent %s: link %s online at r1" % (ag.name, o["name"]),
                        ag.wait_log("link %s: online via relay %s" % (o["name"], r1.advertised),
                                    timeout=60), ag.log())
        s0 = moved[0]["name"]
        c.check("link %s: peer online at both" % s0, h.wait_for(
            lambda: all(re.search(r"link %s: (online via relay [^\n]*, )?peer online" % s0,
                                  ag.log()) for ag in (a, b)), timeout=10))
        ea, eb, ta, tb = start_transfer(lport[s0], tgt, total, [(total * 7 // 8, gate)])
        h.wait_for(lambda: ea.got >= total // 4 and eb.got >= total // 4, timeout=300, step=0.01)
        mid = ea.sent < total and eb.sent < total
        n_stay = a.count("online via relay") - sum(
            a.count("link %s: online via relay" % o["name"]) for o in moved)

        joined = ph.Member(pool.shared, JOIN, "127.0.0.9")
        joined.start()
        c.check("join mid-transfer", mid, (ea.got, eb.got, ea.sent, eb.sent))
        for ag in (a, b):
            for o in moved:
                c.check("agent %s: link %s moved to %s" % (ag.name, o["name"], JOIN),
                        ag.wait_log("link %s: online via relay %s" % (o["name"], joined.advertised),
                                    timeout=60), ag.log())
        gate.set()
        log = r1.log()
        c.check("r1 scheduled %d moves, one every %d ms" % (N_MOVED, W_MS // N_MOVED),
                "pool: %d link(s) move to other members, 1 every %d ms" % (N_MOVED, W_MS // N_MOVED)
                in log, log[-3000:])
        offs = {}
        for m in re.finditer(r"pool: link (\S+) moves to its home, member %s \(move (\d+) of (\d+), "
                             r"(\d+) ms into the spread" % JOIN, log):
            offs[int(m.group(2))] = (m.group(1), int(m.group(4)))
        print("moves on r1 (k: link, ms after the first): %s" % offs, flush=True)
        c.check("each moved link moved once", sorted(v[0] for v in offs.values())
                == sorted(o["name"] for o in moved), offs)
        c.check("spread: move k not before (k - 1) * %d ms" % (W_MS // N_MOVED),
                len(offs) == N_MOVED
                and all(offs[k][1] >= (k - 1) * (W_MS // N_MOVED) for k in offs), offs)
        c.check("the staying link %s did not move" % stay["name"],
                ("pool: link %s moves" % stay["name"]) not in log
                and a.count("link %s: online via relay" % stay["name"]) == 1
                and b.count("link %s: online via relay" % stay["name"]) == 1
                and n_stay >= 1, (a.log(), b.log()))
        check_transfer(c, ea, eb, ta, tb, (a, b))
        ms = prom.scrape(joined.metrics_port())
        c.check("%s spliced the resumed legs" % JOIN,
                prom.value(ms, "linkrelay_resume_paired_total") >= 1,
                prom.value(ms, "linkrelay_resume_paired_total"))
        data = b"join" * 25000
        o1 = moved[1]["name"]
        ok = h.wait_for(lambda: ah.roundtrip(lport[o1], data, timeout=10) == (data, "eof"),
                        timeout=20)
        c.check("a new stream of %s through %s" % (o1, JOIN), ok)
        for x in (ea, eb):
            x.s.close()
    finally:
        gate.set()
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
        tgt.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
