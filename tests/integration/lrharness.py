# SPDX-License-Identifier: MIT
"""Shared fixture for the relay integration tests (not a test itself).

Relay starts a real linkrelay on 127.0.0.1 with a kernel-chosen port in a
temporary state directory, provisions links with the real linkctl, talks to the
admin socket, and runs tests/tools/lr_testpeer. Everything it starts is
stopped by PID and the directory removed in close(), which the tests call from
finally blocks (also on failure).
"""
import base64
import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import struct
import tempfile
import threading
import time

BUILD = os.environ.get("LR_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
RELAY = os.path.join(BUILD, "relay", "linkrelay")
LINKCTL = os.path.join(BUILD, "linkctl", "linkctl")
PEER = os.path.join(BUILD, "tests", "lr_testpeer")

# Short timers so the tests run in seconds; each test overrides what it needs.
FAST_LIMITS = {
    "handshake_timeout": "2s",
    "keepalive": "1s",
    "dead_after": "3s",
    "ticket_expiry": "2s",
    "halfclose_timeout": "5s",
    "write_stall_timeout": "3s",
}


def has_ipv6_loopback():
    """True when this host can bind ::1 (a container may have no IPv6)."""
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def b32(data):
    return base64.b32encode(data).decode().lower().rstrip("=")


def pub_text(raw):
    """lrpub1 text of a raw 32-byte key (docs/protocol.md §2)."""
    check = hashlib.sha256(b"lrpub1" + raw).digest()[:4]
    return "lrpub1" + b32(raw + check)


def b32dec(text):
    text = text.upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def pub_raw(text):
    assert text.startswith("lrpub1")
    return b32dec(text[6:])[:32]


def priv_raw(text):
    assert text.startswith("lrkey1")
    return b32dec(text[6:])[:32]


def read_log(path):
    """A log file's text so far ("" before it exists)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


class Relay:
    """config=False: no config file (the command line says everything);
    state_subdir: the state directory is that path below the temporary
    directory and does not exist yet (the relay makes it; needs config=False).
    The log and the ready file stay in the temporary directory itself."""

    def __init__(self, limits=None, extra_relay=None, log_level="info", fast=True, nofile=None,
                 config=True, state_subdir=None):
        self.top = tempfile.mkdtemp(prefix="lrtest.")
        self.dir = os.path.join(self.top, state_subdir) if state_subdir else self.top
        assert not (config and state_subdir), "a config file needs the state directory"
        self.proc = None
        self.peers = []
        self.logf = None
        self.nofile = nofile
        self.pass_fds = ()  # fds the relay inherits (socket activation: see prefix)
        lim = dict(FAST_LIMITS) if fast else {}
        # A test's SIGTERM stops the relay at once (as before drains, D25);
        # the drain tests set drain_timeout themselves.
        lim["drain_timeout"] = "0"
        lim.update(limits or {})
        self.limits = lim
        if config:
            self.write_config(log_level, extra_relay)
        self.sock = os.path.join(self.dir, "admin.sock")

    def write_config(self, log_level, extra_relay):
        with open(os.path.join(self.dir, "linkrelay.conf"), "w") as f:
            f.write("[relay]\nlisten = 127.0.0.1:0\nlog_level = %s\n" % log_level)
            for k, v in (extra_relay or {}).items():
                f.write("%s = %s\n" % (k, v))
            f.write("[limits]\n")
            for k, v in self.limits.items():
                f.write("%s = %s\n" % (k, v))

    # ---- process ----
    def prefix(self):
        """What the relay command line is run under (a namespace's nsenter)."""
        return []

    def start(self, extra_args=()):
        ready = os.path.join(self.top, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self.logpath = os.path.join(self.top, "relay.log")
        if self.logf is None or self.logf.closed:
            self.logf = open(self.logpath, "ab")
        pre = None
        if self.nofile is not None:
            import resource
            soft, hard = self.nofile
            pre = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.proc = subprocess.Popen(
            self.prefix() + [RELAY, "--state-dir", self.dir, "--ready-file", ready]
            + list(extra_args), stdout=self.logf, stderr=subprocess.STDOUT, preexec_fn=pre,
            pass_fds=self.pass_fds)
        deadline = time.time() + 10
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise RuntimeError("linkrelay exited early:\n" + self.log())
            if time.time() > deadline:
                raise RuntimeError("linkrelay did not become ready:\n" + self.log())
            time.sleep(0.02)
        with open(ready) as f:
            self.addr = f.readline().strip()
        self.host, port = self.addr.rsplit(":", 1)
        self.host = self.host.strip("[]")
        self.port = int(port)
        info = self.ctl_json("relay", "info")
        self.relay_pub = info["relay_key"]
        self.key_id = info["relay_key_id"]
        return self

    def log(self):
        return read_log(self.logpath)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the relay; returns its exit status."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        for m in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if m in self.log():
                print(self.log()[-6000:])
                raise AssertionError("sanitizer report in the relay log")
        return rc

    def close(self):
        """Stops everything; raises if the relay did not stop cleanly or a
        sanitizer reported anything (so every test checks that too)."""
        for p in self.peers:
            if p.poll() is None:
                p.kill()
                p.wait()
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = "hung"
        self.proc = None
        log = self.log()
        if self.logf:
            self.logf.close()
        if os.environ.get("LR_KEEP_TMP"):
            print("kept", self.top)
        else:
            shutil.rmtree(self.top, ignore_errors=True)
        bad = [m for m in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                           "handle still open") if m in log]
        if bad or rc not in (None, 0):
            print(log[-6000:])
            raise AssertionError("relay did not stop cleanly (exit %s, %s)" % (rc, bad))

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # ---- admin ----
    def admin(self, cmd):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall(cmd.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return json.loads(data)

    def status(self):
        return self.admin("status")

    # ---- linkctl ----
    def ctl(self, *args, check=True):
        r = subprocess.run([LINKCTL, "--state-dir", self.dir] + list(args),
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("linkctl %s failed: %s" % (args, r.stderr))
        return r

    def ctl_json(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def add_link(self, name):
        """A link with keys made here; returns dict(id, a, b, a_pub, b_pub)."""
        a = keygen()
        b = keygen()
        out = self.ctl_json("link", "add", name, "--a-key", a[1], "--b-key", b[1])
        return {"id": out["id"], "name": name, "a": a[0], "b": b[0], "a_pub": a[1],
                "b_pub": b[1]}

    def add_link_live(self, name):
        """add_link; the running relay reads a link from the registry when an
        AUTH names it (docs/design.md D42), so it serves the link at once."""
        return self.add_link(name)

    # ---- lr_testpeer ----
    def peer_args(self, link, side_keys=True, relay_pub=None, key_id=None):
        args = ["--relay", self.addr, "--relay-pub", relay_pub or self.relay_pub,
                "--key-id", str(self.key_id if key_id is None else key_id),
                "--link", link["id"]]
        if side_keys:
            args += ["--a-key", link["a"], "--b-key", link["b"]]
        return args

    def peer(self, link, cmd, *args, timeout=900, **kw):
        """Runs lr_testpeer to completion; returns (rc, dict of its key=value output)."""
        r = subprocess.run([PEER] + self.peer_args(link, **kw) + [cmd] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, parse_kv(r.stdout), r.stdout + r.stderr

    def peer_bg(self, link, cmd, *args, **kw):
        p = subprocess.Popen([PEER] + self.peer_args(link, **kw) + [cmd] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.peers.append(p)
        return p


class LogProc:
    """One program run in the background with its output in a log file;
    stopped by PID (stop, kill)."""

    def __init__(self, argv, logpath):
        self.args = list(argv)
        self.logpath = logpath
        self.proc = None

    def start(self):
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=getattr(self, "env", None))
        return self

    def log(self):
        return read_log(self.logpath)

    def count(self, text):
        return self.log().count(text)

    def wait_log(self, text, n=1, timeout=10):
        return wait_for(lambda: self.count(text) >= n, timeout=timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the process and waits; returns its exit status, or
        "timeout" when it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "timeout"
        self.proc = None
        self.logf.close()
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)


def reset_close(s):
    """Closes with an RST (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def reset_close_wake(s):
    """Closes s with an RST when another thread may be blocked reading it:
    the shutdown of the read side wakes that thread (close alone would not,
    and the RST would wait for that read to end)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    s.close()


def transfer(s, data, timeout=30.0):
    """Sends data on a connected socket, half-closes, reads to the end.
    Returns (bytes received, "eof" | "reset" | "timeout" | "error:<errno>")."""
    got = bytearray()
    err = []

    def send():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    s.settimeout(timeout)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    end = "eof"
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got += d
    except ConnectionResetError:
        end = "reset"
    except socket.timeout:
        end = "timeout"
    except OSError as e:
        end = "error:" + errno.errorcode.get(e.errno, str(e.errno))
    t.join(5)
    # Linux reports a received RST once, to the first call that meets it:
    # when the sender's send or shutdown took it, recv sees only EOF after
    # it. A send can only fail so after a reset (a clean FIN from the peer
    # does not fail our sends), so that EOF was a reset.
    if end == "eof" and any(isinstance(e, (ConnectionResetError, BrokenPipeError)) for e in err):
        end = "reset"
    s.close()
    return bytes(got), end


def keygen():
    out = subprocess.run([PEER, "keygen"], capture_output=True, text=True, check=True).stdout
    priv, pub = out.split()
    return priv, pub


def parse_kv(text):
    d = {}
    for line in text.splitlines():
        for tok in line.split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                d[k] = v
    return d


_SANITIZED = {}


def sanitized(path=None):
    """True if the program at path (default: linkrelay) was built with
    AddressSanitizer (the LR_SANITIZE=ON build of scripts/test.sh's second
    pass). Its RSS then carries shadow memory, redzones and a quarantine of
    freed blocks (256 MiB by default), so RSS bounds apply to plain builds."""
    path = path or RELAY
    if path not in _SANITIZED:
        with open(path, "rb") as f:
            _SANITIZED[path] = b"__asan_init" in f.read()
    return _SANITIZED[path]


# ASan keeps freed blocks in a quarantine (quarantine_size_mb, 256 MiB by
# default on x86_64) to catch use after free: resident, but not the
# program's. Programs started under live_rss() run without it, so their RSS
# is their live memory plus what ASan adds to each live byte: shadow memory
# (1 byte per 8 touched, so x 9/8) and a redzone and header per block
# (16 B to max_redzone 2 KiB, growing with the block), plus the runtime's own
# bookkeeping (stack depot, allocator metadata). asan_rss_bound() turns a
# plain build's RSS bound into the sanitizer build's from those.
ASAN_LIVE = ("quarantine_size_mb=0", "thread_local_quarantine_size_kb=0")


@contextlib.contextmanager
def live_rss():
    """Programs started inside run with ASan's quarantine off (appended to
    the inherited ASAN_OPTIONS, so CI's detect_leaks etc. stay); no effect
    on a plain build. Use-after-free is still caught while the freed block
    is not reused, which is what the rest of the suite is for."""
    old = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = ":".join(([old] if old else []) + list(ASAN_LIVE))
    try:
        yield
    finally:
        if old is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = old


def asan_rss_bound(plain_kib, redzone_kib, runtime_kib=4096):
    """A plain build's RSS bound for a program run under live_rss() in the
    sanitizer build: the live bytes x 9/8 (shadow), plus the redzones and
    headers of the live blocks (redzone_kib, stated by the caller from the
    blocks it holds) and runtime_kib for ASan's own bookkeeping."""
    return plain_kib * 9 // 8 + redzone_kib + runtime_kib


class CloseWatch:
    """Reads a socket in a thread until the peer closes it and records when:
    end is "eof", "reset" or "timeout", at is time.time() of that moment.
    For timing a close while the test does other things meanwhile."""

    def __init__(self, s, timeout=60.0):
        self.s = s
        self.data = b""
        self.end = None
        self.at = None
        self.t = threading.Thread(target=self.run, args=(timeout,), daemon=True)
        self.t.start()

    def run(self, timeout):
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    self.end = "eof"
                    break
                self.data += d
        except ConnectionResetError:
            self.end = "reset"
        except socket.timeout:
            self.end = "timeout"
        except OSError as e:
            self.end = "error:%s" % e
        self.at = time.time()

    def wait(self, timeout):
        self.t.join(timeout)
        return self.end


SYS_PIDFD_GETFD = 438  # x86_64, aarch64 and most others (asm-generic)


def pidfd_getfd(pidfd, fd):
    """A copy in this process of descriptor fd of the process behind pidfd
    (pidfd_getfd(2); root here). OSError where the kernel refuses it."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def socket_of(pid, pidfd, pred):
    """A copy of the TCP socket of pid for which pred(sock) holds (it may
    call getsockname/getpeername), or None. The caller closes it."""
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:"):
                continue
            s = socket.socket(fileno=pidfd_getfd(pidfd, int(name)))
        except OSError:
            continue
        try:
            if s.type == socket.SOCK_STREAM and s.family in (socket.AF_INET, socket.AF_INET6) \
                    and pred(s):
                return s
        except OSError:
            pass
        s.close()
    return None


def wait_for(pred, timeout=5.0, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Reader:
    """Collects (time, line) from a background process's stdout."""

    def __init__(self, proc):
        import threading
        self.lines = []
        self.t = threading.Thread(target=self.run, args=(proc,), daemon=True)
        self.t.start()

    def run(self, proc):
        for line in proc.stdout:
            self.lines.append((time.time(), line.strip()))

    def find(self, prefix):
        for t, l in self.lines:
            if l.startswith(prefix):
                return t, l
        return None

    def text(self):
        return "\n".join(l for _, l in self.lines)


class Checks:
    """Collects named checks; prints each; fails the test at the end."""

    def __init__(self):
        self.failed = []

    def check(self, name, ok, detail=""):
        print("%s %s %s" % ("ok  " if ok else "FAIL", name, detail), flush=True)
        if not ok:
            self.failed.append(name)
        return ok

    def done(self):
        if self.failed:
            print("FAILED: " + ", ".join(self.failed))
            return 1
        print("all checks passed")
        return 0


class FakeAdmin:
    """A stand-in for the relay's admin socket at path, for linkctl tests
    without a relay: each request line is answered with reply(request) as
    one JSON line (bytes are sent as they are, for malformed replies); the
    requests are kept in order in .requests."""

    def __init__(self, path, reply):
        self.path = path
        self.reply = reply
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\n" not in data:
                    chunk = conn.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                req = data.split(b"\n")[0].decode()
                self.requests.append(req)
                r = self.reply(req)
                conn.sendall((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n")

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)


def closed_now(s, wait=5.0):
    """True if the relay closed s (EOF/RST) within wait seconds, with no data.
    A refused connection is closed as soon as the relay accepts it, which on a
    loaded machine (ctest -j2 under ASan, thousands of connections in the
    backlog) can take seconds; an admitted one stays open for the relay's
    handshake_timeout, so a wait below that tells them apart either way."""
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
