# SPDX-License-Identifier: MIT
"""New streams on the relay (issue 14): relay builds side by side with haproxy,
interleaved in one run, and where a new stream's time goes on the relay.

Usage: /usr/bin/python3 tests/bench/accept_ab.py BUILD [--other NAME=BUILD ...]
           [--reps N] [--pairs N] [--rate R] [--strace] [--perf] [--no-haproxy]
BUILD needs -DLR_BENCH=ON (its lr_bench is the client; its linkrelay is
"linkrelay"); every --other runs OTHER/relay/linkrelay beside it.

Per repetition, systems interleaved (every other one in reverse order):
`lr_bench pair` as fast as possible
(64 being set up at once; new streams/s and the forwarder's CPU µs per new
stream from /proc) and paced at --rate (256 at once; time to first byte p50
and p99). Medians and ratios to haproxy's of the same run.

--strace: one more pairing run per relay under `strace -c -f`: the syscalls
per new stream by name (strace slows the relay; counts, not times, are the
figure). --perf: one more under `perf record -g -e cpu-clock`: the top
symbols with children (where the time goes, call chains included).
Uses run.py's process setup and cleanup (every process stopped by PID, the
temp dir removed). Prints Markdown with the load average before and after.
"""
import argparse
import atexit
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402
from splice_ab import ConfRelay  # noqa: E402


def traced_pairing(env, relay, n, tool):
    """Runs n paired streams as fast as possible with tool attached to the
    relay; returns the tool's report text and the streams paired."""
    out = os.path.join(env.tmp, "%s-%s.txt" % (tool, relay.name.replace(" ", "_")))
    if tool == "strace":
        argv = ["strace", "-c", "-f", "-o", out, "-p", str(relay.proc.pid)]
    else:
        out = out[:-4] + ".data"
        argv = ["perf", "record", "-g", "-e", "cpu-clock", "-F", "2000", "-o", out,
                "-p", str(relay.proc.pid)]
    p = env.spawn(tool, argv)
    time.sleep(1.0)  # attached
    try:
        kv, _ = B.bench(env, relay, "pair", ["--n", n, "--rate", 0, "--window", 64],
                        extra_watch=False)
    finally:
        p.send_signal(2)  # SIGINT: both tools write their report and exit
        p.wait(60)
        env.stop(p)
    if tool == "strace":
        with open(out) as f:
            return f.read(), int(kv["pair.ok"])
    text = ""
    for extra in (["--no-children", "--sort", "dso"],
                  ["--no-children", "--sort", "dso,symbol", "--percent-limit", "0.3"],
                  ["--children", "--sort", "symbol", "--percent-limit", "1.5"]):
        r = subprocess.run(["perf", "report", "-i", out, "--stdio", "-g", "none"] + extra,
                           capture_output=True, text=True, timeout=300)
        text += "#SPLIT\n" + r.stdout
    return text, int(kv["pair.ok"])


def strace_rows(text, n):
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d.]+)\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$", line)
        if m and m.group(4) != "total":
            rows.append((int(m.group(2)) / n, m.group(4), int(m.group(3) or 0) / n))
        m = re.match(r"\s*100\.00\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?total\s*$", line)
        if m:
            rows.append((int(m.group(1)) / n, "total", int(m.group(2) or 0) / n))
    return rows


