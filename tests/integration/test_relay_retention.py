#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Retention (docs/design.md D31; linkrelay.conf(5) [accounting]).

1. Stream rows and events older than accounting_retention / events_retention
   (written into the database before the relay starts) are gone after the
   relay's first prune; younger ones stay; `linkctl link show` totals are
   what they were; the pruned streams are in stream_days with their per-day
   sums; 2500 stream rows and 1500 events took exactly 3 + 2 transactions of
   at most 1000 rows (linkrelay_retention_batches_total).
2. accounting_retention = 0 keeps every stream row while old events go.
3. The prune runs off the loop: during a prune of 400000 rows (at least 400
   transactions with a 10 ms pause after each full one, so at least 4 s by
   construction) the relay's loop answers /metrics and the admin socket, and
   two of those answers show the prune running at different row counts.
"""
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lrharness as h  # noqa: E402
import promharness as ph  # noqa: E402

DAY = 86400000


def make_relay(acct_days, events_days):
    r = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0"})
    # Where start() puts the log; set now so close() also cleans up after a
    # failure before the start.
    r.logpath = os.path.join(r.top, "relay.log")
    with open(os.path.join(r.dir, "linkrelay.conf"), "a") as f:
        f.write("[accounting]\naccounting_retention = %s\nevents_retention = %s\n"
                % (acct_days, events_days))
    return r


def fill(r, name, old_streams, young_streams, old_events, young_events, now):
    """Adds link name (linkctl, relay not running yet) and rows: old stream
    rows 10 days back (i bytes a->b, 2i b->a, 1000 per minute so they spread
    over one day), 3 rows 4 days back, young ones now; link_totals as the
    relay would have written them; old events 4 days back, 5 events 2 days
    back, young ones now. Returns the link id (bytes)."""
    r.ctl_json("link", "add", name, "--a-key", h.keygen()[1], "--b-key", h.keygen()[1],
               "--relay-addr", "127.0.0.1:7700")
    db = sqlite3.connect(os.path.join(r.dir, "linkrelay.db"), timeout=30)
    lid = db.execute("SELECT id FROM links WHERE name = ?", (name,)).fetchone()[0]
    base = (now // DAY - 10) * DAY
    rows = [(lid, i, 0, base + i, base + i + 1, 0, i, 2 * i, "fin")
            for i in range(old_streams)]
    rows += [(lid, old_streams + i, 1, now - 4 * DAY, now - 4 * DAY + 1, 0, 5, 6, "reset")
             for i in range(3)]
    rows += [(lid, old_streams + 3 + i, 0, now, now, 0, 7, 8, "fin") for i in range(young_streams)]
    db.executemany("INSERT INTO streams (link_id, stream_id, opener, started_ms, ended_ms, "
                   "wait_ms, bytes_a_to_b, bytes_b_to_a, cause) VALUES (?,?,?,?,?,?,?,?,?)", rows)
    db.execute("INSERT INTO link_totals (link_id, streams, bytes_a_to_b, bytes_b_to_a, "
               "last_cause, last_closed_ms) SELECT link_id, count(*), sum(bytes_a_to_b), "
               "sum(bytes_b_to_a), 'fin', max(ended_ms) FROM streams WHERE link_id = ?", (lid,))
    ev = [(now - 4 * DAY + i, "test_old", lid) for i in range(old_events)]
    ev += [(now - 2 * DAY, "test_kept", lid)] * 5
    ev += [(now, "test_young", lid)] * young_events
    db.executemany("INSERT INTO events (ts_ms, kind, link_id) VALUES (?,?,?)", ev)
    db.commit()
    db.close()
    return lid


def metrics_port(r):
    m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", r.log())
    return int(m.group(1))


def counts(r):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(r.dir, "linkrelay.db"), uri=True,
                         timeout=30)
    try:
        s = db.execute("SELECT count(*) FROM streams").fetchone()[0]
        e = {k: n for k, n in db.execute("SELECT kind, count(*) FROM events GROUP BY kind")}
        d = db.execute("SELECT day, streams, bytes_a_to_b, bytes_b_to_a FROM stream_days "
                       "ORDER BY day").fetchall()
        return s, e, d
    finally:
        db.close()


def runs(port):
    return ph.value(ph.scrape(port), "linkrelay_retention_runs_total") or 0


def prune_and_keep(c):
    r = make_relay("5d", "3d")
    try:
        now = int(time.time() * 1000)
        fill(r, "ret", 2500, 4, 1500, 6, now)
        before = r.ctl_json("link", "show", "ret")["totals"]
        c.check("totals before: every row", before["streams"] == 2507, before)
        r.start()
        port = metrics_port(r)
        c.check("a prune ran at start", h.wait_for(lambda: runs(port) >= 1, timeout=60))
        ms = ph.scrape(port)
        s, e, d = counts(r)
        c.check("old stream rows gone, the 4-day-old and young ones kept", s == 3 + 4, s)
        c.check("old events gone", e.get("test_old") is None, e)
        c.check("younger events kept", e.get("test_kept") == 5 and e.get("test_young") == 6, e)
        day = now // DAY - 10
        c.check("the pruned streams are one per-day sum",
                d == [(day, 2500, 2500 * 2499 // 2, 2500 * 2499)], d)
        after = r.ctl_json("link", "show", "ret")["totals"]
        c.check("linkctl link show totals unchanged", after == before, (before, after))
        c.check("pruned_total: 2500 streams, 1500 events",
                ph.value(ms, "linkrelay_retention_pruned_total", table="streams") == 2500
                and ph.value(ms, "linkrelay_retention_pruned_total", table="events") == 1500,
                ph.series(ms, "linkrelay_retention_pruned_total"))
        c.check("in batches of at most 1000 rows: 3 + 2 transactions",
                ph.value(ms, "linkrelay_retention_batches_total") == 5,
                ph.value(ms, "linkrelay_retention_batches_total"))
        c.check("no failed run", ph.value(ms, "linkrelay_retention_failures_total") == 0)
        # linkctl link days: the rolled-up day and the kept rows, per UTC day.
        pd = r.ctl_json("link", "days", "ret", "--days", "30")["per_day"]
        want = [(time.strftime("%Y-%m-%d", time.gmtime(day * 86400)), 2500,
                 2500 * 2499 // 2, 2500 * 2499),
                (time.strftime("%Y-%m-%d", time.gmtime((now - 4 * DAY) // 1000)), 3, 15, 18),
                (time.strftime("%Y-%m-%d", time.gmtime(now // 1000)), 4, 28, 32)]
        got = [(x["date"], x["streams"], x["bytes_a_to_b"], x["bytes_b_to_a"]) for x in pd]
        c.check("link days: per-day figures across the pruned and kept rows", got == want,
                (got, want))
        # 7 days: the rows 4 days back stay inside even if a UTC midnight
        # passes during the test, the 10-day-old day stays out.
        pd = r.ctl_json("link", "days", "ret", "--days", "7")["per_day"]
        c.check("link days --days 7 leaves the 10-day-old day out",
                [x["streams"] for x in pd] == [3, 4], pd)
        bad = r.ctl("link", "days", "ret", "--days", "0", check=False)
        c.check("link days --days 0: usage error, exit 2", bad.returncode == 2
                and "--days needs 1..36500" in bad.stderr, (bad.returncode, bad.stderr))
        c.check("logged", "retention: pruned 2500 stream rows (kept as per-day sums) and 1500 "
                "events" in r.log(), r.log()[-2000:])
    finally:
        if c.failed and r.proc is not None:
            print(r.log()[-4000:])
        r.close()


def keep_forever(c):
    r = make_relay("0", "3d")
    try:
        now = int(time.time() * 1000)
        fill(r, "keep", 1200, 2, 10, 1, now)
        r.start()
        port = metrics_port(r)
        c.check("keep: a prune ran", h.wait_for(lambda: runs(port) >= 1, timeout=60))
        s, e, d = counts(r)
        c.check("accounting_retention 0: every stream row kept", s == 1200 + 3 + 2 and d == [],
                (s, d))
        c.check("keep: old events gone", e.get("test_old") is None and e.get("test_kept") == 5,
                e)
    finally:
        if c.failed and r.proc is not None:
            print(r.log()[-4000:])
        r.close()


def loop_not_blocked(c):
    n = 400000
    r = make_relay("5d", "0")
    try:
        now = int(time.time() * 1000)
        fill(r, "big", n, 1, 0, 0, now)
        r.start()
        port = metrics_port(r)
        seen = set()
        admin_ok = 0
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                ms = ph.scrape(port)
            except (RuntimeError, OSError):
                # 503: the loop did not render within 2 s (blocked, or a
                # very loaded machine); not counted as an answer.
                continue
            running = ph.value(ms, "linkrelay_retention_running")
            done = ph.value(ms, "linkrelay_retention_pruned_total", table="streams")
            if running == 1:
                seen.add(done)
                try:
                    r.status()
                    admin_ok += 1
                except (OSError, ValueError):
                    pass
            if (ph.value(ms, "linkrelay_retention_runs_total") or 0) >= 1:
                break
            time.sleep(0.05)
        s, _, d = counts(r)
        c.check("the big prune finished: %d rows rolled into one day" % n,
                s == 3 + 1 and d and d[0][1] == n, (s, d[:2]))
        mid = sorted(x for x in seen if 0 <= x < n)
        c.check("the loop answered /metrics at two points during the prune", len(mid) >= 2,
                (len(mid), mid[:4]))
        c.check("the loop answered the admin socket during the prune", admin_ok >= 1, admin_ok)
    finally:
        if c.failed and r.proc is not None:
            print(r.log()[-4000:])
        r.close()


def main():
    c = h.Checks()
    prune_and_keep(c)
    keep_forever(c)
    loop_not_blocked(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
