# SPDX-License-Identifier: MIT
"""A NAT topology in network namespaces for the integration tests (not a test).

    device LAN                                              host LAN
    dev ──eth0──lan── r1 ──wan──┐               ┌──wan── r2 ──lan──eth0── host
    100.64.1.10     100.64.1.1  │  pub (br0)    │  100.64.2.1     100.64.2.10
                    198.18.0.2  └── 198.18.0.1 ─┘  198.18.0.3
                    (masquerade)    (the relay)    (masquerade)

Five namespaces per Topology, named lr<pid>x<n>-<role>, so parallel runs (and
several topologies in one run) never collide. Addresses are only from
100.64.0.0/10 (the LANs) and 198.18.0.0/15 (the "public" segment), as
DESIGN.md §8 asks. Nothing is connected to the namespace the tests start in:
every veth has both ends inside the topology, and no namespace has a route
off it. r1/r2 are NAT routers: an nftables masquerade rule on `wan`, a forward
chain that lets LAN → WAN connections out and only their replies back in
(`ct state invalid` dropped, as a home router's firewall does), and
nf_conntrack_tcp_loose=0 so a mapping the router has forgotten is not silently
re-created by the next mid-stream packet. The routers have no default route,
so traffic to the other LAN's address dies at the router ("no route").

Use as a context manager; on exit (normal, exception, SIGTERM turned into
SystemExit by install_sigterm()) it stops every process it started and any
process left in its namespaces, by PID, then deletes the namespaces (which
deletes their veths). Namespaces of an earlier run whose PID is gone (e.g. a
run killed with SIGKILL by a ctest timeout) are swept at the start.

Sockets inside a namespace from this process: ns_socket() switches the
calling thread's network namespace with setns(2) for the socket() call only
(a socket stays in the namespace it was created in), so tests can run
clients and servers in threads instead of helper processes.
"""
import ctypes
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from lrharness import reset_close, transfer  # noqa: F401 (n.transfer, n.reset_close)

SKIP = 77  # ctest SKIP_RETURN_CODE (tests/CMakeLists.txt)

DEV_IP = "100.64.1.10"
R1_LAN_IP = "100.64.1.1"
R1_PUB_IP = "198.18.0.2"
HOST_IP = "100.64.2.10"
R2_LAN_IP = "100.64.2.1"
R2_PUB_IP = "198.18.0.3"
RELAY_IP = "198.18.0.1"

ROLES = ("dev", "r1", "host", "r2", "pub")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)
_ns_lock = threading.Lock()
_counter = [0]

ROUTER_NFT = """
table ip lrnat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" masquerade
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state invalid drop
        ct state established,related accept
        iifname "lan" oifname "wan" accept
    }
}
"""


def unavailable():
    """None if namespaces can be built here, else the reason why not."""
    if os.geteuid() != 0:
        return "not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return "'%s' not found (scripts/deps.sh test installs iproute2 and nftables)" % tool
    probe = "lr%dprobe" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return "'ip netns add' failed: " + r.stderr.strip()
    try:
        r = subprocess.run(["ip", "netns", "exec", probe, "nft", "-f", "-"],
                           input=ROUTER_NFT.replace('"wan"', '"lo"').replace('"lan"', '"lo"'),
                           capture_output=True, text=True)
        if r.returncode != 0:
            return "nftables NAT unusable in a namespace: " + r.stderr.strip()
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def skip_unless_available():
    """Exits with SKIP and a clear message when namespaces are unavailable."""
    why = unavailable()
    if why:
        print("SKIP: this test builds a NAT topology in network namespaces: " + why, flush=True)
        sys.exit(SKIP)


