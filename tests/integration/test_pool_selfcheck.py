#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Which advertised addresses of a pool member fail its self-check, and a
member whose advertised addresses all fail does not take links
(docs/design.md D34 "Eligibility", D35). Three members on one registry:
- r1 advertises its own address: every check passes;
- r2 advertises a port on its host where nothing listens (a socket bound by
  this test and never listening: refused) and r1's address (answered with
  the pool's key by another member: other_member): every address fails;
- r3 advertises its own address and a port nothing listens on: one of two
  fails.
Then:
- `linkctl pool --json`: r1 and r3 addrs_ok true, r2 false, all alive;
  addrs_failing is exactly r2's two addresses with their reasons, r3's dead
  port with refused, nothing for r1; the text output has one line per
  failing address with its reason, under its member, and says r2 takes no
  links;
- a link whose rendezvous home over all three would be r2 is homed on r1
  or r3 (AUTH at r2 gets REDIRECT there);
- a link whose home over r1 and r3 is r3 is homed on r3 (WELCOME there;
  AUTH at r1 gets REDIRECT to r3's two addresses, in order): one failing
  address of two does not stop a member taking links;
- r2 logs that none of its advertised addresses reaches it.
"""
import socket
import sys

import lrharness as h
import lrproto as p
import poolharness as ph
from test_pool_redirect import first_message


def text_failing(out):
    """`linkctl pool` text: {member: [(addr, reason)]} from the lines under
    each member's row."""
    res, cur = {}, None
    for line in out.splitlines()[1:]:
        if line and not line[0].isspace():
            cur = line.split()[0]
            res[cur] = []
        elif "fails its self-check:" in line and cur is not None:
            words = line.split()
            res[cur].append((words[1], words[-1]))
    return res


def link_homed(r1, pool, name, want, among):
    """A link whose home over the members among is want."""
    for i in range(64):
        cand = r1.add_link("%s%d" % (name, i))
        if pool.home(cand["id"], among) == want:
            return cand
    return None


def main():
    c = h.Checks()
    pool = ph.Pool(3)
    dead2, dead3 = socket.socket(), socket.socket()
    dead2.bind(("127.0.0.3", 0))  # r2's host; bound, never listening: refused
    dead3.bind(("127.0.0.4", 0))  # r3's host, likewise
    r1, r2, r3 = pool.members["r1"], pool.members["r2"], pool.members["r3"]
    d2 = "127.0.0.3:%d" % dead2.getsockname()[1]
    d3 = "127.0.0.4:%d" % dead3.getsockname()[1]
    r2.advertise = [d2, r1.advertised]
    r2.write_config("info", None)
    r3.advertise = [r3.advertised, d3]
    r3.write_config("info", None)
    try:
        pool.start()

        def rows():
            return {x["id"]: x for x in r1.ctl_json("pool")["members"]}

        def failing(row):
            return sorted((f["addr"], f["reason"]) for f in row["addrs_failing"])

        want = {"r1": [], "r2": sorted([(d2, "refused"), (r1.advertised, "other_member")]),
                "r3": [(d3, "refused")]}
        c.check("each member's row names exactly its failing addresses with their reasons "
                "(linkctl pool --json)",
                h.wait_for(lambda: {k: failing(v) for k, v in rows().items()} == want,
                           timeout=30), (rows(), want))
        js = rows()
        c.check("r2 (every address failing): addrs_ok false; r1 and r3 true",
                {k: v["addrs_ok"] for k, v in js.items()}
                == {"r1": True, "r2": False, "r3": True}, js)
        c.check("every member is alive (it beats), r2 only not eligible",
                all(v["alive"] for v in js.values()), js)
        c.check("r3's addresses listed in its order, the failing one among them",
                js["r3"]["addrs"] == [r3.advertised, d3], js["r3"])
        out = r1.ctl("pool").stdout
        c.check("linkctl pool text: one line per failing address with its reason, under its "
                "member", {k: sorted(v) for k, v in text_failing(out).items()} == want,
                (out, want))
        c.check("linkctl pool text: r2 takes no links, r3 is not said to",
                [l for l in out.splitlines() if "takes no links" in l] ==
                [l for l in out.splitlines() if l.startswith("r2 ")], out)
        c.check("r2 logs that none of its advertised addresses reaches it",
                "none of the 2 advertised addresses" in r2.log()
                and d2 in r2.log() and r1.advertised in r2.log(), r2.log()[-1500:])

        # A link r2 would home if it were eligible.
        link = link_homed(r1, pool, "sc", "r2", ["r1", "r2", "r3"])
        c.check("a link whose home over all three members is r2", link is not None)
        if link is not None:
            home = pool.home(link["id"], ["r1", "r3"])
            m = pool.members[home]
            msg, _, _ = first_message(m, link)
            c.check("AUTH at its home over r1 and r3: WELCOME", msg[0] == 0x01, msg.hex())
            msg, rest, how = first_message(r2, link)
            reason, addrs = p.parse_redirect(msg) if msg[0] == 0x07 else (None, None)
            c.check("AUTH at r2: REDIRECT home, to r1's or r3's advertised addresses",
                    reason == 1 and addrs == js[home]["addrs"], (msg.hex(), reason, addrs))

        # A link r3 homes: one failing address of two does not stop it.
        link = link_homed(r1, pool, "sd", "r3", ["r1", "r3"])
        c.check("a link whose home over r1 and r3 is r3", link is not None)
        if link is not None:
            msg, _, _ = first_message(r3, link)
            c.check("AUTH at r3: WELCOME (r3 takes links)", msg[0] == 0x01, msg.hex())
            msg, rest, how = first_message(r1, link)
            reason, addrs = p.parse_redirect(msg) if msg[0] == 0x07 else (None, None)
            c.check("AUTH at r1: REDIRECT home to r3's two advertised addresses, in order",
                    reason == 1 and addrs == [r3.advertised, d3], (msg.hex(), reason, addrs))
    finally:
        if c.failed:
            pool.dump()
        pool.close()
        dead2.close()
        dead3.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
