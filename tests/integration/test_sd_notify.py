#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay and linkagent under systemd's Type=notify (service/sdnotify.c,
docs/design.md D20). The test plays the service manager: it binds the
datagram socket that $NOTIFY_SOCKET names and records every message with its
arrival time.

  - READY=1 comes once the relay serves: at the moment it arrives (checked
    from the receiving thread, before anything else runs) the relay's TCP
    listener accepts, its admin socket answers `status`, and the STATUS= with
    it counts the link already in the registry; the agent's READY=1 comes
    with its local listener accepting, before its session is up;
  - STATUS= lines parse and follow state: the relay's session count when the
    agents connect, the agent's link up and its peer online;
  - WATCHDOG=1 (WATCHDOG_USEC=1s, WATCHDOG_PID the relay's): the relay
    logs its period as 500 ms, and over a window of W seconds sends at most
    W/0.5 + 2 pings (a timer of that period cannot fire more often) and at
    least W/1 - 1 (generous: the 12 expected need only keep coming, a ping
    may be late by up to half the interval); an agent whose WATCHDOG_PID
    names another process sends none;
  - SIGHUP: RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC, between the
    signal and the message) then READY=1, also when the reload fails;
  - SIGTERM: STOPPING=1 with a last STATUS= (draining/stopping), nothing
    after it but what shutdown says, exit 0 with every handle closed;
  - without $NOTIFY_SOCKET (even with WATCHDOG_USEC set) an agent runs as
    before: it carries a stream and says nothing of systemd; so does a
    relay: it serves its admin socket and stops cleanly."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import agentharness as ah
import lrharness as h

RELAY_STATUS = re.compile(r"^(serving|draining): (\d+) sessions, (\d+) streams, "
                          r"(\d+) connections, (\d+) links(?:, \d+ s left)?$")
AGENT_STATUS = re.compile(r"^(running|stopping): (\d+) links, (\d+) up, (\d+) down, "
                          r"(\d+) peers online, (\d+) streams$")
SD_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")
WD_USEC = 1000000  # WatchdogSec=1s: a ping every 0.5 s
WINDOW = 6.0


def parse(data):
    """A notify datagram's assignments, in order: [(name, value), ...]."""
    out = []
    for line in data.decode(errors="replace").split("\n"):
        if line:
            k, _, v = line.partition("=")
            out.append((k, v))
    return out


class Manager:
    """The service manager's end of $NOTIFY_SOCKET: every datagram kept as
    (monotonic time, [(name, value)...]). on_ready runs in the receiving
    thread when the first READY=1 arrives, before the next datagram is read."""

    def __init__(self, path, on_ready=None):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.msgs = []
        self.lock = threading.Lock()
        self.on_ready = on_ready
        self.ready_probe = None
        self.closed = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            t = time.monotonic()
            kv = parse(data)
            if self.on_ready and self.ready_probe is None and ("READY", "1") in kv:
                self.ready_probe = self.on_ready()
            with self.lock:
                self.msgs.append((t, kv))

    def all(self):
        with self.lock:
            return list(self.msgs)

    def having(self, name, value=None, since=0.0):
        """Messages after `since` that carry name (=value)."""
        return [(t, kv) for t, kv in self.all() if t >= since and
                any(k == name and (value is None or v == value) for k, v in kv)]

    def statuses(self, since=0.0):
        return [dict(kv)["STATUS"] for t, kv in self.having("STATUS", since=since)]

    def wait_status(self, pattern, groups, timeout=20):
        """Waits for a STATUS= whose fields (from pattern) satisfy groups(m)."""
        def found():
            for s in self.statuses():
                m = pattern.match(s)
                if m and groups(m):
                    return s
            return None
        return h.wait_for(found, timeout=timeout)

    def close(self):
        self.closed = True
        self.thread.join(5)
        self.sock.close()


