#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The socket options of linkrelay's own sockets, read from inside the relay
process with pidfd_getfd(2) (a copy of the relay's descriptor, so getsockopt()
sees exactly what the relay set).

Stream legs: TCP_NODELAY, keepalive after `keepalive` of silence, probes every
write_stall_timeout/3 (at most keepalive), TCP_USER_TIMEOUT =
write_stall_timeout (design.md D10). The relay sets these once on its
listening socket and the accepted sockets inherit them; this test is what
proves the inheritance on the kernel it runs on. Control sessions: TCP_NODELAY
only, no keepalive and no user timeout (their liveness is PING/PONG and
dead_after). After SIGHUP with new timers, new legs get the new values.
Skips (77) where pidfd_getfd is not available or not permitted.
"""
import os
import signal
import socket
import sys

import lrharness as h
import lrproto as p

SKIP = 77
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def relay_socket_for(pid, pidfd, peer):
    """A copy of the relay's socket whose peer is `peer` (our local address)."""
    return h.socket_of(pid, pidfd, lambda s: s.getpeername()[:2] == peer[:2])


def opts(s):
    g = s.getsockopt
    return {"nodelay": g(socket.IPPROTO_TCP, socket.TCP_NODELAY),
            "keepalive": g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "idle": g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            "intvl": g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            "user_timeout": g(socket.IPPROTO_TCP, TCP_USER_TIMEOUT)}


def check_stream(c, r, pid, pidfd, sa, sb, req, label, idle, intvl, ut):
    ta, tb = p.open_stream(sa, sb, req)
    la, lb = p.leg(r, ta["ticket"]), p.leg(r, tb["ticket"])
    p.recv_exact(la, 1), p.recv_exact(lb, 1)
    for name, leg in (("a", la), ("b", lb)):
        s = relay_socket_for(pid, pidfd, leg.getsockname())
        if not c.check("%s: the relay's socket of leg %s found" % (label, name), s is not None):
            continue
        o = opts(s)
        s.close()
        c.check("%s: leg %s has TCP_NODELAY, keepalive %d s every %d s, user timeout %d ms"
                % (label, name, idle, intvl, ut),
                o["nodelay"] != 0 and o["keepalive"] == 1 and o["idle"] == idle
                and o["intvl"] == intvl and o["user_timeout"] == ut, o)
    la.close()
    lb.close()


def main():
    c = h.Checks()
    r = h.Relay(limits={"keepalive": "7s", "dead_after": "30s", "write_stall_timeout": "9s"})
    pidfd = None
    try:
        r.start()
        pid = r.proc.pid
        try:
            pidfd = os.pidfd_open(pid)
            os.close(h.pidfd_getfd(pidfd, 0))
        except (OSError, AttributeError) as e:
            print("SKIP: pidfd_getfd not available here: %s" % e)
            return SKIP
        link = r.add_link("opts")
        h.wait_for(lambda: r.admin("links")["links"])
        sa, sb = p.Session(r, link, 0), p.Session(r, link, 1)
        for side, sess in (("a", sa), ("b", sb)):
            s = relay_socket_for(pid, pidfd, sess.s.getsockname())
            if c.check("control %s: the relay's socket found" % side, s is not None):
                o = opts(s)
                s.close()
                c.check("control %s: TCP_NODELAY, no keepalive, no user timeout" % side,
                        o["nodelay"] != 0 and o["keepalive"] == 0 and o["user_timeout"] == 0, o)
        check_stream(c, r, pid, pidfd, sa, sb, 1, "stream", 7, 3, 9000)

        # New timers by SIGHUP apply to legs accepted afterwards.
        conf = os.path.join(r.dir, "linkrelay.conf")
        with open(conf) as f:
            text = f.read()
        text = text.replace("keepalive = 7s", "keepalive = 2s")
        text = text.replace("write_stall_timeout = 9s", "write_stall_timeout = 12s")
        with open(conf, "w") as f:
            f.write(text)
        n = r.log().count("configuration reloaded")
        r.proc.send_signal(signal.SIGHUP)
        c.check("SIGHUP reloads", h.wait_for(
            lambda: r.log().count("configuration reloaded") > n, timeout=5))
        check_stream(c, r, pid, pidfd, sa, sb, 2, "after SIGHUP", 2, 2, 12000)
        sa.close()
        sb.close()
    finally:
        if pidfd is not None:
            os.close(pidfd)
        if c.failed:
            print(r.log()[-3000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
