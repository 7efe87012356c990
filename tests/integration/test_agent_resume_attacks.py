#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Tampered, replayed and cross-link resume HELLOs on real resumed legs
(docs/protocol.md §7.3, D24), with real linkrelay and linkagent processes.

Each link's listen-side agent (a, the stream's initiator) dials the relay
through a man in the middle: a TCP proxy on loopback in this test, which
forwards control sessions unchanged and, on the stream legs, can reset a
leg (the stream suspends) and rewrite the resume HELLO that a's new leg
starts with. Link "atk" carries a stream both ways; its legs go:

  1. the first leg (epoch 0): data both ways, then the proxy resets it;
  2. epoch 1: one bit of a's HELLO flipped: b refuses the leg
     (linkagent_resume_refused_total{reason="bad_hello"}) and logs it;
  3. epoch 2: untouched (the proxy keeps a copy of a's HELLO): resumed;
     held by the proxy for a while first: both agents report the stream
     suspended (linkagent_streams_suspended 1, `linkagent status`);
     then reset again;
  4. epoch 3: a's HELLO replaced by its epoch-2 HELLO (an old leg
     replayed): refused as {reason="old_epoch"};
  5. epoch 4: resumed; reset again;
  6. epoch 5: a's HELLO replaced by a genuine HELLO of link "oth"'s stream
     (recorded by a second proxy the same way): a credential of another
     link, refused as bad_hello;
  7. epoch 6: resumed; the applications end cleanly.

