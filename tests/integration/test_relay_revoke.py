#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay revocation and key rotation (docs/protocol.md §4.1, §6.2):
- revoking a link during a transfer resets both stream legs before linkctl
  revoke returns (the relay applies it on the admin sync) and
  closes both control sessions with CLOSE revoked; a reconnect with the
  revoked link's key is told CLOSE revoked; a second link is untouched;
- enabling it again lets it work;
- rotating side a's key closes a's session with CLOSE key_rotated and resets
  the link's streams; the old key is refused from then on (no WELCOME), the
  new one works; the old key does not come back after a relay restart.
"""
import sys
import time

import lrharness as h


def links_by_name(r):
    return {l["name"]: l for l in r.admin("links")["links"]}


def main():
    c = h.Checks()
    r = h.Relay()
    try:
        r.start()
        victim = r.add_link("victim")
        other = r.add_link("other")

        pv = r.peer_bg(victim, "pair", "--mode", "hold", "--hold-ms", "8000")
        po = r.peer_bg(other, "pair", "--mode", "hold", "--hold-ms", "3000")
        rv, ro = h.Reader(pv), h.Reader(po)
        c.check("victim stream up", h.wait_for(lambda: rv.find("holding=1"), 10))
        c.check("other stream up", h.wait_for(lambda: ro.find("holding=1"), 10))
        time.sleep(0.3)
        t_revoke = time.time()
        r.ctl("link", "revoke", "victim")
        # linkctl returns once the relay answered its admin sync, and the relay
        # applies the revocation before it answers: the streams are gone now,
        # not after the next registry poll (300 ms) or a timer.
        gone = links_by_name(r)["victim"]["streams_open"]
        pv.wait(20)
        po.wait(20)
        rv.t.join(5)
        ro.t.join(5)
        la, lb = rv.find("leg.a="), rv.find("leg.b=")
        print("\n".join(l for _, l in rv.lines))
        c.check("victim leg a reset", la is not None and la[1].startswith("leg.a=reset"), la)
        c.check("victim leg b reset", lb is not None and lb[1].startswith("leg.b=reset"), lb)
        c.check("victim's stream reset when linkctl revoke returned", gone == 0, gone)
        if la and lb:
            # Printed only: when lr_testpeer notices is scheduling.
            print("legs reset seen %.3f s after the revoke" % (max(la[0], lb[0]) - t_revoke))
        c.check("victim session a told revoked", rv.find("a.close reason=revoked"))
        c.check("victim session b told revoked", rv.find("b.close reason=revoked"))
        print("\n".join(l for _, l in ro.lines))
        c.check("other link untouched", not ro.find("leg.") and not ro.find("a.close")
                and ro.find("a.session=up") and ro.find("b.session=up"))

        rc, kv, out = r.peer(victim, "session", "--side", "a", "--hold-ms", "500")
        c.check("reconnect with revoked link: CLOSE revoked", "s.close reason=revoked" in out, out)
        st = r.status()
        c.check("no stream of the victim left", st["streams_open"] == 0, st["streams_open"])

        r.ctl("link", "enable", "victim")
        c.check("enabled when linkctl enable returned", links_by_name(r)["victim"]["enabled"])
        rc, kv, out = r.peer(victim, "pair", "--bytes", "100000", "--bytes-back", "100000")
        c.check("enabled again: works", rc == 0, out[-300:])

        # Rotation of side a's key.
        pv = r.peer_bg(victim, "pair", "--mode", "hold", "--hold-ms", "8000")
        rv = h.Reader(pv)
        c.check("victim stream up again", h.wait_for(lambda: rv.find("holding=1"), 10))
        new_priv, new_pub = h.keygen()
        t_rot = time.time()
        r.ctl("link", "rotate", "victim", "--side", "a", "--key", new_pub)
        gone = links_by_name(r)["victim"]["streams_open"]
        pv.wait(20)
        rv.t.join(5)
        print("\n".join(l for _, l in rv.lines))
        la, lb = rv.find("leg.a="), rv.find("leg.b=")
        c.check("rotation resets the stream", la is not None and lb is not None
                and "reset" in la[1] and "reset" in lb[1])
        c.check("stream reset when linkctl rotate returned", gone == 0, gone)
        if la and lb:
            print("legs reset seen %.3f s after the rotation" % (max(la[0], lb[0]) - t_rot))
        c.check("side a told key_rotated", rv.find("a.close reason=key_rotated"))
        c.check("side b session stays up", rv.find("b.session=up"))
        rc, kv, out = r.peer(victim, "session", "--side", "a", "--hold-ms", "300")
        c.check("old key refused (no WELCOME)", rc != 0 and kv.get("failed") == "welcome", out)
        newlink = dict(victim, a=new_priv)
        rc, kv, out = r.peer(newlink, "session", "--side", "a", "--hold-ms", "300")
        c.check("new key accepted", rc == 0 and "s.welcome" in out, out)
        c.check("clean shutdown", r.stop() == 0)
        r.start()
        rc, kv, out = r.peer(victim, "session", "--side", "a", "--hold-ms", "300")
        c.check("old key still refused after restart", rc != 0, out)
        rc, kv, out = r.peer(newlink, "pair", "--bytes", "1000", "--bytes-back", "1000")
        c.check("new key pair works after restart", rc == 0, out[-300:])
        st = r.status()
        c.check("refusals counted as bad_key", st["failures"]["bad_key"] >= 1, st["failures"])
    finally:
        if c.failed:
            print(r.log()[-5000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
