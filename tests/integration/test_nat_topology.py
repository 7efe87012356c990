#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The job linkrelay exists for, on a real (namespaced) network with NAT.

Topology (tests/integration/netns.py): device LAN 100.64.1.0/24 behind NAT
router r1 (public 198.18.0.2), host LAN 100.64.2.0/24 behind NAT router r2
(public 198.18.0.3), the relay on the public segment at 198.18.0.1.

1. The problem, with no linkrelay at all: a TCP echo service runs on the
   device's LAN address. From the host LAN, a connection to that address fails
   (no route: it is a private address behind another NAT), and one to r1's
   public address is refused (nothing forwards inbound connections). Dialling
   out works, and the far end sees r1's public address: the NAT is real.
2. The solution, with the real programs: linkrelay in the public namespace, a
   link made with linkctl, linkagent beside the device (--connect to the echo
   service) and beside the host (--listen 127.0.0.1:9000 in the host LAN): the
   host reaches the device's echo service through the link. The relay sees the
   agents as the routers' public addresses (linkctl link show --json, and ss
   in the public namespace).
3. NAT idle timeout: the routers' conntrack TCP established timeout is set to
   20 s (per network namespace; the host's value is checked unchanged). With
   the agents' keepalive at 8 s an idle link survives 45 s (more than two
   timeout periods) on the same control connections; with keepalives at 1 h
   (agents and relay) the routers forget the mappings and the link does not
   work after the same idle time (the negative control). The two cases run at
   the same time in two topologies.

Exit 77 (skipped) with a message when network namespaces are unavailable. The
solution parts fail (not skip) when linkrelay/linkagent/linkctl are not built.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402
import natrig  # noqa: E402

NAT_TIMEOUT = 20
IDLE = 45  # > 2 × NAT_TIMEOUT
ECHO = natrig.ECHO_PORT


def problem(c):
    with n.Topology() as t:
        echo = n.EchoServer(t.ns["dev"], n.DEV_IP, ECHO)
        try:
            ok = n.transfer(n.connect(t.ns["dev"], n.DEV_IP, ECHO), b"ping")[0] == b"ping"
            c.check("problem: the echo service works inside the device LAN", ok)
            r = n.probe_connect(t.ns["host"], n.DEV_IP, ECHO)
            c.check("problem: host LAN -> device LAN address %s fails (no route)" % n.DEV_IP,
                    r in ("unreachable", "timeout"), r)
            r = n.probe_connect(t.ns["host"], n.R1_PUB_IP, ECHO)
            c.check("problem: host LAN -> NAT router 1 public address %s is refused"
                    % n.R1_PUB_IP, r in ("refused", "timeout"), r)
            c.check("problem: the echo service saw no connection from outside",
                    echo.accepted == 1, "accepted %d" % echo.accepted)

            # Dialling out works and is masqueraded: a listener on the public
            # segment sees r1's public address, not the device's.
            ls = n.ns_socket(t.ns["pub"])
            ls.bind((n.RELAY_IP, 7700))
            ls.listen(4)
            ls.settimeout(5)
            cl = n.connect(t.ns["dev"], n.RELAY_IP, 7700)
            conn, peer = ls.accept()
            c.check("problem: dialling out from the device LAN works, seen as r1's public "
                    "address", peer[0] == n.R1_PUB_IP, "%s:%d" % peer)
            conn.close()
            cl.close()
            ls.close()
        finally:
            echo.close()


def solution(c):
    with natrig.NatRig() as rig:
        try:
            r = rig.start_relay()
            rig.start_echo()
            rig.start_agents()
            c.check("solution: host LAN reaches the device echo service through the link",
                    rig.echo_ok(size=256 * 1024))
            ok = all(rig.echo_ok(size=4096) for _ in range(10))
            c.check("solution: 10 more streams through the link", ok)
            live = rig.live() or {}
            a_addr = (live.get("a") or {}).get("addr", "")
            b_addr = (live.get("b") or {}).get("addr", "")
            c.check("solution: relay sees the device agent as r1's public address",
                    b_addr.rsplit(":", 1)[0] == n.R1_PUB_IP, b_addr)
            c.check("solution: relay sees the host agent as r2's public address",
                    a_addr.rsplit(":", 1)[0] == n.R2_PUB_IP, a_addr)
            peers = rig.topo.tcp_peers("pub", natrig.RELAY_PORT)
            hosts = {p.rsplit(":", 1)[0] for p in peers}
            c.check("solution: ss in the public namespace shows only the routers' public "
                    "addresses", hosts == {n.R1_PUB_IP, n.R2_PUB_IP}, " ".join(peers))
            c.check("solution: the device is still not reachable directly",
                    n.probe_connect(rig.ns("host"), n.DEV_IP, ECHO) in ("unreachable",
                                                                         "timeout"))
            c.check("solution: relay still running", r.proc.poll() is None)
        except Exception:
            rig.dump()
            raise


