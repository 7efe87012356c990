#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kernel memory of a stalled zero-copy stream (docs/design.md D47): while a
direction starts (its reader has taken under 4 MiB), the relay's socket to
its reader keeps at most 256 KiB unsent (TCP_NOTSENT_LOWAT) plus one
segment, so a reader that never reads costs that much on the reader's leg,
not the autotuned send buffer (tcp_wmem, 4 MiB on many systems).

One stream: a writes 1 MiB, b reads it (the stream moves to zero-copy), then
b stops reading and a writes until the relay takes nothing for 1.5 s. The
reader's receive buffer is set small (SO_RCVBUF 64 KiB), so b's kernel takes
at most ~128 KiB more: the direction cannot have reached 4 MiB taken (1 MiB
+ 128 KiB + the leg's 320 KiB), so it is still starting, by construction.
Checked: the relay's socket to b (from `ss -tmi`: skmem w, the bytes queued
on it, what the kernel charges) holds at most 256 KiB + one 64 KiB segment
+ 64 KiB of skb overhead; the pipe holds at most zero_copy_buffer (D14). The
relay's socket from a (skmem r, the kernel's receive autotuning) is printed,
not bounded: no setting of the relay's bounds it by construction (D47).
Then b reads everything and a sends 8 MiB more and EOF: every byte arrives
intact (SHA-256), then EOF. With the reader's leg left at the kernel's
defaults (no TCP_NOTSENT_LOWAT) it failed: the socket to b held 3.8 MiB.
"""
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time

import lrharness as h
import lrproto as p

KIB = 1024
MIB = KIB * KIB
LOWAT = 256 * KIB   # ZEROCOPY_START_LOWAT
SEGMENT = 64 * KIB  # loopback's largest segment (gso_max_size 65536)
SLACK = 64 * KIB    # skb heads and truesize rounding of the queued segments
PIPE = MIB          # zero_copy_buffer (default)


def skmem(port, peer_port):
    """skmem fields of the relay's socket (local port `port`) whose peer is
    127.0.0.1:peer_port, from ss -tmi; {} if not found."""
    out = subprocess.run(["ss", "-tnmiH", "state", "established",
                          "( sport = :%d and dport = :%d )" % (port, peer_port)],
                         capture_output=True, text=True).stdout
    m = re.search(r"skmem:\(([^)]*)\)", out)
    if not m:
        return {}
    d = {}
    for kv in m.group(1).split(","):
        k = re.match(r"([a-z_]+)(\d+)", kv)
        if k:
            d[k.group(1)] = int(k.group(2))
    for k in ("notsent", "bytes_received", "bytes_sent"):
        n = re.search(r"\b%s:(\d+)" % k, out)
        if n:
            d[k] = int(n.group(1))
    return d


def zc_now(r):
    return r.status()["streams_zero_copy"]


def main():
    c = h.Checks()
    r = h.Relay(limits={"write_stall_timeout": "10m"})
    sa = sb = la = lb = None
    try:
        r.start()
        link = r.add_link_live("stall")
        sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
        ta, tb = p.open_stream(sa, sb, 1)
        la, lb = p.leg(r, ta["ticket"]), p.leg(r, tb["ticket"])
        lb.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KIB)
        p.recv_exact(la, 1), p.recv_exact(lb, 1)  # SPLICED
        sent, got = hashlib.sha256(), hashlib.sha256()
        nsent = ngot = 0

        first = os.urandom(MIB)
        la.sendall(first)
        sent.update(first)
        nsent += len(first)
        d = p.recv_exact(lb, MIB, timeout=20)
        got.update(d)
        ngot += len(d)
        c.check("the stream moved to zero-copy", h.wait_for(lambda: zc_now(r) == 1, timeout=10),
                zc_now(r))

        # b stops reading; a writes until nothing is taken for 1.5 s.
        la.setblocking(False)
        chunk = os.urandom(256 * KIB)
        last = time.time()
        while time.time() - last < 1.5:
            try:
                n = la.send(chunk)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            sent.update(chunk[:n])
            nsent += n
            last = time.time()
        relay_port = r.port
        to_b = skmem(relay_port, lb.getsockname()[1])
        from_a = skmem(relay_port, la.getsockname()[1])
        st = r.status()
        print("stalled: %d bytes taken from a; relay's socket to b %s; from a %s; pipes %d" %
              (nsent, to_b, from_a, st["zero_copy_queued_bytes"]))
        c.check("ss shows the relay's two sockets of the stream", bool(to_b) and bool(from_a),
                (to_b, from_a))
        c.check("the direction is still starting (under 4 MiB went to b's leg)",
                to_b.get("bytes_sent", 1 << 40) + to_b.get("notsent", 1 << 40) < 4 * MIB,
                (to_b.get("bytes_sent"), to_b.get("notsent")))
        c.check("the relay's socket to the stalled reader: at most %d KiB queued" %
                ((LOWAT + SEGMENT + SLACK) // KIB),
                to_b.get("w", 1 << 40) <= LOWAT + SEGMENT + SLACK, to_b.get("w"))
        c.check("and at most 256 KiB + one segment unsent",
                to_b.get("notsent", 1 << 40) <= LOWAT + SEGMENT, to_b.get("notsent"))
        c.check("the pipe holds at most zero_copy_buffer",
                st["zero_copy_queued_bytes"] <= PIPE, st["zero_copy_queued_bytes"])

        # b reads again; a sends 8 MiB more and EOF.
        rest = os.urandom(8 * MIB)
        sent.update(rest)
        nsent += len(rest)
        la.setblocking(True)
        t = threading.Thread(target=lambda: (la.sendall(rest), la.shutdown(socket.SHUT_WR)))
        t.start()
        lb.settimeout(30)
        while True:
            d = lb.recv(MIB)
            if not d:
                break
            got.update(d)
            ngot += len(d)
        t.join(timeout=30)
        c.check("after the stall every byte arrived intact (SHA-256), then EOF",
                ngot == nsent and got.hexdigest() == sent.hexdigest(), (ngot, nsent))
    finally:
        for s in (la, lb, sa, sb):
            if s is not None:
                s.close()
        r.stop()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
