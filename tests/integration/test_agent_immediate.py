#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent immediate policy (the "virtual cable"): both agents connect to
their own local targets and one permanent stream joins them.
  - with only side a running, nothing is dialled; when side b starts, the
    cable comes up: each target gets one connection, bytes flow both ways;
  - the device-side target drops its connection: the cable is re-made;
  - the device-side target is down for a while, then back: the cable returns;
  - the relay is killed and restarted: the cable is resumed (the same
    connections carry on, docs/protocol.md §7.3).
"""
import sys
import time

import agentharness as ah
import lrharness as h


def flows(x, y, tag):
    """Bytes pushed at y's end arrive at x and the other way round."""
    m1, m2 = ("<%s a->b>" % tag).encode(), ("<%s b->a>" % tag).encode()
    ok1 = h.wait_for(lambda: y.push(m1), timeout=5) and \
        h.wait_for(lambda: m1 in bytes(x.received), timeout=5)
    ok2 = h.wait_for(lambda: x.push(m2), timeout=5) and \
        h.wait_for(lambda: m2 in bytes(y.received), timeout=5)
    return bool(ok1 and ok2)


def both_have(x, y, nx, ny, timeout=15):
    return h.wait_for(lambda: x.accepted >= nx and y.accepted >= ny and x.live and y.live,
                      timeout=timeout, step=0.05)


def main():
    c = h.Checks()
    rig = ah.Rig(fixed_port=True)
    try:
        r = rig.start_relay()
        out = rig.link("cable")
        x = rig.server("hold")  # the device, behind side b
        y = rig.server("hold")  # the host side's target, behind side a
        a = rig.agent("a", out["tokens"]["a"], "--policy", "immediate",
                      "--connect", "127.0.0.1:%d" % y.port)
        c.check("side a online", a.wait_log("online via relay"))
        time.sleep(1)
        c.check("no cable while the peer is offline", x.accepted == 0 and y.accepted == 0)
        b = rig.agent("b", out["tokens"]["b"], "--policy", "immediate",
                      "--connect", "127.0.0.1:%d" % x.port)
        c.check("cable up when the second agent starts", both_have(x, y, 1, 1),
                (x.accepted, y.accepted))
        c.check("bytes flow both ways over the cable", flows(x, y, "1"))
        time.sleep(1)
        c.check("exactly one cable", x.accepted == 1 and y.accepted == 1,
                (x.accepted, y.accepted))

        # The device drops its connection (it restarted).
        x.drop_all()
        c.check("cable re-made after the device dropped it", both_have(x, y, 2, 2),
                (x.accepted, y.accepted))
        c.check("bytes flow again", flows(x, y, "2"))

        # The device is down for a while, then back on the same port.
        port = x.port
        x.close()
        time.sleep(2.5)
        x2 = rig.server("hold", port=port)
        ny = y.accepted
        c.check("cable back after the device came back", both_have(x2, y, 1, ny + 1),
                (x2.accepted, y.accepted))
        c.check("bytes flow after the device restart", flows(x2, y, "3"))

        # Relay kill -9 and restart.
        na = a.count("online via relay")
        r.proc.kill()
        r.proc.wait()
        r.proc = None
        time.sleep(0.5)
        r.start()
        c.check("agents back after the relay restart",
                a.wait_log("online via relay", n=na + 1, timeout=15))
        # The cable is resumed (docs/protocol.md §7.3): the same connections
        # at both targets carry on, none is re-made.
        nx2, ny = x2.accepted, y.accepted
        c.check("cable resumed after the relay restart",
                a.wait_log("stream resumed on a new leg", timeout=15)
                and b.wait_log("stream resumed on a new leg", timeout=15))
        c.check("bytes flow after the relay restart", flows(x2, y, "4"))
        c.check("the same connections: none re-made", x2.accepted == nx2 and y.accepted == ny
                and x2.live and y.live, (x2.accepted, y.accepted))
        for ag in (a, b):
            c.check("agent %s stops with 0" % ag.name, ag.stop() == 0)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
