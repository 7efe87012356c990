#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Byte quotas per link (docs/design.md D29), with the real relay, linkctl
and the Python test peer:
  - at the limit: with a quota of N bytes per day, a stream carrying N bytes
    (both directions summed) ends with FIN and accounting cause fin; the
    next OPEN gets OPEN_FAIL quota_exceeded (6) on a session with AUTH flags
    bit 4, internal (4) on one without; refusals counted and logged;
  - raised live (linkctl link set, applied within the relay's 1 s): an OPEN
    succeeds again; the byte that takes the link to limit + 1 is not
    forwarded, both legs are reset, the accounting row says cause quota, an
    event quota_exceeded is written, the relay logs and counts it;
  - `linkctl link show` (text and --json) shows used, limit, period and the
    reset time;
  - the counter survives a restart (SIGTERM) and a kill -9 taken after the
    periodic save of an open stream's bytes (the bound: what was counted in
    the last second before the kill, D29);
  - a new UTC day (the relay's clock moved by its test hook) starts the
    counter at 0 and OPENs succeed again;
  - --quota none removes the quota live; bad input gives a clear error,
    exit 2, and changes nothing.
"""
import os
import signal
import socket
import struct
import sys
import tempfile
import threading
import time

import lrharness as h
import lrproto as p

AUTH_FLAG_QUOTA = 0x10
DAY_MS = 86400000


def live_quota(r, name):
    for l in r.admin("links")["links"]:
        if l["name"] == name:
            return l["quota"]
    return None


def set_quota(r, name, spec, pred):
    """linkctl link set, then waits until the relay's index shows it."""
    r.ctl("link", "set", name, "--quota", spec)
    h.wait_for(lambda: pred(live_quota(r, name)), timeout=10)


def spliced(r, sa, sb, req):
    ta, tb = p.open_stream(sa, sb, req)
    la, lb = p.leg(r, ta["ticket"]), p.leg(r, tb["ticket"])
    assert p.recv_exact(la, 1) == b"\x01" and p.recv_exact(lb, 1) == b"\x01"
    return la, lb


def open_fail_reason(s, req):
    s.open(req)
    m = s.expect(0x04)
    req_id, reason = struct.unpack(">IB", m[1:6])
    return req_id, reason


def read_to_end(s, timeout=10.0):
    """Bytes until EOF, reset or timeout: (data, "eof" | "reset" | "timeout")."""
    s.settimeout(timeout)
    got = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return got, "eof"
            got += d
    except ConnectionResetError:
        return got, "reset"
    except socket.timeout:
        return got, "timeout"


def show_json(r, name):
    return r.ctl_json("link", "show", name)


def totals_cause(r, name):
    return show_json(r, name)["totals"]["last_cause"]


def limit_tests(c, r, l):
    n = 1000
    set_quota(r, "q", "%d/day" % n, lambda q: q is not None and q["limit_bytes"] == n)
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, l, 1)
    la, lb = spliced(r, sa, sb, 1)
    la.sendall(b"x" * 600)
    c.check("600 bytes a->b arrive", p.recv_exact(lb, 600) == b"x" * 600)
    lb.sendall(b"y" * 400)
    c.check("400 bytes b->a arrive", p.recv_exact(la, 400) == b"y" * 400)
    la.shutdown(socket.SHUT_WR)
    lb.shutdown(socket.SHUT_WR)
    ea, eb = read_to_end(la), read_to_end(lb)
    c.check("a stream of exactly N bytes ends with FIN", ea == (b"", "eof") and eb == (b"", "eof"),
            "%s %s" % (ea, eb))
    la.close()
    lb.close()
    h.wait_for(lambda: live_quota(r, "q")["used_bytes"] == n, timeout=5)
    c.check("used is N", live_quota(r, "q")["used_bytes"] == n, str(live_quota(r, "q")))
    h.wait_for(lambda: totals_cause(r, "q") == "fin", timeout=10)
    c.check("its accounting row says fin", totals_cause(r, "q") == "fin")
    sa.close()
    sb.close()
    # Sessions made right before they are used: one left idle over the waits
    # above would miss the relay's PINGs (dead_after 3 s) under a sanitizer.
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    req, reason = open_fail_reason(sa, 7)
    c.check("at N used, OPEN fails quota_exceeded (6)", (req, reason) == (7, 6), str((req, reason)))
    sold = p.Session(r, l, 1)  # no AUTH flags bit 4: an older agent
    req, reason = open_fail_reason(sold, 8)
    c.check("an agent without AUTH flags bit 4 gets internal (4)", (req, reason) == (8, 4),
            str((req, reason)))
    q = live_quota(r, "q")
    c.check("refusals counted per link", q["refused"] == 2, str(q))
    c.check("refusals counted in status", r.status().get("quota_refused") == 2)
    h.wait_for(lambda: "OPEN refused: quota_exceeded" in r.log(), timeout=10)
    c.check("the refusal is logged", "link q: OPEN refused: quota_exceeded (1000 of 1000 bytes "
            "per day used)" in r.log())
    sa.close()
    sold.close()


