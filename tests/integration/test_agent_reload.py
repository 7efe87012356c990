#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent --config with several links, and SIGHUP reload:
  - an agent serves every [link] of its file;
  - SIGHUP with one link removed, one added and one unchanged: the removed
    link's listener closes, the new one works, and a stream open on the
    unchanged link keeps working across the reload;
  - a changed link (new listen port) is restarted on the new port;
  - a broken file on reload is refused with a message; the running
    configuration stays;
  - --resume-timeout on the command line outlives a reload: with
    `--resume-timeout 0` (resumption off) and a file that does not name
    resume_timeout (60 s by default), a stream opened after SIGHUP is reset
    as soon as the relay dies, not suspended.
"""
import os
import signal
import socket
import subprocess
import sys

import agentharness as ah
import lrharness as h


def keygen(tmp, name):
    path = os.path.join(tmp, name + ".key")
    out = subprocess.run([ah.AGENT, "keygen", "--out", path], capture_output=True, text=True,
                         check=True).stdout.strip()
    return path, out


def write_conf(path, r, links):
    """links: list of (name, key_file, link_id, side, peer_pub, role line)."""
    with open(path + ".tmp", "w") as f:
        f.write("[agent]\nrelay = %s\nrelay_key = %s\nrelay_key_id = %d\n"
                "backoff_min = 200ms\nbackoff_max = 2s\n" % (r.addr, r.relay_pub, r.key_id))
        for name, kf, lid, side, peer, role in links:
            f.write("\n[link %s]\nkey_file = %s\nlink_id = %s\nside = %s\npeer_key = %s\n%s\n"
                    % (name, kf, lid, side, peer, role))
    os.rename(path + ".tmp", path)



def refused(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    s.close()
    return False


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        r = rig.start_relay()
        srv = rig.server("echo")
        links = {}
        for n in ("l1", "l2", "l3"):
            ak, ap = keygen(rig.tmp, n + "a")
            bk, bp = keygen(rig.tmp, n + "b")
            out = r.ctl_json("link", "add", n, "--a-key", ap, "--b-key", bp)
            links[n] = dict(id=out["id"], ak=ak, ap=ap, bk=bk, bp=bp, port=ah.free_port())

        def a_entry(n, port=None):
            L = links[n]
            return (n, L["ak"], L["id"], "a", L["bp"],
                    "listen = 127.0.0.1:%d" % (port or L["port"]))

        def b_entry(n):
            L = links[n]
            return (n, L["bk"], L["id"], "b", L["ap"], "connect = 127.0.0.1:%d" % srv.port)

        aconf, bconf = os.path.join(rig.tmp, "a.conf"), os.path.join(rig.tmp, "b.conf")
        write_conf(aconf, r, [a_entry("l1"), a_entry("l2")])
        write_conf(bconf, r, [b_entry("l1"), b_entry("l2"), b_entry("l3")])
        b = rig.agent_args("b", ["--config", bconf])
        a = rig.agent_args("a", ["--config", aconf])
        c.check("both links online on the listen side", a.wait_log("online via relay", n=2))
        c.check("all three online on the connect side", b.wait_log("online via relay", n=3))
        c.check("link l1 works", h.wait_for(lambda: ah.works(links["l1"]["port"]), timeout=5))
        c.check("link l2 works", ah.works(links["l2"]["port"]))

        # A stream that stays open across the reload.
        s = socket.create_connection(("127.0.0.1", links["l1"]["port"]), timeout=10)
        s.sendall(b"before")
        c.check("open stream echoes", s.recv(100) == b"before")

        write_conf(aconf, r, [a_entry("l1"), a_entry("l3")])
        a.send_signal(signal.SIGHUP)
        c.check("reload reported", a.wait_log("1 link(s) kept, 0 with new keys, 1 started, 1 stopped"),
                a.log()[-600:])
        c.check("removed link's listener is closed",
                h.wait_for(lambda: refused(links["l2"]["port"]), timeout=5))
        c.check("added link works",
                h.wait_for(lambda: ah.works(links["l3"]["port"]), timeout=10, step=0.2))
        s.sendall(b"after")
        c.check("stream on the unchanged link survived the reload", s.recv(100) == b"after")
        s.shutdown(socket.SHUT_WR)
        c.check("and ends cleanly", s.recv(100) == b"")
        s.close()

        # A changed link moves to its new port.
        newport = ah.free_port()
        write_conf(aconf, r, [a_entry("l1"), a_entry("l3", newport)])
        a.send_signal(signal.SIGHUP)
        c.check("changed link restarted", a.wait_log("link l3 changed"))
        c.check("old port closed", h.wait_for(lambda: refused(links["l3"]["port"]), timeout=5))
        c.check("new port works", h.wait_for(lambda: ah.works(newport), timeout=10, step=0.2))

        # A broken file keeps the running configuration.
        with open(aconf, "w") as f:
            f.write("[agent]\nthis is not valid\n")
        a.send_signal(signal.SIGHUP)
        c.check("broken file refused with a message",
                a.wait_log("reload failed, keeping the running configuration"))
        c.check("still serving after the failed reload", ah.works(links["l1"]["port"]))
        c.check("agent a stops with 0", a.stop() == 0)
        c.check("agent b stops with 0", b.stop() == 0)

        # --resume-timeout given on the command line outlives a reload.
        write_conf(aconf, r, [a_entry("l1")])
        write_conf(bconf, r, [b_entry("l1")])
        a = rig.agent_args("a2", ["--config", aconf, "--resume-timeout", "0"])
        b = rig.agent_args("b2", ["--config", bconf, "--resume-timeout", "0"])
        c.check("command-line agents online", a.wait_log("online via relay")
                and b.wait_log("online via relay"))
        for ag in (a, b):
            ag.send_signal(signal.SIGHUP)
            c.check("agent %s reloaded" % ag.name, ag.wait_log("reloaded "))
        c.check("link l1 works after the reload",
                h.wait_for(lambda: ah.works(links["l1"]["port"]), timeout=10, step=0.2))
        s = socket.create_connection(("127.0.0.1", links["l1"]["port"]), timeout=10)
        s.sendall(b"ping")
        c.check("stream opened after the reload echoes", s.recv(100) == b"ping")
        r.stop(signal.SIGKILL)
        s.settimeout(20)
        try:
            end = s.recv(100)
            end = "eof" if end == b"" else "data"
        except ConnectionResetError:
            end = "reset"
        except socket.timeout:
            end = "still open (suspended: resume_timeout back to the file's)"
        s.close()
        c.check("resumption stays off: the relay's death resets the stream", end == "reset", end)
        c.check("no stream suspended", "suspended" not in a.log() + b.log())
        c.check("agent a2 stops with 0", a.stop() == 0)
        c.check("agent b2 stops with 0", b.stop() == 0)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
