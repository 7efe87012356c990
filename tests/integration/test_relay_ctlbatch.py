#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Control frames batched per session (docs/design.md D49): the STREAM
frames that one read of OPENs makes go to each session in one write, in
order; the admin status counts frames and writes (`control_frames_total`,
`control_writes_total`). A single OPEN still gets its STREAMs at once."""
import struct
import sys
import time

import lrharness as h
import lrproto as p

N = 20


def counts(r):
    st = r.status()
    return st["control_frames_total"], st["control_writes_total"]


def main():
    c = h.Checks()
    r = h.Relay(limits={"max_streams_per_link": "100"})
    try:
        r.start()
        link = r.add_link("batch")
        h.wait_for(lambda: r.admin("links")["links"])
        sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
        sa.drain(), sb.drain()  # PEER, ADDRS and the PONGs: written before the counts
        f0, w0 = counts(r)
        # N OPENs in one segment: one read on the relay.
        sa.s.sendall(b"".join(p.frame(sa.tx.encrypt_with_ad(b"", b"\x20" + struct.pack(">I", i)))
                              for i in range(1, N + 1)))
        got_a = [p.parse_stream(sa.expect(0x03)) for _ in range(N)]
        got_b = [p.parse_stream(sb.expect(0x03)) for _ in range(N)]
        c.check("a STREAM per OPEN to each side, in order",
                [m["req"] for m in got_a] == list(range(1, N + 1))
                and [m["req"] for m in got_b] == [0] * N
                and [m["stream_id"] for m in got_a] == [m["stream_id"] for m in got_b],
                ([m["req"] for m in got_a], [m["req"] for m in got_b]))
        f1, w1 = counts(r)
        # 2N frames; one write per session when the relay read the OPENs at
        # once (a few more if the kernel split the segment: still far below
        # one write per frame).
        c.check("%d STREAM frames in at most 4 writes" % (2 * N), f1 - f0 == 2 * N and
                w1 - w0 <= 4, (f1 - f0, w1 - w0))
        t0 = time.time()
        sa.open(N + 1)
        ta, tb = p.parse_stream(sa.expect(0x03)), p.parse_stream(sb.expect(0x03))
        c.check("a single OPEN answered at once", ta["req"] == N + 1 and tb["req"] == 0
                and time.time() - t0 < 1.0, time.time() - t0)
        f2, w2 = counts(r)
        c.check("a single OPEN: two frames, two writes", (f2 - f1, w2 - w1) == (2, 2),
                (f2 - f1, w2 - w1))
        # The streams pair as usual (the tickets in the batched frames work).
        la, lb = p.leg(r, got_a[0]["ticket"]), p.leg(r, got_b[0]["ticket"])
        c.check("a batched stream pairs", p.recv_exact(la, 1) == b"\x01"
                and p.recv_exact(lb, 1) == b"\x01")
        la.sendall(b"hello")
        c.check("and carries bytes", p.recv_exact(lb, 5) == b"hello")
        la.close(), lb.close(), sa.close(), sb.close()
        c.check("clean shutdown", r.stop() == 0)
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
