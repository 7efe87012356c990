#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Log lines carry their syslog priority when stderr is the journal
(common/log.c): with $JOURNAL_STREAM naming the process's own stderr (device
and inode, as systemd sets it), every line starts with "<3>" (error), "<4>"
(warn), "<6>" (info) or "<7>" (debug) matching its level word, so journald
stores the priority and `journalctl -p warning` selects by it. Without the
variable, with it naming another file (a stream inherited and then
redirected), or with it malformed, lines are as before, without a prefix.

A relay at --log-level debug gives info lines and, for a connection that
sends nothing, debug lines; a second relay on
the same state directory gives an error line and exits (another linkrelay
holds the admin socket)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import lrharness as h

LINE = re.compile(r"^(<(\d)>)?linkrelay: (error|warn|info|debug): ")
PRIO = {"error": "3", "warn": "4", "info": "6", "debug": "7"}


def journal_of(path):
    st = os.stat(path)
    return "%d:%d" % (st.st_dev, st.st_ino)


def start(state, port, errpath, journal, ready=None):
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    env.pop("LOG_TIME", None)
    if journal is not None:
        env["JOURNAL_STREAM"] = journal
    args = [h.RELAY, "--listen", "127.0.0.1:%d" % port, "--state-dir", state,
            "--log-level", "debug"]
    if ready:
        args += ["--ready-file", ready]
    err = open(errpath, "ab")
    try:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, env=env)
    finally:
        err.close()


def lines(path):
    with open(path, errors="replace") as f:
        return [l for l in f.read().splitlines() if l]


def main():
    c = h.Checks()
    tmp = tempfile.mkdtemp(prefix="lr_journal.")
    procs = []
    try:
        state = os.path.join(tmp, "state")
        ready = os.path.join(tmp, "ready")
        files = {k: os.path.join(tmp, k + ".log") for k in ("main", "err", "other", "bad", "none")}
        for p in files.values():
            open(p, "wb").close()
        relay = start(state, 0, files["main"], journal_of(files["main"]), ready)
        procs.append(relay)
        c.check("relay serving", h.wait_for(lambda: os.path.exists(ready) or
                                            relay.poll() is not None, timeout=20)
                and relay.poll() is None)
        # A connection that says nothing and goes: "accepted" and "closed" at debug.
        with open(ready) as f:
            host, port = f.read().split()[0].rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=5).close()
        c.check("relay logged the connection's close",
                h.wait_for(lambda: "closed (" in open(files["main"]).read(), timeout=20))
        # Second relays on the same state directory: the admin socket is taken.
        cases = {"err": journal_of(files["err"]),      # its own stderr: prefixed
                 "other": journal_of(files["main"]),   # names another file: not
                 "bad": "12:x",                        # malformed: not
                 "none": None}                         # unset: not
        for name, journal in cases.items():
            p = start(state, 0, files[name], journal)
            procs.append(p)
            try:
                rc = p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rc = None
            c.check("%s: the second relay exits non-zero" % name, rc not in (None, 0), rc)
        relay.send_signal(signal.SIGTERM)
        try:
            c.check("relay exits 0 on SIGTERM", relay.wait(timeout=30) == 0)
        except subprocess.TimeoutExpired:
            c.check("relay exits on SIGTERM", False)

        main_lines = lines(files["main"])
        bad = [l for l in main_lines if not (LINE.match(l) and LINE.match(l).group(2) ==
                                             PRIO[LINE.match(l).group(3)])]
        c.check("journal: every line starts with the priority of its level", not bad, bad[:3])
        seen = {LINE.match(l).group(3) for l in main_lines if LINE.match(l)}
        c.check("journal: info and debug lines seen", {"info", "debug"} <= seen, seen)
        err_lines = lines(files["err"])
        c.check("journal: the error line starts with <3>",
                any(l.startswith("<3>linkrelay: error: ") for l in err_lines), err_lines[-3:])
        for name in ("other", "bad", "none"):
            got = lines(files[name])
            c.check("%s: error line without a prefix" % name,
                    any(l.startswith("linkrelay: error: ") for l in got) and
                    not any(l.startswith("<") for l in got), got[-3:])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
