#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`linkagent status` and the agent's admin socket (docs/linkagent.md
"STATUS", docs/design.md D23), with a real relay and two agents started with
only --token on one host:

- discovery: without arguments, status finds both agents in the runtime
  directory (PID.sock each, mode 0600) and reports each link: up, the relay
  address and key id, peer online, the relay's advertised addresses, and the
  bytes a transfer moved each way; exit 0; --admin-socket picks one;
- stale: an agent killed with SIGKILL leaves its socket; status skips it and
  reports the other; a new agent given that stale path as --admin-socket
  starts and serves there; a second agent given a live one exits 1 saying
  another linkagent runs with it;
- down: with the relay stopped, each link is in backoff with the cause
  "connect failed: connection refused" and the relay it was tried at;
  exit 1;
- hostile: an unknown request, a request over the 1024-byte limit, 40
  connections at once (the 32 allowed are served, the 8 above closed at
  once) and an idle client (closed at
  the 5 s timeout, not before) get errors or closes, and the link keeps its
  session (sessions_up stays 1, no failure);
- usage: an unknown option exits 2; no agent at all exits 3.
"""
import os
import socket
import stat
import time

import agentharness as ah
import lrharness as h

ADVERTISE = "relay-b.example.net:7700"


def ask(path, data, timeout=10):
    """Sends data on a new connection to path; returns what came back
    before the agent closed."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def link_of(js, side):
    for ag in js["agents"]:
        for lk in ag["links"]:
            if lk["side"] == side:
                return ag, lk
    return None, None


def discovery(c, rig, lport):
    data = os.urandom(300000)
    got = ah.roundtrip(lport, data)
    c.check("transfer through the link", got[0] == data, "")
    rundir = rig.a.rundir
    socks = sorted(os.listdir(rundir))
    c.check("one PID.sock per agent", socks == sorted(
        ["%d.sock" % rig.a.proc.pid, "%d.sock" % rig.b.proc.pid]), str(socks))
    mode = stat.S_IMODE(os.stat(os.path.join(rundir, socks[0])).st_mode)
    c.check("socket mode 0600", mode == 0o600, oct(mode))
    # The stream's bytes are counted when it has closed: wait for that.
    h.wait_for(lambda: link_of(ah.agent_status(rundir, "--json")[1], "a")[1]["streams_open"] == 0
               and link_of(ah.agent_status(rundir, "--json")[1], "b")[1]["streams_open"] == 0,
               timeout=10)
    rc, js, out = ah.agent_status(rundir, "--json")
    c.check("status --json exits 0 with every link up", rc == 0, out)
    c.check("both agents reported", js is not None and len(js["agents"]) == 2, out)
    ag_a, a = link_of(js, "a")
    _, b = link_of(js, "b")
    c.check("agent pid and socket", ag_a["pid"] == rig.a.proc.pid
            and ag_a["admin_socket"].endswith("%d.sock" % rig.a.proc.pid), str(ag_a))
    for name, lk in (("a", a), ("b", b)):
        c.check("%s: up, peer online" % name, lk["state"] == "up" and lk["peer_online"], str(lk))
        c.check("%s: relay address and key id" % name, lk["relay"] == rig.relay.addr
                and lk["relay_key_id"] == rig.relay.key_id
                and lk["relay_key"] == rig.relay.relay_pub, str(lk))
        c.check("%s: advertised addresses" % name, lk["advertised"] == [ADVERTISE], str(lk))
        c.check("%s: no error" % name, lk["last_error"] is None, str(lk))
    c.check("bytes each way", a["bytes_out"] == len(data) and a["bytes_in"] == len(data)
            and b["bytes_in"] == len(data) and b["bytes_out"] == len(data), str((a, b)))
    rc, js1, out = ah.agent_status(rundir, "--json", "--admin-socket",
                                   os.path.join(rundir, "%d.sock" % rig.b.proc.pid))
    c.check("--admin-socket picks one agent", rc == 0 and len(js1["agents"]) == 1
            and js1["agents"][0]["links"][0]["side"] == "b", out)
    rc, _, out = ah.agent_status(rundir)
    c.check("text: every link's state, relay, peer, bytes, advertised",
            rc == 0 and out.count("state:       up, since") == 2
            and out.count("relay:       %s (relay key id %d" % (rig.relay.addr, rig.relay.key_id)) == 2
            and out.count("peer:        online") == 2
            and out.count("bytes out %d, in %d" % (len(data), len(data))) == 2
            and out.count("advertised:  %s" % ADVERTISE) == 2, out)


