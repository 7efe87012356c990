#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A pool of three relays on one registry file (docs/design.md D34):
- `linkctl pool` (text and --json) lists the three members alive, with
  their advertised addresses;
- AUTH at a member that is not the link's home is answered with REDIRECT
  (protocol.md §5, read here with the Python peer lrproto) that names the
  home's advertised address and nothing else (not the second address the
  home listens on), then the relay closes; at the home, AUTH gets WELCOME;
- two agents that know only a member that is not their link's home are
  redirected, come online at the home and carry a stream end to end; the
  metrics count the REDIRECT (relay) and the redirect followed (agents);
- with both agents online at the home and one stream open, the home's
  heartbeat row (`linkctl pool --json`) shows sessions >= 2 and streams
  >= 1, the other members 0 and 0; after the stream ends, the home's
  streams go back to 0;
- heartbeats (every 250 ms from three members) cause no reload of the link
  snapshot (linkrelay_registry_loads_total stays), a link change does;
- `linkctl pool forget` refuses a member that is alive and removes a dead one;
- advertise changed on SIGHUP goes into the member's row; an emptied list
  leaves the last one there (the member stays alive and reachable);
- a member without advertise addresses refuses to start, saying why.
"""
import re
import signal
import socket
import sys
import time

import agentharness as ah
import lrharness as h
import lrproto as p
import poolharness as ph
import promharness as prom


def first_message(m, link, side=0):
    """AUTH at member m; the first control message and how the relay ended."""
    s = socket.create_connection((m.lhost, m.lport), timeout=5)
    hk = p.Handshake(h.pub_raw(m.relay_pub), h.priv_raw(link["ab"[side]]), m.key_id)
    s.sendall(hk.pre + p.frame(hk.msg1()))
    hk.read_msg2(p.recv_frame(s))
    s.sendall(p.frame(hk.msg3(p.auth(side, bytes.fromhex(link["id"]), 0))))
    msg = bytes(hk.cs[1].decrypt_with_ad(b"", p.recv_frame(s)))
    rest, how = p.read_until_close(s, timeout=5)
    s.close()
    return msg, rest, how


def loads(m):
    return prom.value(prom.scrape_after(m.metrics_port()), "linkrelay_registry_loads_total")


def main():
    c = h.Checks()
    pool = ph.Pool(3, extra_listen=())
    # The home also listens on a second address it does not advertise.
    for i, m in enumerate(pool.members.values()):
        m.extra_listen = ["127.0.0.%d:%d" % (20 + i, ah.free_port())]
        m.write_config("info", None)
    rig = None
    try:
        pool.start()
        r1 = pool.members["r1"]
        rig = ah.Rig(relay=r1)
        st = r1.ctl("pool").stdout
        c.check("linkctl pool: three members alive",
                all(re_line(st, mid) for mid in ("r1", "r2", "r3")), st)
        js = r1.ctl_json("pool")
        c.check("linkctl pool --json: three alive, addresses as advertised",
                js["alive"] == 3 and js["member_timeout_ms"] == 2000
                and [x["addrs"] for x in js["members"]]
                == [[pool.members[k].advertised] for k in ("r1", "r2", "r3")], js)
        c.check("linkctl pool --json: heartbeat ages below member_timeout",
                all(x["beat_age_ms"] <= 2000 and x["addrs_ok"] for x in js["members"]), js)

        # REDIRECT on the wire.
        raw = r1.add_link("raw")
        hid = pool.home(raw["id"])
        home = pool.members[hid]
        other = pool.members[sorted(set(pool.members) - {hid})[0]]
        msg, rest, how = first_message(other, raw)
        reason, addrs = p.parse_redirect(msg)
        c.check("AUTH at a non-home member: REDIRECT home to the home's advertised address only",
                reason == 1 and addrs == [home.advertised], (reason, addrs, home.extra_listen))
        c.check("then the relay closes", rest == b"" and how == "eof", (rest, how))
        msg, _, _ = first_message(home, raw)
        c.check("AUTH at the home: WELCOME", msg[0] == 0x01, msg.hex())

        # Agents redirected, a stream end to end.
        out = rig.link("pl")
        hid = pool.home(out["id"])
        home = pool.members[hid]
        other = pool.members[sorted(set(pool.members) - {hid})[0]]
        srv = rig.server("echo")
        lport = ah.free_port()
        # No kept legs (D48): the home's stream count must fall to 0 when
        # the stream ends, not when an idle kept leg expires.
        b = rig.agent("b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port,
                      "--relay", other.advertised, "--metrics-listen", "127.0.0.1:0",
                      "--keep-legs", "0", relay=False)
        a = rig.agent("a", out["tokens"]["a"], "--listen", "127.0.0.1:%d" % lport,
                      "--relay", other.advertised, "--metrics-listen", "127.0.0.1:0",
                      "--keep-legs", "0", relay=False)
        for ag in (a, b):
            c.check("agent %s: redirected to the home" % ag.name,
                    ag.wait_log("relay redirected to the link's home (%s" % home.advertised,
                                timeout=20))
            c.check("agent %s: online at the home" % ag.name,
                    ag.wait_log("online via relay %s" % home.advertised, timeout=20), ag.log())
        data = b"pool" * 25000
        ok = h.wait_for(lambda: ah.roundtrip(lport, data, timeout=10) == (data, "eof"),
                        timeout=20)
        c.check("a stream through the home, end to end", ok)

        # The load columns: both agents online at the home, one stream
        # open (its bytes echoed: spliced at the home), seen in the rows
        # after the members' next heartbeats.
        held = socket.create_connection(("127.0.0.1", lport), timeout=10)
        got = b""
        try:
            held.sendall(b"load" * 64)
            while len(got) < 256:
                d = held.recv(256 - len(got))
                if not d:
                    break
                got += d
            c.check("a stream held open through the home", got == b"load" * 64, got)

            def load_ok():
                rows = {x["id"]: x for x in r1.ctl_json("pool")["members"]}
                return all((x["sessions"] >= 2 and x["streams"] >= 1) if k == hid
                           else (x["sessions"] == 0 and x["streams"] == 0)
                           for k, x in rows.items())
            c.check("linkctl pool --json: the home's row has sessions >= 2 and streams >= 1, "
                    "the others' 0 and 0", h.wait_for(load_ok, timeout=15),
                    r1.ctl_json("pool"))
        finally:
            held.close()

        def home_streams():
            return {x["id"]: x for x in r1.ctl_json("pool")["members"]}[hid]["streams"]
        c.check("linkctl pool --json: the home's streams back to 0 after the stream ended",
                h.wait_for(lambda: home_streams() == 0, timeout=15), r1.ctl_json("pool"))
        ms = prom.scrape_after(other.metrics_port())
        c.check("relay metric: redirects sent",
                prom.value(ms, "linkrelay_pool_redirects_total") >= 2,
                prom.value(ms, "linkrelay_pool_redirects_total"))
        c.check("relay metric: three members alive",
                prom.value(ms, "linkrelay_pool_members_alive") == 3)
        for ag in (a, b):
            port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", ag.log()).group(1))
            v = prom.value(prom.scrape_after(port), "linkagent_link_redirects_followed_total",
                           link="pl")
            c.check("agent %s metric: the redirect followed" % ag.name, v is not None and v >= 1, v)

        # Heartbeats do not reload the snapshot; a link change does.
        n0 = loads(home)
        time.sleep(2.0)  # 8 heartbeats of each of the three members: no condition to wait for

        n1 = loads(home)
        c.check("heartbeats cause no snapshot reload", n1 == n0, (n0, n1))
        r1.ctl("link", "add", "another")
        c.check("a link change does", h.wait_for(lambda: loads(home) > n1, timeout=10))

        # forget: refused while alive, done once dead.
        r = r1.ctl("pool", "forget", "r3", check=False)
        c.check("forget refuses an alive member", r.returncode == 1 and "alive" in r.stderr,
                r.stderr)
        pool.kill("r3")
        c.check("r3 dead in linkctl pool",
                h.wait_for(lambda: pool.alive_ids(r1) == ["r1", "r2"], timeout=15))
        r = r1.ctl("pool", "forget", "r3", check=False)
        c.check("forget removes a dead member", r.returncode == 0, r.stderr)
        c.check("r3 gone", [x["id"] for x in r1.ctl_json("pool")["members"]] == ["r1", "r2"])

        # advertise on SIGHUP: an emptied list keeps the row's, a new one
        # replaces it at the next heartbeat.
        r2 = pool.members["r2"]
        for adv, want in ((False, r2.advertised), ("r2.example.net:7700", "r2.example.net:7700")):
            r2.advertise = adv
            r2.write_config("info", None)
            n = r2.log().count("configuration reloaded")
            r2.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: r2.log().count("configuration reloaded") > n, timeout=10)
            t = time.time() * 1000
            ok = h.wait_for(lambda: [x for x in r1.ctl_json("pool")["members"]
                                     if x["id"] == "r2" and x["beat_ms"] > t + 300], timeout=10)
            row = [x for x in r1.ctl_json("pool")["members"] if x["id"] == "r2"][0]
            c.check("SIGHUP advertise %s: the row's addresses %s" % (adv, want),
                    ok and row["alive"] and row["addrs"] == [want], row)

        bad = ph.Member(pool.shared, "r9", "127.0.0.9")
        bad.advertise = False
        bad.write_config("info", None)
        try:
            bad.start()
            started = True
        except RuntimeError:
            started = False
        c.check("a member without advertise does not start",
                not started and "needs advertise addresses" in bad.log(), bad.log()[-500:])
        bad.close()
    finally:
        ph.close_all(c, pool, rig)
    return c.done()


def re_line(text, mid):
    return any(line.split()[:2] == [mid, "alive"] for line in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