def crossing_tests(c, r, l):
    set_quota(r, "q", "2000/day", lambda q: q is not None and q["limit_bytes"] == 2000)
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, l, 1, flags=AUTH_FLAG_QUOTA)
    la, lb = spliced(r, sa, sb, 2)
    la.sendall(b"z" * 1000)
    c.check("raised live: 1000 more bytes arrive", p.recv_exact(lb, 1000) == b"z" * 1000)
    la.sendall(b"!")  # limit + 1
    gb, gend = read_to_end(lb)
    c.check("the byte past the quota is not forwarded, b's leg is reset",
            gb == b"" and gend == "reset", "%r %s" % (gb, gend))
    ga, aend = read_to_end(la)
    c.check("a's leg is reset too", ga == b"" and aend == "reset", "%r %s" % (ga, aend))
    la.close()
    lb.close()
    q = live_quota(r, "q")
    c.check("used is limit + 1", q["used_bytes"] == 2001 and q["exceeded"] == 1, str(q))
    h.wait_for(lambda: totals_cause(r, "q") == "quota", timeout=10)
    c.check("the accounting row says cause quota", totals_cause(r, "q") == "quota")
    ev = r.ctl_json("events", "--link", "q")
    kinds = [e["kind"] for e in ev["events"]] if isinstance(ev, dict) else [e["kind"] for e in ev]
    c.check("an event quota_exceeded is written", "quota_exceeded" in kinds, str(kinds))
    c.check("the relay logs it", "link q: quota exceeded: 2001 of 2000 bytes per day used; "
            "1 streams reset" in r.log())
    c.check("status counts it", r.status().get("quota_exceeded") == 1)
    sa.close()
    sb.close()
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    req, reason = open_fail_reason(sa, 9)
    c.check("then OPEN fails quota_exceeded", (req, reason) == (9, 6))
    sa.close()


def zero_copy_tests(c, r):
    """A bulk stream crosses its quota on the zero-copy path (splice(2))."""
    lz = r.add_link_live("zc")
    limit = 3000000
    set_quota(r, "zc", "%d/day" % limit, lambda q: q is not None and q["limit_bytes"] == limit)
    zc0 = r.status()["streams_zero_copy_total"]
    sa = p.Session(r, lz, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, lz, 1, flags=AUTH_FLAG_QUOTA)
    la, lb = spliced(r, sa, sb, 1)
    # b reads while a sends: a reader that does not read stops the relay
    # reading a well under the quota (D47: a starting direction's socket to
    # b takes 256 KiB unsent).
    b_end = []
    t = threading.Thread(target=lambda: b_end.append(read_to_end(lb, 30)), daemon=True)
    t.start()
    got, end = h.transfer(la, b"Z" * (8 << 20))
    t.join(35)
    gb, bend = b_end[0] if b_end else (b"", "thread")
    c.check("zero-copy: the stream was moved to splice(2)",
            r.status()["streams_zero_copy_total"] > zc0)
    q = live_quota(r, "zc")
    c.check("zero-copy: used is exactly limit + 1", q["used_bytes"] == limit + 1, str(q))
    c.check("zero-copy: b got at most the quota, then a reset",
            len(gb) <= limit and bend == "reset", "%d %s" % (len(gb), bend))
    c.check("zero-copy: a's leg is reset", end == "reset", end)
    h.wait_for(lambda: totals_cause(r, "zc") == "quota", timeout=10)
    c.check("zero-copy: cause quota", totals_cause(r, "zc") == "quota")
    for s in (la, lb, sa, sb):
        s.close()