def hostile(c, rig):
    path = os.path.join(rig.a.rundir, "%d.sock" % rig.a.proc.pid)
    c.check("unknown request: error", b'"error":"unknown command' in ask(path, b"links\n"), "")
    c.check("1024-byte request: too long",
            ask(path, b"s" * 1024) == b'{"error":"request too long"}\n', "")
    c.check("1023 bytes + newline is a request", b'"error":"unknown command'
            in ask(path, b"s" * 1023 + b"\n"), "")
    conns = []
    for _ in range(40):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)  # blocking: waits while the backlog is full
        s.settimeout(10)
        conns.append(s)
    closed = 0
    for s in conns[32:]:
        try:
            closed += s.recv(1) == b""
        except OSError:
            closed += 1
    c.check("connections above 32 are closed at once", closed == 8, str(closed))
    answered = 0
    for s in (conns[0], conns[31]):
        s.sendall(b"status\n")
        answered += b'"links":[' in s.recv(65536)
    c.check("the 32 connections within the limit are served", answered == 2, str(answered))
    for s in conns:
        s.close()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    t0 = time.monotonic()
    eof = s.recv(1) == b""
    took = time.monotonic() - t0
    s.close()
    c.check("an idle client is closed at the 5 s timeout", eof and 4.9 <= took < 30, "%.2f" % took)
    rc, js, out = ah.agent_status(rig.a.rundir, "--json")
    _, a = link_of(js, "a")
    c.check("the link kept its session", rc == 0 and a["state"] == "up"
            and a["sessions_up"] == 1 and a["sessions_failed"] == 0, str(a))


def stale(c, rig):
    rundir = rig.a.rundir
    dead = os.path.join(rundir, "%d.sock" % rig.a.proc.pid)
    rig.a.kill()
    c.check("a killed agent leaves its socket", os.path.exists(dead), dead)
    rc, js, out = ah.agent_status(rundir, "--json")
    c.check("status skips the stale socket and reports the live agent",
            js is not None and [ag["pid"] for ag in js["agents"]] == [rig.b.proc.pid], out)
    rc, _, out = ah.agent_status(rundir, "--admin-socket", dead)
    c.check("the stale socket asked by name: not running, exit 3",
            rc == 3 and "no agent answers (not running)" in out, out)
    new = rig.agent("a2", rig.tokens["a"], "--admin-socket", dead, "--listen",
                    "127.0.0.1:%d" % ah.free_port())
    ok = new.wait_log("online via relay")
    rc, js, out = ah.agent_status(rundir, "--json", "--admin-socket", dead)
    c.check("a new agent replaces the stale socket and serves there",
            ok and rc == 0 and js["agents"][0]["pid"] == new.proc.pid, out + new.log())
    dup = rig.agent("a3", rig.tokens["a"], "--admin-socket", dead, "--listen",
                    "127.0.0.1:%d" % ah.free_port())
    code = dup.proc.wait(timeout=20)
    dup.stop()
    c.check("a live socket is not taken over: exit 1, says why", code == 1
            and "another linkagent is running with it" in dup.log(), dup.log())
    long_path = os.path.join(rundir, "x" * 120 + ".sock")
    bad = rig.agent("a4", rig.tokens["a"], "--admin-socket", long_path, "--listen",
                    "127.0.0.1:%d" % ah.free_port())
    code = bad.proc.wait(timeout=20)
    bad.stop()
    c.check("an admin socket path too long: exit 1, says why", code == 1
            and "path too long" in bad.log(), bad.log())
    new.stop()
    c.check("a stopped agent removes its socket", not os.path.exists(dead), dead)


def down(c, rig):
    """The relay stops: the agent dials its configured address (refused) and
    the advertised one (a name that does not resolve here) in turn, so its
    last error alternates; each check takes one reply in which the last
    error is the refused dial of the configured address."""
    rig.relay.stop()
    rundir = rig.b.rundir
    got = {"rc": None, "b": {"last_error": None, "peer_online": None}, "out": ""}

    def refused():
        rc, js, out = ah.agent_status(rundir, "--json")
        if js is None:
            return False
        b = link_of(js, "b")[1]
        err = b["last_error"] or {}
        got.update(rc=rc, b=b, out=out)
        return b["state"] in ("backoff", "connecting") and err.get("relay") == rig.relay.addr \
            and "connect failed" in err.get("cause", "")
    h.wait_for(refused, timeout=30)
    b = got["b"]
    err = b["last_error"] or {}
    c.check("relay stopped: exit 1", got["rc"] == 1, got["out"])
    c.check("relay stopped: the cause and the relay it was tried at",
            "connect failed: connection refused" in err.get("cause", "")
            and b["peer_online"] is False, str(b))
    line = "relay %s: connect failed: connection refused" % rig.relay.addr

    def text():
        rc, _, out = ah.agent_status(rundir)
        got.update(rc=rc, out=out)
        return line in out
    h.wait_for(text, timeout=30)
    c.check("text: the last error line", got["rc"] == 1 and "last error:" in got["out"]
            and line in got["out"], got["out"])


def usage(c, tmp):
    rc, _, out = ah.agent_status(tmp, "--bogus")
    c.check("unknown option: exit 2", rc == 2 and "unknown option" in out, out)
    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    rc, _, out = ah.agent_status(empty)
    c.check("no agent: exit 3, says so", rc == 3 and "no agent running" in out, out)


def main():
    c = h.Checks()
    relay = h.Relay(extra_relay={"advertise": ADVERTISE})
    with ah.Rig(relay=relay) as rig:
        try:
            rig.start_relay()
            lport, _ = rig.pair()
            discovery(c, rig, lport)
            hostile(c, rig)
            stale(c, rig)
            down(c, rig)
            usage(c, rig.tmp)
        except Exception:
            rig.dump()
            raise
        if c.failed:
            rig.dump()
    return c.done()


if __name__ == "__main__":
    raise SystemExit(main())
