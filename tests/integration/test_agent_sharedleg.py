#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Shared stream legs between two real agents and a real relay
(docs/protocol.md §7.6, design.md D58), seen in the relay's status
(streams_total, streams_open: a shared leg pair is one spliced stream there)
and the agents' metrics (linkagent_stream_legs_total{leg},
linkagent_shared_legs{role}, linkagent_shared_leg_*):

  - streams one after the other: the first on a new leg, which becomes a
    shared leg when it ends, the rest on channels of it; the relay splices
    one stream for all; every byte intact;
  - a burst of 32 streams open at once runs on that one shared leg: still
    one relay stream, and fewer writes than frames on it (the frames of a
    turn of the loop share a write);
  - a stream whose client stops reading fills its own channel's window and
    holds up no other stream on the same shared leg; once the client reads
    again every byte arrives, intact and in order;
  - the shared leg's socket at the relay killed (ss -K) while a stream runs
    on it: the stream resumes on a leg of its own (§7.3), every byte once,
    a clean end; the streams after work;
  - bytes on the shared leg that break §7.6 (written on a's socket from
    outside, as a relay could): b resets the shared leg and counts a
    protocol error; the next stream works;
  - a new stream that gets no answer on its channel in 3 s (b stopped with
    SIGSTOP): a resets the shared leg, tells the relay (LEG_LOST: the relay
    ends the leg pair, linkrelay_leg_lost_ended_total) and opens the stream
    anew, once; when b runs again the client's bytes come back intact;
  - a reload to share_legs = no: the next streams run on kept legs, none
    on the shared leg;
  - back to share_legs = yes, a burst of 12 streams with no shared leg to
    take: 12 new legs, of which at most twice keep_legs (8) become shared
    legs (the rest close), and keep_legs (4) stay once idle a second (D56's
    bound, applied to shared legs);
  - share_legs = no on one side: the legs are kept legs (§7.5), nothing is
    shared;
  - --share-legs and share_legs: printed by --check, bad values exit 2.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import promharness as ph
from test_agent_keepleg import burst, relay_streams
from test_agent_keepleg_resume import control_ports, echo_part, inject, kill_sock, relay_socks, \
    sock_fd


def legs(port):
    ms = ph.scrape_after(port)
    return {k: ph.value(ms, "linkagent_stream_legs_total", link="lnk", leg=k)
            for k in ("new", "kept", "fallback", "shared")}


def shared(port, role="opener"):
    return ph.value(ph.scrape_after(port), "linkagent_shared_legs", link="lnk", role=role)


def metric(port, name):
    return ph.value(ph.scrape_after(port), name, link="lnk")


def read_n(s, n):
    got = bytearray()  # appends in place: 64 MiB in 64 KiB pieces stays linear
    while len(got) < n:
        b = s.recv(65536)
        if not b:
            break
        got += b
    return bytes(got)


def check_cli(c, token):
    def run(*args):
        return ah.check_run(token, *args)
    r = run()
    c.check("--check: share_legs = yes by default",
            r.returncode == 0 and "share_legs = yes\n" in r.stdout, r.stdout + r.stderr)
    r = run("--share-legs", "no")
    c.check("--share-legs no turns it off", r.returncode == 0 and "share_legs = no\n" in r.stdout,
            r.stdout + r.stderr)
    r = run("--share-legs", "maybe")
    c.check("a bad --share-legs exits 2", r.returncode == 2
            and "--share-legs 'maybe': not yes or no" in r.stderr, r.stderr)


def check_conf(c, rig, token):
    path = os.path.join(rig.tmp, "bad.conf")
    with open(path, "w") as f:
        f.write("[agent]\nrelay = 127.0.0.1:1\nshare_legs = perhaps\n\n[link x]\n"
                "token = %s\nlisten = 127.0.0.1:1\n" % token)
    r = subprocess.run([ah.AGENT, "--config", path, "--check"], capture_output=True, text=True,
                       timeout=20)
    c.check("share_legs = perhaps in the file fails (1, as any bad line) and names the line",
            r.returncode == 1 and "line 3: share_legs: 'perhaps' is not yes or no" in r.stderr,
            r.stderr)


