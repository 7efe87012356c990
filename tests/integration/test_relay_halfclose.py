#!/usr/bin/python3
"""linkrelay half-close and reset through the splice (docs/protocol.md §6.2):
- a sends 1 MiB and shuts down its write side; b reads to EOF, then replies
  1 MiB and closes; both receive every byte (SHA-256 checked);
- a resets its leg (SO_LINGER 0): b's leg is reset too (ECONNRESET, not EOF);
- 1,000 half-close cycles, then no relay socket is left in CLOSE-WAIT or
  FIN-WAIT-2 (ss -tan), and the relay holds no connection but the two control
  sessions.
"""
import subprocess
import sys
import time

import lrharness as h

MIB = 1024 * 1024


def relay_sockets(port, states):
    out = subprocess.run(["ss", "-tanH", "state", "all", "( sport = :%d )" % port],
                         capture_output=True, text=True).stdout
    bad = [l for l in out.splitlines() if l.split() and l.split()[0] in states]
    return bad


def main():
    c = h.Checks()
    # 1,000 cycles open 2,000 stream connections from one address in a few
    # seconds: above the default conn_rate_per_ip (tested in test_relay_limits).
    r = h.Relay(limits={"conn_rate_per_ip": "100000/s", "conn_burst_per_ip": "100000"})
    try:
        r.start()
        link = r.add_link("hc")
        h.wait_for(lambda: r.admin("links")["links"])
        rc, kv, out = r.peer(link, "pair", "--mode", "halfclose", "--bytes", str(MIB),
                             "--bytes-back", str(MIB), timeout=60)
        c.check("half-close: a->b 1 MiB intact", kv.get("a2b.match") == "1"
                and kv.get("a2b.received") == str(MIB), out)
        c.check("half-close: b->a 1 MiB after a's EOF intact", kv.get("b2a.match") == "1"
                and kv.get("b2a.received") == str(MIB))
        c.check("half-close: ok", rc == 0)

        rc, kv, out = r.peer(link, "pair", "--mode", "reset", "--bytes", str(64 * 1024),
                             timeout=60)
        c.check("reset on a -> reset on b", rc == 0 and kv.get("b.after_reset") == "reset", out)
        c.check("reset propagated within 1 s", int(kv.get("reset_ms", "99999")) < 1000,
                kv.get("reset_ms"))

        t0 = time.time()
        rc, kv, out = r.peer(link, "pair", "--mode", "halfclose", "--bytes", "1000",
                             "--bytes-back", "1000", "--count", "1000", timeout=600)
        c.check("1000 half-close cycles all complete", rc == 0 and kv.get("cycles") == "1000",
                out[-500:])
        print("1000 cycles in %.1f s" % (time.time() - t0))
        time.sleep(0.5)
        bad = relay_sockets(r.port, ("CLOSE-WAIT", "FIN-WAIT-2"))
        c.check("no relay socket in CLOSE-WAIT/FIN-WAIT-2", not bad, bad[:5])
        st = r.status()
        c.check("no stream left open", st["streams_open"] == 0, st["streams_open"])
        c.check("no connection left", st["conns"] == 0, st["conns"])
        c.check("streams counted", st["streams_total"] == 1002, st["streams_total"])
        c.check("clean shutdown", r.stop() == 0)
        show = r.ctl_json("link", "show", "hc")
        c.check("1002 streams accounted", show["totals"]["streams"] == 1002, show["totals"])
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
