#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A hung PostgreSQL server (docs/design.md D38): the server's processes
stopped with SIGSTOP, so the kernel still takes connections and data but
nothing ever answers. On a server of this test's own (tests/pgfix.sh
start/stop; every process stopped here is continued in `finally`):
- the relay (registry_timeout 2 s) refuses a new AUTH with the reason and
  a live stream keeps carrying bytes;
- linkctl fails with the reason within its bound instead of hanging;
- a takeover (`linkrelay --takeover`) fails within its bound: the
  successor opens the registry (one connect) before it asks for the
  sockets, so it exits 1 and the running relay is not touched: it serves
  on, the held stream with it;
- SIGTERM: the relay drains and exits 0 within a bound that holds by
  construction: every database call gives up after registry_timeout + 1 s
  (the server's statement_timeout and a slack), the workers in flight (in
  parallel) and then the final accounting write each take at most one such
  call (after a call that got no answer, the next ones fail at once for a
  deadline), plus drain_timeout (2 s, the held stream keeps the drain
  going), plus 10 s for a loaded machine or a sanitizer build;
- the server continued: a relay on it serves a stream again.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import lrharness as h

PGFIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pgfix.sh")
REFUSED = "s.close reason=limit text=registry unavailable, try again"
TIMEOUT_S = 2  # registry_timeout
CALL_S = TIMEOUT_S + 1  # one database call at most (D38: the deadline and its slack)
SLACK_S = 10  # process start/exit on a loaded machine, ASan
DRAIN_S = 2  # drain_timeout


