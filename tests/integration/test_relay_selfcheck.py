#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The advertised-address self-check (docs/design.md D35), with real
processes on loopback. Relay A advertises:
  - the address of relay B, which holds another key        -> wrong_key
  - a port bound but not listening                         -> refused
  - a port that accepts (backlog) and never reads          -> timeout,
    bounded by advertise_check_timeout (rounds keep coming)
  - a port F bound but not listening at first              -> refused, then
    a forwarder starts on F towards A                      -> ok (recovery),
    then the forwarder stops                               -> failing again
  - after SIGHUP, its own listen address                   -> ok
Every state change is logged (warning when failing, info when recovered);
`linkctl status` (text and --json) and /metrics show each address; while
all fail the relay is not usable and says so once. A's own checks are
answered quietly: no pre-authentication failure is counted on A. With
advertise_check_interval = 0 nothing is checked.
"""
import os
import re
import signal
import socket
import sys
import threading
import time

import lrharness as h
import promharness as ph

# The timeout is generous for an answer over loopback (also under ASan on a
# loaded machine); the tests wait for states, never for a time.
CHECK = {"advertise_check_interval": "200ms", "advertise_check_timeout": "3s"}


class Forwarder:
    """A TCP port forwarder on an already bound socket (a NAT's port
    mapping): accepts on it and copies both ways to target."""

    def __init__(self, sock, target):
        self.sock = sock
        self.target = target
        self.conns = []
        self.lock = threading.Lock()
        sock.listen(16)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.t.join(5)
        with self.lock:
            for s in self.conns:
                s.close()


def bound(listen=False):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    if listen:
        s.listen(64)
    return s


def write_config(r, advertise, extra):
    with open(os.path.join(r.dir, "linkrelay.conf"), "w") as f:
        f.write("[relay]\nlisten = 127.0.0.1:0\nlog_level = info\nmetrics_listen = 127.0.0.1:0\n")
        for a in advertise:
            f.write("advertise = %s\n" % a)
        for k, v in extra.items():
            f.write("%s = %s\n" % (k, v))
        f.write("[limits]\n")
        for k, v in r.limits.items():
            f.write("%s = %s\n" % (k, v))


def states(r):
    return {a["addr"]: a for a in r.status()["advertise_check"]["addresses"]}


def state_is(r, addr, want):
    a = states(r).get(addr)
    return a is not None and a["state"] == want


def checks_total(port, result):
    return ph.value(ph.scrape(port), "linkrelay_advertise_checks_total", result=result) or 0


def main():
    c = h.Checks()
    a = h.Relay()
    b = h.Relay()
    off = h.Relay()
    socks = []
    fwd = None
    try:
        b.start()
        closed, silent, f = bound(), bound(listen=True), bound()
        socks += [closed, silent, f]
        addr_b = b.addr
        addr_c = "127.0.0.1:%d" % closed.getsockname()[1]
        addr_d = "127.0.0.1:%d" % silent.getsockname()[1]
        addr_f = "127.0.0.1:%d" % f.getsockname()[1]
        adv = [addr_b, addr_c, addr_d, addr_f]
        write_config(a, adv, CHECK)
        a.start()
        port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", a.log()).group(1))

        want = {addr_b: "wrong_key", addr_c: "refused", addr_d: "timeout", addr_f: "refused"}
        ok = h.wait_for(lambda: all(state_is(a, k, v) for k, v in want.items()), 30)
        st = states(a)
        c.check("on start: another relay's address is wrong_key, a closed port refused, a "
                "silent port timeout", ok, {k: (v["state"], v["detail"]) for k, v in st.items()})
        c.check("the timeout names the check timeout",
                st[addr_d]["detail"] == "no answer within 3000 ms, waiting for message 2",
                st[addr_d]["detail"])
        c.check("wrong_key says another relay or service answered",
                "another relay or service answered" in st[addr_b]["detail"], st[addr_b]["detail"])
        c.check("a failing address has been checked and never passed",
                all(v["last_check_ms"] and v["last_ok_ms"] is None for v in st.values()))
        for k, v in want.items():
            c.check("warning logged for %s (%s)" % (k, v),
                    "warn: advertise %s does not reach this relay: %s" % (k, v) in a.log())
        c.check("all fail: the relay is not usable, and says so",
                a.status()["advertise_check"]["usable"] is False and
                "none of the 4 advertised addresses reaches this relay" in a.log())
        out = a.ctl("status").stdout
        c.check("linkctl status: the relay line and one line per address",
                "NONE of 4 advertised addresses reaches this relay" in out and
                ("  %s: refused (connection refused), failing since" % addr_c) in out and
                ("  %s: timeout (no answer within 3000 ms" % addr_d) in out, out)
        js = a.ctl_json("status")["advertise_check"]
        c.check("linkctl status --json: interval, timeout, addresses",
                js["interval_ms"] == 200 and js["timeout_ms"] == 3000 and
                [x["addr"] for x in js["addresses"]] == adv, js)
        ms = ph.scrape(port)
        c.check("metrics: linkrelay_advertise_ok 0 for each, usable 0",
                all(ph.value(ms, "linkrelay_advertise_ok", addr=x) == 0 for x in adv) and
                ph.value(ms, "linkrelay_advertise_usable") == 0,
                ph.series(ms, "linkrelay_advertise_ok"))
        c.check("metrics: checks counted by result",
                all((ph.value(ms, "linkrelay_advertise_checks_total", result=x) or 0) >= 1
                    for x in ("refused", "timeout", "wrong_key")))
        # The silent port's checks end at the timeout: rounds keep coming.
        n = checks_total(port, "timeout")
        c.check("timeout checks end and the next rounds come",
                h.wait_for(lambda: checks_total(port, "timeout") >= n + 2, 30))
        c.check("relay B saw A's probes as handshake failures (message 1 to another key)",
                re.search(r"refused 127\.0\.0\.1:\d+: handshake", b.log()) is not None)

        # Recovery: the forwarder on F reaches A (a NAT's port mapping).
        fwd = Forwarder(f, (a.host, a.port))
        socks.remove(f)
        c.check("F recovers once forwarded to A", h.wait_for(lambda: state_is(a, addr_f, "ok"), 30),
                states(a)[addr_f])
        c.check("recovery logged at info",
                "info: advertise %s reaches this relay again (was refused)" % addr_f in a.log())
        c.check("usable again, and said so",
                h.wait_for(lambda: a.status()["advertise_check"]["usable"], 30) and
                "an advertised address reaches this relay again" in a.log())
        ms = ph.scrape(port)
        c.check("metrics: linkrelay_advertise_ok 1 for F, usable 1",
                ph.value(ms, "linkrelay_advertise_ok", addr=addr_f) == 1 and
                ph.value(ms, "linkrelay_advertise_usable") == 1)
        stat = a.status()
        c.check("A answered its own checks without counting them as failures",
                stat["advertise_check"]["answered"] >= 1 and stat["auth_failures"] == 0 and
                "refused 127.0.0.1" not in a.log(), (stat["auth_failures"], stat["failures"]))

        # SIGHUP: A's own listen address joins the list.
        write_config(a, adv + [a.addr], CHECK)
        a.proc.send_signal(signal.SIGHUP)
        c.check("after SIGHUP its own listen address is ok",
                h.wait_for(lambda: state_is(a, a.addr, "ok"), 30))
        c.check("the kept addresses kept their state across the reload",
                states(a)[addr_f]["last_ok_ms"] is not None)

        # The forwarder goes: F fails again, logged once more.
        fwd.close()
        fwd = None
        # Each change is logged once: a failing F has one warning more than
        # it has recoveries (a failure kind that repeats is not logged again).
        fails = lambda: a.log().count("advertise %s does not reach this relay" % addr_f)
        again = lambda: a.log().count("advertise %s reaches this relay again" % addr_f)
        c.check("F fails again once the forwarder is gone, logged once more",
                h.wait_for(lambda: fails() >= 2 and fails() == again() + 1 and
                           not state_is(a, addr_f, "ok"), 30), (fails(), again()))
        c.check("still usable: A's own address passes", a.status()["advertise_check"]["usable"])

        # advertise_check_interval = 0: no check at all.
        write_config(off, [addr_c], {"advertise_check_interval": "0"})
        off.start()
        time.sleep(0.5)
        sc = off.status()["advertise_check"]
        c.check("interval 0: nothing checked, usable",
                sc["interval_ms"] == 0 and sum(sc["checks"].values()) == 0 and sc["usable"] and
                sc["addresses"][0]["state"] == "none", sc)
        c.check("interval 0: linkctl status says off",
                "self-check:    off (advertise_check_interval = 0)" in off.ctl("status").stdout)
    finally:
        if fwd is not None:
            fwd.close()
        for s in socks:
            s.close()
        for r in (a, b, off):
            try:
                r.close()
            except AssertionError as e:
                c.check("relay stopped cleanly", False, str(e))
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
