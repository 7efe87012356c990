# SPDX-License-Identifier: MIT
"""A pool of relays on a real PostgreSQL registry, each member in a network
namespace of its own, with the NAT'd agents of netns.py (not a test).

    dev ── r1 (NAT) ──┐                         ┌── r2 (NAT) ── host
                      └──── br0 in pub ─────────┘
                        198.18.0.1  │ │ │ │
               m1 198.18.0.11 ──────┘ │ │ └────── m4 198.18.0.14
                  m2 198.18.0.12 ─────┘ └─── m3 198.18.0.13

PoolTopology is netns.Topology plus one namespace per member (roles m1..),
each with a veth whose other end is a port of pub's bridge, so the agents'
NAT routers reach every member and the members reach each other (the
advertised-address self-check dials its own address). The members reach
PostgreSQL on its Unix socket: namespaces share the filesystem, and the
server (tests/pgfix.sh) has no TCP listener at all.

NsMember is poolharness.Member run inside its namespace, listening and
advertising MEMBER_IP:7700, with `database` the server's URL. Its admin
socket is a file, so linkctl and the admin requests of lrharness work from
the test's own namespace; its metrics listener is inside the namespace and
not used. Everything is stopped by PID and the namespaces deleted in
close(), also when a check raises; the server is stopped by pg_stop().
"""
import os
import socket
import subprocess
import tempfile

import lrharness as h
import lrproto as p
import netns as n
import poolharness as ph

PGFIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pgfix.sh")
PORT = 7700
REFUSED_TEXT = b"registry unavailable, try again"


def member_ip(i):
    return "198.18.0.%d" % (10 + i)


