#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An AUTH held while a link's home is checked (docs/design.md D41), with a
check that neither completes nor is refused:

one member r1 (member_timeout 60 s, heartbeat 500 ms) and a member row the
test writes into the registry, "fk", live (a beat in the future), whose
only address is a listening socket of the test with its accept queue full
(the kernel drops further SYNs: a connect there neither completes nor is
refused). A link homed at fk; the Python peer authenticates at r1 (AUTH
flags bit 1) and at once sends KEY_ENDORSE for a key that is not its own,
while r1 holds the AUTH:

- the relay ignores the message (before, a session held with no link
  would have logged it with its link's name: a crash);
- the check says "unknown" when `heartbeat` has passed, so REDIRECT to
  fk's address comes no earlier than 0.5 s after the AUTH was sent (the
  relay's timer starts after it read the AUTH; 50 ms allowed for the
  loop's clock granularity), and then the relay closes;
- fk is not found dead (a timeout is no refusal): the metrics count one
  check and none found dead, and r1 still counts two members alive.
"""
import os
import socket
import sqlite3
import sys
import time

import lrharness as h
import lrproto as p
import poolharness as ph
import promharness as prom

HEARTBEAT_S = 0.5


def full_listener():
    """A listening socket whose accept queue is full; (socket, queued
    clients, address)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    addr = srv.getsockname()
    queued = []
    for _ in range(16):
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect(addr)
            queued.append(s)
        except socket.timeout:
            s.close()
            return srv, queued, "127.0.0.1:%d" % addr[1]
    raise RuntimeError("accept queue never filled")


def main():
    c = h.Checks()
    pool = ph.Pool(1, timeout="60s", heartbeat="500ms")
    srv, queued = None, []
    try:
        pool.start()
        r1 = pool.members["r1"]
        srv, queued, fk_addr = full_listener()
        db = sqlite3.connect(os.path.join(pool.shared, "linkrelay.db"))
        now = int(time.time() * 1000)
        db.execute("INSERT INTO members (id, addrs, beat_ms, started_ms, addrs_ok) "
                   "VALUES ('fk', ?, ?, ?, 1)", (fk_addr, now + 600000, now))
        db.commit()
        db.close()
        # r1's own view (its metrics), not the registry's (linkctl pool).
        c.check("r1 sees fk alive", h.wait_for(
            lambda: prom.value(prom.scrape(r1.metrics_port()),
                               "linkrelay_pool_members_alive") == 2, timeout=20),
            pool.pool_json(r1))
        link = None
        for i in range(40):
            x = r1.add_link("hc%d" % i)
            if ph.home(["r1", "fk"], x["id"]) == "fk":
                link = x
                break
        c.check("a link homed at fk", link is not None)
        if link is None:
            return c.done()
        s = socket.create_connection((r1.lhost, r1.lport), timeout=5)
        hk = p.Handshake(h.pub_raw(r1.relay_pub), h.priv_raw(link["a"]), r1.key_id)
        s.sendall(hk.pre + p.frame(hk.msg1()))
        hk.read_msg2(p.recv_frame(s))
        t0 = time.time()
        s.sendall(p.frame(hk.msg3(p.auth(0, bytes.fromhex(link["id"]), 0x02))))
        # KEY_ENDORSE: old_pub, new_pub (valid keys, neither this
        # session's), mac.
        ke = b"\x21" + h.pub_raw(h.keygen()[1]) + h.pub_raw(h.keygen()[1]) + os.urandom(32)
        s.sendall(p.frame(hk.cs[0].encrypt_with_ad(b"", ke)))
        try:
            msg = bytes(hk.cs[1].decrypt_with_ad(b"", p.recv_frame(s, timeout=10)))
        except (OSError, ValueError, EOFError) as e:
            msg = b"error: %r" % e
        took = time.time() - t0
        rest, how = p.read_until_close(s, timeout=5)
        s.close()
        print("REDIRECT %.3f s after the AUTH" % took, flush=True)
        reason, addrs = p.parse_redirect(msg) if msg[:1] == b"\x07" else (None, msg)
        c.check("REDIRECT home to fk's address", reason == 1 and addrs == [fk_addr],
                (reason, addrs))
        c.check("not before heartbeat (the AUTH was held)", took >= HEARTBEAT_S - 0.05, took)
        c.check("then the relay closes", rest == b"" and how == "eof", (rest, how))
        c.check("r1 is still running", r1.proc.poll() is None)
        ms = prom.scrape(r1.metrics_port())
        c.check("metrics: one check, none found dead",
                prom.value(ms, "linkrelay_pool_home_checks_total") == 1
                and prom.value(ms, "linkrelay_pool_members_found_dead_total") == 0
                and prom.value(ms, "linkrelay_pool_members_alive") == 2,
                [prom.value(ms, k) for k in ("linkrelay_pool_home_checks_total",
                                             "linkrelay_pool_members_found_dead_total",
                                             "linkrelay_pool_members_alive")])
        c.check("not logged dead", "pool: member fk dead" not in r1.log())
    finally:
        for q in queued:
            q.close()
        if srv is not None:
            srv.close()
        if c.failed:
            pool.dump()
        pool.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
