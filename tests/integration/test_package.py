#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Debian packages (docs/design.md D19), installed into a fresh Debian
bookworm root and used from there:

  build      scripts/package.sh builds linkrelay and linkagent (or
             LR_DEB_DIR names a directory holding them already);
  lintian    reports no error (E:) on either;
  bootstrap  mmdebstrap makes a bookworm root (variant apt) from the Debian
             archive entries of this machine's apt sources;
  install    `apt-get install ./linkrelay_….deb ./linkagent_….deb` in it,
             which pulls their dependencies from the archive;
  run        in the root, in a network namespace of its own: the relay and
             two agents run as the units run them (their ExecStart=, as the
             sysusers users), linkctl reads /etc/linkrelay/linkrelay.conf
             without --config, creates a link, and bytes go through it;
  remove     `apt-get remove` leaves only the conffile, `apt-get purge`
             leaves nothing: no dpkg entry, no /etc/linkrelay, no state, no
             enablement symlink.

Before that, without root: debian/control's Build-Depends names every
library of scripts/deps.sh's build list, and debian/changelog's version is
CMakeLists.txt's.

Needs root, mmdebstrap, lintian, debhelper (scripts/deps.sh test) and the
Debian archive; exit 77 without root or in a sanitizer build (the packages
are built by dpkg-buildpackage, not from LR_BUILD_DIR). Every mount is made
in a mount namespace of this test's, every process in a PID namespace of its
own, so both end with the namespace also when the test is killed; the root
directory is removed in finally. Each phase prints its time.
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("LR_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("LR_BUILD_DIR", os.path.join(SRC, "build"))
sys.path.insert(0, HERE)
import lrharness as h  # noqa: E402

SUITE = "bookworm"
CHROOT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
RELAY_PORT = 7700
LISTEN_PORT = 7801
PAYLOAD = 256 * 1024
# A PID namespace that ends, every process in it killed, when unshare does:
# a phase killed at its deadline leaves no build or lintian process behind.
PID_NS = ["unshare", "--pid", "--fork", "--kill-child"]


def check(c, name, ok, detail=""):
    """c.check with the detail (a log's tail, a command's output) shown only
    when the check fails."""
    return c.check(name, ok, "" if ok else detail)


class Phases:
    """Prints each phase's wall time as it ends."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.last = self.t0

    def done(self, name):
        now = time.monotonic()
        print("phase %-9s %6.1f s (total %6.1f s)" % (name, now - self.last, now - self.t0),
              flush=True)
        self.last = now


def build_depends_cover_deps(c):
    """debian/control names every -dev package, cmake and pkg-config of
    scripts/deps.sh's build list (a library added there and not here would
    build on this machine but not in a clean Debian build)."""
    with open(os.path.join(SRC, "scripts", "deps.sh")) as f:
        m = re.search(r"^build_pkgs=\(([^)]*)\)", f.read(), re.M)
    with open(os.path.join(SRC, "debian", "control")) as f:
        control = f.read()
    bd = re.search(r"^Build-Depends:(.*?)^\S", control, re.M | re.S)
    names = set(re.findall(r"([a-z0-9][a-z0-9.+-]+)", re.sub(r"\([^)]*\)", "", bd.group(1)))) \
        if bd else set()
    want = [p for p in m.group(1).split() if p.endswith("-dev") or p in ("cmake", "pkg-config")] \
        if m else []
    missing = [p for p in want if p not in names]
    check(c, "debian/control Build-Depends covers scripts/deps.sh build (%d packages)" % len(want),
            m is not None and bd is not None and want and not missing, "missing: %s" % missing)


def versions_agree(c):
    """debian/changelog's version is the one the programs report."""
    with open(os.path.join(SRC, "CMakeLists.txt")) as f:
        m = re.search(r"^project\(linkrelay VERSION ([0-9.]+)", f.read(), re.M)
    with open(os.path.join(SRC, "debian", "changelog")) as f:
        d = re.match(r"^linkrelay \(([^)]+)\)", f.readline())
    check(c, "debian/changelog's version is CMakeLists.txt's",
          m is not None and d is not None and d.group(1) == m.group(1),
          "%s vs %s" % (d and d.group(1), m and m.group(1)))


