#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stream that cannot be resumed within resume_timeout is reset at both
ends (D24), with a real network fault: the host agent's uplink goes down in
the NAT topology (netns.py, natrig.py, netresume.py) and stays down longer
than resume_timeout.

resume_timeout is 3 s here (both agents), so the test is short. A transfer
both ways runs through the link; `ip link set dev eth0 down` in the host LAN
namespace; the link stays down until both applications have seen their
connection end (an event, bounded by a 60 s cap), so "longer than
resume_timeout" holds by construction. Each side suspends when it learns of
the dead path (the host agent: no ACK on its leg for dead_after, 3 s; the
device agent: the relay resets its leg once the host's leg stalls), and
resets its application resume_timeout later. Checked: both applications see
a reset (ECONNRESET or EPIPE), never a clean end of stream, not before
resume_timeout has passed since the fault, and every byte that did arrive
is a prefix of what the peer sent (nothing corrupted); both agents say why;
the relay records the stream's end as a write stall (cause timeout), also
when the kernel reports the router's ICMP host unreachable for it. Then the
uplink comes back and the link carries a new stream.
"""
import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402
import netresume as nr  # noqa: E402

RESUME_TIMEOUT_S = 3
CAP_S = 60


def new_stream_works(rig, ls):
    """One round trip on a new stream through the link."""
    try:
        cs = rig.connect_host()
        ds, _ = ls.accept()
    except OSError:
        return False
    try:
        cs.settimeout(10)
        ds.settimeout(10)
        cs.sendall(b"ping")
        got = ds.recv(4)
        ds.sendall(b"pong")
        back = cs.recv(4)
        return got == b"ping" and back == b"pong"
    except OSError:
        return False
    finally:
        cs.close()
        ds.close()


def body(c, rig, t):
    host, dev = t.start(rig, c, "%ds" % RESUME_TIMEOUT_S, keep=True)
    apps = t.apps
    marks = [len(a.log()) for a in (rig.host_agent, rig.dev_agent)]
    t0 = time.time()
    rig.topo.link_set("host", "eth0", "down")
    ended = {}

    def both_ended():
        for a in apps:
            if a.end is not None and a not in ended:
                ended[a] = time.time() - t0
        return len(ended) == 2
    h.wait_for(both_ended, timeout=CAP_S, step=0.05)
    still_down = "state DOWN" in rig.topo.run("host", "ip", "link", "show",
                                              "eth0").stdout
    nr.uplink_up(rig, "host", n.R2_LAN_IP)
    for a in apps:
        took = ended.get(a, -1)
        c.check("%s application sees a reset (never a clean end)" % a.name,
                a.end == "reset", "%s after %.1f s" % (a.end, took))
        c.check("%s application: not before resume_timeout (%d s)"
                % (a.name, RESUME_TIMEOUT_S), took >= RESUME_TIMEOUT_S,
                "%.1f s" % took)
    c.check("the uplink was down throughout the wait", still_down)
    for me, peer in ((host, dev), (dev, host)):
        whole = b"".join(peer.kept)
        c.check("%s application: what arrived is a prefix of what the %s sent"
                % (me.name, peer.name),
                me.got <= len(whole)
                and hashlib.sha256(whole[:me.got]).hexdigest() == me.rh.hexdigest(),
                (me.got, len(whole)))
    for ag, m in ((rig.host_agent, marks[0]), (rig.dev_agent, marks[1])):
        log = nr.since(ag, m)
        c.check("%s agent suspended the stream, then reset it at resume_timeout and "
                "says why" % ag.name, nr.LEG_LOST in log and nr.EXPIRED in log)
    # The relay's leg toward the host stalled (nothing acknowledged):
    # its write-stall timer or the kernel's TCP_USER_TIMEOUT ends it,
    # cause timeout. r2 answers for the vanished host with ICMP host
    # unreachable, which the kernel then reports instead of ETIMEDOUT;
    # that too is a stall, not a reset (relay/stream.c
    # stream_close_err).
    closes = [l for l in rig.relay.log().splitlines()
              if re.search(r"stream \d+ link .*closed \(", l)]
    c.check("relay: the stream ended as a write stall (cause timeout), not a reset",
            len(closes) == 1 and "write stalled" in closes[0]
            and "closed (timeout)" in closes[0], closes)
    c.check("both agents online again after the uplink came back", rig.both_online(30))
    c.check("the link carries a new stream",
            h.wait_for(lambda: new_stream_works(rig, t.ls), timeout=30, step=0.2))
    c.check("relay still running", rig.relay.proc.poll() is None)
    print("figures: host application reset %.1f s, device application %.1f s after "
          "the uplink went down (resume_timeout %d s)"
          % (ended.get(host, -1), ended.get(dev, -1), RESUME_TIMEOUT_S), flush=True)


def main():
    return nr.run(body)


if __name__ == "__main__":
    sys.exit(main())
