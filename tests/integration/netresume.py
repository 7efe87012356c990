# SPDX-License-Identifier: MIT
"""Stream resumption across network faults, in the NAT topology of netns.py
and natrig.py (not a test; used by test_resume_uplink_down.py,
test_resume_roaming.py, test_resume_expire_netns.py and
test_resume_leg_lost_netns.py). run() is their common frame: a NatRig,
the body, and the closing of what the body started, also when it fails.

Two applications talk through the link: the host application connects to
the host agent's listener (127.0.0.1:9000 in the host LAN namespace), the
device application is a listening socket on 127.0.0.1:7008 inside the device
namespace (not on the device's LAN address, which the roaming test removes:
the application's own connection is local and must not depend on the
uplink). Both ends send random data until told to stop, hash what they send
and what they receive (SHA-256), and record how their connection ended:
"eof" (a clean end), "reset" (ECONNRESET/EPIPE), "timeout" or "error:...".

Timers, and why a 10 s outage is noticed: the relay runs with
lrharness.FAST_LIMITS (keepalive 1 s, dead_after 3 s, write_stall_timeout
3 s) and the agents with keepalive 1 s, backoff 200 ms..2 s. The agents take
dead_after from the relay's WELCOME; a stream leg with data in flight and no
ACK for dead_after is lost (docs/internals/agent.md "Stream leg liveness"),
the control session without an answer to its PINGs for dead_after is dead,
and the relay's write stall resets the other leg. So each side learns of a
dead path about 3 s into the outage, well inside a 10 s outage, and the
reconnect after it comes within the 2 s backoff cap.
"""
import errno
import hashlib
import os
import socket
import threading

import lrharness as h
import natrig
import netns as n

APP_PORT = 7008
CHUNK = 65536
IO_TIMEOUT = 120.0  # one blocked send or recv; the tests' own waits are shorter
LEG_LOST = "suspended, resuming"
RESUMED = "stream resumed on a new leg"
EXPIRED = "not resumed within resume_timeout"
ROAM_IP = "198.18.0.20"  # the device's address on wlan0 after roam()


class App:
    """One application end on a connected socket: a sender thread writes
    random data until finish(), then half-closes; a receiver thread reads
    until the end. sh/sent: what it sent; rh/got: what it received;
    keep=True also keeps every byte sent, in .kept (a list of chunks)."""

    def __init__(self, sock, name, keep=False):
        self.s = sock
        self.kept = [] if keep else None
        self.name = name
        self.s.settimeout(IO_TIMEOUT)
        self.sh, self.rh = hashlib.sha256(), hashlib.sha256()
        self.sent = self.got = 0
        self.stop = False
        self.sent_done = False
        self.send_err = None
        self.end = None
        self.ended = threading.Event()
        self.ts = threading.Thread(target=self._send, daemon=True)
        self.tr = threading.Thread(target=self._recv, daemon=True)
        self.ts.start()
        self.tr.start()

    def _send(self):
        try:
            while not self.stop:
                b = os.urandom(CHUNK)
                if self.kept is not None:
                    self.kept.append(b)  # before sendall: it may send part, then fail
                self.s.sendall(b)
                self.sh.update(b)
                self.sent += len(b)
            self.s.shutdown(socket.SHUT_WR)
            self.sent_done = True
        except OSError as e:
            self.send_err = e.errno if e.errno is not None else "timeout"

    def _recv(self):
        end = None
        try:
            while True:
                b = self.s.recv(1 << 20)
                if not b:
                    end = "eof"
                    break
                self.rh.update(b)
                self.got += len(b)
        except ConnectionResetError:
            end = "reset"
        except socket.timeout:
            end = "timeout"
        except OSError as e:
            end = "error:" + errno.errorcode.get(e.errno, str(e.errno))
        # Linux reports a received RST once, to the first call that meets it;
        # when that was the sender's, recv reads a plain EOF afterwards.
        if end == "eof":
            self.ts.join(5)
            if self.send_err in (errno.ECONNRESET, errno.EPIPE):
                end = "reset"
        self.end = end
        self.ended.set()

    def finish(self):
        self.stop = True

    def close(self):
        self.stop = True
        n.reset_close(self.s)


def listen_app(rig):
    """The device application's listening socket (127.0.0.1:APP_PORT in the
    device namespace)."""
    ls = n.ns_socket(rig.ns("dev"))
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", APP_PORT))
    ls.listen(8)
    ls.settimeout(20)
    return ls


def start_rig(rig, resume_timeout):
    """Relay, link, both agents (config files with the timers above and
    resume_timeout); returns the device application's listening socket."""
    rig.start_relay()
    ls = listen_app(rig)
    rig.start_agents(keepalive="1s", dev_target="127.0.0.1:%d" % APP_PORT,
                     agent_keys=["resume_timeout = %s" % resume_timeout])
    return ls


