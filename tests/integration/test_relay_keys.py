#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay with two relay keys (docs/protocol.md §4.1): the key file holds a
current key (id 1) and a next key (id 2); an agent pinning either, with the
matching key id in its preamble, is served; a key id naming the other key, or
an unknown key id, is refused before message 2 and counted. The start-up log
shows both public keys; the admin status the current one.
"""
import os
import sys

import lrharness as h


def main():
    c = h.Checks()
    r = h.Relay()
    try:
        k1, p1 = h.keygen()
        k2, p2 = h.keygen()
        path = os.path.join(r.dir, "relay.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, ("# test\ncurrent 1 %s\nnext 2 %s\n" % (k1, k2)).encode())
        os.close(fd)
        r.start()
        c.check("current key served", r.relay_pub == p1 and r.key_id == 1)
        c.check("start-up log shows both keys", p1 in r.log() and p2 in r.log())
        link = r.add_link("k")
        h.wait_for(lambda: r.admin("links")["links"])
        rc, kv, out = r.peer(link, "session", "--side", "a", "--hold-ms", "200",
                             relay_pub=p1, key_id=1)
        c.check("agent pinning the current key (id 1) is served", rc == 0, out)
        rc, kv, out = r.peer(link, "pair", "--bytes", "10000", relay_pub=p2, key_id=2)
        c.check("agents pinning the next key (id 2) are served and stream", rc == 0, out)
        rc, kv, out = r.peer(link, "session", "--side", "a", "--hold-ms", "200",
                             relay_pub=p1, key_id=2)
        c.check("key id 2 with key 1 pinned: refused before message 2",
                rc != 0 and kv.get("failed") == "msg2", out)
        rc, kv, out = r.peer(link, "session", "--side", "a", "--hold-ms", "200",
                             relay_pub=p2, key_id=3)
        c.check("unknown key id refused", rc != 0 and kv.get("failed") == "msg2", out)
        f = r.status()["failures"]
        c.check("counted as handshake and key_id", f["handshake"] == 1 and f["key_id"] == 1, f)
    finally:
        if c.failed:
            print(r.log()[-3000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