def slow_reader(c, r, la, pa):
    """X's client sends 64 MiB and reads nothing: its channel's window fills
    (a's socket to X, then each agent's channel, then b's socket to the echo
    server), and its sends stop well before 64 MiB (loopback's socket
    buffers hold a few MiB each way). Y, on the same shared leg, works
    meanwhile."""
    total0 = relay_streams(r)[0]
    size = 64 << 20
    data = os.urandom(size)
    x = socket.create_connection(("127.0.0.1", la), timeout=60)
    sent = threading.Event()

    def send():
        try:
            x.sendall(data)
            sent.set()
        except OSError:
            pass
    t = threading.Thread(target=send, daemon=True)
    t.start()
    c.check("X's client is held up: its sends stop (window full)",
            not sent.wait(3) and t.is_alive())
    t0 = time.monotonic()
    ok = ah.works(la, 30000)
    c.check("meanwhile a stream Y on the same shared leg works (%.2f s)"
            % (time.monotonic() - t0), ok)
    got = read_n(x, size)
    t.join(30)
    x.shutdown(socket.SHUT_WR)
    rest = read_n(x, 1)
    x.close()
    c.check("X's client reads again: all 64 MiB intact, then a clean end",
            got == data and rest == b"", (len(got), len(rest)))
    c.check("X and Y ran on the shared leg: no new relay stream",
            relay_streams(r)[0] == total0, (total0, relay_streams(r)))


def killed_shared_leg(c, r, a, b, la, pa):
    """The shared leg's connection is killed at the relay while a stream runs
    on it: the stream resumes on a leg of its own."""
    s = socket.create_connection(("127.0.0.1", la), timeout=30)
    one, two = os.urandom(200000), os.urandom(300000)
    got = echo_part(s, one)
    c.check("a stream runs on the shared leg", got == one, len(got))
    legs_ = relay_socks(a.proc.pid, r.port) - control_ports(r)
    c.check("a has one leg to the relay besides its control session", len(legs_) == 1, legs_)
    resumed0 = ph.value(ph.scrape_after(pa), "linkagent_streams_resumed_total")
    c.check("ss -K kills it", legs_ and kill_sock(legs_.pop(), r.port))
    got = echo_part(s, two)
    s.shutdown(socket.SHUT_WR)
    rest = read_n(s, 1)
    s.close()
    c.check("every byte came back once, then a clean end", got == two and rest == b"",
            (len(got), len(rest)))
    c.check("a resumed the stream on a leg of its own", h.wait_for(lambda: ph.value(
        ph.scrape_after(pa), "linkagent_streams_resumed_total") == resumed0 + 1, 10))
    c.check("5 streams after it work", sum(1 for _ in range(5) if ah.works(la, 20000)) == 5)


def injected(c, a, b, la, pa, pb, r):
    """Bytes that break §7.6 on an idle shared leg: b resets it."""
    c.check("idle shared legs each side", h.wait_for(lambda: settled(r, pa, pb), 10),
            (shared(pa), shared(pb, "answer"), relay_streams(r)))
    n0 = shared(pa)
    port = (relay_socks(a.proc.pid, r.port) - control_ports(r) or {0}).pop()
    fd = sock_fd(a.proc.pid, port)
    c.check("a's shared leg socket found", fd is not None, port)
    errs0 = metric(pb, "linkagent_shared_leg_errors_total")
    c.check("9 bytes of a frame of an unknown type written on it",
            fd is not None and inject(a.proc.pid, fd, bytes([9]) + bytes(8)))
    c.check("b resets the shared leg for the protocol error", h.wait_for(
        lambda: metric(pb, "linkagent_shared_leg_errors_total") == errs0 + 1, 10))
    c.check("both sides dropped it", h.wait_for(
        lambda: shared(pa) == n0 - 1 and shared(pb, "answer") == n0 - 1, 10),
        (n0, shared(pa), shared(pb, "answer")))
    c.check("the next stream works", ah.works(la, 20000))


def relay_metric(r, name):
    m = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", r.log())
    return ph.value(ph.scrape(int(m[-1])), name) if m else -1


def settled(r, pa, pb):
    """Every leg is a shared leg with no channel open, the same number each
    side and at the relay: no stream is still finishing (the streams of a
    quick sequence may each have made a new leg before the last was shared)."""
    n = shared(pa)
    return (n >= 1 and shared(pb, "answer") == n and relay_streams(r)[1] == n
            and metric(pa, "linkagent_shared_leg_channels") == 0)


