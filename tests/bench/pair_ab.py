#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end new streams of two builds side by side (docs/performance.md
"Link sessions"): each build's relay and two agents, the same pairing bench
(lr_bench pair: N new streams, 64 at a time, as fast as they go), REPS
repetitions, every other one in reverse order; prints the medians of new
streams/s and of CPU µs per stream of the relay, each agent and the client.

Usage: pair_ab.py NEW_BUILD BASE_BUILD N REPS   (builds with -DLR_BENCH=ON)
"""
import atexit
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402


def main():
    new, base = sys.argv[1], sys.argv[2]
    n, reps = int(sys.argv[3]), int(sys.argv[4])
    env = B.Env(os.path.abspath(new))
    atexit.register(env.cleanup)
    sets = []
    for name, build in (("new", new), ("base", base)):
        env.agent_bin = os.path.join(os.path.abspath(build), "agent", "linkagent")
        if hasattr(env, "relay_bin"):
            env.relay_bin = os.path.join(os.path.abspath(build), "relay", "linkrelay")
        r = B.Relay(env).start()
        a = B.Agents(env, r).start()
        a.name = name
        sets.append(a)
    res = {s.name: [] for s in sets}
    print("load", open("/proc/loadavg").read().split()[:3])
    for i in range(reps):
        for s in (sets if i % 2 == 0 else sets[::-1]):
            kv, cpu = B.bench(env, s, "pair", ["--n", n, "--rate", 0, "--window", 64])
            ok = int(kv["pair.ok"])
            row = {"rate": float(kv["pair.rate"])}
            row.update({k: v / ok * 1e6 for k, v in cpu.items()})
            res[s.name].append(row)
    for name, rows in res.items():
        print(name, " ".join("%s=%.0f" % (k, statistics.median(r[k] for r in rows))
                             for k in rows[0]))
    print("load", open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
