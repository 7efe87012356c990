#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Key rotation without a gap (docs/design.md D21), with real agents whose
config files hold their tokens, and a stream that flows throughout:

  - `link rotate --side a --overlap 60s`: before side a's agent switches,
    both sides open new streams (the old key still works); the new token goes
    into a's file and SIGHUP: a reconnects with the new key (make-before-break),
    the relay promotes it, b learns a's new key from the relay (PEER_KEY), the
    open stream carries on with every byte intact, and new streams work both
    ways; the old token is refused from then on;
  - the same for side b; neither agent keys a stream with a link session
    made before the switch (D46: both drop them with the key change, the
    peer on PEER_KEY), which the other would refuse;
  - `--overlap 1s` on side a without switching: once the overlap ends (not
    before) the relay closes a's session with CLOSE key_rotated and refuses
    its key (the link's streams are reset, as by a rotation at once);
    installing the new token brings a back.
"""
import os
import signal
import socket
import sys
import time

import agentharness as ah
import lrharness as h


def write_conf(path, token, listen, connect):
    with open(path + ".tmp", "w") as f:
        f.write("[agent]\nbackoff_min = 100ms\nbackoff_max = 1s\n\n[link lnk]\ntoken = %s\n"
                "listen = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n" % (token, listen, connect))
    os.rename(path + ".tmp", path)



class Flow:
    """One long-lived stream through the link: each step sends a random
    block and expects the same bytes echoed, in order."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sent = 0

    def step(self, n=20000):
        data = os.urandom(n)
        try:
            self.s.sendall(data)
            got = b""
            while len(got) < n:
                chunk = self.s.recv(n - len(got))
                if not chunk:
                    return False
                got += chunk
        except OSError:
            return False
        self.sent += n
        return got == data

    def finish(self):
        try:
            self.s.shutdown(socket.SHUT_WR)
            end = self.s.recv(100) == b""
        except OSError:
            end = False
        self.s.close()
        return end


def show(r):
    return r.ctl_json("link", "show", "lnk")["keys"]


def rotate(r, side, overlap):
    return r.ctl_json("link", "rotate", "lnk", "--side", side, "--overlap", overlap)


def old_token_refused(rig, name, token):
    """An agent started with token is refused by the relay (and stopped)."""
    a = rig.agent(name, token, "--listen", "127.0.0.1:%d" % ah.free_port(), relay=False)
    ok = a.wait_log("authentication refused", timeout=10)
    a.stop()
    return ok


def relay_says(r, text, timeout=10):
    return h.wait_for(lambda: text in r.log(), timeout=timeout)


def switch(c, r, a_or_b, agent, conf, tok, lport, srv_port, peer):
    """Installs tok in agent's file and reloads it; checks the switch."""
    learned = peer.count("the peer's key is now")
    write_conf(conf, tok, lport, srv_port)
    agent.send_signal(signal.SIGHUP)
    c.check("%s: reload keeps the link and its streams" % a_or_b,
            agent.wait_log("new keys or relays; its streams carry on"), agent.log()[-800:])
    c.check("%s: relay promotes the new key" % a_or_b,
            relay_says(r, "side %s switched to its new key" % a_or_b), r.log()[-1500:])
    c.check("%s: the peer learns the new key from the relay" % a_or_b,
            peer.wait_log("the peer's key is now", n=learned + 1))


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        r = rig.start_relay()
        srv = rig.server("echo")
        out = rig.link("lnk")
        toks = dict(out["tokens"])
        la, lb = ah.free_port(), ah.free_port()
        aconf, bconf = os.path.join(rig.tmp, "a.conf"), os.path.join(rig.tmp, "b.conf")
        write_conf(aconf, toks["a"], la, srv.port)
        write_conf(bconf, toks["b"], lb, srv.port)
        b = rig.agent_args("b", ["--config", bconf])
        a = rig.agent_args("a", ["--config", aconf])
        c.check("agents online", a.wait_log("online via relay") and b.wait_log("online via relay"))
        c.check("streams both ways", h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=10))
        flow = Flow(la)
        c.check("flow starts", flow.step())

        for side, agent, conf, lport, peer in (("a", a, aconf, la, b), ("b", b, bconf, lb, a)):
            old = toks[side]
            rot = rotate(r, side, "60s")
            keys = show(r)[side]
            c.check("%s: next key stored with its deadline" % side,
                    keys["next"] == rot["key"] and keys["next_until_ms"] == rot["overlap_until_ms"]
                    and rot["overlap_until_ms"] > 0, keys)
            c.check("%s: flow carries on after the rotate command" % side, flow.step())
            c.check("%s: before the switch, streams both ways" % side, ah.works(la, 50000) and ah.works(lb, 50000))
            switch(c, r, side, agent, conf, rot["token"], lport, srv.port, peer)
            c.check("%s: flow carries on across the switch" % side, flow.step())
            keys = show(r)[side]
            c.check("%s: new key current, no next key" % side,
                    keys["current"] == rot["key"] and keys["next"] is None
                    and keys["next_until_ms"] == 0, keys)
            c.check("%s: after the switch, streams both ways" % side,
                    h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=10))
            # Both agents dropped their link sessions with the key change
            # (D46): the switching side with its new session, the peer with
            # PEER_KEY; a kept one would key a stream the other refuses.
            c.check("%s: no stream refused for a link session of the old key" % side,
                    "link session refused" not in a.log() + b.log(),
                    [ln for ln in (a.log() + b.log()).splitlines() if "link session" in ln])
            c.check("%s: the old token is refused" % side, old_token_refused(rig, "old" + side,
                                                                             old))
            toks[side] = rot["token"]
            c.check("%s: flow still carries on" % side, flow.step())

        c.check("flow ends cleanly (bytes intact: %d)" % flow.sent, flow.finish())

        # An overlap that ends before the agent switches: the old key retires
        # with its session and the link's streams, as a rotation at once does.
        t0 = time.monotonic()
        rot = rotate(r, "a", "1s")
        c.check("short overlap: the session closes with key_rotated",
                a.wait_log("key_rotated", timeout=10), a.log()[-800:])
        c.check("short overlap: not before the overlap ended", time.monotonic() - t0 >= 1.0)
        c.check("short overlap: the relay says why",
                "the overlap ended before its agent switched" in r.log())
        c.check("short overlap: a is refused with its old key",
                a.wait_log("authentication refused", timeout=10))
        c.check("short overlap: the new key is current", show(r)["a"]["current"] == rot["key"])
        write_conf(aconf, rot["token"], la, srv.port)
        a.send_signal(signal.SIGHUP)
        c.check("short overlap: a is back with the new token",
                h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=15))
        # Each agent keeps the link's static-static DH for its streams' KK
        # handshakes (D45) and must recompute it when either key changed: a
        # freshly started b computes it from the current keys, so an a that
        # kept the one of its first key fails every handshake with it.
        c.check("agent b stops with 0", b.stop() == 0)
        b = rig.agent_args("b2", ["--config", bconf])
        c.check("a restarted b: streams both ways with a whose keys changed",
                h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=15))
        c.check("agent a stops with 0", a.stop() == 0)
        c.check("agent b stops with 0", b.stop() == 0)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
