#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Tokens made on a pool (docs/design.md D39):
- three real members on one registry: `linkctl link add` without
  --relay-addr writes the three members' advertised addresses into both
  tokens, in the link's rendezvous order (poolharness.home's weights, an
  independent implementation of protocol.md §10): the first is the link's
  home; JSON says token_addrs_source "pool"; the tokens decode to the same
  list (linkctl debug decode-token);
- two links whose homes differ: their agents, given only the token, come
  online at their own home at the first dial, each at another member, and
  follow no REDIRECT (with tokens that list one relay for every link, the
  agents of a link homed elsewhere are redirected);
- `link rotate` writes the new token's addresses in the same order;
- the limit, on a registry with member rows written here (no relay runs):
  17 live members with two addresses each give 16 addresses, the first
  address of the 16 members of highest weight, in weight order; a member
  whose heartbeat is older than member_timeout or whose addresses fail
  (addrs_ok 0) is left out; the second addresses follow the first ones when
  the members are few; --relay-addr wins over the pool.
"""
import os
import shutil
import sqlite3
import sys
import time

import agentharness as ah
import lrharness as h
import poolharness as ph


def order(members, link_id_hex):
    lid = bytes.fromhex(link_id_hex)
    return sorted(sorted(members), key=lambda m: -ph.weight(m, lid))


def decode_addrs(relay, tok):
    return relay.ctl_json("debug", "decode-token", tok)["addrs"]


def real_pool(c):
    pool = ph.Pool(3)
    rig = None
    try:
        pool.start()
        r1 = pool.members["r1"]
        rig = ah.Rig(relay=r1)
        by_home = {}
        for i in range(40):
            out = rig.link("t%d" % i)
            want = [pool.members[m].advertised for m in order(pool.members, out["id"])]
            if i < 3 or not c.failed:
                c.check("link t%d: tokens list the members in its order" % i,
                        out["token_addrs"] == want and out["token_addrs_source"] == "pool"
                        and decode_addrs(r1, out["tokens"]["a"]) == want
                        and decode_addrs(r1, out["tokens"]["b"]) == want, (out["token_addrs"], want))
            by_home.setdefault(pool.home(out["id"]), out)
            if len(by_home) >= 2 and i >= 2:
                break
        c.check("two links with different homes", len(by_home) >= 2, by_home)
        homes = sorted(by_home)[:2]
        for hid in homes:
            out = by_home[hid]
            home = pool.members[hid]
            srv = rig.server("echo")
            b = rig.agent("b" + hid, out["tokens"]["b"], "--connect",
                          "127.0.0.1:%d" % srv.port, relay=False)
            a = rig.agent("a" + hid, out["tokens"]["a"], "--listen",
                          "127.0.0.1:%d" % ah.free_port(), relay=False)
            for ag in (a, b):
                c.check("link %s: agent %s online at its home %s" % (out["name"], ag.name, hid),
                        ag.wait_log("online via relay %s" % home.advertised, timeout=30),
                        ag.log())
                c.check("link %s: agent %s followed no REDIRECT" % (out["name"], ag.name),
                        "redirected" not in ag.log(), ag.log())
        rot = r1.ctl_json("link", "rotate", by_home[homes[0]]["name"], "--side", "a")
        want = [pool.members[m].advertised for m in order(pool.members, rot["id"])]
        c.check("link rotate: the new token in the link's order",
                decode_addrs(r1, rot["token"]) == want, rot)
    finally:
        ph.close_all(c, pool, rig)


def fake_rows(c):
    r = h.Relay(config=True)
    try:
        first = r.ctl_json("link", "add", "made", "--relay-addr", "198.18.0.1:7700")
        c.check("no pool: --relay-addr", first["token_addrs"] == ["198.18.0.1:7700"]
                and first["token_addrs_source"] == "relay_addr", first["token_addrs"])
        db = sqlite3.connect(os.path.join(r.dir, "linkrelay.db"))
        now = int(time.time() * 1000)
        rows = {}
        for i in range(17):
            mid = "m%02d" % i
            rows[mid] = ["198.18.1.%d:7000" % i, "198.18.2.%d:7000" % i]
            db.execute("INSERT INTO members (id, addrs, beat_ms, started_ms, addrs_ok) "
                       "VALUES (?, ?, ?, ?, 1)", (mid, " ".join(rows[mid]), now + 60000, now))
        db.execute("INSERT INTO members (id, addrs, beat_ms, started_ms, addrs_ok) "
                   "VALUES ('dead', '198.18.3.1:7000', ?, ?, 1)", (now - 60000, now - 90000))
        db.execute("INSERT INTO members (id, addrs, beat_ms, started_ms, addrs_ok) "
                   "VALUES ('failing', '198.18.3.2:7000', ?, ?, 0)", (now + 60000, now))
        db.commit()
        out = r.ctl_json("link", "add", "full")
        want = [rows[m][0] for m in order(rows, out["id"])[:16]]
        c.check("17 live members: 16 addresses, first addresses in weight order",
                out["token_addrs"] == want and out["token_addrs_source"] == "pool"
                and decode_addrs(r, out["tokens"]["a"]) == want, (out["token_addrs"], want))
        db.execute("DELETE FROM members WHERE id NOT IN ('m00', 'm01', 'm02', 'dead', 'failing')")
        db.commit()
        out = r.ctl_json("link", "add", "few")
        o = order(["m00", "m01", "m02"], out["id"])
        want = [rows[m][0] for m in o] + [rows[m][1] for m in o]
        c.check("three members: first addresses, then second ones; dead and failing left out",
                out["token_addrs"] == want, (out["token_addrs"], want))
        out = r.ctl_json("link", "add", "flag", "--relay-addr", "198.18.0.9:7700")
        c.check("--relay-addr wins over the pool", out["token_addrs"] == ["198.18.0.9:7700"],
                out["token_addrs"])
        db.execute("UPDATE members SET beat_ms = ?", (now - 60000,))
        db.commit()
        db.close()
        p = r.ctl("link", "add", "nopool", check=False)
        c.check("no live member: the single-relay rule (here: no address, refused)",
                p.returncode != 0 and "no relay address" in p.stderr, p.stderr)
    finally:
        shutil.rmtree(r.top, ignore_errors=True)  # no relay ran


def main():
    c = h.Checks()
    fake_rows(c)
    real_pool(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
