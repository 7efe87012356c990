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
  stream, pairs a RESUME for it just the same (it keeps nothing about it);
- /metrics counts them: linkrelay_resume_requests_total for each RESUME
  that got its RESUMED, linkrelay_resume_paired_total once both legs
  spliced, linkrelay_resume_unmatched_total for one whose peer leg never
  came (the tickets expire after ticket_expiry, 2 s here), which the log
  names; a RESUME refused peer_offline is none of them; pairing is per
  link: a RESUME on another link with the same id is that link's alone.
"""
import os
import re
import signal
import struct
import sys

import lrharness as h
import lrproto as p
import promharness as ph


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


def resume_counts(r):
    m = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", r.log())
    ms = ph.scrape(int(m[-1]))
    return tuple(ph.value(ms, "linkrelay_resume_%s_total" % k)
                 for k in ("requests", "paired", "unmatched"))


def unmatched(c, r, link, other):
    """A RESUME whose peer leg never comes: both sessions get RESUMED, only
    the sender's leg arrives; the tickets expire. The same id on another
    link (both its sides up) pairs there, never with this link's leg."""
    sa = p.Session(r, link, 0, flags=1)
    sb = p.Session(r, link, 1, flags=1)
    oa = p.Session(r, other, 0, flags=1)
    ob = p.Session(r, other, 1, flags=1)
    try:
        for s in (sa, sb, oa, ob):
            s.expect(0x0B)
        rid = os.urandom(32)
        sa.send(b"\x0c" + struct.pack(">I", 9) + rid)
        ma = parse_resumed(sa.expect(0x0D))
        sb.expect(0x0D)  # side b is told and does not dial
        la = p.leg(r, ma["ticket"])
        # The other link resumes with the very same id: its own pair.
        oa.send(b"\x0c" + struct.pack(">I", 10) + rid)
        na, nb = parse_resumed(oa.expect(0x0D)), parse_resumed(ob.expect(0x0D))
        c.check("the same id on another link: another stream",
                na["stream_id"] != ma["stream_id"], (na["stream_id"], ma["stream_id"]))
        # Link B's leg presents link B's ticket: it pairs with link B's
        # other leg, not with link A's waiting one.
        ka, kb = p.leg(r, na["ticket"]), p.leg(r, nb["ticket"])
        c.check("other link: its own legs spliced", p.recv_exact(ka, 1) == b"\x01"
                and p.recv_exact(kb, 1) == b"\x01")
        ka.close()
        kb.close()
        la.settimeout(10)
        got = la.recv(1)
        c.check("the waiting leg of the unmatched RESUME is told no such stream (0x00)",
                got == b"\x00", got.hex())
        la.close()
        c.check("the log names the unmatched RESUME", h.wait_for(
            lambda: "a leg of a RESUME did not arrive in time (unmatched)" in r.log(), 10))
    finally:
        for s in (sa, sb, oa, ob):
            s.close()


def main():
    c = h.Checks()
    r = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0"})
    try:
        r.start()
        link = r.add_link("resume")
        other = r.add_link("other")
        c.check("metrics: no RESUME yet", resume_counts(r) == (0, 0, 0), resume_counts(r))
        resume_pair(c, r, link, "first relay")
        c.check("metrics: one RESUME, paired", h.wait_for(
            lambda: resume_counts(r) == (1, 1, 0), 5), resume_counts(r))
        unmatched(c, r, link, other)
        c.check("metrics: two more RESUMEs; the other link's paired, this one unmatched",
                h.wait_for(lambda: resume_counts(r) == (3, 2, 1), 5), resume_counts(r))

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
        c.check("metrics: refused RESUMEs are not counted as asked", resume_counts(r) == (3, 2, 1),
                resume_counts(r))

        # A relay killed and restarted knows nothing of the stream and pairs it.
        r.stop(signal.SIGKILL)
        r.start()
        resume_pair(c, r, link, "restarted relay")
        c.check("metrics of the restarted relay: its own RESUME, paired",
                resume_counts(r) == (1, 1, 0), resume_counts(r))
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
