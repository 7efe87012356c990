#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The relay-wide cap on bytes held for stream readers (docs/design.md D40,
held_total and held_floor in linkrelay.conf(5)): STALLED streams whose readers
take almost nothing (one byte every 100 ms) against writers going as fast as
they can, and one more stream that moves MIB each way while they are stalled.

Each stalled reader first reads 8 MiB at full speed: its direction is then
past D47's start (4 MiB), whose small splices and low unsent mark leave
far less in a stalled stream's pipe (8 streams held 256 KiB together).

held_total = 1M and held_floor = 4K. What the relay accounts (held_bytes_peak,
a high-water mark it keeps itself, so no sampling can miss a peak) must stay
at or under held_total + 2 x spliced streams x held_floor, by construction
(D40). The stalled streams must first bring the sum to the cap (waited for,
no timing assumed), and the cap must have held reads back (held_cap_total >
0, held_bytes >= held_total while they are stalled); then the flowing stream
must complete with its bytes intact (lr_testpeer's SHA-256 check) although
the stalled ones keep the sum at the cap. Status, linkctl status and the
metrics report the cap, and every held byte is released once the streams are
gone. With the cap disabled (holdcap_budget granting every read) this test
failed: before D47 the sum never reached the cap (the eight stalled
zero-copy streams held 512 KiB together after 120 s, readers not read fast
first) and nothing was held back; with the fast start the sum peaked at
7,235,226 bytes against the bound of 1,122,304, nothing held back.
"""
import re
import select
import sys
import time

import lrharness as h
import promharness as ph

KIB = 1024
MIB = KIB * KIB
HELD_TOTAL = MIB
HELD_FLOOR = 4 * KIB
STALLED = 8
FLOW_BYTES = 4 * MIB


def fast_done(peer, timeout):
    """True once lr_testpeer printed fast.done=1 (within timeout s)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([peer.stdout], [], [], deadline - time.time())
        if not ready:
            return False
        line = peer.stdout.readline()
        if not line:
            return False
        if line.strip() == "fast.done=1":
            return True
    return False


def metrics_port(r):
    pat = r"metrics on http://127\.0\.0\.1:(\d+)/"
    h.wait_for(lambda: re.search(pat, r.log()), 10)
    m = re.search(pat, r.log())
    return int(m.group(1)) if m else None


def main():
    c = h.Checks()
    r = h.Relay(limits={"held_total": "1M", "held_floor": "4K", "write_stall_timeout": "10m"},
                extra_relay={"metrics_listen": "127.0.0.1:0"})
    try:
        r.start()
        links = [r.add_link("stall%d" % i) for i in range(STALLED)]
        flow = r.add_link("flow")
        peers = [r.peer_bg(link, "pair", "--mode", "slowread", "--fast", str(8 * MIB),
                           "--read-rate", "1", "--hold-ms", "600000") for link in links]
        # Every reader past its fast start ("fast.done=1"), so no flowing
        # stream's pipe counts in the sum below.
        c.check("every stalled reader read its 8 MiB fast first",
                all(fast_done(p_, 120) for p_ in peers))
        # The writers fill the readers' kernel buffers first, then the
        # relay's: wait until the sum is at the cap (no timing assumed).
        full = h.wait_for(lambda: r.status()["held_bytes"] >= HELD_TOTAL, timeout=120, step=0.2)
        st = r.status()
        print("stalled: held %d (peak %d), cap %d, holds %d, streams open %d, zero-copy %d" %
              (st["held_bytes"], st["held_bytes_peak"], st["held_cap"], st["held_cap_total"],
               st["streams_open"], st["streams_zero_copy"]))
        c.check("the stalled streams brought the sum to the cap", full, st["held_bytes"])
        c.check("status reports the cap", st["held_cap"] == HELD_TOTAL, st["held_cap"])
        rc, kv, out = r.peer(flow, "pair", "--bytes", str(FLOW_BYTES), "--bytes-back",
                             str(FLOW_BYTES), timeout=300)
        print(out)
        c.check("a stream flows while the stalled ones hold the cap (SHA-256 both ways)",
                rc == 0, out)
        st = r.status()
        bound = HELD_TOTAL + 2 * (STALLED + 1) * HELD_FLOOR
        print("after: held %d (peak %d), bound %d, holds %d, queued peak %d, zero-copy queued "
              "peak %d" % (st["held_bytes"], st["held_bytes_peak"], bound, st["held_cap_total"],
                           st["queued_bytes_peak"], st["zero_copy_queued_bytes_peak"]))
        c.check("held bytes never above held_total + 2 x streams x held_floor",
                HELD_TOTAL <= st["held_bytes_peak"] <= bound,
                "%d of %d" % (st["held_bytes_peak"], bound))
        c.check("the cap held reads back", st["held_cap_total"] > 0, st["held_cap_total"])
        c.check("the stalled streams still hold bytes at the cap",
                st["held_bytes"] >= HELD_TOTAL, st["held_bytes"])
        ms = ph.scrape_after(metrics_port(r))
        m = {k: ph.value(ms, k) for k in ("linkrelay_held_cap_bytes", "linkrelay_held_bytes",
                                          "linkrelay_held_cap_total")}
        c.check("metrics: held bytes, the cap and the holds",
                m["linkrelay_held_cap_bytes"] == HELD_TOTAL
                and (m["linkrelay_held_bytes"] or 0) >= HELD_TOTAL
                and (m["linkrelay_held_cap_total"] or 0) > 0, m)
        status_text = r.ctl("status").stdout
        c.check("linkctl status shows the held line",
                "of cap %d, reads held by the cap" % HELD_TOTAL in status_text, status_text)
        for p in r.peers:
            p.kill()
            p.wait()
        gone = h.wait_for(lambda: r.status()["streams_open"] == 0, timeout=60)
        st = r.status()
        c.check("every held byte released once the streams are gone",
                gone and st["held_bytes"] == 0 and st["queued_bytes"] == 0
                and st["zero_copy_queued_bytes"] == 0, st)
        c.check("clean shutdown", r.stop() == 0)
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
