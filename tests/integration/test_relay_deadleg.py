#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay notices a stream leg whose path died silently (no FIN, no RST:
a NAT that dropped its mapping, a router that went away) and resets the other
leg, for a leg with data in flight and for an idle one. The dead path is an
nft rule dropping every packet of one leg, inside a private network namespace
(unshare -n), so the host is not touched. Needs root, unshare and nft; skips
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


def drop_port(port):
    subprocess.run(["nft", "add", "table", "inet", "lrtest"], check=True)
    subprocess.run(["nft", "add", "chain", "inet", "lrtest", "in",
                    "{ type filter hook input priority 0; }"], check=True)
    subprocess.run(["nft", "add", "rule", "inet", "lrtest", "in", "tcp", "sport", str(port),
                    "drop"], check=True)
    subprocess.run(["nft", "add", "rule", "inet", "lrtest", "in", "tcp", "dport", str(port),
                    "drop"], check=True)


def undrop():
    subprocess.run(["nft", "delete", "table", "inet", "lrtest"], check=False,
                   capture_output=True)


def run_case(c, r, link, busy):
    sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
    ta, tb = p.open_stream(sa, sb, 1)
    la, lb = p.leg(r, ta["ticket"]), p.leg(r, tb["ticket"])
    p.recv_exact(la, 1), p.recv_exact(lb, 1)
    drop_port(lb.getsockname()[1])  # b's path is gone, silently
    t0 = time.time()
    if busy:
        la.sendall(b"x" * 20000)  # the relay's kernel takes it, b never acks
    data, how = p.read_until_close(la, 15)
    dt = time.time() - t0
    undrop()
    what = "with data in flight" if busy else "idle"
    c.check("dead leg (%s): the other leg is reset" % what, how == "reset", how)
    c.check("dead leg (%s): within write_stall_timeout + keepalive + slack" % what,
            dt < 7, "%.2f s" % dt)
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
        st = r.status()
        c.check("both streams closed", st["streams_open"] == 0, st["streams_open"])
    finally:
        undrop()
        if c.failed:
            print(r.log()[-3000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
