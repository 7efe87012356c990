#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Link sessions between two real agents (docs/protocol.md §7.4, design.md
D46), seen in their metrics (linkagent_streams_total{handshake},
linkagent_link_sessions, linkagent_link_sessions_total):

  - the first stream's KK makes the session while the connect side's target
    refuses, so that side ends the stream before the initiator's header
    (what the first bench run hit): it still answers the streams keyed
    with the session, which the initiator holds; then many streams one
    after the other: only the first ran the full KK, all others are keyed
    by the session it made; both agents hold one;
  - a burst of concurrent streams works, and a few at most run a KK;
  - side b's agent restarts (SIGKILL, so it says nothing): side a drops its
    session when the relay reports the peer offline and online again; every
    stream afterwards works; the restarted agent's first stream is a KK,
    the rest are keyed; nothing is refused;
  - side a's agent restarts: b drops its session the same way; a's first
    streams are a burst of concurrent ones: only one of their KKs asks for
    a session (one offer at a time), so exactly one is made, and every
    stream after the burst is keyed.
"""
import re
import sys
import threading

import agentharness as ah
import lrharness as h
import promharness as ph

N = 30


def port_of(proc, nth=1):
    pat = r"metrics on http://127\.0\.0\.1:(\d+)/"
    h.wait_for(lambda: len(re.findall(pat, proc.log())) >= nth, 10)
    found = re.findall(pat, proc.log())
    return int(found[nth - 1]) if len(found) >= nth else None


def counts(port):
    ms = ph.scrape(port)
    return {
        "kk": ph.value(ms, "linkagent_streams_total", handshake="kk"),
        "session": ph.value(ms, "linkagent_streams_total", handshake="session"),
        "held": ph.value(ms, "linkagent_link_sessions"),
        "made": ph.value(ms, "linkagent_link_sessions_total", event="made"),
        "refused": ph.value(ms, "linkagent_link_sessions_total", event="refused"),
        "failed": ph.value(ms, "linkagent_link_sessions_total", event="failed"),
    }


def streams(port, n):
    """n streams one after the other; how many worked."""
    return sum(1 for _ in range(n) if ah.works(port, 3000))


def burst(port, n):
    ok = []

    def one():
        ok.append(ah.works(port, 3000))
    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return sum(ok)


def settle(pa, pb, total_a, total_b=None):
    """Agent a counted total_a streams and agent b total_b (default: the
    same) since each started (the last stream's counts come after its local
    connection ended)."""
    want = ((pa, total_a), (pb, total_a if total_b is None else total_b))
    return h.wait_for(lambda: all(counts(p)["kk"] + counts(p)["session"] >= t
                                  for p, t in want), 10)


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        rig.start_relay()
        target = ah.free_port()  # nothing listens there yet
        toks = rig.link("lnk")["tokens"]
        la = ah.free_port()
        b = rig.conf_agent("b", toks["b"], "connect = 127.0.0.1:%d" % target,
                           "backoff_min = 100ms\nbackoff_max = 1s")
        a = rig.conf_agent("a", toks["a"], "listen = 127.0.0.1:%d" % la,
                           "backoff_min = 100ms\nbackoff_max = 1s")
        c.check("agents online", a.wait_log("peer online") or b.wait_log("peer online"))
        pa, pb = port_of(a), port_of(b)

        # The first stream's KK makes the session, but b's target refuses:
        # b ends that stream before a's header reaches it. It still answers
        # streams keyed with the session (a holds it: it read message 2).
        c.check("the first stream fails: b's target refuses", not ah.works(la, 3000))
        c.check("b logs the refused target",
                b.wait_log("connect to the local target failed"), b.log()[-800:])
        rig.server("echo", target)
        c.check("%d streams one after the other work" % N, streams(la, N) == N)
        settle(pa, pb, N + 1)
        ca, cb = counts(pa), counts(pb)
        c.check("only the first stream ran the KK, on both sides, none refused",
                ca["kk"] == 1 and cb["kk"] <= 1 and ca["session"] == N
                and cb["session"] == N and cb["refused"] == 0, (ca, cb))
        c.check("both hold one session, made once, nothing refused",
                ca["held"] == 1 and cb["held"] == 1 and ca["made"] == 1 and cb["made"] == 1
                and ca["refused"] == 0 and cb["refused"] == 0 and ca["failed"] == 0, (ca, cb))

        c.check("a burst of 16 concurrent streams works", burst(la, 16) == 16)
        settle(pa, pb, N + 1 + 16)
        ca = counts(pa)
        c.check("the burst is keyed by the session", ca["kk"] == 1, ca)

        # Side b restarts without a word: a hears the peer go and come back.
        online = a.count("peer online")
        b.kill()
        c.check("a: peer offline", a.wait_log("peer offline", timeout=30), a.log()[-1500:])
        c.check("a: dropped its session with the peer's control session",
                h.wait_for(lambda: counts(pa)["held"] == 0, 5), counts(pa))
        b.start()
        c.check("a: peer online again", a.wait_log("peer online", n=online + 1, timeout=30))
        pb = port_of(b, 2)
        c.check("after b's restart, %d streams work" % N, streams(la, N) == N)
        settle(pa, pb, N + 1 + 16 + N, N)
        ca, cb = counts(pa), counts(pb)
        c.check("b's first stream after its restart ran the KK, the rest are keyed",
                cb["kk"] == 1 and cb["session"] == N - 1 and ca["kk"] == 2, (ca, cb))
        c.check("nothing refused or failed", cb["refused"] == 0 and ca["refused"] == 0
                and ca["failed"] == 0 and cb["failed"] == 0, (ca, cb))

        # Side a restarts: b drops its session; a's new agent starts with a
        # burst: of its concurrent KKs only one asks for a session.
        online = b.count("peer online")
        online_a = a.count("peer online")
        a.kill()
        c.check("b: peer offline", b.wait_log("peer offline", timeout=30))
        c.check("b: dropped its session", h.wait_for(lambda: counts(pb)["held"] == 0, 5))
        a.start()
        c.check("both: peer online again", b.wait_log("peer online", n=online + 1, timeout=30)
                and a.wait_log("peer online", n=online_a + 1, timeout=30))
        pa = port_of(a, 2)
        c.check("after a's restart, a burst of 16 concurrent streams works",
                burst(la, 16) == 16)
        c.check("then %d streams one after the other work" % N, streams(la, N) == N)
        settle(pa, pb, 16 + N, N + 16 + N)
        ca, cb = counts(pa), counts(pb)
        c.check("one session made from the burst's KKs; every later stream keyed",
                ca["made"] == 1 and ca["held"] == 1 and ca["kk"] >= 1 and ca["kk"] <= 16
                and ca["kk"] + ca["session"] == 16 + N and ca["session"] >= N, (ca, cb))
        c.check("still nothing refused", ca["refused"] == 0 and cb["refused"] == 0, (ca, cb))
    except Exception:
        rig.dump()
        raise
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
