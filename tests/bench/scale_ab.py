# SPDX-License-Identifier: MIT
"""A large registry (issue 15 "Scale", docs/design.md D42): relay start, memory,
AUTH/s and new streams/s on SQLite and PostgreSQL side by side, in one run.

Usage: /usr/bin/python3 tests/bench/scale_ab.py BUILD [--base BUILD0]
           [--links N] [--agents K] [--pairs P] [--no-pg]
BUILD (and BUILD0) need -DLR_BENCH=ON. The registry gets N links (default
1,000,000) with tests/bench/genlinks.py: one transaction on SQLite, one COPY
on PostgreSQL (a server of this run's own, tests/pgfix.sh). K of them
(default 1000) have keys lr_bench holds. Per backend and build, one relay on
the same registry (an SQLite copy per relay):
- start: from exec to the ready file (the relay listens); RSS then; this
  build's relay also on the registry before the N links are added (the
  targets compare the two);
- AUTH/s: `lr_bench sessions` opens the K links' 2K control sessions one
  after the other (each waits for WELCOME), so this is 1 / the AUTH's time
  seen by one agent; RSS with the 2K sessions up;
- revoke: with the 2K sessions up (K links held), `linkctl link revoke` of
  one held link at a time, run as from another host (its own state
  directory: no admin socket to tell the relay, so the relay learns it by
  its poll of the registry, 300 ms, and re-reads the links it holds, D42);
  the time from linkctl's exit to both of that link's sessions closed, as
  the relay's admin socket shows them, for R links (default 5): median and
  max (issue 15: "linkctl link revoke resets that link's live streams on
  whichever relay carries them within 1 s");
- new streams/s: `lr_bench pair` P streams on one link, 64 being set up at
  once (the figure of accept_ab.py).
Every process is started here and stopped by PID, the temp dir removed (run.py's
Env), the PostgreSQL server stopped, also on failure. Prints Markdown.
"""
import argparse
import atexit
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genlinks  # noqa: E402
import run as B  # noqa: E402

PGFIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pgfix.sh")
START_BOUND_S = 600  # a relay that loads every link may take long; bounded


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class ScaleRelay:
    def __init__(self, env, build, name, state, database):
        self.env, self.build, self.name = env, build, name
        self.dir, self.database = state, database
        self.port = B.free_port()

    def start(self):
        with open(os.path.join(self.dir, "linkrelay.conf"), "w") as f:
            f.write("[relay]\nlisten = 127.0.0.1:%d\nadvertise = 127.0.0.1:%d\n"
                    "log_level = warn\n" % (self.port, self.port))
            if self.database:
                f.write("database = %s\n" % self.database)
            f.write("[limits]\nmax_pending = 100000\nmax_pending_per_ip = 100000\n"
                    "conn_rate_per_ip = 1000000/s\nconn_burst_per_ip = 10000000\n"
                    "max_conns_per_ip = 19900\nmax_streams_per_link = 65535\n"
                    "open_rate_per_link = 0\n")
        ready = os.path.join(self.dir, "ready")
        t0 = time.monotonic()
        self.proc = self.env.spawn(self.name.replace(" ", "_"),
                                   [os.path.join(self.build, "relay", "linkrelay"),
                                    "--state-dir", self.dir, "--ready-file", ready])
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() - t0 > START_BOUND_S:
                raise RuntimeError("%s did not start: %s" % (
                    self.name, self.env.log_tail(self.name.replace(" ", "_"))))
            time.sleep(0.01)
        self.start_s = time.monotonic() - t0
        ctl = os.path.join(self.build, "linkctl", "linkctl")
        out = subprocess.run([ctl, "--state-dir", self.dir, "--json", "relay", "info"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        info = json.loads(out)
        self.relay_pub, self.key_id = info["relay_key"], info["relay_key_id"]
        return self

    def via_base(self):
        return ["--via", "relay", "--relay", "127.0.0.1:%d" % self.port, "--relay-pub",
                self.relay_pub, "--key-id", str(self.key_id)]


def admin(relay, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(os.path.join(relay.dir, "admin.sock"))
    s.sendall(cmd.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def both_offline(relay, lid):
    for l in admin(relay, "links")["links"]:
        if l["id"] == lid:
            return not l["a"]["online"] and not l["b"]["online"]
    return True  # not held any more


REVOKE_BOUND_S = 30  # a revoke that never arrives ends the bench, bounded


def hold(env, relay, keys):
    """lr_bench sessions of the keys file, held (until stopped): the process."""
    argv = [env.bench, "sessions"] + relay.via_base() + ["--links", keys]
    p = env.spawn("hold", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for raw in p.stdout:
        line = raw.decode().strip()
        if line in ("phase=before",):
            p.stdin.write(b"go\n")
            p.stdin.flush()
        elif line == "phase=ready":
            return p
    env.stop(p)
    raise RuntimeError("lr_bench sessions (hold) failed: " + env.log_tail("hold"))


def revokes(env, relay, ctl, files):
    """For each one-link keys file: its two sessions up (an lr_bench of its
    own: a revoke ends it), then linkctl of its own state directory revokes
    the link; the seconds from linkctl's exit to both sessions closed."""
    other = os.path.join(env.tmp, "ctl-elsewhere-%d" % relay.port)
    os.makedirs(other, mode=0o700, exist_ok=True)
    db = relay.database or os.path.join(relay.dir, "linkrelay.db")
    out = []
    for path in files:
        with open(path) as f:
            lid = f.read().split()[0]
        p = hold(env, relay, path)
        try:
            if both_offline(relay, lid):
                raise RuntimeError("link %s has no sessions before the revoke" % lid)
            subprocess.run([ctl, "--state-dir", other, "--database", db, "link", "revoke", lid],
                           check=True, capture_output=True, timeout=60)
            t0 = time.monotonic()
            while not both_offline(relay, lid):
                if time.monotonic() - t0 > REVOKE_BOUND_S:
                    raise RuntimeError("revoke of %s not applied in %d s" % (lid, REVOKE_BOUND_S))
                time.sleep(0.005)
            out.append(time.monotonic() - t0)
        finally:
            env.stop(p)
    return out


def sessions(env, relay, keys, during=None):
    """Opens every session of the keys file and runs during() while they are
    all up; returns (AUTH/s, RSS MiB, n, during's result)."""
    argv = [env.bench, "sessions"] + relay.via_base() + ["--links", keys]
    p = env.spawn("sessions", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    t0, n = None, 0
    try:
        for raw in p.stdout:
            line = raw.decode().strip()
            if line == "phase=before":  # lr_bench waits for a line at each phase
                t0 = time.monotonic()
                p.stdin.write(b"go\n")
                p.stdin.flush()
            elif line.startswith("sessions.n="):
                n = int(line.split("=")[1])
                secs = time.monotonic() - t0
            elif line == "phase=ready":
                break
        if n == 0:
            raise RuntimeError("lr_bench sessions failed: " + env.log_tail("sessions"))
        rss = rss_mib(relay.proc.pid)
        res = during() if during is not None else None
        p.stdin.write(b"go\n")
        p.stdin.flush()
        p.wait(120)
    finally:
        env.stop(p)
    return n / secs, rss, n, res


def pairs(env, relay, link, n):
    argv = [env.bench, "pair"] + relay.via_base() + [
        "--link", link[0], "--a-key", link[1], "--b-key", link[2],
        "--n", str(n), "--rate", "0", "--window", "64"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    kv = B.parse_kv(r.stdout)
    if r.returncode != 0 or kv.get("result") != "ok":
        raise RuntimeError("lr_bench pair failed: %s%s" % (r.stdout, r.stderr))
    return float(kv["pair.rate"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--base", help="a build to compare with (e.g. main before D42)")
    ap.add_argument("--links", type=int, default=1000000)
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--revokes", type=int, default=5)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    env = B.Env(build)
    atexit.register(env.cleanup)
    pgdir = os.path.join(env.tmp, "pg")
    pg_up = []

    def pg_stop():
        if pg_up:
            subprocess.run(["bash", PGFIX, "stop", pgdir], capture_output=True, timeout=240)
    atexit.register(pg_stop)
    ctl = os.path.join(build, "linkctl", "linkctl")
    agent = os.path.join(build, "agent", "linkagent")
    builds = [("D42", build)] + ([("before", os.path.abspath(args.base))] if args.base else [])
    backends = ["sqlite"] + ([] if args.no_pg else ["postgresql"])
    rows = []
    empty = {}
    one_link = {}
    load0 = os.getloadavg()
    for backend in backends:
        tmpl = os.path.join(env.tmp, "tmpl-" + backend)
        os.makedirs(tmpl, mode=0o700)
        keys = os.path.join(env.tmp, "keys-" + backend)
        url = None
        if backend == "postgresql":
            subprocess.run(["bash", PGFIX, "start", pgdir], check=True, capture_output=True,
                           timeout=240)
            pg_up.append(1)
            url = "postgresql://lrtest@/postgres?host=%s&port=5432" % pgdir
        # The same relay on the empty registry first: its start and RSS are
        # what the full registry's are compared with.
        genlinks.fill(ctl, tmpl, 0, database=url, agent=agent)
        state = os.path.join(env.tmp, "%s-empty" % backend)
        shutil.copytree(tmpl, state)
        r = ScaleRelay(env, build, "D42 %s empty" % backend, state, url).start()
        empty[backend] = (r.start_s, rss_mib(r.proc.pid))
        B.log("%s: empty registry: start %.2f s, RSS %.1f MiB" % ((r.name,) + empty[backend]))
        env.stop(r.proc)
        shutil.rmtree(state, ignore_errors=True)
        B.log("%s: filling %d links" % (backend, args.links))
        fill_s, real = genlinks.fill(ctl, tmpl, args.links, real=args.agents + args.revokes,
                                     keys=keys, database=url, agent=agent)
        # The first K links' sessions are held; each of the last R gets its
        # own for its revoke.
        with open(keys) as f:
            lines = f.read().splitlines()
        keys_held = keys + ".held"
        with open(keys_held, "w") as f:
            f.write("\n".join(lines[:args.agents]) + "\n")
        one_link[backend] = []
        for k, line in enumerate(lines[args.agents:]):
            one_link[backend].append("%s.revoke%d" % (keys, k))
            with open(one_link[backend][-1], "w") as f:
                f.write(line + "\n")
        B.log("%s: filled in %.1f s" % (backend, fill_s))
        for bname, bdir in builds:
            state = os.path.join(env.tmp, "%s-%s" % (backend, bname))
            shutil.copytree(tmpl, state)
            r = ScaleRelay(env, bdir, "%s %s" % (bname, backend), state, url).start()
            rss0 = rss_mib(r.proc.pid)
            B.log("%s: start %.2f s, RSS %.1f MiB" % (r.name, r.start_s, rss0))
            rctl = os.path.join(bdir, "linkctl", "linkctl")
            auth_s, rss1, n, rv = sessions(env, r, keys_held,
                                           lambda: revokes(env, r, rctl, one_link[backend]))
            B.log("%s: %d sessions, %.0f AUTH/s, RSS %.1f MiB; revoke %s s" % (
                r.name, n, auth_s, rss1, ", ".join("%.3f" % x for x in rv)))
            streams = pairs(env, r, real[0], args.pairs)
            B.log("%s: %.0f new streams/s" % (r.name, streams))
            rows.append((backend, bname, fill_s, r.start_s, rss0, n, rss1, auth_s, streams, rv))
            env.stop(r.proc)
            shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(tmpl, ignore_errors=True)
    load1 = os.getloadavg()
    print("Registry of %d links; %d control sessions (%d links, both sides) opened one "
          "after the other; %d new streams on one link, 64 at once. Load average %.1f "
          "before, %.1f after (2 cores, shared).\n" % (args.links, 2 * args.agents, args.agents,
                                                      args.pairs, load0[0], load1[0]))
    print("| registry | relay | fill (s) | start to listening (s) | RSS after start (MiB) | "
          "RSS with sessions (MiB) | AUTH/s | revoke to sessions closed, median / max (s) "
          "| new streams/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for backend, bname, fill_s, start_s, rss0, n, rss1, auth_s, streams, rv in rows:
        print("| %s | %s | %.1f | %.2f | %.1f | %.1f | %.0f | %.3f / %.3f | %.0f |" % (
            backend, bname, fill_s, start_s, rss0, rss1, auth_s, statistics.median(rv),
            max(rv), streams))
    # Targets (D42): the relay's start and memory do not grow with links
    # nobody connects; PostgreSQL's AUTH at least half SQLite's.
    t = ["| target | value | reference | |", "|---|---|---|---|"]
    by = {(b, n): row for row in rows for b, n in [(row[0], row[1])]}
    for backend in backends:
        d = by[(backend, "D42")]
        e = empty[backend]
        B.target(t, "%s: start with %d links ≤ with none + 0.5 s" % (backend, args.links),
                 "%.2f s" % d[3], "%.2f s" % e[0], d[3] <= e[0] + 0.5)
        B.target(t, "%s: RSS after start with %d links ≤ with none + 5 MiB" % (
            backend, args.links), "%.1f MiB" % d[4], "%.1f MiB" % e[1], d[4] <= e[1] + 5)
        B.target(t, "%s: revoke to sessions closed, %d links held, the slowest ≤ 1 s" % (
            backend, d[5] // 2), "%.3f s" % max(d[9]), "1 s", max(d[9]) <= 1.0)
        if (backend, "before") in by:
            b = by[(backend, "before")]
            B.target(t, "%s: RSS after start ≤ a tenth of loading every link" % backend,
                     "%.1f MiB" % d[4], "%.1f MiB" % b[4], d[4] <= b[4] / 10)
    if ("postgresql", "D42") in by:
        a, b = by[("postgresql", "D42")][7], by[("sqlite", "D42")][7]
        B.target(t, "AUTH/s on PostgreSQL ≥ half of SQLite's", "%.0f" % a, "%.0f" % b,
                 a >= b / 2)
    print("\n" + "\n".join(t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
