#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The relay holds only the links it serves (docs/design.md D42, issue 15
"Scale"), with 200,000 links in the registry (tests/bench/genlinks.py, one
transaction):
- after start the relay holds no link (admin links empty, linkrelay_links 0,
  no link read from the registry): its start and memory do not depend on the
  links nobody connects;
- a stream on a link not loaded at start works: its AUTH read it by id
  (linkrelay_registry_link_reads_total), and the relay then holds exactly
  that link;
- a wrong key for a second link is refused as before (bad_key), the refusal
  kept for `linkctl probe`;
- `linkctl link revoke` of the connected link resets its live stream and
  closes both sessions with CLOSE revoked, as with every link loaded;
- with the link's sessions and streams gone, the relay lets the link go after
  link_linger (1 s here): linkrelay_links back to the one link kept for its
  refusal; the revoked link, named again, is read again and refused revoked.
Nothing here is timed: every wait is for an event, with a generous bound.
"""
import os
import re
import sys

import lrharness as h
import promharness as ph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import genlinks  # noqa: E402

N_LINKS = 200000


def metric(port, name):
    return ph.value(ph.scrape_after(port), name)


def main():
    c = h.Checks()
    r = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0", "link_linger": "1s"})
    try:
        secs, real = genlinks.fill(h.LINKCTL, r.dir, N_LINKS, real=2,
                                   agent=os.path.join(h.BUILD, "agent", "linkagent"))
        print("filled %d links in %.1f s" % (N_LINKS, secs))
        count = r.ctl_json("link", "list")["links"]
        c.check("the registry has %d links" % N_LINKS, len(count) == N_LINKS, len(count))
        r.start()
        port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", r.log()).group(1))
        c.check("after start the relay holds no link", r.admin("links")["links"] == [])
        c.check("linkrelay_links is 0", metric(port, "linkrelay_links") == 0)
        c.check("no link read at start", metric(port, "linkrelay_registry_link_reads_total") == 0)

        live = {"id": real[0][0], "a": real[0][1], "b": real[0][2]}
        other = {"id": real[1][0], "a": real[1][2], "b": real[1][1]}  # keys swapped
        pv = r.peer_bg(live, "pair", "--mode", "hold", "--hold-ms", "120000")
        rv = h.Reader(pv)
        c.check("a stream on a link not loaded at start",
                h.wait_for(lambda: rv.find("holding=1"), 60), rv.text()[-500:])
        c.check("its AUTHs read it from the registry",
                metric(port, "linkrelay_registry_link_reads_total") >= 1)
        held = [l["id"] for l in r.admin("links")["links"]]
        c.check("the relay holds exactly that link", held == [live["id"]], held)
        c.check("linkrelay_links is 1", metric(port, "linkrelay_links") == 1)

        rc, kv, out = r.peer(other, "session", "--side", "a", "--hold-ms", "100")
        c.check("a wrong key of another link is refused", "s.welcome" not in out, out[-300:])
        fails = {l["id"]: l for l in r.admin("links")["links"]}
        c.check("the refusal is kept for linkctl probe",
                other["id"] in fails and (fails[other["id"]]["a"]["auth_fail"] or {}).get("count") == 1,
                fails.get(other["id"]))

        r.ctl("link", "revoke", live["id"])
        c.check("revoke: the live stream is reset",
                h.wait_for(lambda: rv.find("a.close reason=revoked")
                           and rv.find("b.close reason=revoked"), 30), rv.text()[-800:])
        pv.wait(60)
        c.check("the revoked link leaves the relay after link_linger",
                h.wait_for(lambda: live["id"] not in
                           [l["id"] for l in r.admin("links")["links"]], 60),
                r.admin("links"))
        c.check("linkrelay_links counts only the link kept for its refusal",
                metric(port, "linkrelay_links") == 1)
        rc, kv, out = r.peer(live, "session", "--side", "a", "--hold-ms", "100")
        c.check("named again, it is read again and refused revoked",
                "s.close reason=revoked" in out, out[-300:])
    finally:
        r.stop()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
