#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`systemctl restart` under socket activation (docs/design.md D26), with the
test playing systemd: it binds the listening socket, keeps it open for the
whole test, and starts linkrelay with it as fd 3 and LISTEN_FDS=1,
LISTEN_PID=<the relay's pid>, LISTEN_FDNAMES, as systemd does.
  - the relay serves on the passed socket and binds nothing of its config;
  - SIGTERM: the relay stops at once (GOING_AWAY, then exit 0 once no
    accepted connection is still arriving), not after drain_timeout (60 s
    here); the successor is started on the same socket after the old one
    has exited, as `systemctl restart` does;
  - an interactive request/response session through two linkagents goes on
    across the restart: every answer right, nothing reset (its stream
    resumes on the successor, D24);
  - control sessions opened in a loop all the while are all served: none
    refused, none reset (the kernel queues them in the socket's backlog
    while no relay runs);
  - `linkctl relay drain` (not a signal) drains as without systemd: with a
    stream open it takes its whole --timeout (2 s), and the stream resumes
    on the relay started next;
  - the window of D25 closed: a stream whose STREAM the old relay sent and
    whose legs reach the next relay, which does not know the ticket ("no
    such stream"), is OPENed again by the agent that opened it (its local
    connection has carried nothing yet) and carries its bytes: the device
    agent is stopped (SIGSTOP) while the relay answers an OPEN, the relay is
    restarted, then the agent goes on. The one bound: the device agent is
    online at the new relay within open_wait (5 s) of the GOING_AWAY
    (D25's peer_offline retry), which takes one relay start;
  - malformed activation (LISTEN_FDS naming a fd that is not a listening
    TCP socket) fails the start with a clear error;
  - the limit: 32 passed sockets are all listened on (the 32nd serves), 33
    fail the start with a clear error.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import lrproto as p

# What systemd does between fork and exec: the sockets become fds 3, 4, ...
# (moved out of the way first, so none is overwritten before it moved) and
# LISTEN_PID the pid that exec keeps (the relay's).
WRAP = ("import fcntl, os, sys\n"
        "fds = [int(x) for x in sys.argv[1].split(',')]\n"
        "high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]\n"
        "for fd in fds:\n"
        "    os.close(fd)\n"
        "for i, fd in enumerate(high):\n"
        "    os.dup2(fd, 3 + i)\n"
        "    os.close(fd)\n"
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)),\n"
        "                  LISTEN_FDNAMES=':'.join(['linkrelay.socket'] * len(fds)))\n"
        "os.execv(sys.argv[2], sys.argv[2:])\n")


def wrapper(*fds):
    return [sys.executable, "-c", WRAP, ",".join(str(fd) for fd in fds)]


class ActivatedRelay(h.Relay):
    """A relay started as systemd starts a socket-activated service."""

    def __init__(self, socks, **kw):
        super().__init__(**kw)
        self.pass_fds = tuple(s.fileno() for s in socks)

    def prefix(self):
        return wrapper(*self.pass_fds)


def session(r, link, timeout):
    """One control session: True when WELCOME came (waits up to timeout:
    while no relay runs, the connection waits in the backlog)."""
    s = p.connect(r, timeout)
    try:
        hk = p.Handshake(h.pub_raw(r.relay_pub), h.priv_raw(link["a"]), r.key_id)
        s.sendall(hk.pre + p.frame(hk.msg1()))
        hk.read_msg2(p.recv_frame(s, timeout))
        s.sendall(p.frame(hk.msg3(p.auth(0, bytes.fromhex(link["id"])))))
        rx = hk.cs[1]
        return bytes(rx.decrypt_with_ad(b"", p.recv_frame(s, timeout)))[0] == 0x01
    finally:
        s.close()


def hammer(r, link, stop, counts):
    while not stop.is_set():
        try:
            counts["served" if session(r, link, 60) else "bad"] += 1
        except ConnectionRefusedError:
            counts["refused"] += 1
        except (ConnectionResetError, BrokenPipeError):
            counts["reset"] += 1
        except Exception as e:  # a timeout or a short read: not served
            counts["other"] += 1
            counts.setdefault("why", repr(e))


