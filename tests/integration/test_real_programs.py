#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Real programs through a link (loopback): a real linkrelay, links made with
linkctl, and two linkagents from config files with one link per service —
side b (the "device") connects to the servers, side a (the "host") listens
for the clients:

  iperf3     iperf3 -s -1 behind side b, a fresh one per run; the client through side a's port with
             1, 4 and 16 parallel streams, both directions (-R): completes,
             every stream moved bytes, nonzero throughput both ends;
  redis      a redis-server of our own (free port, --save '' --appendonly
             no, never 6379) behind side b; redis-benchmark -n 20000 -c 50
             -t set,get,incr,lpush through the link: all four tests report,
             no error; the INCR counter and the list hold exactly 20000;
  http       python3 -m http.server in a temp directory behind side b; curl
             fetches a generated 200 MiB file through the link: same SHA-256;
  ssh        a private sshd (temp host key, authorized_keys and config on a
             free port; the system sshd and ~/.ssh are not touched) behind
             side b: a command through the link (and the host key ssh saw is
             ours), scp of a 50 MiB random file up and back, same SHA-256.

Every process is stopped by PID and the temp directory removed, also when a
check fails or an exception is raised. Needs iperf3, redis-server,
redis-tools, curl, openssh-server, openssh-client (scripts/deps.sh test):
without them the test fails with "missing: ...".
"""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import agentharness as ah
import lrharness as h

TOOLS = {
    "iperf3": "/usr/bin/iperf3",
    "redis-server": "/usr/bin/redis-server",
    "redis-benchmark": "/usr/bin/redis-benchmark",
    "redis-cli": "/usr/bin/redis-cli",
    "curl": "/usr/bin/curl",
    "sshd": "/usr/sbin/sshd",
    "ssh": "/usr/bin/ssh",
    "scp": "/usr/bin/scp",
    "ssh-keygen": "/usr/bin/ssh-keygen",
}
SERVICES = ("iperf", "redis", "http", "ssh")
HTTP_SIZE = 200 * ah.MIB
SCP_SIZE = 50 * ah.MIB
REDIS_N = 20000


def wait_port(port, proc, timeout=10):
    """True once something accepts on 127.0.0.1:port (and proc still runs)."""
    def up():
        if proc.poll() is not None:
            return "exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    return h.wait_for(up, timeout=timeout, step=0.05) is True


def listening(port):
    """True while a socket listens on 127.0.0.1:port (read from
    /proc/net/tcp, so nothing connects to it)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        return any(l.split()[1] == want and l.split()[3] == "0A" for l in list(f)[1:])


def iperf_server(procs, port, prev=None):
    """A one-test iperf3 server (-1) on 127.0.0.1:port, once the previous one
    has finished its test and exited and the new one listens. iperf3 -s
    serves one test at a time, and between tests a long-running server is
    briefly "busy" or not listening; a fresh server per test has neither
    window. Returns the process, or None when it did not come up."""
    if prev is not None:
        try:
            prev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            return None
    p = procs.start("iperf3", [TOOLS["iperf3"], "-s", "-1", "-B", "127.0.0.1", "-p", str(port)])
    up = h.wait_for(lambda: p.poll() is not None or listening(port), timeout=10, step=0.02)
    return p if up and p.poll() is None else None


def sha256_file(path):
    d = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            d.update(b)
    return d.hexdigest()