def archive_sources():
    """The Debian archive entries of this machine's apt sources, as one-line
    sources for mmdebstrap (other repositories are not Debian's archive)."""
    lines = []
    d = "/etc/apt/sources.list.d"
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if not name.endswith(".sources"):
            continue
        with open(os.path.join(d, name)) as f:
            text = f.read()
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if m:
                    fields[m.group(1).lower()] = m.group(2).split()
            if "deb" not in fields.get("types", []) or fields.get("enabled", ["yes"]) == ["no"]:
                continue
            for uri in fields.get("uris", []):
                if not re.match(r"^https?://[^/]*debian\.org/", uri):
                    continue
                for suite in fields.get("suites", []):
                    if suite == SUITE or suite.startswith(SUITE + "-"):
                        lines.append("deb %s %s %s" % (uri, suite,
                                                       " ".join(fields.get("components", []))))
    return lines


class Child:
    """A process of this test, killed by PID (with its namespace) in stop()."""

    def __init__(self, argv, log, env=None):
        self.log = log
        self.f = open(log, "w")
        self.p = subprocess.Popen(argv, stdout=self.f, stderr=subprocess.STDOUT, env=env)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.f.close()

    def tail(self, n=3000):
        with open(self.log, errors="replace") as f:
            return f.read()[-n:]


def run_phase(c, name, argv, log, timeout, env=None):
    """Runs argv to its end or the deadline; the check fails with the log's
    tail. unshare's --kill-child takes its namespace down with it."""
    ch = Child(argv, log, env=env)
    try:
        rc = ch.wait(timeout)
        ok = check(c, "%s (exit %s%s)" % (name, rc, ", deadline %d s" % timeout if rc is None
                                         else ""), rc == 0, "" if rc == 0 else "\n" + ch.tail())
    finally:
        ch.stop()
    return ok


def mounts_under(path):
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return found


# ---- inside the namespaces (python3 test_package.py --inner STEP ROOT DEBS)

def chroot_argv(root, user, argv):
    """argv in the root; as user (its own group, no others) via the root's
    setpriv, like the units' User= and Group=."""
    pre = ["chroot", root]
    if user is not None:
        pre += ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", "--"]
    return pre + argv


def in_root(root, argv, user=None, timeout=120):
    return subprocess.run(chroot_argv(root, user, argv), capture_output=True, text=True,
                          env=CHROOT_ENV, timeout=timeout)


def exec_start(root, unit, instance=None):
    with open(os.path.join(root, "lib/systemd/system", unit)) as f:
        m = re.search(r"^ExecStart=(.*)$", f.read(), re.M)
    line = m.group(1) if m else ""
    if instance is not None:
        line = line.replace("%i", instance)
    return shlex.split(line)


def passwd_entry(root, name):
    with open(os.path.join(root, "etc/passwd")) as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields[0] == name:
                return fields
    return None


def group_id(root, name):
    with open(os.path.join(root, "etc/group")) as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == name:
                return int(fields[2])
    return None


def echo_server():
    """An echo server on loopback in a thread: one connection at a time,
    echoes to EOF, then shuts its write side. Returns (socket, port)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(30)
                try:
                    while True:
                        data = conn.recv(65536)
                        if not data:
                            break
                        conn.sendall(data)
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def through_link(port, data, timeout=20.0):
    """Sends data to the a side's listener and returns what comes back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = bytearray()
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return bytes(got)


def status(root, pkg):
    r = in_root(root, ["dpkg-query", "-W", "-f=${Status}", pkg])
    return r.stdout.strip() if r.returncode == 0 else "(none)"


def mount_api(root):
    """/proc and a private /dev/pts in the root, in this mount namespace: they
    end with it."""
    subprocess.run(["mount", "-t", "proc", "proc", os.path.join(root, "proc")], check=True)
    subprocess.run(["mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts",
                    os.path.join(root, "dev", "pts")], check=True)


def inner_install(root, debs):
    mount_api(root)
    names = ["./" + os.path.basename(d) for d in debs]
    r = subprocess.run(chroot_argv(root, None, [
        "sh", "-c", 'cd /tmp/debs && exec apt-get install -y --no-install-recommends "$@"', "sh"]
        + names), env=CHROOT_ENV, timeout=140)
    return r.returncode