def interactive(s, stop, res):
    """A line, its echo, the next line: until stop."""
    i = 0
    while not stop.is_set():
        q = b"line %06d\n" % i
        try:
            s.sendall(q)
            got = p.recv_exact(s, len(q), 60)
        except OSError as e:
            res["error"] = repr(e)
            return
        res["ok" if got == q else "wrong"] += 1
        i += 1
        time.sleep(0.005)


def window(c, rig, r):
    """D25's window, made to happen: see the module's text."""
    lport = rig.a_port
    c.check("no stream open before the window test",
            h.wait_for(lambda: r.ctl_json("status")["streams_open"] == 0, timeout=10))
    rig.b.send_signal(signal.SIGSTOP)
    data = os.urandom(20000)
    out = {}
    t = threading.Thread(target=lambda: out.update(r=ah.roundtrip(lport, data, timeout=60)),
                         daemon=True)
    try:
        t.start()
        c.check("the relay sent STREAM (the device agent does not read it yet)",
                h.wait_for(lambda: r.ctl_json("status")["streams_open"] == 1, timeout=15))
        r.proc.send_signal(signal.SIGTERM)
        try:
            rc = r.proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = "hung"
        c.check("window: the relay stops", rc == 0, rc)
        r.proc = None
    finally:
        rig.b.send_signal(signal.SIGCONT)
    r.start()
    t.join(70)
    got, end = out.get("r", (b"", "no answer"))
    c.check("window: the stream is OPENed again and carries every byte",
            got == data and end == "eof", (len(got), end))
    c.check("window: the opening agent says so",
            rig.a.wait_log("relay has no such stream before it carried a byte"))
    c.check("window: and did not reset it",
            "relay has no such stream (its ticket" not in rig.a.log())


def at_limit(c):
    """32 sockets (RELAY_MAX_LISTENERS, TAKEOVER_MAX_FDS) are served; 33
    fail the start with a clear error, every one closed."""
    socks = []
    try:
        for _ in range(33):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            socks.append(s)
        r = ActivatedRelay(socks[:32])
        try:
            r.start()
            with open(os.path.join(r.top, "ready")) as f:
                names = f.read().split()
            want = ["127.0.0.1:%d" % s.getsockname()[1] for s in socks[:32]]
            c.check("32 passed sockets: the relay listens on all 32", names == want,
                    (len(names), names[:3]))
            c.check("the 32nd socket serves", session_ok(r, socks[31]))
            c.check("the relay stops with 0", r.stop() == 0)
        finally:
            r.close()
        r = ActivatedRelay(socks)
        try:
            out = subprocess.run(r.prefix() + [h.RELAY, "--state-dir", r.dir],
                                 pass_fds=r.pass_fds, capture_output=True, text=True, timeout=30)
            c.check("33 passed sockets: exit 1, says so",
                    out.returncode == 1 and "33 sockets passed, at most 32" in out.stderr,
                    (out.returncode, out.stderr[-400:]))
        finally:
            shutil.rmtree(r.top, ignore_errors=True)
    finally:
        for s in socks:
            s.close()


def session_ok(r, sock):
    """A control session of a fresh link through sock's port."""
    link = r.add_link("limit")
    r.host, r.port = "127.0.0.1", sock.getsockname()[1]
    try:
        return session(r, link, 30)
    except OSError:
        return False


def ask_once(s, q):
    try:
        s.sendall(q)
        return p.recv_exact(s, len(q), 60) == q
    except OSError:
        return False


def bad_activation(c):
    """LISTEN_FDS names a fd that is a connected pipe, not a listener."""
    rd, wr = os.pipe()
    r = h.Relay()
    try:
        out = subprocess.run(wrapper(rd) + [h.RELAY, "--state-dir", r.dir], pass_fds=(rd,),
                             capture_output=True, text=True, timeout=30)
        c.check("a passed fd that is not a listening TCP socket: exit 1, says so",
                out.returncode == 1 and "fd 3 is not a listening TCP socket" in out.stderr,
                (out.returncode, out.stderr[-400:]))
    finally:
        os.close(rd)
        os.close(wr)
        shutil.rmtree(r.top, ignore_errors=True)


