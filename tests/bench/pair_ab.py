# SPDX-License-Identifier: MIT
"""End-to-end new streams: two builds side by side, interleaved in one run.

Usage: /usr/bin/python3 tests/bench/pair_ab.py [--ssh] [--new-agent-args A] [--base-agent-args A]
           NEW_BUILD BASE_BUILD [STREAMS [REPS [RATE]]]
Both builds need -DLR_BENCH=ON. Each build runs its own relay and its own
two agents (linkrelay and linkagent from that build; lr_bench from
NEW_BUILD); `lr_bench pair --n STREAMS --window 64` (as fast as possible,
64 being set up at once; paced with RATE, below) runs on each in turn, the
order reversed every repetition. Prints the median over the repetitions of new streams/s and
of the CPU µs per stream of the relay, each agent and the client, with
the load average before and after (docs/performance.md, design.md D45).
With RATE (new streams/s, paced; 256 set up at once, as run.py's paced
pairing) it also prints the time to first byte p50 and p99 (D51).
A is more linkagent options for both agents of that side, separated by
spaces: --new-agent-args "--keep-legs 256" with the same build twice
compares agent settings (design.md D56). --ssh adds the SSH tunnel of
run.py to each repetition (its streams/s and the ratios new / ssh and
base / ssh of the medians: issue 14's line).
Uses run.py's process setup and cleanup.
"""
import atexit
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402


def main():
    args = sys.argv[1:]
    agent_args = {"--new-agent-args": [], "--base-agent-args": []}
    with_ssh = False
    while args and (args[0] == "--ssh" or (args[0] in agent_args and len(args) > 1)):
        if args[0] == "--ssh":
            with_ssh, args = True, args[1:]
            continue
        agent_args[args[0]] = args[1].split()
        args = args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    new, base = args[0], args[1]
    n = int(args[2]) if len(args) > 2 else 2000
    reps = int(args[3]) if len(args) > 3 else 8
    rate = int(args[4]) if len(args) > 4 else 0
    env = B.Env(os.path.abspath(new))
    atexit.register(env.cleanup)
    sets = []
    for name, build in (("new", new), ("base", base)):
        env.agent_bin = os.path.join(os.path.abspath(build), "agent", "linkagent")
        env.relay_bin = os.path.join(os.path.abspath(build), "relay", "linkrelay")
        relay = B.Relay(env).start()
        agents = B.Agents(env, relay, link="e2e-" + name,
                          extra=agent_args["--%s-agent-args" % name]).start()
        agents.name = name
        sets.append(agents)
    if with_ssh:
        ssh = B.Ssh(env).start()
        ssh.name = "ssh"
        sets.append(ssh)
    print("load before", " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)
    res = {s.name: [] for s in sets}
    for i in range(reps):
        for s in (sets if i % 2 == 0 else sets[::-1]):
            kv, cpu = B.bench(env, s, "pair", ["--n", n, "--rate", rate, "--window",
                                               256 if rate else 64],
                              timeout=300 + (n / rate if rate else 0))
            ok = int(kv["pair.ok"])
            row = {"new streams/s": float(kv["pair.rate"])}
            if rate:
                row.update({"TTFB %s µs" % q: float(kv["pair.%s_us" % q]) for q in ("p50", "p99")})
            row.update({"%s µs/stream" % k: v / ok * 1e6 for k, v in cpu.items()
                        if s.name != "ssh" or k == "client"})
            res[s.name].append(row)
    for name, rows in res.items():
        print("%-5s %s" % (name, "  ".join("%s %.0f (%.0f–%.0f)" % (
            k, statistics.median(r[k] for r in rows), min(r[k] for r in rows),
            max(r[k] for r in rows)) for k in rows[0])), flush=True)
    if with_ssh:
        med = {k: statistics.median(r["new streams/s"] for r in rows) for k, rows in res.items()}
        print("new / ssh %.2f  base / ssh %.2f" % (med["new"] / med["ssh"], med["base"] / med["ssh"]),
              flush=True)
    print("load after", " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)


if __name__ == "__main__":
    main()