def random_file(path, size):
    """size bytes of random data (a repeated random 4 MiB block would be
    compressible by ssh; os.urandom per MiB is fast enough)."""
    d = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(size // ah.MIB):
            b = os.urandom(ah.MIB)
            d.update(b)
            f.write(b)
    return d.hexdigest()


class Procs:
    """Background servers started by the test, stopped by PID."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, name, args, **kw):
        log = open(os.path.join(self.tmp, name + ".log"), "ab")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, **kw)
        log.close()
        self.procs.append((name, p))
        return p

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        for _, p in self.procs:
            if p.poll() is None:
                p.terminate()
        for _, p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def agent_conf(path, links):
    """links: list of (name, token, role line)."""
    with open(path, "w") as f:
        f.write("[agent]\nbackoff_min = 200ms\nbackoff_max = 2s\n")
        for name, tok, role in links:
            f.write("\n[link %s]\ntoken = %s\n%s\n" % (name, tok, role))
    os.chmod(path, 0o600)


def run(args, timeout, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def check_iperf(c, port, procs, sport, server):
    for par in (1, 4, 16):
        for rev in (False, True):
            name = "iperf3 -P %d%s" % (par, " -R" if rev else "")
            args = [TOOLS["iperf3"], "-c", "127.0.0.1", "-p", str(port), "-t", "2", "-P",
                    str(par), "-J", "--connect-timeout", "5000"] + (["-R"] if rev else [])
            if server is not None and par + rev > 1:
                server = iperf_server(procs, sport, server)
            if not c.check(name + ": a fresh iperf3 server listens", server is not None):
                return
            err = None
            try:
                r = run(args, timeout=40)
                try:
                    out = json.loads(r.stdout)
                except ValueError:
                    out = {"error": "no JSON: " + (r.stdout + r.stderr)[-500:]}
                err = out.get("error")
            except subprocess.TimeoutExpired:
                r = None
            if r is None:
                c.check(name + ": completes", False, "timeout")
                continue
            c.check(name + ": completes", r.returncode == 0 and not err,
                    "rc %d %s" % (r.returncode, err or ""))
            if err:
                continue
            end = out.get("end", {})
            sent = end.get("sum_sent", {})
            recv = end.get("sum_received", {})
            streams = end.get("streams", [])
            moved = [s.get("receiver", {}).get("bytes", 0) > 0 for s in streams]
            c.check(name + ": %d streams, every one moved bytes" % par,
                    len(streams) == par and all(moved), "%d streams" % len(streams))
            c.check(name + ": nonzero throughput",
                    sent.get("bits_per_second", 0) > 0 and recv.get("bits_per_second", 0) > 0,
                    "%.0f Mbit/s received, %d bytes" % (recv.get("bits_per_second", 0) / 1e6,
                                                       recv.get("bytes", 0)))


def check_redis(c, port, direct_port):
    args = [TOOLS["redis-benchmark"], "-h", "127.0.0.1", "-p", str(port), "-n", str(REDIS_N),
            "-c", "50", "-q", "-t", "set,get,incr,lpush"]
    try:
        r = run(args, timeout=60)
    except subprocess.TimeoutExpired:
        c.check("redis-benchmark completes", False, "timeout")
        return
    # -q prints "SET: 41152.26 requests per second, p50=0.911 msec" per test,
    # with carriage-return progress lines before each.
    text = r.stdout.replace("\r", "\n")
    found = {}
    for m in re.finditer(r"^(SET|GET|INCR|LPUSH): ([0-9.]+) requests per second", text, re.M):
        found[m.group(1)] = float(m.group(2))
    errors = [l for l in (text + r.stderr).splitlines() if re.search(r"rror|refused|reset", l)]
    c.check("redis-benchmark completes", r.returncode == 0, "rc %d" % r.returncode)
    c.check("redis-benchmark: SET GET INCR LPUSH all report nonzero rates",
            sorted(found) == ["GET", "INCR", "LPUSH", "SET"] and all(found.values()), found)
    c.check("redis-benchmark: zero errors", not errors, errors[:3])
    # Without -r the benchmark's keys are literal: INCR hit one counter
    # REDIS_N times and LPUSH grew one list by REDIS_N. Read through the link.
    cli = [TOOLS["redis-cli"], "-h", "127.0.0.1", "-p", str(port)]
    got = run(cli + ["GET", "counter:__rand_int__"], timeout=10).stdout.strip()
    c.check("redis: the INCR counter is exactly %d (read through the link)" % REDIS_N,
            got == str(REDIS_N), got)
    got = run(cli + ["LLEN", "mylist"], timeout=10).stdout.strip()
    c.check("redis: the list holds exactly %d" % REDIS_N, got == str(REDIS_N), got)
    direct = run([TOOLS["redis-cli"], "-h", "127.0.0.1", "-p", str(direct_port), "GET",
                  "counter:__rand_int__"], timeout=10).stdout.strip()
    c.check("redis: the same value directly on the server", direct == str(REDIS_N), direct)


def check_http(c, tmp, port):
    www = os.path.join(tmp, "www")
    want = random_file(os.path.join(www, "big.bin"), HTTP_SIZE)
    out = os.path.join(tmp, "got.bin")
    t0 = time.time()
    try:
        r = run([TOOLS["curl"], "-sS", "--fail", "--max-time", "60", "-o", out,
                 "http://127.0.0.1:%d/big.bin" % port], timeout=70)
        rc, err = r.returncode, r.stderr.strip()
    except subprocess.TimeoutExpired:
        rc, err = "timeout", ""
    took = time.time() - t0
    size = os.path.getsize(out) if os.path.exists(out) else -1
    c.check("curl: 200 MiB over HTTP through the link", rc == 0 and size == HTTP_SIZE,
            "rc %s, %d bytes in %.1f s %s" % (rc, size, took, err))
    c.check("curl: SHA-256 matches", size == HTTP_SIZE and sha256_file(out) == want)
    os.unlink(out)
    os.unlink(os.path.join(www, "big.bin"))


def start_sshd(procs, tmp, port):
    """A private sshd: its own host key, authorized_keys and config, on
    127.0.0.1:port. Returns (process, client key path, host public key)."""
    sdir = os.path.join(tmp, "ssh")
    os.mkdir(sdir, 0o700)
    hostkey = os.path.join(sdir, "host_ed25519")
    ukey = os.path.join(sdir, "id_ed25519")
    for k in (hostkey, ukey):
        subprocess.run([TOOLS["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", k],
                       check=True, capture_output=True)
    shutil.copy(ukey + ".pub", os.path.join(sdir, "authorized_keys"))
    conf = os.path.join(sdir, "sshd_config")
    with open(conf, "w") as f:
        f.write("\n".join([
            "Port %d" % port,
            "ListenAddress 127.0.0.1",
            "HostKey %s" % hostkey,
            "PidFile none",
            "AuthorizedKeysFile %s" % os.path.join(sdir, "authorized_keys"),
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "Subsystem sftp internal-sftp",
            "",
        ]))
    p = procs.start("sshd", [TOOLS["sshd"], "-D", "-e", "-f", conf])
    with open(hostkey + ".pub") as f:
        hostpub = f.read().split()[1]
    return p, ukey, hostpub


def check_ssh(c, tmp, port, ukey, hostpub):
    known = os.path.join(tmp, "ssh", "known_hosts")
    opts = ["-F", "/dev/null", "-i", ukey, "-o", "UserKnownHostsFile=" + known,
            "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10"]
    try:
        r = run([TOOLS["ssh"], "-p", str(port)] + opts + ["root@127.0.0.1", "echo ok; uname -s"],
                timeout=30)
        rc, out, err = r.returncode, r.stdout, r.stderr.strip()
    except subprocess.TimeoutExpired:
        rc, out, err = "timeout", "", ""
    c.check("ssh: a command through the link", rc == 0 and out == "ok\nLinux\n",
            "rc %s %r %s" % (rc, out, err[-300:]))
    try:
        with open(known) as f:
            seen = f.read()
    except OSError:
        seen = ""
    c.check("ssh: the host key ssh saw is our private sshd's", hostpub in seen)
    src = os.path.join(tmp, "rand50.bin")
    up = os.path.join(tmp, "up50.bin")
    back = os.path.join(tmp, "back50.bin")
    want = random_file(src, SCP_SIZE)
    for name, a, b, path in (("up", src, "root@127.0.0.1:" + up, up),
                             ("back", "root@127.0.0.1:" + up, back, back)):
        t0 = time.time()
        try:
            r = run([TOOLS["scp"], "-q", "-P", str(port)] + opts + [a, b], timeout=60)
            rc, err = r.returncode, r.stderr.strip()
        except subprocess.TimeoutExpired:
            rc, err = "timeout", ""
        ok = rc == 0 and os.path.exists(path) and sha256_file(path) == want
        c.check("scp %s: 50 MiB through the link, SHA-256 matches" % name, ok,
                "rc %s in %.1f s %s" % (rc, time.time() - t0, err[-300:]))


def main():
    c = h.Checks()
    missing = [n for n, p in TOOLS.items() if not os.access(p, os.X_OK)]
    if not os.access(ah.AGENT, os.X_OK):
        missing.append(ah.AGENT)
    if missing:
        c.check("tools present (scripts/deps.sh test)", False, "missing: " + ", ".join(missing))
        return c.done()
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="lrreal.")
    os.mkdir(os.path.join(tmp, "www"))
    procs = Procs(tmp)
    # Loopback: both agents' legs come from 127.0.0.1, so the per-address
    # admission limits (made for many agents behind many addresses; 50
    # redis-benchmark clients are 100 legs pending at once) are lifted, as in
    # the soak. The other limits are the fast test ones.
    rig = ah.Rig(limits={"conn_rate_per_ip": "100000/s", "conn_burst_per_ip": "100000",
                         "max_pending_per_ip": "1024", "ticket_expiry": "10s",
                         "handshake_timeout": "10s"})
    # A fixed relay port (the tokens carry the relay's listen address), chosen
    # like the others (ah.fixed_port_relay would take an ephemeral one).
    conf = os.path.join(rig.relay.dir, "linkrelay.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("listen = 127.0.0.1:0", "listen = 127.0.0.1:%d" % ah.free_port()))
    made_privsep = False
    try:
        rig.start_relay()
        # The servers behind side b.
        sport = {s: ah.free_port() for s in SERVICES}
        lport = {s: ah.free_port() for s in SERVICES}
        servers = {
            "iperf": iperf_server(procs, sport["iperf"]),
            "redis": procs.start("redis", [TOOLS["redis-server"], "--port", str(sport["redis"]),
                                           "--bind", "127.0.0.1", "--save", "",
                                           "--appendonly", "no", "--dir", tmp,
                                           "--daemonize", "no", "--maxclients", "1000"]),
            "http": procs.start("http", [sys.executable, "-m", "http.server", "--bind",
                                         "127.0.0.1", "--directory", os.path.join(tmp, "www"),
                                         str(sport["http"])]),
        }
        if not os.path.isdir("/run/sshd"):  # sshd's privilege separation directory
            os.mkdir("/run/sshd", 0o755)
            made_privsep = True
        servers["ssh"], ukey, hostpub = start_sshd(procs, tmp, sport["ssh"])
        for s in SERVICES:
            # Nothing may connect to the one-test iperf3 server before its test.
            up = servers[s] is not None if s == "iperf" else wait_port(sport[s], servers[s])
            if not c.check("%s server listening" % s, up):
                print(procs.log({"iperf": "iperf3"}.get(s, s))[-2000:])
        # One link per service; one agent per side serves all four.
        links = {s: rig.link(s) for s in SERVICES}
        conf_a = os.path.join(rig.tmp, "a.conf")
        conf_b = os.path.join(rig.tmp, "b.conf")
        agent_conf(conf_a, [(s, links[s]["tokens"]["a"], "listen = 127.0.0.1:%d" % lport[s])
                            for s in SERVICES])
        agent_conf(conf_b, [(s, links[s]["tokens"]["b"], "connect = 127.0.0.1:%d" % sport[s])
                            for s in SERVICES])
        b = rig.agent_args("b", ["--config", conf_b])
        a = rig.agent_args("a", ["--config", conf_a])

        def all_online():
            for s in SERVICES:
                live = rig.relay.ctl_json("link", "show", s).get("live") or {}
                if not (live.get("a", {}).get("online") and live.get("b", {}).get("online")):
                    return False
            return True
        c.check("both agents online on all four links", h.wait_for(all_online, timeout=15,
                                                                     step=0.1))

        only = os.environ.get("LR_REAL_ONLY", "")  # one of SERVICES, when chasing a failure
        if only in ("", "iperf"):
            check_iperf(c, lport["iperf"], procs, sport["iperf"], servers["iperf"])
        if only in ("", "redis"):
            check_redis(c, lport["redis"], sport["redis"])
        if only in ("", "http"):
            check_http(c, tmp, lport["http"])
        if only in ("", "ssh"):
            check_ssh(c, tmp, lport["ssh"], ukey, hostpub)

        for s in SERVICES:
            if s != "iperf":  # a one-test server per iperf3 run (iperf_server)
                c.check("%s server still running" % s, servers[s].poll() is None)
        for ag in (a, b):
            rc = ag.stop()
            c.check("agent %s exits 0 on SIGTERM" % ag.name, rc == 0, rc)
        # How long it all took is throughput (3-5x lower under ASan, lower
        # again with ctest -j2), not a property of the link: each step above
        # has its own deadline (curl --max-time, iperf3/redis/ssh timeouts),
        # which is what catches a hang. Printed for the record.
        print("finished in %.1f s" % (time.time() - t_start))
    except Exception:
        rig.dump()
        raise
    finally:
        if c.failed:
            rig.dump()
            for name in ("iperf3", "redis", "http", "sshd"):
                print("---- %s log (tail)\n%s" % (name, procs.log(name)[-1500:]))
        procs.close()
        try:
            rig.close()
        finally:
            if made_privsep:
                try:
                    os.rmdir("/run/sshd")
                except OSError:
                    pass
            shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
