#!/usr/bin/python3
"""linkrelay end to end: 100 MiB each way through one spliced pair at once
(SHA-256 of what was sent equals what arrived, both directions), the live
counters of the admin socket, the accounting row persisted in the registry,
and a clean SIGTERM shutdown (exit 0, "stopped cleanly": uv_loop_close() == 0).
"""
import sys

import lrharness as h

MIB = 1024 * 1024


def main():
    c = h.Checks()
    r = h.Relay()
    try:
        r.start()
        link = r.add_link("bulk")
        h.wait_for(lambda: any(l["name"] == "bulk" for l in r.admin("links")["links"]))
        rc, kv, out = r.peer(link, "pair", "--bytes", str(100 * MIB),
                             "--bytes-back", str(100 * MIB))
        c.check("100 MiB a->b intact", kv.get("a2b.match") == "1"
                and kv.get("a2b.received") == str(100 * MIB), out)
        c.check("100 MiB b->a intact", kv.get("b2a.match") == "1"
                and kv.get("b2a.received") == str(100 * MIB))
        c.check("peer result ok", rc == 0 and kv.get("result") == "ok")
        print("elapsed_ms", kv.get("elapsed_ms"))
        st = r.status()
        c.check("status counts bytes a->b", st["bytes_a_to_b"] == 100 * MIB, st["bytes_a_to_b"])
        c.check("status counts bytes b->a", st["bytes_b_to_a"] == 100 * MIB)
        c.check("status counts the stream", st["streams_total"] == 1 and st["streams_open"] == 0)
        c.check("no failures counted", st["auth_failures"] == 0, st["failures"])
        links = r.admin("links")["links"]
        c.check("links shows per-link bytes",
                links[0]["bytes_a_to_b"] == 100 * MIB and links[0]["bytes_b_to_a"] == 100 * MIB)
        # Early data (sent after the ticket, before SPLICED) is forwarded in order.
        rc, kv, out = r.peer(link, "pair", "--bytes", "1000", "--early", "300")
        c.check("early bytes forwarded after SPLICED", rc == 0, out)
        exit_rc = r.stop()
        c.check("SIGTERM: exit status 0", exit_rc == 0, exit_rc)
        c.check("SIGTERM: loop closed cleanly", "stopped cleanly" in r.log())
        show = r.ctl_json("link", "show", "bulk")
        print("link show:", show)
        tot = show.get("totals", show)
        c.check("accounting persisted", tot.get("streams") == 2
                and tot.get("bytes_a_to_b") == 100 * MIB + 1000 + 300
                and tot.get("bytes_b_to_a") == 100 * MIB, tot)
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