def no_answer(c, r, a, b, la, pa, pb):
    """b stops; a's next stream gets no answer on its channel."""
    c.check("shared legs each side, idle", h.wait_for(lambda: settled(r, pa, pb), 10),
            (shared(pa), shared(pb, "answer"), relay_streams(r)))
    n0 = shared(pa)
    ended0 = relay_metric(r, "linkrelay_leg_lost_ended_total")
    fb0 = legs(pa)["fallback"]
    data = os.urandom(50000)
    out = {}
    b.proc.send_signal(signal.SIGSTOP)
    try:
        t = threading.Thread(target=lambda: out.update(r=ah.roundtrip(la, data, timeout=30)))
        t.start()
        c.check("no answer in 3 s: a falls back, once", h.wait_for(
            lambda: legs(pa)["fallback"] == fb0 + 1, 10), legs(pa))
        c.check("and resets that shared leg", h.wait_for(
            lambda: shared(pa) == n0 - 1, 5), (n0, shared(pa)))
        c.check("a told the relay (LEG_LOST): it ended the leg pair", h.wait_for(
            lambda: relay_metric(r, "linkrelay_leg_lost_ended_total") == ended0 + 1, 5),
            (ended0, relay_metric(r, "linkrelay_leg_lost_ended_total")))
    finally:
        b.proc.send_signal(signal.SIGCONT)
    t.join(40)
    c.check("once b runs again the client's bytes come back intact, a clean end",
            out.get("r") == (data, "eof"), (len(out.get("r", (b"",))[0]), out.get("r", (0, 0))[1]))
    c.check("b dropped its side of it: both sides the same again (the fallback's leg shared)",
            h.wait_for(lambda: shared(pa) == n0 and shared(pb, "answer") == n0, 10),
            (n0, shared(pa), shared(pb, "answer")))


def reload_off(c, rig, a, la, pa):
    """share_legs = no by a reload: the next streams run on kept legs."""
    path = os.path.join(rig.tmp, "a.conf")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("keep_idle = 30s", "keep_idle = 30s\nshare_legs = no"))
    n = a.count("reloaded ")
    a.proc.send_signal(signal.SIGHUP)
    c.check("a reloaded with share_legs = no", a.wait_log("reloaded ", n=n + 1))
    before = legs(pa)
    ok = 0
    for _ in range(4):
        ok += ah.works(la, 20000)
        h.wait_for(lambda: ph.value(ph.scrape_after(pa), "linkagent_kept_legs", link="lnk",
                                    role="opener") == 1, 5)
    after = legs(pa)
    c.check("after the reload no stream runs on a shared leg, the legs are kept",
            ok == 4 and after["shared"] == before["shared"] and after["kept"] > before["kept"],
            (before, after))
    c.check("and the idle shared leg is closed", h.wait_for(lambda: shared(pa) == 0, 5),
            shared(pa))


def burst_bound(c, rig, r, a, la, pa):
    """Shared legs have the kept-leg bound: twice keep_legs at most, then
    keep_legs once idle a second."""
    path = os.path.join(rig.tmp, "a.conf")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("\nshare_legs = no", ""))
    n = a.count("reloaded ")
    a.proc.send_signal(signal.SIGHUP)
    c.check("a reloaded with share_legs = yes again", a.wait_log("reloaded ", n=n + 1))
    c.check("a burst of 12 concurrent streams works", burst(la, 12) == 12)
    seen, until = [], time.monotonic() + 8
    while time.monotonic() < until and (not seen or seen[-1] != 4):
        seen.append(shared(pa))
        time.sleep(0.05)
    c.check("never more than twice keep_legs (8) shared legs after the burst",
            max(seen) <= 8 and max(seen) > 4, seen)
    c.check("keep_legs (4) shared legs once the others were idle a second", h.wait_for(
        lambda: shared(pa) == 4 and relay_streams(r)[1] == 4, 5),
        (shared(pa), relay_streams(r)))


