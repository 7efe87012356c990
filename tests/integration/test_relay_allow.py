#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Source allowlists (docs/design.md D27) with the real relay and linkctl,
and the Python test peer as agents, on loopback: 127.0.0.1 and 127.0.0.2
are two IPv4 sources, ::1 the IPv6 one (the relay listens on both
families; an IPv4 source reaches the matcher as ::ffff:a.b.c.d).

- a control session from an allowed source comes up (WELCOME); from another
  source, after AUTH, it gets CLOSE source_not_allowed (reason 8) naming the
  address, and never counts as up; counted (status failures and
  linkrelay_auth_failures_total{reason="source_not_allowed"}), logged with the address,
  and an event "source_not_allowed" with the address is written, which
  `linkctl probe` names;
- a stream leg whose side does not allow its source gets 0x00 and its stream
  ends (the other leg gets 0x00 too); counted and recorded;
- a live `linkctl link set` closes a session from a source no longer allowed
  (CLOSE source_not_allowed), and `--allow-a none` lets it back in: each
  change is applied once linkctl returns (it asks the relay to sync) and at
  the latest by the next registry poll, so the test polls with a generous
  deadline and asserts the mechanism, not a time;
- IPv6: ::1/128 allows the ::1 session, refuses 127.0.0.1; 127.0.0.0/8 does
  the reverse;
- bad input: a prefix with host bits, a bad length, garbage, 'none' with a
  prefix, a missing value: exit 2 with the reason, nothing changed;
- the limit: 16 prefixes per side are stored, a 17th is refused (exit 2)
  and the stored list is unchanged.