def spawn(argv, logpath, notify=None, wd_usec=None, wd_pid="self"):
    """Starts a program with the service manager's variables set as asked
    (and none inherited from whatever runs the test). wd_pid "self": the
    program's own PID, as systemd sets it (the shell execs into it)."""
    env = {k: v for k, v in os.environ.items() if k not in SD_VARS}
    if notify:
        env["NOTIFY_SOCKET"] = notify
    if wd_usec:
        env["WATCHDOG_USEC"] = str(wd_usec)
        if wd_pid == "self":
            argv = ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh"] \
                + list(argv)
        elif wd_pid is not None:
            env["WATCHDOG_PID"] = str(wd_pid)
    log = open(logpath, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env)
    finally:
        log.close()


def tail(ok, path):
    """A log's tail, for a failed check's detail only."""
    return "" if ok else h.read_log(path)[-1500:]


def tcp_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def admin_status(path):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"status\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return b'"version"' in data
    except OSError:
        return False


def stop(c, name, p, logpath, timeout=30):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        rc = "hung"
    log = h.read_log(logpath)
    bad = [m for m in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                       "handle still open", "handles left open") if m in log]
    ok = rc == 0 and not bad
    c.check("%s exits 0 on SIGTERM with every handle closed" % name, ok,
            "" if ok else (rc, bad, log[-1500:]))


def check_stopping(c, name, mgr, pattern, word):
    stops = mgr.having("STOPPING", "1")
    c.check("%s: STOPPING=1 once" % name, len(stops) == 1, len(stops))
    if not stops:
        return
    status = dict(stops[0][1]).get("STATUS", "")
    m = pattern.match(status)
    c.check("%s: STOPPING=1 comes with a %s STATUS" % (name, word),
            m is not None and m.group(1) == word, status)
    after = [kv for t, kv in mgr.all() if t > stops[0][0]]
    c.check("%s: no READY=1 or RELOADING=1 after STOPPING=1" % name,
            not any(k in ("READY", "RELOADING") for kv in after for k, _ in kv), after)


def check_reload(c, name, proc, mgr, log, expect_log=None):
    since = time.monotonic()
    before_us = int(since * 1e6)
    proc.send_signal(signal.SIGHUP)
    ok = h.wait_for(lambda: mgr.having("READY", "1", since=since), timeout=20)
    c.check("%s: READY=1 after SIGHUP" % name, bool(ok))
    rel = mgr.having("RELOADING", "1", since=since)
    rdy = mgr.having("READY", "1", since=since)
    c.check("%s: RELOADING=1 before that READY=1" % name,
            len(rel) == 1 and rdy and rel[0][0] <= rdy[0][0], (rel, rdy))
    if rel:
        mono = dict(rel[0][1]).get("MONOTONIC_USEC", "")
        c.check("%s: RELOADING=1 carries MONOTONIC_USEC between the signal and its arrival"
                % name, mono.isdigit() and before_us <= int(mono) <= int(rel[0][0] * 1e6) + 1000,
                (before_us, mono, rel[0][0]))
    if expect_log:
        ok = h.wait_for(lambda: expect_log[0] in log())
        c.check("%s: %s" % (name, expect_log[1]), ok, "" if ok else log()[-800:])