def main():
    c = h.Checks()
    # b is stopped for the answer deadline (3 s) and more: the relay must not
    # call it dead meanwhile, nor expire the fallback's ticket.
    relay = h.Relay(limits={"dead_after": "30s", "ticket_expiry": "15s"},
                    extra_relay={"metrics_listen": "127.0.0.1:0"})
    rig = ah.Rig(relay=relay)
    try:
        r = rig.start_relay()
        srv = rig.server("echo")
        toks = rig.link("lnk")["tokens"]
        check_cli(c, toks["a"])
        check_conf(c, rig, toks["a"])
        la = ah.free_port()
        common = "backoff_min = 100ms\nbackoff_max = 1s\nkeep_legs = 4\nkeep_idle = 30s"
        b = rig.conf_agent("b", toks["b"], "connect = 127.0.0.1:%d" % srv.port, common)
        a = rig.conf_agent("a", toks["a"], "listen = 127.0.0.1:%d" % la, common)
        c.check("agents online", h.wait_for(lambda: "peer online" in a.log()
                                            and "peer online" in b.log(), 20))
        pa, pb = ah.metrics_port(a), ah.metrics_port(b)

        n = 20
        ok = 0
        for _ in range(n):
            ok += ah.works(la, 30000)
            h.wait_for(lambda: shared(pa) == 1, 5)
        c.check("%d streams one after the other work, bytes intact" % n, ok == n)
        c.check("the relay spliced one stream for all of them",
                h.wait_for(lambda: relay_streams(r) == (1, 1), 5), relay_streams(r))
        want = {"new": 1, "kept": 0, "fallback": 0, "shared": n - 1}
        c.check("a: one new leg, the rest channels of the shared leg",
                h.wait_for(lambda: legs(pa) == want, 5), legs(pa))
        c.check("b: the same as the answering side", h.wait_for(lambda: legs(pb) == want, 5),
                legs(pb))
        c.check("one shared leg each side, no kept leg", shared(pa) == 1
                and shared(pb, "answer") == 1
                and ph.value(ph.scrape_after(pa), "linkagent_kept_legs", link="lnk",
                             role="opener") == 0)

        w0, f0 = (metric(pa, "linkagent_shared_leg_writes_total"),
                  metric(pa, "linkagent_shared_leg_frames_total"))
        c.check("a burst of 32 concurrent streams works", burst(la, 32) == 32)
        c.check("all on the shared leg: still one relay stream", relay_streams(r)[0] == 1,
                relay_streams(r))
        w1, f1 = (metric(pa, "linkagent_shared_leg_writes_total"),
                  metric(pa, "linkagent_shared_leg_frames_total"))
        c.check("frames of a turn shared writes: %d frames in %d writes" % (f1 - f0, w1 - w0),
                f1 - f0 > w1 - w0 > 0)
        c.check("no channel left open", h.wait_for(lambda: metric(
            pa, "linkagent_shared_leg_channels") == 0 and metric(
            pb, "linkagent_shared_leg_channels") == 0, 5))

        slow_reader(c, r, la, pa)
        killed_shared_leg(c, r, a, b, la, pa)
        injected(c, a, b, la, pa, pb, r)
        no_answer(c, r, a, b, la, pa, pb)

        # share_legs = no on b: kept legs, as with a peer before D58.
        online = a.count("peer online")
        b.kill()
        b2 = rig.conf_agent("b2", toks["b"], "connect = 127.0.0.1:%d" % srv.port,
                            common + "\nshare_legs = no")
        c.check("a: peer online with b2", a.wait_log("peer online", n=online + 1, timeout=30))
        before = legs(pa)
        for _ in range(5):
            ok = ah.works(la, 20000)
            h.wait_for(lambda: ph.value(ph.scrape_after(pa), "linkagent_kept_legs",
                                        link="lnk", role="opener") == 1, 5)
        after = legs(pa)
        c.check("with share_legs = no on b the legs are kept, not shared",
                ok and after["shared"] == before["shared"]
                and after["kept"] - before["kept"] >= 3, (before, after))
        c.check("b2 has no shared leg", shared(ah.metrics_port(b2), "answer") == 0)
        b2.kill()
        b3 = rig.conf_agent("b3", toks["b"], "connect = 127.0.0.1:%d" % srv.port, common)
        c.check("a: peer online with b3 (shares legs)",
                a.wait_log("peer online", n=online + 2, timeout=30))
        c.check("a stream with b3 leaves a shared leg", ah.works(la, 20000) and h.wait_for(
            lambda: shared(pa) == 1 and shared(ah.metrics_port(b3), "answer") == 1, 5))
        reload_off(c, rig, a, la, pa)
        burst_bound(c, rig, r, a, la, pa)
    finally:
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