def pgfix(cmd, link):
    """tests/pgfix.sh CMD LINK; its output, or RuntimeError with its errors."""
    r = subprocess.run(["bash", PGFIX, cmd, link], capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        raise RuntimeError("pgfix.sh %s: %s" % (cmd, r.stderr))
    return r.stdout.strip()


def pg_url(link):
    return "postgresql://lrtest@/postgres?host=%s&port=5432" % link


class PoolTopology(n.Topology):
    """netns.Topology with `members` more namespaces m1.. on pub's bridge."""

    def __init__(self, members):
        super().__init__()
        self.n_members = members
        for i in range(1, members + 1):
            self.ns["m%d" % i] = "%s-m%d" % (self.tag, i)

    def _build(self):
        super()._build()
        pub = self.ns["pub"]
        for i in range(1, self.n_members + 1):
            role = "m%d" % i
            self._add_ns(role)
            self._veth("pub", "pm%d" % i, role, "eth0")
            self.ip("-n", pub, "link", "set", "pm%d" % i, "master", "br0")
            self.ip("-n", pub, "link", "set", "pm%d" % i, "up")
            self._addr(role, "eth0", member_ip(i) + "/24")


class NsMember(ph.Member):
    """A pool member inside namespace m<i> of topo, on the registry at url.
    advertise: True (its own address) or a list of addresses."""

    def __init__(self, topo, i, shared, url, **kw):
        self.topo = topo
        self.role = "m%d" % i
        self.url = url
        super().__init__(shared, "m%d" % i, member_ip(i), port=PORT, **kw)

    def prefix(self):
        return self.topo.prefix(self.role)

    def write_config(self, log_level, extra_relay):
        with open(os.path.join(self.dir, "linkrelay.conf"), "w") as f:
            f.write("[relay]\nlisten = %s:%d\n" % (self.lhost, self.lport))
            for addr in ([self.advertised] if self.advertise is True else self.advertise):
                f.write("advertise = %s\n" % addr)
            f.write("database = %s\nkey_file = %s/relay.key\n" % (self.url, self.shared))
            f.write("log_level = %s\nregistry_timeout = 2s\n" % log_level)
            f.write("[limits]\n")
            for k, v in self.limits.items():
                f.write("%s = %s\n" % (k, v))
            f.write("[pool]\nmember_id = %s\nmember_timeout = %s\nheartbeat = %s\n"
                    % (self.member_id, self.timeout, self.heartbeat))

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def rows(self):
        """`linkctl pool --json` through this member: {id: row}."""
        return {x["id"]: x for x in self.ctl_json("pool")["members"]}

    def live(self, name):
        """This member's live view of link `name` (linkctl link show)."""
        return self.ctl_json("link", "show", name).get("live")


class PgPool:
    """A PostgreSQL server of its own (tests/pgfix.sh start in a temporary
    directory) and `members` NsMember in a PoolTopology. Use as a context
    manager; members are made by add_member and started by start()."""

    def __init__(self, members, **member_kw):
        self.tmp = tempfile.mkdtemp(prefix="lrpgns.")
        self.pglink = os.path.join(self.tmp, "pg")
        self.url = pg_url(self.pglink)
        self.topo = PoolTopology(members)
        self.members = {}
        self.member_kw = member_kw
        self.pg_started = False

    def __enter__(self):
        self.topo.__enter__()
        try:
            print(pgfix("start", self.pglink), flush=True)
            self.pg_started = True
            for i in range(1, self.topo.n_members + 1):
                m = NsMember(self.topo, i, self.tmp, self.url, **self.member_kw)
                self.members[m.member_id] = m
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self, ids, alive=None):
        """Starts members ids in order (the first makes the key and the
        schema); waits until every one of `alive` (default ids) is alive in
        the first one's `linkctl pool`."""
        for mid in ids:
            self.members[mid].start()
        want = sorted(alive if alive is not None else ids)
        first = self.members[ids[0]]

        def formed():
            rows = first.rows()
            return sorted(k for k, v in rows.items() if v["alive"]) == want
        if not h.wait_for(formed, timeout=30):
            raise RuntimeError("pool did not form: %s" % first.rows())

    def home(self, link_id_hex, among):
        return ph.home(among, link_id_hex)

    def pg(self, cmd):
        return pgfix(cmd, self.pglink)

    def dump(self):
        for mid, m in self.members.items():
            if os.path.exists(os.path.join(m.top, "relay.log")):
                print("---- relay %s log (tail)" % mid)
                print(m.log()[-4000:], flush=True)

    def close(self):
        errors = []
        for m in self.members.values():
            try:
                m.close()
            except Exception as e:
                errors.append(e)
        self.topo.close()
        if self.pg_started:
            try:
                pgfix("stop", self.pglink)
            except Exception as e:
                errors.append(e)
            self.pg_started = False
        subprocess.run(["rm", "-rf", self.tmp])
        if errors:
            raise errors[0]


def first_message(ns, m, link, side=0, timeout=5.0):
    """AUTH at member m from namespace ns with the keys of link (made by
    lrharness add_link): the first control message after the handshake,
    what followed until the relay closed, and how it closed."""
    s = n.connect(ns, m.lhost, m.lport, timeout)
    try:
        hk = p.Handshake(h.pub_raw(m.relay_pub), h.priv_raw(link["ab"[side]]), m.key_id)
        s.sendall(hk.pre + p.frame(hk.msg1()))
        hk.read_msg2(p.recv_frame(s, timeout))
        s.sendall(p.frame(hk.msg3(p.auth(side, bytes.fromhex(link["id"]), 0))))
        msg = bytes(hk.cs[1].decrypt_with_ad(b"", p.recv_frame(s, timeout)))
        rest, how = p.read_until_close(s, timeout=timeout)
    finally:
        s.close()
    return msg, rest, how


def refused_for_registry(msg):
    """True when msg is CLOSE reason limit (§5) with D38's text."""
    return len(msg) >= 3 and msg[0] == 0x05 and REFUSED_TEXT in msg


class NsListener:
    """A listening TCP socket inside namespace ns (the device's service)."""

    def __init__(self, ns, ip, port):
        self.ls = n.ns_socket(ns)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((ip, port))
        self.ls.listen(8)
        self.ls.settimeout(60)
        self.port = port

    def accept(self):
        s, _ = self.ls.accept()
        s.settimeout(120)
        return s

    def close(self):
        self.ls.close()
