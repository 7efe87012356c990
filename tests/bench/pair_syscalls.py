# SPDX-License-Identifier: MIT
"""System calls per new stream end to end, and how many records one wake-up serves.

Usage: /usr/bin/python3 tests/bench/pair_syscalls.py BUILD [STREAMS [REPS]] [-- AGENT_ARGS]
BUILD needs -DLR_BENCH=ON. AGENT_ARGS are more linkagent options for both
agents (e.g. -- --keep-legs 256). Starts a relay and two agents of BUILD, warms the
link's kept legs with 500 streams, then REPS times (default 3) runs
`lr_bench pair --n STREAMS --window 64` (default 3,000) on kept legs while
`perf stat` counts the system calls of the relay and of each agent (kernel
tracepoints: no strace, so the processes run at full speed). Prints per
stream and process the median over the repetitions of epoll_wait, read,
write, writev and connect calls (the opener's connects are the new legs it
opened: streams that found no idle kept leg), of all system calls and of
page faults, and reads per epoll_wait return: how many records (the relay)
or events (an agent) one wake-up of the loop serves when streams are
opened as fast as possible. That is the factor by which streams sharing
one leg pair would cut the reads and writes (docs/design.md D57). Needs linux-perf (scripts/deps.sh bench). Uses
run.py's process setup and cleanup.
"""
import atexit
import os
import signal
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

CALLS = ("epoll_wait", "read", "write", "writev", "connect")


def counted(path):
    """perf stat -x, output: {event: count}."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and not line.startswith("#") and parts[0].isdigit():
                out[parts[2]] = int(parts[0])
    return out


def main():
    args, agent_args = sys.argv[1:], []
    if "--" in args:
        agent_args = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    if not args:
        sys.exit(__doc__)
    build = os.path.abspath(args[0])
    n = int(args[1]) if len(args) > 1 else 3000
    reps = int(args[2]) if len(args) > 2 else 3
    env = B.Env(build)
    atexit.register(env.cleanup)
    tmp = tempfile.mkdtemp(prefix="lr-pairsc-")
    atexit.register(lambda: subprocess.run(["rm", "-rf", tmp]))
    relay = B.Relay(env).start()
    agents = B.Agents(env, relay, extra=agent_args).start()
    procs = {"relay": relay.proc.pid, "opener's agent": agents.host_agent.pid,
             "answerer's agent": agents.dev_agent.pid}
    events = ",".join(["syscalls:sys_enter_%s" % c for c in CALLS] + ["raw_syscalls:sys_enter", "page-faults"])
    print("load before", " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)
    B.bench(env, agents, "pair", ["--n", 500, "--rate", 0, "--window", 64])
    rows = {k: [] for k in procs}
    rates = []
    for _ in range(reps):
        stats = {}
        for k, pid in procs.items():
            path = os.path.join(tmp, "%d.csv" % pid)
            stats[k] = (path, subprocess.Popen(["perf", "stat", "-x,", "-o", path, "-e", events,
                                                "-p", str(pid)], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        try:
            kv, _ = B.bench(env, agents, "pair", ["--n", n, "--rate", 0, "--window", 64])
        finally:
            for path, p in stats.values():
                p.send_signal(signal.SIGINT)
                p.wait(timeout=30)
        ok = int(kv["pair.ok"])
        rates.append(float(kv["pair.rate"]))
        for k, (path, _) in stats.items():
            c = counted(path)
            row = {name: c.get("syscalls:sys_enter_" + name, 0) / ok for name in CALLS}
            row["all"] = c.get("raw_syscalls:sys_enter", 0) / ok
            row["page faults"] = c.get("page-faults", 0) / ok
            row["reads per wake-up"] = row["read"] / row["epoll_wait"] if row["epoll_wait"] else 0
            rows[k].append(row)
    print("new streams/s %.0f (%.0f–%.0f), %d streams per repetition" % (
        statistics.median(rates), min(rates), max(rates), n), flush=True)
    for k, rs in rows.items():
        print("%-16s %s" % (k, "  ".join("%s %.2f" % (name, statistics.median(r[name] for r in rs))
                                         for name in rs[0])), flush=True)
    print("load after", " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)


if __name__ == "__main__":
    main()
