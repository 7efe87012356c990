# SPDX-License-Identifier: MIT
"""End-to-end bulk only: SSH tunnel vs two agent builds, interleaved in one run.

Usage: /usr/bin/python3 tests/bench/e2e_ab.py [--new-limits L] [--base-limits L]
           [--new-agent-args A] [--base-agent-args A] NEW_BUILD BASE_BUILD [REPS [MS]]
Both builds need -DLR_BENCH=ON (lr_bench, linkrelay and linkctl come from
NEW_BUILD; only linkagent differs). L is [limits] lines separated by ";" for
the relay of that side, e.g. --base-limits "zero_copy_streams = 0" with the
same build twice compares relay settings. A is more linkagent options for both
agents of that side, separated by spaces: --new-agent-args "--cipher aes-256-gcm"
--base-agent-args "--cipher chacha20-poly1305" with the same build twice
compares the record suites (D37). Prints medians (min-max) of throughput and
CPU s/GB per process for 1 and 8 streams, with the load average before and
after. Uses run.py's process setup and cleanup (docs/performance.md).
"""
import atexit
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402


def main():
    args = sys.argv[1:]
    limits = {"--new-limits": "", "--base-limits": ""}
    agent_args = {"--new-agent-args": [], "--base-agent-args": []}
    while args and (args[0] in limits or args[0] in agent_args) and len(args) > 1:
        if args[0] in agent_args:
            agent_args[args[0]] = args[1].split()
        else:
            limits[args[0]] = "".join(l.strip() + "\n" for l in args[1].split(";") if l.strip())
        args = args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    new, base = args[0], args[1]
    reps = int(args[2]) if len(args) > 2 else 3
    ms = int(args[3]) if len(args) > 3 else 2000
    env = B.Env(os.path.abspath(new))
    atexit.register(env.cleanup)
    R = B.Results()
    print("load before", " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)
    ssh = B.Ssh(env).start()
    relay = B.Relay(env, extra_limits=limits["--new-limits"]).start()
    a_new = B.Agents(env, relay, extra=agent_args["--new-agent-args"]).start()
    a_new.name = "agents-new"
    env.agent_bin = os.path.join(os.path.abspath(base), "agent", "linkagent")
    relay2 = B.Relay(env, extra_limits=limits["--base-limits"]).start()
    a_base = B.Agents(env, relay2, extra=agent_args["--base-agent-args"]).start()
    a_base.name = "agents-base"
    roles = ("relay", "sshd", "ssh-R", "ssh-L", "agent-host", "agent-dev")
    for n in (1, 8):
        B.run_bulk(env, R, "e2e %d" % n, [ssh, a_base, a_new], n, False, ms, reps, roles)
    for k in R.order:
        print("%s | %s | %s | %s" % (k[0], k[1], k[2], R.fmt(k, 2)), flush=True)
    print("load after", " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)


if __name__ == "__main__":
    main()
