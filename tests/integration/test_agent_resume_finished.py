#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The end of a finished stream when its leg dies in the last round trip
(docs/protocol.md §7.3 "A finished stream", docs/design.md D24), with real
linkrelay and linkagent processes.

The listen-side agent (a, the stream's initiator) dials the relay through a
TCP proxy on loopback that pipes control sessions and, on the stream's first
leg, can start holding one direction: everything after that is never
forwarded, and the leg is reset both ways when the test says so. Two links,
one case each:

  fin-resp  the responder (b) finishes last: b's FINAL goes first and is
            acknowledged; then the proxy holds the relay -> a direction and
            a's application ends its side: b acknowledges a's FINAL and seals
            FINISHED, both held, and closes the leg (b is finished and keeps
            the stream's resume state). The leg is reset. a lacks both,
            suspends and resumes; b answers from the kept state with a leg
            that carries only the RESUME records and FINISHED
            (linkagent_resume_finished_total 1 on b).
  fin-init  the initiator (a) would finish first: a's FINAL goes first and is
            acknowledged; then the proxy holds the a -> relay direction and
            b's application ends its side: a acknowledges b's FINAL, held.
            The leg is reset. b lacks the ACK of its FINAL and suspends; a
            lacks b's FINISHED, suspends and resumes; b's stream resumes.

In both: no application sees a reset, both see a clean EOF with every byte,
neither agent counts an unknown resume id or an expiry, the relay counts no
unmatched RESUME, and the streams end. Before FINISHED (an agent that
forgets a stream once its FINAL is acknowledged and the peer's is
delivered) the first case met "RESUMED for no stream" on b and a reset on a
at resume_timeout, the second a reset on b at resume_timeout.
"""
import os
import re
import socket
import struct
import sys

import agentharness as ah
import lrharness as h
import promharness as ph

RESUME_TIMEOUT_S = 30
RESUME_TIMEOUT = "%ds" % RESUME_TIMEOUT_S


class Proxy(ah.RelayProxy):
    """The agent's relay. The first stream leg can hold one direction
    ("up": agent -> relay, "down": relay -> agent) from arm() on; later legs
    are piped untouched."""

    def __init__(self, upstream, hold):
        self.hold = hold
        self.first = None  # (agent side, relay side) of the first leg
        self.armed = False
        self.held = 0  # bytes held back since arm()
        self.held_eof = False  # the held direction's source closed
        super().__init__(upstream)

    def opened(self, leg, agent_side, relay_side):
        if leg == 1:
            self.first = (agent_side, relay_side)

    def chunk(self, leg, up, data):
        if leg != 1 or not self.armed or up != (self.hold == "up"):
            return data
        if not data:
            self.held_eof = True
        self.held += len(data)
        return None

    def arm(self):
        self.armed = True

    def reset_first(self):
        """The first leg dies: an RST each way, what was held is lost."""
        for s in self.first:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def metric(port, name, **labels):
    return ph.value(ph.scrape(port), name, **labels) or 0


def run_case(c, rig, tgt, tport, name, hold, expire=False):
    up = (rig.relay.host, rig.relay.port)
    px = Proxy(up, hold)
    try:
        out = rig.link(name)
        lport = ah.free_port()
        # No kept legs (D48): b closes its leg once finished, as the case
        # needs (a kept leg would stay open, idle, until the reset).
        m = ("--metrics-listen", "127.0.0.1:0", "--resume-timeout", RESUME_TIMEOUT,
             "--keep-legs", "0")
        b = rig.agent(name + "-b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % tport, *m)
        a = rig.agent(name + "-a", out["tokens"]["a"], "--relay", px.addr(), "--listen",
                      "127.0.0.1:%d" % lport, *m, relay=False)
        c.check(name + ": agents online", a.wait_log("online via relay")
                and b.wait_log("online via relay")
                and h.wait_for(lambda: "peer online" in a.log() + b.log(), timeout=10))
        ma, mb = ah.metrics_port(a), ah.metrics_port(b)
        ca = ah.ReadingApp(socket.create_connection(("127.0.0.1", lport), timeout=30))
        cb = ah.ReadingApp(tgt.accept()[0])
        da, db = os.urandom(300000), os.urandom(200000)
        ca.s.sendall(da)
        cb.s.sendall(db)
        c.check(name + ": data both ways", h.wait_for(
            lambda: len(ca.got) == len(db) and len(cb.got) == len(da), timeout=30))
        first, last = (cb, ca) if hold == "down" else (ca, cb)
        # The first FINAL, delivered (and acknowledged on a live leg).
        first.s.shutdown(socket.SHUT_WR)
        c.check(name + ": the first FINAL delivered",
                h.wait_for(lambda: last.end is not None, timeout=30), last.end)
        px.arm()
        last.s.shutdown(socket.SHUT_WR)
        if hold == "down":
            # b acknowledges a's FINAL (and finishes), held; b closes its leg.
            c.check(name + ": b's last records held, b closed the leg",
                    h.wait_for(lambda: px.held > 0 and px.held_eof, timeout=30),
                    (px.held, px.held_eof))
        else:
            # a acknowledges b's FINAL, held.
            c.check(name + ": a's ACK of b's FINAL held",
                    h.wait_for(lambda: px.held > 0 and first.end is not None, timeout=30),
                    (px.held, first.end))
        px.reset_first()
        c.check(name + ": both streams end", h.wait_for(
            lambda: metric(ma, "linkagent_link_streams_open", link=name) == 0
            and metric(mb, "linkagent_link_streams_open", link=name) == 0, timeout=90))
        c.check(name + ": both applications see a clean EOF, no reset",
                ca.end == "eof" and cb.end == "eof", (ca.end, cb.end))
        c.check(name + ": every byte arrived", bytes(ca.got) == db and bytes(cb.got) == da)
        c.check(name + ": no application connection reset by an agent",
                "resetting the local connection" not in a.log() + b.log())
        c.check(name + ": no unknown resume id, nothing expired", all(
            metric(p, n) == 0 for p in (ma, mb)
            for n in ("linkagent_resume_unknown_total", "linkagent_resume_expired_total")),
            [(metric(p, "linkagent_resume_unknown_total"),
              metric(p, "linkagent_resume_expired_total")) for p in (ma, mb)])
        c.check(name + ": a resumed once", metric(ma, "linkagent_streams_resumed_total") == 1,
                metric(ma, "linkagent_streams_resumed_total"))
        want_b = (0, 1) if hold == "down" else (1, 0)
        got_b = (metric(mb, "linkagent_streams_resumed_total"),
                 metric(mb, "linkagent_resume_finished_total"))
        c.check(name + ": b resumed %d, answered %d finished" % want_b, got_b == want_b, got_b)
        c.check(name + ": a keeps no finished stream",
                metric(ma, "linkagent_resume_finished_kept") == 0)
        c.check(name + ": b keeps the finished stream",
                metric(mb, "linkagent_resume_finished_kept") == 1,
                metric(mb, "linkagent_resume_finished_kept"))
        if expire:
            # The kept state leaves at resume_timeout with no resume coming
            # (the agent's 1 s timer, streamfin_expire), and the gauges follow.
            c.check(name + ": b drops the finished stream after resume_timeout",
                    h.wait_for(lambda: metric(mb, "linkagent_resume_finished_kept") == 0,
                               timeout=RESUME_TIMEOUT_S + 60, step=0.5),
                    metric(mb, "linkagent_resume_finished_kept"))
        for app in (ca, cb):
            app.s.close()
        return a, b
    finally:
        px.close()


def main():
    c = h.Checks()
    rig = ah.Rig(relay=h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0"}))
    tgt = None
    try:
        r = rig.start_relay()
        tgt = socket.socket()
        tgt.bind(("127.0.0.1", 0))
        tgt.listen(4)
        tgt.settimeout(30)
        tport = tgt.getsockname()[1]
        run_case(c, rig, tgt, tport, "fin-resp", "down")
        run_case(c, rig, tgt, tport, "fin-init", "up", expire=True)
        mr = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", r.log())
        ms = ph.scrape(int(mr[-1]))
        got = tuple(ph.value(ms, "linkrelay_resume_%s_total" % k) or 0
                    for k in ("requests", "paired", "unmatched"))
        c.check("the relay: two RESUMEs, both paired, none unmatched", got == (2, 2, 0), got)
    finally:
        if tgt is not None:
            tgt.close()
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
