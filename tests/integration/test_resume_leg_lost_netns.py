#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stream resumption (D24) when the path dies on the responder's side only,
with the relay's default write_stall_timeout (30 s), in the NAT topology
(netns.py, natrig.py, netresume.py; the roaming of test_resume_roaming.py).

The device agent (the stream's responder: the host application opened it)
roams mid-transfer: its old address goes away, so its old leg is dead and
nothing says so to the relay. The device agent notices (its ACK check, at
the relay's dead_after of 3 s, from WELCOME), reconnects from its new address
and waits for a RESUMED: only the initiator asks (RESUME). The host agent's
leg is healthy and stays so (the relay acknowledges its bytes), so the host
does not ask until the relay ends the old stream. Without LEG_LOST the relay
ends it only when its leg to the device's old address times out: nothing
acknowledged for write_stall_timeout (TCP_USER_TIMEOUT and the stall timer,
30 s here, the default), later than the device's resume_timeout (15 s here):
the device resets its application at about 3 + 15 s (seen). With LEG_LOST
the device agent names its lost leg (stream id and its ticket) on its new
session, the relay ends that stream at once, the host's leg ends, the host
suspends, sends RESUME, and the stream resumes seconds after the change.

Timers that matter: the relay's dead_after (how soon agents notice a dead
leg), its write_stall_timeout and keepalive (how soon the relay notices),
the agents' resume_timeout (how long a suspended side waits). The relay
runs with FAST_LIMITS (keepalive 1 s, dead_after 3 s) except
write_stall_timeout at its default 30 s; the agents with keepalive 1 s and
resume_timeout 15 s. Waits are for events (log lines, the applications'
ends); the bound holds by construction: a resumption that did not come from
LEG_LOST could not come before the device's resume_timeout ran out.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402
import netresume as nr  # noqa: E402

RESUME_TIMEOUT_S = 15
WRITE_STALL = "30s"  # linkrelay.conf(5) default


def body(c, rig, t):
    host, dev = t.start(rig, c, "%ds" % RESUME_TIMEOUT_S, second_uplink=True)
    apps = t.apps
    marks = [len(a.log()) for a in (rig.host_agent, rig.dev_agent)]
    rmark = len(rig.relay.log())
    t0 = time.time()
    nr.roam(rig.topo)
    # Ends: resumed on both sides, or an application's connection
    # ended (the device's resume_timeout, without LEG_LOST).
    resumed = h.wait_for(lambda: nr.ended(apps) or all(
        nr.RESUMED in nr.since(a, m) for a, m in zip((rig.host_agent, rig.dev_agent),
                                                     marks)),
                         timeout=4 * RESUME_TIMEOUT_S, step=0.05)
    t_resumed = time.time() - t0
    c.check("both agents resumed the stream, the applications' connections open",
            resumed and not nr.ended(apps),
            "%.1f s after the change; ends %s %s" % (t_resumed, host.end, dev.end))
    # Its own leg check is two detectors, both set from the relay's
    # dead_after: the agent's ACK timer ("no ACK from the relay") and the
    # kernel's keepalive on the leg (pump_leg_keepalive: "connection timed
    # out"); which fires first depends on the machine's load. Either is the
    # device noticing by itself; a RESUMED from the host would say "the peer
    # resumes the stream on a new leg" instead.
    dlog = nr.since(rig.dev_agent, marks[1])
    c.check("the device agent suspended first (its own leg check)",
            nr.LEG_LOST in dlog and ("no ACK from the relay" in dlog
                                     or "connection timed out" in dlog), dlog[-600:])
    rlog = rig.relay.log()[rmark:]
    c.check("the relay ended the old stream on the device's LEG_LOST, not by its "
            "write stall", "side b reported its leg lost (LEG_LOST)" in rlog
            and "write stalled" not in rlog, rlog[-800:])
    base = (host.got, dev.got)
    c.check("transfer flowing both ways again (1 MiB more each way)",
            nr.flowing(apps, base, 1 << 20, timeout=60),
            (host.got - base[0], dev.got - base[1]))
    nr.finish(apps)
    nr.intact(c, "responder's path lost", host, dev)
    logs = rig.host_agent.log() + rig.dev_agent.log()
    c.check("no agent reset the stream", "resetting" not in logs)
    print("figures: resumed %.1f s after the address change (device resume_timeout "
          "%d s, relay write_stall_timeout %s); %d bytes host->device, %d device->host"
          % (t_resumed, RESUME_TIMEOUT_S, WRITE_STALL, host.sent, dev.sent), flush=True)


def main():
    return nr.run(body, relay_limits={"write_stall_timeout": WRITE_STALL})


if __name__ == "__main__":
    sys.exit(main())
