#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Where linkrelay looks for its config file and puts its paths by default,
and that docs/linkrelay.conf.md says the same (linkrelay --check):
  - --state-dir D, no file: key_file, database and admin_socket in D;
  - LINKRELAY_STATE_DIR=D does the same; --state-dir wins over it;
  - D/linkrelay.conf is read when present (its log_level shows);
  - --config FILE whose state_dir is S: every path default follows S;
    --state-dir D beside it wins, and the defaults follow D;
  - an admin_socket the file sets is kept;
  - /etc/linkrelay/linkrelay.conf (the packages' conffile) is read, by
    linkrelay and by linkctl, when no state directory is given; with
    --state-dir or LINKRELAY_STATE_DIR it is not (root only: the file is
    made in a private mount namespace, on an overlay over /etc);
  - the docs' [relay] table gives STATE_DIR/... for the three paths and
    the text names both default files and when each applies.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import lrharness as h

SRC = os.environ.get("LR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def check_out(args, env_dir=None):
    env = dict(os.environ)
    env.pop("LINKRELAY_STATE_DIR", None)
    if env_dir is not None:
        env["LINKRELAY_STATE_DIR"] = env_dir
    r = subprocess.run([h.RELAY] + args + ["--check"], capture_output=True, text=True, env=env,
                       timeout=10)
    kv = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(\w+) = (.*)$", line)
        if m and m.group(1) not in kv:
            kv[m.group(1)] = m.group(2)
    return r.returncode, kv, r.stdout + r.stderr


SYSTEM_CONFIG = "/etc/linkrelay/linkrelay.conf"


def with_system_config(tmp, text, argv, env_dir=None):
    """Runs argv in a private mount namespace whose /etc is an overlay (its
    upper layer on a tmpfs under tmp) holding SYSTEM_CONFIG = text: the
    host's /etc is never written, and the namespace's mounts end with it."""
    ov = os.path.join(tmp, "ov")
    os.makedirs(ov, exist_ok=True)
    script = ('set -e; mount -t tmpfs lrtest "$1"; mkdir "$1/u" "$1/w"; '
              'mount -t overlay lrtest -o lowerdir=/etc,upperdir="$1/u",workdir="$1/w" /etc; '
              'mkdir -p /etc/linkrelay; printf "%s" "$2" > ' + SYSTEM_CONFIG + '; shift 2; exec "$@"')
    env = dict(os.environ)
    env.pop("LINKRELAY_STATE_DIR", None)
    if env_dir is not None:
        env["LINKRELAY_STATE_DIR"] = env_dir
    return subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", ov, text] + argv,
                          capture_output=True, text=True, env=env, timeout=10)


def first_line(r):
    return (r.stdout.splitlines() or [""])[0] + " " + r.stderr[-300:]


def kv_of(text):
    kv = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+) = (.*)$", line)
        if m and m.group(1) not in kv:
            kv[m.group(1)] = m.group(2)
    return kv


