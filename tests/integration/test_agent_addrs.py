#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent and the relay's advertised address list (ADDRS, §5):
  - the agent is configured with one relay address (P1); the relay listens
    on P1 and P2 and advertises P2; the agent learns P2;
  - the relay restarts listening on P2 only: the agent finds it there;
  - the relay restarts listening on P1 only (advertising nothing): the agent
    comes back through its configured address, which it never forgot.
"""
import os
import sys

import agentharness as ah
import lrharness as h


def set_listen(r, listens, advertise=()):
    conf = os.path.join(r.dir, "linkrelay.conf")
    with open(conf) as f:
        lines = [l for l in f.read().splitlines()
                 if not l.startswith("listen =") and not l.startswith("advertise =")]
    i = lines.index("[relay]") + 1
    new = ["listen = 127.0.0.1:%d" % p for p in listens]
    new += ["advertise = 127.0.0.1:%d" % p for p in advertise]
    lines[i:i] = new
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        r = rig.relay
        p1, p2 = ah.free_port(), ah.free_port()
        set_listen(r, [p1, p2], [p2])
        r.start()
        out = rig.link("adv")
        srv = rig.server("echo")
        lport = ah.free_port()
        first = "127.0.0.1:%d" % p1
        b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port,
                      "--relay", first, "--log-level", "debug", relay=False)
        a = rig.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport,
                      "--relay", first, "--log-level", "debug", relay=False)
        c.check("online via the configured address",
                a.wait_log("online via relay %s" % first) and b.wait_log("online via relay"))
        c.check("learned the advertised address",
                a.wait_log("relay advertises 1 address(es), 1 new"), a.log()[-500:])

        r.stop()
        set_listen(r, [p2])
        r.start()
        via2 = "online via relay 127.0.0.1:%d" % p2
        c.check("found the relay at the learned address",
                a.wait_log(via2, timeout=20) and b.wait_log(via2, timeout=20))
        data = b"adv" * 5000
        c.check("streams work there",
                h.wait_for(lambda: ah.roundtrip(lport, data, timeout=5) == (data, "eof"),
                           timeout=10))

        n = a.count("online via relay %s" % first)
        r.stop()
        set_listen(r, [p1])
        r.start()
        c.check("back through the configured address (never forgotten)",
                a.wait_log("online via relay %s" % first, n=n + 1, timeout=20))
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
