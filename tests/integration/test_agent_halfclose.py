#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent: half-close, reset propagation and connect failure through the
whole chain (client -> agent a -> relay -> agent b -> server):
  - the client shuts its write side; the server reads to EOF and only then
    answers: the answer still arrives in full, then a clean EOF;
  - a client reset (RST) reaches the server as a reset, not as a clean EOF;
  - a server reset reaches the client as a reset;
  - the connect side's target refusing the connection reaches the client as
    a reset, and agent b logs why.
"""
import hashlib
import os
import socket
import sys
import time

import agentharness as ah
import lrharness as h


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        rig.start_relay()
        lport, srv = rig.pair("digest")

        # Half-close: the reply comes only after the client's EOF.
        data = os.urandom(5 * ah.MIB + 17)
        got, end = ah.roundtrip(lport, data)
        want = ("%s %d\n" % (hashlib.sha256(data).hexdigest(), len(data))).encode()
        c.check("half-close: reply after EOF arrives in full", got == want, got[:80])
        c.check("half-close: then a clean EOF", end == "eof", end)
        c.check("half-close: server saw a clean EOF",
                h.wait_for(lambda: srv.ends == ["eof"], timeout=5), srv.ends)

        # An empty stream: EOF straight away still gets the reply.
        got, end = ah.roundtrip(lport, b"")
        c.check("empty half-close", got.endswith(b" 0\n") and end == "eof", (got, end))

        # Client reset -> server sees a reset.
        s = socket.create_connection(("127.0.0.1", lport))
        s.sendall(b"x" * 1000)
        h.wait_for(lambda: srv.accepted == 3, timeout=5)
        time.sleep(0.3)
        ah.reset_close(s)
        ok = h.wait_for(lambda: len(srv.ends) == 3, timeout=5)
        c.check("client reset reaches the server as a reset", ok and srv.ends[2] == "reset",
                srv.ends)
        c.check("agent a logs the local reset", a_logged(rig.a, "local connection"))

        # Server reset -> client sees a reset.
        s = socket.create_connection(("127.0.0.1", lport), timeout=10)
        s.sendall(b"y" * 1000)
        h.wait_for(lambda: srv.accepted == 4, timeout=5)
        time.sleep(0.3)
        srv.drop_all()
        end = read_end(s)
        c.check("server reset reaches the client as a reset", end == "reset", end)
        c.check("agent a logs the peer's reset", a_logged(rig.a, "peer reset the stream"))

        # SIGTERM of the listen-side agent with a stream open: RESET shutdown;
        # both ends see a reset, the agent exits 0.
        s = socket.create_connection(("127.0.0.1", lport), timeout=10)
        s.sendall(b"w" * 1000)
        h.wait_for(lambda: srv.accepted == 5, timeout=5)
        time.sleep(0.3)
        c.check("SIGTERM with a stream open: agent a exits 0", rig.a.stop() == 0)
        c.check("... the local client is reset", read_end(s) == "reset")
        c.check("... the server behind b is reset",
                h.wait_for(lambda: len(srv.ends) == 5, timeout=5) and srv.ends[4] == "reset",
                srv.ends)
        c.check("... agent b was told why", a_logged(rig.b, "reason 4: agent shutting down"))
        lport2 = ah.free_port()
        rig.a = rig.agent("a2", rig.tokens["a"], "--listen", "127.0.0.1:%d" % lport2)
        c.check("a new listen-side agent comes online", rig.a.wait_log("online via relay"))
        lport = lport2

        # Target down: connect_failed -> the client is reset, not closed cleanly.
        srv.close()
        s = socket.create_connection(("127.0.0.1", lport), timeout=10)
        end = read_end(s)
        c.check("target down: client sees a reset", end == "reset", end)
        c.check("agent b logs the failed local connect",
                "connect to the local target failed" in rig.b.log())
        c.check("agent a logs the reason (connect_failed)", "reason 2" in rig.a.log())
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


def a_logged(agent, text):
    return h.wait_for(lambda: text in agent.log(), timeout=5)


def read_end(s):
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return "eof"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