def early_bytes_tests(c, r):
    """Bytes a leg sends before the other leg arrives count the same way."""
    le = r.add_link_live("early")
    set_quota(r, "early", "100/day", lambda q: q is not None and q["limit_bytes"] == 100)
    sa = p.Session(r, le, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, le, 1, flags=AUTH_FLAG_QUOTA)
    ta, tb = p.open_stream(sa, sb, 1)
    la = p.leg(r, ta["ticket"], early=b"e" * 150)
    # Whether the relay has read them before b's leg comes (the early path)
    # or after (the splice), the outcome is the same.
    time.sleep(0.3)
    lb = p.leg(r, tb["ticket"])
    gb, bend = read_to_end(lb)
    c.check("early bytes past the quota: not forwarded, b's leg reset",
            gb in (b"", b"\x01") and bend in ("reset", "eof"), "%r %s" % (gb, bend))
    q = live_quota(r, "early")
    c.check("early bytes: used is limit + 1", q["used_bytes"] == 101 and q["exceeded"] == 1,
            str(q))
    for s in (la, lb, sa, sb):
        s.close()


def show_tests(c, r):
    j = show_json(r, "q")["quota"]
    c.check("show --json: limit, period, used", (j["limit_bytes"], j["period"], j["used_bytes"])
            == (2000, "day", 2001), str(j))
    c.check("show --json: the period is a UTC day and resets at its end",
            j["period_start_ms"] % DAY_MS == 0 and j["resets_ms"] == j["period_start_ms"] + DAY_MS,
            str(j))
    text = r.ctl("link", "show", "q").stdout
    c.check("show text: used of limit, exceeded, reset time",
            "quota:         2001 of 2000 bytes per day used (exceeded: streams refused); resets at "
            in text and " 00:00:00Z" in text, text)


def restart_tests(c, r, l):
    c.check("SIGTERM: the relay stops cleanly", r.stop() == 0)
    r.start()
    # The relay reads the link, with its counter, when an AUTH names it (D42).
    c.check("after a restart the relay holds no link", live_quota(r, "q") is None)
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, l, 1)
    c.check("after a restart the relay has the counter",
            live_quota(r, "q")["used_bytes"] == 2001, str(live_quota(r, "q")))
    c.check("and refuses OPENs", open_fail_reason(sa, 3) == (3, 6))
    # kill -9 with a stream open: its bytes are saved every second (D29).
    set_quota(r, "q", "100000/day", lambda q: q["limit_bytes"] == 100000)
    sa.close()
    sb.close()
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, l, 1)
    la, lb = spliced(r, sa, sb, 4)
    la.sendall(b"k" * 5000)
    c.check("5000 bytes arrive", p.recv_exact(lb, 5000) == b"k" * 5000)
    h.wait_for(lambda: show_json(r, "q")["quota"]["used_bytes"] == 7001, timeout=10)
    c.check("the open stream's bytes reach the registry while it runs",
            show_json(r, "q")["quota"]["used_bytes"] == 7001)
    r.proc.send_signal(signal.SIGKILL)
    r.proc.wait(10)
    r.proc = None
    for s in (la, lb, sa, sb):
        s.close()
    r.start()
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    c.check("after kill -9 the counter saved before it is there",
            live_quota(r, "q")["used_bytes"] == 7001, str(live_quota(r, "q")))
    sa.close()