"""
import json
import re
import socket
import sys

import lrharness as h
import lrproto as p
import promharness as ph

V4A, V4B = "127.0.0.1", "127.0.0.2"


def connector(r, src):
    """A replacement for lrproto.connect that dials from source src."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    dst = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
    port = r.ports[fam]

    def connect(_r, timeout=5.0):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.bind((src, 0))
        s.connect((dst, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    return connect


def session_from(r, link, side, src):
    """(first message after the handshake, the session) dialled from src."""
    saved = p.connect
    p.connect = connector(r, src)
    try:
        s = p.Session(r, link, side)
    finally:
        p.connect = saved
    return s.welcome, s


def leg_from(r, ticket, src):
    saved = p.connect
    p.connect = connector(r, src)
    try:
        return p.leg(r, ticket)
    finally:
        p.connect = saved


def is_refusal(m, addr):
    """CLOSE source_not_allowed whose text names addr."""
    return len(m) >= 3 and m[0] == 0x05 and m[1] == 8 and addr.encode() in m[3:]


def events(r, kind):
    return [e for e in r.ctl_json("events", "--link", "al")["events"] if e["kind"] == kind]


def allow_of(r):
    return r.ctl_json("link", "show", "al")["allow"]


def check_control(c, r, link):
    r.ctl("link", "set", "al", "--allow-a", V4A, "--allow-b", V4A)
    m, sa = session_from(r, link, 0, V4A)
    c.check("allowed source: WELCOME", m[0] == 0x01, m.hex())
    m, bad = session_from(r, link, 1, V4B)
    c.check("other source: CLOSE source_not_allowed naming it", is_refusal(m, V4B), m)
    d, how = p.read_until_close(bad.s)
    c.check("closed after the CLOSE", how in ("eof", "reset"), how)
    live = [x for x in r.admin("links")["links"] if x["name"] == "al"][0]
    c.check("the refused session never came up", not live["b"]["online"], live)
    c.check("counted", r.status()["failures"].get("source_not_allowed") == 1,
            r.status()["failures"])
    c.check("logged with the address",
            h.wait_for(lambda: "link al side b: source not allowed" in r.log()
                       and V4B in r.log(), timeout=10), r.log()[-1500:])
    c.check("event with the address", h.wait_for(
        lambda: any(e["addr"].startswith(V4B) for e in events(r, "source_not_allowed")),
        timeout=10), r.ctl("events").stdout[-1500:])
    res = r.ctl("--json", "probe", "al", check=False)
    probs = [x for x in json.loads(res.stdout)["problems"] if x["code"] == "source_not_allowed"]
    c.check("linkctl probe names the refusal and the address",
            res.returncode == 1 and probs and V4B in probs[0]["text"], res.stdout[-1500:])
    return sa


def check_leg(c, r, link, sa):
    _, sb = session_from(r, link, 1, V4A)
    sa.drain()
    st_a, st_b = p.open_stream(sa, sb, 1)
    la = leg_from(r, st_a["ticket"], V4A)
    lb = leg_from(r, st_b["ticket"], V4B)
    d, how = p.read_until_close(lb)
    c.check("leg from another source: 0x00, closed", d == b"\x00", (d, how))
    d, how = p.read_until_close(la)
    c.check("its stream ended: the waiting leg gets 0x00", d == b"\x00", (d, how))
    c.check("leg counted", r.status()["failures"].get("source_not_allowed") == 2,
            r.status()["failures"])
    m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", r.log())
    got = m and ph.value(ph.scrape_after(int(m.group(1))), "linkrelay_auth_failures_total",
                         reason="source_not_allowed")
    c.check("the metric counts both", got == 2, got)
    return sb


def check_live(c, r, link, sa, sb):
    r.ctl("link", "set", "al", "--allow-a", V4B)
    got = []

    def closed():
        try:
            got.append(sa.expect(0x05, timeout=1.0))
            return True
        except (TimeoutError, OSError):
            return False
    c.check("live change: side a's session closed",
            h.wait_for(closed, timeout=10, step=0) and is_refusal(got[-1], V4A), got)
    c.check("side b untouched", sb.drain() is not None)
    m, sa2 = session_from(r, link, 0, V4B)
    c.check("the new list allows the other source", m[0] == 0x01, m.hex())
    sa2.close()
    r.ctl("link", "set", "al", "--allow-a", "none")
    m, sa3 = session_from(r, link, 0, V4A)
    c.check("--allow-a none: every source again", m[0] == 0x01, m.hex())
    c.check("show: side a any, side b kept", allow_of(r) == {"a": [], "b": [V4A + "/32"]},
            allow_of(r))
    sa3.close()
    sb.close()


def check_v6(c, r, link):
    r.ctl("link", "set", "al", "--allow-a", "::1", "--allow-b", "none")
    c.check("IPv6 stored", allow_of(r) == {"a": ["::1/128"], "b": []}, allow_of(r))
    m, s6 = session_from(r, link, 0, "::1")
    c.check("::1 allowed by ::1/128", m[0] == 0x01, m.hex())
    s6.close()
    m, s4 = session_from(r, link, 0, V4A)
    c.check("IPv4 source refused by an IPv6-only list", is_refusal(m, V4A), m)
    s4.close()
    r.ctl("link", "set", "al", "--allow-a", "127.0.0.0/8")
    m, s6 = session_from(r, link, 0, "::1")
    c.check("::1 refused by 127.0.0.0/8", is_refusal(m, "::1"), m)
    s6.close()
    m, s4 = session_from(r, link, 0, V4B)
    c.check("127.0.0.2 allowed by 127.0.0.0/8", m[0] == 0x01, m.hex())
    s4.close()


def check_input(c, r):
    before = allow_of(r)
    for args, why in [(["--allow-a", "127.0.0.1/8"], "bits set past the prefix length"),
                      (["--allow", "10.0.0.0/33"], "bad prefix length"),
                      (["--allow-b", "example.com"], "not an IPv4 or IPv6 address"),
                      (["--allow-a", "none", "--allow-a", "127.0.0.1"], "'none' and prefixes"),
                      (["--allow-a"], "needs a value"),
                      ([], "nothing to set")]:
        res = r.ctl("link", "set", "al", *args, check=False)
        c.check("bad input %s: exit 2, says why" % args,
                res.returncode == 2 and why in res.stderr, (res.returncode, res.stderr))
    c.check("bad input changed nothing", allow_of(r) == before, allow_of(r))
    res = r.ctl("link", "add", "al2", "--allow", "300.1.1.1", check=False)
    c.check("link add with a bad prefix: exit 2, no link",
            res.returncode == 2 and "al2" not in r.ctl("link", "list").stdout, res.stderr)


def check_limit(c, r):
    sixteen = ["100.64.0.%d" % i for i in range(16)]
    args = []
    for a in sixteen:
        args += ["--allow-b", a]
    r.ctl("link", "set", "al", *args)
    c.check("16 prefixes stored", allow_of(r)["b"] == sorted(a + "/32" for a in sixteen),
            allow_of(r))
    res = r.ctl("link", "set", "al", *(args + ["--allow-b", "100.64.1.0/24"]), check=False)
    c.check("a 17th refused", res.returncode == 2 and "more than 16" in res.stderr, res.stderr)
    c.check("list unchanged", len(allow_of(r)["b"]) == 16, allow_of(r))
    out = r.ctl_json("link", "add", "al3", "--allow", "198.18.0.0/15", "--allow-b", "fd00::/8",
                     "--a-key", h.keygen()[1], "--b-key", h.keygen()[1])
    shown = r.ctl_json("link", "show", "al3")["allow"]
    c.check("link add stores the lists", shown == {"a": ["198.18.0.0/15"],
                                                   "b": ["198.18.0.0/15", "fd00::/8"]},
            (out, shown))


def main():
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        print("SKIP: no IPv6 loopback")
        return h.SKIP if hasattr(h, "SKIP") else 77
    c = h.Checks()
    r = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0"})
    try:
        r.start(["--listen", "[::1]:0", "--listen", "127.0.0.1:0"])
        listen = r.status()["listen"]
        r.ports = {socket.AF_INET6: int(listen[0].rsplit(":", 1)[1]),
                   socket.AF_INET: int(listen[1].rsplit(":", 1)[1])}
        link = r.add_link_live("al")
        sa = check_control(c, r, link)
        sb = check_leg(c, r, link, sa)
        check_live(c, r, link, sa, sb)
        check_v6(c, r, link)
        check_input(c, r)
        check_limit(c, r)
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
