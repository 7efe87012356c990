#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The first-contact user story, with the real ApacheBench (apache2-utils):
HTTP/1.0, a new connection per request, 16 at a time, through one link
whose two agents share the source address 127.0.0.1 (as agents behind one
NAT do), against a web server behind the device side. ab aborts on the first
reset connection, so "Failed requests: 0" and every request complete means
no connection of the user was refused or reset (docs/design.md D16).

- defaults: the relay's own default limits (not the test harness's fast
  timers), 1,000 requests: all complete, none failed, no limit hit at all;
- shaped: open_rate_per_link lowered to 100/s (burst 20), 400 requests: all
  complete, none failed, the relay refused OPENs rate_limited (counted), so
  the agent held the connections and opened them as the budget returned;
  the run cannot be faster than the bucket allows ((400 - 20) / 100 s: a
  lower bound by construction, no upper bound on a loaded machine); the
  agents keep no legs there (D48: a stream on a kept leg sends no OPEN).

Needs /usr/bin/ab (scripts/deps.sh test installs apache2-utils): without it
the test fails with "missing: ab".
"""
import os
import re
import socket
import subprocess
import sys
import time

import agentharness as ah
import lrharness as h

AB = "/usr/bin/ab"
BODY = b"linkrelay ab test\n" * 20


def web_root(tmp):
    root = os.path.join(tmp, "www")
    os.mkdir(root)
    with open(os.path.join(root, "index.html"), "wb") as f:
        f.write(BODY)
    return root


def start_web(rig, root):
    """python3's HTTP/1.0 server on a free port, by PID in the rig's cleanup."""
    port = ah.free_port()
    p = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                          "--directory", root, str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    rig.web = p
    ok = h.wait_for(lambda: _connects(port), timeout=20)
    return port, ok


def _connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def ab(port, n, conc):
    t0 = time.monotonic()
    p = subprocess.run([AB, "-n", str(n), "-c", str(conc), "-s", "60",
                        "http://127.0.0.1:%d/index.html" % port],
                       capture_output=True, text=True, timeout=300)
    return p, time.monotonic() - t0


def field(out, name):
    m = re.search(r"^%s:\s+(\d+)" % re.escape(name), out, re.M)
    return int(m.group(1)) if m else None


def run_case(c, label, limits, fast, n, conc, agent_args=()):
    """Returns (ab result, seconds, relay status)."""
    relay = h.Relay(limits=limits, fast=fast)
    rig = ah.Rig(relay=relay)
    rig.web = None
    try:
        rig.start_relay()
        root = web_root(rig.tmp)
        wport, up = start_web(rig, root)
        c.check("%s: web server up" % label, up)
        out = rig.link("web")
        lport = ah.free_port()
        rig.b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % wport,
                          *agent_args)
        rig.a = rig.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport,
                          *agent_args)
        online = rig.a.wait_log("online via relay") and rig.b.wait_log("online via relay") and \
            h.wait_for(lambda: "peer online" in rig.a.log(), timeout=10)
        c.check("%s: agents online" % label, online)
        p, secs = ab(lport, n, conc)
        st = relay.status()
        done = field(p.stdout, "Complete requests")
        failed = field(p.stdout, "Failed requests")
        c.check("%s: ab exits 0" % label, p.returncode == 0,
                "" if p.returncode == 0 else p.stderr[-800:] + p.stdout[-800:])
        c.check("%s: all %d requests complete, none failed" % (label, n),
                done == n and failed == 0, (done, failed, p.stdout[-600:] if failed != 0 else ""))
        logs = rig.a.log() + rig.b.log()
        c.check("%s: no local connection reset by either agent" % label,
                "resetting" not in logs, logs[-2000:] if "resetting" in logs else "")
        print("%s: %d requests in %.2f s (%.0f/s), limits_hit %s" % (
            label, n, secs, n / secs if secs > 0 else 0, st.get("limits_hit")))
        return p, secs, st
    finally:
        if c.failed:
            rig.dump()
        if rig.web is not None:
            rig.web.kill()
            rig.web.wait()
        rig.close()


def main():
    c = h.Checks()
    if not os.access(AB, os.X_OK):
        c.check("missing: ab (apt-get install apache2-utils)", False)
        return c.done()
    _, _, st = run_case(c, "defaults", {}, False, 1000, 16)
    hit = st.get("limits_hit", {})
    c.check("defaults: no limit hit at all", hit and not any(hit.values()), hit)
    rate, burst, n = 100, 20, 400
    # Without kept legs (D48): a stream on a kept leg sends no OPEN, so the
    # OPEN rate would not shape it.
    _, secs, st = run_case(c, "shaped", {"open_rate_per_link": "%d/s" % rate,
                                         "open_burst_per_link": str(burst)}, True, n, 16,
                           ("--keep-legs", "0"))
    refused = st.get("limits_hit", {}).get("open_rate_per_link", 0)
    c.check("shaped: the relay refused OPENs rate_limited (the agent held and retried)",
            refused > 0, st.get("limits_hit"))
    c.check("shaped: not faster than the bucket allows (>= %.1f s)" % ((n - burst) / rate),
            secs >= (n - burst) / rate, secs)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
