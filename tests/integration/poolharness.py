# SPDX-License-Identifier: MIT
"""Relays of one pool (docs/design.md D34) for the tests: members that share
one registry file (SQLite, WAL) and one relay key in a directory of their
own, each with its own state directory (admin socket, log), listening and
advertising 127.0.0.N:PORT, metrics on. Not a test itself. With
database= (a URL) the members share a PostgreSQL registry instead
(test_pool_pg_load starts the server).

home() is the rendezvous hash of protocol.md §10 / design.md D34 written
again here (an independent second implementation): keyed BLAKE2b-64 of
(member id length ‖ member id ‖ link id), the highest weight wins.
"""
import hashlib
import os
import re
import shutil
import tempfile

import agentharness as ah
import lrharness as h
import promharness as prom

HRW_KEY = b"linkrelay/1 pool home"


def weight(member, link_id):
    m = member.encode()
    d = hashlib.blake2b(bytes([len(m)]) + m + link_id, digest_size=8, key=HRW_KEY).digest()
    return int.from_bytes(d, "big")


def home(members, link_id_hex):
    """The member id (of members) that homes the link."""
    lid = bytes.fromhex(link_id_hex)
    return max(sorted(members), key=lambda m: weight(m, lid))


class Member(h.Relay):
    """One pool member. shared: the directory of the registry and key."""

    def __init__(self, shared, member_id, host, port=None, timeout="2s", heartbeat="250ms",
                 limits=None, extra_listen=(), database=None, extra_relay=None):
        """database: the registry's URL (PostgreSQL); None: the SQLite file
        in shared. extra_relay: more [relay] keys."""
        self.shared = shared
        self.database = database or "%s/linkrelay.db" % shared
        self.extra_relay_keys = dict(extra_relay or {})
        self.member_id = member_id
        self.lhost = host
        self.lport = port or ah.free_port()
        self.timeout = timeout
        self.heartbeat = heartbeat
        self.extra_listen = list(extra_listen)
        self.advertise = True
        super().__init__(limits=limits)

    def write_config(self, log_level, extra_relay):
        with open(os.path.join(self.dir, "linkrelay.conf"), "w") as f:
            f.write("[relay]\nlisten = %s:%d\n" % (self.lhost, self.lport))
            for a in self.extra_listen:
                f.write("listen = %s\n" % a)
            if self.advertise is True:
                f.write("advertise = %s:%d\n" % (self.lhost, self.lport))
            elif isinstance(self.advertise, list):  # several addresses, in order
                for a in self.advertise:
                    f.write("advertise = %s\n" % a)
            elif self.advertise:  # another text (a SIGHUP test)
                f.write("advertise = %s\n" % self.advertise)
            f.write("database = %s\nkey_file = %s/relay.key\n" % (self.database, self.shared))
            for k, v in self.extra_relay_keys.items():
                f.write("%s = %s\n" % (k, v))
            f.write("log_level = %s\nmetrics_listen = 127.0.0.1:0\n" % log_level)
            f.write("[limits]\n")
            for k, v in self.limits.items():
                f.write("%s = %s\n" % (k, v))
            f.write("[pool]\nmember_id = %s\nmember_timeout = %s\nheartbeat = %s\n"
                    % (self.member_id, self.timeout, self.heartbeat))

    @property
    def advertised(self):
        return "%s:%d" % (self.lhost, self.lport)

    def metrics_port(self):
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", self.log())
        return int(m.group(1)) if m else None


class Pool:
    """n members r1..rn on 127.0.0.2.., started in order (the first makes
    the registry and the key). close() stops them all and removes the
    shared directory."""

    def __init__(self, n, **kw):
        self.shared = tempfile.mkdtemp(prefix="lrpool.")
        self.members = {}
        for i in range(1, n + 1):
            self.members["r%d" % i] = Member(self.shared, "r%d" % i, "127.0.0.%d" % (i + 1), **kw)

    def start(self):
        for m in self.members.values():
            m.start()
        # Every member sees every other alive: one heartbeat after the last
        # one started, plus the time to read it.
        ids = sorted(self.members)
        ok = h.wait_for(lambda: self.alive_ids(next(iter(self.live()))) == ids, timeout=20)
        if not ok:
            raise RuntimeError("pool did not form: %s" % self.pool_json(next(iter(self.live()))))
        # The rows say every member beat once; each member's own view (its
        # linkrelay_pool_members_alive: members alive whose addresses pass
        # their self-check) counts them only after its next read: wait for
        # that too, so that a test acts on a pool every member sees.
        def views_agree():
            rows = self.pool_json(next(iter(self.live())))["members"]
            n = sum(1 for x in rows if x["alive"] and x["addrs_ok"])  # what a view counts
            return all(self.members_alive(m) == n for m in self.live())
        ok = h.wait_for(views_agree, timeout=20)
        if not ok:
            raise RuntimeError("pool did not form in every member's view: %s"
                               % {m.member_id: self.members_alive(m) for m in self.live()})
        return self

    @staticmethod
    def members_alive(m):
        port = m.metrics_port()
        if port is None:
            return None
        return prom.value(prom.scrape(port), "linkrelay_pool_members_alive")

    def live(self):
        return [m for m in self.members.values() if m.proc is not None]

    def pool_json(self, m):
        return m.ctl_json("pool")

    def alive_ids(self, m):
        return sorted(x["id"] for x in self.pool_json(m)["members"] if x["alive"])

    def home(self, link_id_hex, alive=None):
        return home(alive or sorted(self.members), link_id_hex)

    def kill(self, mid):
        m = self.members[mid]
        m.proc.kill()
        m.proc.wait()
        m.proc = None

    def close(self):
        err = None
        for m in self.members.values():
            try:
                m.close()
            except AssertionError as e:
                err = e
        shutil.rmtree(self.shared, ignore_errors=True)
        if err is not None:
            raise err

    def dump(self):
        for mid, m in self.members.items():
            print("---- relay %s log (tail)" % mid)
            print(m.log()[-3000:])


def close_all(c, pool, rig):
    """A pool test's end: on failure the rig's (if any) and the members'
    logs, then the rig and every member closed."""
    if c.failed:
        if rig is not None:
            rig.dump()
        pool.dump()
    if rig is not None:
        rig.close()
    pool.close()
