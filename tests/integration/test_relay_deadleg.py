#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay notices a stream leg whose path died silently (no FIN, no RST:
a NAT that dropped its mapping, a router that went away) and resets the other
leg, for a leg with data in flight and for an idle one. The dead path is an
nft rule dropping every packet of one leg, inside a private network namespace
(unshare -n), so the host is not touched. A third case answers the relay's
packets with ICMP host unreachable (as a router does for a host that left
its LAN): the kernel then reports that error instead of ETIMEDOUT when it
gives up, and the relay must still record a write stall (cause timeout). Needs root, unshare and nft; skips
(exit 77) without them.
"""
import os
import shutil
import subprocess
import sys
import time

import lrharness as h
import lrproto as p

SKIP = 77


def reexec_in_netns():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nft"):
        print("SKIP: needs root, unshare and nft")
        return SKIP
    env = dict(os.environ, LR_IN_NETNS="1")
    return subprocess.run(["unshare", "-n", sys.executable] + sys.argv, env=env).returncode


def drop_port(port, icmp=False):
    """Every packet of the leg whose local port is port is dropped; with
    icmp, the packets toward it are answered with ICMP host unreachable
    instead, as a router says for a host that left its LAN."""
    subprocess.run(["nft", "add", "table", "inet", "lrtest"], check=True)
    subprocess.run(["nft", "add", "chain", "inet", "lrtest", "in",
                    "{ type filter hook input priority 0; }"], check=True)
    subprocess.run(["nft", "add", "rule", "inet", "lrtest", "in", "tcp", "sport", str(port),
                    "drop"], check=True)
    verdict = ["reject", "with", "icmpx", "type", "host-unreachable"] if icmp else ["drop"]
    subprocess.run(["nft", "add", "rule", "inet", "lrtest", "in", "tcp", "dport", str(port)] +
                   verdict, check=True)


def undrop():
    subprocess.run(["nft", "delete", "table", "inet", "lrtest"], check=False,
                   capture_output=True)


def run_case(c, r, link, busy, icmp=False):
    sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
    ta, tb = p.open_stream(sa, sb, 1)
    la, lb = p.leg(r, ta["ticket"]), p.leg(r, tb["ticket"])
    p.recv_exact(la, 1), p.recv_exact(lb, 1)
    mark = len(r.log())
    drop_port(lb.getsockname()[1], icmp)  # b's path is gone (silently, unless icmp)
    t0 = time.time()
    if busy:
        la.sendall(b"x" * 20000)  # the relay's kernel takes it, b never acks
    data, how = p.read_until_close(la, 15)
    dt = time.time() - t0
    undrop()
    what = ("with data in flight" if busy else "idle") + (", ICMP host unreachable" if icmp
                                                          else "")
    c.check("dead leg (%s): the other leg is reset" % what, how == "reset", how)
    c.check("dead leg (%s): within write_stall_timeout + keepalive + slack" % what,
            dt < 7, "%.2f s" % dt)
    if icmp:
        # The kernel gives up on the leg as for a silent path, but reports
        # the ICMP's error (a soft error until then) instead of ETIMEDOUT:
        # still a write stall, cause timeout, not a reset.
        h.wait_for(lambda: "closed (" in r.log()[mark:], timeout=5)
        closes = [l for l in r.log()[mark:].splitlines() if "closed (" in l]
        c.check("dead leg (%s): the relay records a write stall (cause timeout), not a reset"
                % what, len(closes) == 1 and "closed (timeout)" in closes[0]
                and "last ICMP: host is unreachable" in closes[0], closes)
    for s in (la, lb, sa, sb):
        s.close()


def main():
    if os.environ.get("LR_IN_NETNS") != "1":
        return reexec_in_netns()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    c = h.Checks()
    r = h.Relay(limits={"keepalive": "1s", "dead_after": "30s", "write_stall_timeout": "2s"})
    try:
        r.start()
        link = r.add_link("dead")
        h.wait_for(lambda: r.admin("links")["links"])
        run_case(c, r, link, busy=True)
        run_case(c, r, link, busy=False)
        run_case(c, r, link, busy=True, icmp=True)
        st = r.status()
        c.check("every stream closed", st["streams_open"] == 0, st["streams_open"])
    finally:
        undrop()
        if c.failed:
            print(r.log()[-3000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
