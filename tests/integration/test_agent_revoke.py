#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A link revoked while a resumable stream is open (docs/design.md D44):
`linkctl link revoke` makes the relay reset the stream's legs and send
CLOSE revoked on both control sessions. Both agents reset the local
connection at once: the applications see a reset, not a wait of
resume_timeout for a RESUME that no relay will answer (the agents before
D44 kept a stream whose leg the relay reset suspended until resume_timeout,
then reset it). The agents run with --resume-timeout 20s, so "before
resume_timeout" separates the two by construction; the time from linkctl's
start to the later reset is printed
(the relay resets the stream before linkctl returns).
"""
import socket
import sys
import time

import agentharness as ah
import lrharness as h
from test_agent_resume import Target

RESUME_S = 20.0


def main():
    c = h.Checks()
    tgt = Target()
    rig = ah.Rig()
    try:
        rig.start_relay()
        out = rig.link("rv")
        lport = ah.free_port()
        rt = ["--resume-timeout", "%ds" % RESUME_S]
        b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % tgt.port, *rt)
        a = rig.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport, *rt)
        c.check("agents online", a.wait_log("online via relay") and b.wait_log("online via relay")
                and h.wait_for(lambda: "peer online" in a.log() + b.log(), timeout=10))
        cli = socket.create_connection(("127.0.0.1", lport), timeout=30)
        srv = tgt.accept()
        cli.sendall(b"ping")
        c.check("stream open", srv.recv(4) == b"ping")
        srv.sendall(b"pong")
        c.check("both ways", cli.recv(4) == b"pong")
        wa, wb = ah.EndWatch(cli), ah.EndWatch(srv)
        t_rev = time.time()
        r = rig.relay.ctl("link", "revoke", "rv", check=False)
        c.check("linkctl link revoke", r.returncode == 0, r.stderr)
        wa.th.join(RESUME_S + 30)
        wb.th.join(RESUME_S + 30)
        c.check("host application: reset", wa.how == "reset", wa.how)
        c.check("device application: reset", wb.how == "reset", wb.how)
        if wa.t_end and wb.t_end:
            took = max(wa.t_end, wb.t_end) - t_rev
            print("both applications reset %.3f s after linkctl link revoke started" % took)
            c.check("reset before resume_timeout (%.0f s)" % RESUME_S, took < RESUME_S, took)
        for ag in (a, b):
            c.check("agent %s says why" % ag.name,
                    "link revoked; resetting the local connection" in ag.log(), ag.log()[-1500:])
            c.check("agent %s did not wait for a resumption" % ag.name,
                    "not resumed within resume_timeout" not in ag.log())
        cli.close()
        srv.close()
    finally:
        if c.failed:
            rig.dump()
        rig.close()
        tgt.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