def rollover_tests(c, r, l, clock):
    set_quota(r, "q", "1000/day", lambda q: q["limit_bytes"] == 1000)
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, l, 1)
    c.check("before the new day: refused", open_fail_reason(sa, 5) == (5, 6))
    start = live_quota(r, "q")["period_start_ms"]
    with open(clock, "w") as f:
        f.write("%d\n" % DAY_MS)
    h.wait_for(lambda: live_quota(r, "q")["period_start_ms"] == start + DAY_MS, timeout=10)
    q = live_quota(r, "q")
    c.check("a new UTC day: the counter starts at 0",
            q["period_start_ms"] == start + DAY_MS and q["used_bytes"] == 0, str(q))
    sa.close()
    sb.close()
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, l, 1)
    la, lb = spliced(r, sa, sb, 6)
    la.sendall(b"n" * 10)
    c.check("and OPENs succeed again", p.recv_exact(lb, 10) == b"n" * 10)
    la.close()
    lb.close()
    h.wait_for(lambda: show_json(r, "q")["quota"]["period_start_ms"] == start + DAY_MS, timeout=10)
    j = show_json(r, "q")["quota"]
    c.check("the registry has the new period", j["period_start_ms"] == start + DAY_MS
            and j["resets_ms"] == start + 2 * DAY_MS, str(j))
    sa.close()
    sb.close()


def bad_input_tests(c, r, l):
    before = show_json(r, "q")["quota"]
    for spec in ("5/week", "abc/day", "5", "/day", "5XB/day", "-1/day", "9223372036854775808/day",
                 "10GB/"):
        res = r.ctl("link", "set", "q", "--quota", spec, check=False)
        c.check("bad --quota %r: exit 2 with a clear error" % spec,
                res.returncode == 2 and "invalid --quota" in res.stderr, res.stderr)
    c.check("nothing changed", show_json(r, "q")["quota"]["limit_bytes"] == before["limit_bytes"])
    res = r.ctl("link", "set", "nosuch", "--quota", "5/day", check=False)
    c.check("an unknown link: exit 1", res.returncode == 1 and "nosuch" in res.stderr, res.stderr)
    res = r.ctl("link", "set", "q", check=False)
    c.check("nothing to set: exit 2", res.returncode == 2, res.stderr)
    res = r.ctl("link", "add", "q2", "--quota", "5/year", check=False)
    names = [x["name"] for x in r.ctl_json("link", "list")["links"]]
    c.check("link add with a bad quota creates nothing", res.returncode == 2 and "q2" not in names,
            res.stderr)
    res = r.ctl("link", "add", "q3", "--quota", "1MiB/month", "--relay-addr", r.addr, check=False)
    c.check("link add --quota sets it", res.returncode == 0
            and show_json(r, "q3")["quota"]["limit_bytes"] == 1 << 20, res.stderr)
    # Removed live: no more refusals.
    r.ctl("link", "set", "q", "--quota", "1/day")
    h.wait_for(lambda: live_quota(r, "q")["limit_bytes"] == 1, timeout=10)
    r.ctl("link", "set", "q", "--quota", "none")
    h.wait_for(lambda: live_quota(r, "q") is None, timeout=10)
    c.check("--quota none: show says none", "quota:         none" in r.ctl("link", "show",
                                                                            "q").stdout)
    sa = p.Session(r, l, 0, flags=AUTH_FLAG_QUOTA)
    sb = p.Session(r, l, 1)
    la, lb = spliced(r, sa, sb, 10)
    la.sendall(b"m" * 3000)
    c.check("removed live: bytes flow again", p.recv_exact(lb, 3000) == b"m" * 3000)
    for s in (la, lb, sa, sb):
        s.close()


def main():
    fd, clock = tempfile.mkstemp(prefix="lrclock.")
    os.write(fd, b"0\n")
    os.close(fd)
    os.environ["LINKRELAY_TEST_CLOCK_OFFSET_FILE"] = clock
    c = h.Checks()
    r = h.Relay()
    try:
        r.start()
        l = r.add_link_live("q")
        limit_tests(c, r, l)
        crossing_tests(c, r, l)
        zero_copy_tests(c, r)
        early_bytes_tests(c, r)
        show_tests(c, r)
        restart_tests(c, r, l)
        rollover_tests(c, r, l, clock)
        bad_input_tests(c, r, l)
    finally:
        r.close()
        os.unlink(clock)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
