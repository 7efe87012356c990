#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay control sessions and operations (docs/protocol.md §4, §5;
docs/internals/relay.md "Admin socket"): WELCOME fields, ADDRS, PEER online/offline, PING ->
PONG with the nonce, relay PINGs after keepalive, dead peer closed with CLOSE
timeout after dead_after, newest session wins (CLOSE replaced, no PEER
flapping), OPEN with the peer offline (OPEN_FAIL peer_offline), protocol
errors after authentication (CLOSE protocol), the admin socket (mode 0600,
status/links/sync/unknown), SIGHUP reload (kept on error), --check, flags over
the config file.
"""
import os
import signal
import stat
import struct
import subprocess
import sys
import time

import lrharness as h
import lrproto as p


def main():
    c = h.Checks()
    r = h.Relay(extra_relay={"advertise": "relay.example.net:7700"},
                limits={"keepalive": "1s", "dead_after": "3s", "max_streams_per_link": "100"})
    try:
        r.start()
        link = r.add_link("ctl")
        h.wait_for(lambda: r.admin("links")["links"])
        st = os.stat(r.sock)
        c.check("admin socket mode 0600", stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode))

        sa = p.Session(r, link, 0)
        w = sa.welcome
        ka, da, online, ms = struct.unpack(">HHBH", w[1:8])
        c.check("WELCOME: keepalive 1, dead_after 3, peer offline, max_streams 100",
                w[0] == 1 and (ka, da, online, ms) == (1, 3, 0, 100), w.hex())
        ad = sa.recv()
        c.check("ADDRS with the advertised address", ad == b"\x06\x01\x16relay.example.net:7700",
                ad)
        sa.open(5)
        of = sa.expect(0x04)
        c.check("OPEN with peer offline: OPEN_FAIL peer_offline",
                of == b"\x04" + struct.pack(">I", 5) + b"\x01", of.hex())
        # The relay's keepalive and dead_after count from the last frame it
        # read from a session, which is after the session starts here: a lower
        # bound from this moment holds whatever the test does in between.
        t_sb = time.time()
        sb = p.Session(r, link, 1)
        c.check("b's WELCOME says peer online", sb.welcome[5] == 1)
        c.check("a told PEER online", sa.expect(0x02) == b"\x02\x01")
        sa.send(b"\x10" + struct.pack(">Q", 0x1122334455667788))
        c.check("PING answered with PONG, same nonce",
                sa.expect(0x11) == b"\x11" + struct.pack(">Q", 0x1122334455667788))
        c.check("b gets ADDRS too", sb.recv()[0] == 0x06)
        # keepalive is 1 s and b sends nothing after its handshake: the PING
        # comes no sooner than 1 s after t_sb (the relay counts in whole ms,
        # hence 10 ms of rounding), and before dead_after (3 s) would close
        # the session instead; recv waits up to that.
        m = sb.recv(max(0.1, t_sb + 3 - time.time()))
        dt = time.time() - t_sb
        c.check("relay PINGs an idle session after keepalive (1 s), before dead_after (3 s)",
                m[0] == 0x10 and 0.99 <= dt < 3, "%s after %.2f s" % (m.hex(), dt))
        # Answered, so b lives dead_after longer whatever the scheduling until
        # it is replaced below (else it could be closed for silence first).
        sb.send(b"\x11" + m[1:9])
        # Newest wins: a second session for side b replaces the first.
        t_sb2 = time.time()
        sb2 = p.Session(r, link, 1)
        cl = sb.recv()
        c.check("old session gets CLOSE replaced", cl[0] == 0x05 and cl[1] == 4, cl)
        d, how = p.read_until_close(sb.s, 2)
        c.check("and is closed", how in ("eof", "reset"))
        try:
            m = sa.recv(0.5)
        except Exception:
            m = b""
        c.check("no PEER flapping on replacement", m[:1] != b"\x02", m.hex())
        links = r.admin("links")["links"]
        c.check("links: both sides online", links[0]["a"]["online"] and links[0]["b"]["online"],
                links)
        # Dead peer: sb2 stops answering; the relay closes it with CLOSE timeout.
        seen = []
        while time.time() - t_sb2 < 3 + 5:
            sa.send(b"\x10" + bytes(8))  # keep a alive meanwhile
            try:
                while True:
                    seen.append(sa.recv(0.2))
            except Exception:
                pass
            sb2.s.setblocking(False)
            try:
                data = sb2.s.recv(65536)
            except BlockingIOError:
                data = None
            if data == b"":
                break
            time.sleep(0.2)
        # sb2's last frame reached the relay after t_sb2, so the close comes
        # no sooner than dead_after (3 s, less 10 ms of ms rounding) after it.
        # Upper: dead_after + the relay's 0.2 s tick + this loop's 0.2 s poll,
        # with 2 s of margin for a loaded machine (ctest -j2 under ASan).
        dt = time.time() - t_sb2
        c.check("silent session closed after dead_after (3 s)", data == b"" and 2.99 <= dt < 5.5,
                "%.2f s" % dt)
        try:
            while True:
                seen.append(sa.recv(0.5))
        except Exception:
            pass
        c.check("a told PEER offline", b"\x02\x00" in seen, seen)
        # Protocol errors after authentication are told, then closed.
        sb3 = p.Session(r, link, 1)
        sb3.send(b"\x01" + bytes(10))
        cl = sb3.expect(0x05)
        c.check("relay-only message from an agent: CLOSE protocol", cl[:2] == b"\x05\x06", cl)
        sb4 = p.Session(r, link, 1)
        sb4.s.sendall(p.frame(os.urandom(40)))
        cl = sb4.expect(0x05)
        c.check("undecryptable frame: CLOSE protocol", cl[:2] == b"\x05\x06", cl)
        sa.close()

        # A second relay on the same port or the same state directory refuses to start.
        res = subprocess.run([h.RELAY, "--state-dir", r.dir, "--listen", r.addr],
                             capture_output=True, text=True, timeout=10)
        c.check("second relay on a used port: exit 1, says why", res.returncode == 1
                and "address already in use" in res.stderr, res.stderr[-300:])
        res = subprocess.run([h.RELAY, "--state-dir", r.dir, "--listen", "127.0.0.1:0"],
                             capture_output=True, text=True, timeout=10)
        c.check("second relay on the same admin socket: exit 1, first keeps its socket",
                res.returncode == 1 and "another linkrelay is running" in res.stderr
                and r.admin("sync")["ok"], res.stderr[-300:])

        # Admin socket.
        c.check("admin unknown command", r.admin("frobnicate") == {"error": "unknown command"})
        sy = r.admin("sync")
        c.check("admin sync", sy == {"ok": True, "links": 1}, sy)
        st = r.status()
        c.check("status fields", all(k in st for k in (
            "version", "uptime_s", "agents", "pending", "streams_open", "streams_total",
            "bytes_a_to_b", "bytes_b_to_a", "queued_bytes", "queued_bytes_peak",
            "zero_copy_queued_bytes", "zero_copy_queued_bytes_peak", "auth_failures",
            "limits_hit", "listen",
            "advertise", "relay_key", "relay_key_id")) and st["advertise"] ==
            ["relay.example.net:7700"], st)

        # SIGHUP: a new limit applies to new sessions; a broken file is refused.
        conf = os.path.join(r.dir, "linkrelay.conf")
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("max_streams_per_link = 100", "max_streams_per_link = 7"))
        r.proc.send_signal(signal.SIGHUP)
        c.check("SIGHUP reload logged", h.wait_for(lambda: "configuration reloaded" in r.log()))
        s5 = p.Session(r, link, 0)
        c.check("new limit in WELCOME", struct.unpack(">H", s5.welcome[6:8])[0] == 7)
        s5.close()
        with open(conf, "w") as f:
            f.write(text + "\nbogus_key = 1\n")
        r.proc.send_signal(signal.SIGHUP)
        c.check("broken config on SIGHUP: old one kept",
                h.wait_for(lambda: "keeping the old one" in r.log()))
        s6 = p.Session(r, link, 0)
        c.check("still serving with the old config", struct.unpack(">H", s6.welcome[6:8])[0] == 7)
        s6.close()

        # SIGTERM: sessions are told CLOSE shutdown, streams are reset, exit 0.
        s7a, s7b = p.Session(r, link, 0), p.Session(r, link, 1)
        ta, tb = p.open_stream(s7a, s7b, 1)
        la, lb = p.leg(r, ta["ticket"]), p.leg(r, tb["ticket"])
        p.recv_exact(la, 1), p.recv_exact(lb, 1)
        r.proc.send_signal(signal.SIGTERM)
        cl = s7a.expect(0x05)
        c.check("SIGTERM: sessions get CLOSE shutdown", cl[:2] == b"\x05\x03", cl)
        d, how = p.read_until_close(la, 3)
        c.check("SIGTERM: stream legs reset", how == "reset", how)
        rc = r.stop()
        c.check("clean shutdown", rc == 0 and "stopped cleanly" in r.log(), rc)
        c.check("shutdown reset accounted", "relay shutting down" in r.log())

        # --check: valid prints the normalised config, invalid fails.
        res = subprocess.run([h.RELAY, "--state-dir", r.dir, "--check"], capture_output=True,
                             text=True)
        c.check("--check rejects the broken file", res.returncode == 1
                and "bogus_key" in res.stderr, res.stderr)
        with open(conf, "w") as f:
            f.write(text)
        res = subprocess.run([h.RELAY, "--state-dir", r.dir, "--check", "--listen",
                              "127.0.0.1:9999"], capture_output=True, text=True)
        res2 = subprocess.run([h.RELAY, "--check", "--key-file", "/x/k", "--database", "/x/d",
                               "--admin-socket", "/x/s", "--log-level", "debug",
                               "--advertise", "r.example:1"], capture_output=True, text=True,
                              env=dict(os.environ, LINKRELAY_STATE_DIR=r.dir))
        c.check("LINKRELAY_STATE_DIR finds the config; path flags win",
                res2.returncode == 0 and "state_dir = %s" % r.dir in res2.stdout
                and "keepalive = 1s" in res2.stdout and "key_file = /x/k" in res2.stdout
                and "database = /x/d" in res2.stdout and "admin_socket = /x/s" in res2.stdout
                and "log_level = debug" in res2.stdout and "advertise = r.example:1"
                in res2.stdout, res2.stdout + res2.stderr)
        res3 = subprocess.run([h.RELAY, "--bogus"], capture_output=True, text=True)
        c.check("unknown flag: usage, exit 2", res3.returncode == 2 and "usage" in res3.stderr)
        res4 = subprocess.run([h.RELAY, "--version"], capture_output=True, text=True)
        c.check("--version", res4.returncode == 0 and res4.stdout.startswith("linkrelay 0."))
        c.check("--check prints the normalised config, flags win", res.returncode == 0
                and "listen = 127.0.0.1:9999" in res.stdout and "keepalive = 1s" in res.stdout
                and "admin_socket = %s" % r.sock in res.stdout, res.stdout)
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
