#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay ticket pairing (docs/protocol.md §6.1):
- 1,000 trials where both legs connect and present their tickets at once
  (alternating which connects first): every one pairs, 0 failures;
- a lone leg waits; when its ticket expires it is reset and the opener gets
  OPEN_FAIL timeout (checked with lr_testpeer session + a raw leg);
- the stream table is empty afterwards.
"""
import sys
import time

import lrharness as h


def main():
    c = h.Checks()
    r = h.Relay(limits={"conn_rate_per_ip": "100000/s", "conn_burst_per_ip": "100000"})
    try:
        r.start()
        link = r.add_link("race")
        h.wait_for(lambda: r.admin("links")["links"])
        t0 = time.time()
        rc, kv, out = r.peer(link, "pair", "--mode", "race", "--count", "1000", timeout=300)
        c.check("1000 simultaneous-arrival trials: all paired", rc == 0
                and kv.get("race.paired") == "1000" and kv.get("race.failed") == "0", out[-300:])
        print("1000 trials in %.1f s" % (time.time() - t0))
        st = h.wait_for(lambda: (lambda s: s if s["streams_open"] == 0 else None)(r.status()))
        c.check("no stream left open", st is not None)
        st = r.status()
        c.check("1000 streams counted", st["streams_total"] == 1000, st["streams_total"])
        c.check("no refusals", st["auth_failures"] == 0, st["failures"])
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
