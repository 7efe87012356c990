#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""LEG_LOST (docs/protocol.md §5, §7.3): an agent whose leg of a resumable
stream died on its side only tells the relay, which ends that stream at
once, so the peer agent sees its leg end, suspends and resumes with it.

- LEG_LOST naming a spliced stream of the sender's link with the sender's
  ticket of it resets both legs (the log says "reported its leg lost");
- the same id with the other side's ticket, another link's stream (with
  that link's ticket), an unknown id: ignored, logged (debug: an agent
  sends LEG_LOST for every leg it lost, also one the relay ended), the streams carry
  bytes on; a relay restarted with kill -9 numbers its streams from 1 again,
  and an old stream's id with the old ticket does not end the new stream
  of that id;
- from a session without AUTH flags bit 0: CLOSE protocol;
- /metrics counts them: linkrelay_leg_lost_ended_total and
  linkrelay_leg_lost_ignored_total.
Each LEG_LOST is followed by a PING: its PONG says the relay has handled the
LEG_LOST (one session's messages are handled in order), no timing involved.
"""
import os
import re
import signal
import struct
import sys

import lrharness as h
import lrproto as p
import promharness as ph


def leg_lost(sid, ticket):
    return b"\x0e" + struct.pack(">Q", sid) + ticket


def spliced(r, sa, sb, req):
    """A stream opened by sa, both legs spliced: (STREAM a, STREAM b, leg a, leg b)."""
    ma, mb = p.open_stream(sa, sb, req)
    la, lb = p.leg(r, ma["ticket"]), p.leg(r, mb["ticket"])
    assert p.recv_exact(la, 1) == b"\x01" and p.recv_exact(lb, 1) == b"\x01"
    return ma, mb, la, lb


def carries(la, lb):
    blob = os.urandom(3000)
    try:
        la.sendall(blob)
        return p.recv_exact(lb, len(blob)) == blob
    except OSError:
        return False


def ended(s):
    """The leg was reset or closed by the relay (EOF, RST)."""
    s.settimeout(10)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def counts(r):
    """(ended, ignored) from /metrics."""
    m = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", r.log())
    ms = ph.scrape(int(m[-1]))
    return tuple(ph.value(ms, "linkrelay_leg_lost_%s_total" % k) for k in ("ended", "ignored"))


def main():
    c = h.Checks()
    # An ignored LEG_LOST is a debug line.
    r = h.Relay(log_level="debug", extra_relay={"metrics_listen": "127.0.0.1:0"})
    socks = []
    try:
        r.start()
        link = r.add_link("lost")
        other = r.add_link("other")
        sa, sb = p.Session(r, link, 0, flags=1), p.Session(r, link, 1, flags=1)
        oa, ob = p.Session(r, other, 0, flags=1), p.Session(r, other, 1, flags=1)
        socks += [sa, sb, oa, ob]
        for s in socks:
            s.expect(0x0B)
        ma, mb, la, lb = spliced(r, sa, sb, 1)
        na, nb, ka, kb = spliced(r, oa, ob, 2)
        socks += [la, lb, ka, kb]
        c.check("two links, one stream each, different ids", ma["stream_id"] != na["stream_id"])

        # Another link's stream, named with that link's own ticket of it.
        sa.send(leg_lost(na["stream_id"], na["ticket"]))
        sa.drain()
        c.check("LEG_LOST naming another link's stream: ignored, logged",
                "LEG_LOST from side a for no stream of this link (%d)" % na["stream_id"]
                in r.log(), r.log()[-800:])
        c.check("the other link's stream carries bytes on", carries(ka, kb) and carries(kb, ka))
        # This link's stream with the other side's ticket; an unknown id.
        sa.send(leg_lost(ma["stream_id"], mb["ticket"]))
        sa.send(leg_lost(ma["stream_id"] + 1000, ma["ticket"]))
        sa.drain()
        c.check("LEG_LOST with the other side's ticket, or an unknown id: ignored, logged",
                r.log().count("LEG_LOST from side a for no stream of this link") == 3)
        c.check("this link's stream carries bytes on", carries(la, lb) and carries(lb, la))
        c.check("metrics: none ended, three ignored",
                h.wait_for(lambda: counts(r) == (0, 3), 5), counts(r))

        # Side a lost its leg (as after an uplink outage): a new session says so.
        sa.close()
        sa = p.Session(r, link, 0, flags=1)
        socks.append(sa)
        sa.expect(0x0B)
        sa.send(leg_lost(ma["stream_id"], ma["ticket"]))
        sa.drain()
        c.check("LEG_LOST of this side's own stream: the peer's leg ends at once", ended(lb))
        c.check("... and the sender's old leg too", ended(la))
        c.check("the log names it", "side a reported its leg lost (LEG_LOST)" in r.log(),
                r.log()[-800:])
        c.check("the other link's stream is untouched", carries(ka, kb))
        c.check("metrics: one ended, three ignored",
                h.wait_for(lambda: counts(r) == (1, 3), 5), counts(r))

        # Without AUTH flags bit 0.
        s0 = p.Session(r, other, 1, flags=0)
        socks.append(s0)
        s0.send(leg_lost(na["stream_id"], nb["ticket"]))
        m = s0.expect(0x05)
        c.check("LEG_LOST without AUTH flags bit 0: CLOSE protocol", m[1] == 6, m.hex())
        for s in socks:
            s.close()
        socks = []

        # Stream ids restart with the process; tickets do not repeat.
        r.stop(signal.SIGKILL)
        r.start()
        sa, sb = p.Session(r, link, 0, flags=1), p.Session(r, link, 1, flags=1)
        socks += [sa, sb]
        sa.expect(0x0B)
        sb.expect(0x0B)
        xa, xb, ya, yb = spliced(r, sa, sb, 1)
        socks += [ya, yb]
        c.check("the restarted relay's first stream has the old first stream's id",
                xa["stream_id"] == ma["stream_id"], (xa["stream_id"], ma["stream_id"]))
        sa.send(leg_lost(ma["stream_id"], ma["ticket"]))
        sa.drain()
        c.check("an old stream's LEG_LOST on a restarted relay: ignored, logged",
                "LEG_LOST from side a for no stream of this link" in r.log())
        c.check("the new stream of that id carries bytes on", carries(ya, yb) and carries(yb, ya))
        c.check("metrics of the restarted relay: none ended, one ignored",
                h.wait_for(lambda: counts(r) == (0, 1), 5), counts(r))
    finally:
        for s in socks:
            s.close()
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
