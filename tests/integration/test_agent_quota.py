#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A byte quota seen from linkagent and its applications (docs/design.md
D29), with a real relay and two agents, an echo server behind side b:
  - below the quota a connection works end to end;
  - a connection that takes the link past its quota is reset (the
    application sees a reset, not EOF), the relay's accounting says quota;
  - the crossing stream, suspended by the agent (its leg was reset), is
    refused once when the agent asks to resume it, and ends;
  - a new connection is then reset at once: the relay answers the agent's
    OPEN with OPEN_FAIL quota_exceeded, the agent logs why and does not send
    the OPEN again (the relay counts one refusal per connection);
  - raised live with linkctl link set: connections work again.
"""
import socket
import sys

import agentharness as ah
import lrharness as h

MIB = 1 << 20


def live_quota(r):
    for l in r.admin("links")["links"]:
        if l["name"] == "lnk":
            return l["quota"]
    return None


def refused_at_once(port):
    """A connection the agent resets without carrying anything."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except ConnectionResetError:
        return True  # reset before connect() returned
    got, end = h.transfer(s, b"hello", timeout=10)
    return got == b"" and end == "reset"


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        r = rig.start_relay()
        lport, _ = rig.pair("echo")
        r.ctl("link", "set", "lnk", "--quota", "1MiB/day")
        h.wait_for(lambda: live_quota(r) is not None, timeout=10)
        c.check("below the quota a connection works", ah.works(lport, 100000))
        got, end = ah.roundtrip(lport, b"q" * (2 * MIB), timeout=30)
        c.check("the connection that crosses the quota is reset", end == "reset" and
                len(got) < 2 * MIB, "%d bytes, %s" % (len(got), end))
        q = live_quota(r)
        c.check("the relay counted the crossing", q["exceeded"] == 1
                and q["used_bytes"] == q["limit_bytes"] + 1, str(q))
        h.wait_for(lambda: r.ctl_json("link", "show", "lnk")["totals"]["last_cause"] == "quota",
                   timeout=10)
        c.check("accounting cause quota",
                r.ctl_json("link", "show", "lnk")["totals"]["last_cause"] == "quota")
        # The crossing stream's leg was reset: the agent suspends it and asks
        # to resume it (D24) once; quota_exceeded ends it, no second RESUME.
        c.check("the suspended stream's RESUME is refused once, the stream ends",
                rig.a.wait_log("relay refused to resume the stream: quota_exceeded"),
                rig.a.log()[-1500:])
        base = live_quota(r)["refused"]
        c.check("a new connection is reset at once", refused_at_once(lport))
        want = ("relay refused to open a stream: quota_exceeded (the link's byte quota for this "
                "period is used up); resetting the local connection")
        c.check("the agent logs why", rig.a.wait_log(want), rig.a.log()[-1500:])
        c.check("one OPEN, one refusal", live_quota(r)["refused"] == base + 1,
                "%d %s" % (base, live_quota(r)))
        c.check("a second connection: reset too", refused_at_once(lport))
        # (The agent's stream log lines are aggregated per window: the
        # relay's count is the measure.)
        c.check("the agent did not send OPENs of its own", live_quota(r)["refused"] == base + 2
                and rig.a.count("relay refused to resume the stream") == 1, rig.a.log()[-1500:])
        r.ctl("link", "set", "lnk", "--quota", "1GiB/day")
        h.wait_for(lambda: live_quota(r)["limit_bytes"] == 1 << 30, timeout=10)
        c.check("raised live: connections work again", ah.works(lport, 100000))
        c.check("agents still online (no session lost)", rig.a.count("online via relay") == 1
                and rig.b.count("online via relay") == 1)
    except Exception:
        rig.dump()
        raise
    finally:
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
