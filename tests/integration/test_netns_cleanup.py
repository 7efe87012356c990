#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""netns.py cleans up after itself, whatever ends the test:

  - an exception inside `with Topology()`: namespaces gone, processes gone;
  - SIGTERM (what ctest and CI send first): the same, via install_sigterm();
  - SIGKILL (cannot be caught): the next Topology() sweeps the namespaces
    named after the dead PID and kills, by PID, what still runs in them.

Each case runs a child python that builds a topology, starts a long-running
process in two of its namespaces (`sleep`, standing in for relay and agent)
and reports the namespace names and PIDs on stdout.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns as n  # noqa: E402

n.skip_unless_available()

import lrharness as h  # noqa: E402

CHILD = r"""
import os, sys, time
sys.path.insert(0, %r)
import netns as n
n.install_sigterm()
mode = sys.argv[1]
with n.Topology() as t:
    procs = [t.popen("pub", ["sleep", "300"]), t.popen("dev", ["sleep", "300"])]
    print("NS " + " ".join(t.ns.values()), flush=True)
    print("PIDS " + " ".join(str(p.pid) for p in procs), flush=True)
    if mode == "raise":
        raise RuntimeError("a failing check")
    time.sleep(300)
"""


def namespaces():
    try:
        return set(os.listdir(n.NETNS_DIR))
    except OSError:
        return set()


def ns_inode(name):
    try:
        return os.stat(os.path.join(n.NETNS_DIR, name)).st_ino
    except OSError:
        return None


def ns_inode_of(pid):
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino
    except OSError:
        return -1


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_child(mode):
    """Starts the child; returns (Popen, namespace names, pids) once it has
    built its topology."""
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.Popen([sys.executable, "-c", CHILD % here, mode], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    ns, pids = [], []
    deadline = time.time() + 20
    while time.time() < deadline and not (ns and pids):
        line = p.stdout.readline()
        if not line:
            break
        if line.startswith("NS "):
            ns = line.split()[1:]
        elif line.startswith("PIDS "):
            pids = [int(x) for x in line.split()[1:]]
    return p, ns, pids


def check_gone(c, name, ns, pids, timeout=10):
    ok = h.wait_for(lambda: not (set(ns) & namespaces()), timeout=timeout)
    c.check("%s: every namespace removed" % name, ok and len(ns) == 5,
            "left: %s" % sorted(set(ns) & namespaces()))
    ok = h.wait_for(lambda: not any(alive(x) for x in pids), timeout=timeout)
    c.check("%s: every process in them stopped" % name, ok and len(pids) == 2,
            "alive: %s" % [x for x in pids if alive(x)])


def main():
    c = h.Checks()
    started = []
    try:
        # Exception inside the with block.
        p, ns, pids = run_child("raise")
        started.append(p)
        p.wait(30)
        c.check("exception: child failed as it should", p.returncode not in (0, None),
                str(p.returncode))
        check_gone(c, "exception", ns, pids)

        # SIGTERM.
        p, ns, pids = run_child("sleep")
        started.append(p)
        c.check("sigterm: topology built", len(ns) == 5 and all(x in namespaces() for x in ns))
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        check_gone(c, "sigterm", ns, pids)

        # SIGKILL: nothing runs in the child any more; the next Topology sweeps.
        p, ns, pids = run_child("sleep")
        started.append(p)
        # Topology.popen returns once its process is inside its namespace, so
        # a sweep by namespace can find it; a kill before that would leak it.
        c.check("sigkill: the processes are inside their namespaces before the kill",
                len(pids) == 2 and all(ns_inode_of(x) in {ns_inode(y) for y in ns} for x in pids))
        p.kill()
        p.wait(30)
        c.check("sigkill: namespaces left behind at first", set(ns) <= namespaces())
        with n.Topology() as t:
            mine = set(t.ns.values())
            check_gone(c, "sigkill then next run", ns, pids, timeout=5)
            c.check("sigkill then next run: the new topology is intact", mine <= namespaces())
        c.check("own topology removed", not (mine & namespaces()))
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()
        n.sweep_stale()  # whatever a failed case left behind
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
