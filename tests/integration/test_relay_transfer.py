#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay end to end: 100 MiB each way through one spliced pair at once
(SHA-256 of what was sent equals what arrived, both directions), eight such
streams at once on eight links, agents enrolled with linkctl's tokens, the live
counters of the admin socket, the accounting row persisted in the registry,
and a clean SIGTERM shutdown (exit 0, "stopped cleanly": uv_loop_close() == 0).
"""
import subprocess
import sys

import lrharness as h

MIB = 1024 * 1024


def main():
    c = h.Checks()
    r = h.Relay()
    try:
        r.start()
        link = r.add_link("bulk")
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
        # Enrollment tokens from linkctl carry link, side key, relay key and key id.
        out = r.ctl_json("link", "add", "tokens")
        res = subprocess.run([h.PEER, "--relay", r.addr, "--token", out["tokens"]["a"],
                              "--token", out["tokens"]["b"], "pair", "--bytes", "300000",
                              "--bytes-back", "200000"], capture_output=True, text=True,
                             timeout=60)
        c.check("agents enrolled by linkctl tokens stream through the relay",
                res.returncode == 0, res.stdout[-300:] + res.stderr)

        # Eight links at once, 16 MiB each way each: streams do not disturb each other.
        links = [r.add_link("par%d" % i) for i in range(8)]
        procs = [r.peer_bg(l, "pair", "--bytes", str(16 * MIB), "--bytes-back", str(16 * MIB))
                 for l in links]
        outs = [pr.communicate(timeout=300)[0] for pr in procs]
        c.check("8 concurrent streams, all bytes intact both ways",
                all(pr.returncode == 0 and h.parse_kv(o).get("a2b.match") == "1"
                    and h.parse_kv(o).get("b2a.match") == "1" for pr, o in zip(procs, outs)),
                [pr.returncode for pr in procs])
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
