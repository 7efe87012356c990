#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent relay address list: with several --relay addresses, an agent
whose first relay is unreachable (refused, or a name that does not resolve)
moves on to the next one and comes online there; each failure is logged
with its cause (refused, DNS).
"""
import sys

import agentharness as ah
import lrharness as h


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        r = rig.start_relay()
        out = rig.link("fo")
        srv = rig.server("echo")
        dead = ah.free_port()
        b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port,
                      "--relay", "127.0.0.1:%d" % dead, "--relay", r.addr, relay=False)
        lport = ah.free_port()
        a = rig.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport,
                      "--relay", "no-such-relay.invalid:7700", "--relay", r.addr, relay=False)
        c.check("b: fails over from a refused address", b.wait_log("online via relay", timeout=15))
        c.check("b: the refused address is named",
                "127.0.0.1:%d: connect failed" % dead in b.log() and "refused" in b.log())
        c.check("a: fails over from a name that does not resolve",
                a.wait_log("online via relay", timeout=25))
        c.check("a: the DNS failure is named", "cannot resolve the relay address (DNS)" in a.log()
                or "timeout resolving the relay address" in a.log())
        data = b"failover" * 1000
        ok = h.wait_for(lambda: ah.roundtrip(lport, data, timeout=5) == (data, "eof"), timeout=10)
        c.check("stream works through the second address", ok)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