def check_installed(c, root):
    for f in ("usr/bin/linkrelay", "usr/bin/linkctl", "usr/bin/linkagent",
              "lib/systemd/system/linkrelay.service", "lib/systemd/system/linkrelay.socket",
              "lib/systemd/system/linkagent@.service", "usr/lib/sysusers.d/linkrelay.conf", "usr/lib/tmpfiles.d/linkagent.conf",
              "usr/share/man/man8/linkctl.8.gz", "usr/share/man/man5/linkrelay.conf.5.gz",
              "usr/share/bash-completion/completions/linkctl",
              "usr/share/doc/linkrelay/copyright", "usr/share/doc/linkagent/changelog.gz",
              "etc/linkrelay/linkrelay.conf"):
        check(c, "installed /" + f, os.path.exists(os.path.join(root, f)))
    relay = exec_start(root, "linkrelay.service")
    agent = exec_start(root, "linkagent@.service", "x")
    check(c, "the units run /usr/bin programs", relay[:1] == ["/usr/bin/linkrelay"]
            and agent[:1] == ["/usr/bin/linkagent"], "%s %s" % (relay[:1], agent[:1]))
    for unit in ("linkrelay.service", "linkrelay.socket", "linkagent@x.service"):
        # --man=no: the root has no man-db to look the Documentation= pages up.
        r = in_root(root, ["systemd-analyze", "verify", "--man=no", unit])
        check(c, "systemd-analyze verify %s: no complaint (every command there)" % unit,
              r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
              r.stdout + r.stderr)
    pw = passwd_entry(root, "linkrelay")
    check(c, "sysusers made the user linkrelay (home /var/lib/linkrelay, no login)",
            pw is not None and pw[5] == "/var/lib/linkrelay" and pw[6].endswith("nologin"), pw)
    pw_a = passwd_entry(root, "linkagent")
    check(c, "sysusers made the user linkagent", pw_a is not None, pw_a)
    st = os.stat(os.path.join(root, "var/lib/linkrelay"))
    check(c, "tmpfiles made /var/lib/linkrelay linkrelay:linkrelay 0750",
            pw is not None and st.st_uid == int(pw[2]) and st.st_mode & 0o7777 == 0o750,
            "%d %o" % (st.st_uid, st.st_mode & 0o7777))
    st = os.stat(os.path.join(root, "etc/linkagent"))
    check(c, "tmpfiles made /etc/linkagent root:linkagent 0750",
            st.st_uid == 0 and st.st_gid == group_id(root, "linkagent")
            and st.st_mode & 0o7777 == 0o750, "%d:%d %o" % (st.st_uid, st.st_gid, st.st_mode))
    for pkg in ("linkrelay", "linkagent"):
        check(c, "dpkg: %s installed" % pkg, status(root, pkg) == "install ok installed")


def start_programs(c, root, logdir, kids):
    """Relay, link, two agents; returns True when both agents are online."""
    conf = os.path.join(root, "etc/linkrelay/linkrelay.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("[relay]\n", "[relay]\nlisten = 127.0.0.1:%d\nadvertise = 127.0.0.1:%d\n"
                             % (RELAY_PORT, RELAY_PORT), 1))
    r = in_root(root, ["linkctl", "relay", "info", "--json"], user="linkrelay")
    info = json.loads(r.stdout) if r.returncode == 0 else {}
    check(c, "linkctl without --config reads /etc/linkrelay/linkrelay.conf",
            info.get("config") == "/etc/linkrelay/linkrelay.conf"
            and info.get("token_addrs") == ["127.0.0.1:%d" % RELAY_PORT], r.stdout + r.stderr)
    relay = Child(chroot_argv(root, "linkrelay", exec_start(root, "linkrelay.service")),
                  os.path.join(logdir, "relay.log"), env=CHROOT_ENV)
    kids.append(relay)
    up = h.wait_for(lambda: relay.p.poll() is not None or in_root(
        root, ["linkctl", "status"], user="linkrelay").returncode == 0, timeout=15, step=0.1)
    if not check(c, "the relay runs as its unit says (linkctl status answers)",
                   up and relay.p.poll() is None, relay.tail()):
        return False
    r = in_root(root, ["linkctl", "link", "add", "demo", "--json"], user="linkrelay")
    tokens = json.loads(r.stdout).get("tokens", {}) if r.returncode == 0 else {}
    if not check(c, "linkctl link add demo", "a" in tokens and "b" in tokens, r.stderr):
        return False
    srv, echo_port = echo_server()
    gid = group_id(root, "linkagent")
    for side, line in (("a", "listen = 127.0.0.1:%d" % LISTEN_PORT),
                       ("b", "connect = 127.0.0.1:%d" % echo_port)):
        path = os.path.join(root, "etc/linkagent/%s.conf" % side)
        with open(path, "w") as f:
            f.write("[link demo]\ntoken = %s\n%s\n" % (tokens[side], line))
        os.chown(path, 0, gid)
        os.chmod(path, 0o640)
    agents = [Child(chroot_argv(root, "linkagent", exec_start(root, "linkagent@.service", side)),
                    os.path.join(logdir, "agent-%s.log" % side), env=CHROOT_ENV)
              for side in ("a", "b")]
    kids.extend(agents)
    online = h.wait_for(lambda: all("online via relay" in a.tail(100000) for a in agents)
                        and any("peer online" in a.tail(100000) for a in agents), timeout=20,
                        step=0.1)
    return check(c, "both agents (as their unit runs them) online, peers online", online,
                   "".join(a.tail(1500) for a in agents) + relay.tail(1500))


