#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""First contact: a relay started from the command line only (no config
file) in a state directory that does not exist yet, a link, and two agents
started with nothing but their tokens.

  - the relay creates the state directory (missing parents too), mode 0700,
    and logs it; a second start leaves the existing directory alone;
  - with --listen 127.0.0.1:0 (and [::1]:0 when the host has IPv6) the log,
    `linkctl status` and `linkctl relay info` show the bound ports, not :0;
  - `link add` against that relay writes its bound address into the tokens
    (source live_listen), and bytes pass end to end through agents that only
    got --token (echo service behind side b, a client through side a);
  - the same with --advertise 127.0.0.2:P on the command line while the relay
    also listens on 127.0.0.1: the tokens carry only the advertised address
    (live_advertise), the agents reach the relay there, bytes pass;
  - the issue's own case: --listen 0.0.0.0:P (a wildcard: no address for a
    token) with --advertise 127.0.0.2:P: the tokens carry the advertised
    address and bytes pass;
  - --relay-addr beats the running relay;
  - an empty --state-dir is a usage error naming the option.
Loopback only; every process is stopped by PID and every directory removed,
also on failure.
"""
import os
import re
import socket
import stat
import sys

import agentharness as ah
import lrharness as h

NESTED = os.path.join("new", "parents", "state")


def token_addrs(relay, tok):
    return relay.ctl_json("debug", "decode-token", tok)["addrs"]


def bytes_through(c, rig, out, name):
    """Echo service behind side b, client through side a; agents get only
    --token. Returns what came back."""
    srv = rig.server("echo")
    lport = ah.free_port()
    b = rig.agent("b-" + name, out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port,
                  relay=False)
    a = rig.agent("a-" + name, out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport,
                  relay=False)
    online = a.wait_log("online via relay") and b.wait_log("online via relay")
    if not c.check("%s: both agents online from their tokens alone" % name, online):
        rig.dump()
        return b"", a, b
    h.wait_for(lambda: "peer online" in a.log(), timeout=5)
    data = os.urandom(200000)
    got, how = ah.roundtrip(lport, data)
    c.check("%s: bytes through end to end" % name, got == data and how == "eof",
            "%d of %d bytes, %s" % (len(got), len(data), how))
    return got, a, b


def check_state_dir(c, r):
    st = os.stat(r.dir)
    c.check("state directory created with its missing parents",
            stat.S_ISDIR(st.st_mode) and os.path.isdir(os.path.join(r.top, "new", "parents")))
    c.check("state directory mode 0700", stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode))
    c.check("creation logged", "state directory %s created (mode 0700)" % r.dir in r.log(),
            r.log()[-800:])


def check_bound_ports(c, r, v6):
    log = r.log()
    bound = re.findall(r"listening on (\S+)", log)
    want = 2 if v6 else 1
    c.check("log names the bound ports", len(bound) == want and
            all(not b.endswith(":0") for b in bound) and r.addr in bound, log[-800:])
    st = r.ctl_json("status")
    c.check("status listen = bound addresses", st["listen"] == bound, st["listen"])
    human = r.ctl("status").stdout
    c.check("status human shows the bound address", "listen:        %s" % ", ".join(bound)
            in human, human)
    info = r.ctl_json("relay", "info")
    c.check("relay info live listen = bound addresses", info["live"]["listen"] == bound)
    c.check("relay info: tokens from the live listen addresses",
            info["token_addrs"] == bound and info["token_addrs_source"] == "live_listen", info)
    human = r.ctl("relay", "info").stdout
    c.check("relay info human: token addrs and source",
            "token addrs:   %s (from the running relay's listen addresses)" % ", ".join(bound)
            in human, human)
    if v6:
        c.check("IPv6 listener bound to a real port", bound[1].startswith("[::1]:")
                and bound[1] != "[::1]:0", bound)
    return bound


def test_listen_only(c):
    v6 = h.has_ipv6_loopback()
    r = h.Relay(config=False, state_subdir=NESTED)
    rig = ah.Rig(relay=r)
    try:
        args = ["--listen", "127.0.0.1:0"] + (["--listen", "[::1]:0"] if v6 else [])
        r.start(args)
        check_state_dir(c, r)
        bound = check_bound_ports(c, r, v6)
        out = r.ctl_json("link", "add", "first")
        c.check("link add: tokens carry the bound addresses",
                out["token_addrs"] == bound and out["token_addrs_source"] == "live_listen" and
                token_addrs(r, out["tokens"]["a"]) == bound, out.get("token_addrs"))
        bytes_through(c, rig, out, "listen")
        # --relay-addr beats the running relay.
        j = r.ctl_json("--relay-addr", "127.0.0.9:1", "link", "rotate", "first", "--side", "a")
        c.check("--relay-addr beats the running relay",
                token_addrs(r, j["token"]) == ["127.0.0.9:1"] and
                j["token_addrs_source"] == "relay_addr", j.get("token_addrs"))
        # A second start leaves the existing directory alone.
        rc = r.stop()
        c.check("relay stopped cleanly", rc == 0, rc)
        os.chmod(r.dir, 0o750)
        mark = len(r.log())
        r.start(args)
        c.check("existing state directory left alone",
                stat.S_IMODE(os.stat(r.dir).st_mode) == 0o750 and
                "created (mode 0700)" not in r.log()[mark:], r.log()[mark:][-600:])
    finally:
        rig.close()


def test_advertise(c):
    r = h.Relay(config=False, state_subdir=NESTED)
    rig = ah.Rig(relay=r)
    try:
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
        s.close()
        adv = "127.0.0.2:%d" % port
        r.start(["--listen", "127.0.0.1:0", "--listen", adv, "--advertise", adv])
        info = r.ctl_json("relay", "info")
        c.check("relay info: tokens from the advertised address",
                info["token_addrs"] == [adv] and info["token_addrs_source"] == "live_advertise",
                info)
        out = r.ctl_json("link", "add", "adv")
        c.check("link add: tokens carry only the advertised address",
                token_addrs(r, out["tokens"]["b"]) == [adv] and
                out["token_addrs_source"] == "live_advertise", out.get("token_addrs"))
        _, a, b = bytes_through(c, rig, out, "advertise")
        c.check("agents reached the relay at the advertised address",
                "online via relay %s" % adv in a.log() and "online via relay %s" % adv in b.log(),
                a.log()[-400:])
    finally:
        rig.close()


def test_wildcard_advertise(c):
    """The example from the issue: only a wildcard listener, so the live
    listen addresses give no token address; the command-line --advertise
    must reach the tokens."""
    r = h.Relay(config=False, state_subdir=NESTED)
    rig = ah.Rig(relay=r)
    try:
        s = socket.socket()
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
        s.close()
        adv = "127.0.0.2:%d" % port
        r.start(["--listen", "0.0.0.0:%d" % port, "--advertise", adv])
        out = r.ctl_json("link", "add", "wild")
        c.check("wildcard listen + --advertise: tokens carry the advertised address",
                token_addrs(r, out["tokens"]["a"]) == [adv] and
                out["token_addrs_source"] == "live_advertise", out.get("token_addrs"))
        _, a, b = bytes_through(c, rig, out, "wildcard")
        c.check("wildcard: agents reached the relay at the advertised address",
                "online via relay %s" % adv in a.log() and "online via relay %s" % adv in b.log(),
                a.log()[-400:])
    finally:
        rig.close()


def test_empty_state_dir(c):
    import subprocess
    p = subprocess.run([h.RELAY, "--state-dir", "", "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    c.check("linkrelay --state-dir '': usage error naming the option",
            p.returncode != 0 and "--state-dir needs a non-empty value" in p.stderr, p.stderr)


def main():
    c = h.Checks()
    test_listen_only(c)
    test_advertise(c)
    test_wildcard_advertise(c)
    test_empty_state_dir(c)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
