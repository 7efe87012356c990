#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The registry on PostgreSQL end to end (docs/design.md D33, D38), on a
server of this test's own (tests/pgfix.sh start/stop, also on failure):
- `database = postgresql://...` in the config: linkctl link add writes the
  links there (no SQLite file appears), a relay serves them, a stream runs
  end to end (SHA-256 checked by lr_testpeer); the URL's password is never
  printed by linkctl or the relay;
- the database stopped (pgfix.sh down) under a live stream: the stream goes
  on, and once the relay logs that it has not read the registry for
  registry_timeout, a new AUTH is told CLOSE limit "registry unavailable,
  try again" and counted in linkrelay_registry_auth_refused_total (the
  linkrelay_registry_degraded gauge 1; registry_timeout as changed by SIGHUP);
  the database back (pgfix.sh up):
  the relay logs it, AUTH works again, the gauge is 0;
- `linkctl link revoke` with no admin socket to reach: the relay finds the
  change by its own poll of the database and resets the live stream
  (CLOSE revoked to both sides); the reset is waited for as an event, the
  delay after the revoke is printed;
- `--database postgresql://...` on the command line instead of a config:
  linkctl lists the links, a relay serves a stream from them.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import lrharness as h
import promharness as ph

PGFIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pgfix.sh")
REFUSED = "s.close reason=limit text=registry unavailable, try again"


