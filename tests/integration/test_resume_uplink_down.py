#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stream resumption (D24) across the host agent's uplink going down for
10 s, in the NAT topology (netns.py, natrig.py, netresume.py).

A transfer both ways through the link (each application sends random data
and hashes what it sends and receives); when each direction has carried
1 MiB, `ip link set dev eth0 down` in the host LAN namespace (the host
agent's only way to the relay; its application's connection to the agent is
on 127.0.0.1 and stays up). The link stays down for 10 s and at least until
the host agent has noticed the dead path and suspended the stream (an event,
not a time: under a sanitizer it may take longer than dead_after); then up,
default route restored. Checked: both agents resume the stream, data flows
both ways again, and after both applications stop sending and half-close,
each received every byte the other sent, once and in order (SHA-256), on a
connection that was never reset; no agent logged a reset.

resume_timeout is 60 s (the default): outage + detection + reconnect are far
below it; the test waits at most that long for the resumption.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402
import netresume as nr  # noqa: E402

OUTAGE_S = 10.0
RESUME_TIMEOUT_S = 60


def body(c, rig, t):
    host, dev = t.start(rig, c, "%ds" % RESUME_TIMEOUT_S)
    apps = t.apps
    marks = [len(a.log()) for a in (rig.host_agent, rig.dev_agent)]
    t0 = time.time()
    rig.topo.link_set("host", "eth0", "down")
    noticed = h.wait_for(lambda: nr.ended(apps) or
                         nr.LEG_LOST in nr.since(rig.host_agent, marks[0]),
                         timeout=RESUME_TIMEOUT_S - OUTAGE_S, step=0.05)
    t_noticed = time.time() - t0
    c.check("host agent noticed the dead path and suspended the stream while its "
            "uplink was down", noticed and not nr.ended(apps), "after %.1f s" % t_noticed)
    time.sleep(max(0.0, OUTAGE_S - (time.time() - t0)))
    mid = host.end is None and dev.end is None and not host.stop
    nr.uplink_up(rig, "host", n.R2_LAN_IP)
    t_up = time.time()
    down = t_up - t0
    c.check("the outage lasted %.0f s with the transfer still open" % OUTAGE_S,
            down >= OUTAGE_S and mid, "%.1f s" % down)
    resumed = h.wait_for(lambda: nr.ended(apps) or all(
        nr.RESUMED in nr.since(a, m) for a, m in zip((rig.host_agent, rig.dev_agent),
                                                     marks)),
                         timeout=RESUME_TIMEOUT_S, step=0.05)
    t_resumed = time.time() - t_up
    c.check("both agents resumed the stream after the uplink came back",
            resumed and not nr.ended(apps),
            "%.1f s after up" % t_resumed)
    base = (host.got, dev.got)
    c.check("transfer flowing both ways again (1 MiB more each way)",
            nr.flowing(apps, base, 1 << 20, timeout=60),
            (host.got - base[0], dev.got - base[1]))
    nr.finish(apps)
    nr.intact(c, "uplink down %.0f s" % OUTAGE_S, host, dev)
    logs = rig.host_agent.log() + rig.dev_agent.log()
    c.check("no agent reset the stream", "resetting" not in logs)
    c.check("relay still running", rig.relay.proc.poll() is None)
    print("figures: dead path noticed %.1f s after down; down %.1f s; resumed %.1f s "
          "after up; %d bytes host->device, %d device->host"
          % (t_noticed, down, t_resumed, host.sent, dev.sent), flush=True)


def main():
    return nr.run(body)


if __name__ == "__main__":
    sys.exit(main())
