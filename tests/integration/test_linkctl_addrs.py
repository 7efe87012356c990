#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Which relay addresses linkctl writes into tokens (docs/linkctl.md "Relay
addresses in tokens"), with the relay not running or a stand-in admin socket
(test_first_contact.py has the real relay and agents):

  - relay stopped: the config's advertise, else its specific listen
    addresses (wildcards and port 0 skipped);
  - --relay-addr overrides the config and a running relay, repeatable, in
    order; bad values are usage errors (exit 2) that write nothing;
  - a running relay that advertises nothing and listens only on wildcards
    makes linkctl fail rather than fall back to the config;
  - relay stopped and a config with only wildcard listen addresses: link add
    and link rotate exit 1 with a message naming --relay-addr, advertise and
    listen; no link is created, no key changes, no event is written, and on
    a fresh state directory nothing at all is created; relay info says so.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import lrharness as h

WILDCARD_ONLY = "[relay]\nlisten = 0.0.0.0:7700\nlisten = [::]:7700\nlisten = 127.0.0.1:0\n"


def ctl(state, *args):
    env = dict(os.environ)
    env.pop("LINKRELAY_STATE_DIR", None)
    return subprocess.run([h.LINKCTL, "--state-dir", state] + list(args), capture_output=True,
                          text=True, env=env, timeout=30)


def ctl_json(state, *args):
    p = ctl(state, "--json", *args)
    return json.loads(p.stdout) if p.returncode == 0 else {"exit": p.returncode, "err": p.stderr}


def write_config(state, text):
    os.makedirs(state, mode=0o700, exist_ok=True)
    with open(os.path.join(state, "linkrelay.conf"), "w") as f:
        f.write(text)


def addrs_of(state, tok):
    return ctl_json(state, "debug", "decode-token", tok)["addrs"]


def registry(state):
    """What a failed command must not change: links with keys, and events."""
    links = ctl_json(state, "link", "list")["links"]
    keys = {l["name"]: l["keys"] for l in links}
    return keys, ctl_json(state, "events", "-n", "0")["events"]


def brief(j):
    """The part of a JSON reply worth printing in a check's detail."""
    return {k: j.get(k) for k in ("token_addrs", "token_addrs_source", "token", "key", "err")}


def names_three(err):
    return "--relay-addr" in err and "advertise" in err and "listen" in err


def test_config_sources(c, tmp):
    st = os.path.join(tmp, "cfg")
    write_config(st, "[relay]\nlisten = 0.0.0.0:7701\nlisten = 127.0.0.1:7702\n"
                     "listen = [::1]:7703\n")
    j = ctl_json(st, "link", "add", "l1")
    c.check("relay stopped: the config's specific listen addresses",
            j.get("token_addrs") == ["127.0.0.1:7702", "[::1]:7703"] and
            j.get("token_addrs_source") == "config_listen" and
            addrs_of(st, j["tokens"]["a"]) == ["127.0.0.1:7702", "[::1]:7703"], brief(j))
    write_config(st, "[relay]\nlisten = 127.0.0.1:7702\nadvertise = relay.example.net:443\n")
    j = ctl_json(st, "link", "add", "l2")
    c.check("relay stopped: the config's advertise beats listen",
            addrs_of(st, j["tokens"]["b"]) == ["relay.example.net:443"] and
            j.get("token_addrs_source") == "config_advertise", brief(j))
    j = ctl_json(st, "--relay-addr", "192.0.2.1:1", "--relay-addr=[2001:db8::7]:2",
                 "link", "add", "l3")
    c.check("--relay-addr beats the config, in order",
            addrs_of(st, j["tokens"]["a"]) == ["192.0.2.1:1", "[2001:db8::7]:2"] and
            j.get("token_addrs_source") == "relay_addr", brief(j))
    j = ctl_json(st, "--relay-addr", "192.0.2.1:1", "link", "add", "l5",
                 "--relay-addr", "192.0.2.2:2")
    c.check("--relay-addr after the command too, in the order given",
            addrs_of(st, j["tokens"]["b"]) == ["192.0.2.1:1", "192.0.2.2:2"], brief(j))
    p = ctl(st, "--relay-addr", "192.0.2.1:1", "link", "add", "l4")
    c.check("human link add names the source",
            "token addrs:   192.0.2.1:1 (from --relay-addr)\n" in p.stdout, p.stdout[:300])