def pgfix(cmd, link):
    r = subprocess.run(["bash", PGFIX, cmd, link], capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        raise RuntimeError("pgfix.sh %s: %s" % (cmd, r.stderr))
    return r.stdout.strip()


def metric(port, name):
    return ph.value(ph.scrape_after(port), name)


def main():
    c = h.Checks()
    tmp = tempfile.mkdtemp(prefix="test_registry_pg.")
    pglink = os.path.join(tmp, "pg")
    r = r2 = None
    try:
        print(pgfix("start", pglink))
        url = "postgresql://lrtest:s3cret@/postgres?host=%s&port=5432" % pglink
        r = h.Relay(extra_relay={"database": url, "registry_timeout": "3s",
                                 "metrics_listen": "127.0.0.1:0"})
        r.start()
        live = r.add_link_live("live")
        other = r.add_link_live("other")
        port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", r.log()).group(1))
        listed = r.ctl("link", "list").stdout
        c.check("linkctl lists the links from PostgreSQL", "live" in listed and "other" in listed,
                listed)
        c.check("no SQLite registry made", not os.path.exists(os.path.join(r.dir, "linkrelay.db")),
                os.listdir(r.dir))
        c.check("the relay holds no link before an AUTH names one (D42)",
                len(r.admin("links")["links"]) == 0)
        rc, kv, out = r.peer(other, "pair", "--bytes", "1000000", "--bytes-back", "1000000")
        c.check("a stream end to end", rc == 0 and kv.get("result") == "ok", out[-300:])
        c.check("the relay read the link from PostgreSQL for it",
                metric(port, "linkrelay_registry_link_reads_total") >= 1)

        pv = r.peer_bg(live, "pair", "--mode", "hold", "--hold-ms", "300000")
        rv = h.Reader(pv)
        c.check("live stream up", h.wait_for(lambda: rv.find("holding=1"), 20))
        c.check("not degraded while the database answers",
                metric(port, "linkrelay_registry_degraded") == 0)

        # registry_timeout applies on SIGHUP: 3 s -> 2 s, named in the log below.
        r.write_config("info", {"database": url, "registry_timeout": "2s",
                                "metrics_listen": "127.0.0.1:0"})
        r.proc.send_signal(signal.SIGHUP)
        c.check("reloaded", h.wait_for(lambda: "configuration reloaded" in r.log(), 30))

        # The outage.
        pgfix("down", pglink)
        c.check("the relay says it refuses new AUTHs, with the reloaded bound",
                h.wait_for(lambda: "refusing new AUTHs" in r.log(), 60)
                and "(registry_timeout 2000 ms)" in r.log(), r.log()[-2000:])
        rc, kv, out = r.peer(other, "session", "--side", "a", "--hold-ms", "300")
        c.check("a new AUTH is refused with the reason", REFUSED in out, out)
        c.check("the refusal is counted",
                metric(port, "linkrelay_registry_auth_refused_total") >= 1
                and metric(port, "linkrelay_registry_degraded") == 1)
        c.check("the live stream goes on", pv.poll() is None and not rv.find("leg.")
                and not any(".close" in l for _, l in rv.lines), rv.lines)

        pgfix("up", pglink)
        c.check("the relay says it accepts AUTHs again",
                h.wait_for(lambda: "accepting new AUTHs" in r.log(), 60), r.log()[-2000:])
        rc, kv, out = r.peer(other, "session", "--side", "a", "--hold-ms", "300")
        c.check("AUTH works again", rc == 0 and "s.welcome" in out and REFUSED not in out, out)
        c.check("not degraded any more", metric(port, "linkrelay_registry_degraded") == 0)
        c.check("the live stream lived through the outage", pv.poll() is None
                and not rv.find("leg."), rv.lines)

        # A revoke the relay learns by its poll (no admin socket to reach).
        t_revoke = time.time()
        rr = subprocess.run([h.LINKCTL, "--state-dir", r.dir, "--admin-socket",
                             os.path.join(tmp, "no-relay.sock"), "link", "revoke", "live"],
                            capture_output=True, text=True, timeout=60)
        c.check("linkctl revoke on PostgreSQL", rr.returncode == 0, rr.stderr)
        pv.wait(60)
        rv.t.join(5)
        la, lb = rv.find("leg.a="), rv.find("leg.b=")
        c.check("revoked stream reset, leg a", la is not None and la[1].startswith("leg.a=reset"),
                la)
        c.check("revoked stream reset, leg b", lb is not None and lb[1].startswith("leg.b=reset"),
                lb)
        c.check("no leg ended before the revoke", all(t >= t_revoke for t, l in rv.lines
                                                      if l.startswith("leg.")))
        c.check("both sides told revoked", rv.find("a.close reason=revoked")
                and rv.find("b.close reason=revoked"), rv.lines)
        if la and lb:
            print("legs reset seen %.3f s after linkctl revoke started (relay poll %d ms)"
                  % (max(la[0], lb[0]) - t_revoke, 300))
        everything = r.log() + listed + rr.stdout + rr.stderr
        c.check("the password is never printed", "s3cret" not in everything)
        c.check("clean shutdown", r.stop() == 0)

        # --database URL on the command line, no config file anywhere.
        r2 = h.Relay(config=False)
        r2.start(extra_args=["--database", url])
        lc = subprocess.run([h.LINKCTL, "--state-dir", os.path.join(tmp, "nowhere"),
                             "--database", url, "link", "list"],
                            capture_output=True, text=True, timeout=60)
        c.check("linkctl --database postgresql://... lists the links", lc.returncode == 0
                and "live" in lc.stdout and "other" in lc.stdout, lc.stdout + lc.stderr)
        rc, kv, out = r2.peer(other, "pair", "--bytes", "100000", "--bytes-back", "100000")
        c.check("linkrelay --database postgresql://... serves a stream", rc == 0
                and kv.get("result") == "ok", out[-300:])
        c.check("no SQLite registry made by either",
                not os.path.exists(os.path.join(r2.dir, "linkrelay.db"))
                and not os.path.exists(os.path.join(tmp, "nowhere")), os.listdir(r2.dir))
        c.check("clean shutdown of the second relay", r2.stop() == 0)
    finally:
        for x in (r, r2):
            if x is not None:
                if c.failed:
                    print(x.log()[-6000:])
                x.close()
        try:
            pgfix("stop", pglink)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
