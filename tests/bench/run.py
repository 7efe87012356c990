#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay benchmarks side by side with direct loopback, haproxy (TCP mode,
splice) and an SSH tunnel (ssh -R + ssh -L through one sshd), in one run on
this machine. Started by tests/bench/run.sh; results in docs/performance.md.

Every process is started here and stopped by PID (SIGTERM, then SIGKILL) on
exit, also on failure or Ctrl-C; the temporary directory is removed. Only
loopback addresses are used. The system sshd and ~/.ssh are never touched: the
middle sshd runs from a config, host key and authorized_keys in the temp dir.

Output: progress on stderr, a Markdown report on stdout (and --out FILE),
raw samples as JSON with --json FILE.
"""
import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

MAX_RUN_S = 1800  # the whole run is bounded


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

class Env:
    def __init__(self, build):
        self.build = build
        self.bench = os.path.join(build, "tests", "bench", "lr_bench")
        self.relay_bin = os.path.join(build, "relay", "linkrelay")
        # linkctl/ since issue 12; relay/ in older builds, so an A/B run can
        # set a build from before the move beside one from after it.
        self.ctl_bin = os.path.join(build, "linkctl", "linkctl")
        if not os.path.exists(self.ctl_bin):
            self.ctl_bin = os.path.join(build, "relay", "linkctl")
        self.agent_bin = os.path.join(build, "agent", "linkagent")
        self.tmp = tempfile.mkdtemp(prefix="lrbench.")
        self.procs = []
        self.made_run_sshd = False
        self.t_start = time.time()

    def spawn(self, name, argv, stdin=None, stdout=None):
        logf = open(os.path.join(self.tmp, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdin=stdin, stdout=stdout if stdout else logf,
                             stderr=logf, cwd=self.tmp)
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p, timeout=10):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self):
        for p in list(reversed(self.procs)):
            try:
                self.stop(p, 5)
            except Exception as e:  # keep cleaning up
                log("cleanup:", e)
        if self.made_run_sshd:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
        if os.environ.get("LR_BENCH_KEEP"):
            log("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def check_time(self):
        if time.time() - self.t_start > MAX_RUN_S:
            raise RuntimeError("benchmark exceeded %d s" % MAX_RUN_S)

    def log_tail(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                return f.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, env, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited: %s" % (proc.bench_name, env.log_tail(proc.bench_name)))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d never opened (%s)" % (port, proc.bench_name))


def children(pid):
    """All descendant PIDs of pid (from /proc/*/stat)."""
    par = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
                par.setdefault(int(s.rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, pending = [], [pid]
    while pending:
        for c in par.get(pending.pop(), []):
            out.append(c)
            pending.append(c)
    return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sockstat_tcp():
    """(sockets in use, memory pages) of TCP from /proc/net/sockstat."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                v = line.split()
                d = dict(zip(v[1::2], v[2::2]))
                return int(d["inuse"]), int(d["mem"])
    return 0, 0


def parse_kv(text):
    d = {}
    for line in text.splitlines():
        for tok in line.split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                d[k] = v
    return d


# ---------------------------------------------------------------- systems

class Direct:
    name = "direct"

    def __init__(self, env):
        self.env = env
        self.port = free_port()

    def start(self):
        return self

    def via(self):
        return ["--via", "tcp", "--connect", "127.0.0.1:%d" % self.port,
                "--listen", "127.0.0.1:%d" % self.port]

    def watch(self):
        return {}


class Haproxy:
    name = "haproxy"

    def __init__(self, env):
        self.env = env
        self.front, self.back = free_port(), free_port()
        self.front2, self.back2 = free_port(), free_port()  # a second route (alt)

    def start(self):
        conf = os.path.join(self.env.tmp, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write("""global
    nbthread 1
    maxconn 9100
    maxpipes 400
    log stdout format raw local0 emerg
defaults
    mode tcp
    option splice-request
    option splice-response
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    maxconn 9100
frontend fe
    bind 127.0.0.1:%d
    backlog 4096
    default_backend be
backend be
    server s1 127.0.0.1:%d
frontend fe2
    bind 127.0.0.1:%d
    backlog 4096
    default_backend be2
backend be2
    server s2 127.0.0.1:%d
""" % (self.front, self.back, self.front2, self.back2))
        self.proc = self.env.spawn("haproxy", ["haproxy", "-db", "-f", conf])
        wait_port(self.front, self.proc, self.env)
        return self

    def via(self, alt=False):
        if alt:
            return ["--via", "tcp", "--connect", "127.0.0.1:%d" % self.front2,
                    "--listen", "127.0.0.1:%d" % self.back2]
        return ["--via", "tcp", "--connect", "127.0.0.1:%d" % self.front,
                "--listen", "127.0.0.1:%d" % self.back]

    def watch(self):
        return {"haproxy": [self.proc.pid]}


class Ssh:
    """ssh -R (device side) and ssh -L (host side) to one sshd on loopback."""
    name = "ssh"

    def __init__(self, env):
        self.env = env
        self.sshd_port = free_port()
        self.rport = free_port()
        self.lport = free_port()
        self.dev = free_port()

    def start(self):
        t = self.env.tmp
        for k in ("hostkey", "id"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            os.path.join(t, k)], check=True)
        shutil.copy(os.path.join(t, "id.pub"), os.path.join(t, "authorized_keys"))
        os.chmod(os.path.join(t, "authorized_keys"), 0o600)
        conf = os.path.join(t, "sshd_config")
        with open(conf, "w") as f:
            f.write("""Port %d
ListenAddress 127.0.0.1
HostKey %s/hostkey
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
GatewayPorts no
MaxSessions 100
MaxStartups 100
""" % (self.sshd_port, t, t, t))
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", 0o755)
            self.env.made_run_sshd = True
        self.sshd = self.env.spawn("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", conf])
        wait_port(self.sshd_port, self.sshd, self.env)
        user = os.environ.get("USER") or "root"
        common = ["ssh", "-N", "-F", "/dev/null", "-i", os.path.join(t, "id"),
                  "-p", str(self.sshd_port), "-o", "BatchMode=yes",
                  "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                  "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR"]
        self.ssh_r = self.env.spawn("ssh-R", common + [
            "-R", "127.0.0.1:%d:127.0.0.1:%d" % (self.rport, self.dev), "%s@127.0.0.1" % user])
        wait_port(self.rport, self.ssh_r, self.env)
        self.ssh_l = self.env.spawn("ssh-L", common + [
            "-L", "127.0.0.1:%d:127.0.0.1:%d" % (self.lport, self.rport), "%s@127.0.0.1" % user])
        wait_port(self.lport, self.ssh_l, self.env)
        return self

    def via(self):
        return ["--via", "tcp", "--connect", "127.0.0.1:%d" % self.lport,
                "--listen", "127.0.0.1:%d" % self.dev]

    def watch(self):
        return {"sshd": children(self.sshd.pid) + [self.sshd.pid],
                "ssh-R": [self.ssh_r.pid], "ssh-L": [self.ssh_l.pid]}


class Relay:
    """linkrelay with limits raised for the benchmark (docs/linkrelay.conf.md)."""
    name = "linkrelay"

    def __init__(self, env, extra_limits=""):
        self.env = env
        self.extra = extra_limits
        self.dir = tempfile.mkdtemp(prefix="relay.", dir=env.tmp)
        self.port = free_port()

    def start(self):
        with open(os.path.join(self.dir, "linkrelay.conf"), "w") as f:
            f.write("""[relay]
listen = 127.0.0.1:%d
advertise = 127.0.0.1:%d
log_level = warn
[limits]
max_pending = 100000
max_pending_per_ip = 100000
conn_rate_per_ip = 1000000/s
conn_burst_per_ip = 10000000
max_conns_per_ip = 19900
max_streams_per_link = 65535
open_rate_per_link = 0
""" % (self.port, self.port) + self.extra)
        self.proc = self.env.spawn("linkrelay", [self.env.relay_bin, "--state-dir", self.dir,
                                                 "--ready-file", os.path.join(self.dir, "ready")])
        deadline = time.time() + 10
        while not os.path.exists(os.path.join(self.dir, "ready")):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("linkrelay did not start: " + self.env.log_tail("linkrelay"))
            time.sleep(0.02)
        info = self.ctl("relay", "info")
        self.relay_pub, self.key_id = info["relay_key"], info["relay_key_id"]
        self.link = self.add_link("bench")
        self.link2 = self.add_link("bench2")  # a second link (alt)
        return self

    def ctl(self, *args):
        r = subprocess.run([self.env.ctl_bin, "--state-dir", self.dir, "--json"] + list(args),
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("linkctl %s: %s" % (args, r.stderr))
        return json.loads(r.stdout)

    def add_link(self, name):
        keys = []
        for _ in range(2):
            out = subprocess.run([self.env.agent_bin, "keygen"], capture_output=True, text=True,
                                 check=True).stdout
            d = dict(line.split(None, 1) for line in out.strip().splitlines())
            keys.append((d["private"].strip(), d["public"].strip()))
        out = self.ctl("link", "add", name, "--a-key", keys[0][1], "--b-key", keys[1][1])
        return {"id": out["id"], "a": keys[0][0], "b": keys[1][0]}

    def via(self, alt=False):
        link = self.link2 if alt else self.link
        return ["--via", "relay", "--relay", "127.0.0.1:%d" % self.port, "--relay-pub",
                self.relay_pub, "--key-id", str(self.key_id), "--link", link["id"],
                "--a-key", link["a"], "--b-key", link["b"]]

    def watch(self):
        return {"relay": [self.proc.pid]}


class Agents:
    """linkrelay + two linkagents: local TCP -> agent B -> relay -> agent A -> target."""
    name = "linkrelay+agents"

    def __init__(self, env, relay, extra=(), link="e2e"):
        self.env = env
        self.relay = relay
        self.extra = list(extra)  # more linkagent options, for both agents
        self.link_name = link
        self.lport = free_port()
        self.dev = free_port()

    def start(self):
        out = self.relay.ctl("link", "add", self.link_name)
        raddr = "127.0.0.1:%d" % self.relay.port
        tf = []
        for side in ("a", "b"):
            path = os.path.join(self.env.tmp, "token-%s-%s" % (self.link_name, side))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, out["tokens"][side].encode())
            os.close(fd)
            tf.append(path)
        tag = "" if self.link_name == "e2e" else "-" + self.link_name
        self.dev_agent = self.env.spawn("agent-dev" + tag, [
            self.env.agent_bin, "--token-file", tf[0], "--relay", raddr,
            "--connect", "127.0.0.1:%d" % self.dev, "--log-level", "warn"] + self.extra)
        self.host_agent = self.env.spawn("agent-host" + tag, [
            self.env.agent_bin, "--token-file", tf[1], "--relay", raddr,
            "--listen", "127.0.0.1:%d" % self.lport, "--log-level", "warn"] + self.extra)
        wait_port(self.lport, self.host_agent, self.env)
        time.sleep(0.5)  # both control sessions up
        return self

    def via(self):
        return ["--via", "tcp", "--connect", "127.0.0.1:%d" % self.lport,
                "--listen", "127.0.0.1:%d" % self.dev]

    def watch(self):
        return {"relay": [self.relay.proc.pid], "agent-host": [self.host_agent.pid],
                "agent-dev": [self.dev_agent.pid]}


# ---------------------------------------------------------------- running the client

def bench(env, system, test, args, timeout=300, extra_watch=True, alt=False, cpus=None):
    """Runs lr_bench once; cpus: the set of CPUs the client may run on (None: any)."""
    w = system.watch() if extra_watch else {}
    argv = [env.bench, test] + (system.via(alt=True) if alt else system.via()) + \
        [str(a) for a in args]
    for pids in w.values():
        for pid in pids:
            argv += ["--watch", str(pid)]
    env.check_time()
    pre = (lambda: os.sched_setaffinity(0, cpus)) if cpus is not None else None
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, preexec_fn=pre)
    kv = parse_kv(r.stdout)
    if r.returncode != 0 or kv.get("result") != "ok":
        raise RuntimeError("lr_bench %s on %s failed:\n%s%s" % (test, system.name, r.stdout,
                                                               r.stderr))
    cpu = {}
    for role, pids in w.items():
        cpu[role] = sum(float(kv.get("cpu.%d" % p, 0)) for p in pids)
    cpu["client"] = float(kv["cpu.self"])
    return kv, cpu


class Results:
    def __init__(self):
        self.samples = {}  # (section, metric, system) -> [values]
        self.order = []

    def add(self, section, metric, system, value):
        key = (section, metric, system)
        if key not in self.samples:
            self.samples[key] = []
            self.order.append(key)
        self.samples[key].append(value)

    def fmt(self, key, digits=1):
        v = self.samples.get(key)
        if not v:
            return "–"
        med = statistics.median(v)
        if len(v) == 1:
            return "%.*f" % (digits, med)
        return "%.*f (%.*f–%.*f)" % (digits, med, digits, min(v), digits, max(v))

    def median(self, key):
        v = self.samples.get(key)
        return statistics.median(v) if v else None


def cpu_per_gb(cpu, nbytes):
    return cpu / (nbytes / 1e9) if nbytes > 0 else float("nan")


def run_bulk(env, R, section, systems, n, both, ms, reps, roles):
    for _ in range(reps):
        for s in systems:
            kv, cpu = bench(env, s, "bulk", ["--n", n, "--ms", ms] + (["--both"] if both else []))
            total = float(kv["a2b.bytes"]) + (float(kv["b2a.bytes"]) if both else 0)
            secs = float(kv["bulk.s"])
            R.add(section, "throughput Gbit/s", s.name, total * 8 / secs / 1e9)
            if n > 1:
                R.add(section, "per-stream min Mbit/s", s.name, float(kv["a2b.stream_min_mbps"]))
                R.add(section, "per-stream median Mbit/s", s.name,
                      float(kv["a2b.stream_med_mbps"]))
            for role in roles:
                if role in cpu:
                    R.add(section, "CPU s/GB %s" % role, s.name, cpu_per_gb(cpu[role], total))
            R.add(section, "CPU s/GB client", s.name, cpu_per_gb(cpu["client"], total))


def pin(pids, cpus):
    """Sets the CPU affinity of every thread of each process in pids."""
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:  # the thread ended
                pass


def server_pids(system):
    return [pid for pids in system.watch().values() for pid in pids]


# Where ping-pong's client and forwarder run: (label, client CPUs, forwarder CPUs).
# On this VM a wakeup across vCPUs costs tens of µs, so an unpinned round trip
# is bimodal depending on the scheduler's choice; the pinned rows separate the
# two cases. "direct" has no forwarder: only its client is pinned.
def placements():
    allc = sorted(os.sched_getaffinity(0))
    rows = [("unpinned", None, None)]
    if len(allc) >= 2:
        rows += [("same vCPU", {allc[0]}, {allc[0]}), ("split vCPUs", {allc[0]}, {allc[1]})]
    return rows, set(allc)


def run_rtt(env, R, section, systems, count, reps):
    rows, allc = placements()
    for _ in range(reps):
        for label, ccpu, fcpu in rows:
            for s in systems:
                if fcpu is not None:
                    pin(server_pids(s), fcpu)
                try:
                    kv, _ = bench(env, s, "rtt", ["--count", count, "--size", 64], cpus=ccpu)
                finally:
                    if fcpu is not None:
                        pin(server_pids(s), allc)
                suffix = "" if ccpu is None else ", " + label
                R.add(section, "64 B ping-pong p50 µs" + suffix, s.name, float(kv["rtt.p50_us"]))
                R.add(section, "64 B ping-pong p99 µs" + suffix, s.name, float(kv["rtt.p99_us"]))


def run_pair(env, R, section, systems, n, rate, reps, cpu_role=None, label=""):
    for _ in range(reps):
        for s in systems:
            kv, cpu = bench(env, s, "pair", ["--n", n, "--rate", rate, "--window",
                                             256 if rate else 64])
            ok = int(kv["pair.ok"])
            if rate == 0:
                R.add(section, "new streams/s (max)" + label, s.name, float(kv["pair.rate"]))
                if cpu_role and cpu_role in cpu:
                    R.add(section, "CPU µs per new stream (%s)" % cpu_role, s.name,
                          cpu[cpu_role] / ok * 1e6)
                for role in ("haproxy", "relay"):
                    if role in cpu and role != cpu_role:
                        R.add(section, "CPU µs per new stream (%s)" % role, s.name,
                              cpu[role] / ok * 1e6)
            else:
                R.add(section, "time to first byte p50 µs at %d/s%s" % (rate, label), s.name,
                      float(kv["pair.p50_us"]))
                R.add(section, "time to first byte p99 µs at %d/s%s" % (rate, label), s.name,
                      float(kv["pair.p99_us"]))
                R.add(section, "achieved streams/s at %d/s%s" % (rate, label), s.name,
                      float(kv["pair.rate"]))
                # Via the relay, where the time goes (lr_bench pair, D49):
                # OPEN -> both STREAMs -> SPLICED on leg a -> byte on leg b.
                for ph, what in (("stream", "OPEN to both STREAMs"),
                                 ("spliced", "STREAMs to SPLICED"),
                                 ("byte", "SPLICED to first byte")):
                    for q in ("p50", "p99"):
                        if "pair.%s_%s_us" % (ph, q) in kv:
                            R.add(section, "TTFB phase %s %s µs at %d/s%s" % (
                                what, q, rate, label), s.name, float(kv["pair.%s_%s_us" % (ph, q)]))


def pair_under_load(env, R, systems, active, args):
    """Time to first byte of new streams while `active` streams carry
    args.load_mbps Mbit/s together (paced, so the 2 cores are not saturated by
    the background alone)."""
    rate, n = args.load_rate, args.load_rate * 2
    for _ in range(max(1, args.reps // 2)):
        for s in systems:
            argv = [env.bench, "bulk", "--n", str(active), "--ms", "20000", "--mbps",
                    str(args.load_mbps)] + s.via()
            bg = env.spawn("bg-bulk", argv, stdout=subprocess.PIPE)
            try:
                while True:
                    line = bg.stdout.readline().decode()
                    if not line:
                        raise RuntimeError("background bulk ended early")
                    if line.startswith("setup.n="):
                        break
                time.sleep(0.5)
                kv, _ = bench(env, s, "pair", ["--n", n, "--rate", rate, "--window", 256],
                              extra_watch=False, alt=True)
            finally:
                env.stop(bg)
            sec = "Pairing at %d/s while streams carry %d Mbit/s together" % (rate,
                                                                              args.load_mbps)
            R.add(sec, "TTFB p50 µs, %d active" % active, s.name, float(kv["pair.p50_us"]))
            R.add(sec, "TTFB p99 µs, %d active" % active, s.name, float(kv["pair.p99_us"]))


def settle_rss(pid, step=0.5, timeout=10.0):
    """Waits until pid's RSS stays the same over two steps (at most timeout
    s; False, with a line in the log, if it never did): a fresh linkrelay grows by about 0.9 MiB once, in its first second
    (its first 1 s tick and accounting flush), which the idle streams'
    growth must not count (docs/performance.md, 2026-12-07)."""
    deadline = time.time() + timeout
    last, same = rss_kib(pid), 0
    while same < 2 and time.time() < deadline:
        time.sleep(step)
        now = rss_kib(pid)
        same = same + 1 if now == last else 0
        last = now
    if same < 2:
        log("RSS of %d did not settle in %.0f s: the idle baseline may count start-up memory"
            % (pid, timeout))
    return same >= 2


def idle_scale(env, R, system, n, pid):
    """Holds n idle streams; relay RSS and sockstat per stream; one byte each way."""
    argv = [env.bench, "idle", "--n", str(n)] + system.via()
    p = env.spawn("idle-%s-%d" % (system.name, n), argv, stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE)
    lines = []

    def expect(phase, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = p.stdout.readline().decode()
            if not line:
                raise RuntimeError("idle client ended: " + "".join(lines))
            lines.append(line)
            if line.strip() == "phase=" + phase:
                return
        raise RuntimeError("idle client: no phase " + phase)

    try:
        expect("sessions")
        time.sleep(0.3)
        settle_rss(pid)
        rss0, (in0, mem0) = rss_kib(pid), sockstat_tcp()
        p.stdin.write(b"go\n")
        p.stdin.flush()
        expect("ready")
        time.sleep(1.0)
        rss1, (in1, mem1) = rss_kib(pid), sockstat_tcp()
        p.stdin.write(b"go\n")
        p.stdin.flush()
        expect("checked")
        p.stdin.write(b"go\n")
        p.stdin.flush()
        p.wait(60)
        rest = p.stdout.read().decode()
        kv = parse_kv("".join(lines) + rest)
    finally:
        env.stop(p)
    sec = "Scale: idle paired streams"
    R.add(sec, "%s RSS KiB per stream at %d" % ("user-space", n), system.name,
          (rss1 - rss0) / n)
    R.add(sec, "kernel TCP memory KiB per stream at %d (all 4 sockets)" % n, system.name,
          (mem1 - mem0) * 4 / n)
    R.add(sec, "sockets in use per stream at %d" % n, system.name, (in1 - in0) / n)
    R.add(sec, "streams passing a byte each way at the end, of %d" % n, system.name,
          float(kv.get("idle.passed", 0)))
    return rss0, rss1


def stall_mem(env, R, system, n, ms, section=None):
    """Memory `system` (a fresh forwarder) holds for n streams whose reader
    stopped: leg a writes until nothing more is taken for ms, then the RSS
    growth of the forwarder and /proc/net/sockstat TCP memory per stream."""
    pid = system.proc.pid
    argv = [env.bench, "stall", "--n", str(n), "--ms", str(ms)] + system.via()
    rss0, (_, mem0) = rss_kib(pid), sockstat_tcp()
    p = env.spawn("stall-%d" % n, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    lines = []
    try:
        while True:
            line = p.stdout.readline().decode()
            if not line:
                raise RuntimeError("stall client ended: " + "".join(lines))
            lines.append(line)
            if line.strip() == "phase=stalled":
                break
        rss1, (_, mem1) = rss_kib(pid), sockstat_tcp()
        p.stdin.write(b"go\n")
        p.stdin.flush()
        p.wait(60)
    finally:
        env.stop(p)
    kv = parse_kv("".join(lines))
    sec = section or "Stalled readers: %d streams" % n
    R.add(sec, "user-space RSS growth KiB per stream", system.name, (rss1 - rss0) / n)
    R.add(sec, "kernel TCP memory KiB per stream (all sockets)", system.name,
          (mem1 - mem0) * 4 / n)
    R.add(sec, "KiB taken from the writer per stream", system.name,
          float(kv.get("stall.sent", 0)) / n / 1024)


def agent_scale(env, R, relay, n_links):
    links = []
    for i in range(n_links):
        links.append(relay.add_link("idle%d" % i))
    path = os.path.join(env.tmp, "links.txt")
    with open(path, "w") as f:
        for l in links:
            f.write("%s %s %s\n" % (l["id"], l["a"], l["b"]))
    argv = [env.bench, "sessions", "--links", path] + relay.via()
    p = env.spawn("sessions", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        def expect(phase):
            while True:
                line = p.stdout.readline().decode()
                if not line:
                    raise RuntimeError("sessions client ended")
                if line.strip() == "phase=" + phase:
                    return
        expect("before")
        time.sleep(0.3)
        rss0, (_, mem0) = rss_kib(relay.proc.pid), sockstat_tcp()
        p.stdin.write(b"go\n")
        p.stdin.flush()
        expect("ready")
        time.sleep(1.0)
        rss1, (_, mem1) = rss_kib(relay.proc.pid), sockstat_tcp()
        p.stdin.write(b"go\n")
        p.stdin.flush()
        p.wait(60)
    finally:
        env.stop(p)
    n = 2 * n_links
    sec = "Scale: idle connected agents"
    R.add(sec, "relay RSS KiB per connected agent (%d agents)" % n, "linkrelay", (rss1 - rss0) / n)
    R.add(sec, "kernel TCP memory KiB per agent connection (both ends)", "linkrelay",
          (mem1 - mem0) * 4 / n)


def profile(env, system, test_args, seconds=3):
    """perf record (cpu-clock) on the relay while the client runs; top symbols."""
    data = os.path.join(env.tmp, "perf-%s.data" % test_args[0])
    pr = env.spawn("perf-%s" % test_args[0], ["perf", "record", "-e", "cpu-clock", "-F", "4000",
                                              "-o", data, "-p", str(system.proc.pid), "--",
                                              "sleep", str(seconds)])
    time.sleep(0.3)
    bench(env, system, test_args[0], test_args[1:], extra_watch=False)
    pr.wait(seconds + 30)
    r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--sort", "dso"],
                       capture_output=True, text=True, timeout=120)
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s*$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), "(all)"))
    r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--sort", "dso,symbol"],
                       capture_output=True, text=True, timeout=120)
    for line in r.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[.\]\s+(\S+)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3)))
    return rows[:22]


def versions(env):
    def out(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    def pkg(name):
        return out(["dpkg-query", "-W", "-f", "${Version}", name])

    return {
        "haproxy": out(["haproxy", "-v"]),
        "ssh": out(["ssh", "-V"]),
        "kernel": platform.release(),
        "libsodium": pkg("libsodium23"),
        "libcrypto (OpenSSL)": pkg("libssl3"),
        "libuv": pkg("libuv1"),
        "linkrelay": out([env.relay_bin, "--version"]),
        "cpus": str(os.cpu_count()),
        "cpu model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                           if l.startswith("model name")), "?"),
    }


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        return "?"


def table(R, section):
    keys = [k for k in R.order if k[0] == section]
    systems, metrics = [], []
    for _, m, s in keys:
        if s not in systems:
            systems.append(s)
        if m not in metrics:
            metrics.append(m)
    lines = ["| %s | %s |" % (section, " | ".join(systems)),
             "|---|" + "---|" * len(systems)]
    for m in metrics:
        digits = 3 if "Gbit" in m or "s/GB" in m else 1
        lines.append("| %s | %s |" % (m, " | ".join(R.fmt((section, m, s), digits)
                                                      for s in systems)))
    return "\n".join(lines)


def target(rows, name, value, limit, ok):
    rows.append("| %s | %s | %s | %s |" % (name, value, limit, "met" if ok else "**missed**"))


def targets(R, args):
    rows = ["| target | linkrelay | reference | |", "|---|---|---|---|"]
    m = R.median
    e2e = "End to end, 1 stream"
    for dp, how in (("Relay data path, 1 stream one way", "one way"),
                    ("Relay data path, 1 stream both ways", "both ways")):
        a, b = m((dp, "throughput Gbit/s", "linkrelay")), m((dp, "throughput Gbit/s", "haproxy"))
        if a and b:
            target(rows, "data path throughput ≥ haproxy, %s" % how, "%.2f Gbit/s" % a,
                   "%.2f Gbit/s" % b, a >= b)
        a, b = m((dp, "CPU s/GB relay", "linkrelay")), m((dp, "CPU s/GB haproxy", "haproxy"))
        if a and b:
            target(rows, "relay CPU per GB ≤ haproxy's, %s" % how, "%.3f s/GB" % a,
                   "%.3f s/GB" % b, a <= b)
    sec = "Relay data path, ping-pong"
    a, b = m((sec, "64 B ping-pong p99 µs", "linkrelay")), m((sec, "64 B ping-pong p99 µs",
                                                              "haproxy"))
    if a and b:
        target(rows, "ping-pong p99 ≤ haproxy's", pcts(R, sec, "64 B ping-pong", "", "linkrelay"),
               pcts(R, sec, "64 B ping-pong", "", "haproxy"), a <= b)
    for label, _, _ in placements()[0][1:]:
        a = m((sec, "64 B ping-pong p99 µs, " + label, "linkrelay"))
        b = m((sec, "64 B ping-pong p99 µs, " + label, "haproxy"))
        if a and b:
            target(rows, "ping-pong p99 ≤ haproxy's, client and forwarder on %s" % label,
                   pcts(R, sec, "64 B ping-pong", ", " + label, "linkrelay"),
                   pcts(R, sec, "64 B ping-pong", ", " + label, "haproxy"), a <= b)
    for sec in (e2e, "End to end, 8 streams"):
        a, b = m((sec, "throughput Gbit/s", "linkrelay+agents")), m((sec, "throughput Gbit/s",
                                                                     "ssh"))
        if a and b:
            target(rows, "%s: ≥ 2× SSH tunnel" % sec, "%.2f Gbit/s (%.2f×)" % (a, a / b),
                   "%.2f Gbit/s" % b, a >= 2 * b)
    sec = "End to end, ping-pong"
    a, b = m((sec, "64 B ping-pong p99 µs", "linkrelay+agents")), m((sec, "64 B ping-pong p99 µs",
                                                                     "ssh"))
    if a and b:
        target(rows, "end-to-end round trip p99 ≤ SSH's",
               pcts(R, sec, "64 B ping-pong", "", "linkrelay+agents"),
               pcts(R, sec, "64 B ping-pong", "", "ssh"), a <= b)
    sec = "Scale: idle paired streams"
    for n in args.idle:
        a = m((sec, "user-space RSS KiB per stream at %d" % n, "linkrelay"))
        if a is not None:
            target(rows, "≤ 3 KiB relay memory per idle stream at %d" % n, "%.2f KiB" % a,
                   "3 KiB", a <= 3)
        a = m((sec, "streams passing a byte each way at the end, of %d" % n, "linkrelay"))
        if a is not None:
            target(rows, "%d idle streams in one relay, all pass a byte" % n, "%d" % a, "%d" % n,
                   a == n)
    one = m(("Relay data path, 1 stream one way", "throughput Gbit/s", "linkrelay"))
    hundred = m(("Active streams: 100", "throughput Gbit/s", "linkrelay"))
    hmin = m(("Active streams: 100", "per-stream min Mbit/s", "linkrelay"))
    hmed = m(("Active streams: 100", "per-stream median Mbit/s", "linkrelay"))
    hap100 = m(("Active streams: 100", "throughput Gbit/s", "haproxy"))
    if one and hundred and hmin and hmed and hap100:
        ok = (hundred >= 0.9 * one or hundred >= 0.9 * hap100) and hmin >= 0.5 * hmed
        target(rows, "flat 1 → 100 active streams (aggregate ≥ 90 % of 1 stream or of "
               "haproxy's at 100; slowest stream ≥ half the median)",
               "%.2f → %.2f Gbit/s, slowest/median stream %.0f/%.0f Mbit/s" % (
                   one, hundred, hmin, hmed), "haproxy at 100: %.2f Gbit/s" % hap100, ok)
    sec = "Pairing"
    a = m((sec, "CPU µs per new stream (relay)", "linkrelay"))
    b = m((sec, "CPU µs per new stream (haproxy)", "haproxy"))
    if a:
        target(rows, "relay CPU per new stream ≤ 100 µs", "%.1f µs" % a,
               "100 µs (haproxy here: %s)" % ("%.1f µs" % b if b else "?"), a <= 100)
    a = m((sec, "new streams/s (max)", "linkrelay"))
    if a:
        target(rows, "≥ 5,000 new streams/s", "%.0f/s" % a, "5000/s", a >= 5000)
    a = m((sec, "time to first byte p99 µs at %d/s" % args.half_rate, "linkrelay"))
    if a:
        target(rows, "time to first byte p99 < 5 ms at %d/s" % args.half_rate,
               pcts(R, sec, "time to first byte", " at %d/s" % args.half_rate, "linkrelay"),
               "5000 µs", a < 5000)
    return "\n".join(rows + issue14_targets(R, args))


def pcts(R, sec, what, suffix, system):
    """'p50 X / p99 Y µs' of a latency metric (medians of the repetitions)."""
    p50 = R.median((sec, "%s p50 µs%s" % (what, suffix), system))
    p99 = R.median((sec, "%s p99 µs%s" % (what, suffix), system))
    return "p50 %s / p99 %s µs" % ("%.0f" % p50 if p50 is not None else "?",
                                   "%.0f" % p99 if p99 is not None else "?")


def issue14_targets(R, args):
    """Every goal of issue 14 ("New streams as fast as the best"), met or
    missed, with the peer's figure of the same run. A goal whose figures this
    run did not measure (a section skipped) is left out."""
    rows = []
    m = R.median

    def row(name, a, b, value, ref, ok):
        if a is not None and b is not None:
            target(rows, "issue 14: " + name, value, ref, ok(a, b))

    sec = "End to end, new streams"
    a, b = m((sec, "new streams/s (max)", "linkrelay+agents")), m((sec, "new streams/s (max)",
                                                                   "ssh"))
    row("end-to-end new streams/s ≥ 2× the SSH tunnel's", a, b,
        "%.0f/s (%.2f×)" % (a or 0, (a or 0) / b if b else 0), "SSH %.0f/s" % (b or 0),
        lambda a, b: a >= 2 * b)
    for p in ("p50", "p99"):
        metric = "time to first byte %s µs at %d/s" % (p, args.e2e_rate)
        row("end-to-end time to first byte %s at %d/s ≤ the SSH tunnel's" % (p, args.e2e_rate),
            m((sec, metric, "linkrelay+agents")), m((sec, metric, "ssh")),
            pcts(R, sec, "time to first byte", " at %d/s" % args.e2e_rate, "linkrelay+agents"),
            "SSH " + pcts(R, sec, "time to first byte", " at %d/s" % args.e2e_rate, "ssh"),
            lambda a, b: a <= b)
    sec = "Pairing"
    a, b = m((sec, "new streams/s (max)", "linkrelay")), m((sec, "new streams/s (max)",
                                                            "haproxy"))
    row("relay new streams/s ≥ haproxy's", a, b, "%.0f/s (%.2f×)" % (a or 0, (a or 0) / b
                                                                     if b else 0),
        "haproxy %.0f/s" % (b or 0), lambda a, b: a >= b)
    a = m((sec, "CPU µs per new stream (relay)", "linkrelay"))
    b = m((sec, "CPU µs per new stream (haproxy)", "haproxy"))
    row("relay CPU per new stream ≤ haproxy's", a, b, "%.0f µs" % (a or 0),
        "haproxy %.0f µs" % (b or 0), lambda a, b: a <= b)
    metric = "time to first byte p99 µs at %d/s" % args.half_rate
    row("relay time to first byte p99 at %d/s ≤ haproxy's" % args.half_rate,
        m((sec, metric, "linkrelay")), m((sec, metric, "haproxy")),
        pcts(R, sec, "time to first byte", " at %d/s" % args.half_rate, "linkrelay"),
        "haproxy " + pcts(R, sec, "time to first byte", " at %d/s" % args.half_rate, "haproxy"),
        lambda a, b: a <= b)
    sec = "End to end, 1 stream"
    a, b = m((sec, "throughput Gbit/s", "linkrelay+agents")), m((sec, "throughput Gbit/s", "ssh"))
    row("end-to-end bulk, 1 stream ≥ 4× the SSH tunnel's", a, b,
        "%.2f Gbit/s (%.2f×)" % (a or 0, (a or 0) / b if b else 0), "SSH %.2f Gbit/s" % (b or 0),
        lambda a, b: a >= 4 * b)
    for n in args.stall:
        sec = "Stalled readers: %d streams" % n
        metric = "kernel TCP memory KiB per stream (all sockets)"
        a, b = m((sec, metric, "linkrelay")), m((sec, metric, "haproxy"))
        row("kernel memory per stalled stream ≤ haproxy's (%d stalled)" % n, a, b,
            "%.0f KiB" % (a or 0), "haproxy %.0f KiB" % (b or 0), lambda a, b: a <= b)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("LR_BUILD_DIR", "build-bench"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ms", type=int, default=2000, help="duration of one bulk repetition")
    ap.add_argument("--rtt-count", type=int, default=20000)
    ap.add_argument("--pairs", type=int, default=5000, help="streams per pairing repetition")
    ap.add_argument("--half-rate", type=int, default=2500)
    ap.add_argument("--e2e-rate", type=int, default=500,
                    help="new streams/s of the paced end-to-end pairing (time to first byte)")
    ap.add_argument("--idle", type=int, nargs="*", default=[1000, 9000])
    ap.add_argument("--agents", type=int, default=500, help="idle agents (both sides of N/2 links)")
    ap.add_argument("--active", type=int, nargs="*", default=[1, 100, 1000])
    ap.add_argument("--load-rate", type=int, default=1000,
                    help="new streams/s while streams are active")
    ap.add_argument("--load-mbps", type=int, default=2000,
                    help="what the active streams carry together while pairing")
    ap.add_argument("--stall", type=int, nargs="*", default=[100],
                    help="streams whose reader stopped (memory under backpressure)")
    ap.add_argument("--quick", action="store_true", help="short settings for development")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--out", help="also write the Markdown report here")
    ap.add_argument("--json", help="write raw samples here")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.ms, args.rtt_count, args.pairs = 2, 500, 2000, 1000
        args.idle, args.agents, args.active, args.stall = [1000], 50, [1, 100], [20]

    env = Env(os.path.abspath(args.build))
    atexit.register(env.cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(1))
    R = Results()
    load0 = open("/proc/loadavg").read().split()[:3]
    t0 = time.time()

    log("starting direct, haproxy, ssh, linkrelay, agents")
    direct, hap, ssh = Direct(env).start(), Haproxy(env).start(), Ssh(env).start()
    relay = Relay(env).start()
    agents = Agents(env, relay).start()
    dp = [direct, hap, relay]
    e2e = [direct, ssh, agents]
    roles = ("haproxy", "relay", "sshd", "ssh-R", "ssh-L", "agent-host", "agent-dev")

    log("relay data path: bulk")
    run_bulk(env, R, "Relay data path, 1 stream one way", dp, 1, False, args.ms, args.reps, roles)
    run_bulk(env, R, "Relay data path, 1 stream both ways", dp, 1, True, args.ms, args.reps, roles)
    log("relay data path: ping-pong")
    run_rtt(env, R, "Relay data path, ping-pong", dp, args.rtt_count, args.reps)
    log("pairing")
    run_pair(env, R, "Pairing", dp, args.pairs, 0, args.reps, "relay")
    run_pair(env, R, "Pairing", dp, args.pairs, args.half_rate, args.reps)
    for n in args.active:
        if n == 1:
            continue
        log("active streams: %d" % n)
        run_bulk(env, R, "Active streams: %d" % n, dp, n, False, args.ms, args.reps, roles)
    log("end to end: bulk")
    run_bulk(env, R, "End to end, 1 stream", e2e, 1, False, args.ms, args.reps, roles)
    run_bulk(env, R, "End to end, 8 streams", e2e, 8, False, args.ms, args.reps, roles)
    log("end to end: ping-pong, pairing")
    run_rtt(env, R, "End to end, ping-pong", e2e, args.rtt_count, args.reps)
    run_pair(env, R, "End to end, new streams", e2e, max(200, args.pairs // 5), 0,
             max(1, args.reps // 2))
    run_pair(env, R, "End to end, new streams", e2e, max(200, args.pairs // 5), args.e2e_rate,
             max(1, args.reps // 2))
    for n in args.active:
        log("pairing while %d streams are active" % n)
        pair_under_load(env, R, dp[1:], n, args)
    # Scale: each on a fresh process, so memory freed by earlier tests (which the
    # allocator keeps) does not hide what the idle streams cost.
    env.stop(agents.host_agent)
    env.stop(agents.dev_agent)
    log("scale: agents")
    fresh = Relay(env).start()
    agent_scale(env, R, fresh, args.agents // 2)
    env.stop(fresh.proc)
    for n in args.idle:
        log("scale: %d idle streams" % n)
        fresh = Relay(env).start()
        idle_scale(env, R, fresh, n, fresh.proc.pid)
        env.stop(fresh.proc)
        if n <= 9100:
            fresh = Haproxy(env).start()
            idle_scale(env, R, fresh, n, fresh.proc.pid)
            env.stop(fresh.proc)
    for n in args.stall:
        log("scale: %d streams with stalled readers" % n)
        for fresh in (Haproxy(env), Relay(env)):
            fresh.start()
            time.sleep(0.3)
            stall_mem(env, R, fresh, n, 1000)
            env.stop(fresh.proc)
    prof = {}
    if not args.no_profile and shutil.which("perf"):
        log("profile")
        try:
            prof["bulk, 1 stream one way"] = profile(env, relay, ["bulk", "--n", 1, "--ms", 2500])
            prof["pairing, as fast as possible"] = profile(
                env, relay, ["pair", "--n", 8000, "--rate", 0, "--window", 64])
        except Exception as e:
            log("profile failed:", e)
    load1 = open("/proc/loadavg").read().split()[:3]
    for f in os.listdir(env.tmp):
        if f.endswith(".log"):
            text = open(os.path.join(env.tmp, f), "rb").read().decode(errors="replace")
            for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                if mark in text:
                    log("WARNING: %s in %s" % (mark, f))

    ver = versions(env)
    out = ["# Benchmark run %s UTC" % time.strftime("%Y-%m-%d %H:%M", time.gmtime(t0)), "",
           "Command: `%s` at commit %s" % (" ".join(["tests/bench/run.sh"] + sys.argv[1:]),
                                            git_commit()), "",
           "Load average before/after: %s / %s; %d repetitions, median (min–max); "
           "bulk %d ms per repetition; took %.0f s." % (" ".join(load0), " ".join(load1),
                                                         args.reps, args.ms, time.time() - t0),
           "", "| component | version |", "|---|---|"]
    out += ["| %s | %s |" % kv for kv in ver.items()]
    sections = []
    for k in R.order:
        if k[0] not in sections:
            sections.append(k[0])
    for s in sections:
        out += ["", table(R, s)]
    out += ["", "## Targets", "", targets(R, args)]
    for name, rows in prof.items():
        out += ["", "## Relay profile: %s (perf, cpu-clock samples)" % name, "",
                "| % | object | symbol |", "|---|---|---|"]
        out += ["| %.1f | %s | %s |" % r for r in rows]
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"section": k[0], "metric": k[1], "system": k[2], "values": v}
                       for k, v in R.samples.items()], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
