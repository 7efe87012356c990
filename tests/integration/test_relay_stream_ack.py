#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay passes STREAM_ACK on unread (docs/protocol.md §5, design.md
D43), with the Python test peer:
  - between two sessions of a link that both set AUTH flags bit 5, a
    STREAM_ACK from either side reaches the other byte for byte (the relay
    neither looks the stream up nor checks the mac: an id and mac no stream
    has pass too), and linkrelay_stream_acks_passed_total counts them;
  - to a side whose session did not set bit 5 (an agent before D43) it is
    dropped, and so is one from such a session: the receiver meets no type
    it does not know, both sessions stay up, and
    linkrelay_stream_acks_dropped_total counts them;
  - with the other side offline it is dropped;
  - a STREAM_ACK that does not decode (stream_id 0, a byte short) closes the
    sender's session with CLOSE protocol, as any bad message.
"""
import os
import struct
import sys

import agentharness as ah
import lrharness as h
import lrproto as p
import promharness as ph

BIT5 = 0x20


def ack(sid, off, mac=None):
    return b"\x0f" + struct.pack(">QQ", sid, off) + (mac or os.urandom(16))


def counters(port):
    ms = ph.scrape_after(port)
    return (ph.value(ms, "linkrelay_stream_acks_passed_total"),
            ph.value(ms, "linkrelay_stream_acks_dropped_total"))


def main():
    c = h.Checks()
    r = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0"})
    try:
        r.start()
        port = ah.metrics_port(r)
        link = r.add_link("sa")
        sa = p.Session(r, link, 0, flags=0x01 | BIT5)
        sb = p.Session(r, link, 1, flags=0x01 | BIT5)
        c.check("no STREAM_ACK counted yet", counters(port) == (0, 0), counters(port))

        m1, m2 = ack(7, 1 << 20), ack(0xFFFFFFFFFFFFFFFF, 0)
        sa.send(m1)
        sb.send(m2)
        c.check("a → b: byte for byte", m1 in sb.drain(), m1.hex())
        c.check("b → a: byte for byte", m2 in sa.drain(), m2.hex())
        c.check("passed counted, nothing dropped", counters(port) == (2, 0), counters(port))

        # b's newer session without bit 5 replaces the old one.
        sb.close()
        sb = p.Session(r, link, 1, flags=0x01)
        sa.drain()
        sa.send(ack(7, 2 << 20))
        got = sb.drain()
        c.check("to a session without bit 5: nothing arrives", all(m[0] != 0x0F for m in got),
                [m.hex() for m in got])
        sb.send(ack(7, 3 << 20))
        got = sa.drain()
        c.check("from a session without bit 5: nothing arrives",
                all(m[0] != 0x0F for m in got), [m.hex() for m in got])
        c.check("both dropped, counted", counters(port) == (2, 2), counters(port))

        sb.close()
        sa.drain()
        sa.send(ack(7, 4 << 20))
        c.check("the other side offline: dropped, the sender's session stays up",
                sa.drain() is not None and counters(port) == (2, 3), counters(port))

        for name, bad in (("stream_id 0", ack(0, 1)), ("a byte short", ack(7, 1)[:-1])):
            s = p.Session(r, link, 0, flags=0x01 | BIT5)
            s.send(bad)
            m = s.expect(0x05)
            c.check("%s: CLOSE protocol" % name, m[1] == 6, m.hex())
            s.close()
        sa.close()
    finally:
        if c.failed:
            print(r.log()[-3000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