def install_sigterm():
    """Turns SIGTERM into SystemExit so `with Topology()` cleans up."""
    def handler(signum, frame):
        raise SystemExit("terminated by signal %d" % signum)
    signal.signal(signal.SIGTERM, handler)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ns_pids(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def _kill_pids(pids, grace=3.0):
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace
    left = list(pids)
    while left and time.time() < deadline:
        left = [p for p in left if _pid_alive(p) and not _is_zombie(p)]
        time.sleep(0.05)
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def sweep_stale():
    """Deletes namespaces lr<pid>x<n>-<role> whose creating PID is gone,
    after killing (by PID) whatever still runs in them."""
    try:
        names = os.listdir(NETNS_DIR)
    except OSError:
        return
    for name in names:
        # m<i>: the pool members' namespaces of poolns.PoolTopology.
        m = re.fullmatch(r"lr(\d+)x\d+-(%s|m\d+)" % "|".join(ROLES), name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        _kill_pids(_ns_pids(name), grace=1.0)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def ns_socket(ns, family=socket.AF_INET, type_=socket.SOCK_STREAM):
    """A socket created inside namespace ns (by its name)."""
    with _ns_lock:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            target = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY)
            try:
                if _libc.setns(target, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, "setns(%s): %s" % (ns, os.strerror(e)))
                try:
                    return socket.socket(family, type_)
                finally:
                    if _libc.setns(own, CLONE_NEWNET) != 0:
                        # Cannot continue in the wrong namespace.
                        os._exit(70)
            finally:
                os.close(target)
        finally:
            os.close(own)


def connect(ns, host, port, timeout=5.0):
    """A connected TCP socket from namespace ns; raises OSError on failure."""
    s = ns_socket(ns)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def probe_connect(ns, host, port, timeout=3.0):
    """Tries a TCP connection; returns "connected", "refused", "timeout",
    "unreachable" or an errno name."""
    try:
        s = connect(ns, host, port, timeout)
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "unreachable"
        return errno.errorcode.get(e.errno, str(e))
    s.close()
    return "connected"


class EchoServer:
    """A TCP echo server in namespace ns, in threads of this process.
    Echoes until EOF, then shuts its write side (a clean close). Records how
    each connection ended in .ends ("eof", "reset", "dropped", "error").
    drop_all() resets every open connection (the device restarting);
    close() stops listening and resets what is open; start() again after
    close() rebinds the same port (a restart of the device service).
    end_of[k] is how the k-th accepted connection ended.
    paused = True: a service that accepts but does not read (its receive
    window closes, backpressure all the way to the client) until it is set
    back to False; a reset of a paused connection is seen when it resumes,
    or at drop_all()/close()."""

    def __init__(self, ns, ip, port=7007):
        self.ns, self.ip, self.port = ns, ip, port
        self.paused = False
        self.ends = []
        self.end_of = {}  # accept number (1, 2, ...) -> how it ended
        self.accepted = 0
        self.lock = threading.Lock()
        self.gen = 0
        self.sock = None
        self.start()

    def start(self):
        s = ns_socket(self.ns)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.ip, self.port))
        s.listen(256)
        s.settimeout(0.1)
        self.sock = s
        self.closed = False
        self.thread = threading.Thread(target=self._accept, args=(s,), daemon=True)
        self.thread.start()

    def _accept(self, ls):
        while not self.closed:
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                self.accepted += 1
                cid = self.accepted
            threading.Thread(target=self._serve, args=(c, self.gen, cid), daemon=True).start()
        ls.close()

    def _serve(self, c, gen, cid):
        end = "eof"
        c.settimeout(0.1)
        try:
            while True:
                if gen != self.gen or self.closed:
                    reset_close(c)
                    c = None
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
                    c.shutdown(socket.SHUT_WR)
                    break
                c.settimeout(None)
                c.sendall(d)
                c.settimeout(0.1)
        except ConnectionResetError:
            end = "reset"
        except OSError:
            end = "error"
        with self.lock:
            self.ends.append(end)
            self.end_of[cid] = end
        if c is not None:
            c.close()

    def drop_all(self):
        self.gen += 1

    def close(self):
        self.closed = True
        self.thread.join(5)