Every refusal leaves the stream suspended and the applications' connections
open; at the end every byte sent each way arrived once and in order (the
bytes compared), both ends see a clean EOF, the counters are exact (b: two
bad_hello, one old_epoch; resumed three times on each side; nothing
expired), `linkagent status` says the same, and the relay paired every leg
it was given (linkrelay_resume_paired_total).
"""
import os
import socket
import struct
import sys
import threading

import agentharness as ah
import lrharness as h
import promharness as ph

HELLO = 2 + 52  # u16 length + epoch u32, nonce 32, mac 16


class Mitm:
    """A proxy the agent dials as its relay. Control connections are piped
    through; each stream leg takes the next action of `plan` (default
    "pass"): "first" (the epoch-0 leg, untouched), "pass" (untouched; a's
    HELLO kept in self.hellos), "tamper" (one bit of the HELLO's MAC
    flipped), "hold" (as pass, but nothing is forwarded until release()),
    or bytes (the HELLO replaced by them)."""

    def __init__(self, upstream):
        self.up = upstream
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.plan = []
        self.hellos = []
        self.legs = []  # (agent side, relay side) of live stream legs
        self.killed = set()  # sockets reset_leg closed
        self.socks = []
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    @staticmethod
    def _recv_n(s, n):
        data = b""
        while len(data) < n:
            d = s.recv(n - len(data))
            if not d:
                raise EOFError
            data += d
        return data

    def _pipe(self, src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    if src in self.killed:  # reset_leg: the reader closes (RST)
                        src.close()
                    else:
                        dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(d)
        except OSError:
            h.reset_close_wake(dst)
            h.reset_close_wake(src)

    def _conn(self, c):
        try:
            c.settimeout(None)
            pre = self._recv_n(c, 8)
            act = None
            if pre[5] == 2:  # a stream leg: its ticket, then (resumed) the HELLO
                with self.lock:
                    act = self.plan.pop(0) if self.plan else "pass"
                if act == "hold":  # the relay sees nothing of this leg meanwhile
                    self.released.wait(60)
            u = socket.create_connection(self.up, timeout=10)
            u.settimeout(None)
            with self.lock:
                self.socks += [c, u]
                if act is not None:
                    self.legs.append((c, u))
            head = pre
            if act is not None:
                head += self._recv_n(c, 32)
                u.sendall(head)
                threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()
                head = b""
                if act != "first":
                    hello = self._recv_n(c, HELLO)
                    if act in ("pass", "hold"):
                        self.hellos.append(hello)
                    elif act == "tamper":
                        hello = hello[:-3] + bytes([hello[-3] ^ 0x10]) + hello[-2:]
                    else:
                        hello = act
                    head = hello
            else:
                threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()
            if head:
                u.sendall(head)
            self._pipe(c, u)
        except (OSError, EOFError):
            h.reset_close_wake(c)

    def reset_leg(self):
        """Resets the newest stream leg on both sides: an RST each way, sent
        when the thread reading each socket, woken here, closes it."""
        with self.lock:
            c, u = self.legs[-1]
            self.killed.update((c, u))
        for s in (c, u):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RD)
            except OSError:
                pass

    def release(self):
        self.released.set()

    def close(self):
        self.closed = True
        self.released.set()
        self.ls.close()
        with self.lock:
            for s in self.socks:
                h.reset_close_wake(s)


def metric(port, name, **labels):
    return ph.value(ph.scrape(port), name, **labels)


def agents(c, rig, name, px, tport):
    """Link name: b connects to the target on tport (dialling the relay
    directly), a listens and dials the relay through the proxy px."""
    out = rig.link(name)
    lport = ah.free_port()
    m = ("--metrics-listen", "127.0.0.1:0")
    b = rig.agent(name + "-b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % tport, *m)
    a = rig.agent(name + "-a", out["tokens"]["a"], "--relay", px.addr(), "--listen",
                  "127.0.0.1:%d" % lport, *m, relay=False)
    c.check(name + ": agents online", a.wait_log("online via relay")
            and b.wait_log("online via relay")
            and h.wait_for(lambda: "peer online" in a.log() + b.log(), timeout=10))
    return a, b, lport


def exchange(c, what, ca, cb, n):
    """n fresh bytes each way; waits until both ends have them all."""
    before = (len(ca.got), len(cb.got))
    da, db = os.urandom(n), os.urandom(n)
    ca.sent += da
    cb.sent += db
    ca.s.sendall(da)
    cb.s.sendall(db)
    ok = h.wait_for(lambda: len(cb.got) >= before[1] + n and len(ca.got) >= before[0] + n,
                    timeout=30, step=0.05)
    c.check(what + ": %d bytes each way delivered" % n, ok and ca.end is None and cb.end is None,
            (len(ca.got) - before[0], len(cb.got) - before[1], ca.end, cb.end))


def main():
    c = h.Checks()
    # ticket_expiry 30 s: a leg the proxy holds is not given up meanwhile.
    rig = ah.Rig(limits={"ticket_expiry": "30s"})
    proxies = []
    tgt = None
    try:
        r = rig.start_relay()
        up = (r.host, r.port)
        pa, pb = Mitm(up), Mitm(up)
        proxies += [pa, pb]
        tgt = socket.socket()
        tgt.bind(("127.0.0.1", 0))
        tgt.listen(4)
        tgt.settimeout(30)
        tport = tgt.getsockname()[1]

        # Link "oth": one resumption through its proxy, to record a genuine
        # HELLO of that link's stream (epoch 1).
        pb.plan = ["first", "pass"]
        oa, ob, olport = agents(c, rig, "oth", pb, tport)
        o1 = ah.ReadingApp(socket.create_connection(("127.0.0.1", olport), timeout=30))
        o2 = ah.ReadingApp(tgt.accept()[0])
        o1.sent, o2.sent = bytearray(), bytearray()
        exchange(c, "oth: first leg", o1, o2, 100000)
        pb.reset_leg()
        c.check("oth: resumed", oa.wait_log("stream resumed on a new leg", timeout=20)
                and len(pb.hellos) == 1, len(pb.hellos))
        exchange(c, "oth: resumed leg", o1, o2, 1000)
        oth_hello = pb.hellos[0]

        pa.plan = ["first", "tamper", "hold"]
        a, b, lport = agents(c, rig, "atk", pa, tport)
        ma, mb = ah.metrics_port(a), ah.metrics_port(b)
        ca = ah.ReadingApp(socket.create_connection(("127.0.0.1", lport), timeout=30))
        cb = ah.ReadingApp(tgt.accept()[0])
        ca.sent, cb.sent = bytearray(), bytearray()
        exchange(c, "first leg", ca, cb, 1 << 20)

        # 2. tampered, then 3. held and resumed
        pa.reset_leg()
        ca.s.sendall(b"x" * 5000)  # written while suspended: held for replay
        ca.sent += b"x" * 5000
        c.check("tampered HELLO: b refuses the leg and logs it",
                b.wait_log("refused a resumed stream leg (bad_hello)", timeout=20))
        c.check("tampered HELLO: counted as bad_hello",
                h.wait_for(lambda: metric(mb, "linkagent_resume_refused_total",
                                          reason="bad_hello") == 1, timeout=10))
        c.check("the proxy holds the next leg", h.wait_for(lambda: not pa.plan, timeout=20))
        c.check("held: a and b report the stream suspended",
                h.wait_for(lambda: metric(ma, "linkagent_streams_suspended") == 1
                           and metric(mb, "linkagent_streams_suspended") == 1, timeout=10),
                (metric(ma, "linkagent_streams_suspended"),
                 metric(mb, "linkagent_streams_suspended")))
        rc, js, text = b.status()
        ag = js["agents"][0] if js else {}
        c.check("held: linkagent status says suspended and the refusal",
                rc == 0 and ag["links"][0].get("streams_suspended") == 1
                and ag["resume"]["refused_bad_hello"] == 1, text[-600:])
        rc, _, text = ah.agent_status(b.rundir, "--admin-socket",
                                      os.path.join(b.rundir, "%d.sock" % b.proc.pid))
        c.check("linkagent status (text) prints them",
                "1 open (1 suspended)" in text and "refused 1 bad_hello, 0 old_epoch" in text,
                text)
        c.check("the applications' connections stay open", ca.end is None and cb.end is None)
        pa.release()
        c.check("epoch 2: resumed", h.wait_for(
            lambda: metric(ma, "linkagent_streams_resumed_total") == 1
            and metric(mb, "linkagent_streams_resumed_total") == 1, timeout=20))
        c.check("resumed: nothing suspended", h.wait_for(
            lambda: metric(ma, "linkagent_streams_suspended") == 0
            and metric(mb, "linkagent_streams_suspended") == 0, timeout=10))
        exchange(c, "epoch 2", ca, cb, 200000)
        epoch2 = pa.hellos[-1] if pa.hellos else bytes(HELLO)

        # 4. an old leg's HELLO replayed, 5. resumed
        pa.plan = [epoch2, "pass"]
        pa.reset_leg()
        c.check("replayed HELLO: b refuses it as an old epoch and logs it",
                b.wait_log("refused a resumed stream leg (old_epoch)", timeout=20))
        c.check("replayed HELLO: counted as old_epoch",
                h.wait_for(lambda: metric(mb, "linkagent_resume_refused_total",
                                          reason="old_epoch") == 1, timeout=10))
        c.check("epoch 4: resumed", h.wait_for(
            lambda: metric(mb, "linkagent_streams_resumed_total") == 2, timeout=20))
        exchange(c, "epoch 4", ca, cb, 200000)

        # 6. another link's HELLO, 7. resumed
        pa.plan = [oth_hello, "pass"]
        pa.reset_leg()
        c.check("another link's HELLO: b refuses it",
                h.wait_for(lambda: metric(mb, "linkagent_resume_refused_total",
                                          reason="bad_hello") == 2, timeout=20))
        c.check("epoch 6: resumed", h.wait_for(
            lambda: metric(mb, "linkagent_streams_resumed_total") == 3, timeout=20))
        exchange(c, "epoch 6", ca, cb, 200000)

        # The end: clean, every byte once and in order.
        ca.s.shutdown(socket.SHUT_WR)
        cb.s.shutdown(socket.SHUT_WR)
        h.wait_for(lambda: ca.end is not None and cb.end is not None, timeout=30)
        c.check("both applications see a clean end", ca.end == "eof" and cb.end == "eof",
                (ca.end, cb.end))
        c.check("every byte a->b arrived once, in order", bytes(cb.got) == bytes(ca.sent),
                (len(cb.got), len(ca.sent)))
        c.check("every byte b->a arrived once, in order", bytes(ca.got) == bytes(cb.sent),
                (len(ca.got), len(cb.sent)))
        c.check("a refused nothing (b's HELLOs were never touched)",
                metric(ma, "linkagent_resume_refused_total", reason="bad_hello") == 0
                and metric(ma, "linkagent_resume_refused_total", reason="old_epoch") == 0)
        c.check("b: exactly two bad_hello, one old_epoch; nothing expired",
                metric(mb, "linkagent_resume_refused_total", reason="bad_hello") == 2
                and metric(mb, "linkagent_resume_refused_total", reason="old_epoch") == 1
                and metric(mb, "linkagent_resume_expired_total") == 0)
        c.check("a and b resumed three times each",
                metric(ma, "linkagent_streams_resumed_total") == 3
                and metric(mb, "linkagent_streams_resumed_total") == 3)
    finally:
        for px in proxies:
            px.close()
        if tgt is not None:
            tgt.close()
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
