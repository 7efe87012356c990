#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent resets a stream whose relay leg died while stopped at a zero
window, and only then (the NAT topology of netns.py / natrig.py).

The device's service accepts but does not read (EchoServer.paused), and the
host application writes until its writes block: every buffer on the way
fills, the relay stops reading the host agent's leg, and that leg sits at a
zero window with nothing in flight (tcpi_unacked 0, the kernel's persist
timer sending window probes). Seen from the test with `ss -tino` in the host
LAN: the leg (the connection to the relay's port with a send queue) shows
`timer:(persist,...)` and no `unacked:`.

  stalled-path-up  the same stall for 3 x dead_after with the path intact:
                   the relay's kernel answers the window probes, so this is
                   backpressure, and the stream must NOT be reset; writes
                   resume once the service reads again.
  stalled-path-dead  nft rules in NAT router 2 drop every packet of that
                   leg (both directions; no FIN, no RST, no ICMP; the control
                   connection is untouched), as a router that lost its WAN
                   or a strict NAT that forgot the mapping: the window probes
                   go unanswered (tcpi_probes grows, seen as the persist
                   timer's count), and the host agent's leg check
                   (agent/stream.c on_leg_check) must reset the application's
                   connection within dead_after plus the wait for the first
                   unanswered probe and one check period, logging "stream
                   leg dead".

The relay's write stall timeout is 60 s here, so the relay never resets the
stalled stream itself: only the agent's check can end it. Relay keepalive
1 s, dead_after 3 s (lrharness.FAST_LIMITS), which the agents take from it.
"""
import os
import re
import selectors
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402
import natrig  # noqa: E402

DEAD_S = 3.0  # the relay's dead_after (FAST_LIMITS), which the agents use
PERIOD_S = 0.75  # the agent's leg check period: dead_after / 4
DROP_TABLE = "lrzw"


class Writer:
    """The host application: writes until its writes block, and reads (and
    discards) whatever comes back. .sent, .last_progress (time of the last
    successful send), .end: None while open, then "reset", "eof" or
    "error:ERRNO"."""

    def __init__(self, sock):
        self.s = sock
        self.s.setblocking(False)
        self.sent = 0
        self.last_progress = time.time()
        self.end = None
        self.end_at = None
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        block = memoryview(os.urandom(65536))
        sel = selectors.DefaultSelector()
        sel.register(self.s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        end = None
        try:
            while end is None and not self.stop:
                for _, mask in sel.select(0.2):
                    if mask & selectors.EVENT_READ:
                        if not self.s.recv(1 << 18):
                            end = "eof"
                            break
                    if mask & selectors.EVENT_WRITE:
                        try:
                            self.sent += self.s.send(block)
                            self.last_progress = time.time()
                        except BlockingIOError:
                            pass
        except (ConnectionResetError, BrokenPipeError):
            end = "reset"
        except OSError as e:
            end = "error:%d" % e.errno
        sel.close()
        self.end_at = time.time()
        self.end = end

    def blocked(self, quiet_s=1.5, timeout=20):
        """True once no send succeeded for quiet_s (and the stream is open)."""
        return h.wait_for(lambda: self.end is None and self.sent > 0 and
                          time.time() - self.last_progress >= quiet_s, timeout, step=0.1)

    def close(self):
        self.stop = True
        self.t.join(5)
        n.reset_close(self.s)


def ss_ms(text):
    """ss's timer format (print_ms_timer): "664ms", "1.664ms" (1 s 664 ms),
    "2sec", "1min30sec"... -> milliseconds."""
    m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", text)
    if not m:
        raise ValueError("unexpected ss timer %r" % text)
    mins, secs, ms = (int(g) if g else 0 for g in m.groups())
    return (mins * 60 + secs) * 1000 + ms


def legs(rig):
    """The host agent's connections to the relay: list of dicts with port
    (local), sendq, unacked, persist (None, or (ms left, probes)), lastack_ms."""
    r = rig.topo.run("host", "ss", "-Htino", "state", "established",
                     "( dport = :%d )" % natrig.RELAY_PORT)
    out = []
    for line in r.stdout.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace() and re.match(r"\d+\s+\d+\s", line):
            f = line.split()
            out.append({"port": int(f[2].rsplit(":", 1)[1]), "sendq": int(f[1]),
                        "unacked": 0, "persist": None, "lastack_ms": None, "text": line})
        elif out:
            out[-1]["text"] += "\n" + line
        else:
            continue
        m = re.search(r"timer:\(persist,([^,]*),(\d+)\)", line)
        if m:
            out[-1]["persist"] = (ss_ms(m.group(1)), int(m.group(2)))
        u = re.search(r"\bunacked:(\d+)", line)
        if u:
            out[-1]["unacked"] = int(u.group(1))
        a = re.search(r"\blastack:(\d+)", line)
        if a:
            out[-1]["lastack_ms"] = int(a.group(1))
    return out


def stalled_leg(rig, timeout=5):
    """The stream leg at a zero window with nothing in flight: the one
    connection to the relay with a send queue, no unacked data and the
    persist timer running. Returns it, or None (and prints what ss saw)."""
    found = [None]

    def ok():
        q = [x for x in legs(rig) if x["sendq"] > 0]
        if len(q) == 1 and q[0]["unacked"] == 0 and q[0]["persist"] is not None:
            found[0] = q[0]
            return True
        return False
    if not h.wait_for(ok, timeout, step=0.1):
        print("ss saw:\n" + "\n".join(x["text"] for x in legs(rig)), flush=True)
    return found[0]


def stall(c, rig, name):
    """Opens a stream to the paused service and writes until blocked.
    Returns (writer, leg) or (writer, None) when the state was not reached."""
    rig.echo.paused = True
    w = Writer(rig.connect_host())
    blocked = w.blocked()
    c.check("%s: the application's writes block (the service does not read)" % name,
            blocked, "%d bytes sent, end %s" % (w.sent, w.end))
    leg = stalled_leg(rig) if blocked else None
    c.check("%s: the host agent's leg is at a zero window, nothing in flight "
            "(send queue, no unacked, persist timer)" % name, leg is not None,
            leg["text"].replace("\n", " ") if leg else "")
    return w, leg


def drop_leg(rig, port):
    """Router 2 drops every packet of the leg from local port `port`."""
    rig.topo.run("r2", "nft", "-f", "-", input="""
table ip %s {
    chain forward {
        type filter hook forward priority filter - 10; policy accept;
        iifname "lan" ip saddr %s tcp sport %d drop
        oifname "lan" ip daddr %s tcp dport %d drop
    }
}
""" % (DROP_TABLE, n.HOST_IP, port, n.HOST_IP, port))


def undrop(rig):
    rig.topo.run("r2", "nft", "delete", "table", "ip", DROP_TABLE, check=False)


def path_up(c, rig):
    name = "stalled-path-up"
    log0 = rig.host_agent.log().count("stream leg dead")
    w, leg = stall(c, rig, name)
    try:
        if leg is None:
            return
        hold = 3 * DEAD_S
        time.sleep(hold)
        c.check("%s: not reset after %.0f s (3 x dead_after) of backpressure" % (name, hold),
                w.end is None, "end %s" % w.end)
        after = [x for x in legs(rig) if x["port"] == leg["port"]]
        c.check("%s: the leg is still stalled (persist timer, probes answered)" % name,
                len(after) == 1 and after[0]["persist"] is not None and
                after[0]["unacked"] == 0,
                after[0]["text"].replace("\n", " ") if after else "leg gone")
        c.check("%s: no \"stream leg dead\" in the host agent's log" % name,
                rig.host_agent.log().count("stream leg dead") == log0)
        before = w.sent
        rig.echo.paused = False
        resumed = h.wait_for(lambda: w.sent >= before + (1 << 20), timeout=10, step=0.1)
        c.check("%s: writes resume once the service reads again" % name,
                resumed and w.end is None, "%d more bytes, end %s" % (w.sent - before, w.end))
    finally:
        w.close()
        rig.echo.paused = False


def path_dead(c, rig):
    name = "stalled-path-dead"
    log0 = rig.host_agent.log().count("stream leg dead")
    w, leg = stall(c, rig, name)
    try:
        if leg is None:
            return
        if w.end is not None:
            c.check("%s: stream open when the path dies" % name, False, w.end)
            return
        # The first unanswered probe is when the persist timer fires next.
        first_probe_s = leg["persist"][0] / 1000.0
        t0 = time.time()
        drop_leg(rig, leg["port"])
        # While the check has not fired yet: the probes go unanswered. Polled
        # for: the probe due "now" may have gone out (and been answered) just
        # before the drop, and the next one comes a backed-off persist
        # interval later (seconds), which no fixed sleep can know.
        seen = [[]]
        t_probed = []

        def probed():
            x = [y for y in legs(rig) if y["port"] == leg["port"]]
            if x or not seen[0]:
                seen[0] = x  # the last sight of the leg, kept once it is gone
            ok = len(x) == 1 and x[0]["persist"] is not None and x[0]["persist"][1] > 0
            if ok and not t_probed:
                t_probed.append(time.time())
            return ok

        h.wait_for(lambda: w.end is not None or probed(), timeout=first_probe_s + DEAD_S + 5,
                   step=0.05)
        mid = seen[0]
        if w.end is None:
            c.check("%s: window probes unanswered (persist timer count > 0)" % name,
                    len(mid) == 1 and mid[0]["persist"] is not None and
                    mid[0]["persist"][1] > 0,
                    mid[0]["text"].replace("\n", " ") if mid else "leg gone")
        # Kernel timers (the probes) and the agent's check, from the first
        # unanswered probe: no later than when it was seen, else (not seen
        # before the reset) the persist timer's next firing; 2 s of margin for
        # the agent and this test's thread on a loaded machine (ctest -j2).
        first = (t_probed[0] - t0) if t_probed else first_probe_s
        bound = first + DEAD_S + 2 * PERIOD_S + 2.0
        h.wait_for(lambda: w.end is not None, timeout=bound + 5, step=0.05)
        took = (w.end_at or time.time()) - t0
        c.check("%s: the application sees a reset" % name, w.end == "reset",
                "%s after %.1f s" % (w.end, took))
        c.check("%s: within dead_after + first probe + check period (%.1f s)" % (name, bound),
                w.end is not None and took <= bound, "%.1f s" % took)
        c.check("%s: \"stream leg dead\" in the host agent's log" % name,
                rig.host_agent.log().count("stream leg dead") == log0 + 1)
    finally:
        w.close()
        undrop(rig)
        rig.echo.paused = False


def main():
    n.install_sigterm()
    c = h.Checks()
    miss = natrig.missing()
    if miss:
        c.check("linkrelay, linkagent and linkctl are built", False, "missing: " + ", ".join(miss))
        return c.done()
    t_start = time.time()
    # The relay must not end the stall itself (its write stall toward the
    # device's agent): only the agent's leg check may.
    with natrig.NatRig(relay_limits={"write_stall_timeout": "60s"}) as rig:
        try:
            rig.start_relay()
            rig.start_echo()
            # Resumption off: with it a dead leg suspends the stream instead
            # of resetting it, and the sender's replay bound (resume_buffer)
            # stops it before the leg's window closes.
            rig.start_agents(extra_args=["--resume-timeout", "0"])
            c.check("link works", rig.echo_ok())
            path_up(c, rig)
            path_dead(c, rig)
            c.check("link carries a new stream afterwards",
                    h.wait_for(lambda: rig.echo_ok(size=32768, timeout=3), timeout=10, step=0.2))
        except Exception:
            rig.dump()
            raise
        if c.failed:
            rig.dump()
    print("took %.1f s" % (time.time() - t_start))
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