def main():
    c = h.Checks()
    tmp = tempfile.mkdtemp(prefix="lr_sdnotify.")
    procs, mgrs, servers = [], [], []
    try:
        state = os.path.join(tmp, "state")
        relay_log = os.path.join(tmp, "relay.log")
        port = ah.free_port()
        ctl = subprocess.run([h.LINKCTL, "--state-dir", state, "--json", "link", "add", "lnk",
                              "--relay-addr", "127.0.0.1:%d" % port],
                             capture_output=True, text=True, timeout=30)
        if ctl.returncode != 0:
            raise RuntimeError("linkctl link add: " + ctl.stderr)
        tokens = json.loads(ctl.stdout)["tokens"]
        admin_sock = os.path.join(state, "admin.sock")

        # ---- the relay: READY=1 not early, STATUS=, watchdog ----
        rmgr = Manager(os.path.join(tmp, "relay.notify"),
                       lambda: (tcp_accepts(port), admin_status(admin_sock)))
        mgrs.append(rmgr)
        relay = spawn([h.RELAY, "--state-dir", state, "--listen", "127.0.0.1:%d" % port],
                      relay_log, notify=rmgr.path, wd_usec=WD_USEC)
        procs.append(relay)
        ok = h.wait_for(lambda: rmgr.ready_probe, timeout=30)
        c.check("relay: READY=1 arrives", ok, tail(ok, relay_log))
        probe = rmgr.ready_probe or (False, False)
        c.check("relay: at READY=1 its listener accepts", probe[0])
        c.check("relay: at READY=1 its admin socket answers status", probe[1])
        ready = rmgr.having("READY", "1")
        first = dict(ready[0][1]).get("STATUS", "") if ready else ""
        m = RELAY_STATUS.match(first)
        c.check("relay: READY=1 comes with a STATUS that parses", m is not None, first)
        # "links" are the links the relay holds: none before an agent has
        # authenticated for one (docs/design.md D42).
        c.check("relay: that STATUS says serving, 0 sessions and 0 links held",
                m is not None and m.group(1) == "serving" and m.group(2) == "0"
                and m.group(5) == "0", first)
        c.check("relay: it logs the watchdog interval",
                h.wait_for(lambda: "systemd watchdog: 1000 ms, pinging every 500 ms"
                           in h.read_log(relay_log)))

        # ---- agent a: READY=1 with its listener bound; WATCHDOG_PID not its own ----
        lport = ah.free_port()
        a_log = os.path.join(tmp, "agent-a.log")
        amgr = Manager(os.path.join(tmp, "agent.notify"), lambda: tcp_accepts(lport))
        mgrs.append(amgr)
        agent_a = spawn([ah.AGENT, "--token", tokens["a"], "--relay", "127.0.0.1:%d" % port,
                         "--listen", "127.0.0.1:%d" % lport], a_log, notify=amgr.path,
                        wd_usec=WD_USEC, wd_pid=1)
        procs.append(agent_a)
        ok = h.wait_for(lambda: amgr.ready_probe, timeout=30)
        c.check("agent: READY=1 arrives", ok, tail(ok, a_log))
        c.check("agent: at READY=1 its local listener accepts", amgr.ready_probe is True)
        ready = amgr.having("READY", "1")
        first = dict(ready[0][1]).get("STATUS", "") if ready else ""
        m = AGENT_STATUS.match(first)
        c.check("agent: READY=1 comes with a STATUS that parses: 1 link, 0 up (before its "
                "session)", m is not None and m.groups()[:4] == ("running", "1", "0", "1"), first)
        c.check("agent: STATUS follows the link up",
                amgr.wait_status(AGENT_STATUS, lambda m: m.group(3) == "1"), amgr.statuses())
        c.check("relay: STATUS follows the agent's session",
                rmgr.wait_status(RELAY_STATUS, lambda m: m.group(2) == "1"), rmgr.statuses())

        # ---- agent b: no $NOTIFY_SOCKET, so as before ----
        srv = ah.Server("echo")
        servers.append(srv)
        b_log = os.path.join(tmp, "agent-b.log")
        agent_b = spawn([ah.AGENT, "--token", tokens["b"], "--relay", "127.0.0.1:%d" % port,
                         "--connect", "127.0.0.1:%d" % srv.port], b_log, wd_usec=WD_USEC)
        procs.append(agent_b)
        c.check("relay: STATUS shows both sessions",
                rmgr.wait_status(RELAY_STATUS, lambda m: m.group(2) == "2"), rmgr.statuses())
        c.check("agent: STATUS shows the peer online",
                amgr.wait_status(AGENT_STATUS, lambda m: m.group(5) == "1"), amgr.statuses())
        data = os.urandom(200000)
        got, end = ah.roundtrip(lport, data, timeout=30)
        c.check("without NOTIFY_SOCKET the agent carries a stream as before",
                got == data and end == "eof", (len(got), end))

        # ---- the watchdog over a window ----
        t0 = time.monotonic()
        time.sleep(WINDOW)  # the measurement itself: pings counted over this window
        t1 = time.monotonic()
        n = len([t for t, kv in rmgr.having("WATCHDOG", "1") if t0 <= t <= t1])
        c.check("relay: WATCHDOG=1 at about half the interval (%d in %.0f s; 12 expected)"
                % (n, WINDOW), int(WINDOW) - 1 <= n <= int(WINDOW / 0.5) + 2, n)
        c.check("agent: no WATCHDOG=1 when WATCHDOG_PID names another process",
                not amgr.having("WATCHDOG"), len(amgr.having("WATCHDOG")))

        # ---- reload ----
        check_reload(c, "relay", relay, rmgr, lambda: h.read_log(relay_log),
                     ("configuration reloaded", "the reload applied"))
        with open(os.path.join(state, "linkrelay.conf"), "w") as f:
            f.write("[relay]\nno_such_key = 1\n")
        check_reload(c, "relay (bad config file)", relay, rmgr, lambda: h.read_log(relay_log),
                     ("configuration not reloaded", "the reload was refused"))
        check_reload(c, "agent", agent_a, amgr, lambda: h.read_log(a_log))

        # ---- a relay without $NOTIFY_SOCKET ----
        state2 = os.path.join(tmp, "state2")
        plain_log = os.path.join(tmp, "relay-plain.log")
        plain = spawn([h.RELAY, "--state-dir", state2, "--listen", "127.0.0.1:0"], plain_log,
                      wd_usec=WD_USEC)
        procs.append(plain)
        ok = h.wait_for(lambda: admin_status(os.path.join(state2, "admin.sock")), timeout=30)
        c.check("without NOTIFY_SOCKET the relay serves its admin socket", ok,
                tail(ok, plain_log))
        stop(c, "relay (no NOTIFY_SOCKET)", plain, plain_log)
        text = h.read_log(plain_log)
        ok = "watchdog" not in text and "sd_notify" not in text
        c.check("relay: says nothing of a watchdog without NOTIFY_SOCKET", ok,
                "" if ok else text[-800:])

        # ---- shutdown ----
        b_text = h.read_log(b_log)
        stop(c, "agent b (no NOTIFY_SOCKET)", agent_b, b_log)
        ok = "watchdog" not in b_text and "sd_notify" not in b_text
        c.check("agent b: says nothing of a watchdog without NOTIFY_SOCKET", ok,
                "" if ok else b_text[-800:])
        stop(c, "agent a", agent_a, a_log)
        check_stopping(c, "agent", amgr, AGENT_STATUS, "stopping")
        stop(c, "relay", relay, relay_log)
        check_stopping(c, "relay", rmgr, RELAY_STATUS, "draining")
        stops = rmgr.having("STOPPING", "1")
        first = dict(stops[0][1]).get("STATUS", "") if stops else ""
        c.check("relay: SIGTERM drains (drain_timeout 30 s): STOPPING=1 says the time left",
                first.endswith(", 30 s left"), first)
        for name, mgr in (("relay", rmgr), ("agent", amgr)):
            bad = [s for s in mgr.statuses() if not (RELAY_STATUS if name == "relay"
                                                     else AGENT_STATUS).match(s)]
            c.check("%s: every STATUS parses" % name, not bad, bad)
        for name, log in (("relay", relay_log), ("agent a", a_log)):
            c.check("%s: no sd_notify failure logged" % name,
                    "sd_notify:" not in h.read_log(log))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for m in mgrs:
            m.close()
        for s in servers:
            s.close()
        if os.environ.get("LR_KEEP_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