def perf_rows(text):
    """(dso split, user-space symbols, kernel and user call chains) from
    traced_pairing's three reports."""
    parts = text.split("#SPLIT\n")[1:]
    dsos, syms, chains = [], [], []
    for line in parts[0].splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s*$", line)
        if m:
            dsos.append((float(m.group(1)), m.group(2)))
    for line in parts[1].splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[\.\]\s+(\S+)", line)
        if m:
            syms.append((float(m.group(1)), m.group(2), m.group(3)))
    for line in parts[2].splitlines():
        m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[.\]\s+(\S+)", line)
        if m:
            chains.append((float(m.group(1)), float(m.group(2)), m.group(3)))
    return dsos, syms[:25], chains[:40]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--other", action="append", default=[], help="NAME=BUILD; repeatable")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--rate", type=int, default=2500)
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--no-haproxy", action="store_true")
    args = ap.parse_args()

    env = B.Env(os.path.abspath(args.build))
    atexit.register(env.cleanup)
    R = B.Results()
    load0 = open("/proc/loadavg").read().split()[:3]
    t0 = time.time()
    relays = [B.Relay(env).start()]
    for spec in args.other:
        name, build = spec.split("=", 1)
        relays.append(ConfRelay(env, name, "@" + build).start())
    systems = ([] if args.no_haproxy else [B.Haproxy(env).start()]) + relays
    sec = "New streams"
    for rep in range(args.reps):
        B.log("repetition %d" % (rep + 1))
        # Every other repetition in reverse order: what runs first (a warmer
        # or a less loaded moment) is not always the same system.
        order = systems if rep % 2 == 0 else systems[::-1]
        for s in order:
            kv, cpu = B.bench(env, s, "pair", ["--n", args.pairs, "--rate", 0, "--window", 64])
            R.add(sec, "new streams/s (max)", s.name, float(kv["pair.rate"]))
            fwd = cpu.get("haproxy", cpu.get("relay", 0.0))
            R.add(sec, "CPU µs per new stream (forwarder)", s.name,
                  fwd / int(kv["pair.ok"]) * 1e6)
        B.run_pair(env, R, sec, order, args.pairs, args.rate, 1)
    load1 = open("/proc/loadavg").read().split()[:3]
    print("Load average before/after: %s / %s; %d repetitions, %d streams each, median "
          "(min–max); took %.0f s.\n" % (" ".join(load0), " ".join(load1), args.reps,
                                         args.pairs, time.time() - t0))
    print(B.table(R, sec) + "\n")
    base = "haproxy" if not args.no_haproxy else relays[0].name
    for metric, better in (("new streams/s (max)", "higher"),
                           ("CPU µs per new stream (forwarder)", "lower"),
                           ("time to first byte p50 µs at %d/s" % args.rate, "lower"),
                           ("time to first byte p99 µs at %d/s" % args.rate, "lower")):
        ref = R.median((sec, metric, base))
        for s in systems:
            v = R.median((sec, metric, s.name))
            if ref and v and s.name != base:
                print("- %s, %s / %s: %.2f (%s is better)" % (metric, s.name, base, v / ref,
                                                              better))
        # per-repetition ratios of each relay to the first, same repetition
        first = R.samples.get((sec, metric, relays[0].name), [])
        for s in relays[1:]:
            other = R.samples.get((sec, metric, s.name), [])
            rs = [o / f for o, f in zip(other, first) if f]
            if rs:
                print("  - %s / linkrelay per repetition: %s (median %.3f)" % (
                    s.name, " ".join("%.3f" % x for x in rs), statistics.median(rs)))
    print()
    for tool, wanted in (("strace", args.strace), ("perf", args.perf)):
        if not wanted or not shutil.which(tool):
            continue
        for r in relays:
            text, n = traced_pairing(env, r, args.pairs, tool)
            if tool == "strace":
                print("Syscalls per new stream, %s (`strace -c -f`, %d streams):\n" % (r.name, n))
                print("| calls | syscall | errors |\n|---|---|---|")
                for calls, name, errs in strace_rows(text, n):
                    print("| %.2f | %s | %s |" % (calls, name, "%.2f" % errs if errs else ""))
            else:
                print("Profile, %s (`perf record -g -e cpu-clock`, %d streams; children, self "
                      "%%):\n" % (r.name, n))
                dsos, syms, chains = perf_rows(text)
                print("| % | object |\n|---|---|")
                for pc, dso in dsos:
                    print("| %.1f | %s |" % (pc, dso))
                print("\n| % | object | user-space symbol |\n|---|---|---|")
                for pc, dso, sym in syms:
                    print("| %.1f | %s | %s |" % (pc, dso, sym))
                print("\n| children % | self % | symbol |\n|---|---|---|")
                for ch, se, sym in chains:
                    print("| %.1f | %.1f | %s |" % (ch, se, sym))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
