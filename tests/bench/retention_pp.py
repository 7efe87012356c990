# SPDX-License-Identifier: MIT
"""Ping-pong p99 through the relay, quiet and while retention prunes
(docs/design.md D31, docs/performance.md "Retention").

Usage: /usr/bin/python3 tests/bench/retention_pp.py BUILD [ROWS [COUNT [REPS]]]
BUILD needs -DLR_BENCH=ON (lr_bench, linkrelay, linkctl). ROWS (default
1500000) stream rows 10 days old are written into a fresh registry. The relay
first runs with accounting_retention = 0 (nothing is pruned): REPS (default
5) lr_bench rtt runs of COUNT (default 20000) 64-byte round trips give the
quiet p99s. Then it restarts with accounting_retention = 5d, which starts a
prune of every row at once; REPS more runs are taken while
linkrelay_retention_running is 1 before and after each (a run that ends
after the prune is dropped). Prints every p99, the medians and their ratio,
and how long the prune took.
"""
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time

BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else sys.exit(__doc__)
os.environ["LR_BUILD_DIR"] = BUILD
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import lrharness as h  # noqa: E402
import promharness as ph  # noqa: E402

DAY = 86400000
BENCH = os.path.join(BUILD, "tests", "bench", "lr_bench")


def conf(r, days):
    path = os.path.join(r.dir, "linkrelay.conf")
    text = open(path).read().split("[accounting]")[0]
    with open(path, "w") as f:
        f.write(text + "[accounting]\naccounting_retention = %s\nevents_retention = 0\n" % days)


def fill(r, rows):
    a, b = h.keygen(), h.keygen()
    out = r.ctl_json("link", "add", "pp", "--a-key", a[1], "--b-key", b[1], "--relay-addr",
                     "127.0.0.1:7700")
    db = sqlite3.connect(os.path.join(r.dir, "linkrelay.db"), timeout=30)
    lid = db.execute("SELECT id FROM links WHERE name = 'pp'").fetchone()[0]
    base = (int(time.time() * 1000) // DAY - 10) * DAY
    db.executemany("INSERT INTO streams (link_id, stream_id, opener, started_ms, ended_ms, "
                   "wait_ms, bytes_a_to_b, bytes_b_to_a, cause) VALUES (?,?,0,?,?,0,100,200,"
                   "'fin')", ((lid, i, base + i // 20, base + i // 20) for i in range(rows)))
    db.commit()
    db.close()
    return {"id": out["id"], "a": a[0], "b": b[0]}


def rtt(r, link, count):
    argv = [BENCH, "rtt", "--via", "relay", "--relay", r.addr, "--relay-pub", r.relay_pub,
            "--key-id", str(r.key_id), "--link", link["id"], "--a-key", link["a"], "--b-key",
            link["b"], "--count", str(count), "--size", "64"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    kv = h.parse_kv(p.stdout)
    if p.returncode != 0 or kv.get("result") != "ok":
        raise RuntimeError("lr_bench: " + p.stdout + p.stderr)
    return float(kv["rtt.p99_us"])


def metrics(r):
    port = int(re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/", r.log())[-1])
    return ph.scrape(port)


def main():
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1500000
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    r = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0"})
    r.logpath = os.path.join(r.top, "relay.log")  # close() cleans up before a start too
    try:
        conf(r, "0")
        t = time.time()
        link = fill(r, rows)
        print("filled %d rows in %.1f s" % (rows, time.time() - t), flush=True)
        print("load before", " ".join(open("/proc/loadavg").read().split()[:3]))
        r.start()
        quiet = [rtt(r, link, count) for _ in range(reps)]
        r.stop()
        conf(r, "5d")
        t0 = time.time()
        r.start()
        busy = []
        while len(busy) < reps:
            if metrics(r).get(("linkrelay_retention_running", frozenset())) != 1:
                break
            p99 = rtt(r, link, count)
            if metrics(r).get(("linkrelay_retention_running", frozenset())) != 1:
                break
            busy.append(p99)
        h.wait_for(lambda: ph.value(metrics(r), "linkrelay_retention_runs_total") == 1,
                   timeout=3600, step=0.5)
        took = time.time() - t0
        ms = metrics(r)
        print("load after", " ".join(open("/proc/loadavg").read().split()[:3]))
        print("quiet p99 us:", quiet)
        print("during prune p99 us:", busy)
        if busy:
            print("median quiet %.1f us, during prune %.1f us, ratio %.2f"
                  % (statistics.median(quiet), statistics.median(busy),
                     statistics.median(busy) / statistics.median(quiet)))
        print("prune: %d rows, %d batches, %.1f s (from the relay's start)"
              % (ph.value(ms, "linkrelay_retention_pruned_total", table="streams"),
                 ph.value(ms, "linkrelay_retention_batches_total"), took))
    finally:
        r.close()


if __name__ == "__main__":
    main()
