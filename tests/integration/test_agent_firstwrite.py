#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The initiator's first write after the handshake (docs/design.md D51), with
real linkrelay and linkagent processes: what the client sent while the
handshake ran leaves in the same write as the record header, on a new leg
(KK) and on a kept one (frame R, §7.5), and never before the answer (no
0-RTT data, docs/protocol.md §7.4).

The listen-side agent (a, the initiator) dials the relay through a TCP proxy
on loopback. On stream legs the proxy records the size of every chunk a
sends and holds the relay -> a direction while the test's client connects
and sends, so the client's bytes are in a's socket before the answer can
reach a: a's chunk after the answer must carry the header (24 bytes) and
the whole DATA record (the bytes + 28). Before D51 the header went alone,
a 24-byte write, and the data a turn of the loop later. (The proxy sees
recv() chunks, not writes: on a slow machine it may read a lone header and
the next write together, so a regression can go unseen in one run; the
fixed code never fails these checks.)
"""
import os
import socket
import sys
import threading

import agentharness as ah
import lrharness as h
import promharness as ph

SIZE = 1000
HEADER = 24  # REC_HEADER_LEN, GSTREAM_HEADER_LEN
RECORD = SIZE + 28  # a DATA record on the wire: length, tag, offset, MAC


class Proxy(ah.RelayProxy):
    """Records the size of every chunk the agent sends on stream legs, and
    holds the relay's side of them while the gate is shut."""

    def __init__(self, upstream):
        self.gate = threading.Event()
        self.gate.set()
        self.chunks = []  # sizes of the agent's chunks on stream legs
        super().__init__(upstream)

    def chunk(self, leg, up, data):
        if not up:
            self.gate.wait(30)
        elif data:
            with self.lock:
                self.chunks.append(len(data))
        return data

    def close(self):
        self.gate.set()
        super().close()


def one_stream(px, lport):
    """A stream whose client's bytes wait in a's socket before the answer
    can reach a. True when the echo came back whole."""
    data = os.urandom(SIZE)
    px.gate.clear()
    try:
        s = socket.create_connection(("127.0.0.1", lport), timeout=30)
        s.sendall(data)  # on loopback: in a's socket when this returns
    finally:
        px.gate.set()
    got = b""
    try:
        s.shutdown(socket.SHUT_WR)
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except OSError:
        return False
    finally:
        s.close()
    return got == data


def main():
    c = h.Checks()
    rig = ah.Rig()
    px = None
    try:
        rig.start_relay()
        srv = rig.server("echo")
        out = rig.link("lnk")
        px = Proxy((rig.relay.host, rig.relay.port))
        lport = ah.free_port()
        b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port)
        # Kept legs as with a peer before D58 (shared legs: test_agent_sharedleg).
        a = rig.agent("a", out["tokens"]["a"], "--relay", px.addr(), "--listen",
                      "127.0.0.1:%d" % lport, "--metrics-listen", "127.0.0.1:0",
                      "--share-legs", "no", relay=False)
        c.check("agents online", h.wait_for(lambda: "peer online" in a.log()
                                            and "peer online" in b.log(), 20))
        pa = ah.metrics_port(a)
        c.check("a stream on a new leg works", one_stream(px, lport))
        c.check("its leg is kept, idle", h.wait_for(lambda: ph.value(
            ph.scrape_after(pa), "linkagent_kept_legs", link="lnk", role="opener") == 1, 10))
        c.check("a stream on the kept leg works", one_stream(px, lport))
        c.check("one stream leg for both", px.legs == 1, px.legs)
        with px.lock:
            chunks = list(px.chunks)
        c.check("a's header and first data left in one write, twice (new leg, kept leg)",
                sum(1 for n in chunks if n >= HEADER + RECORD) >= 2, chunks)
        c.check("a never wrote the header alone", HEADER not in chunks, chunks)
    finally:
        if px is not None:
            px.close()
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