def test_bad_relay_addr(c, tmp):
    st = os.path.join(tmp, "bad")
    cases = [("nohost", "missing ':port'"), ("1.2.3.4:0", "port 0"),
             ("1.2.3.4:99999", "bad port"), ("[::1]", "missing ':port'"),
             ("0.0.0.0:7700", "wildcard"), ("[::]:7700", "wildcard"),
             (".".join(["a" * 62] * 4) + ":65535", "longer than a token takes"), ("", "empty")]
    for val, why in cases:
        p = ctl(st, "--relay-addr", val, "link", "add", "x")
        c.check("--relay-addr %r: usage error" % val[:20],
                p.returncode == 2 and p.stderr.startswith("linkctl: --relay-addr '%s': " % val)
                and why in p.stderr, p.stderr)
    p = ctl(st, "link", "add", "x", "--relay-addr")
    c.check("--relay-addr after the command without a value",
            p.returncode == 2 and "--relay-addr needs a value" in p.stderr, p.stderr)
    p = ctl(st, "link", "add", "x", "--relay-addr", "0.0.0.0:7700")
    c.check("a wildcard --relay-addr after the command: usage error, nothing written",
            p.returncode == 2 and "wildcard" in p.stderr and not os.path.exists(st), p.stderr)
    p = ctl(st, "--relay-addr")
    c.check("--relay-addr without a value", p.returncode == 2 and "needs a value" in p.stderr,
            p.stderr)
    many = []
    for i in range(17):
        many += ["--relay-addr", "192.0.2.%d:1" % (i + 1)]
    p = ctl(st, *many, "link", "add", "x")
    c.check("17 --relay-addr: too many", p.returncode == 2 and "at most 16" in p.stderr, p.stderr)
    c.check("bad --relay-addr wrote nothing", not os.path.exists(st))


def test_fail_fresh(c, tmp):
    st = os.path.join(tmp, "fresh")
    p = ctl(st, "link", "add", "x")
    c.check("no config, relay stopped: exit 1 naming the three options",
            p.returncode == 1 and names_three(p.stderr) and p.stderr.count("\n") == 1, p.stderr)
    c.check("failed add on a fresh state dir created nothing", not os.path.exists(st))


def test_fail_wildcard_only(c, tmp):
    st = os.path.join(tmp, "wild")
    write_config(st, WILDCARD_ONLY)
    j = ctl_json(st, "--relay-addr", "192.0.2.1:7700", "link", "add", "keep")
    c.check("a link made with --relay-addr", "id" in j, brief(j))
    before = registry(st)
    files = sorted(os.listdir(st))
    p = ctl(st, "link", "add", "new")
    c.check("wildcard-only config: link add exits 1 naming the three options",
            p.returncode == 1 and names_three(p.stderr) and "not running" in p.stderr, p.stderr)
    c.check("wildcard-only config: add printed no token", "lrtok1" not in p.stdout, p.stdout)
    p = ctl(st, "link", "rotate", "keep", "--side", "a")
    c.check("wildcard-only config: rotate exits 1 naming the three options",
            p.returncode == 1 and names_three(p.stderr) and "lrtok1" not in p.stdout, p.stderr)
    after = registry(st)
    c.check("failed add: no link created", "new" not in after[0], list(after[0]))
    c.check("failed rotate: keys unchanged", after[0] == before[0])
    c.check("failed add and rotate: no event written", after[1] == before[1])
    c.check("no file created", sorted(os.listdir(st)) == files, os.listdir(st))
    # Rotating to a key the caller brings prints no token: no address needed.
    other = ctl_json(st, "--relay-addr", "192.0.2.1:7700", "link", "add", "other")["keys"]["a"]
    j = ctl_json(st, "link", "rotate", "keep", "--side", "b", "--key", other)
    c.check("rotate --key needs no relay address", j.get("token") is None and
            j.get("key") == other, brief(j))
    info = ctl_json(st, "relay", "info")
    c.check("relay info: no token addresses, source null",
            info["token_addrs"] == [] and info["token_addrs_source"] is None, brief(info))
    p = ctl(st, "relay", "info")
    c.check("relay info human: what to set", "token addrs:   none: set one of: --relay-addr"
            in p.stdout, p.stdout)


def test_live(c, tmp):
    st = os.path.join(tmp, "live")
    write_config(st, "[relay]\nadvertise = config.example.net:7700\n")
    sock = os.path.join(st, "admin.sock")
    status = {"version": "0.1.0", "listen": ["0.0.0.0:7700", "[::]:7700"], "advertise": []}
    fake = h.FakeAdmin(sock, lambda req: status if req == "status" else {"ok": True})
    try:
        p = ctl(st, "link", "add", "x")
        c.check("running relay with only wildcards: exit 1, no fallback to the config",
                p.returncode == 1 and names_three(p.stderr) and "running relay" in p.stderr,
                p.stderr)
        status["listen"] = ["0.0.0.0:7700", "127.0.0.1:7709"]
        j = ctl_json(st, "link", "add", "x")
        c.check("running relay: its specific listen address, not the config's advertise",
                addrs_of(st, j["tokens"]["a"]) == ["127.0.0.1:7709"] and
                j["token_addrs_source"] == "live_listen", brief(j))
        status["advertise"] = ["live.example.net:7700"]
        j = ctl_json(st, "link", "add", "y")
        c.check("running relay: its advertise first",
                addrs_of(st, j["tokens"]["a"]) == ["live.example.net:7700"] and
                j["token_addrs_source"] == "live_advertise", brief(j))
        j = ctl_json(st, "--relay-addr", "192.0.2.5:5", "link", "add", "z")
        c.check("--relay-addr beats a running relay",
                addrs_of(st, j["tokens"]["a"]) == ["192.0.2.5:5"], brief(j))
    finally:
        fake.close()


def main():
    c = h.Checks()
    tmp = tempfile.mkdtemp(prefix="lrctladdrs.")
    try:
        test_config_sources(c, tmp)
        test_bad_relay_addr(c, tmp)
        test_fail_fresh(c, tmp)
        test_fail_wildcard_only(c, tmp)
        test_live(c, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
