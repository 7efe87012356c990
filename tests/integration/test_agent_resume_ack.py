#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The ACK cadence of a resumable stream with the real programs
(docs/protocol.md §7.3 "ACK cadence", docs/design.md D32).

Both agents run with the default resume_buffer (4 MiB), so each asks its
peer for an ACK every 1 MiB delivered (a quarter, D32; both offer
STREAM_ACK, D43). The host
application writes 60 KiB (less than one interval) and then keeps its
connection open without writing;
the device application reads all of it. The receiving agent acknowledges
the quiet stream on its leg check timer (at most 5 s later), so the sending
agent's bytes held for replay (linkagent_resume_buffer_bytes) go from
60 KiB to 0 while the stream is still open. Without the ACK by time they
would stay held, and counted against resume_buffer_total, for as long as
the stream stays quiet. Then 8 MiB more each way (more than one interval):
every byte arrives, and once both ends have closed nothing is held.
"""
import hashlib
import os
import socket
import sys
import threading

import agentharness as ah
import lrharness as h
import promharness as ph

KIB = 1024
MIB = 1024 * KIB


def held(port):
    return ph.value(ph.scrape(port), "linkagent_resume_buffer_bytes")


def recv_exactly(s, n):
    got = bytearray()
    while len(got) < n:
        b = s.recv(min(1 << 20, n - len(got)))
        if not b:
            break
        got += b
    return bytes(got)


def main():
    c = h.Checks()
    rig = ah.Rig()
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(30)
    cli = srv = None
    try:
        rig.start_relay()
        out = rig.link("ack")
        lport = ah.free_port()
        b = rig.conf_agent("ack-b", out["tokens"]["b"],
                       "connect = 127.0.0.1:%d" % ls.getsockname()[1])
        a = rig.conf_agent("ack-a", out["tokens"]["a"], "listen = 127.0.0.1:%d" % lport)
        c.check("agents online", a.wait_log("online via relay") and b.wait_log("online via relay")
                and h.wait_for(lambda: "peer online" in a.log() + b.log(), timeout=5))
        pa, pb = ah.metrics_port(a), ah.metrics_port(b)
        cli = socket.create_connection(("127.0.0.1", lport), timeout=60)
        srv, _ = ls.accept()
        srv.settimeout(60)

        # 1. Less than one interval, then quiet: acknowledged by time.
        first = os.urandom(60 * KIB)
        cli.sendall(first)
        c.check("quiet: the device application reads every byte",
                recv_exactly(srv, len(first)) == first)
        c.check("quiet: the sender holds what it sent until it is acknowledged",
                h.wait_for(lambda: held(pa) is not None, timeout=10) and held(pa) <= len(first),
                held(pa))
        c.check("quiet: the ACK by time releases it, the stream still open",
                h.wait_for(lambda: held(pa) == 0, timeout=30, step=0.1), held(pa))

        # 2. More than one interval each way at once: every byte, then nothing held.
        more = 8 * MIB
        data = {"a": os.urandom(more), "b": os.urandom(more)}
        got = {}

        def read(name, s):
            got[name] = recv_exactly(s, more)
        ts = [threading.Thread(target=read, args=("b", srv), daemon=True),
              threading.Thread(target=read, args=("a", cli), daemon=True)]
        for t in ts:
            t.start()
        cli.sendall(data["a"])
        srv.sendall(data["b"])
        for t in ts:
            t.join(120)
        c.check("bulk: every byte host→device",
                hashlib.sha256(got.get("b", b"")).digest() == hashlib.sha256(data["a"]).digest())
        c.check("bulk: every byte device→host",
                hashlib.sha256(got.get("a", b"")).digest() == hashlib.sha256(data["b"]).digest())
        cli.shutdown(socket.SHUT_WR)
        srv.shutdown(socket.SHUT_WR)
        c.check("bulk: both ends see the other's end",
                srv.recv(1) == b"" and cli.recv(1) == b"")
        c.check("bulk: nothing held on either side at the end",
                h.wait_for(lambda: held(pa) == 0 and held(pb) == 0, timeout=30, step=0.1),
                (held(pa), held(pb)))
        for ag in (a, b):
            c.check("agent %s stops with 0" % ag.name, ag.stop() == 0)
    finally:
        if c.failed:
            rig.dump()
        for s in (cli, srv, ls):
            if s is not None:
                s.close()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
