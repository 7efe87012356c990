# SPDX-License-Identifier: MIT
"""Shared fixture for the linkagent integration tests (not a test itself).

Builds on lrharness (a real linkrelay + linkctl in a temporary state
directory). Adds: linkagent processes (started from the two enrollment tokens
of `linkctl link add`, or from a config file), local endpoint servers (echo,
sink, half-close replier) in threads of the test process, and helpers. Every
process started here is stopped by PID in close(), called from finally.
"""
import hashlib
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import lrharness as h

BUILD = h.BUILD
AGENT = os.path.join(BUILD, "agent", "linkagent")
MIB = 1024 * 1024


def metrics_port(ag):
    """The port of agent ag's metrics listener (metrics_listen 127.0.0.1:0),
    from its log line; None if it never says."""
    pat = r"metrics on http://127\.0\.0\.1:(\d+)/"
    h.wait_for(lambda: re.search(pat, ag.log()), 10)
    m = re.search(pat, ag.log())
    return int(m.group(1)) if m else None


class ReadingApp:
    """One application end on a connected socket: a thread collects what it
    reads (.got) and how its read side ended (.end: "eof", "reset" or
    "error: ..."); the socket (.s) stays the caller's to write and close."""

    def __init__(self, sock):
        self.s = sock
        sock.settimeout(None)
        self.got = bytearray()
        self.end = None
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    self.end = "eof"
                    return
                self.got += d
        except ConnectionResetError:
            self.end = "reset"
        except OSError as e:
            self.end = "error: %s" % e


