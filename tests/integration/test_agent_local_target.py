#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent: the connect side's local target, as an address literal and as
a host name (docs/design.md D45: a literal is connected at once, a name is
resolved on libuv's thread pool for each stream), one link each on one relay:
  - an IPv4 literal, an IPv6 literal (when this host has ::1) and the name
    `localhost`: streams work, several at once and one after another;
  - a name that does not resolve: the client's connection is reset and the
    device's agent logs that it cannot resolve the local target;
  - a literal with nothing listening: reset, and the agent logs that the
    connect failed.
"""
import sys
import threading

import agentharness as ah
import lrharness as h


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        rig.start_relay()
        srv = rig.server("echo")
        targets = [("v4", "127.0.0.1:%d" % srv.port), ("name", "localhost:%d" % srv.port),
                   ("badname", "no-such-host.invalid:%d" % srv.port),
                   ("refused", "127.0.0.1:%d" % ah.free_port())]
        if h.has_ipv6_loopback():
            targets.append(("v6", "[::1]:%d" % rig.server("echo", host="::1").port))
        ports = {}
        devs = {}
        for name, target in targets:
            out = rig.link(name)
            ports[name] = ah.free_port()
            devs[name] = rig.agent("b" + name, out["tokens"]["b"], "--connect", target)
            a = rig.agent("a" + name, out["tokens"]["a"], "--listen",
                          "127.0.0.1:%d" % ports[name])
            c.check("%s: agents online" % name, a.wait_log("online via relay")
                    and devs[name].wait_log("online via relay"))
        for name in [t[0] for t in targets if t[0] in ("v4", "name", "v6")]:
            c.check("%s: a stream works" % name,
                    h.wait_for(lambda: ah.works(ports[name], 100000), timeout=10))
            results = []

            def one():
                results.append(ah.works(ports[name], 50000))
            ts = [threading.Thread(target=one) for _ in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            c.check("%s: 8 streams at once and 8 more after" % name,
                    results == [True] * 8 and all(ah.works(ports[name], 1000) for _ in range(8)),
                    results)
        for name, text in (("badname", "cannot resolve the local target"),
                           ("refused", "connect to the local target failed")):
            try:
                got, how = ah.roundtrip(ports[name], b"x" * 1000, timeout=10)
            except ConnectionResetError:  # the reset came before connect() returned
                got, how = b"", "reset"
            c.check("%s: the client's connection is reset" % name, how == "reset" and got == b"",
                    (how, len(got)))
            c.check("%s: the device's agent says why" % name,
                    devs[name].wait_log(text, timeout=10), devs[name].log()[-600:])
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