def stop_programs(c, kids):
    for k in reversed(kids):
        if k.p.poll() is None:
            k.p.send_signal(signal.SIGTERM)
    for k in kids:
        rc = k.wait(10)
        check(c, "%s stops on SIGTERM with status 0" % os.path.basename(k.log), rc == 0,
                "status %s\n%s" % (rc, k.tail(1500)))
        k.stop()


def check_removed(c, root):
    r = in_root(root, ["apt-get", "remove", "-y", "linkrelay", "linkagent"])
    check(c, "apt-get remove", r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:])
    for pkg in ("linkrelay", "linkagent"):
        check(c, "dpkg: %s removed, config files left" % pkg,
                status(root, pkg) == "deinstall ok config-files", status(root, pkg))
    check(c, "removed: no /usr/bin/linkrelay, /usr/bin/linkagent",
            not os.path.exists(os.path.join(root, "usr/bin/linkrelay"))
            and not os.path.exists(os.path.join(root, "usr/bin/linkagent")))
    check(c, "removed: the conffile /etc/linkrelay/linkrelay.conf stays",
            os.path.exists(os.path.join(root, "etc/linkrelay/linkrelay.conf")))
    # The administrator's agent configs (they hold tokens) are theirs to
    # delete; purge removes /etc/linkagent once they are gone.
    for side in ("a", "b"):
        os.unlink(os.path.join(root, "etc/linkagent/%s.conf" % side))
    r = in_root(root, ["apt-get", "purge", "-y", "linkrelay", "linkagent"])
    check(c, "apt-get purge", r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:])
    r = in_root(root, ["dpkg", "-l", "linkrelay", "linkagent"])
    check(c, "purged: dpkg knows neither package", r.returncode != 0
            and "no packages found" in r.stderr, r.stdout[-800:] + r.stderr[-800:])
    for path in ("etc/linkrelay", "var/lib/linkrelay", "etc/linkagent",
                 "etc/systemd/system/multi-user.target.wants/linkrelay.service",
                 "etc/systemd/system/sockets.target.wants/linkrelay.socket"):
        check(c, "purged: no /" + path, not os.path.lexists(os.path.join(root, path)))
    r = in_root(root, ["dpkg", "--audit"])
    check(c, "dpkg --audit is clean", r.returncode == 0 and r.stdout.strip() == "", r.stdout)


def inner_run(root, logdir):
    c = h.Checks()
    mount_api(root)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    check_installed(c, root)
    kids = []
    try:
        if start_programs(c, root, logdir, kids):
            data = os.urandom(PAYLOAD)
            try:
                got = through_link(LISTEN_PORT, data)
            except OSError as e:
                got = str(e).encode()
            check(c, "%d bytes through the link and back, intact" % PAYLOAD, got == data,
                    "got %d bytes" % len(got))
        stop_programs(c, kids)
    finally:
        for k in kids:
            k.stop()
    check_removed(c, root)
    return c.done()


# ---- the test's own process

