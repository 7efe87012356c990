# SPDX-License-Identifier: MIT
"""Real linkrelay/linkagent/linkctl in the NAT topology of netns.py (not a test).

NatRig = a Topology + a relay in the public namespace on 198.18.0.1:7700 + one
link made with linkctl + an echo service on the device's LAN address + the
device-side agent (side b, --connect) in the device LAN + the host-side agent
(side a, --listen 127.0.0.1:9000 inside the host LAN namespace). Everything it
starts is stopped by PID in close() (and the namespaces deleted), also when a
check raises.

When the build has no linkrelay/linkagent yet, missing() names what is missing
and the solution parts of the tests fail with that message (they never skip).
"""
import os
import shutil
import signal
import tempfile

import lrharness as h
import netns as n

BUILD = h.BUILD
RELAY = h.RELAY
LINKCTL = h.LINKCTL
AGENT = os.path.join(BUILD, "agent", "linkagent")
RELAY_PORT = 7700
ECHO_PORT = 7007
HOST_LISTEN = 9000
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def missing():
    """Which of the three programs the build lacks (list of paths)."""
    return [p for p in (RELAY, AGENT, LINKCTL) if not os.access(p, os.X_OK)]


class NsRelay(h.Relay):
    """lrharness.Relay, but run inside the public namespace on a fixed
    address (so a restart keeps it and the tokens carry it)."""

    def __init__(self, topo, limits=None, fast=True, log_level="info"):
        super().__init__(limits=limits, fast=fast, log_level=log_level)
        self.topo = topo
        conf = os.path.join(self.dir, "linkrelay.conf")
        with open(conf) as f:
            text = f.read()
        text = text.replace("listen = 127.0.0.1:0", "listen = %s:%d" % (n.RELAY_IP, RELAY_PORT))
        with open(conf, "w") as f:
            f.write(text)

    def prefix(self):
        return self.topo.prefix("pub")

    def kill9(self):
        """kill -9 of the relay process (by PID)."""
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))


class NsAgent(h.LogProc):
    """One linkagent inside a namespace; its output goes to a log file."""

    def __init__(self, topo, role, name, args, tmpdir):
        super().__init__(topo.prefix(role) + [AGENT] + list(args),
                         os.path.join(tmpdir, "agent-%s.log" % name))
        self.topo, self.role, self.name = topo, role, name

    def kill9(self):
        return self.stop(signal.SIGKILL)


class NatRig:
    """See the module comment. Use as a context manager."""

    def __init__(self, relay_limits=None, relay_fast=True):
        self.topo = n.Topology()
        self.relay_limits = relay_limits
        self.relay_fast = relay_fast
        self.tmp = None
        self.relay = None
        self.agents = []
        self.echo = None
        self.link = None

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="lrnat.")
        self.topo.__enter__()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def ns(self, role):
        return self.topo.ns[role]

    def start_relay(self):
        self.relay = NsRelay(self.topo, limits=self.relay_limits, fast=self.relay_fast)
        self.relay.start()
        return self.relay

    def start_echo(self):
        self.echo = n.EchoServer(self.ns("dev"), n.DEV_IP, ECHO_PORT)
        return self.echo

    def agent_conf(self, name, token, keepalive=None, connect=None, listen=None, agent_keys=()):
        """A linkagent.conf holding one link from a token (mode 0600).
        agent_keys: more "key = value" lines for its [agent] section."""
        path = os.path.join(self.tmp, "agent-%s.conf" % name)
        lines = []
        if keepalive:
            lines += ["[agent]", "keepalive = %s" % keepalive, "backoff_min = 200ms",
                      "backoff_max = 2s"] + list(agent_keys) + [""]
        lines += ["[link %s]" % name, "token = %s" % token]
        if connect:
            lines.append("connect = %s" % connect)
        if listen:
            lines.append("listen = %s" % listen)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start_agents(self, keepalive=None, name="nat", extra_args=(), dev_target=None,
                     agent_keys=()):
        """Makes the link with linkctl and starts both agents; waits until
        both are online with the peer online. keepalive=None uses the
        command line (token) form, else a config file with that keepalive
        (and agent_keys, more [agent] lines). extra_args go to both agents'
        command lines. dev_target: the device agent's connect target inside
        the device namespace (default the echo service)."""
        self.link = self.relay.ctl_json("link", "add", name)
        tok = self.link["tokens"]
        dev_target = dev_target or "%s:%d" % (n.DEV_IP, ECHO_PORT)
        host_listen = "127.0.0.1:%d" % HOST_LISTEN
        if keepalive is None:
            dev_args = ["--token", tok["b"], "--connect", dev_target]
            host_args = ["--token", tok["a"], "--listen", host_listen]
        else:
            dev_args = ["--config", self.agent_conf("dev", tok["b"], keepalive,
                                                    connect=dev_target, agent_keys=agent_keys)]
            host_args = ["--config", self.agent_conf("host", tok["a"], keepalive,
                                                     listen=host_listen, agent_keys=agent_keys)]
        dev_args += list(extra_args)
        host_args += list(extra_args)
        level = os.environ.get("LR_AGENT_LOG")  # e.g. debug, when chasing a failure
        if level:
            dev_args += ["--log-level", level]
            host_args += ["--log-level", level]
        self.dev_agent = NsAgent(self.topo, "dev", "dev", dev_args, self.tmp).start()
        self.host_agent = NsAgent(self.topo, "host", "host", host_args, self.tmp).start()
        self.agents += [self.dev_agent, self.host_agent]
        if not self.both_online():
            raise RuntimeError("agents did not come online:\n" + self.dump_text())
        return self.link

    def both_online(self, timeout=15):
        def ok():
            live = self.live()
            return bool(live and live["a"]["online"] and live["b"]["online"])
        return h.wait_for(ok, timeout=timeout, step=0.1)

    def live(self):
        """The relay's live entry for the link (linkctl link show --json)."""
        try:
            return self.relay.ctl_json("link", "show", self.link["name"])["live"]
        except Exception:
            return None

    def connect_host(self, timeout=10.0):
        """A TCP connection from the host LAN to the host agent's listener."""
        return n.connect(self.ns("host"), "127.0.0.1", HOST_LISTEN, timeout)

    def echo_ok(self, size=65536, timeout=10.0):
        """One round trip through the link; True when every byte came back
        and the stream ended cleanly."""
        data = os.urandom(size)
        try:
            got, end = n.transfer(self.connect_host(timeout), data, timeout)
        except OSError:
            return False
        return got == data and end == "eof"

    def dump_text(self):
        out = []
        for a in self.agents:
            out.append("---- agent %s log (tail)\n%s" % (a.name, a.log()[-3000:]))
        if self.relay is not None:
            out.append("---- relay log (tail)\n%s" % self.relay.log()[-3000:])
        return "\n".join(out)

    def dump(self):
        print(self.dump_text(), flush=True)

    def close(self):
        errors = []
        for a in self.agents:
            try:
                # SIGTERM, so a sanitizer build runs its leak check at exit.
                rc = a.stop()
                bad = [m for m in SANITIZER_MARKS if m in a.log()]
                if bad or rc not in (None, 0):
                    print(a.log()[-6000:])
                    errors.append(AssertionError("agent %s did not stop cleanly (exit %s, %s)"
                                                 % (a.name, rc, bad)))
            except Exception as e:
                errors.append(e)
        if self.echo is not None:
            self.echo.close()
        if self.relay is not None:
            try:
                self.relay.close()
            except Exception as e:
                errors.append(e)
        self.topo.close()
        if self.tmp:
            if os.environ.get("LR_KEEP_TMP"):
                print("kept", self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise errors[0]
