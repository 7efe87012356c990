#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The agent dials a refused stream leg again with the same ticket, within
the ticket's expiry (docs/design.md D16, "agent side"; docs/protocol.md §6.1).

Both agents of a link run on 127.0.0.1, as agents behind one NAT do.
- load: max_pending_per_ip scaled down to 4 (default 64), 500 short
  request/response exchanges, 64 at a time, one link: every exchange is
  served and neither agent resets anything; then raw connects from the same
  address that send nothing are still cut off at 4 pending.
  That the per-address limit was in play is made certain, not left to the
  machine's speed: 4 raw connections that send nothing hold the address's
  pending count at the limit (handshake_timeout 30 s) when the load starts,
  so the first legs are over it at accept whenever they come. Such a leg is
  either refused (counted in limits_hit, then redialled) or, if its ticket is
  already in the socket when the relay accepts it, admitted by the relay's
  peek (logged "admitted past the per-address limits", the refusal
  uncounted); which one depends on whether the relay accepts before the
  leg's bytes arrive, i.e. on scheduling. So the check is "refused or
  admitted past the limit" (debug log), and the blockers are closed as soon
  as the relay shows either, well within the 10 s ticket_expiry. A redial is
  required here only if the relay did refuse a leg (then it is the only way
  that leg's exchange was served); the redial itself is proven
  deterministically by bound and recover, whose max_conns refusals the peek
  never rescues.
- bound: the relay-wide max_conns 3, held by the two control sessions and
  a raw connection that never sends (a max_conns refusal is not peeked at,
  unlike the per-address ones, so no leg can get in however fast its bytes
  arrive), ticket_expiry 1 s: the local connection is held
  and reset no earlier than the expiry, the logs say why, and the redials
  stop (the relay's refusal count stands still afterwards).
- stop: the same, with ticket_expiry 10 s, and the link revoked while its
  legs are being redialled: the control session goes down and the held
  connection is reset at once, long before the ticket expires.
- recover: both legs refused (max_conns 4, two raw connections), then room
  made: the redialled legs pair and the exchange is served — the opener's
  session restarted, as its first handshake message went out on a refused
  leg.
- gone (raw): a leg presenting an unknown ticket, one presenting a used
  ticket, and a waiting leg whose peer leg is reset each get one byte 0x00
  (no such stream) and are closed (§6.1), not a silent close.
- gone (agent): agent a dials the relay through a proxy that steals the
  ticket of its first stream legs (presents it itself, waits for SPLICED,
  resets), then forwards the agent's leg: the ticket is used, the relay says
  0x00 before the stream carried a byte, and the agent OPENs the stream
  again, once (D25's window, agent/stream.c on_pump_unknown_ticket): with
  one leg stolen the second stream carries the exchange; with two stolen
  (the limit) the agent resets the local connection at once and dials no
  more legs, long before the ticket's 30 s expiry (without the 0x00 it
  redialled until then).
Lower bounds hold by construction; upper bounds are generous (the machine
may be 2 cores running ASan and other tests).
"""
import os
import select
import socket
import struct
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import lrproto as p
from test_relay_sharedaddr import closed_among, exchange, load, settle

N = 500
CONCURRENCY = 64
PENDING = 4
PEEKED = "admitted past the per-address limits: a live ticket"


def load_test(c):
    rig = ah.Rig(limits={"max_pending_per_ip": str(PENDING), "handshake_timeout": "30s",
                         "ticket_expiry": "10s"}, relay_log="debug")
    socks, blockers = [], []
    out = {}
    t = None
    try:
        r = rig.start_relay()
        # Every stream on legs of its own (no kept legs, D48): the load is
        # of new legs against max_pending_per_ip.
        nokeep = ("--keep-legs", "0")
        lport, _ = rig.pair("echo", a_args=nokeep, b_args=nokeep)
        pending0 = r.status()["pending"]
        blockers = [socket.create_connection((r.host, r.port), timeout=5,
                                             source_address=("127.0.0.1", 0))
                    for _ in range(PENDING)]
        c.check("load: %d raw connections hold the address's pending count" % PENDING,
                h.wait_for(lambda: r.status()["pending"] == pending0 + PENDING, timeout=30),
                r.status())
        t = threading.Thread(target=lambda: out.update(res=load(lport, N, CONCURRENCY)))
        t.start()

        def over_limit():
            return (r.status()["limits_hit"]["max_pending_per_ip"] > 0
                    or PEEKED in r.log())
        saw = h.wait_for(over_limit, timeout=60)
        for b in blockers:
            b.close()
        blockers = []
        t.join()
        t = None
        c.check("load: legs over max_pending_per_ip were refused or admitted past it "
                "(ticket waiting)", saw, r.status()["limits_hit"])
        res = out.get("res", [])
        bad = [x for x in res if x != "ok"]
        c.check("load: %d exchanges, %d at a time, max_pending_per_ip %d: all served"
                % (N, CONCURRENCY, PENDING), len(res) == N and not bad, (len(res), bad[:5]))
        st = r.status()
        refused = st["limits_hit"]["max_pending_per_ip"]
        print("load: %d legs refused by max_pending_per_ip, %d admitted past it"
              % (refused, r.log().count(PEEKED)))
        c.check("load: %d streams" % N, st["streams_total"] == N, st["streams_total"])
        for a in (rig.a, rig.b):
            log = a.log()
            c.check("load: agent %s reset nothing" % a.name,
                    not any(w in log for w in ("resetting", "refused", "before pairing",
                                               "failed")), log[-1500:])
        if refused:
            c.check("load: the refused legs were redialled (an agent logged it)",
                    any("dialling it again with the same ticket" in a.log()
                        for a in (rig.a, rig.b)))

        # Anonymous connections from the same address are still cut off.
        # Counted once the relay has decided on all 20 (it may accept them
        # well after connect returned); the refused ones are closed then.
        # A leg refused during the load spent its address's conn_rate_per_ip
        # token (the rate is charged first), so the bucket may be low: 0.2 s
        # gives back 40 at the default 200/s, more than the 20 need, and
        # nothing else connects from here meanwhile, so only
        # max_pending_per_ip can refuse them.
        time.sleep(0.2)
        st0 = r.status()
        for _ in range(20):
            socks.append(socket.create_connection((r.host, r.port), timeout=5,
                                                  source_address=("127.0.0.1", 0)))
        st = settle(r, 20, st0["limits_hit"], st0["pending"])
        hits = st["limits_hit"]["max_pending_per_ip"] - st0["limits_hit"]["max_pending_per_ip"]
        refused = closed_among(socks, hits)
        c.check("load: 20 raw connects: %d admitted, the rest refused by max_pending_per_ip"
                % PENDING, refused == 20 - PENDING and hits == refused, (refused, hits))
    finally:
        for s in socks + blockers:
            s.close()
        if t is not None:
            t.join()
        if c.failed:
            rig.dump()
        rig.close()


def blocked_rig(expiry, n=1):
    """A link whose legs cannot get in: max_conns 2 + n, held by the two
    control sessions and n raw connections that send nothing for 30 s.
    Returns (rig, listen port, the raw sockets)."""
    rig = ah.Rig(limits={"max_conns": str(2 + n), "handshake_timeout": "30s",
                         "ticket_expiry": expiry})
    rig.start_relay()
    lport, _ = rig.pair("echo")
    blockers = [socket.create_connection((rig.relay.host, rig.relay.port), timeout=5,
                                         source_address=("127.0.0.1", 0)) for _ in range(n)]
    return rig, lport, blockers


def held_until_reset(port, timeout):
    """Connects, sends a request, and returns the seconds until the agent
    reset the connection (None if it did not within timeout) and what came."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    s.settimeout(timeout)
    what = "open"
    try:
        s.sendall(b"q" * 100)
        what = "eof" if s.recv(100) == b"" else "data"
    except ConnectionResetError:
        what = "reset"
    except socket.timeout:
        what = "timeout"
    finally:
        s.close()
    return time.monotonic() - t0, what


def bound_test(c):
    rig, blockers = None, []
    try:
        rig, lport, blockers = blocked_rig("1s")
        r = rig.relay
        dt, what = held_until_reset(lport, 20)
        # The agent counts the expiry from the STREAM message (after t0) on
        # libuv's loop clock, whole milliseconds truncated: it may end the
        # wait up to 1 ms before 1 s of real time after the STREAM came.
        c.check("bound: the local connection is reset no earlier than the ticket's 1 s expiry",
                what == "reset" and 0.999 <= dt <= 6.0, "%s after %.4f s" % (what, dt))
        c.check("bound: the relay refused legs by max_conns",
                r.status()["limits_hit"]["max_conns"] >= 4, r.status()["limits_hit"])
        c.check("bound: both agents redialled",
                all("dialling it again with the same ticket (for up to 1000 ms)" in a.log()
                    for a in (rig.a, rig.b)))
        # The responder hears no OPEN_FAIL for its stream: its own bound ends it.
        ok = rig.b.wait_log("stream leg refused by the relay until its ticket expired (1000 ms); "
                            "resetting the local connection", timeout=6)
        c.check("bound: agent b says the ticket expired", ok, rig.b.log()[-1500:])
        # The opener ends at its bound or at the relay's OPEN_FAIL timeout,
        # whichever comes first (both at the expiry).
        loga = rig.a.log()
        c.check("bound: agent a says why",
                "until its ticket expired (1000 ms)" in loga
                or "relay refused to open a stream: timeout" in loga, loga[-1500:])
        time.sleep(0.3)
        n0 = r.status()["limits_hit"]["max_conns"]
        time.sleep(1.0)
        n1 = r.status()["limits_hit"]["max_conns"]
        c.check("bound: no leg is dialled after the expiry", n1 == n0, (n0, n1))
    finally:
        for b in blockers:
            b.close()
        if rig is not None:
            if c.failed:
                rig.dump()
            rig.close()


def stop_test(c):
    rig, blockers = None, []
    try:
        rig, lport, blockers = blocked_rig("10s")
        r = rig.relay
        out = {}

        def client():
            out["r"] = held_until_reset(lport, 30)

        t = threading.Thread(target=client)
        t.start()
        ok = rig.a.wait_log("dialling it again with the same ticket", timeout=5)
        r.ctl("link", "revoke", "lnk")
        t.join()
        dt, what = out["r"]
        c.check("stop: legs were being redialled", ok, rig.a.log()[-1500:])
        c.check("stop: revoking the link resets the held connection long before the 10 s expiry",
                what == "reset" and dt < 6.0, "%s after %.3f s" % (what, dt))
        c.check("stop: not by the expiry", "until its ticket expired" not in rig.a.log(),
                rig.a.log()[-1500:])
    finally:
        for b in blockers:
            b.close()
        if rig is not None:
            if c.failed:
                rig.dump()
            rig.close()


def recover_test(c):
    rig, blockers = None, []
    try:
        rig, lport, blockers = blocked_rig("10s", n=2)
        out = {}
        t = threading.Thread(target=lambda: out.update(r=exchange(lport)))
        t.start()
        ok = all(a.wait_log("dialling it again with the same ticket", timeout=5)
                 for a in (rig.a, rig.b))
        c.check("recover: both legs refused and being redialled", ok)
        for b in blockers:
            b.close()
        blockers = []
        t.join()
        # The opener's first handshake message went out on a refused leg:
        # the exchange proves the redialled leg carries a fresh handshake.
        c.check("recover: once room is made, the redialled legs pair and the exchange is "
                "served", out.get("r") == "ok", out)
        for a in (rig.a, rig.b):
            c.check("recover: agent %s reset nothing" % a.name, "resetting" not in a.log(),
                    a.log()[-1500:])
    finally:
        for b in blockers:
            b.close()
        if rig is not None:
            if c.failed:
                rig.dump()
            rig.close()


def waiting_leg(r, ticket, socks):
    """Presents ticket on two legs: the relay takes it from one, which waits,
    and refuses the other. Returns (the waiting leg, what the other got)."""
    legs = [p.leg(r, ticket), p.leg(r, ticket)]
    socks += legs
    rd, _, _ = select.select(legs, [], [], 10)
    if len(rd) != 1:
        return None, ("readable legs", len(rd))
    refused = rd[0]
    return legs[1 - legs.index(refused)], p.read_until_close(refused, 10)


def gone_raw_test(c):
    r = h.Relay(limits={"ticket_expiry": "30s"})
    socks = []
    try:
        r.start()
        link = r.add_link_live("gone")
        s = p.leg(r, os.urandom(32), b"early")
        socks.append(s)
        data, how = p.read_until_close(s, 10)
        c.check("gone: a leg with an unknown ticket gets 0x00, then the close",
                data == b"\x00" and how in ("eof", "reset"), (data, how))
        sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
        socks += [sa.s, sb.s]
        ta, tb = p.open_stream(sa, sb, 7)
        la, got = waiting_leg(r, ta["ticket"], socks)
        c.check("gone: a leg presenting a used ticket gets 0x00, then the close",
                la is not None and got[0] == b"\x00" and got[1] in ("eof", "reset"), got)
        # The waiting leg is reset: the stream is gone with b's ticket.
        la.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        la.close()
        c.check("gone: the stream ended", h.wait_for(lambda: r.status()["streams_open"] == 0))
        lb = p.leg(r, tb["ticket"])
        socks.append(lb)
        data, how = p.read_until_close(lb, 10)
        c.check("gone: the peer's leg after the waiting leg was reset gets 0x00, then the close",
                data == b"\x00" and how in ("eof", "reset"), (data, how))
        # A waiting leg whose stream ends before pairing (here the link is
        # revoked) gets 0x00 before its RST.
        ta, tb = p.open_stream(sa, sb, 8)
        la, got = waiting_leg(r, ta["ticket"], socks)
        c.check("gone: a second waiting leg", la is not None, got)
        r.ctl("link", "revoke", "gone")
        data, how = p.read_until_close(la, 10)
        c.check("gone: a waiting leg of a stream aborted before pairing gets 0x00, then RST",
                data == b"\x00" and how == "reset", (data, how))
    finally:
        for s in socks:
            s.close()
        if c.failed:
            print(r.log()[-3000:])
        r.close()


class TicketThief:
    """A TCP proxy to the relay for one agent: control connections pass
    through; the first stream leg's ticket is presented on a connection of
    its own first (until SPLICED, then reset), and then the leg is passed
    through with its now used ticket; so are the next ones up to steal legs.
    Later legs pass through."""

    def __init__(self, relay, steal=1):
        self.relay = relay
        self.steal = steal
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.legs = 0
        self.stolen = threading.Event()
        self.socks = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                cs, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(cs,), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                b.sendall(d)
        except OSError:
            try:
                b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                b.close()
            except OSError:
                pass

    def _serve(self, cs):
        us = None
        try:
            first = p.recv_exact(cs, 8, 10)
            with self.lock:
                self.socks.append(cs)
                steal = first[5] == 2 and self.legs < self.steal
                if first[5] == 2:
                    self.legs += 1
            if steal:
                ticket = p.recv_exact(cs, 32, 10)
                first += ticket
                thief = p.connect(self.relay, 10)
                thief.sendall(first)
                if p.recv_exact(thief, 1, 10) == b"\x01":  # taken and paired
                    thief.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
                    thief.close()
                    self.stolen.set()
            us = p.connect(self.relay, 10)
            with self.lock:
                self.socks.append(us)
            us.sendall(first)
        except (OSError, EOFError):
            cs.close()
            if us is not None:
                us.close()
            return
        us.settimeout(None)
        cs.settimeout(None)
        threading.Thread(target=self._pump, args=(us, cs), daemon=True).start()
        self._pump(cs, us)

    def close(self):
        self.ls.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass


def gone_agent_test(c, steal):
    rig, thief = None, None
    try:
        rig = ah.Rig(limits={"ticket_expiry": "30s"})
        r = rig.start_relay()
        thief = TicketThief(r, steal)
        out = rig.link("lnk")
        srv = rig.server("echo")
        lport = ah.free_port()
        rig.b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port)
        rig.a = rig.agent("a", out["tokens"]["a"], "--relay", "127.0.0.1:%d" % thief.port,
                          "--listen", "127.0.0.1:%d" % lport, relay=False)
        c.check("gone: agents online", rig.a.wait_log("online via relay")
                and rig.b.wait_log("online via relay"))
        if steal == 1:
            data = os.urandom(5000)
            got, end = ah.roundtrip(lport, data, timeout=30)
            c.check("gone: the leg's ticket was stolen", thief.stolen.is_set())
            c.check("gone, one leg stolen: the stream OPENed again carries the exchange",
                    got == data and end == "eof", (len(got), end))
            loga = rig.a.log()
            c.check("gone, one leg stolen: agent a says so, once, and reset nothing",
                    loga.count("relay has no such stream before it carried a byte") == 1
                    and "relay has no such stream (its ticket" not in loga, loga[-1500:])
            c.check("gone, one leg stolen: agent a dialled two legs", thief.legs == 2, thief.legs)
            return
        dt, what = held_until_reset(lport, 60)
        c.check("gone: the leg's ticket was stolen", thief.stolen.is_set())
        c.check("gone: the agent resets the local connection at once, long before the 30 s "
                "ticket expiry", what == "reset" and dt < 10.0, "%s after %.3f s" % (what, dt))
        loga = rig.a.log()
        c.check("gone: agent a says why (OPENed again once, then reset), and did not redial",
                loga.count("relay has no such stream before it carried a byte") == 1
                and "relay has no such stream (its ticket" in loga
                and "dialling it again with the same ticket" not in loga, loga[-1500:])
        c.check("gone: agent a dialled two legs (one OPEN again at most)", thief.legs == 2,
                thief.legs)
    finally:
        if thief is not None:
            thief.close()
        if rig is not None:
            if c.failed:
                rig.dump()
            rig.close()


def main():
    c = h.Checks()
    gone_raw_test(c)
    gone_agent_test(c, 1)
    gone_agent_test(c, 2)
    if os.environ.get("LR_GONE_ONLY"):
        return c.done()
    bound_test(c)
    stop_test(c)
    recover_test(c)
    load_test(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
