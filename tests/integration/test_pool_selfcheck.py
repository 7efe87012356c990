#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A pool member whose advertised addresses all fail the self-check does not
take links (docs/design.md D34 "Eligibility", D35): two members on one
registry; r2 advertises a port on its host where nothing listens (a socket
bound by this test and never listening, so every connect is refused). Its
self-check fails at start, its heartbeat row says addrs_ok false, and:
- `linkctl pool --json` shows r2 alive with addrs_ok false, r1 with true;
- a link whose rendezvous home over both members would be r2 is homed on
  r1: AUTH at r1 gets WELCOME, AUTH at r2 gets REDIRECT to r1's address;
- r2's log says no advertised address reaches it.
"""
import socket
import sys

import lrharness as h
import lrproto as p
import poolharness as ph
from test_pool_redirect import first_message


def main():
    c = h.Checks()
    pool = ph.Pool(2)
    dead = socket.socket()
    dead.bind(("127.0.0.3", 0))  # r2's host; bound, never listening: refused
    r1, r2 = pool.members["r1"], pool.members["r2"]
    r2.advertise = "127.0.0.3:%d" % dead.getsockname()[1]
    r2.write_config("info", None)
    try:
        pool.start()

        def rows():
            return {x["id"]: x for x in r1.ctl_json("pool")["members"]}
        c.check("r2's self-check fails; its row says addrs_ok false, r1's true",
                h.wait_for(lambda: not rows()["r2"]["addrs_ok"] and rows()["r1"]["addrs_ok"],
                           timeout=30), rows())
        c.check("r2 is still alive (it beats), only not eligible", rows()["r2"]["alive"], rows())
        c.check("r2 logs that none of its advertised addresses reaches it",
                "none" in r2.log() and r2.advertise in r2.log(), r2.log()[-1500:])

        # A link r2 would home if it were eligible.
        link = None
        for i in range(64):
            cand = r1.add_link("sc%d" % i)
            if pool.home(cand["id"], ["r1", "r2"]) == "r2":
                link = cand
                break
        c.check("a link whose home over both members is r2", link is not None)
        if link is not None:
            msg, _, _ = first_message(r1, link)
            c.check("AUTH at r1: WELCOME (r1 homes it)", msg[0] == 0x01, msg.hex())
            msg, rest, how = first_message(r2, link)
            reason, addrs = p.parse_redirect(msg) if msg[0] == 0x07 else (None, None)
            c.check("AUTH at r2: REDIRECT home to r1's advertised address",
                    reason == 1 and addrs == [r1.advertised], (msg.hex(), reason, addrs))
    finally:
        if c.failed:
            pool.dump()
        pool.close()
        dead.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