class Topology:
    """The five namespaces of the picture above. ns[role] is the name."""

    def __init__(self, strict_nat=True):
        _counter[0] += 1
        self.tag = "lr%dx%d" % (os.getpid(), _counter[0])
        self.ns = {r: "%s-%s" % (self.tag, r) for r in ROLES}
        self.strict_nat = strict_nat
        self.procs = []
        self.made = []

    # ---- lifetime ----
    def __enter__(self):
        sweep_stale()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Stops our processes and everything left in our namespaces (by PID),
        then deletes the namespaces. Safe to call twice."""
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.terminate()
                except ProcessLookupError:
                    pass
        deadline = time.time() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        for ns in reversed(self.made):
            _kill_pids(_ns_pids(ns))
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []

    # ---- commands ----
    def ip(self, *args):
        r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def run(self, role, *argv, check=True, timeout=30, input=None):
        """Runs argv inside namespace role; returns CompletedProcess (text)."""
        r = subprocess.run(["ip", "netns", "exec", self.ns[role]] + list(argv),
                           capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise RuntimeError("[%s] %s: exit %d: %s" % (role, " ".join(argv), r.returncode,
                                                         r.stderr.strip()))
        return r

    def popen(self, role, argv, **kw):
        """Starts argv inside namespace role (`ip netns exec` execs it, so the
        Popen's pid is the program's); stopped by PID in close(). Returns once
        the process is inside the namespace (or has exited): before that it
        runs in ours for a moment, where a sweep after a SIGKILL, which finds
        a namespace's processes by their namespace, could not see it."""
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[role]] + list(argv), **kw)
        self.procs.append(p)
        want = os.stat(os.path.join(NETNS_DIR, self.ns[role])).st_ino
        deadline = time.time() + 30
        while p.poll() is None and time.time() < deadline:
            try:
                if os.stat("/proc/%d/ns/net" % p.pid).st_ino == want:
                    break
            except OSError:
                pass
            time.sleep(0.005)
        return p

    def prefix(self, role):
        return ["ip", "netns", "exec", self.ns[role]]

    def sysctl(self, role, key, value):
        self.run(role, "sysctl", "-q", "-w", "%s=%s" % (key, value))

    def read_sysctl(self, role, key):
        return self.run(role, "sysctl", "-n", key).stdout.strip()

    # ---- building ----
    def _add_ns(self, role):
        ns = self.ns[role]
        self.ip("netns", "add", ns)
        self.made.append(ns)
        self.ip("-n", ns, "link", "set", "lo", "up")
        # Only IPv4 in the topology: no link-local IPv6 chatter on the veths.
        self.sysctl(role, "net.ipv6.conf.all.disable_ipv6", 1)
        self.sysctl(role, "net.ipv6.conf.default.disable_ipv6", 1)

    def _veth(self, role1, if1, role2, if2):
        """A veth pair created inside role1's namespace, peer moved to role2's:
        it never exists in the namespace the test runs in."""
        self.ip("-n", self.ns[role1], "link", "add", if1, "type", "veth", "peer", "name", if2,
                "netns", self.ns[role2])

    def _addr(self, role, ifname, cidr):
        self.ip("-n", self.ns[role], "addr", "add", cidr, "dev", ifname)
        self.ip("-n", self.ns[role], "link", "set", ifname, "up")

    def _build(self):
        for role in ROLES:
            self._add_ns(role)
        pub = self.ns["pub"]
        self.ip("-n", pub, "link", "add", "br0", "type", "bridge")
        self._veth("pub", "p1", "r1", "wan")
        self._veth("pub", "p2", "r2", "wan")
        for port in ("p1", "p2"):
            self.ip("-n", pub, "link", "set", port, "master", "br0")
            self.ip("-n", pub, "link", "set", port, "up")
        self._addr("pub", "br0", RELAY_IP + "/24")
        self._veth("dev", "eth0", "r1", "lan")
        self._veth("host", "eth0", "r2", "lan")
        for lan, router, lan_ip, r_lan, r_pub in (("dev", "r1", DEV_IP, R1_LAN_IP, R1_PUB_IP),
                                                 ("host", "r2", HOST_IP, R2_LAN_IP, R2_PUB_IP)):
            self._addr(lan, "eth0", lan_ip + "/24")
            self.ip("-n", self.ns[lan], "route", "add", "default", "via", r_lan)
            self._addr(router, "lan", r_lan + "/24")
            self._addr(router, "wan", r_pub + "/24")
            self.sysctl(router, "net.ipv4.ip_forward", 1)
            if self.strict_nat:
                self.sysctl(router, "net.netfilter.nf_conntrack_tcp_loose", 0)
            self.run(router, "nft", "-f", "-", input=ROUTER_NFT)

    # ---- knobs ----
    def set_conntrack_established(self, seconds):
        """The routers' TCP established conntrack timeout; per network
        namespace, so the host's own value is untouched (checked)."""
        key = "net.netfilter.nf_conntrack_tcp_timeout_established"
        with open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established") as f:
            before = f.read().strip()
        for r in ("r1", "r2"):
            self.sysctl(r, key, seconds)
            got = self.read_sysctl(r, key)
            if got != str(seconds):
                raise RuntimeError("%s: %s is %s, wanted %s" % (r, key, got, seconds))
        with open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established") as f:
            after = f.read().strip()
        if after != before:
            # The sysctl is not per-namespace on this kernel: put it back at once.
            with open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established", "w") as f:
                f.write(before)
            raise RuntimeError("nf_conntrack_tcp_timeout_established is not per network "
                               "namespace here; refusing to change the host's value")

    def link_set(self, role, ifname, state):
        self.ip("-n", self.ns[role], "link", "set", ifname, state)

    def conntrack(self, role, *args):
        """`conntrack -L` lines of a router (needs the conntrack tool)."""
        if shutil.which("conntrack") is None:
            return None
        r = self.run(role, "conntrack", "-L", "-p", "tcp", *args, check=False)
        return [l for l in r.stdout.splitlines() if l.strip()]

    def tcp_peers(self, role, port):
        """Peer addresses (ip:port) of the established TCP connections to
        local port `port` in namespace role, from `ss`."""
        r = self.run(role, "ss", "-Htn", "state", "established", "( sport = :%d )" % port)
        peers = []
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) >= 4:
                peers.append(f[-1])
        return sorted(peers)
