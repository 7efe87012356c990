#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Accounting survives a database that cannot be written for a while.

The batches are written by a thread of their own whose nice value is 10 above
the relay's (docs/design.md D50), so they do not delay the loop.

Another process holds the relay's database write lock (BEGIN EXCLUSIVE) for
longer than the relay's busy timeout (5 s) while streams close and the
sessions' connect and disconnect events are logged. The relay's batch write fails, says it will retry, keeps the
rows, and once the lock is gone writes every one of them exactly once: the
link's totals and the event log match what happened, nothing is counted twice.
"""
import json
import os
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lrharness as h  # noqa: E402


def nice_values(pid):
    """{thread id: nice} of a process (field 19 of /proc/PID/task/TID/stat)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        out[int(tid)] = int(stat.rsplit(")", 1)[1].split()[16])
    return out


def main():
    c = h.Checks()
    r = h.Relay()
    lock = None
    try:
        r.start()
        pid = r.proc.pid
        c.check("the accounting writer runs 10 below the loop's priority",
                h.wait_for(lambda: nice_values(pid).get(pid, 0) + 10 in
                           nice_values(pid).values(), timeout=5), nice_values(pid))
        link = r.add_link("acct")
        db = os.path.join(r.dir, "linkrelay.db")
        c.check("database is where the relay keeps it", os.path.exists(db), db)

        lock = sqlite3.connect(db, timeout=10, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        t0 = time.time()
        for _ in range(3):
            rc, kv, out = r.peer(link, "pair", "--bytes", "1000", "--bytes-back", "500")
            c.check("stream through the relay while the database is locked", rc == 0, out)
        c.check("the failed write is reported with a retry",
                h.wait_for(lambda: "will retry" in r.log(), timeout=15), r.log()[-2000:])
        held = time.time() - t0
        ro = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        n = ro.execute("SELECT count(*) FROM streams").fetchone()[0]
        ro.close()
        c.check("the rows are not in the database yet", n == 0, n)
        lock.execute("ROLLBACK")
        lock.close()
        lock = None
        print("lock held %.1f s" % held)
        c.check("writing works again after the lock is gone",
                h.wait_for(lambda: "writing works again" in r.log(), timeout=15),
                r.log()[-2000:])

        def totals():
            return r.ctl_json("link", "show", "acct").get("totals", {})

        h.wait_for(lambda: totals().get("streams", 0) >= 3, timeout=5)
        # A later batch must not write the recovered rows a second time.
        rc, kv, out = r.peer(link, "pair", "--bytes", "7", "--bytes-back", "0")
        c.check("a stream after recovery", rc == 0, out)
        h.wait_for(lambda: totals().get("streams", 0) >= 4, timeout=5)
        time.sleep(2.5)
        tot = totals()
        c.check("every stream recorded exactly once", tot.get("streams") == 4, tot)
        c.check("bytes counted once", tot.get("bytes_a_to_b") == 3 * 1000 + 7
                and tot.get("bytes_b_to_a") == 3 * 500, tot)
        ev = subprocess.run([h.LINKCTL, "--state-dir", r.dir, "--json", "events", "-n", "0",
                             "--link", "acct"], capture_output=True, text=True, timeout=30)
        kinds = [e["kind"] for e in json.loads(ev.stdout or "{}").get("events", [])]
        # 4 streams made by lr_testpeer, each with its own two control sessions.
        c.check("every connect and disconnect event recorded exactly once",
                ev.returncode == 0 and kinds.count("connect") == 8
                and kinds.count("disconnect") == 8, ev.stdout[-1500:] + ev.stderr)
        c.check("no rows dropped", "dropped" not in r.log(), r.log()[-1500:])
        c.check("status: acct_dropped 0", r.status().get("acct_dropped") == 0, r.status())
    finally:
        if lock is not None:
            lock.close()
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
