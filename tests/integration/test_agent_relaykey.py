#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Relay key rotation without new tokens (docs/design.md D21):

  - `linkctl relay rotate-key --overlap 10s` with two config-file agents and a
    stream flowing: the running relay takes the new key at once and tells
    both agents (RELAY_KEY), which keep it beside their config file, or in
    $STATE_DIRECTORY when set (as under systemd), mode 0600; the stream
    carries on;
  - on the wire: an agent that sets AUTH flags bit 2 hears RELAY_KEY with the
    new id and key after WELCOME; one that does not never does, and works;
  - during the overlap both key ids authenticate; tokens made now carry the
    new key;
  - after the overlap the old key id is refused (an agent with an old token
    reports a relay key mismatch), also after a relay restart; the agents
    reconnect with the new key without a new token, also after their own
    restart (they read what they kept);
  - a second rotate-key while one is under way is refused; bad --overlap
    values are usage errors.
"""
import os
import socket
import stat
import sys

import agentharness as ah
import lrharness as h
import lrproto as lp

RELAY_KEY = 0x0A


def write_conf(path, token, listen, connect):
    with open(path + ".tmp", "w") as f:
        f.write("[agent]\nbackoff_min = 100ms\nbackoff_max = 1s\n\n[link lnk]\ntoken = %s\n"
                "listen = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n" % (token, listen, connect))
    os.rename(path + ".tmp", path)



def token_key_id(tok):
    """The relay_key_id byte of a token body (protocol §2.1)."""
    body = h.b32dec(tok[len("lrtok1"):])
    return body[19]


def main():
    c = h.Checks()
    relay = ah.fixed_port_relay()
    rig = ah.Rig(relay=relay)
    try:
        r = rig.start_relay()
        c.check("starts with key id 1", r.key_id == 1)
        old_pub = r.relay_pub
        srv = rig.server("echo")
        toks = dict(rig.link("lnk")["tokens"])
        la, lb = ah.free_port(), ah.free_port()
        aconf, bconf = os.path.join(rig.tmp, "a.conf"), os.path.join(rig.tmp, "b.conf")
        write_conf(aconf, toks["a"], la, srv.port)
        write_conf(bconf, toks["b"], lb, srv.port)
        # Agent b runs as under the linkagent@ unit: its learned keys go to
        # $STATE_DIRECTORY, not beside its config file.
        bstate = os.path.join(rig.tmp, "state-b")
        os.mkdir(bstate, 0o700)
        os.environ["STATE_DIRECTORY"] = bstate
        try:
            b = rig.agent_args("b", ["--config", bconf])
        finally:
            del os.environ["STATE_DIRECTORY"]
        a = rig.agent_args("a", ["--config", aconf])
        c.check("agents online", a.wait_log("online via relay") and b.wait_log("online via relay"))
        c.check("streams work", h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=10))
        s = socket.create_connection(("127.0.0.1", la), timeout=10)
        s.sendall(b"before")
        c.check("a stream flows", s.recv(100) == b"before")

        legacy = r.add_link_live("legacy")
        for bad, why in (("500ms", "out of range"), ("721h", "out of range"),
                         ("x", "not a duration")):
            p = r.ctl("relay", "rotate-key", "--overlap", bad, check=False)
            c.check("rotate-key --overlap %s refused (%s)" % (bad, why),
                    p.returncode == 2 and why in p.stderr, (p.returncode, p.stderr))
        out = r.ctl_json("relay", "rotate-key", "--overlap", "10s")
        c.check("rotate-key: next key id 2, the relay took it",
                out["next_key_id"] == 2 and out["relay_reloaded"] and out["relay_key_id"] == 1,
                out)
        p = r.ctl("relay", "rotate-key", check=False)
        c.check("a second rotate-key is refused while one is under way",
                p.returncode == 1 and "under way" in p.stderr, p.stderr)
        for name, ag, kept in (("a", a, aconf + ".relaykeys"),
                               ("b", b, os.path.join(bstate, "b.conf.relaykeys"))):
            c.check("agent %s hears the next key" % name,
                    ag.wait_log("the relay announces its next key (id 2)"), ag.log()[-600:])
            c.check("agent %s keeps it, mode 0600" % name,
                    h.wait_for(lambda: os.path.exists(kept), timeout=5)
                    and stat.S_IMODE(os.stat(kept).st_mode) == 0o600
                    and out["next_key"] in open(kept).read())
        c.check("agent b keeps nothing beside its config file",
                not os.path.exists(bconf + ".relaykeys"))
        s.sendall(b"during")
        c.check("the stream carries on", s.recv(100) == b"during")

        # The wire: bit 2 set or not; both key ids authenticate meanwhile.
        new = lp.Session(r, legacy, 0, flags=4)
        got = new.drain()
        c.check("flag set: RELAY_KEY with id 2 and the new key",
                [m for m in got if m[0] == RELAY_KEY] == [bytes([RELAY_KEY, 2])
                                                          + h.pub_raw(out["next_key"])], got)
        old = lp.Session(r, legacy, 1)
        c.check("flag not set: no RELAY_KEY, works",
                all(m[0] != RELAY_KEY for m in old.drain()))
        via_new = lp.Session(r, legacy, 1, flags=4, key_id=2, relay_pub=out["next_key"])
        c.check("during the overlap key id 2 authenticates",
                via_new.welcome[0] == 0x01 and old.expect(0x05)[1] == 4)
        for x in (new, old, via_new):
            x.close()
        tok = rig.link("after")["tokens"]["a"]
        c.check("a token made now carries key id 2", token_key_id(tok) == 2)

        c.check("the relay retires key id 1 when the overlap ends",
                h.wait_for(lambda: "relay key id 1 retired" in r.log(), timeout=30))
        c.check("the running sessions carry on", ah.works(la, 50000) and ah.works(lb, 50000))
        s.sendall(b"after")
        c.check("the stream still carries on", s.recv(100) == b"after")
        s.close()
        oldtok = rig.agent("old", toks["a"], "--listen", "127.0.0.1:%d" % ah.free_port(),
                           relay=False)
        c.check("an old token is refused: relay key mismatch",
                oldtok.wait_log("relay key mismatch", timeout=10), oldtok.log()[-400:])
        oldtok.stop()

        c.check("relay stops", r.stop() == 0)
        n_a, n_b = a.count("online via relay"), b.count("online via relay")
        r.start()
        c.check("after a restart the relay serves key id 2", r.key_id == 2)
        c.check("the agents reconnect with the new key, no new token",
                a.wait_log("online via relay", n=n_a + 1, timeout=15)
                and b.wait_log("online via relay", n=n_b + 1, timeout=15))
        c.check("streams work on the new key", h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000),
                                                          timeout=10))
        c.check("agent a stops", a.stop() == 0)
        a2 = rig.agent_args("a2", ["--config", aconf])
        c.check("a restarted agent uses the key it kept",
                a2.wait_log("online via relay", timeout=15), a2.log()[-600:])
        c.check("and works", h.wait_for(lambda: ah.works(la, 50000), timeout=10))
        c.check("key id 1 is refused after the restart", _refused(r, legacy, 1, old_pub))
        c.check("agent b stops with 0", b.stop() == 0)
        os.environ["STATE_DIRECTORY"] = bstate
        try:
            b2 = rig.agent_args("b2", ["--config", bconf])
        finally:
            del os.environ["STATE_DIRECTORY"]
        c.check("so does one whose keys are in $STATE_DIRECTORY",
                b2.wait_log("online via relay", timeout=15) and h.wait_for(lambda: ah.works(la, 50000),
                                                                          timeout=10),
                b2.log()[-600:])
        c.check("agent a2 stops with 0", a2.stop() == 0)
        c.check("agent b2 stops with 0", b2.stop() == 0)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


def _refused(r, link, key_id, relay_pub):
    try:
        s = lp.Session(r, link, 0, key_id=key_id, relay_pub=relay_pub)
    except (OSError, EOFError):
        return True
    s.close()
    return False


if __name__ == "__main__":
    sys.exit(main())
