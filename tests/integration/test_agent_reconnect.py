#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent and a relay that dies:
  - kill -9 of the relay while a stream is open: the local connection at the
    listen side ends in a reset (never a clean close: the data was cut);
  - the agents keep dialling (with backoff) and, once the relay is back on
    the same address, reconnect alone; a new stream works within seconds;
  - a frozen relay (SIGSTOP) is detected as dead by the keepalive within
    dead_after, the agents reconnect after SIGCONT;
  - the attempts while the relay is down are spaced (no hot loop).
"""
import re
import signal
import socket
import sys
import time

import agentharness as ah
import lrharness as h



def main():
    c = h.Checks()
    rig = ah.Rig(fixed_port=True)
    try:
        r = rig.start_relay()
        lport, srv = rig.pair("echo")
        c.check("stream works before the kill", ah.works(lport, 200000))

        # A stream in flight when the relay dies.
        s = socket.create_connection(("127.0.0.1", lport), timeout=15)
        s.sendall(b"z" * 50000)
        got = 0
        while got < 50000:
            got += len(s.recv(65536))
        r.proc.kill()
        r.proc.wait()
        r.proc = None
        end = "eof"
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            end = "reset"
        except socket.timeout:
            end = "timeout"
        s.close()
        c.check("stream open at the kill ends in a reset", end == "reset", end)
        c.check("... at the device side too",
                h.wait_for(lambda: "reset" in srv.ends, timeout=5), srv.ends)
        c.check("agent a logs the lost control connection",
                rig.a.wait_log("control connection lost", timeout=5))
        # The first retry is polled for; then, 3 s on, the count is bounded
        # from above by the backoff (delays from [d/2, d], d doubling from
        # backoff_min >= 500 ms: at most 5 attempts fit in 3 s), which a
        # slower machine only lowers.
        t_lost = time.monotonic()
        c.check("retries while the relay is down",
                h.wait_for(lambda: rig.a.count("connect failed") >= 1, timeout=15, step=0.1))
        time.sleep(max(0.0, t_lost + 3 - time.monotonic()))
        attempts = rig.a.count("connect failed")
        c.check("... spaced (no hot loop)", 1 <= attempts <= 8, attempts)
        c.check("refused is named", "refused" in rig.a.log())

        # Restart on the same address; the agents come back alone.
        n_online_a, n_online_b = rig.a.count("online via relay"), rig.b.count("online via relay")
        t0 = time.time()
        r.start()
        ok = h.wait_for(lambda: rig.a.count("online via relay") > n_online_a
                        and rig.b.count("online via relay") > n_online_b, timeout=15)
        c.check("both agents reconnect after the restart", ok)
        ok = h.wait_for(lambda: ah.works(lport, 200000), timeout=10, step=0.2)
        took = time.time() - t0
        # The agents were backing off while the relay was down: each waits at
        # most the last delay it logged before it dials again, then a
        # handshake and a stream, given 5 s on a loaded machine.
        delays = [int(m) for a in (rig.a, rig.b)
                  for m in re.findall(r"reconnecting in (\d+) ms", a.log())]
        bound = max(delays or [0]) / 1000.0 + 5
        c.check("a new stream works within the agents' backoff + 5 s of the restart",
                ok and took < bound, "%.1f s (bound %.1f s)" % (took, bound))

        # Frozen relay: keepalive notices.
        r.proc.send_signal(signal.SIGSTOP)
        try:
            dead = rig.a.wait_log("relay dead", timeout=10)
        finally:
            r.proc.send_signal(signal.SIGCONT)
        c.check("frozen relay detected as dead by the keepalive", dead)
        n_online_a = rig.a.count("online via relay")
        ok = h.wait_for(lambda: rig.a.count("online via relay") > n_online_a, timeout=20)
        c.check("agent a back online after SIGCONT", ok)
        ok = h.wait_for(lambda: ah.works(lport, 200000), timeout=15, step=0.3)
        c.check("streams work again after the freeze", ok)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