# Abstract AF_UNIX sockets that reserve this process's ports (free_port)
# against the other tests until it exits; the kernel drops them then.
_PORT_LOCKS = []


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port for a listener a test starts later. Taken below the
    kernel's ephemeral range, so no bind to port 0 and no connect() of any
    process is handed it in the meantime (a port picked with bind(0) and
    closed could go to the next listener on port 0, a target or a metrics
    port, before the agent binds it); reserved against tests running in
    parallel by an abstract socket name held until this process exits; and
    free to bind now. Never 6379 (a system redis may start meanwhile)."""
    low = _ephemeral_low()
    base = 20000 if low > 21000 else 1024
    for _ in range(2000):
        port = random.randrange(base, low)
        if port == 6379:
            continue
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lock.bind("\0linkrelay-test-port-%d" % port)
        except OSError:
            lock.close()
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            lock.close()
            continue
        finally:
            s.close()
        _PORT_LOCKS.append(lock)
        return port
    raise RuntimeError("no free TCP port below %d" % low)


def fixed_port_relay(limits=None, log_level="info", port=None):
    """A Relay whose config listens on a fixed port (so a restart keeps it)."""
    r = h.Relay(limits=limits, log_level=log_level)
    port = port or free_port()
    conf = os.path.join(r.dir, "linkrelay.conf")
    with open(conf) as f:
        text = f.read()
    text = text.replace("listen = 127.0.0.1:0", "listen = 127.0.0.1:%d" % port)
    with open(conf, "w") as f:
        f.write(text)
    return r


class Agent(h.LogProc):
    """One linkagent process; its stderr goes to a log file. Its admin socket
    (`linkagent status`) is PID.sock in tmpdir/run, which status() asks."""

    def __init__(self, name, args, tmpdir):
        super().__init__([AGENT] + list(args), os.path.join(tmpdir, "agent-%s.log" % name))
        self.name = name
        self.rundir = os.path.join(tmpdir, "run")
        self.env = dict(os.environ, LINKAGENT_RUNTIME_DIR=self.rundir)

    def status(self, *args):
        """`linkagent status --json` for this agent's socket: (exit code,
        parsed JSON or None, stdout + stderr)."""
        return agent_status(self.rundir, "--json", "--admin-socket",
                            os.path.join(self.rundir, "%d.sock" % self.proc.pid), *args)


def agent_status(rundir, *args):
    """Runs `linkagent status ARGS` with rundir as the runtime directory:
    (exit code, parsed JSON of stdout or None, stdout + stderr)."""
    r = subprocess.run([AGENT, "status"] + list(args), capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, LINKAGENT_RUNTIME_DIR=rundir))
    try:
        js = json.loads(r.stdout)
    except ValueError:
        js = None
    return r.returncode, js, r.stdout + r.stderr


class EndWatch:
    """Reads a socket to its end; .how ("eof", "reset", "error") and .t_end."""

    def __init__(self, s):
        self.s, self.how, self.t_end = s, None, None
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        self.s.settimeout(None)
        try:
            while self.s.recv(65536):
                pass
            self.how = "eof"
        except ConnectionResetError:
            self.how = "reset"
        except OSError as e:
            self.how = "error: %s" % e
        self.t_end = time.time()


class Server:
    """A TCP server in threads of the test process. mode:
    echo     echoes everything, shuts down its write side after EOF;
    digest   reads to EOF, then answers the SHA-256 of what it read and the
             count as text, then closes (tests half-close);
    hold     records what arrives and does not answer; push() sends to the
             newest open connection (for the immediate policy's cable).
    Records per connection how it ended: "eof", "reset" or "dropped" (we
    reset it). Threads poll with short timeouts, because closing a socket
    another thread is blocked on does not tear the connection down."""

    def __init__(self, mode="echo", port=0, host="127.0.0.1"):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.ends = []
        self.accepted = 0
        self.received = bytearray()
        self.live = []
        self.lock = threading.Lock()
        self.closed = False
        self.drop_gen = 0  # bump to reset every connection open now
        self.paused = False  # True: connections are not read (a stalled device)
        self.listening = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c, self.drop_gen), daemon=True).start()
        self.sock.close()
        self.listening = False

    def push(self, data):
        """Sends data on the newest open connection; False if there is none."""
        with self.lock:
            c = self.live[-1] if self.live else None
        if c is None:
            return False
        try:
            c.sendall(data)
        except OSError:
            return False
        return True

    def _serve(self, c, gen):
        with self.lock:
            self.live.append(c)
        hsh = hashlib.sha256()
        n = 0
        end = "eof"
        c.settimeout(0.1)
        try:
            while True:
                if self.drop_gen != gen or self.closed:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    end = "dropped"
                    break
                if self.paused:
                    time.sleep(0.05)
                    continue
                try:
                    d = c.recv(262144)
                except socket.timeout:
                    continue
                if not d:
                    break
                n += len(d)
                if self.mode == "digest":
                    hsh.update(d)
                elif self.mode == "hold":
                    with self.lock:
                        self.received += d
                else:
                    c.settimeout(None)
                    c.sendall(d)
                    c.settimeout(0.1)
            if end == "eof":
                if self.mode == "digest":
                    c.sendall(("%s %d\n" % (hsh.hexdigest(), n)).encode())
                c.shutdown(socket.SHUT_WR)
        except ConnectionResetError:
            end = "reset"
        except OSError:
            end = "error"
        with self.lock:
            self.ends.append(end)
            self.live.remove(c)
        try:
            c.close()
        except OSError:
            pass

    def drop_all(self):
        """Resets every open connection (a device restarting)."""
        self.drop_gen += 1

    def close(self):
        """Stops listening and resets what is open; returns once the port is closed."""
        self.closed = True
        self.thread.join(5)


class RelayProxy:
    """A TCP proxy on loopback between one agent and its relay (the agent's
    --relay): each connection is piped both ways. Subclasses see every
    chunk of a stream leg (the preamble's kind 2, docs/protocol.md §3) in
    chunk(), numbered from 1 in the order the legs came, and say what goes
    on; control sessions are piped untouched."""

    def __init__(self, upstream):
        self.up = upstream  # (host, port) of the relay
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.legs = 0
        self.socks = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def chunk(self, leg, up, data):
        """data (b"" at the end) read on stream leg number leg, from the
        agent (up) or from the relay; returns what to forward, None for
        nothing (held: an end held is not passed on either)."""
        return data

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _pipe(self, src, dst, leg, up):
        try:
            while True:
                d = src.recv(65536)
                end = not d
                if leg:
                    d = self.chunk(leg, up, d)
                if d is None and end:
                    return  # an end held: not passed on
                if d is None:
                    continue
                if end:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(d)
        except OSError:
            h.reset_close_wake(dst)
            h.reset_close_wake(src)

    def _conn(self, c):
        try:
            pre = b""
            while len(pre) < 8:
                d = c.recv(8 - len(pre))
                if not d:
                    raise EOFError
                pre += d
            u = socket.create_connection(self.up, timeout=10)
            u.settimeout(None)
            leg = 0
            with self.lock:
                self.socks += [c, u]
                if pre[5] == 2:  # a stream leg
                    self.legs += 1
                    leg = self.legs
            self.opened(leg, c, u)
            u.sendall(pre)
            threading.Thread(target=self._pipe, args=(u, c, leg, False), daemon=True).start()
            self._pipe(c, u, leg, True)
        except (OSError, EOFError):
            h.reset_close_wake(c)

    def opened(self, leg, agent_side, relay_side):
        """A connection was made (leg 0: a control session)."""

    def close(self):
        self.closed = True
        self.ls.close()
        with self.lock:
            for s in self.socks:
                h.reset_close_wake(s)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


reset_close = h.reset_close


def check_run(token, *args):
    """linkagent --check with a token, a listen address and args: what it
    prints (returncode, stdout, stderr in a CompletedProcess)."""
    return subprocess.run([AGENT, "--token", token, "--listen", "127.0.0.1:1"] + list(args)
                          + ["--check"], capture_output=True, text=True, timeout=20)


def works(port, size=100000):
    """One exchange of size random bytes through localhost:port: True when
    every byte came back and the stream ended cleanly."""
    data = os.urandom(size)
    try:
        got, end = roundtrip(port, data, timeout=5)
    except OSError:
        return False
    return got == data and end == "eof"


def roundtrip(port, data, timeout=60):
    """Sends data through localhost:port, shuts the write side, reads to EOF.
    Returns (bytes received, how it ended: "eof" / "reset" / "timeout")."""
    return h.transfer(socket.create_connection(("127.0.0.1", port), timeout=timeout), data,
                      timeout)


class Rig:
    """A relay, one link, two agents: side a listens, side b connects to a
    local server. Use as a context; everything is cleaned up on exit."""

    def __init__(self, limits=None, fixed_port=False, relay_log="info", relay=None):
        """relay: an h.Relay made by the caller (not started yet); the rig
        owns it from here on and closes it."""
        self.tmp = tempfile.mkdtemp(prefix="lragent.")
        if relay is not None:
            self.relay = relay
        elif fixed_port:
            self.relay = fixed_port_relay(limits, relay_log)
        else:
            self.relay = h.Relay(limits=limits, log_level=relay_log)
        self.agents = []
        self.servers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start_relay(self):
        self.relay.start()
        return self.relay

    def link(self, name="lnk", *args):
        out = self.relay.ctl_json("link", "add", name, *args)
        return out

    def agent(self, name, token, *args, relay=True):
        extra = ["--relay", self.relay.addr] if relay else []
        a = Agent(name, ["--token", token] + extra + list(args), self.tmp)
        self.agents.append(a)
        return a.start()

    def agent_args(self, name, args):
        a = Agent(name, args, self.tmp)
        self.agents.append(a)
        return a.start()

    def conf_agent(self, name, token, role_line, extra="", link="lnk"):
        """An agent from a config file (mode 0600) on the rig's relay with
        metrics on (metrics_port), `extra` lines in [agent], and the link
        `link` with token and role_line ("listen = ..." or "connect = ...")."""
        path = os.path.join(self.tmp, "%s.conf" % name)
        with open(path, "w") as f:
            f.write("[agent]\nrelay = %s\nmetrics_listen = 127.0.0.1:0\n%s\n[link %s]\n"
                    "token = %s\n%s\n" % (self.relay.addr, extra, link, token, role_line))
        os.chmod(path, 0o600)
        return self.agent_args(name, ["--config", path])

    def links_agent(self, name, lines):
        """An agent from a config file (mode 0600) with metrics on and one
        `[link NAME]` section per (name, token, role line) in lines; no
        relay list (each token's), everything else the defaults."""
        path = os.path.join(self.tmp, "%s.conf" % name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("[agent]\nmetrics_listen = 127.0.0.1:0\n")
            for lname, token, role in lines:
                f.write("\n[link %s]\ntoken = %s\n%s\n" % (lname, token, role))
        return self.agent_args(name, ["--config", path])

    def server(self, mode="echo", port=0, host="127.0.0.1"):
        s = Server(mode, port, host)
        self.servers.append(s)
        return s

    def pair(self, mode="echo", a_args=(), b_args=(), name="lnk"):
        """Link + connect-side agent (b) + listen-side agent (a); waits until
        both are online. Returns (listen port, server)."""
        out = self.link(name)
        srv = self.server(mode)
        lport = free_port()
        self.b = self.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port,
                            *b_args)
        self.a = self.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport, *a_args)
        self.tokens = out["tokens"]
        ok = self.a.wait_log("online via relay") and self.b.wait_log("online via relay")
        if not ok:
            raise RuntimeError("agents did not come online:\n" + self.a.log() + self.b.log()
                               + self.relay.log())
        h.wait_for(lambda: "peer online" in self.a.log() or "peer online" in self.b.log()
                   or self.a.log().count("peer online") > 0, timeout=5)
        return lport, srv

    def dump(self):
        for a in self.agents:
            print("---- agent %s log (tail)" % a.name)
            print(a.log()[-3000:])
        print("---- relay log (tail)")
        print(self.relay.log()[-3000:])

    def close(self):
        for a in self.agents:
            try:
                a.kill()
            except Exception:
                pass
        for s in self.servers:
            s.close()
        self.relay.close()
        if os.environ.get("LR_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
