# SPDX-License-Identifier: MIT
"""Where the kernel memory of stalled streams sits: per socket of each stream
(the writer's, the forwarder's two, the reader's), from `ss -tmi` (skmem
r/rb/t/tb, and bytes moved), for haproxy and relay configs side by side.

Usage: /usr/bin/python3 tests/bench/stall_probe.py BUILD [--n N] [--ms T]
           [--warm BYTES] [--config NAME=LIMITS ...] [--no-haproxy]
BUILD needs -DLR_BENCH=ON. LIMITS as in splice_ab.py ("a = b;c = d",
optionally @OTHER_BUILD). Prints, per system, one line per socket role,
summed over the N streams and divided by N (KiB per stream), and the
sockstat TCP memory delta per stream. --warm: each reader first reads BYTES
(a reader that stops after a while). Every process stopped by PID.
"""
import argparse
import atexit
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402
import splice_ab as S  # noqa: E402

SKMEM = re.compile(r"skmem:\(([^)]*)\)")


def sockets(pids):
    """[(pid, local, peer, fields)] of established TCP sockets of pids."""
    out = subprocess.run(["ss", "-tnmipH", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    rows, cur = [], None
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            cur = None
            parts = line.split()
            m = re.search(r"pid=(\d+)", line)
            if m and int(m.group(1)) in pids and len(parts) >= 4:
                cur = {"pid": int(m.group(1)), "local": parts[2], "peer": parts[3]}
                rows.append(cur)
            rest = line
        else:
            rest = line
        if cur is None:
            continue
        m = SKMEM.search(rest)
        if m:
            for kv in m.group(1).split(","):
                k = re.match(r"([a-z_]+)(\d+)", kv)
                if k:
                    cur["sk_" + k.group(1)] = int(k.group(2))
        for k in ("bytes_acked", "bytes_received", "bytes_sent", "rcv_space", "snd_wnd",
                  "rcv_wnd", "notsent"):
            m = re.search(r"\b%s:(\d+)" % k, rest)
            if m:
                cur[k] = int(m.group(1))
    return rows


def role(row, fwd_pids):
    big_in = row.get("bytes_received", 0) > 65536
    big_out = row.get("bytes_sent", 0) > 65536
    if row["pid"] in fwd_pids:
        return "fwd from writer" if big_in else ("fwd to reader" if big_out else None)
    return "reader" if big_in else ("writer" if big_out else None)


def probe(env, system, n, ms, warm=0):
    fwd = set(sum(system.watch().values(), []))
    argv = [env.bench, "stall", "--n", str(n), "--ms", str(ms), "--warm", str(warm)] + \
        system.via()
    mem0 = B.sockstat_tcp()[1]
    p = env.spawn("probe-%d" % n, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        while True:
            line = p.stdout.readline().decode()
            if not line:
                raise RuntimeError("stall client ended")
            if line.strip() == "phase=stalled":
                break
        mem1 = B.sockstat_tcp()[1]
        rows = sockets(fwd | {p.pid})
        p.stdin.write(b"go\n")
        p.stdin.flush()
        p.wait(60)
    finally:
        env.stop(p)
    sums = {}
    for r in rows:
        k = role(r, fwd)
        if k is None:
            continue
        s = sums.setdefault(k, {"count": 0})
        s["count"] += 1
        for f in ("sk_r", "sk_rb", "sk_t", "sk_tb", "sk_w", "sk_f", "sk_d", "rcv_space",
                  "notsent"):
            s[f] = s.get(f, 0) + r.get(f, 0)
    print("%s: sockstat TCP mem %.0f KiB per stream" % (system.name, (mem1 - mem0) * 4.0 / n))
    print("  %-16s %5s %9s %9s %9s %9s %9s %9s" % ("socket", "count", "r KiB", "rb KiB",
                                                   "t KiB", "tb KiB", "w KiB", "notsent"))
    for k in ("writer", "fwd from writer", "fwd to reader", "reader"):
        s = sums.get(k)
        if not s:
            continue
        c = n
        print("  %-16s %5d %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f" % (
            k, s["count"], s["sk_r"] / c / 1024, s["sk_rb"] / c / 1024, s["sk_t"] / c / 1024,
            s["sk_tb"] / c / 1024, s["sk_w"] / c / 1024, s["notsent"] / c / 1024))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--ms", type=int, default=1000)
    ap.add_argument("--warm", type=int, default=0)
    ap.add_argument("--config", action="append", default=[])
    ap.add_argument("--no-haproxy", action="store_true")
    args = ap.parse_args()
    configs = [c.split("=", 1) for c in args.config] or [("default", "")]
    env = B.Env(os.path.abspath(args.build))
    atexit.register(env.cleanup)
    systems = [] if args.no_haproxy else [B.Haproxy(env)]
    systems += [S.relay_with(env, name, limits) for name, limits in configs]
    for s in systems:
        s.start()
        time.sleep(0.3)
        probe(env, s, args.n, args.ms, args.warm)
        env.stop(s.proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
