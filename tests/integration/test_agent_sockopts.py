#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent: the local sockets of a stream have TCP_NODELAY, read from inside
each agent with pidfd_getfd(2) (a copy of the agent's descriptor):
  - the listen side's accepted connection: the agent sets TCP_NODELAY once on
    its listening socket and accepted sockets inherit it (docs/design.md
    D54); this test is what proves the inheritance on the kernel it runs on;
  - the connect side's connection to its target;
for a first stream (new legs) and for the next ones (a kept leg), so small
writes of an interactive protocol are not held back by Nagle's algorithm.
Skips (77) where pidfd_getfd is not available or not permitted.
"""
import os
import socket
import sys

import agentharness as ah
import lrharness as h

SKIP = 77


def nodelay(pid, pidfd, pred):
    s = h.socket_of(pid, pidfd, pred)
    if s is None:
        return None
    try:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        s.close()


def kept(ag):
    """The listen side's kept-leg figures (linkagent status --json)."""
    rc, js, _ = ag.status()
    return js["agents"][0]["links"][0]["kept_legs"] if js else {}


def main():
    c = h.Checks()
    rig = ah.Rig()
    fds = []
    try:
        rig.start_relay()
        # Kept legs as with a peer before D58 (a shared leg's streams have the
        # same local sockets: test_agent_sharedleg).
        lport, srv = rig.pair("echo", a_args=("--share-legs", "no"))
        # Both sides past their peer's arrival: a later "peer online" would
        # wipe the link sessions and the kept leg with them (D48).
        c.check("both agents see their peer", h.wait_for(
            lambda: "peer online" in rig.a.log() and "peer online" in rig.b.log(), 20))
        try:
            for ag in (rig.a, rig.b):
                fds.append(os.pidfd_open(ag.proc.pid))
            os.close(h.pidfd_getfd(fds[0], 0))
        except (OSError, AttributeError) as e:
            print("SKIP: pidfd_getfd not available here: %s" % e)
            return SKIP
        for i in range(3):
            cl = socket.create_connection(("127.0.0.1", lport), timeout=10)
            cl.sendall(b"ping")
            got = b""
            while len(got) < 4:
                chunk = cl.recv(4 - len(got))
                if not chunk:
                    break
                got += chunk
            c.check("stream %d: echoed" % i, got == b"ping", got)
            mine = cl.getsockname()
            a = nodelay(rig.a.proc.pid, fds[0], lambda s: s.getpeername()[:2] == mine[:2])
            c.check("stream %d: the listen side's accepted connection has TCP_NODELAY" % i,
                    a is not None and a != 0, a)
            b = nodelay(rig.b.proc.pid, fds[1],
                        lambda s: s.getpeername()[:2] == ("127.0.0.1", srv.port))
            c.check("stream %d: the connect side's connection to its target has TCP_NODELAY"
                    % i, b is not None and b != 0, b)
            cl.close()
            # The next stream once this one left its leg idle for it.
            c.check("stream %d: its leg is kept" % i,
                    h.wait_for(lambda: kept(rig.a).get("idle_opener") == 1, timeout=10),
                    kept(rig.a))
        k = kept(rig.a)
        c.check("streams 1 and 2 ran on the kept leg", k.get("streams_kept_leg") == 2, k)
    finally:
        for fd in fds:
            os.close(fd)
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
