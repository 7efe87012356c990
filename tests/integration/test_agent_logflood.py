#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent does not flood its log when an application retries: with the
peer's agent offline, every local connection is refused (OPEN_FAIL
peer_offline), but the agent says the failure once per link and window with
the stream number, then one summary line per 10 s window with the count of
the streams it held back ("... (N more streams like this in the last 10 s)"),
and at exit what it still held. Every refused connection is accounted for:
lines said + counts in summaries = connections made.
"""
import re
import signal
import socket
import sys
import time

import agentharness as ah
import lrharness as h

FIRST = 120
WINDOW_S = 10  # LOGAGG_WINDOW_MS, common/logagg.h
SECOND = 40
MARK = "relay refused to open a stream: peer_offline"


def refuse_many(port, n):
    """n local connections, each until the agent resets or closes it."""
    ended = 0
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionResetError:  # reset before connect() returned
            ended += 1
            continue
        try:
            s.settimeout(5)
            if s.recv(1) == b"":
                ended += 1
        except ConnectionResetError:
            ended += 1
        except socket.timeout:
            pass
        s.close()
    return ended


def counts(log):
    said = len(re.findall(r"stream \d+: " + re.escape(MARK), log))
    held = [int(m) for m in re.findall(re.escape(MARK) + r" \((\d+) more streams like this in "
                                       r"the last \d+ s\)", log)]
    return said, held


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        rig.start_relay()
        out = rig.link("flood")
        lport = ah.free_port()
        a = rig.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport)
        c.check("agent a online", a.wait_log("online via relay"), a.log())
        # The exact split into lines and summaries holds when each flood
        # fits in one 10 s window, which the floods' own durations show (well
        # under a second each here, a few under ASan with ctest -j2). A flood
        # slower than a window is checked for what then still holds: every
        # refusal accounted for, one line per window at most.
        t0 = time.monotonic()
        n = refuse_many(lport, FIRST)
        fits = time.monotonic() - t0 < WINDOW_S
        c.check("all %d connections refused" % FIRST, n == FIRST, n)
        said, held = counts(a.log())
        if fits:
            c.check("the failure is said once, with its stream number", said == 1,
                    a.log()[-2000:])
        c.check("a summary comes when the 10 s window ends",
                h.wait_for(lambda: counts(a.log())[1], timeout=15), a.log()[-2000:])
        said, held = counts(a.log())
        if fits:
            c.check("the summary counts the rest exactly", held == [FIRST - 1], held)
            c.check("one summary line, not one line per stream",
                    a.log().count(MARK) == 2, a.log().count(MARK))
        t1 = time.monotonic()
        n = refuse_many(lport, SECOND)
        fits = fits and time.monotonic() - t1 < WINDOW_S
        c.check("a flood that goes on is not said again line by line",
                counts(a.log())[0] == 1 or not fits, counts(a.log()))
        rc = a.stop(signal.SIGTERM)
        c.check("agent exits 0", rc == 0, rc)
        said, held = counts(a.log())
        if fits:
            c.check("what was held at exit is said at exit", held == [FIRST - 1, SECOND], held)
        else:
            print("a flood took longer than a window: split not checked", (said, held))
        c.check("every refused connection accounted for",
                said + sum(held) == FIRST + SECOND, (said, held))
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