def check_system_config(c, tmp, d, s):
    """The packages' /etc/linkrelay/linkrelay.conf, read without --config."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("skip /etc/linkrelay/linkrelay.conf checks: need root and unshare")
        return
    text = "[relay]\nstate_dir = %s\nlog_level = debug\nadvertise = 198.18.0.9:7700\n" % s
    r = with_system_config(tmp, text, [h.RELAY, "--check"])
    kv = kv_of(r.stdout)
    c.check("linkrelay without flags reads " + SYSTEM_CONFIG,
            r.returncode == 0 and ("from " + SYSTEM_CONFIG) in r.stdout
            and kv.get("log_level") == "debug" and paths_in(kv, s), first_line(r))
    r = with_system_config(tmp, text, [h.RELAY, "--state-dir", d, "--check"])
    kv = kv_of(r.stdout)
    c.check("linkrelay --state-dir D reads no /etc file",
            r.returncode == 0 and ("from %s/linkrelay.conf" % d) in r.stdout
            and paths_in(kv, d), first_line(r))
    r = with_system_config(tmp, text, [h.RELAY, "--check"], env_dir=d)
    c.check("linkrelay with LINKRELAY_STATE_DIR reads no /etc file",
            r.returncode == 0 and ("from %s/linkrelay.conf" % d) in r.stdout, first_line(r))
    r = with_system_config(tmp, text, [h.LINKCTL, "relay", "info", "--json"])
    try:
        info = json.loads(r.stdout)
    except ValueError:
        info = {}
    c.check("linkctl without flags reads %s (its state_dir, its advertise)" % SYSTEM_CONFIG,
            r.returncode == 0 and info.get("config") == SYSTEM_CONFIG
            and info.get("state_dir") == s and info.get("token_addrs") == ["198.18.0.9:7700"]
            and info.get("token_addrs_source") == "config_advertise",
            "%s %s" % (info.get("config"), r.stderr[-300:]))
    r = with_system_config(tmp, text, [h.LINKCTL, "--state-dir", d, "relay", "info", "--json"])
    try:
        info = json.loads(r.stdout)
    except ValueError:
        info = {}
    c.check("linkctl --state-dir D reads D/linkrelay.conf, not /etc",
            r.returncode == 0 and info.get("config") == d + "/linkrelay.conf"
            and info.get("state_dir") == d, "%s %s" % (info.get("config"), r.stderr[-300:]))


def paths_in(kv, d):
    return (kv.get("state_dir") == d and kv.get("key_file") == d + "/relay.key"
            and kv.get("database") == d + "/linkrelay.db"
            and kv.get("admin_socket") == d + "/admin.sock")


def main():
    c = h.Checks()
    tmp = tempfile.mkdtemp(prefix="lrcfg.")
    try:
        d = os.path.join(tmp, "d")
        e = os.path.join(tmp, "e")
        s = os.path.join(tmp, "s")
        for x in (d, e):
            os.mkdir(x)
        rc, kv, out = check_out(["--state-dir", d])
        c.check("--state-dir D: paths in D", rc == 0 and paths_in(kv, d), kv.get("admin_socket") or out[-400:])
        rc, kv, out = check_out([], env_dir=e)
        c.check("LINKRELAY_STATE_DIR=E: paths in E", rc == 0 and paths_in(kv, e), kv.get("admin_socket") or out[-400:])
        rc, kv, out = check_out(["--state-dir", d], env_dir=e)
        c.check("--state-dir wins over LINKRELAY_STATE_DIR", rc == 0 and paths_in(kv, d))

        with open(os.path.join(d, "linkrelay.conf"), "w") as f:
            f.write("[relay]\nlog_level = debug\n")
        rc, kv, out = check_out(["--state-dir", d])
        c.check("STATE_DIR/linkrelay.conf is read by default",
                rc == 0 and kv.get("log_level") == "debug" and paths_in(kv, d), kv.get("admin_socket") or out[-400:])

        conf = os.path.join(tmp, "other.conf")
        with open(conf, "w") as f:
            f.write("[relay]\nstate_dir = %s\n" % s)
        rc, kv, out = check_out(["--config", conf])
        c.check("--config with state_dir S: paths in S", rc == 0 and paths_in(kv, s), kv.get("admin_socket") or out[-400:])
        rc, kv, out = check_out(["--config", conf, "--state-dir", d])
        c.check("--state-dir beside the file's state_dir wins; paths follow",
                rc == 0 and paths_in(kv, d), kv.get("admin_socket") or out[-400:])
        with open(conf, "w") as f:
            f.write("[relay]\nstate_dir = %s\nadmin_socket = %s/ctl.sock\n" % (s, tmp))
        rc, kv, out = check_out(["--config", conf, "--state-dir", d])
        c.check("an admin_socket set in the file is kept",
                rc == 0 and kv.get("admin_socket") == tmp + "/ctl.sock", kv.get("admin_socket") or out[-400:])
        rc, kv, out = check_out(["--config", os.path.join(tmp, "missing.conf")])
        c.check("--config FILE that does not exist is an error", rc != 0, out[-200:])
        check_system_config(c, tmp, d, s)

        with open(os.path.join(SRC, "docs", "linkrelay.conf.md")) as f:
            doc = f.read()
        rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)`", doc, re.M))
        c.check("docs: state_dir default /var/lib/linkrelay",
                rows.get("state_dir") == "/var/lib/linkrelay", rows.get("state_dir"))
        for key, want in (("key_file", "STATE_DIR/relay.key"),
                          ("database", "STATE_DIR/linkrelay.db"),
                          ("admin_socket", "STATE_DIR/admin.sock")):
            c.check("docs: %s default %s" % (key, want), rows.get(key) == want, rows.get(key))
        intro = doc.split("## Syntax")[0]
        c.check("docs: the default files are /etc/linkrelay/linkrelay.conf without a state "
                "directory, else STATE_DIR/linkrelay.conf",
                "`STATE_DIR/linkrelay.conf`" in intro and "state directory, `%s` if that exists"
                % SYSTEM_CONFIG in " ".join(intro.split()))
        helps = subprocess.run([h.RELAY, "--help"], capture_output=True, text=True).stdout
        c.check("linkrelay --help agrees (%s, STATE_DIR/linkrelay.conf, STATE_DIR/admin.sock)"
                % SYSTEM_CONFIG, SYSTEM_CONFIG in helps and "STATE_DIR/linkrelay.conf" in helps
                and "STATE_DIR/admin.sock" in helps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
