#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The relay may carry only a key change the old key endorsed, end to end
(docs/protocol.md §5.1, design.md D21), with real agents:

  - side a rotated by reload, twice: a endorses its new key with its old
    one, b takes it (logged, kept in b's CONFIG.peerkeys, mode 0600), streams
    work both ways; b restarted follows the kept chain from the key its
    token names to the newest (no refusal);
  - side a rotated by a restart instead of a reload (it no longer holds the
    old key, so nothing endorses the new one): b refuses the relay's
    PEER_KEY (warning naming the link and the reason, counted in
    linkagent_link_peer_keys_refused_total) and keeps the key it trusts, so
    streams fail; giving b a new token (which names a's new key) repairs it;
  - a registry row with a tampered endorsement (as a compromised relay or
    database would hold) for a substituted key: b refuses it ("does not
    verify"), and a stream to the key's holder fails rather than being
    accepted.
"""
import os
import re
import signal
import sqlite3
import stat
import sys

import agentharness as ah
import lrharness as h
import promharness as ph
from test_agent_rotate import rotate

REFUSED = "linkagent_link_peer_keys_refused_total"


def write_conf(path, token, listen, connect, metrics=False):
    with open(path + ".tmp", "w") as f:
        f.write("[agent]\nbackoff_min = 100ms\nbackoff_max = 1s\n%s\n[link lnk]\ntoken = %s\n"
                "listen = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                % ("metrics_listen = 127.0.0.1:0\n" if metrics else "", token, listen, connect))
    os.rename(path + ".tmp", path)


def metrics_port(proc):
    h.wait_for(lambda: "metrics on http://" in proc.log(), 10)
    found = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/", proc.log())
    return int(found[-1])


def refused_count(proc):
    return ph.value(ph.scrape_after(metrics_port(proc)), REFUSED, link="lnk")


def set_endorse(r, value):
    db = sqlite3.connect(os.path.join(r.dir, "linkrelay.db"), timeout=10)
    try:
        db.execute("UPDATE links SET a_endorse = ? WHERE name = 'lnk'", (value,))
        db.commit()
    finally:
        db.close()
    r.admin("sync")  # the relay has loaded the row when this answers


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        r = rig.start_relay()
        srv = rig.server("echo")
        toks = dict(rig.link("lnk")["tokens"])
        la, lb = ah.free_port(), ah.free_port()
        aconf, bconf = os.path.join(rig.tmp, "a.conf"), os.path.join(rig.tmp, "b.conf")
        write_conf(aconf, toks["a"], la, srv.port)
        write_conf(bconf, toks["b"], lb, srv.port, metrics=True)
        b = rig.agent_args("b", ["--config", bconf])
        a = rig.agent_args("a", ["--config", aconf])
        c.check("agents online", a.wait_log("online via relay") and b.wait_log("online via relay"))
        c.check("streams both ways", h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=10))

        # 1. Rotation by reload, twice (a chain: key1 → key2 → key3):
        # endorsed, taken, kept.
        for n in (1, 2):
            rot = rotate(r, "a", "60s")
            write_conf(aconf, rot["token"], la, srv.port)
            a.send_signal(signal.SIGHUP)
            c.check("reload %d: b takes a's new key, endorsed by the old one" % n,
                    b.wait_log("the peer's key is now %s (endorsed by its previous key)"
                               % rot["key"]), b.log()[-1500:])
            c.check("reload %d: the relay got the endorsement from a" % n,
                    r.log().count("its old key endorsed its new key") == n, r.log()[-1500:])
            c.check("reload %d: streams both ways" % n,
                    h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=10))
        kept = bconf + ".peerkeys"
        c.check("b keeps the keys in CONFIG.peerkeys, mode 0600",
                os.path.exists(kept) and stat.S_IMODE(os.stat(kept).st_mode) == 0o600
                and open(kept).read().count("lrpub1") == 4, open(kept).read())
        c.check("nothing refused", refused_count(b) == 0)
        c.check("b stops with 0", b.stop() == 0)
        b = rig.agent_args("b2", ["--config", bconf])
        c.check("b restarted: online", b.wait_log("online via relay"))
        c.check("b restarted: streams both ways with the kept key",
                h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=10))
        c.check("b restarted: nothing refused",
                refused_count(b) == 0 and "ignored" not in b.log(), b.log()[-1500:])

        # 2. Rotation by restart: nothing endorses the new key.
        c.check("a stops with 0", a.stop() == 0)
        rot2 = rotate(r, "a", "60s")
        write_conf(aconf, rot2["token"], la, srv.port)
        a = rig.agent_args("a2", ["--config", aconf])
        c.check("restart: b refuses the unendorsed key, naming the link and why",
                b.wait_log("link lnk: the relay named peer key %s without an endorsement"
                           % rot2["key"]), b.log()[-1500:])
        c.check("restart: b says it keeps the key it trusts",
                "the peer's key stays %s" % rot["key"] in b.log())
        c.check("restart: counted", refused_count(b) == 1)
        c.check("restart: a stream from b fails", not ah.works(lb, 50000))
        c.check("restart: a stream from a fails", not ah.works(la, 50000))
        # The remedy: a new token for b names a's current key.
        rotb = rotate(r, "b", "60s")
        write_conf(bconf, rotb["token"], lb, srv.port, metrics=True)
        b.send_signal(signal.SIGHUP)
        c.check("b with a new token: a takes b's endorsed new key",
                a.wait_log("the peer's key is now %s" % rotb["key"]), a.log()[-1500:])
        c.check("b with a new token: streams both ways",
                h.wait_for(lambda: ah.works(la, 50000) and ah.works(lb, 50000), timeout=10))

        # 3. A tampered endorsement in the registry for a substituted key.
        c.check("a stops with 0", a.stop() == 0)
        rot3 = rotate(r, "a", "60s")
        bogus = (h.pub_raw(rot3["key"]) + h.pub_raw(rot2["key"])
                 + bytes(31) + b"\x01")
        set_endorse(r, bogus)
        write_conf(aconf, rot3["token"], la, srv.port)
        before = refused_count(b)
        a = rig.agent_args("a3", ["--config", aconf])
        c.check("tampered: b refuses the key, the endorsement does not verify",
                b.wait_log("link lnk: the relay named peer key %s with an endorsement that does "
                           "not verify" % rot3["key"]), b.log()[-1500:])
        c.check("tampered: counted", refused_count(b) == before + 1)
        c.check("tampered: a stream from b fails", not ah.works(lb, 50000))
        c.check("tampered: a stream from a fails", not ah.works(la, 50000))
        c.check("b never took a substituted key",
                b.count("the peer's key is now %s" % rot3["key"]) == 0, b.log()[-2000:])
        c.check("agent a stops with 0", a.stop() == 0)
        c.check("agent b stops with 0", b.stop() == 0)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