def main():
    c = h.Checks()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(511)
    # Tickets and sessions outlive the SIGSTOP of the window test.
    relay = ActivatedRelay([lsock], limits={"drain_timeout": "60s", "ticket_expiry": "60s",
                                          "keepalive": "5s", "dead_after": "60s"})
    rig = ah.Rig(relay=relay)
    threads = []
    stop = threading.Event()
    try:
        r = rig.start_relay()
        port = lsock.getsockname()[1]
        c.check("the relay serves on the passed socket, not its configured 127.0.0.1:0",
                r.port == port and "socket activation: 1 listening sockets from systemd"
                in r.log(), (r.addr, port))
        # No kept legs (D48): the window test below needs a stream that
        # OPENs, and no idle leg left open at the relay before it.
        nokeep = ("--keep-legs", "0")
        lport, srv = rig.pair("echo", a_args=nokeep, b_args=nokeep)
        probe = r.add_link("probe")
        s = socket.create_connection(("127.0.0.1", lport), timeout=15)
        res = {"ok": 0, "wrong": 0}
        counts = {"served": 0, "bad": 0, "refused": 0, "reset": 0, "other": 0}
        threads = [threading.Thread(target=interactive, args=(s, stop, res), daemon=True),
                   threading.Thread(target=hammer, args=(r, probe, stop, counts), daemon=True)]
        for t in threads:
            t.start()
        h.wait_for(lambda: res["ok"] >= 20 and counts["served"] >= 20, timeout=20)
        # `systemctl restart`: SIGTERM, wait for the exit, start again.
        t0 = time.time()
        old = r.proc
        old.send_signal(signal.SIGTERM)
        try:
            rc = old.wait(30)
        except subprocess.TimeoutExpired:
            rc = "hung"
        took = time.time() - t0
        c.check("SIGTERM: exit 0 without waiting for drain_timeout (60 s) or the open stream",
                rc == 0 and took < 30 and "socket-activated, no connection arriving" in r.log(),
                (rc, "%.1f s" % took, r.log()[-1500:]))
        r.proc = None
        ok_at_stop, served_at_stop = res["ok"], counts["served"]
        r.start()
        c.check("the successor serves on the same socket", r.port == port, r.addr)
        c.check("the interactive session goes on through the successor",
                h.wait_for(lambda: res["ok"] >= ok_at_stop + 100 or "error" in res, timeout=60),
                res)
        c.check("control sessions through the successor",
                h.wait_for(lambda: counts["served"] >= served_at_stop + 20, timeout=60), counts)
        stop.set()
        for t in threads:
            t.join(70)
        c.check("interactive session: every answer right, no error or reset",
                res["wrong"] == 0 and "error" not in res and res["ok"] >= 120, res)
        c.check("control sessions during the restart: all served, none refused or reset",
                counts["refused"] == 0 and counts["reset"] == 0 and counts["other"] == 0
                and counts["bad"] == 0 and counts["served"] >= 40, counts)
        c.check("both agents resumed the stream",
                rig.a.wait_log("stream resumed on a new leg") and
                rig.b.wait_log("stream resumed on a new leg"))
        c.check("no stream reset by either agent", "resetting" not in rig.a.log() + rig.b.log())
        # `linkctl relay drain` is not a signal: it drains as in D25, for its
        # whole timeout while a stream is open.
        t0 = time.time()
        r.ctl("relay", "drain", "--timeout", "2s")
        try:
            rc = r.proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = "hung"
        took = time.time() - t0
        c.check("linkctl relay drain on a socket-activated relay: the full 2 s, then exit 0",
                rc == 0 and took >= 2.0 and "drain_timeout reached with 1 streams open"
                in r.log(), (rc, "%.1f s" % took))
        r.proc = None
        r.start()
        c.check("and the stream resumes on the next relay", ask_once(s, b"after the drain\n")
                and rig.a.wait_log("stream resumed on a new leg", 2), rig.a.log()[-600:])
        s.shutdown(socket.SHUT_WR)
        c.check("the interactive session ends cleanly", p.read_until_close(s, 10)[1] == "eof")
        s.close()
        c.check("the device side saw no reset", srv.ends.count("reset") == 0, srv.ends)
        rig.a_port = lport
        window(c, rig, r)
        bad_activation(c)
        at_limit(c)
    finally:
        stop.set()
        if c.failed:
            rig.dump()
        rig.close()
        lsock.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
