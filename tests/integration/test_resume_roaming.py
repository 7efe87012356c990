#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stream resumption (D24) across a change of the device agent's address
(roaming), in the NAT topology (netns.py, natrig.py, netresume.py).

The device starts behind NAT router r1 (100.64.1.10 on eth0, default route
via 100.64.1.1; the relay sees it as 198.18.0.2). A second uplink, `wlan0`,
is a veth from the device namespace to the public segment's bridge, down and
without an address. In the middle of a transfer both ways the device roams:
100.64.1.10 is removed from eth0 (its routes go with it), 198.18.0.20/24 is
added to wlan0, wlan0 comes up, and the default route is put on wlan0 (the
relay is on that segment). The old legs and the old control connection keep
their now foreign source address: nothing they send leaves, nothing sent to
them is delivered, no packet says so. The agents notice (dead_after, the
relay's write stall), the device agent reconnects from its new address, and
the stream resumes.

Checked: the relay sees side b at the new address, both agents resumed the
stream, data flows both ways again, and after both applications stop
sending and half-close, each received every byte the other sent, once and in
order (SHA-256), on a connection that was never reset; no agent logged a
reset. The device application listens on 127.0.0.1 in the device namespace,
so its own connection does not depend on the address that goes away.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402
import netresume as nr  # noqa: E402

NEW_IP = nr.ROAM_IP
RESUME_TIMEOUT_S = 60


def side_b_addr(rig):
    live = rig.live()
    return live["b"].get("addr", "") if live and live["b"]["online"] else ""


def body(c, rig, t):
    host, dev = t.start(rig, c, "%ds" % RESUME_TIMEOUT_S, second_uplink=True)
    apps = t.apps
    before = side_b_addr(rig)
    c.check("the relay sees side b behind r1 before roaming",
            before.startswith(n.R1_PUB_IP + ":"), before)
    marks = [len(a.log()) for a in (rig.host_agent, rig.dev_agent)]
    t0 = time.time()
    nr.roam(rig.topo)
    addrs = rig.topo.run("dev", "ip", "-4", "-o", "addr", "show").stdout
    c.check("the device's old address is gone, the new one is there",
            n.DEV_IP not in addrs and NEW_IP in addrs, addrs)
    resumed = h.wait_for(lambda: nr.ended(apps) or all(
        nr.RESUMED in nr.since(a, m) for a, m in zip((rig.host_agent, rig.dev_agent),
                                                     marks)),
                         timeout=RESUME_TIMEOUT_S, step=0.05)
    t_resumed = time.time() - t0
    c.check("both agents resumed the stream after the address change",
            resumed and not nr.ended(apps),
            "%.1f s after the change" % t_resumed)
    # Its own leg check, or the RESUMED the host asked for while the
    # old leg still looked alive: whichever comes first (both seen).
    lost = [l for l in nr.since(rig.dev_agent, marks[1]).splitlines()
            if nr.LEG_LOST in l]
    c.check("the device agent suspended the stream", len(lost) >= 1, lost)
    after = side_b_addr(rig)
    c.check("the relay sees side b at its new address", after.startswith(NEW_IP + ":"),
            after)
    base = (host.got, dev.got)
    c.check("transfer flowing both ways again (1 MiB more each way)",
            nr.flowing(apps, base, 1 << 20, timeout=60),
            (host.got - base[0], dev.got - base[1]))
    nr.finish(apps)
    nr.intact(c, "roaming", host, dev)
    logs = rig.host_agent.log() + rig.dev_agent.log()
    c.check("no agent reset the stream", "resetting" not in logs)
    c.check("relay still running", rig.relay.proc.poll() is None)
    print("figures: resumed %.1f s after the address change; %d bytes host->device, "
          "%d device->host" % (t_resumed, host.sent, dev.sent), flush=True)


def main():
    return nr.run(body)


if __name__ == "__main__":
    sys.exit(main())