def established(lines):
    """The ESTABLISHED entries of `conntrack -L` output (the control
    connection; finished stream legs linger as TIME_WAIT). None when the
    conntrack tool is missing."""
    if lines is None:
        return None
    return [line for line in lines if " ESTABLISHED " in line]


class IdleCase:
    """One topology whose routers forget idle TCP mappings after 20 s."""

    def __init__(self, name, agent_keepalive, relay_limits):
        self.name = name
        self.agent_keepalive = agent_keepalive
        self.rig = natrig.NatRig(relay_limits=relay_limits, relay_fast=False)
        self.error = None

    def setup(self):
        rig = self.rig
        rig.__enter__()
        rig.topo.set_conntrack_established(NAT_TIMEOUT)
        rig.start_relay()
        rig.start_echo()
        # No kept legs (D48): the mappings counted are the control
        # connections', with nothing else idle through the routers.
        rig.start_agents(keepalive=self.agent_keepalive, name=self.name,
                         extra_args=("--keep-legs", "0"))
        self.works_before = rig.echo_ok()
        self.peers_before = rig.topo.tcp_peers("pub", natrig.RELAY_PORT)
        self.ct_before = established(rig.topo.conntrack("r1", "--dport", str(natrig.RELAY_PORT)))
        self.t_idle = time.time()

    def after_idle(self):
        rig = self.rig
        self.ct_after = established(rig.topo.conntrack("r1", "--dport", str(natrig.RELAY_PORT)))
        self.peers_after = rig.topo.tcp_peers("pub", natrig.RELAY_PORT)
        t0 = time.time()
        self.works_after = rig.echo_ok(timeout=8)
        self.took = time.time() - t0


def nat_timeout(c):
    before = open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established").read()
    keep = IdleCase("keepalive", "8s", {"keepalive": "25s", "dead_after": "90s"})
    nokeep = IdleCase("nokeepalive", "1h", {"keepalive": "1h", "dead_after": "7200s"})
    cases = (keep, nokeep)
    try:
        for case in cases:
            case.setup()
        for case in cases:
            c.check("nat-timeout[%s]: link works before the idle period" % case.name,
                    case.works_before)
            c.check("nat-timeout[%s]: r1 holds a mapping for the control connection"
                    % case.name, case.ct_before is None or len(case.ct_before) == 1,
                    "conntrack: %s" % case.ct_before)
        c.check("nat-timeout: host's own conntrack timeout untouched",
                open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established").read()
                == before, before.strip())
        print("idle for %d s (routers forget idle TCP after %d s)..." % (IDLE, NAT_TIMEOUT),
              flush=True)
        time.sleep(max(0, IDLE - (time.time() - min(cs.t_idle for cs in cases))))
        threads = [threading.Thread(target=cs.after_idle) for cs in cases]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)

        c.check("nat-timeout[keepalive 8s]: idle link works after %d s" % IDLE,
                keep.works_after, "%.1f s" % keep.took)
        c.check("nat-timeout[keepalive 8s]: on the same control connections (no reconnect)",
                keep.peers_after == keep.peers_before and len(keep.peers_before) == 2,
                "%s -> %s" % (keep.peers_before, keep.peers_after))
        c.check("nat-timeout[keepalive 8s]: r1 still holds the mapping",
                keep.ct_after is None or len(keep.ct_after) == 1, str(keep.ct_after))
        c.check("nat-timeout[keepalive 8s]: no reconnect logged",
                keep.rig.dev_agent.count("online via relay") == 1
                and keep.rig.host_agent.count("online via relay") == 1)

        c.check("nat-timeout[no keepalive]: r1 forgot the mapping",
                nokeep.ct_after is None or len(nokeep.ct_after) == 0, str(nokeep.ct_after))
        c.check("nat-timeout[no keepalive]: idle link does NOT work after %d s "
                "(negative control)" % IDLE, not nokeep.works_after, "%.1f s" % nokeep.took)
    except Exception:
        for cs in cases:
            cs.rig.dump()
        raise
    finally:
        for cs in cases:
            try:
                cs.rig.close()
            except Exception as e:
                c.check("nat-timeout[%s]: clean shutdown" % cs.name, False, str(e))


def main():
    n.install_sigterm()
    c = h.Checks()
    problem(c)
    miss = natrig.missing()
    if miss:
        c.check("solution: linkrelay, linkagent and linkctl are built", False,
                "missing: " + ", ".join(miss))
        return c.done()
    only = os.environ.get("LR_NAT_ONLY", "")
    if only in ("", "solution"):
        solution(c)
    if only in ("", "timeout"):
        nat_timeout(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
