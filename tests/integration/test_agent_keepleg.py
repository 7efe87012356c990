#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kept stream legs between two real agents (docs/protocol.md §7.5, design.md
D48), seen in the relay's status (streams_total, streams_open: the relay
sees one long spliced stream per kept leg pair) and the agents' metrics
(linkagent_stream_legs_total{leg}, linkagent_kept_legs{role}):

  - streams one after the other run on one kept leg pair: the relay splices
    one stream, a counts one new leg and the rest kept, every byte intact;
  - a stream that half-closes (the client shuts its write side, the server
    answers later) works on a kept leg;
  - a burst of streams open at once leaves at most twice keep_legs kept at
    any time, and keep_legs once the others were idle a second (D56; the
    second itself, to the millisecond: tests/unit/agent/test_streamkeep.c);
    after a reload to keep_legs = 16, a quarter of the relay's
    max_streams_per_link (32 here: 8), an idle kept leg pair being an open
    stream there;
  - keep_idle closes them: the relay sees its streams end;
  - side b's agent restarts while a leg is idle: the next streams work and
    the client sees no error (the idle leg goes with b, or falls back);
  - keep_legs = 0 on either side turns it off: every stream is a new one;
  - --keep-legs and --keep-idle: printed by --check, bad values exit 2.
"""
import os
import signal
import socket
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import promharness as ph

KEEP = 4


def legs(port, link="lnk"):
    ms = ph.scrape_after(port)
    return {k: ph.value(ms, "linkagent_stream_legs_total", link=link, leg=k)
            for k in ("new", "kept", "fallback")}


def idle(port, role="opener", link="lnk"):
    return ph.value(ph.scrape_after(port), "linkagent_kept_legs", link=link, role=role)


def relay_streams(r):
    st = r.ctl_json("status")
    return st["streams_total"], st["streams_open"]


def burst(port, n, size=20000):
    """n streams open at the same time: each sends size bytes and reads its
    echo, then waits until all n have, and only then ends its stream. So the
    burst needs n legs at once however fast the machine runs the threads
    (without the wait, a stream that ends early leaves its leg to the next)."""
    ok = []
    gate = threading.Barrier(n, timeout=30)

    def one():
        data = os.urandom(size)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            gate.abort()
            return
        try:
            s.sendall(data)
            got = b""
            while len(got) < size:
                b = s.recv(65536)
                if not b:
                    break
                got += b
            gate.wait()
            s.shutdown(socket.SHUT_WR)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
            ok.append(got == data)
        except (OSError, threading.BrokenBarrierError):
            gate.abort()
        finally:
            s.close()
    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return sum(ok)


def half_close(port):
    """The client sends, shuts its write side, and only then reads the
    answer (a slow server: the delay server answers after its peer's EOF)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = b"question " * 1000
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    return got == data


def check_cli(c, token):
    def run(*args):
        return ah.check_run(token, *args)
    r = run()
    c.check("--check: keep_legs = 64, keep_idle = 15s by default", r.returncode == 0
            and "keep_legs = 64\nkeep_idle = 15s\n" in r.stdout, r.stdout + r.stderr)
    r = run("--keep-legs", "0", "--keep-idle", "2m")
    c.check("--keep-legs and --keep-idle set them", r.returncode == 0
            and "keep_legs = 0\nkeep_idle = 2m\n" in r.stdout, r.stdout + r.stderr)
    r = run("--keep-legs", "1025")
    c.check("a bad --keep-legs exits 2", r.returncode == 2
            and "--keep-legs '1025': not a whole number within 0..1024" in r.stderr, r.stderr)
    r = run("--keep-idle", "0")
    c.check("a bad --keep-idle exits 2", r.returncode == 2
            and "--keep-idle '0': not a duration within 1s..1h" in r.stderr, r.stderr)


def main():
    c = h.Checks()
    rig = ah.Rig(limits={"max_streams_per_link": "32"})
    try:
        r = rig.start_relay()
        srv = rig.server("echo")
        toks = rig.link("lnk")["tokens"]
        check_cli(c, toks["a"])
        la = ah.free_port()
        # Kept legs as with peers before D58 (shared legs: test_agent_sharedleg).
        common = ("backoff_min = 100ms\nbackoff_max = 1s\nkeep_legs = %d\nkeep_idle = 10s\n"
                  "share_legs = no" % KEEP)
        b = rig.conf_agent("b", toks["b"], "connect = 127.0.0.1:%d" % srv.port, common)
        a = rig.conf_agent("a", toks["a"], "listen = 127.0.0.1:%d" % la, common)
        c.check("agents online", h.wait_for(lambda: "peer online" in a.log()
                                            and "peer online" in b.log(), 20))
        pa, pb = ah.metrics_port(a), ah.metrics_port(b)

        # Each stream once the one before left its leg idle (the initiator's
        # FINISHED comes a round trip after its client saw the end).
        n = 20
        ok = 0
        for _ in range(n):
            ok += ah.works(la, 30000)
            h.wait_for(lambda: idle(pa) == 1, 5)
        c.check("%d streams one after the other work, bytes intact" % n, ok == n)
        c.check("the relay spliced one stream for all of them",
                h.wait_for(lambda: relay_streams(r) == (1, 1), 5), relay_streams(r))
        c.check("a: one new leg, the rest kept, no fallback",
                h.wait_for(lambda: legs(pa) == {"new": 1, "kept": n - 1, "fallback": 0}, 5),
                legs(pa))
        c.check("b: the same as the answering side",
                h.wait_for(lambda: legs(pb) == {"new": 1, "kept": n - 1, "fallback": 0}, 5),
                legs(pb))
        c.check("one idle kept leg each side",
                h.wait_for(lambda: idle(pa) == 1 and idle(pb, "answer") == 1, 5),
                (idle(pa), idle(pb, "answer")))

        c.check("a half-closed stream works on the kept leg", half_close(la))
        c.check("still the one relay stream", relay_streams(r)[0] == 1, relay_streams(r))

        c.check("a burst of 12 concurrent streams works", burst(la, 12) == 12)
        # The trim comes 1-2 s after the burst, keep_idle (10 s) long after.
        seen, until = [], time.monotonic() + 8
        while time.monotonic() < until and (not seen or seen[-1] != KEEP):
            seen.append(idle(pa))
            time.sleep(0.05)
        c.check("never more than twice keep_legs (%d) idle after the burst" % (2 * KEEP),
                max(seen) <= 2 * KEEP, seen)
        c.check("keep_legs (%d) kept once the others were idle a second" % KEEP,
                h.wait_for(lambda: idle(pa) == KEEP and idle(pb, "answer") <= 2 * KEEP, 5),
                (idle(pa), idle(pb, "answer")))
        c.check("the relay's open streams are the kept ones",
                h.wait_for(lambda: relay_streams(r)[1] == KEEP, 5), relay_streams(r))
        reloads = {ag.name: ag.count("reloaded ") for ag in (a, b)}
        for ag in (a, b):
            path = os.path.join(rig.tmp, "%s.conf" % ag.name)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("keep_legs = %d" % KEEP, "keep_legs = 16"))
            ag.proc.send_signal(signal.SIGHUP)
        c.check("both agents reloaded", all(ag.wait_log("reloaded ", n=reloads[ag.name] + 1)
                                            for ag in (a, b)))
        c.check("a burst of 20 works after the reload", burst(la, 20) == 20)
        c.check("at most a quarter of max_streams_per_link (8) kept, not keep_legs (16)",
                h.wait_for(lambda: idle(pa) == 8 and idle(pb, "answer") <= 16, 5),
                (idle(pa), idle(pb, "answer")))

        c.check("keep_idle (10s) closes them: the relay sees its streams end",
                h.wait_for(lambda: relay_streams(r)[1] == 0 and idle(pa) == 0
                           and idle(pb, "answer") == 0, 20),
                (relay_streams(r), idle(pa), idle(pb, "answer")))

        # b restarts while a leg is idle: every stream after works.
        c.check("a stream leaves a kept leg", ah.works(la, 1000)
                and h.wait_for(lambda: idle(pa) == 1, 5))
        online = a.count("peer online")
        b.kill()
        b.start()
        c.check("a: peer online again", a.wait_log("peer online", n=online + 1, timeout=30))
        pb = ah.metrics_port(b)
        c.check("after b's restart 10 streams work", sum(1 for _ in range(10)
                                                        if ah.works(la, 30000)) == 10)
        la_legs = legs(pa)
        c.check("a never used a stale leg without falling back",
                la_legs["fallback"] <= 1, la_legs)

        # keep_legs = 0 on b: it never offers the item; a's streams are new.
        b.kill()
        b2 = rig.conf_agent("b2", toks["b"], "connect = 127.0.0.1:%d" % srv.port,
                            "backoff_min = 100ms\nbackoff_max = 1s\nkeep_legs = 0")
        c.check("a: peer online with b2", a.wait_log("peer online", n=online + 2, timeout=30))
        pb2 = ah.metrics_port(b2)
        before = legs(pa)
        total0 = relay_streams(r)[0]
        c.check("5 streams work with keep_legs = 0 on b",
                sum(1 for _ in range(5) if ah.works(la, 1000)) == 5)
        after = legs(pa)
        c.check("each of them a new leg, nothing kept",
                after["new"] - before["new"] == 5 and after["kept"] == before["kept"]
                and relay_streams(r)[0] - total0 == 5 and legs(pb2)["kept"] == 0,
                (before, after, relay_streams(r)))
        time.sleep(0.2)
        c.check("no kept legs idle", idle(pa) == 0 and idle(pb2, "answer") == 0)
    finally:
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
