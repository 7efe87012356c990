#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent end to end through a real linkrelay: two agents started from the
two enrollment tokens of `linkctl link add`; an echo server behind the connect
side (b); through the listen side (a):
  - 100 MiB of random bytes come back with the same SHA-256;
  - 200 concurrent connections each moving 1 MiB all come back intact;
  - SIGTERM stops both agents with exit status 0 after a clean loop close.
"""
import hashlib
import os
import signal
import sys
import threading
import time

import agentharness as ah
import lrharness as h

MIB = ah.MIB


def main():
    c = h.Checks()
    limits = {"max_pending": "4096", "max_pending_per_ip": "2048", "conn_rate_per_ip": "5000/s",
              "conn_burst_per_ip": "5000", "max_streams_per_link": "1024",
              "ticket_expiry": "10s", "handshake_timeout": "10s",
              # 400 Python threads share one core's worth of GIL on a loaded
              # machine: a connection can go unread for seconds, which the
              # fast 3 s write_stall_timeout would turn into a reset. Stalls
              # are test_relay_slowreader's subject, not this test's.
              "write_stall_timeout": "60s"}
    rig = ah.Rig(limits=limits)
    try:
        rig.start_relay()
        lport, srv = rig.pair("echo")
        data = os.urandom(100 * MIB)
        t0 = time.time()
        got, end = ah.roundtrip(lport, data, timeout=120)
        secs = time.time() - t0
        c.check("100 MiB echoed back intact",
                len(got) == len(data) and hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
                "got %d bytes, end %s" % (len(got), end))
        c.check("100 MiB: clean end (EOF, not reset)", end == "eof", end)
        print("100 MiB round trip in %.2f s (%.0f MiB/s each way)" % (secs, 100 / secs))
        del data, got

        n, size = 200, MIB
        results = [None] * n
        blobs = [os.urandom(size) for _ in range(n)]

        def one(i):
            try:
                g, e = ah.roundtrip(lport, blobs[i], timeout=120)
                results[i] = (g == blobs[i], e, len(g))
            except Exception as ex:  # noqa: BLE001 - recorded as a failure
                results[i] = (False, repr(ex), 0)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        bad = [(i, r) for i, r in enumerate(results) if r is None or not r[0] or r[1] != "eof"]
        c.check("200 concurrent x 1 MiB all intact", not bad, bad[:5])
        print("200 x 1 MiB in %.2f s" % (time.time() - t0))
        c.check("server saw every connection", srv.accepted == n + 1, srv.accepted)
        # The legs a keeps for its next streams (D48) and its shared legs
        # (D58) are the only streams the relay still has open.
        def kept():
            _, js, _ = rig.a.status()
            k = js["agents"][0]["links"][0]["kept_legs"] if js else None
            return k["idle_opener"] + k["shared_opener"] if k else -1
        ok = h.wait_for(lambda: rig.relay.status()["streams_open"] == kept() <= 64, timeout=10)
        c.check("relay: no stream left open but a's idle kept legs", ok,
                (rig.relay.status()["streams_open"], kept()))

        for a in (rig.a, rig.b):
            rc = a.stop(signal.SIGTERM)
            c.check("agent %s: SIGTERM exits 0" % a.name, rc == 0, rc)
            c.check("agent %s: stopped cleanly" % a.name, "linkagent: info: stopped" in a.log())
            c.check("agent %s: no handles left" % a.name, "handles left open" not in a.log())
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
