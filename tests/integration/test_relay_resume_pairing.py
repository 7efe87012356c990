#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay pairs resumed legs (docs/protocol.md §5, §7.3) and stays blind:
- an agent with AUTH flags bit 0 gets RESUMABLE right after WELCOME; one
  without does not, and its RESUME closes the session (CLOSE protocol);
- RESUME from one side gives RESUMED to both, with the sender's req_id and
  role 0, req_id 0 and role 1 to the other, the same resume id to both and a
  ticket each; the legs pair (SPLICED) and carry bytes unchanged;
- a RESUME while the peer's session does not speak resumption is refused
  (OPEN_FAIL peer_offline, the session stays);
- after kill -9 and a restart the new relay process, which never saw the
  stream, pairs a RESUME for it just the same (it keeps nothing about it).
"""
import os
import signal
import struct
import sys

import lrharness as h
import lrproto as p


def parse_resumed(m):
    assert m[0] == 0x0D and len(m) == 1 + 4 + 8 + 1 + 4 + 32 + 32, m.hex()
    req, sid, role, exp = struct.unpack(">IQBI", m[1:18])
    return {"req": req, "stream_id": sid, "role": role, "ticket": m[18:50], "rid": m[50:82]}


def resume_pair(c, r, link, what):
    sa = p.Session(r, link, 0, flags=1)
    sb = p.Session(r, link, 1, flags=1)
    try:
        c.check(what + ": RESUMABLE after WELCOME (a)", sa.expect(0x0B) == b"\x0b")
        c.check(what + ": RESUMABLE after WELCOME (b)", sb.expect(0x0B) == b"\x0b")
        rid = os.urandom(32)
        sa.send(b"\x0c" + struct.pack(">I", 77) + rid)
        ma, mb = parse_resumed(sa.expect(0x0D)), parse_resumed(sb.expect(0x0D))
        c.check(what + ": RESUMED to the sender: its req_id, role 0",
                ma["req"] == 77 and ma["role"] == 0, (ma["req"], ma["role"]))
        c.check(what + ": RESUMED to the peer: req_id 0, role 1", mb["req"] == 0
                and mb["role"] == 1, (mb["req"], mb["role"]))
        c.check(what + ": the same resume id to both, as sent", ma["rid"] == rid
                and mb["rid"] == rid)
        c.check(what + ": one stream, two tickets", ma["stream_id"] == mb["stream_id"]
                and ma["ticket"] != mb["ticket"])
        la, lb = p.leg(r, ma["ticket"]), p.leg(r, mb["ticket"])
        c.check(what + ": legs spliced", p.recv_exact(la, 1) == b"\x01"
                and p.recv_exact(lb, 1) == b"\x01")
        blob = os.urandom(5000)
        la.sendall(blob)
        c.check(what + ": bytes forwarded unchanged", p.recv_exact(lb, len(blob)) == blob)
        la.close()
        lb.close()
    finally:
        sa.close()
        sb.close()


def main():
    c = h.Checks()
    r = h.Relay()
    try:
        r.start()
        link = r.add_link("resume")
        h.wait_for(lambda: r.admin("links")["links"])
        resume_pair(c, r, link, "first relay")

        # Without AUTH bit 0: no RESUMABLE; the peer with it cannot RESUME.
        sa = p.Session(r, link, 0, flags=1)
        sb = p.Session(r, link, 1, flags=0)
        sb.send(b"\x10" + bytes(8))
        c.check("no RESUMABLE without AUTH flags bit 0", sb.expect(0x11)[0] == 0x11)
        sa.expect(0x0B)
        sa.send(b"\x0c" + struct.pack(">I", 5) + bytes(32))
        m = sa.expect(0x04)
        c.check("RESUME towards a peer without resumption: OPEN_FAIL peer_offline",
                m == b"\x04\x00\x00\x00\x05\x01", m.hex())
        sb.send(b"\x0c" + struct.pack(">I", 6) + bytes(32))
        m = sb.expect(0x05)
        c.check("RESUME without AUTH flags bit 0: CLOSE protocol", m[1] == 6, m.hex())
        sa.close()
        sb.close()

        # A relay killed and restarted knows nothing of the stream and pairs it.
        r.stop(signal.SIGKILL)
        r.start()
        h.wait_for(lambda: r.admin("links")["links"])
        resume_pair(c, r, link, "restarted relay")
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