def connect_apps(rig, ls, keep=False):
    """One stream through the link; returns (host App, device App)."""
    cs = rig.connect_host()
    ds, _ = ls.accept()
    return App(cs, "host", keep), App(ds, "device", keep)


def flowing(apps, base, more, timeout):
    """Waits until each app received `more` bytes past base[i]."""
    return h.wait_for(lambda: all(a.got >= b + more or a.end is not None
                                  for a, b in zip(apps, base)), timeout=timeout, step=0.05) \
        and all(a.end is None for a in apps)


def ended(apps):
    """True once either application's connection has ended (a failure while
    the stream should survive: stop waiting for what cannot come)."""
    return any(a.end is not None for a in apps)


def finish(apps, timeout=60):
    """Stops both senders; waits for both ends (each reads the other's
    half-close)."""
    for a in apps:
        a.finish()
    for a in apps:
        a.ended.wait(timeout)


def intact(c, label, host, dev):
    """The checks of a stream that survived: both ends clean, every byte
    once and in order (SHA-256 at both ends)."""
    for me, peer in ((host, dev), (dev, host)):
        c.check("%s: %s application: its connection stayed open and ended cleanly after the "
                "peer's half-close" % (label, me.name),
                me.end == "eof" and peer.sent_done, (me.end, peer.sent_done, peer.send_err))
        c.check("%s: %s application got every byte the %s sent, once and in order (%d bytes, "
                "SHA-256)" % (label, me.name, peer.name, peer.sent),
                me.got == peer.sent and me.rh.hexdigest() == peer.sh.hexdigest(),
                (me.got, peer.sent))


def since(agent, mark):
    """The agent's log after byte offset mark."""
    return agent.log()[mark:]


def uplink_up(rig, role, gateway):
    """Brings eth0 of role back and restores its default route (taking a
    link down deletes the routes through it; a DHCP client or network
    manager puts them back)."""
    rig.topo.link_set(role, "eth0", "up")
    rig.topo.ip("-n", rig.ns(role), "route", "replace", "default", "via", gateway)


def add_second_uplink(topo):
    """wlan0 in the device namespace, its peer p3 on the public bridge; down,
    no address yet."""
    topo.ip("-n", topo.ns["dev"], "link", "add", "wlan0", "type", "veth", "peer", "name", "p3",
            "netns", topo.ns["pub"])
    topo.ip("-n", topo.ns["pub"], "link", "set", "p3", "master", "br0")
    topo.ip("-n", topo.ns["pub"], "link", "set", "p3", "up")


def roam(topo):
    """The device roams: its LAN address goes, ROAM_IP on wlan0 comes,
    default route on wlan0 (test_resume_roaming.py)."""
    dev = topo.ns["dev"]
    topo.ip("-n", dev, "addr", "del", n.DEV_IP + "/24", "dev", "eth0")
    topo.ip("-n", dev, "addr", "add", ROAM_IP + "/24", "dev", "wlan0")
    topo.ip("-n", dev, "link", "set", "wlan0", "up")
    topo.ip("-n", dev, "route", "replace", "default", "dev", "wlan0")


class Trial:
    """What a test body started and run() closes: the applications (apps,
    filled in place) and the device application's listening socket (ls)."""

    def __init__(self):
        self.apps = []
        self.ls = None

    def start(self, rig, c, resume_timeout, keep=False, second_uplink=False):
        """Relay, agents (start_rig), optionally the device's second uplink,
        one stream, and the check that it carries 1 MiB each way before the
        fault; returns (host App, device App)."""
        self.ls = start_rig(rig, resume_timeout)
        if second_uplink:
            add_second_uplink(rig.topo)
        host, dev = self.apps[:] = connect_apps(rig, self.ls, keep=keep)
        c.check("transfer flowing both ways before the fault (1 MiB each way)",
                flowing(self.apps, (0, 0), 1 << 20, timeout=30), (host.got, dev.got))
        return host, dev


def run(body, **rig_args):
    """The frame of every test_resume_* test: SIGTERM handling, the check
    that the programs are built, a NatRig (rig_args go to it), then
    body(c, rig, trial); the rig is dumped when the body raises or a check
    failed, and the applications and the listening socket are closed in
    every case. Returns the exit code (h.Checks.done)."""
    n.install_sigterm()
    c = h.Checks()
    miss = natrig.missing()
    if miss:
        c.check("linkrelay, linkagent and linkctl are built", False, "missing: " + ", ".join(miss))
        return c.done()
    with natrig.NatRig(**rig_args) as rig:
        t = Trial()
        try:
            body(c, rig, t)
        except Exception:
            rig.dump()
            raise
        finally:
            for a in t.apps:
                a.close()
            if t.ls is not None:
                t.ls.close()
        if c.failed:
            rig.dump()
    return c.done()
