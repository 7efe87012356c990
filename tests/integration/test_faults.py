#!/usr/bin/python3
"""Faults on a live link, in the NAT topology (netns.py, natrig.py).

The host application pumps a continuous bulk transfer through the link to the
device's echo service (both directions busy) when the fault strikes:

  relay-kill9     linkrelay kill -9, then started again (same state, address)
  relay-restart   linkrelay SIGTERM, then started again
  dev-agent-kill9 the device-side linkagent kill -9, then started again
  host-agent-kill9 the host-side linkagent kill -9, then started again
  target-restart  the device's echo service resets its connections and
                  stops listening for 2 s, then listens again
  dev-wan-down-*  `ip link set wan down` on NAT router 1 for 6 s, then up;
                  with a lenient NAT (re-creates a forgotten mapping from a
                  mid-stream packet) and a strict one (drops such packets)
  host-wan-down-* the same on NAT router 2

For each: every open stream ends visibly on both ends — the host application
sees a reset (ECONNRESET/EPIPE), never a clean end of stream (it never
half-closed, so a clean close would be silent truncation, which the protocol
forbids: a clean close only after FINAL), and every byte it did get back is
the right byte; the device's echo service sees its connection reset (or, when
its own agent was killed, closed by the kernel; printed). Then the link
carries a new stream within 10 s of the fault ending, without touching the
agents that were not the fault (no restart, no signal).

The relay runs with short timers (keepalive 1 s, dead_after 3 s, write stall
3 s: lrharness.FAST_LIMITS); the agents with their defaults.
"""
import errno
import os
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402
import natrig  # noqa: E402

RECOVER_S = 10.0
DEV_END_S = float(os.environ.get("LR_DEV_END_S", "30"))
PATTERN = os.urandom(65536 + 7)  # odd length: offsets do not line up with reads


