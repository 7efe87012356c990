# SPDX-License-Identifier: MIT
"""Resumption on against off end to end (docs/design.md D24), in one run.

Usage: /usr/bin/python3 tests/bench/resume_ab.py [--rounds R] [--ms MS] [--pairs N] BUILD

BUILD needs -DLR_BENCH=ON. One linkrelay and two linkagent pairs through it,
one with resumption on (the default resume_timeout, 60 s) and one with
--resume-timeout 0 (off); otherwise the same binaries and settings. Each round
runs every test on both pairs, the order of the two alternating from round to
round: bulk through the agents for MS ms with 1 stream host->device,
device->host and both ways at once, then N new streams as fast as possible
(connect, 8 bytes, close; at most 64 being set up at once). Prints, per test,
the median (min-max) of each pair's figures over the rounds and of the
per-round ratio on/off, the CPU seconds per GB of each agent, and the relay's
zero-copy counters (linkctl status: streams_zero_copy_total and bytes) before
and after each bulk test, so that each bulk stream is seen to be spliced with
resumption on as off. The load average before and after. Uses run.py's
process setup and cleanup (docs/performance.md).
"""
import argparse
import atexit
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

BULK = (("1 stream host→device", []), ("1 stream device→host", ["--reverse"]),
        ("1 stream both ways", ["--both"]))


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def relay_counters(relay):
    st = relay.ctl("status")
    c = st.get("counters", st)
    return {k: int(c[k]) for k in ("streams_zero_copy_total", "streams_total", "bytes_a_to_b",
                                   "bytes_b_to_a")}


def fmt(v, digits=2):
    if not v:
        return "–"
    return "%.*f (%.*f–%.*f)" % (digits, statistics.median(v), digits, min(v), digits, max(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--ms", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=1000)
    args = ap.parse_args()
    env = B.Env(os.path.abspath(args.build))
    atexit.register(env.cleanup)
    load0 = load()
    print("load before", load0, flush=True)
    relay = B.Relay(env).start()
    modes = {"on": B.Agents(env, relay, [], "e2e-on").start(),
             "off": B.Agents(env, relay, ["--resume-timeout", "0"], "e2e-off").start()}
    s = {}  # (test, metric, mode) -> [values]

    def add(test, metric, mode, v):
        s.setdefault((test, metric, mode), []).append(v)

    zc_bad = []
    for rnd in range(args.rounds):
        order = ("on", "off") if rnd % 2 == 0 else ("off", "on")
        for test, extra in BULK:
            for mode in order:
                a = modes[mode]
                c0 = relay_counters(relay)
                kv, cpu = B.bench(env, a, "bulk", ["--n", 1, "--ms", args.ms] + extra)
                c1 = relay_counters(relay)
                total = float(kv["a2b.bytes"]) + float(kv.get("b2a.bytes", 0))
                add(test, "Gbit/s", mode, total * 8 / float(kv["bulk.s"]) / 1e9)
                for role in ("agent-host", "agent-dev", "relay"):
                    add(test, "CPU s/GB " + role, mode, B.cpu_per_gb(cpu[role], total))
                zc = c1["streams_zero_copy_total"] - c0["streams_zero_copy_total"]
                add(test, "streams moved to zero-copy", mode, zc)
                if zc != 1:
                    zc_bad.append((rnd, test, mode, zc))
        for mode in order:
            kv, cpu = B.bench(env, modes[mode], "pair",
                              ["--n", args.pairs, "--rate", 0, "--window", 64])
            ok = int(kv["pair.ok"])
            add("new streams", "streams/s", mode, float(kv["pair.rate"]))
            for role in ("agent-host", "agent-dev", "relay"):
                add("new streams", "CPU µs per stream " + role, mode, cpu[role] / ok * 1e6)
        B.log("round %d of %d done (load %s)" % (rnd + 1, args.rounds, load()))
    load1 = load()

    print("load after", load1, flush=True)
    print("%d rounds; bulk %d ms per test; %d new streams per test" %
          (args.rounds, args.ms, args.pairs))
    print()
    print("| test | metric | resumption on | off (resume_timeout = 0) | on/off per round |")
    print("|---|---|---|---|---|")
    tests = []
    for k in s:
        if (k[0], k[1]) not in tests:
            tests.append((k[0], k[1]))
    for test, metric in tests:
        on, off = s[(test, metric, "on")], s[(test, metric, "off")]
        ratio = [x / y for x, y in zip(on, off) if y] if metric != "streams moved to zero-copy" \
            else []
        digits = 0 if "zero-copy" in metric or "µs" in metric else (1 if "/s" in metric and
                                                                       "Gbit" not in metric else 3)
        print("| %s | %s | %s | %s | %s |" % (test, metric, fmt(on, digits), fmt(off, digits),
                                              fmt(ratio, 3)))
    final = relay_counters(relay)
    print()
    print("relay at the end:", " ".join("%s=%d" % kv for kv in sorted(final.items())))
    if zc_bad:
        print("bulk tests whose stream did not move to zero-copy:", zc_bad)
        return 1
    print("every bulk stream moved to zero-copy, resumption on and off")
    return 0


if __name__ == "__main__":
    sys.exit(main())