def outer():
    c = h.Checks()
    build_depends_cover_deps(c)
    versions_agree(c)
    if os.geteuid() != 0:
        print("SKIP: needs root (mmdebstrap, chroot, namespaces)")
        return 77 if not c.failed else 1
    cache = os.path.join(BUILD, "CMakeCache.txt")
    if os.path.exists(cache) and "LR_SANITIZE:BOOL=ON" in open(cache).read():
        print("SKIP: a sanitizer build; the packages come from dpkg-buildpackage, so the plain "
              "pass has run this already")
        return 77 if not c.failed else 1
    missing = [t for t in ("mmdebstrap", "lintian", "dpkg-buildpackage", "dh", "unshare", "ip")
               if shutil.which(t) is None]
    if not check(c, "tools present", not missing, "missing %s: scripts/deps.sh test" % missing):
        return c.done()
    sources = archive_sources()
    if not check(c, "this machine's apt sources name Debian's %s archive" % SUITE, sources):
        return c.done()
    # Every phase has a deadline; together (240 + 90 + 240 + 150 + 120 s)
    # they stay under ctest's 900 s, so this process always gets to finally.
    ph = Phases()
    tmp = tempfile.mkdtemp(prefix="lrpkg-test.")
    root = os.path.join(tmp, "root")
    try:
        debdir = os.environ.get("LR_DEB_DIR")
        if not debdir:
            debdir = os.path.join(tmp, "debs")
            # Its work tree goes under tmp too, so finally removes it also
            # when the build is killed at the deadline.
            env = dict(os.environ, TMPDIR=tmp)
            if not run_phase(c, "scripts/package.sh", PID_NS + [
                    os.path.join(SRC, "scripts", "package.sh"), "-o", debdir],
                    os.path.join(tmp, "package.log"), 240, env=env):
                return c.done()
        debs = []
        for pkg in ("linkrelay", "linkagent"):
            found = sorted(f for f in os.listdir(debdir) if re.match(pkg + r"_[^_]+_[^_]+\.deb$", f))
            check(c, "package %s built" % pkg, len(found) == 1, found)
            debs += [os.path.join(debdir, f) for f in found[-1:]]
        ph.done("build")
        if len(debs) != 2:
            return c.done()

        r = subprocess.run(PID_NS + ["lintian", "--tag-display-limit", "0"] + debs,
                           capture_output=True, text=True, timeout=90)
        errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
        print(r.stdout, end="")
        check(c, "lintian: no errors", r.returncode in (0, 1) and not errors
                and "linkrelay" not in r.stderr, "\n".join(errors) + r.stderr[-800:])
        ph.done("lintian")

        os.mkdir(root)
        ns = ["unshare", "--mount"] + PID_NS[1:]
        if not run_phase(c, "mmdebstrap %s" % SUITE, ns + [
                "mmdebstrap", "--variant=apt", "--mode=root", "--format=directory",
                "--skip=cleanup/apt/lists", SUITE, root] + sources,
                os.path.join(tmp, "mmdebstrap.log"), 240):
            return c.done()
        ph.done("bootstrap")

        os.makedirs(os.path.join(root, "tmp", "debs"))
        for d in debs:
            shutil.copy(d, os.path.join(root, "tmp", "debs"))
        me = os.path.abspath(__file__)
        if not run_phase(c, "apt-get install ./linkrelay_….deb ./linkagent_….deb", ns + [
                sys.executable, me, "--inner", "install", root] + debs,
                os.path.join(tmp, "install.log"), 150):
            return c.done()
        ph.done("install")

        ch = Child(ns + ["--net", sys.executable, me, "--inner", "run", root, tmp],
                   os.path.join(tmp, "run.log"))
        try:
            rc = ch.wait(120)
            print(ch.tail(20000), end="")
            check(c, "run, remove, purge in the root (exit %s)" % rc, rc == 0)
        finally:
            ch.stop()
        ph.done("run")
    finally:
        left = mounts_under(root)
        if left:
            print("FAIL mounts left under %s, not removed: %s" % (root, left))
            c.failed.append("mounts left")
        else:
            subprocess.run(["rm", "-rf", "--one-file-system", tmp])
    return c.done()


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--inner":
        if sys.argv[2] == "install":
            return inner_install(sys.argv[3], sys.argv[4:])
        return inner_run(sys.argv[3], sys.argv[4])
    return outer()


if __name__ == "__main__":
    sys.exit(main())
