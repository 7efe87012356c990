#!/usr/bin/python3
# SPDX-License-Identifier: MIT
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
                  (*-strict-fw: strict, and the router's firewall also drops
                  invalid packets addressed to itself, so the relay's
                  retransmissions toward the forgotten mapping meet silence
                  instead of the router's RST)

  *-wan-down-idle the strict-fw WAN fault under an idle stream (one round
                  trip, then silence): no data is in flight anywhere, so
                  only keepalive on the legs (agent and relay) can notice

For each: every open stream ends visibly on both ends — the host application
sees a reset (ECONNRESET/EPIPE), never a clean end of stream (it never
half-closed, so a clean close would be silent truncation, which the protocol
forbids: a clean close only after FINAL), and every byte it did get back is
the right byte; the device's echo service sees its connection reset (or, when
its own agent was killed, closed by the kernel; printed). Then the link
carries a new stream within 10 s of the fault ending, without touching the
agents that were not the fault (no restart, no signal).

The relay runs with short timers (keepalive 1 s, dead_after 3 s, write stall
3 s: lrharness.FAST_LIMITS); the agents with their defaults but
`--resume-timeout 0`: this is the variant without stream resumption, where a
dead leg must reset its stream. With resumption (the default) the relay and
network faults are survived instead: test_agent_resume.py.
"""
import errno
import os
import re
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
PATTERN = os.urandom(65536 + 7)
# The -fw variants: the router also drops invalid packets sent to itself.
INPUT_FW = """
table ip lrnat {
    chain input {
        type filter hook input priority filter; policy accept;
        ct state invalid drop
    }
}
"""  # odd length: offsets do not line up with reads


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
    logs0 = [len(a.log()) for a in (rig.dev_agent, rig.host_agent)]
    fault()
    recovered = []

    def ended():
        """The fault is over: measure from now until a new stream works."""
        t1 = time.time()
        ok = h.wait_for(lambda: rig.echo_ok(size=32768, timeout=3), timeout=30,
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
    # An agent that lost its session during the fault waits out its backoff
    # before it dials again: at most the longest delay it logged since the
    # fault began (a 6 s outage can reach 4-8 s with the default backoff),
    # then a handshake and a stream, given 5 s on a loaded machine.
    delays = [int(m) for a, n0 in zip((rig.dev_agent, rig.host_agent), logs0)
              for m in re.findall(r"reconnecting in (\d+) ms", a.log()[n0:])]
    bound = max(RECOVER_S, max(delays or [0]) / 1000.0 + 5)
    c.check("%s: link carries a new stream within %.1f s of the fault ending (max(%.0f s, "
            "backoff + 5 s))" % (name, bound, RECOVER_S), ok and took <= bound,
            "%.1f s" % took)
    same = [a.alive() and a.proc.pid == p for a, p in zip(untouched, pids)]
    c.check("%s: the other agents were not touched (same processes)" % name, all(same))


def idle_end(sock, timeout):
    """How an idle connection ends within timeout: "reset", "eof" (a
    clean close: silent truncation), "timeout" or "error:ERRNO"."""
    sock.settimeout(timeout)
    try:
        d = sock.recv(100)
        return "eof" if not d else "data"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return "error:" + errno.errorcode.get(e.errno, str(e.errno))


def run_idle_fault(c, rig, name, router):
    """An idle stream (one round trip, then silence) while router's WAN is
    down for 6 s, strict NAT with the input firewall: both ends must see a
    reset. The side behind the router needs its agent's keepalive on the
    leg; the other side needs the relay to notice its leg toward the
    vanished mapping (keepalive on the relay's legs) and reset the other."""
    echo = rig.echo
    cid = echo.accepted + 1
    try:
        s = rig.connect_host()
        s.sendall(b"idle?")
        s.settimeout(10)
        got = s.recv(100)
    except OSError as e:
        c.check("%s: idle stream opened" % name, False, str(e))
        return
    c.check("%s: idle stream opened" % name, got == b"idle?" and echo.accepted == cid, got)
    t0 = time.time()
    host = []

    def watch_host():
        host.append(idle_end(s, DEV_END_S))
        host.append(time.time() - t0)
    rig.topo.link_set(router, "wan", "down")
    t = threading.Thread(target=watch_host, daemon=True)
    t.start()
    h.wait_for(lambda: cid in echo.end_of, timeout=6)
    dev_took = time.time() - t0
    time.sleep(max(0.0, 6 - dev_took))
    rig.topo.link_set(router, "wan", "up")
    if cid not in echo.end_of:
        h.wait_for(lambda: cid in echo.end_of, timeout=max(1.0, DEV_END_S - (time.time() - t0)))
        dev_took = time.time() - t0
    dev_end = echo.end_of.get(cid, "still open")
    t.join(DEV_END_S + 5)
    end, took = host if len(host) == 2 else ("unknown", -1)
    c.check("%s: host application sees a reset" % name, end == "reset",
            "%s after %.1f s" % (end, took))
    c.check("%s: device's echo service sees its connection reset" % name,
            dev_end in ("reset", "dropped"), "%s after %.1f s" % (dev_end, dev_took))
    n.reset_close(s)
    ok = h.wait_for(lambda: rig.echo_ok(size=32768, timeout=3), timeout=30, step=0.2)
    c.check("%s: link carries a new stream afterwards" % name, ok)


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
            rig.start_agents(extra_args=["--resume-timeout", "0"])
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
            #
            # Strict, a router still answers the relay's retransmission for a
            # forgotten mapping with an RST (the packet is addressed to the
            # router itself and no socket has that port), which resets the
            # relay's leg once the WAN is back. With -fw its firewall drops
            # invalid input too, as many do: then only the relay's own
            # liveness check on the leg can notice (the host case; in the
            # device case the relay's write stall fires first).
            for mode in ("lenient", "strict", "strict-fw"):
                for router, lan in (("r1", "dev"), ("r2", "host")):
                    name = "%s-wan-down-%s" % (lan, mode)
                    if not (want(name) or want("wan-down")):
                        continue
                    rig.topo.sysctl(router, "net.netfilter.nf_conntrack_tcp_loose",
                                    1 if mode == "lenient" else 0)
                    if mode == "strict-fw":
                        rig.topo.run(router, "nft", "-f", "-", input=INPUT_FW)
                    run_fault(c, rig, name,
                              lambda rt=router: rig.topo.link_set(rt, "wan", "down"),
                              lambda rt=router: rig.topo.link_set(rt, "wan", "up"), end_after=6)
                    if mode == "strict-fw":
                        rig.topo.run(router, "nft", "delete", "chain", "ip", "lrnat", "input")
                    rig.topo.sysctl(router, "net.netfilter.nf_conntrack_tcp_loose", 0)
            for router, lan in (("r1", "dev"), ("r2", "host")):
                name = "%s-wan-down-idle" % lan
                if not (want(name) or want("wan-down")):
                    continue
                rig.topo.sysctl(router, "net.netfilter.nf_conntrack_tcp_loose", 0)
                rig.topo.run(router, "nft", "-f", "-", input=INPUT_FW)
                try:
                    run_idle_fault(c, rig, name, router)
                finally:
                    rig.topo.run(router, "nft", "delete", "chain", "ip", "lrnat", "input")
            c.check("relay still running", r.proc is not None and r.proc.poll() is None)
        except Exception:
            rig.dump()
            raise
        if c.failed:
            rig.dump()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
