#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""kill -9 of a live link's home, found dead at once (docs/design.md D41):
before a member sends an agent to another member it connects to that
member's advertised address; a killed process's port refuses, so the member
takes it out of its view at once instead of after member_timeout.

Two pools of three members on one registry file each; the agents run from
config files with the defaults (backoff 1 s..60 s) and only their pool
tokens (each link's members in rendezvous order, D39):

1. member_timeout 60 s: the survivors cannot count the home dead by its
   heartbeat for 60 s, so both agents online again at the new home within
   30 s of the kill holds by construction only through the check (with
   the check off they wait the 60 s: the test fails); the new home logged
   the member dead by refusal, and its metrics count the check.
2. the defaults (member_timeout 2 s, heartbeat 500 ms), with a resumable
   stream in flight both ways: both agents online at the new home, the
   stream resumed there (SHA-256 equal at both ends, no reset); the time
   from the kill is printed (the issue's 2 s, a figure to read) and
   asserted only against the bound of the path without the check, which
   holds by construction: member_timeout + heartbeat, plus the agents'
   first two backoff steps (1 s + 2 s) and two handshake timeouts (2 s
   each), plus 5 s for a loaded machine and the sanitizers: 14.5 s.
"""
import os
import signal
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import poolharness as ph
import promharness as prom
from test_agent_resume import MIB, Target, check_transfer, start_transfer

BOUND_S = 2.0 + 0.5 + 1.0 + 2.0 + 2 * 2.0 + 5.0


def conf_agent(rig, name, token, role_line):
    """An agent from a config file with the defaults: no relay list (the
    token's), no backoff keys."""
    path = os.path.join(rig.tmp, "%s.conf" % name)
    with open(path, "w") as f:
        f.write("[agent]\n\n[link pk]\ntoken = %s\n%s\n" % (token, role_line))
    os.chmod(path, 0o600)
    return rig.agent_args(name, ["--config", path])


def link_online(c, pool, rig, tgt, name):
    """A link, its two agents online at its home; returns (out, hid, a, b,
    lport)."""
    out = rig.link(name)
    hid = pool.home(out["id"])
    home = pool.members[hid]
    lport = ah.free_port()
    b = conf_agent(rig, "b" + name, out["tokens"]["b"], "connect = 127.0.0.1:%d" % tgt.port)
    a = conf_agent(rig, "a" + name, out["tokens"]["a"], "listen = 127.0.0.1:%d" % lport)
    for ag in (a, b):
        c.check("%s: agent %s online at the home %s" % (name, ag.name, hid),
                ag.wait_log("online via relay %s" % home.advertised, timeout=60), ag.log())
    c.check("%s: peer online" % name,
            h.wait_for(lambda: "peer online" in a.log() and "peer online" in b.log(), timeout=10))
    return out, hid, a, b, lport


def kill_and_wait(pool, out, hid, a, b, timeout):
    """kill -9 of the home; (seconds until both agents are online at the new
    home or None, the new home's id)."""
    survivors = sorted(set(pool.members) - {hid})
    nid = pool.home(out["id"], survivors)
    new = pool.members[nid]
    n_a = a.count("online via relay %s" % new.advertised)
    n_b = b.count("online via relay %s" % new.advertised)
    t0 = time.time()
    pool.kill(hid)
    ok = h.wait_for(lambda: a.count("online via relay %s" % new.advertised) > n_a
                    and b.count("online via relay %s" % new.advertised) > n_b,
                    timeout=timeout, step=0.01)
    return (time.time() - t0 if ok else None), nid


def long_timeout(c):
    pool = ph.Pool(3, timeout="60s", heartbeat="500ms")
    rig = None
    tgt = Target()
    try:
        pool.start()
        rig = ah.Rig(relay=pool.members["r1"])
        out, hid, a, b, _ = link_online(c, pool, rig, tgt, "pk1")
        took, nid = kill_and_wait(pool, out, hid, a, b, 30)
        print("member_timeout 60 s: both agents online at the new home %s %s s after kill -9 of %s"
              % (nid, "%.2f" % took if took is not None else "not within 30", hid), flush=True)
        c.check("member_timeout 60 s: both agents online at the new home %s within 30 s" % nid,
                took is not None)
        new = pool.members[nid]
        c.check("the new home found %s dead by its refusal" % hid,
                ("pool: member %s dead now: every address refused" % hid) in new.log(),
                new.log()[-3000:])
        ms = prom.scrape(new.metrics_port())
        c.check("metrics: a home check, a member found dead",
                prom.value(ms, "linkrelay_pool_home_checks_total") >= 1
                and prom.value(ms, "linkrelay_pool_members_found_dead_total") >= 1,
                (prom.value(ms, "linkrelay_pool_home_checks_total"),
                 prom.value(ms, "linkrelay_pool_members_found_dead_total")))
        c.check("nobody saw it dead by heartbeat (60 s)",
                not any(("pool: member %s dead (" % hid) in m.log() for m in pool.live()))
        hung(c, pool, rig, hid)
    finally:
        ph.close_all(c, pool, rig)
        tgt.close()


def hung(c, pool, rig, dead):
    """A stopped (hung) member still accepts TCP connects (the kernel
    completes them): a check finds it up, and it is judged by
    member_timeout (60 s) only, never found dead by a check."""
    survivors = sorted(set(pool.members) - {dead})
    # A link whose home is a survivor in every view: the member that has
    # not checked the dead one yet still counts it alive (60 s).
    for i in range(40):
        out = rig.link("pk3%d" % i, *sum((["--relay-addr", pool.members[m].advertised]
                                          for m in survivors), []))
        if pool.home(out["id"]) != dead:
            break
    sid = pool.home(out["id"])
    c.check("a link homed at a survivor in every view", sid != dead)
    if sid == dead:
        return
    other = pool.members[next(m for m in survivors if m != sid)]
    stopped = pool.members[sid]
    ms = prom.scrape(other.metrics_port())
    checks0 = prom.value(ms, "linkrelay_pool_home_checks_total")
    dead0 = prom.value(ms, "linkrelay_pool_members_found_dead_total")
    os.kill(stopped.proc.pid, signal.SIGSTOP)
    try:
        # The token lists the other member first if it is first in order;
        # the agent is given the other member alone so that it asks there.
        rig.agent("apk3", out["tokens"]["a"], "--relay", other.advertised,
                      "--listen", "127.0.0.1:%d" % ah.free_port(), relay=False)
        ok = h.wait_for(lambda: prom.value(prom.scrape(other.metrics_port()),
                                           "linkrelay_pool_home_checks_total") > checks0,
                        timeout=30)
        c.check("hung member %s: %s checked it" % (sid, other.member_id), ok)
        c.check("hung member: the check found it up, the agent was redirected to it",
                h.wait_for(lambda: "redirected to the link's home, member %s" % sid
                           in other.log(), timeout=10), other.log()[-2000:])
        ms = prom.scrape(other.metrics_port())
        c.check("hung member: not found dead (member_timeout judges it)",
                prom.value(ms, "linkrelay_pool_members_found_dead_total") == dead0
                and ("pool: member %s dead" % sid) not in other.log(),
                prom.value(ms, "linkrelay_pool_members_found_dead_total"))
    finally:
        os.kill(stopped.proc.pid, signal.SIGCONT)


def defaults(c):
    total = (4 if h.sanitized(ah.AGENT) else 16) * MIB
    pool = ph.Pool(3, timeout="2s", heartbeat="500ms")
    rig = None
    tgt = Target()
    killed = threading.Event()
    try:
        pool.start()
        rig = ah.Rig(relay=pool.members["r1"])
        out, hid, a, b, lport = link_online(c, pool, rig, tgt, "pk2")
        ea, eb, ta, tb = start_transfer(lport, tgt, total, [(total * 7 // 8, killed)])
        h.wait_for(lambda: ea.got >= total // 4 and eb.got >= total // 4, timeout=300, step=0.01)
        mid = ea.sent < total and eb.sent < total
        took, nid = kill_and_wait(pool, out, hid, a, b, 60)
        killed.set()
        c.check("home killed mid-transfer", mid, (ea.got, eb.got, ea.sent, eb.sent))
        print("defaults (member_timeout 2 s, heartbeat 500 ms, agent backoff 1 s..60 s): both "
              "agents online at the new home %s %s s after kill -9 of %s"
              % (nid, "%.2f" % took if took is not None else "not within 60", hid), flush=True)
        c.check("both agents online at the new home %s" % nid, took is not None)
        c.check("within %.2f s of the kill (by construction)" % BOUND_S,
                took is not None and took <= BOUND_S, took)
        check_transfer(c, ea, eb, ta, tb, (a, b))
        for x in (ea, eb):
            x.s.close()
    finally:
        killed.set()
        ph.close_all(c, pool, rig)
        tgt.close()


def main():
    c = h.Checks()
    long_timeout(c)
    if not c.failed:
        defaults(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