def pgfix(cmd, link):
    r = subprocess.run(["bash", PGFIX, cmd, link], capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        raise RuntimeError("pgfix.sh %s: %s" % (cmd, r.stderr))
    return r.stdout.strip()


def server_pids(pglink):
    """The postmaster of this test's server (its data directory's
    postmaster.pid, checked against the process's command line) and its
    children (backends and auxiliary processes)."""
    data = os.path.join(os.readlink(pglink), "data")
    with open(os.path.join(data, "postmaster.pid")) as f:
        pm = int(f.readline())
    with open("/proc/%d/cmdline" % pm, "rb") as f:
        if data.encode() not in f.read():
            raise RuntimeError("postmaster.pid names %d, not this server" % pm)
    pids = [pm]
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == pm:
            pids.append(int(p))
    return pids


def link_bytes(r, link_id):
    for l in r.admin("links")["links"]:
        if l["id"] == link_id:
            return l["bytes_a_to_b"] + l["bytes_b_to_a"]
    return None


def main():
    c = h.Checks()
    tmp = tempfile.mkdtemp(prefix="test_registry_pg_hung.")
    pglink = os.path.join(tmp, "pg")
    r = r2 = None
    stopped = []
    try:
        print(pgfix("start", pglink))
        url = "postgresql://lrtest@/postgres?host=%s&port=5432" % pglink
        cfg = {"database": url, "registry_timeout": "%ds" % TIMEOUT_S}
        r = h.Relay(extra_relay=cfg, limits={"drain_timeout": "%ds" % DRAIN_S})
        r.start()
        live = r.add_link_live("live")
        other = r.add_link_live("other")
        pv = r.peer_bg(live, "pair", "--mode", "hold", "--hold-ms", "300000")
        rv = h.Reader(pv)
        c.check("live stream up", h.wait_for(lambda: rv.find("holding=1"), 20))

        stopped = server_pids(pglink)
        for p in stopped:
            os.kill(p, signal.SIGSTOP)
        print("stopped the server's %d processes: %s" % (len(stopped), stopped))
        c.check("the relay refuses new AUTHs",
                h.wait_for(lambda: "refusing new AUTHs" in r.log(), 60), r.log()[-2000:])
        rc, kv, out = r.peer(other, "session", "--side", "a", "--hold-ms", "300", timeout=60)
        c.check("a new AUTH is refused with the reason", REFUSED in out, out)
        b0 = link_bytes(r, live["id"])
        c.check("the live stream carries bytes while the server is hung",
                h.wait_for(lambda: (link_bytes(r, live["id"]) or 0) > (b0 or 0) + 10, 30),
                (b0, link_bytes(r, live["id"])))
        c.check("the live stream goes on", pv.poll() is None and not rv.find("leg."), rv.lines)

        # linkctl: a new connection that is never answered.
        bound = CALL_S + SLACK_S
        t0 = time.time()
        try:
            lc = subprocess.run([h.LINKCTL, "--state-dir", r.dir, "link", "list"],
                                capture_output=True, text=True, timeout=bound)
            took = time.time() - t0
            print("linkctl failed after %.2f s (bound %d s): %s" % (took, bound, lc.stderr.strip()))
            c.check("linkctl fails with the reason within its bound",
                    lc.returncode != 0 and "no answer from the server" in lc.stderr, lc.stderr)
        except subprocess.TimeoutExpired:
            c.check("linkctl fails with the reason within its bound", False,
                    "still running after %d s" % bound)

        # A takeover: the successor cannot open the registry (one connect)
        # and exits before it asks for the sockets.
        bound = CALL_S + SLACK_S
        succ = h.LogProc([h.RELAY, "--state-dir", r.dir, "--ready-file",
                          os.path.join(r.top, "ready-succ"), "--takeover"],
                         os.path.join(r.top, "relay-succ.log"))
        t0 = time.time()
        succ.start()
        try:
            rc = succ.proc.wait(bound)
            print("takeover failed after %.2f s (bound %d s): %s"
                  % (time.time() - t0, bound, succ.log().strip().splitlines()[-1:]))
            c.check("a takeover fails within its bound", rc == 1
                    and "no answer from the server" in succ.log(), (rc, succ.log()[-600:]))
        except subprocess.TimeoutExpired:
            c.check("a takeover fails within its bound", False, "still running after %d s" % bound)
        succ.stop()
        c.check("the running relay serves on, not asked to hand over",
                r.status()["state"] == "serving" and "takeover" not in r.log(), r.log()[-1000:])
        c.check("the live stream goes on after the takeover",
                pv.poll() is None and not rv.find("leg."), rv.lines)

        # SIGTERM: the drain, the workers in flight, the final accounting write.
        bound = 2 * CALL_S + DRAIN_S + SLACK_S
        t0 = time.time()
        r.proc.send_signal(signal.SIGTERM)
        try:
            rc = r.proc.wait(bound)
            took = time.time() - t0
            print("relay exited %.2f s after SIGTERM with the server hung (bound %d s)"
                  % (took, bound))
            c.check("the relay exits 0 on SIGTERM with the server hung", rc == 0, rc)
        except subprocess.TimeoutExpired:
            c.check("the relay exits on SIGTERM with the server hung", False,
                    "still running after %d s" % bound)
        for p in stopped:
            os.kill(p, signal.SIGCONT)
        stopped = []

        # The server answers again: a relay on it serves a stream.
        r.close()
        r = None
        r2 = h.Relay(extra_relay=cfg)
        r2.start()
        rc, kv, out = r2.peer(other, "pair", "--bytes", "100000", "--bytes-back", "100000",
                              timeout=120)
        c.check("after the server is continued, a relay serves a stream", rc == 0
                and kv.get("result") == "ok", out[-500:])
        c.check("clean shutdown", r2.stop() == 0)
    finally:
        for p in stopped:
            try:
                os.kill(p, signal.SIGCONT)
            except OSError:
                pass
        for x in (r, r2):
            if x is not None:
                if c.failed:
                    print(x.log()[-6000:])
                try:
                    x.close()
                except AssertionError as e:
                    c.check("relay closed cleanly", False, e)
        try:
            pgfix("stop", pglink)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
