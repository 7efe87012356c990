#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A RESUME lost with its control session is asked again at once on the next
session (agent/link.c on_session_down → stream_resume_failed).

Found by test_resume_uplink_down: when the host agent's leg check suspended
the stream just before its control session was found dead, the RESUME went
out on the dying session and counted as outstanding for STREAM_SETUP_MS
(15 s) — on the new session the stream waited that out (7 s after the
uplink came back, in about half the runs), and with a resume_timeout below
15 s it was reset although the path was back.

Made deterministic here, on loopback inside a private network namespace
(unshare -n; needs root, unshare, nft and ss with socket destroy, else exit
77): an nft rule drops what side a sends on its control connection, so
nothing it sends there reaches the relay; the relay's end of side a's stream
leg is destroyed (`ss -K`: an RST to the agent), so side a suspends the
stream and sends RESUME into the void; the relay hears nothing from side a
for dead_after (3 s) and closes its session; the rule goes, side a
reconnects. Both agents run with resume_timeout 14 s, below STREAM_SETUP_MS:
a stream that waits for the lost RESUME to time out is reset at 14 s, by
construction; one that asks again on the new session resumes. Checked: both
agents resume, the bytes sent after the resumption arrive, and neither
agent resets the stream.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

import agentharness as ah
import lrharness as h

SKIP = 77
RESUME_TIMEOUT = "14s"  # below STREAM_SETUP_MS (agent/stream.h, 15 s)


def reexec_in_netns():
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "ss", "nft")):
        print("SKIP: needs root, unshare, ss and nft")
        return SKIP
    env = dict(os.environ, LR_IN_NETNS="1")
    return subprocess.run(["unshare", "-n", sys.executable] + sys.argv, env=env).returncode


def ports_of(pid, relay_port):
    """Local ports of pid's established TCP connections to relay_port."""
    r = subprocess.run(["ss", "-Htnp", "state", "established", "( dport = :%d )" % relay_port],
                       capture_output=True, text=True, check=True)
    out = []
    for line in r.stdout.splitlines():
        if "pid=%d," % pid in line:
            out.append(int(line.split()[2].rsplit(":", 1)[1]))
    return sorted(out)


def destroy(relay_port, agent_port):
    """Destroys the relay's end of one connection (the agent gets an RST)."""
    subprocess.run(["ss", "-K", "-Htn", "state", "established",
                    "( sport = :%d and dport = :%d )" % (relay_port, agent_port)],
                   capture_output=True, check=True)


def send_q(relay_port, agent_port):
    """Bytes side a's end of a connection to the relay has not had ACKed."""
    r = subprocess.run(["ss", "-Htn", "state", "established",
                        "( sport = :%d and dport = :%d )" % (agent_port, relay_port)],
                       capture_output=True, text=True)
    f = r.stdout.split()
    return int(f[1]) if len(f) > 1 else -1


def block(agent_port, relay_port):
    """Drops every packet side a sends on one connection to the relay."""
    subprocess.run(["nft", "add", "table", "inet", "lrstale"], check=True)
    subprocess.run(["nft", "add", "chain", "inet", "lrstale", "in",
                    "{ type filter hook input priority 0; }"], check=True)
    subprocess.run(["nft", "add", "rule", "inet", "lrstale", "in", "tcp", "sport",
                    str(agent_port), "tcp", "dport", str(relay_port), "drop"], check=True)


def unblock():
    subprocess.run(["nft", "delete", "table", "inet", "lrstale"], check=False,
                   capture_output=True)


def can_destroy():
    """ss -K needs CONFIG_INET_DIAG_DESTROY: try it on a connection of ours."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    c = socket.create_connection(ls.getsockname())
    s, _ = ls.accept()
    destroy(ls.getsockname()[1], c.getsockname()[1])
    c.settimeout(2)
    try:
        c.recv(1)
        ok = False
    except ConnectionResetError:
        ok = True
    except OSError:
        ok = False
    for x in (c, s, ls):
        x.close()
    return ok


def main():
    if os.environ.get("LR_IN_NETNS") != "1":
        return reexec_in_netns()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if not can_destroy():
        print("SKIP: ss -K (socket destroy) does not work here")
        return SKIP
    c = h.Checks()
    rig = ah.Rig(fixed_port=True)
    blocked = False
    try:
        r = rig.start_relay()  # lrharness.FAST_LIMITS: keepalive 1 s, dead_after 3 s
        rport = int(r.addr.rsplit(":", 1)[1])
        args = ("--resume-timeout", RESUME_TIMEOUT)
        lport, srv = rig.pair("echo", a_args=args, b_args=args)
        a, b = rig.a, rig.b
        ctl = ports_of(a.proc.pid, rport)
        c.check("side a has one connection to the relay before the stream", len(ctl) == 1, ctl)
        s = socket.create_connection(("127.0.0.1", lport), timeout=30)
        s.sendall(b"before")
        got = b""
        while len(got) < 6:
            got += s.recv(6 - len(got))
        c.check("stream works before the fault", got == b"before", got)
        legs = [p for p in ports_of(a.proc.pid, rport) if p not in ctl]
        c.check("side a's stream leg found", len(legs) == 1, legs)
        mark_a, mark_b = len(a.log()), len(b.log())

        block(ctl[0], rport)
        blocked = True
        q0 = send_q(rport, ctl[0])
        destroy(rport, legs[0])
        c.check("side a suspends the stream (its leg was reset)",
                h.wait_for(lambda: "suspended, resuming" in a.log()[mark_a:], timeout=10))
        # The RESUME follows the log line in the same callback: wait until
        # side a's control socket holds more unacknowledged bytes than before.
        c.check("side a's RESUME went into the blocked control connection",
                h.wait_for(lambda: send_q(rport, ctl[0]) > q0, timeout=5),
                (q0, send_q(rport, ctl[0])))
        c.check("side a's control session is down (the relay closed it: dead_after)",
                h.wait_for(lambda: "reconnecting in" in a.log()[mark_a:], timeout=30))
        unblock()
        blocked = False
        t0 = time.time()
        ok = h.wait_for(lambda: "stream resumed on a new leg" in a.log()[mark_a:]
                        and "stream resumed on a new leg" in b.log()[mark_b:]
                        or "not resumed within resume_timeout" in a.log()[mark_a:], timeout=30)
        took = time.time() - t0
        c.check("both agents resume the stream on side a's next session (resume_timeout %s)"
                % RESUME_TIMEOUT, ok and "not resumed" not in a.log()[mark_a:],
                "%.1f s after the control connection was unblocked" % took)
        s.sendall(b"after")
        got = b""
        s.settimeout(20)
        try:
            while len(got) < 5:
                d = s.recv(5 - len(got))
                if not d:
                    break
                got += d
        except OSError as e:
            got = repr(e).encode()
        c.check("bytes sent after the resumption come back", got == b"after", got)
        c.check("neither agent reset the stream", "resetting" not in a.log() + b.log())
        s.close()
        print("figures: resumed %.1f s after the control connection was unblocked" % took,
              flush=True)
    finally:
        if blocked:
            unblock()
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
