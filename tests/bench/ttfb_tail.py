# SPDX-License-Identifier: MIT
"""Where the time to first byte tail at a paced rate comes from (issue 14,
docs/design.md D49): three probes on the relay (and haproxy beside it).

Usage: /usr/bin/python3 tests/bench/ttfb_tail.py BUILD [--n N] [--rate R]
           [--reps N] [--other NAME=BUILD ...] (bursts|threads|renice)

bursts: `lr_bench pair --dump` for haproxy and every relay, interleaved;
  per repetition: p50/p99, how many of the slowest 1 % start within 2 ms of
  another slow one, their start times in 50 ms bins of the second (a
  once-a-second cause piles them into one bin), and (relays) the median of
  each phase for the slow ones and for all.
threads: the relay's threads' CPU (/proc/PID/task, every 10 ms) during one
  paced run: per thread, total CPU and how many bursts of running.
renice: the relay twice (BUILD both times), interleaved; in the second every
  thread but the loop's reniced to 19 (the accounting worker among them):
  p50 and p99 of each.
Uses run.py's process setup and cleanup (every process stopped by PID).
"""
import argparse
import atexit
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402
from splice_ab import ConfRelay  # noqa: E402


def paced(env, s, args, dump=None):
    extra = ["--dump", dump] if dump else []
    kv, _ = B.bench(env, s, "pair", ["--n", args.n, "--rate", args.rate, "--window", 256] + extra,
                    extra_watch=False)
    return kv


def bursts(env, systems, args):
    for rep in range(args.reps):
        for s in (systems if rep % 2 == 0 else systems[::-1]):
            path = os.path.join(env.tmp, "dump.txt")
            paced(env, s, args, path)
            ok = [list(map(float, ln.split())) for ln in open(path)]
            ok = [r for r in ok if r[1] >= 0]
            lats = sorted(r[1] for r in ok)
            p99 = lats[int(len(lats) * 0.99)]
            slow = [r for r in ok if r[1] >= p99]
            t0 = min(r[0] for r in ok)
            bins = [0] * 20
            for r in slow:
                bins[int(((r[0] - t0) / 1000) % 1000) // 50] += 1
            starts = sorted(r[0] for r in slow)
            near = sum(1 for a, b in zip(starts, starts[1:]) if b - a < 2000)
            line = "%s rep %d: p50 %.0f p99 %.0f max %.0f µs; slow %d, within 2 ms of another %d; " \
                   "50 ms bins %s" % (s.name, rep + 1, lats[len(lats) // 2], p99, lats[-1],
                                      len(slow), near, bins)
            if len(ok[0]) > 2:
                med = [statistics.median(r[2 + k] for r in slow) for k in range(3)]
                allm = [statistics.median(r[2 + k] for r in ok) for k in range(3)]
                line += "; phases (OPEN->STREAMs, ->SPLICED, ->byte) slow %s all %s" % (med, allm)
            print(line)


def threads(env, relay, args):
    samples, stop = {}, []
    pid = relay.proc.pid

    def sampler():
        while not stop:
            t = time.time()
            for tid in os.listdir("/proc/%d/task" % pid):
                try:
                    f = open("/proc/%d/task/%s/stat" % (pid, tid)).read()
                except OSError:
                    continue
                rest = f[f.rindex(")") + 2:].split()
                samples.setdefault(tid, []).append((t, int(rest[11]) + int(rest[12])))
            time.sleep(0.01)

    th = threading.Thread(target=sampler)
    th.start()
    try:
        kv = paced(env, relay, args)
    finally:
        stop.append(1)
        th.join()
    print("p50 %s p99 %s µs, %s streams/s" % (kv["pair.p50_us"], kv["pair.p99_us"],
                                              kv["pair.rate"]))
    hz = os.sysconf("SC_CLK_TCK")
    for tid, s in sorted(samples.items()):
        runs, cur = [], 0
        for (_, a), (_, b) in zip(s, s[1:]):
            if b > a:
                cur += b - a
            elif cur:
                runs.append(cur)
                cur = 0
        if cur:
            runs.append(cur)
        print("thread %s%s: %.3f s CPU in %.1f s; %d bursts, the longest %d ms" % (
            tid, " (loop)" if int(tid) == pid else "", (s[-1][1] - s[0][1]) / hz,
            s[-1][0] - s[0][0], len(runs), max(runs, default=0) * 1000 // hz))


def renice(env, args):
    a = B.Relay(env).start()
    b = ConfRelay(env, "reniced", "@" + os.path.abspath(args.build)).start()
    for s in (a, b):  # the thread pool starts
        B.bench(env, s, "pair", ["--n", 2000, "--rate", 0, "--window", 64], extra_watch=False)
    time.sleep(1.2)
    pid = b.proc.pid
    for tid in os.listdir("/proc/%d/task" % pid):
        if int(tid) != pid:
            subprocess.run(["renice", "-n", "19", "-p", tid], capture_output=True, check=True)
    res = {}
    for rep in range(args.reps):
        for s in ((a, b) if rep % 2 == 0 else (b, a)):
            kv = paced(env, s, args)
            res.setdefault(s.name, []).append((float(kv["pair.p50_us"]),
                                               float(kv["pair.p99_us"])))
    for name, v in res.items():
        print("%s: p50 %s p99 %s µs (median p99 %.0f)" % (
            name, [x[0] for x in v], [x[1] for x in v], statistics.median(x[1] for x in v)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("probe", choices=("bursts", "threads", "renice"))
    ap.add_argument("--n", type=int, default=7500)
    ap.add_argument("--rate", type=int, default=2500)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--other", action="append", default=[], help="NAME=BUILD; repeatable")
    args = ap.parse_args()
    env = B.Env(os.path.abspath(args.build))
    atexit.register(env.cleanup)
    load0 = open("/proc/loadavg").read().split()[:3]
    if args.probe == "bursts":
        systems = [B.Haproxy(env).start(), B.Relay(env).start()]
        for spec in args.other:
            name, build = spec.split("=", 1)
            systems.append(ConfRelay(env, name, "@" + build).start())
        bursts(env, systems, args)
    elif args.probe == "threads":
        threads(env, B.Relay(env).start(), args)
    else:
        renice(env, args)
    print("load average before/after: %s / %s" % (
        " ".join(load0), " ".join(open("/proc/loadavg").read().split()[:3])))


if __name__ == "__main__":
    main()
