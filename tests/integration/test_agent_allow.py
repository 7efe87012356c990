#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Source allowlists (docs/design.md D27) with real agents in the NAT
topology of netns.py: the relay sees the device agent (side b) as r1's
public address 198.18.0.2 and the host agent (side a) as r2's, 198.18.0.3 —
two source addresses.

- both sides allowed by their own /32: the link works;
- `linkctl link set --allow-b 198.18.0.3` (another source) while the link is
  up: the relay closes side b's session (CLOSE source_not_allowed), side a
  stays up; the device agent logs the refusal with its address as the
  relay sees it and backs off (its log says so) instead of redialling at
  once; the relay counts (status failures), logs and records the refusals
  with the address; `linkctl probe` names it;
- `--allow-b 198.18.0.2/32` again: side b comes back by itself and the
  link carries a stream.
Each change is waited for with a generous deadline (applied when linkctl's
sync returns, at the latest by the next registry poll, 300 ms).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402
import natrig  # noqa: E402


def refused(c, rig, r):
    r.ctl("link", "set", "nat", "--allow-b", n.R2_PUB_IP)
    c.check("side b's session closed live", h.wait_for(
        lambda: (rig.live() or {}).get("b", {}).get("online") is False, timeout=15),
        rig.live())
    c.check("side a stays online", (rig.live() or {}).get("a", {}).get("online") is True,
            rig.live())
    dev = rig.dev_agent
    c.check("the agent logs the refusal with its address", dev.wait_log(
        "source_not_allowed", timeout=10) and n.R1_PUB_IP in dev.log(), dev.log()[-1500:])
    c.check("the agent backs off (long)", dev.wait_log(
        "source address not allowed; retrying in", timeout=10), dev.log()[-1500:])
    # A redial after the backoff (at most backoff_max = 2 s) is refused after AUTH.
    c.check("its redial is refused and counted", h.wait_for(
        lambda: r.status()["failures"].get("source_not_allowed", 0) >= 1, timeout=15),
        r.status()["failures"])
    c.check("the relay logs the address", h.wait_for(
        lambda: "link nat side b: source not allowed" in r.log() and n.R1_PUB_IP in r.log(),
        timeout=10), r.log()[-1500:])
    evs = [e for e in r.ctl_json("events", "--link", "nat")["events"]
           if e["kind"] == "source_not_allowed"]
    c.check("events with the address", evs and all(e["addr"].startswith(n.R1_PUB_IP)
                                                   for e in evs), evs)
    res = r.ctl("--json", "probe", "nat", check=False)
    probs = [x for x in json.loads(res.stdout)["problems"] if x["code"] == "source_not_allowed"]
    c.check("linkctl probe names it", probs and n.R1_PUB_IP in probs[0]["text"],
            res.stdout[-1500:])


def main():
    n.install_sigterm()
    c = h.Checks()
    with natrig.NatRig() as rig:
        try:
            r = rig.start_relay()
            rig.start_echo()
            rig.start_agents(keepalive="5s")
            r.ctl("link", "set", "nat", "--allow-a", n.R2_PUB_IP + "/32", "--allow-b",
                  n.R1_PUB_IP + "/32")
            c.check("allowed sources: the link works", rig.echo_ok(size=65536))
            c.check("allowed sources: both online", rig.both_online(timeout=5))
            refused(c, rig, r)
            r.ctl("link", "set", "nat", "--allow-b", n.R1_PUB_IP + "/32")
            c.check("allowed again: side b back", rig.both_online(timeout=20), rig.live())
            c.check("allowed again: the link works", rig.echo_ok(size=65536))
        except Exception:
            rig.dump()
            raise
        if c.failed:
            rig.dump()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