class Flow:
    """A bulk transfer through the link that never half-closes: one thread
    writes PATTERN repeated and reads the echo, checking each byte against
    the pattern at its offset. One thread for both directions, so the first
    call that meets the socket's fate reports it (after an RST, Linux reports
    ECONNRESET once, to whichever call comes first, and EOF after that).
    .end becomes "reset", "eof" (a clean close: silent truncation here),
    "timeout" or "error:ERRNO"."""

    def __init__(self, sock):
        self.s = sock
        self.s.setblocking(False)
        self.sent = 0
        self.got = 0
        self.corrupt = False
        self.end = None
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _check(self, d):
        off = self.got % len(PATTERN)
        want = (PATTERN * (len(d) // len(PATTERN) + 2))[off:off + len(d)]
        if d != want:
            self.corrupt = True
        self.got += len(d)

    def _run(self):
        view = memoryview(PATTERN * 2)
        sel = selectors.DefaultSelector()
        sel.register(self.s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        last = time.time()
        end = None
        try:
            while end is None and not self.stop:
                events = sel.select(0.5)
                if time.time() - last > 30:
                    end = "timeout"
                for _, mask in events:
                    if mask & selectors.EVENT_READ:
                        d = self.s.recv(1 << 18)
                        if not d:
                            end = "eof"
                            break
                        self._check(d)
                        last = time.time()
                    if mask & selectors.EVENT_WRITE:
                        off = self.sent % len(PATTERN)
                        self.sent += self.s.send(view[off:off + 65536])
        except (ConnectionResetError, BrokenPipeError):
            end = "reset"
        except BlockingIOError:
            end = None
        except OSError as e:
            end = "error:" + errno.errorcode.get(e.errno, str(e.errno))
        sel.close()
        self.end = end

    def wait_flowing(self, nbytes=1 << 20, timeout=10):
        return h.wait_for(lambda: self.got >= nbytes or self.end is not None, timeout)

    def wait_end(self, timeout):
        self.t.join(timeout)
        return self.end

    def close(self):
        self.stop = True
        self.t.join(5)
        n.reset_close(self.s)


def run_fault(c, rig, name, fault, end_fault, own_agent=None, end_after=None):
    """Starts a Flow, applies fault(), checks how the stream ended on both
    ends, ends the fault with end_fault() (after the checks, or end_after
    seconds after the fault in a thread when the ends can only be seen once
    the fault is over), then checks recovery."""
    echo = rig.echo
    cid = echo.accepted + 1  # the device side of the Flow below
    untouched = [a for a in rig.agents if a is not own_agent]
    pids = [a.proc.pid for a in untouched]
    try:
        flow = Flow(rig.connect_host())
    except OSError as e:
        c.check("%s: stream opened before the fault" % name, False, str(e))
        return
    flowing = flow.wait_flowing() and flow.end is None and echo.accepted == cid
    c.check("%s: bulk transfer flowing before the fault" % name, flowing,
            "%d bytes echoed" % flow.got)
    t0 = time.time()
    fault()
    recovered = []

    def ended():
        """The fault is over: measure from now until a new stream works."""
        t1 = time.time()
        ok = h.wait_for(lambda: rig.echo_ok(size=32768, timeout=3), timeout=RECOVER_S + 5,
                        step=0.2)
        recovered.append((ok, time.time() - t1))

    ender = None
    if end_after is not None:
        def later():
            time.sleep(end_after)
            end_fault()
            ended()
        ender = threading.Thread(target=later, daemon=True)
        ender.start()
    end = flow.wait_end(30)
    took = time.time() - t0
    c.check("%s: host application sees a reset (never a clean close)" % name,
            end == "reset",
            "%s after %.1f s; %d bytes sent, %d echoed" % (end, took, flow.sent, flow.got))
    c.check("%s: every byte received was the right byte" % name, not flow.corrupt)
    flow.close()
    ok = h.wait_for(lambda: cid in echo.end_of, timeout=DEV_END_S)
    dev_end = echo.end_of.get(cid, "still open")
    took = time.time() - t0
    if own_agent is not None and own_agent.role == "dev":
        # Its agent is dead: the kernel closed the socket, FIN or RST as it
        # found it; nothing above the kernel could make it a reset.
        c.check("%s: device's connection ended (closed by the kernel)" % name, ok,
                "%s after %.1f s" % (dev_end, took))
    else:
        c.check("%s: device's echo service sees its connection reset" % name,
                dev_end in ("reset", "dropped"), "%s after %.1f s" % (dev_end, took))
    if ender is None:
        end_fault()
        ended()
    else:
        ender.join(60)
    ok, took = recovered[0] if recovered else (False, -1)
    c.check("%s: link carries a new stream within %.0f s of the fault ending"
            % (name, RECOVER_S), ok and took <= RECOVER_S, "%.1f s" % took)
    same = [a.alive() and a.proc.pid == p for a, p in zip(untouched, pids)]
    c.check("%s: the other agents were not touched (same processes)" % name, all(same))


def main():
    n.install_sigterm()
    c = h.Checks()
    miss = natrig.missing()
    if miss:
        c.check("linkrelay, linkagent and linkctl are built", False, "missing: " + ", ".join(miss))
        return c.done()
    only = os.environ.get("LR_FAULTS_ONLY", "")
    with natrig.NatRig() as rig:
        try:
            r = rig.start_relay()
            echo = rig.start_echo()
            rig.start_agents()
            c.check("link works", rig.echo_ok())

            def want(name):
                return only in ("", name)

            if want("relay-kill9"):
                run_fault(c, rig, "relay-kill9", r.kill9, r.start)

            if want("relay-restart"):
                def relay_stop():
                    rc = r.stop()
                    c.check("relay-restart: relay exits 0 on SIGTERM with streams open", rc == 0,
                            str(rc))
                run_fault(c, rig, "relay-restart", relay_stop, r.start)

            for role in ("dev", "host"):
                name = "%s-agent-kill9" % role
                if not want(name):
                    continue
                agent = rig.dev_agent if role == "dev" else rig.host_agent
                run_fault(c, rig, name, agent.kill9, agent.start, own_agent=agent)

            if want("target-restart"):
                def target_down():
                    echo.close()  # resets what is open, stops listening

                def target_up():
                    time.sleep(2)
                    echo.start()
                run_fault(c, rig, "target-restart", target_down, target_up)

            # Taking the WAN link down makes the router drop its masquerade
            # mappings (the kernel flushes them with the interface). A lenient
            # NAT (nf_conntrack_tcp_loose=1, Linux's default) re-creates a
            # mapping from the next mid-stream packet, so a reset reaches the
            # stuck leg once the link is back; a strict one (the topology's
            # default, like many home routers) drops those packets for good,
            # and only a liveness check on the stream legs can notice.
            for mode in ("lenient", "strict"):
                for router, lan in (("r1", "dev"), ("r2", "host")):
                    name = "%s-wan-down-%s" % (lan, mode)
                    if not (want(name) or want("wan-down")):
                        continue
                    rig.topo.sysctl(router, "net.netfilter.nf_conntrack_tcp_loose",
                                    1 if mode == "lenient" else 0)
                    run_fault(c, rig, name,
                              lambda rt=router: rig.topo.link_set(rt, "wan", "down"),
                              lambda rt=router: rig.topo.link_set(rt, "wan", "up"), end_after=6)
                    rig.topo.sysctl(router, "net.netfilter.nf_conntrack_tcp_loose", 0)
            c.check("relay still running", r.proc is not None and r.proc.poll() is None)
        except Exception:
            rig.dump()
            raise
        if c.failed:
            rig.dump()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
