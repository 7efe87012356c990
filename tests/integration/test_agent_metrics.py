#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent's metrics listener (--metrics-listen / metrics_listen):
  - /metrics passes promtool check metrics; /healthz 200; /readyz 503 until
    the link's session is up, 200 after;
  - per link: session up, the relay it is connected to, online since, peer
    up, streams opened, and the bytes a transfer moved, exactly, each way on
    both sides;
  - a relay restart counts one reconnect on each agent, and the session is
    up again;
  - a stream whose end-to-end handshake fails (side a pins a wrong peer key)
    counts one e2e handshake failure;
  - a real Prometheus server scrapes the relay and both agents; its API
    returns the agents' bytes;
  - --metrics-listen errors are clear.
"""
import os
import re
import subprocess
import sys
import time

import agentharness as ah
import lrharness as h
import promharness as ph

SIZE = 300007


def port_of(proc, nth=1):
    """The port of the nth "metrics on" line of a log."""
    h.wait_for(lambda: len(re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/", proc.log())) >= nth,
               10)
    found = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/", proc.log())
    return int(found[nth - 1]) if len(found) >= nth else None


def one(ms, name, **labels):
    return ph.value(ms, name, **labels)


def check_side(c, side, ms, relay_addr, sent, received):
    c.check("%s: session up, peer up" % side,
            one(ms, "linkagent_link_session_up", link="lnk") == 1
            and one(ms, "linkagent_link_peer_up", link="lnk") == 1)
    c.check("%s: connected to the relay" % side,
            one(ms, "linkagent_link_relay_info", link="lnk", relay=relay_addr) == 1,
            ph.series(ms, "linkagent_link_relay_info"))
    since = one(ms, "linkagent_link_online_since_seconds", link="lnk")
    c.check("%s: online since a moment ago" % side,
            since is not None and time.time() - 120 < since <= time.time(), since)
    c.check("%s: bytes sent and received, exactly" % side,
            one(ms, "linkagent_link_stream_bytes_total", link="lnk", direction="sent") == sent
            and one(ms, "linkagent_link_stream_bytes_total", link="lnk",
                    direction="received") == received,
            ph.series(ms, "linkagent_link_stream_bytes_total"))


def e2e_failure(c, rig, r):
    """Side a pins a wrong key for side b: the end-to-end handshake fails."""
    def keygen(name):
        path = os.path.join(rig.tmp, name + ".key")
        out = subprocess.run([ah.AGENT, "keygen", "--out", path], capture_output=True,
                             text=True, timeout=20, check=True).stdout.strip()
        return path, out
    apath, apub = keygen("ea")
    bpath, bpub = keygen("eb")
    _, wrong = keygen("ewrong")
    link = r.ctl_json("link", "add", "e2e", "--a-key", apub, "--b-key", bpub)
    srv = rig.server("echo")
    lport = ah.free_port()
    confs = []
    for side, key, peer, role in (("a", apath, wrong, "listen = 127.0.0.1:%d" % lport),
                                  ("b", bpath, apub, "connect = 127.0.0.1:%d" % srv.port)):
        path = os.path.join(rig.tmp, "e2e-%s.conf" % side)
        with open(path, "w") as f:
            f.write("[agent]\nrelay = %s\nrelay_key = %s\nrelay_key_id = %d\n"
                    "metrics_listen = 127.0.0.1:0\n\n[link e2e]\nkey_file = %s\nlink_id = %s\n"
                    "side = %s\npeer_key = %s\n%s\n"
                    % (r.addr, r.relay_pub, r.key_id, key, link["id"], side, peer, role))
        confs.append(path)
    ea = rig.agent_args("e2e-a", ["--config", confs[0]])
    eb = rig.agent_args("e2e-b", ["--config", confs[1]])
    c.check("e2e agents online", ea.wait_log("online via relay") and eb.wait_log("online via relay"))
    pa = port_of(ea)
    h.wait_for(lambda: one(ph.scrape(pa), "linkagent_link_peer_up", link="e2e") == 1, 10)
    got, end = ah.roundtrip(lport, b"x" * 1000, timeout=20)
    c.check("a wrong peer key: the local connection is reset, nothing echoed",
            got == b"" and end == "reset", (len(got), end))
    ok = h.wait_for(lambda: one(ph.scrape(pa), "linkagent_link_e2e_handshake_failures_total",
                                link="e2e") == 1, 20)
    ms = ph.scrape_after(pa)
    c.check("side a: one e2e handshake failure", ok and one(
        ms, "linkagent_link_e2e_handshake_failures_total", link="e2e") == 1,
        ph.series(ms, "linkagent_link_e2e_handshake_failures_total"))
    c.check("side a: no bytes delivered", one(ms, "linkagent_link_stream_bytes_total", link="e2e",
                                             direction="received") == 0)


def check_cli(c, rig):
    def run(*args):
        return ah.check_run(rig.tokens["a"], *args)
    r = run()
    c.check("off by default", r.returncode == 0 and "metrics_listen = off\n" in r.stdout,
            r.stdout + r.stderr)
    r = run("--metrics-listen", "[::1]:9478")
    c.check("--metrics-listen sets it", r.returncode == 0
            and "metrics_listen = [::1]:9478\n" in r.stdout, r.stdout + r.stderr)
    r = run("--metrics-listen", "example.net:1")
    c.check("--metrics-listen with a name: exit 2, clear error", r.returncode == 2
            and "--metrics-listen 'example.net:1': a numeric IP address is required"
            in r.stderr, r.stderr)


def main():
    c = h.Checks()
    relay = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0"})
    # A fixed relay port, so the agents find the relay again after a restart.
    conf = os.path.join(relay.dir, "linkrelay.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(re.sub(r"^listen = 127\.0\.0\.1:0$", "listen = 127.0.0.1:%d" % ah.free_port(),
                       text, flags=re.M))
    rig = ah.Rig(relay=relay)
    prom = None
    try:
        r = rig.start_relay()
        lport, srv = rig.pair("echo", a_args=("--metrics-listen", "127.0.0.1:0"),
                              b_args=("--metrics-listen", "127.0.0.1:0"))
        pa, pb = port_of(rig.a), port_of(rig.b)
        check_cli(c, rig)
        c.check("both agents say where metrics are served", pa and pb)
        st, _, body = ph.get(pa, "/metrics")
        r2 = subprocess.run([ph.PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                            timeout=30)
        c.check("agent /metrics: promtool check metrics accepts it",
                st == 200 and r2.returncode == 0 and not r2.stdout.strip()
                and not r2.stderr.strip(), r2.stdout[-2000:] + r2.stderr[-2000:])
        c.check("agent /healthz 200", ph.get(pa, "/healthz")[0] == 200)
        c.check("agent /readyz 200 once the link is up",
                h.wait_for(lambda: ph.get(pa, "/readyz")[0] == 200, 5))
        data = os.urandom(SIZE)
        got, end = ah.roundtrip(lport, data, timeout=60)
        c.check("transfer echoed intact", got == data and end == "eof", (len(got), end))
        h.wait_for(lambda: one(ph.scrape(pa), "linkagent_link_streams_open", link="lnk") == 0
                   and one(ph.scrape(pb), "linkagent_link_streams_open", link="lnk") == 0, 10)
        ma, mb = ph.scrape_after(pa), ph.scrape_after(pb)
        check_side(c, "side a", ma, r.addr, SIZE, SIZE)
        check_side(c, "side b", mb, r.addr, SIZE, SIZE)
        c.check("each side counts the one stream it carried",
                one(ma, "linkagent_link_streams_opened_total", link="lnk") == 1
                and one(mb, "linkagent_link_streams_opened_total", link="lnk") == 1,
                (ph.series(ma, "linkagent_link_streams_opened_total"),
                 ph.series(mb, "linkagent_link_streams_opened_total")))
        src = os.environ.get("LR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
        with open(os.path.join(src, "docs", "guide.md")) as f:
            guide = f.read()
        names = {k[0] for k in ma if k[0].startswith("linkagent_")}
        c.check("docs/guide.md lists every agent metric", names and all(n in guide for n in names),
                [n for n in names if n not in guide])
        c.check("no reconnects yet", one(ma, "linkagent_link_reconnects_total", link="lnk") == 0
                and one(mb, "linkagent_link_reconnects_total", link="lnk") == 0)

        # The relay restarts: each agent reconnects once.
        r.stop()
        c.check("side a: /readyz 503 while the relay is down",
                h.wait_for(lambda: ph.get(pa, "/readyz")[0] == 503, 10))
        r.start()
        ok = h.wait_for(lambda: all(
            one(ph.scrape(p), "linkagent_link_session_up", link="lnk") == 1
            and one(ph.scrape(p), "linkagent_link_reconnects_total", link="lnk") == 1
            for p in (pa, pb)), 30)
        c.check("after a relay restart: one reconnect each, sessions up again", ok,
                [ph.series(ph.scrape(p), "linkagent_link_reconnects_total") for p in (pa, pb)])
        c.check("bytes are kept across the reconnect", one(
            ph.scrape(pa), "linkagent_link_stream_bytes_total", link="lnk", direction="sent") == SIZE)

        e2e_failure(c, rig, r)

        # One Prometheus server scrapes the relay and both agents.
        rport = port_of(r, 2)
        prom = ph.Prometheus(rig.tmp, [rport, pa, pb])
        c.check("prometheus ready", prom.ready(), prom.log())
        q = 'sum(linkagent_link_stream_bytes_total{link="lnk",direction="sent"})'
        c.check("prometheus: both agents' bytes sent", h.wait_for(
            lambda: prom.query(q) == {(): str(2 * SIZE)}, 30), prom.query(q))
        c.check("prometheus: three targets up", h.wait_for(
            lambda: prom.query("sum(up)") == {(): "3"}, 30), prom.query("sum(up)"))
    finally:
        if prom is not None:
            prom.close()
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
