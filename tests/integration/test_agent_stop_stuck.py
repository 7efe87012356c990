#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent stops on SIGTERM within a bounded time even when a stream leg
is stuck (docs/internals/agent.md, "Lifetimes and the close path"):
  - a bulk transfer runs through the link both ways; the relay process is
    stopped (SIGSTOP), so both agents' stream legs stop draining: the relay's
    kernel buffers fill and the agents' write queues stay non-empty;
  - SIGTERM to both agents: each sends its RESET record, cannot flush it,
    resets the leg after the 2 s flush deadline and exits 0 (which
    linkagent only does when uv_loop_close() == 0) within that + 3 s;
  - each logs that the leg did not drain.
The relay is continued (SIGCONT) and stopped by PID afterwards, also when a
check fails.
"""
import os
import signal
import socket
import sys
import threading
import time

import agentharness as ah
import lrharness as h

# The agent's flush deadline (STREAM_FLUSH_MS, 2 s, agent/stream.h), then handle teardown,
# with 3 s of margin for a loaded machine (ctest -j2 under ASan): a leg whose
# reset waited for the relay to drain it would never exit at all.
FLUSH_DEADLINE_S = 2.0
EXIT_WITHIN_S = FLUSH_DEADLINE_S + 3.0


def main():
    c = h.Checks()
    rig = ah.Rig()
    stopped = [False]
    try:
        r = rig.start_relay()
        # Resumption off: with it the sender stops at resume_buffer bytes
        # unacknowledged, before the legs' kernel buffers fill, so the legs
        # would drain (this test is about legs that cannot).
        off = ("--resume-timeout", "0")
        lport, srv = rig.pair("echo", a_args=off, b_args=off)
        s = socket.create_connection(("127.0.0.1", lport), timeout=5)
        sent = [0]
        stop = threading.Event()

        def push():
            block = os.urandom(65536)
            try:
                while not stop.is_set():
                    sent[0] += s.send(block)
            except OSError:
                pass

        def drain():
            try:
                while not stop.is_set() and s.recv(1 << 16):
                    pass
            except OSError:
                pass

        threads = [threading.Thread(target=f, daemon=True) for f in (push, drain)]
        for t in threads:
            t.start()
        c.check("transfer flowing", h.wait_for(lambda: sent[0] > 4 * ah.MIB, timeout=10),
                sent[0])
        os.kill(r.proc.pid, signal.SIGSTOP)
        stopped[0] = True
        # Stuck: the client cannot push any more (every buffer on the way is full).
        last = -1
        deadline = time.time() + 10
        while time.time() < deadline and sent[0] != last:
            last = sent[0]
            time.sleep(0.7)
        c.check("the transfer is stuck with the relay stopped", sent[0] == last, sent[0])
        t0 = time.time()
        for a in (rig.a, rig.b):
            a.send_signal(signal.SIGTERM)
        for a in (rig.a, rig.b):
            try:
                rc = a.proc.wait(max(0.1, EXIT_WITHIN_S - (time.time() - t0)))
            except Exception:
                rc = "still running"
            took = time.time() - t0
            c.check("agent %s exits 0 within %.0f s of SIGTERM with a stuck leg"
                    % (a.name, EXIT_WITHIN_S), rc == 0, "%s after %.1f s" % (rc, took))
        c.check("agent a logs that the leg did not drain",
                rig.a.count("did not drain within 2000 ms; resetting it") >= 1)
        c.check("agent a stopped cleanly", "stopped" in rig.a.log())
        stop.set()
        ah.reset_close(s)
    finally:
        if stopped[0] and rig.relay.proc is not None:
            os.kill(rig.relay.proc.pid, signal.SIGCONT)
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
