#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Key rotation with an overlap, seen from the wire (docs/design.md D21),
with the Python agent of lrproto so every control message is visible:

  - PEER_KEY only to agents that set AUTH flag bit 1: such an agent hears
    the peer's key after WELCOME and whenever the peer's session comes up;
    an agent without the flag (an older linkagent) never gets it and works;
  - PEER_KEY is key[32] ‖ endorsed_by[32] ‖ mac[32], all-zero endorsement
    while the side's agent sent none;
  - `link rotate --overlap`: the old and the new key both authenticate; the
    old key's session sends KEY_ENDORSE for the new key (stored in the
    registry, a KEY_ENDORSE for a key the side does not have is ignored); a
    session with the new key replaces the old one, the peer is told the new
    key with that endorsement, the relay promotes it (event "rotated") and
    refuses the old key; KEY_ENDORSE from an agent without AUTH flags bit 1
    closes its session with CLOSE protocol;
  - an overlap that ends without a switch: CLOSE key_rotated at the deadline
    (not before), and the old key is refused;
  - a deadline that passed while the relay was down is enforced from its
    start;
  - --overlap bounds: 0 (at once), 1s..720h, with clear errors outside.
"""
import os
import sqlite3
import sys
import time

import agentharness as ah
import lrharness as h
import lrproto as lp

PEER_KEY, PEER, CLOSE, KEY_ENDORSE = 0x09, 0x02, 0x05, 0x21
ZERO64 = bytes(64)


def told(got):
    """The keys of the PEER_KEYs in got, [] if one carries an endorsement."""
    pks = [m[1:] for m in got if m[0] == PEER_KEY]
    if any(len(m) != 96 or m[32:] != ZERO64 for m in pks):
        return [m.hex() for m in pks]
    return [m[:32] for m in pks]


def refused(r, link, side, priv):
    try:
        s = lp.Session(r, link, side, priv=priv, flags=2)
    except (OSError, EOFError):
        return True
    s.close()
    return False


def keys(r, name="pk"):
    return r.ctl_json("link", "show", name)["keys"]


def rotate(r, side, key, overlap, name="pk"):
    return r.ctl_json("link", "rotate", name, "--side", side, "--key", key, "--overlap", overlap)


def events(r):
    return r.ctl_json("events", "--link", "pk")["events"]


def check_peer_keys(c, r, L):
    """Negotiation; returns the sessions (a with the flag, b with it)."""
    sb = lp.Session(r, L, 1)
    c.check("agent without the flag: WELCOME", sb.welcome[0] == 0x01)
    sa = lp.Session(r, L, 0, flags=2)
    got = sa.drain()
    c.check("agent with the flag: told the peer's key after WELCOME",
            told(got) == [h.pub_raw(L["b_pub"])], got)
    got = sb.drain()
    c.check("agent without the flag: PEER online, never PEER_KEY",
            [m[0] for m in got] == [PEER], got)
    sb2 = lp.Session(r, L, 1, flags=2)
    got = sb2.drain()
    c.check("replacing b (with the flag): told a's key",
            told(got) == [h.pub_raw(L["a_pub"])], got)
    got = sa.drain()
    c.check("a is told b's key again when b's session comes up",
            told(got) == [h.pub_raw(L["b_pub"])], got)
    c.check("the replaced b gets CLOSE replaced", sb.expect(CLOSE)[1] == 4)
    sb.close()
    return sa, sb2


def main():
    c = h.Checks()
    r = ah.fixed_port_relay()
    try:
        r.start()
        L = r.add_link_live("pk")
        sa, sb = check_peer_keys(c, r, L)

        # Overlap, then the agent switches.
        newa = h.keygen()
        out = rotate(r, "a", newa[1], "60s")
        k = keys(r)["a"]
        c.check("rotate --overlap: next key and deadline stored",
                k["next"] == newa[1] and k["current"] == L["a_pub"]
                and abs(k["next_until_ms"] - (time.time() + 60) * 1000) < 30000, (out, k))
        human = r.ctl("link", "show", "pk").stdout
        c.check("link show names the next key and its deadline",
                "next key a:" in human and "at most until" in human, human)
        c.check("old key still works during the overlap", sa.drain() == [])
        mac = bytes(range(32))
        stray = h.keygen()
        sa.send(bytes([KEY_ENDORSE]) + h.pub_raw(L["a_pub"]) + h.pub_raw(stray[1]) + mac)
        c.check("KEY_ENDORSE for a key side a does not have: ignored, session stays",
                sa.drain() == [])
        sa.send(bytes([KEY_ENDORSE]) + h.pub_raw(L["a_pub"]) + h.pub_raw(newa[1]) + mac)
        c.check("KEY_ENDORSE of the next key on the old key's session: taken quietly",
                sa.drain() == [] and sb.drain() == [])
        sa2 = lp.Session(r, L, 0, priv=newa[0], flags=2)
        c.check("new key authenticates during the overlap", sa2.welcome[0] == 0x01)
        c.check("its session replaces the old one", sa.expect(CLOSE)[1] == 4)
        sa.close()
        got = sb.drain()
        c.check("the peer is told the new key with its endorsement",
                [m[1:] for m in got if m[0] == PEER_KEY]
                == [h.pub_raw(newa[1]) + h.pub_raw(L["a_pub"]) + mac], got)

        def stored():
            db = sqlite3.connect(os.path.join(r.dir, "linkrelay.db"), timeout=10)
            try:
                return db.execute("SELECT a_endorse FROM links WHERE name = 'pk'").fetchone()[0]
            finally:
                db.close()
        c.check("the endorsement is in the registry",
                h.wait_for(lambda: stored() == h.pub_raw(newa[1]) + h.pub_raw(L["a_pub"]) + mac,
                           timeout=5), stored())
        c.check("the relay promotes the new key",
                h.wait_for(lambda: keys(r)["a"]["current"] == newa[1], timeout=5))
        k = keys(r)["a"]
        c.check("no next key, no deadline, generation 2",
                k["next"] is None and k["next_until_ms"] == 0 and k["generation"] == 2, k)
        ev = [e for e in events(r) if e["kind"] == "rotated"]
        c.check("event: rotated, agent switched",
                any("agent switched" in e["detail"] for e in ev), ev)
        c.check("the old key is refused", refused(r, L, 0, L["a"]))
        c.check("the new session still serves", all(m[0] == PEER_KEY for m in sa2.drain()))
        sb3 = lp.Session(r, L, 1, priv=L["b"], flags=2)
        got = sb3.drain()
        c.check("a new session of b is told a's key with the stored endorsement",
                [m[1:] for m in got if m[0] == PEER_KEY]
                == [h.pub_raw(newa[1]) + h.pub_raw(L["a_pub"]) + mac], got)
        c.check("the replaced b gets CLOSE replaced", sb.expect(CLOSE)[1] == 4)
        sb.close()
        sb = sb3

        # An overlap that ends before the agent switches.
        newb = h.keygen()
        t0 = time.monotonic()
        rotate(r, "b", newb[1], "1s")
        m = sb.expect(CLOSE, timeout=10)
        c.check("overlap over: CLOSE key_rotated", m[1] == 2, m)
        c.check("not before the deadline", time.monotonic() - t0 >= 1.0)
        c.check("the old key of b is refused", refused(r, L, 1, L["b"]))
        c.check("the new key of b is current", keys(r)["b"]["current"] == newb[1])
        ev = [e for e in events(r) if e["kind"] == "rotated"]
        c.check("event: rotated, overlap ended", any("overlap ended" in e["detail"] for e in ev),
                ev)
        sb.close()
        sa2.close()

        # A deadline that passes while the relay is down.
        newa2 = h.keygen()
        out = rotate(r, "a", newa2[1], "1s")
        c.check("relay stops", r.stop() == 0)
        while time.time() * 1000 <= out["overlap_until_ms"] + 50:
            time.sleep(0.05)
        r.start()
        c.check("after a restart past the deadline: promoted at start",
                keys(r)["a"]["current"] == newa2[1], keys(r)["a"])
        c.check("after a restart: the old key is refused", refused(r, L, 0, newa[0]))
        s = lp.Session(r, L, 0, priv=newa2[0], flags=2)
        c.check("after a restart: the new key works", s.welcome[0] == 0x01)
        sb = lp.Session(r, L, 1, priv=newb[0], flags=2)
        got = sb.drain()
        c.check("after a restart: the endorsement of a's old key does not go with a newer key",
                told(got) == [h.pub_raw(newa2[1])], got)
        sb.close()
        s.close()
        s = lp.Session(r, L, 0, priv=newa2[0])
        s.send(bytes([KEY_ENDORSE]) + h.pub_raw(newa[1]) + h.pub_raw(newa2[1]) + bytes(32))
        m = s.expect(CLOSE)
        c.check("KEY_ENDORSE from an agent without AUTH flags bit 1: CLOSE protocol",
                m[1] == 6, m)
        s.close()

        # Bounds of --overlap.
        r.add_link("bounds")
        k = h.keygen()
        for bad, why in (("999ms", "out of range"), ("721h", "out of range"),
                         ("soon", "not a duration"), ("-1", "not a duration"),
                         ("", "not a duration")):
            p = r.ctl("link", "rotate", "bounds", "--side", "a", "--key", k[1], "--overlap", bad,
                      check=False)
            c.check("--overlap %r refused (%s)" % (bad, why),
                    p.returncode == 2 and why in p.stderr, (p.returncode, p.stderr))
        c.check("nothing changed by the refused ones", keys(r, "bounds")["a"]["next"] is None)
        out = rotate(r, "a", k[1], "720h", name="bounds")
        c.check("--overlap 720h (the limit) accepted",
                abs(out["overlap_until_ms"] - (time.time() + 720 * 3600) * 1000) < 30000, out)
        k2 = h.keygen()
        out = rotate(r, "a", k2[1], "0", name="bounds")
        kb = keys(r, "bounds")["a"]
        c.check("--overlap 0: replaced at once",
                out["overlap_until_ms"] == 0 and kb["current"] == k2[1] and kb["next"] is None,
                kb)
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
