#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay over IPv6: listening on [::1] (port 0) and 127.0.0.1 at once
(flags over the config file), agents on ::1 authenticate and stream; the admin
socket lists both bound addresses; per-address admission works for v6
sources. Skips when the host has no IPv6 loopback.
"""
import socket
import sys

import lrharness as h
import lrproto as p


def main():
    try:
        t = socket.socket(socket.AF_INET6)
        t.bind(("::1", 0))
        t.close()
    except OSError:
        print("SKIP: no IPv6 loopback")
        return 0
    c = h.Checks()
    r = h.Relay()
    try:
        r.start(["--listen", "[::1]:0", "--listen", "127.0.0.1:0"])
        st = r.status()
        c.check("both addresses bound", len(st["listen"]) == 2 and st["listen"][0].startswith(
            "[::1]:") and st["listen"][1].startswith("127.0.0.1:"), st["listen"])
        link = r.add_link("v6")
        h.wait_for(lambda: r.admin("links")["links"])
        rc, kv, out = r.peer(link, "pair", "--bytes", "2000000", "--bytes-back", "1000000")
        c.check("pair over IPv6 streams intact", rc == 0 and kv.get("a2b.match") == "1"
                and kv.get("b2a.match") == "1", out[-300:])
        sa = p.Session(r, link, 0)
        addr = r.admin("links")["links"][0]["a"]["addr"]
        c.check("session address shown as [v6]:port", addr.startswith("[::1]:"), addr)
        sa.close()
        s = p.connect(r)
        s.sendall(b"junk")
        d, how = p.read_until_close(s)
        c.check("v6 refusal counted", r.status()["failures"]["preamble"] == 1)
    finally:
        if c.failed:
            print(r.log()[-3000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
