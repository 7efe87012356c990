# SPDX-License-Identifier: MIT
"""Relay data path with several relay configs side by side, interleaved in one
run with haproxy (TCP mode, splice): by default splice_buffer 64K, 128K and
256K (docs/performance.md, docs/design.md D8).

Usage: /usr/bin/python3 tests/bench/splice_ab.py BUILD [--reps N] [--ms T]
           [--config NAME=LIMITS ...] [--stall N ...] [--active N ...]
           [--ways one|both|one,both]
BUILD needs -DLR_BENCH=ON. LIMITS are [limits] lines separated by ";", e.g.
--config 64K="splice_buffer = 64K" --config 256K="splice_buffer = 256K";
LIMITS@OTHER_BUILD runs OTHER_BUILD's linkrelay with them (A/B of relay code).

Measures, per config and haproxy, repeated and interleaved: 1 stream one way
and both ways (throughput, CPU s/GB of the forwarder), K active streams
(aggregate, slowest and median stream, CPU s/GB), and the memory a forwarder
holds for N streams whose reader stopped (lr_bench stall, on a fresh process
each: RSS growth per stream and /proc/net/sockstat TCP memory per stream).
Prints a Markdown table with the load average before and after. Uses run.py's
process setup and cleanup (every process stopped by PID, temp dir removed).
"""
import argparse
import atexit
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402


class ConfRelay(B.Relay):
    """A relay with extra [limits] lines and, optionally, its own binary."""

    def __init__(self, env, name, limits):
        binary = None
        if "@" in limits:
            limits, build = limits.rsplit("@", 1)
            binary = os.path.join(os.path.abspath(build), "relay", "linkrelay")
        super().__init__(env, extra_limits="".join(
            l.strip() + "\n" for l in limits.split(";") if l.strip()))
        self.name = "linkrelay " + name
        self.binary = binary

    def start(self):
        saved = self.env.relay_bin
        if self.binary:
            self.env.relay_bin = self.binary
        try:
            return super().start()
        finally:
            self.env.relay_bin = saved


def relay_with(env, name, limits):
    return ConfRelay(env, name, limits)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ms", type=int, default=2000)
    ap.add_argument("--config", action="append", default=[],
                    help="NAME=LIMITS (';'-separated [limits] lines); repeatable")
    ap.add_argument("--active", type=int, nargs="*", default=[100, 1000])
    ap.add_argument("--stall", type=int, nargs="*", default=[100])
    ap.add_argument("--stall-ms", type=int, default=1000)
    ap.add_argument("--no-haproxy", action="store_true")
    ap.add_argument("--rtt", type=int, default=0,
                    help="also 64 B ping-pong, this many round trips, per CPU placement "
                         "(direct included)")
    ap.add_argument("--json", help="write raw samples here")
    ap.add_argument("--only-rtt", action="store_true", help="skip bulk and memory")
    ap.add_argument("--ways", default="one,both",
                    help="which 1-stream bulk runs: one, both or one,both (default)")
    args = ap.parse_args()
    configs = [c.split("=", 1) for c in args.config] or [
        ("64K", "splice_buffer = 64K"), ("128K", "splice_buffer = 128K"),
        ("256K", "splice_buffer = 256K")]

    env = B.Env(os.path.abspath(args.build))
    atexit.register(env.cleanup)
    R = B.Results()
    load0 = open("/proc/loadavg").read().split()[:3]
    t0 = time.time()
    systems = [] if args.no_haproxy else [B.Haproxy(env).start()]
    for name, limits in configs:
        systems.append(relay_with(env, name, limits).start())
    roles = ("haproxy", "relay")
    direct = B.Direct(env)
    for rep in range(args.reps):
        B.log("repetition %d" % (rep + 1))
        if args.rtt:
            B.run_rtt(env, R, "64 B ping-pong", [direct] + systems, args.rtt, 1)
        if args.only_rtt:
            continue
        if "one" in args.ways.split(","):
            B.run_bulk(env, R, "1 stream one way", systems, 1, False, args.ms, 1, roles)
        if "both" in args.ways.split(","):
            B.run_bulk(env, R, "1 stream both ways", systems, 1, True, args.ms, 1, roles)
        for n in args.active:
            B.run_bulk(env, R, "Active streams: %d" % n, systems, n, False, args.ms, 1, roles)
    for s in systems:
        env.stop(s.proc)
    # Memory: a fresh process per system and size, so memory freed by earlier
    # tests (kept by the allocator) does not hide the cost.
    for n in ([] if args.only_rtt else args.stall):
        for _ in range(max(1, args.reps // 2)):
            fresh = [] if args.no_haproxy else [B.Haproxy(env)]
            fresh += [relay_with(env, name, limits) for name, limits in configs]
            for s in fresh:
                s.start()
                time.sleep(0.3)
                B.stall_mem(env, R, s, n, args.stall_ms)
                env.stop(s.proc)
    load1 = open("/proc/loadavg").read().split()[:3]
    sections = []
    for k in R.order:
        if k[0] not in sections:
            sections.append(k[0])
    print("Load average before/after: %s / %s; %d repetitions, median (min–max); bulk %d ms; "
          "took %.0f s.\n" % (" ".join(load0), " ".join(load1), args.reps, args.ms,
                              time.time() - t0))
    for sec in sections:
        print(B.table(R, sec) + "\n")
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump([{"section": k[0], "metric": k[1], "system": k[2], "values": v}
                       for k, v in R.samples.items()], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
